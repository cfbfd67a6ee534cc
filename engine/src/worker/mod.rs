//! The worker: polls one task queue for workflow tasks, queries and activity attempts, runs
//! them with the types of its [`Registry`], and reports the results, all through a
//! [`Transport`].
//!
//! Workflow tasks run on the worker's own future: workflow instances are `!Send`, and an
//! activation is synchronous CPU work, so up to `max_concurrent_workflow_tasks` polls and
//! tasks are interleaved there, and instances are kept between tasks in a bounded sticky
//! cache (`cache.rs`). Activity attempts are `Send` and run as background tasks of the
//! environment's [`Spawner`](crate::env::Spawner), at most `max_concurrent_activities` at a
//! time.
//!
//! Shutdown is graceful: once the token given to [`Worker::run`] is cancelled, the worker
//! stops polling, finishes the workflow tasks it holds, waits for its running activity
//! attempts to report their outcomes, and returns.

mod activities;
mod cache;
mod poll;
mod workflow_tasks;

pub use tokio_util::sync::CancellationToken;

use crate::client::CallRetry;
use crate::client::retry;
use crate::env::{SharedClock, SharedSpawner};
use crate::ids::TaskQueue;
use crate::registry::Registry;
use crate::service::{Request, Response, ServiceError, Transport};
use std::sync::Arc;
use std::time::Duration;

/// How a worker identifies itself and how much it takes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerOptions {
    /// The name the service records on the events this worker causes, and by which it
    /// routes a run's next tasks back to the worker that has it cached.
    pub identity: String,
    /// How many workflow instances the sticky cache keeps (0: none, every task replays).
    pub max_cached_workflows: usize,
    /// How many activity attempts run at once (0: this worker runs no activities).
    pub max_concurrent_activities: usize,
    /// How many workflow-task polls and tasks are in flight at once (0: this worker runs no
    /// workflow tasks).
    pub max_concurrent_workflow_tasks: usize,
    /// At shutdown, attempts in flight are asked to stop (their cancellation token fires) and
    /// handed back to the engine for another worker; this is how long the worker waits for
    /// them before returning anyway.
    pub shutdown_grace: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            identity: "worker".to_owned(),
            max_cached_workflows: 1000,
            max_concurrent_activities: 100,
            max_concurrent_workflow_tasks: 10,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A worker for one task queue.
///
/// ```no_run
/// use std::sync::Arc;
/// use warpflow_engine::Registry;
/// use warpflow_engine::adapters::{TokioClock, TokioSpawner};
/// use warpflow_engine::service::Transport;
/// use warpflow_engine::worker::{CancellationToken, Worker, WorkerOptions};
///
/// # async fn example(transport: Arc<dyn Transport>, registry: Registry) {
/// let worker = Worker::new(
///     transport,
///     "orders",
///     registry,
///     WorkerOptions::default(),
///     Arc::new(TokioSpawner),
///     Arc::new(TokioClock::system()),
/// );
/// let shutdown = CancellationToken::new();
/// // Cancel `shutdown` (on Ctrl-C, say) to stop; `run` returns once in-flight work is done.
/// // The future is not `Send`: await it in `main`, or spawn it on a `tokio::task::LocalSet`.
/// worker.run(shutdown).await.expect("worker failed");
/// # }
/// ```
pub struct Worker {
    transport: Arc<dyn Transport>,
    task_queue: TaskQueue,
    registry: Registry,
    options: WorkerOptions,
    spawner: SharedSpawner,
    clock: SharedClock,
    /// How completions, failures, query answers and history fetches are retried.
    retry: CallRetry,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("task_queue", &self.task_queue)
            .field("registry", &self.registry)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker polling `task_queue` through `transport` for the types in `registry`.
    /// Activity attempts run on `spawner`; `clock` times the backoff of retried calls.
    pub fn new(
        transport: Arc<dyn Transport>,
        task_queue: impl Into<TaskQueue>,
        registry: Registry,
        options: WorkerOptions,
        spawner: SharedSpawner,
        clock: SharedClock,
    ) -> Worker {
        Worker {
            transport,
            task_queue: task_queue.into(),
            registry,
            options,
            spawner,
            clock,
            retry: CallRetry::default(),
        }
    }

    /// The worker's identity.
    pub fn identity(&self) -> &str {
        &self.options.identity
    }

    /// The task queue it polls.
    pub fn task_queue(&self) -> &TaskQueue {
        &self.task_queue
    }

    /// Polls and runs tasks until `shutdown` is cancelled, then finishes the workflow tasks
    /// in flight, hands back the activity attempts in flight (see
    /// [`WorkerOptions::shutdown_grace`]) and returns `Ok(())`.
    ///
    /// Workflow tasks are polled only if the registry has workflow types, activity tasks only
    /// if it has activity types, so that a worker never takes a task it cannot run. An
    /// unavailable service is retried for as long as the worker runs; any other error of a
    /// poll stops the worker (gracefully) and is returned.
    ///
    /// The future is not `Send` (workflow instances live on it): await it directly, or spawn
    /// it on a `tokio::task::LocalSet`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ServiceError> {
        // A fatal error on one side stops the other without cancelling the caller's token.
        let stop = shutdown.child_token();
        let (workflows, activities) =
            futures::join!(workflow_tasks::run(&self, &stop), activities::run(&self, &stop));
        workflows.and(activities)
    }

    /// Sends a non-poll call, retrying retryable errors with the same request.
    async fn call(&self, request: Request) -> Result<Response, ServiceError> {
        retry::call(self.transport.as_ref(), self.clock.as_ref(), &self.retry, request).await
    }
}
