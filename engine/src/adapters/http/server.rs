//! `HttpServer`: the engine service on HTTP/1.1. An accept loop over a
//! `tokio::net::TcpListener` serves each connection on its own task with hyper, routed by
//! axum: `POST /v1/call` and `GET /v1/health` (see the module overview in `mod.rs`).
//!
//! Bad input never stops the server: a body over [`HTTP_REQUEST_BYTES_MAX`] is refused
//! with 413 before it is read, malformed JSON or an unknown request with 400 naming the
//! place (serde's path, line and column), a missing or wrong token with 401; each answer is
//! a JSON `{"Err": ...}` the transport turns into a typed error. A client that goes away
//! mid-request only loses its own connection.
//!
//! Shutdown is graceful: once the token given to [`HttpServer::run`] is cancelled, the
//! server stops accepting, answers long polls in flight with a retryable `Unavailable` (so
//! workers move on at once), lets every other call in flight (every commit) finish and
//! answer, closes idle connections, and returns — after [`ServerOptions::shutdown_grace`]
//! at most, cutting what is still open then.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "runtime adapter: accepts TCP connections and serves each on its own tokio task"
)]

use super::{CALL_PATH, HEALTH_PATH, HttpError};
use crate::limits::{HTTP_CONNECTIONS_MAX, HTTP_REQUEST_BYTES_MAX};
use crate::service::{Request, Response, Service, ServiceError};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long the accept loop waits after a failed accept (out of file descriptors, say)
/// before trying again, rather than spinning.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// How the server runs.
#[derive(Clone)]
pub struct ServerOptions {
    /// The shared secret every request must present as `Authorization: Bearer <token>`;
    /// `None` serves anyone who can connect (fine on loopback).
    pub token: Option<String>,
    /// At shutdown, how long calls in flight get to finish before their connections are cut.
    pub shutdown_grace: Duration,
    /// How long a client has to send a request's headers, and how long a kept-alive
    /// connection may sit idle, before the server closes it.
    pub header_read_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            token: None,
            shutdown_grace: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: say whether there is one, never what it is.
        f.debug_struct("ServerOptions")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("shutdown_grace", &self.shutdown_grace)
            .field("header_read_timeout", &self.header_read_timeout)
            .finish()
    }
}

/// The service, served over HTTP on a bound listener.
///
/// ```no_run
/// use warpflow_engine::adapters::http::{HttpServer, ServerOptions};
/// use warpflow_engine::engine::Engine;
/// use warpflow_engine::worker::CancellationToken;
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = Engine::builder().build(); // the service and its timer loop
/// let server = HttpServer::bind("127.0.0.1:7233", engine.service(), ServerOptions::default()).await?;
/// println!("listening on {}", server.local_addr()?);
/// let shutdown = CancellationToken::new(); // cancel it on SIGTERM
/// server.run(shutdown).await;
/// # Ok(())
/// # }
/// ```
pub struct HttpServer {
    listener: TcpListener,
    service: Arc<Service>,
    options: ServerOptions,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("listener", &self.listener)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Listens on `addr` (`127.0.0.1:0` picks a free port: see [`HttpServer::local_addr`]).
    pub async fn bind(
        addr: &str,
        service: Arc<Service>,
        options: ServerOptions,
    ) -> Result<HttpServer, HttpError> {
        let bind_error = |source| HttpError::Bind {
            addr: addr.to_owned(),
            source,
        };
        let resolved = tokio::net::lookup_host(addr).await.map_err(bind_error)?;
        let mut last_error = None;
        for socket_addr in resolved {
            match listen(socket_addr) {
                Ok(listener) => return Ok(HttpServer::from_listener(listener, service, options)),
                Err(e) => last_error = Some(e),
            }
        }
        let none = || {
            std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                "the address resolves to nothing",
            )
        };
        Err(bind_error(last_error.unwrap_or_else(none)))
    }

    /// Serves on a listener already bound.
    pub fn from_listener(listener: TcpListener, service: Arc<Service>, options: ServerOptions) -> HttpServer {
        HttpServer {
            listener,
            service,
            options,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, HttpError> {
        self.listener.local_addr().map_err(HttpError::LocalAddr)
    }

    /// Serves until `shutdown` is cancelled, then shuts down gracefully (see the module
    /// overview) and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let router = router(Endpoints {
            service: self.service,
            token: self.options.token.map(|t| Arc::from(t.into_bytes())),
            shutdown: shutdown.clone(),
        });
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                // Reap finished connections, so the set holds only open ones.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.listener.accept(), if connections.len() < HTTP_CONNECTIONS_MAX => {
                    match accepted {
                        Ok((stream, _peer)) => {
                            connections.spawn(serve_connection(
                                stream,
                                router.clone(),
                                self.options.header_read_timeout,
                                shutdown.clone(),
                            ));
                        }
                        Err(_) => tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await,
                    }
                }
            }
        }
        drop(self.listener);
        let drained = tokio::time::timeout(self.options.shutdown_grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            connections.shutdown().await;
        }
    }
}

/// A listener on `addr` whose accept queue holds [`HTTP_CONNECTIONS_MAX`] connections
/// (`TcpListener::bind` asks for 128): a burst of clients connecting at once (a batch of
/// workflows started together) overflowed the short queue, and each dropped connection
/// attempt waited a second for the client's SYN retransmit.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does: a restarted server can take its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(u32::try_from(HTTP_CONNECTIONS_MAX).unwrap_or(u32::MAX))
}

/// Serves one connection until the client closes it or, after `shutdown`, until its call
/// in flight (if any) has answered.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
) {
    // Replies are small and written at once: do not hold them back for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    let mut connection = std::pin::pin!(connection);
    // A connection error (the client went away, sent garbage hyper answered with 400) ends
    // this connection only; there is no one to report it to.
    tokio::select! {
        _ = connection.as_mut() => {}
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
struct Endpoints {
    service: Arc<Service>,
    token: Option<Arc<[u8]>>,
    shutdown: CancellationToken,
}

fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route(CALL_PATH, post(call))
        .route(HEALTH_PATH, get(health))
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(no_such_endpoint)
        .with_state(endpoints)
}

/// `POST /v1/call`.
async fn call(
    State(endpoints): State<Endpoints>,
    headers: HeaderMap,
    body: Body,
) -> axum::response::Response {
    if let Err(refused) = authorize(&endpoints, &headers) {
        return refused;
    }
    let request = match read_request(&headers, body).await {
        Ok(request) => request,
        Err((status, error)) => return reply(status, &Err(error)),
    };
    let result = if is_long_poll(&request) {
        // Dropping a poll before it hands out a task changes nothing; the worker retries.
        endpoints
            .shutdown
            .run_until_cancelled(endpoints.service.handle(request))
            .await
            .unwrap_or_else(|| {
                Err(ServiceError::Unavailable(
                    "the server is shutting down".to_owned(),
                ))
            })
    } else {
        endpoints.service.handle(request).await
    };
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(error) => status_of(error),
    };
    reply(status, &result)
}

/// `GET /v1/health`.
async fn health(State(endpoints): State<Endpoints>, headers: HeaderMap) -> axum::response::Response {
    if let Err(refused) = authorize(&endpoints, &headers) {
        return refused;
    }
    json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

/// Any other method or path.
async fn no_such_endpoint(method: Method, uri: Uri) -> axum::response::Response {
    let error = ServiceError::InvalidRequest(format!(
        "no endpoint {method} {}: the API is POST {CALL_PATH} and GET {HEALTH_PATH}",
        uri.path()
    ));
    reply(StatusCode::NOT_FOUND, &Err(error))
}

/// Refuses a request without the server's token (when it has one) with 401.
fn authorize(endpoints: &Endpoints, headers: &HeaderMap) -> Result<(), axum::response::Response> {
    let Some(expected) = &endpoints.token else {
        return Ok(());
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    let reason = match presented {
        None => "this server requires a token: send `Authorization: Bearer <token>`",
        // Constant time in the token's contents (its length may show, not its bytes).
        Some(token) if bool::from(token.ct_eq(expected)) => return Ok(()),
        Some(_) => "the bearer token is wrong",
    };
    let mut refused = reply(
        StatusCode::UNAUTHORIZED,
        &Err(ServiceError::Unauthorized(reason.to_owned())),
    );
    refused.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    Err(refused)
}

/// Reads and parses a call's body, within [`HTTP_REQUEST_BYTES_MAX`].
async fn read_request(headers: &HeaderMap, body: Body) -> Result<Request, (StatusCode, ServiceError)> {
    let too_large = || {
        let error = ServiceError::LimitExceeded {
            what: format!("request body of POST {CALL_PATH}, in bytes"),
            limit: HTTP_REQUEST_BYTES_MAX,
        };
        (StatusCode::PAYLOAD_TOO_LARGE, error)
    };
    // A declared length over the limit is refused before a byte of the body is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > HTTP_REQUEST_BYTES_MAX as u64) {
        return Err(too_large());
    }
    let bytes = match Limited::new(body, HTTP_REQUEST_BYTES_MAX).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Err(e) => {
            let error = ServiceError::InvalidRequest(format!("could not read the request body: {e}"));
            return Err((StatusCode::BAD_REQUEST, error));
        }
    };
    decode_request(&bytes).map_err(|error| (StatusCode::BAD_REQUEST, error))
}

/// Parses a request, naming where in the JSON it went wrong. A well-formed body (every
/// call but a bad one) is parsed once, without tracking the path: tracking it cost more
/// than the rest of the parse. A malformed one is parsed again to find where.
fn decode_request(bytes: &[u8]) -> Result<Request, ServiceError> {
    if let Ok(request) = serde_json::from_slice(bytes) {
        return Ok(request);
    }
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let request = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        ServiceError::InvalidRequest(format!("malformed request body at `{path}`: {}", e.into_inner()))
    })?;
    json.end().map_err(|e| {
        ServiceError::InvalidRequest(format!("malformed request body: after the request, {e}"))
    })?;
    Ok(request)
}

/// Calls that wait for something to happen (up to the service's poll timeout).
fn is_long_poll(request: &Request) -> bool {
    matches!(
        request,
        Request::PollWorkflowTask { .. } | Request::PollActivityTask { .. } | Request::WaitOutcome { .. }
    )
}

/// The status code of a refused call. The body says exactly what went wrong; the status
/// is for proxies, logs and `curl`.
fn status_of(error: &ServiceError) -> StatusCode {
    match error {
        ServiceError::WorkflowNotFound { .. } => StatusCode::NOT_FOUND,
        ServiceError::AlreadyStarted { .. }
        | ServiceError::NotRunning { .. }
        | ServiceError::StaleTask(_) => StatusCode::CONFLICT,
        ServiceError::UnknownWorkflowType { .. }
        | ServiceError::InvalidRequest(_)
        | ServiceError::LimitExceeded { .. }
        | ServiceError::Payload(_) => StatusCode::BAD_REQUEST,
        ServiceError::QueryFailed(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::Storage(e) if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A JSON reply: the call's result, as the transport decodes it.
fn reply(status: StatusCode, result: &Result<Response, ServiceError>) -> axum::response::Response {
    match serde_json::to_vec(result) {
        Ok(body) => json_response(status, body),
        Err(e) => {
            // A payload is already JSON, so this is a bug; say so in the same shape.
            let error: Result<Response, ServiceError> = Err(ServiceError::InvalidRequest(format!(
                "the reply does not serialize: {e}"
            )));
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::to_vec(&error).unwrap_or_default(),
            )
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> axum::response::Response {
    let mut response = axum::response::Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_and_unknown_requests_name_what_is_wrong() {
        let message = decode_request(b"{ nope").unwrap_err().to_string();
        assert!(
            message.contains("malformed request body") && message.contains("line 1 column 3"),
            "{message}"
        );
        let message = decode_request(br#"{"Frobnicate":{}}"#).unwrap_err().to_string();
        assert!(message.contains("unknown variant `Frobnicate`"), "{message}");
        let message = decode_request(br#"{"Describe":{"workflow_id":7,"run_id":null}}"#)
            .unwrap_err()
            .to_string();
        assert!(message.contains("at `Describe.workflow_id`"), "{message}");
        let message = decode_request(br#"{"ListRuns":{"workflow_id":null}} 1"#)
            .unwrap_err()
            .to_string();
        assert!(message.contains("after the request"), "{message}");
        assert!(decode_request(br#"{"ListRuns":{"workflow_id":null}}"#).is_ok());
    }
}
