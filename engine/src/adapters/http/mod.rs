//! The HTTP/1.1 + JSON transport (cargo feature `http`, on by default): the engine service
//! as a network server, and the [`Transport`](crate::service::Transport) that remote clients
//! and workers reach it through.
//!
//! The protocol is one endpoint: `POST /v1/call` with the JSON of a
//! [`Request`](crate::service::Request) answers the JSON of `Result<Response, ServiceError>`
//! (`{"Ok": ...}` or `{"Err": ...}`), whatever the status code, so a client always gets a
//! typed [`ServiceError`](crate::service::ServiceError). `GET /v1/health` answers
//! `{"status":"ok"}`. A server given a token requires `Authorization: Bearer <token>` on
//! every request.
//!
//! Files: `server.rs` ([`HttpServer`]: the accept loop, routing, authorization, limits,
//! graceful shutdown), `client.rs` ([`HttpTransport`]: pooled connections, timeouts, errors
//! mapped to retryable `Unavailable`), `endpoint.rs` (server URLs), `remote.rs`
//! ([`Remote`]: clients and workers of a server in another process).
//!
//! Every network type comes from `tokio::net` and every task from `tokio::spawn`, so that a
//! build under madsim, which swaps the `tokio` crate for its simulated one, runs this server
//! and transport over simulated TCP unchanged.

mod client;
mod endpoint;
mod remote;
mod server;

pub use client::{HttpTransport, TransportOptions};
pub use remote::{ACTIVITY_POLLS, LIVENESS_INTERVAL, Remote};
pub use server::{HttpServer, ServerOptions};

/// The path of the one call endpoint.
pub const CALL_PATH: &str = "/v1/call";
/// The path of the health check.
pub const HEALTH_PATH: &str = "/v1/health";

/// Setting up the server or the transport failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server URL is not one the transport can use.
    #[error("invalid server URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not listen on the address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address as given.
        addr: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The address the server listens on could not be read.
    #[error("cannot read the server's listening address: {0}")]
    LocalAddr(std::io::Error),
}
