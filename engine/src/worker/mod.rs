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
//!
//! With [`WorkerOptions::liveness_interval`] set, the worker also heartbeats to the service
//! with the list of what it runs (`liveness.rs`), so that its work is handed to other
//! workers soon after it dies.

mod activities;
mod cache;
mod eager_workflow;
mod liveness;
mod poll;
mod stop;
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
    /// How many activity-task polls are in flight at once (at least 1 when the worker runs
    /// activities), each holding a free slot. One poll at a time hands out one attempt per
    /// round trip to the service; a worker in another process than the service wants a few.
    pub max_concurrent_activity_polls: usize,
    /// How many workflow-task polls and tasks are in flight at once (0: this worker runs no
    /// workflow tasks).
    pub max_concurrent_workflow_tasks: usize,
    /// At shutdown, attempts in flight are asked to stop (their cancellation token fires) and
    /// handed back to the engine for another worker; this is how long the worker waits for
    /// them before returning anyway.
    pub shutdown_grace: Duration,
    /// How often the worker tells the service it is alive and what it runs (`None`, the
    /// default, or zero: never). Turn it on for workers in another process than the
    /// service, at a fraction of the service's `worker_liveness_timeout` (200 ms for the
    /// default 1 s): a worker that dies then has its activity attempts retried and its
    /// workflow tasks redispatched within about that timeout. Heartbeats go out at least
    /// every interval and at most every two. A worker's identity must be unique to its
    /// process for this to work.
    pub liveness_interval: Option<Duration>,
    /// Eager activity execution (Temporal's `request_eager_execution`, on by default): a
    /// workflow task's completion asks the service to start at once, in the same commit,
    /// the activities it schedules on this worker's task queue that this worker runs, as
    /// many as it has free activity slots, and the worker runs them as if it had polled
    /// them. Each saves a poll and a commit. Retries go through the queue.
    pub eager_activities: bool,
    /// Eager workflow tasks (on by default): an activity attempt's completion asks the
    /// service to start the run's next workflow task in the same commit, which it does when
    /// this worker ran the run's last workflow task (it has the run cached), and the worker
    /// runs it as if it had polled it. Each saves a poll, a lease and a commit. Up to
    /// `max_concurrent_workflow_tasks` tasks come this way at once, besides the polled ones.
    pub eager_workflow_tasks: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            identity: "worker".to_owned(),
            max_cached_workflows: 1000,
            max_concurrent_activities: 100,
            max_concurrent_activity_polls: 1,
            max_concurrent_workflow_tasks: 10,
            shutdown_grace: Duration::from_secs(10),
            liveness_interval: None,
            eager_activities: true,
            eager_workflow_tasks: true,
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
    /// What runs now, for the liveness heartbeat (`None`: liveness off).
    running: Option<Arc<liveness::Running>>,
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
        let mut options = options;
        options.liveness_interval = options.liveness_interval.filter(|d| !d.is_zero());
        Worker {
            transport,
            task_queue: task_queue.into(),
            registry,
            running: options.liveness_interval.map(|_| Arc::default()),
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
        liveness::announce(&self).await;
        // Heartbeats go on until both sides are done, attempts draining at shutdown included.
        let sides_done = CancellationToken::new();
        // Eager workflow tasks need both sides: a completion on the activity side hands the
        // task to the workflow side.
        let both_sides = self.options.max_concurrent_workflow_tasks > 0
            && !self.registry.workflow_types().is_empty()
            && self.options.eager_workflow_tasks;
        let (outbox, inbox) = match both_sides {
            true => {
                let (outbox, inbox) = eager_workflow::channel(self.options.max_concurrent_workflow_tasks);
                (Some(outbox), Some(inbox))
            }
            false => (None, None),
        };
        let slots = activities::Slots::of(&self, outbox);
        let sides = async {
            let results = futures::join!(
                workflow_tasks::run(&self, &stop, slots.as_ref(), inbox),
                activities::run(&self, &stop, slots.as_ref())
            );
            sides_done.cancel();
            results
        };
        let ((workflows, activities), ()) = futures::join!(sides, liveness::run(&self, &sides_done));
        workflows.and(activities)
    }

    /// Sends a non-poll call, retrying retryable errors with the same request. (Not an
    /// `async fn`, which would hold the request once more in every workflow task's future.)
    fn call(&self, request: Request) -> impl Future<Output = Result<Response, ServiceError>> + '_ {
        retry::call(self.transport.as_ref(), self.clock.as_ref(), &self.retry, request)
    }
}
