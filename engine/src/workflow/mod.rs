//! The workflow authoring API: the [`Workflow`], [`Signal`] and [`Query`] traits, the
//! [`WorkflowCtx`] through which workflow code reaches the world, and the durable futures it
//! returns (activities, timers, children, signals, conditions).
//!
//! Architecture invariant: workflow code reaches the world only through the context. Every
//! value that could differ on replay (time, randomness, side effects, patch decisions, signal
//! arrival) comes from history.

mod activity_call;
mod child;
mod condition;
pub(crate) mod ctx;
mod saga;
mod signal;
pub(crate) mod state;
mod timer;

pub use activity_call::{ActivityCall, ActivityFuture};
pub use child::{ChildCall, ChildError, ChildFuture};
pub use condition::{Condition, ConditionWithTimeout};
pub use ctx::WorkflowCtx;
pub use saga::{Compensation, CompensationOutcome, Saga, SagaReport};
pub use signal::{SignalFuture, SignalReceiver};
pub use state::WorkflowInfo;
pub use timer::Timer;

use crate::failure::WorkflowResult;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;

/// Deterministic combinators for durable futures.
///
/// These poll their futures in a fixed order, so they are safe in workflow code. Do not use
/// `futures::select!` (it picks a ready branch at random) or `tokio::select!` without `biased;`.
pub mod future {
    pub use futures::future::{Either, join, join_all, join3, select, select_all, try_join, try_join_all};
}

/// A workflow type: deterministic code that orchestrates activities.
///
/// ```
/// use std::time::Duration;
/// use warpflow_engine::workflow::{Workflow, WorkflowCtx};
/// use warpflow_engine::WorkflowResult;
///
/// struct Reminder;
///
/// impl Workflow for Reminder {
///     const NAME: &'static str = "reminder";
///     type Input = u64;
///     type Output = String;
///
///     async fn run(ctx: WorkflowCtx, hours: u64) -> WorkflowResult<String> {
///         ctx.sleep(Duration::from_secs(hours * 3600)).await;
///         Ok(format!("reminded after {hours}h"))
///     }
/// }
/// ```
pub trait Workflow: 'static {
    /// The workflow type name recorded in history.
    const NAME: &'static str;
    /// The input of a run.
    type Input: Serialize + DeserializeOwned + 'static;
    /// The result of a run.
    type Output: Serialize + DeserializeOwned + 'static;

    /// The workflow's code. It must be deterministic: same history, same commands.
    fn run(
        ctx: WorkflowCtx,
        input: Self::Input,
    ) -> impl Future<Output = WorkflowResult<Self::Output>> + 'static;
}

/// A signal type: a named, typed message sent to a running workflow.
pub trait Signal: 'static {
    /// The signal name recorded in history.
    const NAME: &'static str;
    /// The signal's payload.
    type Input: Serialize + DeserializeOwned + 'static;
}

/// A query type: a named, typed read of a workflow's state.
pub trait Query: 'static {
    /// The query name.
    const NAME: &'static str;
    /// The query's arguments (`()` for none).
    type Args: Serialize + DeserializeOwned + 'static;
    /// The answer.
    type Output: Serialize + DeserializeOwned + 'static;
}
