//! Storage: the engine's only durable state, behind one trait.
//!
//! Architecture invariant: every state transition of a run is one [`Commit`], applied
//! atomically: the events it appends and the run's new mutable state (with an optimistic
//! check on the run's next event id and version, so that a write based on a stale read of
//! the run is refused, even one that appends no event), the tasks and timers it creates or removes, and the request
//! ids it records for idempotent retries. A commit is durable when `commit` returns `Ok`;
//! nothing is acknowledged to a caller before that.
//!
//! The trait is shaped so that a SQL backend implements `commit` as one transaction and each
//! read as one query. [`MemoryStorage`] is the deterministic reference implementation, and
//! [`conformance`] is the suite every backend must pass.

pub(crate) mod check;
pub mod conformance;
mod memory;

pub use memory::MemoryStorage;

use crate::failure::TimeoutType;
use crate::history::HistoryEvent;
use crate::ids::{EventId, RunId, TaskQueue, TimerId, WorkflowId};
use crate::payload::Payload;
use crate::service::ExecutionState;
use crate::time::Timestamp;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A run: a workflow id and one of its run ids.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunKey {
    /// The workflow id.
    pub workflow_id: WorkflowId,
    /// The run id.
    pub run_id: RunId,
}

impl std::fmt::Display for RunKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.workflow_id, self.run_id)
    }
}

/// Whether a run is open, and how it closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RunStatus {
    /// Open.
    Running,
    /// Closed by `WorkflowExecutionCompleted`.
    Completed,
    /// Closed by `WorkflowExecutionFailed`.
    Failed,
    /// Closed by `WorkflowExecutionCanceled`.
    Canceled,
    /// Closed by `WorkflowExecutionTerminated`.
    Terminated,
    /// Closed by `WorkflowExecutionTimedOut`.
    TimedOut,
    /// Closed by `WorkflowExecutionContinuedAsNew`.
    ContinuedAsNew,
}

impl RunStatus {
    /// True for every status but `Running`.
    pub fn is_closed(self) -> bool {
        self != RunStatus::Running
    }
}

/// A run as stored: what every backend indexes, plus the service's mutable state, which is
/// opaque to storage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The run.
    pub key: RunKey,
    /// Its workflow type (shared: every read of the run copies its record).
    pub workflow_type: Arc<str>,
    /// Its task queue.
    pub task_queue: TaskQueue,
    /// Open or how it closed.
    pub status: RunStatus,
    /// When it started.
    pub start_time: Timestamp,
    /// When it closed.
    pub close_time: Option<Timestamp>,
    /// The id the next appended event gets: history length + 1.
    pub next_event_id: EventId,
    /// How many commits have written the run: 1 for the commit that creates it, and each
    /// commit that writes it again carries the stored version + 1. With `next_event_id`, the
    /// optimistic check of a run write: it also catches a change of the run's state alone (a
    /// signal buffered while a workflow task runs, an activity attempt starting), which
    /// appends no event.
    #[serde(default)]
    pub version: u64,
    /// The service's mutable state of the run (pending activities, buffered events, ...),
    /// opaque to storage: shared as it is, or stored through its serde encoding.
    pub state: Arc<ExecutionState>,
}

/// Which kind of worker a task is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskKind {
    /// A workflow task: run the workflow code.
    Workflow,
    /// An activity task: run one attempt of an activity.
    Activity,
}

/// Identifies a task: deterministic, so a commit can create and a later commit complete it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskKey {
    /// The run the task is for.
    pub run: RunKey,
    /// Workflow or activity.
    pub kind: TaskKind,
    /// The `WorkflowTaskScheduled` or `ActivityTaskScheduled` event.
    pub scheduled_event_id: EventId,
    /// The attempt.
    pub attempt: u32,
}

/// A claim on a task by one poller until `expires_at`; an expired lease frees the task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// Who holds it.
    pub owner: String,
    /// When it lapses.
    pub expires_at: Timestamp,
}

/// A task waiting in a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Its identity.
    pub key: TaskKey,
    /// The queue it waits in.
    pub queue: TaskQueue,
    /// Not handed out before this time (retry backoff).
    pub visible_at: Timestamp,
    /// The current claim, if any.
    pub lease: Option<Lease>,
}

/// What a timer does when it fires.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TimerKind {
    /// A workflow timer (`ctx.sleep`).
    User {
        /// The timer's id in the run.
        timer_id: TimerId,
    },
    /// An activity timeout.
    Activity {
        /// The activity's scheduled event.
        scheduled_event_id: EventId,
        /// The attempt it applies to (schedule-to-close: 0, all attempts).
        attempt: u32,
        /// Which timeout.
        timeout: TimeoutTypeKey,
    },
    /// A workflow task's start-to-close timeout.
    WorkflowTask {
        /// The task's scheduled event.
        scheduled_event_id: EventId,
        /// Its attempt.
        attempt: u32,
    },
}

/// [`TimeoutType`] with an order, so timer keys sort.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TimeoutTypeKey {
    /// Start-to-close.
    StartToClose,
    /// Schedule-to-close.
    ScheduleToClose,
    /// Schedule-to-start.
    ScheduleToStart,
    /// Heartbeat.
    Heartbeat,
}

impl From<TimeoutTypeKey> for TimeoutType {
    fn from(t: TimeoutTypeKey) -> TimeoutType {
        match t {
            TimeoutTypeKey::StartToClose => TimeoutType::StartToClose,
            TimeoutTypeKey::ScheduleToClose => TimeoutType::ScheduleToClose,
            TimeoutTypeKey::ScheduleToStart => TimeoutType::ScheduleToStart,
            TimeoutTypeKey::Heartbeat => TimeoutType::Heartbeat,
        }
    }
}

/// Identifies a timer: deterministic, like [`TaskKey`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerKey {
    /// The run.
    pub run: RunKey,
    /// What it does.
    pub kind: TimerKind,
}

/// A timer due at some engine time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerRecord {
    /// Its identity.
    pub key: TimerKey,
    /// When it fires.
    pub due: Timestamp,
}

/// The id a client or worker gives a request so that a retry is recognised.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub String);

/// One run's part of a commit.
#[derive(Clone, Debug, PartialEq)]
pub struct RunWrite {
    /// The run as it is after the commit (its `next_event_id` counts the appended events).
    pub record: RunRecord,
    /// The run's `next_event_id` before the commit, checked optimistically (`Conflict`), as is
    /// `record.version`, which must be the stored version + 1 (`VersionConflict`); `None`
    /// creates the run, which fails if another run of the workflow id is running.
    pub expected_next_event_id: Option<EventId>,
    /// Events appended, with ids continuing from `expected_next_event_id` (or from 1).
    pub events: Vec<HistoryEvent>,
}

/// One atomic state transition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Commit {
    /// Runs created or updated, in order.
    pub runs: Vec<RunWrite>,
    /// Tasks enqueued (replacing a task with the same key).
    pub create_tasks: Vec<Task>,
    /// Tasks done and removed (a missing task is not an error).
    pub complete_tasks: Vec<TaskKey>,
    /// Timers set (replacing a timer with the same key).
    pub create_timers: Vec<TimerRecord>,
    /// Timers removed (a missing timer is not an error).
    pub delete_timers: Vec<TimerKey>,
    /// Responses to remember under request ids.
    pub requests: Vec<(RequestId, Payload)>,
}

/// Why storage refused or failed an operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum StorageError {
    /// Another commit changed the run first (optimistic check). Retry from a fresh read.
    #[error("conflict on run {run}: expected next event {expected:?}, found {found:?}")]
    Conflict {
        /// The run.
        run: RunKey,
        /// What the commit expected.
        expected: Option<EventId>,
        /// What storage has (`None`: no such run).
        found: Option<EventId>,
    },
    /// Another commit wrote the run first without appending events (it changed the run's
    /// state alone): the write's version is not the stored version + 1. Retry from a fresh
    /// read.
    #[error("conflict on run {run}: the write is based on version {based_on}, the stored version is {found}")]
    VersionConflict {
        /// The run.
        run: RunKey,
        /// The version the write was based on (its record's version - 1).
        based_on: u64,
        /// The version stored.
        found: u64,
    },
    /// A new run of a workflow id that has a running run.
    #[error("workflow {workflow_id} already has a running run {running}")]
    AlreadyRunning {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// Its running run.
        running: RunId,
    },
    /// The commit is not well formed (event ids that do not continue the history, ...).
    #[error("invalid commit: {0}")]
    Invalid(String),
    /// The backend failed (I/O). The commit may or may not have been applied: retry with the
    /// same request id.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data cannot be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StorageError {
    /// True when retrying (after a fresh read, for a conflict) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StorageError::Conflict { .. }
                | StorageError::VersionConflict { .. }
                | StorageError::Unavailable(_)
        )
    }
}

/// Storage operation result.
pub type StorageResult<T> = Result<T, StorageError>;

/// The engine's durable state. See the module documentation for the contract.
pub trait Storage: Send + Sync + 'static {
    /// Applies `commit` atomically; durable when it returns `Ok`. On `Err`, nothing of it is
    /// visible (except after `Unavailable`, where the outcome is unknown).
    fn commit(&self, commit: Commit) -> BoxFuture<'_, StorageResult<()>>;

    /// A run, or with `run_id` `None` the workflow id's current (most recently started) run.
    fn get_run<'a>(
        &'a self,
        workflow_id: &'a WorkflowId,
        run_id: Option<&'a RunId>,
    ) -> BoxFuture<'a, StorageResult<Option<RunRecord>>>;

    /// A run's events from `from` on.
    fn read_events<'a>(
        &'a self,
        run: &'a RunKey,
        from: EventId,
    ) -> BoxFuture<'a, StorageResult<Vec<HistoryEvent>>>;

    /// Runs of one workflow id (oldest first), or of every workflow id, at most `limit`.
    fn list_runs<'a>(
        &'a self,
        workflow_id: Option<&'a WorkflowId>,
        limit: usize,
    ) -> BoxFuture<'a, StorageResult<Vec<RunRecord>>>;

    /// Open runs (status `Running`) by key, at most `limit`. The service reads them once
    /// after a restart. The default lists every run and keeps the open ones; a backend with
    /// an index on the status should answer from it.
    fn list_open_runs(&self, limit: usize) -> BoxFuture<'_, StorageResult<Vec<RunRecord>>> {
        Box::pin(async move {
            let mut open: Vec<RunRecord> = self
                .list_runs(None, usize::MAX)
                .await?
                .into_iter()
                .filter(|r| !r.status.is_closed())
                .collect();
            open.sort_by(|a, b| a.key.cmp(&b.key));
            open.truncate(limit);
            Ok(open)
        })
    }

    /// Claims the first task of `queue` and `kind` that is visible at `now` and not claimed
    /// (or whose claim expired), for `lease_for`. Ties go to the earliest `visible_at`, then
    /// to the smallest key.
    fn lease_task<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
        owner: &'a str,
        lease_for: Duration,
    ) -> BoxFuture<'a, StorageResult<Option<Task>>>;

    /// When the next task of `queue` and `kind` becomes claimable (a visible, unclaimed task:
    /// `now`), if any.
    fn next_task_time<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
    ) -> BoxFuture<'a, StorageResult<Option<Timestamp>>>;

    /// Timers due at or before `now`, earliest first, at most `limit`.
    fn due_timers(&self, now: Timestamp, limit: usize) -> BoxFuture<'_, StorageResult<Vec<TimerRecord>>>;

    /// The due time of the earliest timer.
    fn next_timer_due(&self) -> BoxFuture<'_, StorageResult<Option<Timestamp>>>;

    /// The response recorded under `request_id`.
    fn get_request<'a>(&'a self, request_id: &'a RequestId) -> BoxFuture<'a, StorageResult<Option<Payload>>>;
}
