//! # warpflow-engine
//!
//! The durable execution engine of Warpflow: the history model, the workflow and activity
//! authoring API, and the replay executor that turns a history into workflow state and
//! commands. This crate's core does no I/O and reads no clock: it is a deterministic state
//! machine (see `ARCHITECTURE.md` at the repository root).
//!
//! Layout:
//! - [`workflow`]: the authoring API: `Workflow`, `WorkflowCtx`, durable futures, `Saga`.
//! - [`replay`]: the executor that drives workflow code from history, and the `Replayer`.
//! - [`history`]: events, the JSON history format, validation, a builder for tests.
//! - [`command`]: what a workflow task asks the engine to do.
//! - [`registry`]: workflow and activity types by name.
//! - `activity`, `retry`, `failure`, `payload`: the authoring vocabulary.
//! - `ids`, `time`, `limits`: identifiers, engine time, and every bound the engine keeps.
//! - [`service`], [`storage`], [`env`](mod@env): the engine service, its storage, and the environment
//!   (clock, spawner) it runs in.
//! - [`client`], [`worker`]: the two kinds of callers of the service, over a transport.
//! - [`engine`]: a service with its clients and workers in one process.
//! - [`adapters`]: the tokio clock and spawner, and the SQLite storage: the only code that
//!   reads real time, spawns or touches files.

#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod activity;
pub mod adapters;
mod callers;
pub mod client;
pub mod command;
pub mod engine;
pub mod env;
pub mod failure;
pub mod history;
pub mod ids;
pub mod limits;
pub mod payload;
pub mod registry;
pub mod replay;
pub mod retry;
pub mod service;
pub mod storage;
pub mod time;
mod vec_map;
pub mod worker;
pub mod workflow;

pub use activity::{Activity, ActivityCtx, ActivityInfo, ActivityOptions, HeartbeatSink};
pub use client::{Client, ClientError, StartOptions, WorkflowFailure, WorkflowHandle};
pub use command::Command;
pub use engine::Engine;
pub use failure::{ActivityError, ContinueAsNew, Failure, TimeoutType, WorkflowError, WorkflowResult};
pub use history::{EventAttributes, History, HistoryError, HistoryEvent};
pub use ids::{ActivityId, EventId, RunId, TaskQueue, TimerId, WorkflowId};
pub use payload::{Payload, PayloadError};
pub use registry::Registry;
pub use replay::{ActivationError, Nondeterminism, ReplayError, Replayer, WorkflowInstance};
pub use retry::RetryPolicy;
pub use time::Timestamp;
pub use worker::{Worker, WorkerOptions};
pub use workflow::{Query, Saga, Signal, Workflow, WorkflowCtx};
