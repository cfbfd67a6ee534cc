//! The engine service: owns histories, task queues and timers, over a [`Storage`] and a
//! [`Clock`](crate::env::Clock). Sans-IO: it does no I/O of its own and spawns nothing; a
//! transport delivers [`Request`]s to [`Service::handle`], and whoever hosts it drives
//! [`Service::run_timers`].
//!
//! Architecture invariant: every call that changes runs is one read of each run it touches
//! and one atomic [`Commit`](crate::storage::Commit) (see `txn.rs`), with an optimistic check
//! on each run's next event id and version. On conflict the whole call is redone from fresh reads, so
//! concurrent calls on one run serialize without locks, and nothing is acknowledged before
//! its commit returns.
//!
//! Files: `start.rs` (start, id reuse, signal-with-start, new runs), `workflow_task.rs`
//! (poll, complete, fail), `commands.rs` (each command's effect), `activity_task.rs` (poll,
//! heartbeat, complete, retries), `timers.rs` (timers and timeouts), `close.rs` (closing a
//! run: parent notification, parent-close policy), `external.rs` (signal, cancel, terminate,
//! query, describe, history, list, wait), `queries.rs` (queries in flight), `liveness.rs`
//! (which workers are alive and what they hold, in memory) and `reaper.rs` (taking work
//! back from workers that stopped heartbeating).

/// Runs the body against a fresh [`Batch`] bound to `$batch` and commits it; redoes it from
/// fresh reads when another commit changed one of its runs first. The body is an async block:
/// `?` and `return` leave the attempt. (A macro rather than a method taking an async closure:
/// the futures of async closures lose `Send` through their higher-ranked lifetimes.)
macro_rules! update {
    ($service:expr, |$batch:ident| $body:block) => {{
        let service = $service;
        let mut conflicts = 0usize;
        loop {
            let mut batch_value = $crate::service::txn::Batch::new(service.now());
            let attempt: $crate::service::ServiceResult<_> = {
                let $batch = &mut batch_value;
                async { $body }.await
            };
            let out = match attempt {
                Ok(out) => out,
                Err(e) => break Err(e),
            };
            match service.commit_batch(batch_value).await {
                Ok(()) => break Ok(out),
                Err(e) if service.should_redo(&e, &mut conflicts) => continue,
                Err(e) => break Err(e),
            }
        }
    }};
}

mod activity_task;
pub mod api;
mod close;
mod close_waiters;
mod commands;
mod error;
mod external;
mod liveness;
mod queries;
mod reaper;
mod start;
mod state;
mod timers;
mod transport;
mod txn;
mod waiting_polls;
mod workflow_task;

pub use activity_task::WORKER_LOST;
pub use api::{Request, Response};
pub use error::{ServiceError, ServiceResult};
pub use state::ExecutionState;
pub use transport::{InProcess, Transport};

use crate::env::SharedClock;
use crate::ids::{RunId, TaskQueue, WorkflowId};
use crate::storage::Storage;
use crate::storage::{StorageError, TaskKind};
use crate::time::Timestamp;
use liveness::Held;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use txn::{Batch, RunTxn};

/// How many times a call is redone after losing an optimistic race before giving up.
const CONFLICT_RETRIES_MAX: usize = 64;

/// Tunables of the service, with Temporal-like defaults.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// How long a poll waits for a task before returning empty.
    pub poll_timeout: Duration,
    /// How long a poller's claim on a task lasts before another poller may take it.
    pub task_lease: Duration,
    /// How long a query waits for a worker's answer.
    pub query_timeout: Duration,
    /// How long `WaitOutcome` waits before returning `None`.
    pub outcome_wait: Duration,
    /// Default workflow-task timeout.
    pub workflow_task_timeout: Duration,
    /// The longest the timer loop sleeps without looking at storage. Setting a timer wakes
    /// it anyway; this only covers timers written by another process sharing the storage.
    pub timer_idle_wait: Duration,
    /// Seeds run ids and workflow randomness seeds.
    pub seed: u64,
    /// A worker that sends `WorkerHeartbeat` and then nothing at all for this long is taken
    /// for dead: its activity attempts are retried and its workflow tasks redispatched at
    /// once, instead of when their own timeouts fire. Workers that never send
    /// `WorkerHeartbeat` are not affected.
    pub worker_liveness_timeout: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            poll_timeout: Duration::from_secs(60),
            task_lease: Duration::from_secs(30),
            query_timeout: Duration::from_secs(10),
            outcome_wait: Duration::from_secs(60),
            workflow_task_timeout: Duration::from_secs(10),
            timer_idle_wait: Duration::from_secs(60),
            seed: 0,
            worker_liveness_timeout: Duration::from_secs(1),
        }
    }
}

/// The engine service.
pub struct Service {
    storage: Arc<dyn Storage>,
    clock: SharedClock,
    config: ServiceConfig,
    /// Run ids and randomness seeds. A std mutex: held for one draw, never across an await.
    entropy: Mutex<ChaCha8Rng>,
    /// Wakes pollers of a queue when a task is enqueued.
    queues: Mutex<BTreeMap<(TaskQueue, TaskKind), Arc<Notify>>>,
    /// Wakes the timer loop when a timer is set.
    timers_changed: Notify,
    /// Wakes the `WaitOutcome` calls on a workflow id when one of its runs closes.
    close_waiters: close_waiters::CloseWaiters,
    /// Workflow types the workers of each queue handle, as they announced them.
    worker_types: Mutex<BTreeMap<TaskQueue, BTreeSet<String>>>,
    queries: queries::Queries,
    /// Workflow-task polls waiting for a task, which a commit may start one for.
    waiting_polls: waiting_polls::WaitingPolls,
    /// Which workers are alive and what they hold (in memory).
    liveness: liveness::Liveness,
    /// Held while the work of the previous instance is read from storage, once.
    recovery: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service over `storage`, on `clock`.
    pub fn new(storage: Arc<dyn Storage>, clock: SharedClock, config: ServiceConfig) -> Service {
        // A poll sent just before a worker died may hand it work until the poll times out:
        // the worker is remembered that long after it is taken for dead.
        let liveness = liveness::Liveness::new(
            clock.now(),
            config.worker_liveness_timeout,
            config.poll_timeout.max(config.task_lease),
        );
        Service {
            storage,
            clock,
            entropy: Mutex::new(ChaCha8Rng::seed_from_u64(config.seed)),
            config,
            queues: Mutex::new(BTreeMap::new()),
            timers_changed: Notify::new(),
            close_waiters: close_waiters::CloseWaiters::default(),
            worker_types: Mutex::new(BTreeMap::new()),
            queries: queries::Queries::default(),
            waiting_polls: waiting_polls::WaitingPolls::default(),
            liveness,
            recovery: tokio::sync::Mutex::new(()),
        }
    }

    /// The service's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Handles one request.
    pub async fn handle(&self, request: Request) -> ServiceResult<Response> {
        // Any request from a worker says it is alive.
        let tracked = request
            .worker_identity()
            .is_some_and(|identity| self.liveness.heard(identity, self.now()));
        match request {
            Request::StartWorkflow(start) => self.start_workflow(start).await.map(Response::Started),
            Request::Signal {
                request_id,
                workflow_id,
                run_id,
                name,
                input,
            } => self
                .signal(request_id, workflow_id, run_id, name, input)
                .await
                .map(|()| Response::Ack),
            Request::RequestCancel {
                request_id,
                workflow_id,
                run_id,
                reason,
            } => self
                .request_cancel(request_id, workflow_id, run_id, reason)
                .await
                .map(|()| Response::Ack),
            Request::Terminate {
                request_id,
                workflow_id,
                run_id,
                reason,
            } => self
                .terminate(request_id, workflow_id, run_id, reason)
                .await
                .map(|()| Response::Ack),
            Request::Query {
                workflow_id,
                run_id,
                name,
                args,
            } => self
                .query(workflow_id, run_id, name, args)
                .await
                .map(Response::QueryAnswer),
            Request::Describe { workflow_id, run_id } => self
                .describe(workflow_id, run_id)
                .await
                .map(|d| Response::Description(Box::new(d))),
            Request::GetHistory { workflow_id, run_id } => self
                .history(workflow_id, run_id)
                .await
                .map(|h| Response::History(Box::new(h))),
            Request::ListRuns { workflow_id } => self.list_runs(workflow_id).await.map(Response::Runs),
            Request::WaitOutcome { workflow_id, run_id } => self
                .wait_outcome(workflow_id, run_id)
                .await
                .map(Response::Outcome),
            Request::PollWorkflowTask {
                task_queue,
                identity,
                workflow_types,
            } => {
                self.register_worker_types(&task_queue, workflow_types);
                let polled = self.poll_workflow_task(task_queue.clone(), identity).await;
                self.pass_on_failed_poll(&task_queue, TaskKind::Workflow, &polled);
                polled.map(Response::WorkflowPoll)
            }
            Request::CompleteWorkflowTask {
                token,
                commands,
                eager_activities,
                identity,
            } => {
                let held = tracked.then(|| (identity.clone(), Held::WorkflowTask(token.clone())));
                let result = self
                    .complete_workflow_task(token, commands, eager_activities, identity)
                    .await;
                self.release(held, &result);
                result.map(|started| match started.is_empty() {
                    true => Response::Ack,
                    false => Response::EagerActivities(started),
                })
            }
            Request::FailWorkflowTask {
                token,
                cause,
                failure,
                identity,
            } => {
                let held = tracked.then(|| (identity.clone(), Held::WorkflowTask(token.clone())));
                let result = self.fail_workflow_task(token, cause, failure, identity).await;
                self.release(held, &result);
                result.map(|()| Response::Ack)
            }
            Request::RespondQuery { query_id, answer } => {
                self.queries.answer(query_id, answer);
                Ok(Response::Ack)
            }
            Request::PollActivityTask { task_queue, identity } => {
                let polled = self.poll_activity_task(task_queue.clone(), identity).await;
                self.pass_on_failed_poll(&task_queue, TaskKind::Activity, &polled);
                polled.map(|t| Response::ActivityTask(t.map(Box::new)))
            }
            Request::Heartbeat { token, details } => self
                .heartbeat(token, details)
                .await
                .map(|cancel_requested| Response::HeartbeatAck { cancel_requested }),
            Request::CompleteActivityTask {
                token,
                outcome,
                eager_workflow_task,
                identity,
            } => {
                let held = tracked.then(|| (identity.clone(), Held::Activity(token.clone())));
                let result = self
                    .complete_activity_task(token, outcome, eager_workflow_task, identity)
                    .await;
                self.release(held, &result);
                result.map(|started| match started {
                    Some(task) => Response::EagerWorkflowTask(Box::new(task)),
                    None => Response::Ack,
                })
            }
            Request::WorkerHeartbeat {
                identity,
                task_queue: _,
                running_activities,
                running_workflow_tasks,
            } => self
                .worker_heartbeat(identity, running_activities, running_workflow_tasks)
                .await
                .map(|()| Response::Ack),
        }
    }

    /// Enforces the history limit on the batch and writes it as one commit.
    async fn commit_batch(&self, mut batch: Batch) -> ServiceResult<()> {
        self.enforce_history_limit(&mut batch).await?;
        let matched = self.start_for_waiting_polls(&mut batch);
        let (commit, wake) = batch.into_commit();
        if commit == crate::storage::Commit::default() {
            return Ok(());
        }
        match self.storage.commit(commit).await {
            Ok(()) => {
                for (poll, started) in matched {
                    poll.answer(started);
                }
                self.wake(wake);
                Ok(())
            }
            // The commit may have been applied (a lost reply): wake whoever its tasks and
            // timers concern anyway. A spurious wake-up costs a look; a missed one would leave
            // a task or timer unnoticed until the next idle wait.
            Err(error @ StorageError::Unavailable(_)) => {
                self.wake(wake);
                Err(error.into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Whether an update that failed with `error` should be redone from fresh reads.
    fn should_redo(&self, error: &ServiceError, conflicts: &mut usize) -> bool {
        let lost_race = matches!(
            error,
            ServiceError::Storage(
                StorageError::Conflict { .. }
                    | StorageError::VersionConflict { .. }
                    | StorageError::AlreadyRunning { .. }
            )
        );
        if lost_race && *conflicts < CONFLICT_RETRIES_MAX {
            *conflicts += 1;
            return true;
        }
        false
    }

    fn wake(&self, wake: txn::Wakeups) {
        // One poller per task that can be taken now: waking every poller of the queue made
        // each of them ask storage for a lease (through the one writer) for a single task.
        // A notification that reaches a poller already on its way out is passed on to the
        // next waiting one (tokio's `Notify`), so none is lost. The most recent poller goes
        // first: the oldest waiting polls are the likeliest to be a dead worker's, whose
        // connection the server has not yet found closed.
        for ((queue, kind), count) in wake.ready_tasks {
            let notify = self.queue_notify(&queue, kind);
            for _ in 0..count {
                notify.notify_last();
            }
        }
        // A task visible later (a retry's backoff) wakes every poller, so that each takes
        // its time into account when it next sleeps.
        for (queue, kind) in wake.later_tasks {
            self.queue_notify(&queue, kind).notify_waiters();
        }
        // Only a timer due before the timer loop's planned wake-up needs it to look again:
        // most commits set timers due later (a workflow task's or an attempt's timeout), and
        // waking the loop for each of those cost a pass over storage and a new sleep.
        if wake
            .earliest_timer
            .is_some_and(|due| self.liveness.loop_must_wake(due))
        {
            self.timers_changed.notify_one();
        }
        for workflow_id in &wake.closed {
            self.close_waiters.closed(workflow_id);
        }
    }

    /// A poll that failed may have leased a task it then could not start (the start's commit
    /// failed): the task is claimable again only when that lease ends, and the pollers
    /// asleep did not plan to look then. The failed poll's caller may never poll again (a
    /// connection gone, a duplicated request's second copy), so the next waiting poller is
    /// woken in its place: it finds the lease and sleeps until it ends.
    fn pass_on_failed_poll<T>(&self, queue: &TaskQueue, kind: TaskKind, polled: &ServiceResult<T>) {
        if polled.is_err() {
            self.queue_notify(queue, kind).notify_last();
        }
    }

    fn queue_notify(&self, queue: &TaskQueue, kind: TaskKind) -> Arc<Notify> {
        let mut queues = self
            .queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        queues.entry((queue.clone(), kind)).or_default().clone()
    }

    /// Loads a run into the batch (once) and returns its index.
    async fn load(
        &self,
        batch: &mut Batch,
        workflow_id: &WorkflowId,
        run_id: Option<&RunId>,
    ) -> ServiceResult<usize> {
        let same_id = |r: &&RunTxn| r.key().workflow_id == *workflow_id;
        let in_batch = match run_id {
            Some(run_id) => batch
                .runs
                .iter()
                .position(|r| same_id(&r) && r.key().run_id == *run_id),
            // A run this batch creates is the id's current one; storage does not know it yet.
            None => batch.runs.iter().rposition(|r| same_id(&r) && r.is_created()),
        };
        if let Some(i) = in_batch {
            return Ok(i);
        }
        let record = self.storage.get_run(workflow_id, run_id).await?.ok_or_else(|| {
            ServiceError::WorkflowNotFound {
                workflow_id: workflow_id.clone(),
                run_id: run_id.cloned(),
            }
        })?;
        if let Some(i) = batch.position(&record.key) {
            return Ok(i);
        }
        Ok(batch.push_run(RunTxn::existing(record, batch.now)))
    }

    /// A fresh run id and randomness seed.
    fn draw_ids(&self) -> (RunId, u64) {
        let mut rng = self
            .entropy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        let run_id = RunId::new(uuid::Builder::from_random_bytes(bytes).into_uuid().to_string());
        (run_id, rng.next_u64())
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn register_worker_types(&self, queue: &TaskQueue, types: Vec<String>) {
        if types.is_empty() {
            return;
        }
        let mut known = self
            .worker_types
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        known.entry(queue.clone()).or_default().extend(types);
    }
}
