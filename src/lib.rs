//! # warpflow
//!
//! Durable workflows as plain async Rust, tested by deterministic simulation. This facade
//! re-exports the engine, the simulator and the test kit; most programs only need
//! `use warpflow::prelude::*`.

pub use warpflow_engine as engine;
pub use warpflow_sim as sim;
pub use warpflow_testkit as testkit;

/// The names most workflow code needs.
pub mod prelude {
    pub use warpflow_engine::{
        Activity, ActivityCtx, ActivityError, ActivityOptions, Failure, History, RetryPolicy, WorkflowError,
        WorkflowResult,
    };
}
