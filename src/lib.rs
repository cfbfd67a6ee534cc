//! # warpflow
//!
//! See the README (included below) for an overview; the crate documentation starts after it.
//!
//! Durable workflows as plain async Rust, tested by deterministic simulation. This facade
//! re-exports the engine, the simulator and the test kit; most programs only need
//! `use warpflow::prelude::*`.

#![doc = include_str!("../README.md")]

pub mod cli;

pub use warpflow_engine as engine;
pub use warpflow_sim as sim;
pub use warpflow_testkit as testkit;

/// The engine as a network server and its remote callers: [`Remote`](remote::Remote) makes
/// clients and workers of a server in another process (`warpflow serve`), over the
/// [`HttpTransport`](remote::HttpTransport); [`HttpServer`](remote::HttpServer) serves an
/// engine's service.
pub mod remote {
    pub use warpflow_engine::adapters::http::{
        HttpServer, HttpTransport, Remote, ServerOptions, TransportOptions,
    };
}

/// The names most workflow code needs.
pub mod prelude {
    pub use warpflow_engine::adapters::http::Remote;
    pub use warpflow_engine::client::{Client, StartOptions, WorkflowFailure, WorkflowHandle};
    pub use warpflow_engine::engine::Engine;
    pub use warpflow_engine::worker::{CancellationToken, Worker, WorkerOptions};
    pub use warpflow_engine::workflow::future::{join, join_all, select};
    pub use warpflow_engine::{
        Activity, ActivityCtx, ActivityError, ActivityOptions, Failure, History, Query, Registry, Replayer,
        RetryPolicy, Saga, Signal, Workflow, WorkflowCtx, WorkflowError, WorkflowResult,
    };
}
