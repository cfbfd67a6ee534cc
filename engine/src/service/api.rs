//! The messages between clients, workers and the service: one request and one response type
//! per call, collected in [`Request`] and [`Response`] so that a transport (in-process,
//! network, simulated) carries them all the same way. Every call that changes state is safe
//! to retry: starts, signals, cancels and terminates carry a request id; task completions
//! carry the task's token, which identifies the attempt.

use crate::command::Command;
use crate::failure::{ActivityError, Failure};
use crate::history::{HistoryEvent, WorkflowTaskFailedCause};
use crate::ids::{ActivityId, EventId, RunId, TaskQueue, WorkflowId};
use crate::payload::Payload;
use crate::storage::{RequestId, RunKey, RunStatus};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// What to do when a workflow id was used before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum IdReusePolicy {
    /// Start if no run of the id is running (Temporal's default).
    #[default]
    AllowDuplicate,
    /// Start only if the last run did not complete successfully.
    AllowDuplicateFailedOnly,
    /// Never start a second run of the id.
    RejectDuplicate,
    /// Terminate the running run, then start.
    TerminateIfRunning,
}

/// Start a workflow (or, with `signal`, signal it and start it if it is not running).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartWorkflow {
    /// Retries with the same id return the first call's run.
    pub request_id: RequestId,
    /// The workflow id.
    pub workflow_id: WorkflowId,
    /// The workflow type.
    pub workflow_type: String,
    /// The task queue of its workflow tasks.
    pub task_queue: TaskQueue,
    /// The input.
    pub input: Payload,
    /// What to do if the id was used before.
    pub id_reuse_policy: IdReusePolicy,
    /// Workflow-task timeout (default 10 s).
    pub workflow_task_timeout: Option<Duration>,
    /// Signal-with-start: the signal to deliver (to the running run, or to the new one).
    pub signal: Option<(String, Payload)>,
}

/// The run a start created or found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// The run id.
    pub run_id: RunId,
    /// False when signal-with-start found the workflow running and only signalled it.
    pub created: bool,
}

/// Identifies one workflow task attempt; completing with a stale token is rejected.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkflowTaskToken {
    /// The run.
    pub run: RunKey,
    /// Its `WorkflowTaskScheduled` event.
    pub scheduled_event_id: EventId,
    /// Its `WorkflowTaskStarted` event.
    pub started_event_id: EventId,
    /// Its attempt.
    pub attempt: u32,
}

/// A query for a worker to answer from a run's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryTask {
    /// Identifies the query among those in flight.
    pub query_id: u64,
    /// The run.
    pub run: RunKey,
    /// The query name.
    pub name: String,
    /// Its arguments.
    pub args: Payload,
}

/// A workflow task handed to a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowTask {
    /// Identifies the attempt.
    pub token: WorkflowTaskToken,
    /// The workflow type.
    pub workflow_type: String,
    /// The events the worker needs: from `first_event_id` to the `WorkflowTaskStarted`.
    pub events: Vec<HistoryEvent>,
    /// The id of `events[0]`: 1 for the whole history, later when the service believes this
    /// worker has the run cached. A worker without it fetches the whole history.
    pub first_event_id: EventId,
}

/// What a worker's poll for workflow tasks returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WorkflowPoll {
    /// Nothing arrived before the poll timed out: poll again.
    Empty,
    /// A workflow task.
    Task(Box<WorkflowTask>),
    /// A query.
    Query(Box<QueryTask>),
}

/// An activity attempt handed to a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityTask {
    /// Identifies the attempt.
    pub token: ActivityTaskToken,
    /// The workflow type that scheduled it.
    pub workflow_type: String,
    /// The activity's id in the run.
    pub activity_id: ActivityId,
    /// The activity type.
    pub activity_type: String,
    /// The input.
    pub input: Payload,
    /// The queue it came from.
    pub task_queue: TaskQueue,
    /// When the activity was scheduled.
    pub scheduled_time: Timestamp,
    /// When this attempt started.
    pub started_time: Timestamp,
    /// Heartbeat timeout, if any.
    pub heartbeat_timeout: Option<Duration>,
    /// The last heartbeat details of an earlier attempt.
    pub previous_heartbeat: Option<Payload>,
}

/// Identifies one activity attempt.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActivityTaskToken {
    /// The run.
    pub run: RunKey,
    /// Its `ActivityTaskScheduled` event.
    pub scheduled_event_id: EventId,
    /// The attempt (1-based).
    pub attempt: u32,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RunOutcome {
    /// It returned this value.
    Completed(Payload),
    /// It failed.
    Failed(Failure),
    /// It accepted a cancellation.
    Canceled,
    /// It was terminated.
    Terminated(String),
    /// It timed out.
    TimedOut,
    /// It continued as a new run.
    ContinuedAsNew(RunId),
}

/// A pending activity, as `describe` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingActivity {
    /// Its scheduled event.
    pub scheduled_event_id: EventId,
    /// Its type.
    pub activity_type: String,
    /// The current attempt.
    pub attempt: u32,
    /// Whether an attempt is running.
    pub running: bool,
    /// The last failure of an earlier attempt.
    pub last_failure: Option<Failure>,
}

/// What `describe` returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDescription {
    /// The run.
    pub run: RunKey,
    /// Its workflow type.
    pub workflow_type: String,
    /// Its task queue.
    pub task_queue: TaskQueue,
    /// Open or how it closed.
    pub status: RunStatus,
    /// When it started.
    pub start_time: Timestamp,
    /// When it closed.
    pub close_time: Option<Timestamp>,
    /// Events in its history.
    pub history_length: u64,
    /// Activities not yet resolved.
    pub pending_activities: Vec<PendingActivity>,
    /// Timers not yet fired.
    pub pending_timers: usize,
    /// Children not yet closed.
    pub pending_children: usize,
    /// A workflow task is scheduled or running, or events wait for one.
    pub workflow_task_pending: bool,
    /// The outcome, once closed.
    pub outcome: Option<RunOutcome>,
}

/// Every call a client or worker makes.
/// `<&str>::from(&request)` is the variant name (`"StartWorkflow"`), for traces and logs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, strum::IntoStaticStr)]
pub enum Request {
    /// Start (or signal-with-start) a workflow.
    StartWorkflow(StartWorkflow),
    /// Signal a run (`run_id` `None`: the current run).
    Signal {
        /// Retries with the same id deliver the signal once.
        request_id: RequestId,
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The run, or the current one.
        run_id: Option<RunId>,
        /// The signal name.
        name: String,
        /// Its payload.
        input: Payload,
    },
    /// Ask a run to cancel.
    RequestCancel {
        /// Retries with the same id ask once.
        request_id: RequestId,
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The run, or the current one.
        run_id: Option<RunId>,
        /// Why.
        reason: String,
    },
    /// Terminate a run.
    Terminate {
        /// Retries with the same id terminate once.
        request_id: RequestId,
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The run, or the current one.
        run_id: Option<RunId>,
        /// Why.
        reason: String,
    },
    /// Query a run's state (answered by a worker).
    Query {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The run, or the current one.
        run_id: Option<RunId>,
        /// The query name.
        name: String,
        /// Its arguments.
        args: Payload,
    },
    /// Describe a run.
    Describe {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The run, or the current one.
        run_id: Option<RunId>,
    },
    /// A run's history.
    GetHistory {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The run, or the current one.
        run_id: Option<RunId>,
    },
    /// Runs of a workflow id, or all runs.
    ListRuns {
        /// The workflow id, or all.
        workflow_id: Option<WorkflowId>,
    },
    /// Wait for a run to close (long poll: `Response::Outcome(None)` on timeout).
    WaitOutcome {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The run, or the current one.
        run_id: Option<RunId>,
    },
    /// A worker asks for a workflow task or a query.
    PollWorkflowTask {
        /// The queue.
        task_queue: TaskQueue,
        /// The worker's identity (sticky cache, leases).
        identity: String,
        /// The workflow types the worker handles, so that a start of a type no worker of
        /// the queue knows fails at once (empty: no check).
        workflow_types: Vec<String>,
    },
    /// A worker completes a workflow task with its commands.
    CompleteWorkflowTask {
        /// The task.
        token: WorkflowTaskToken,
        /// The commands (shared, so that a call retried with the same request does not copy
        /// them; encoded as a list).
        commands: Arc<[Command]>,
        /// Eager activity execution (Temporal's `request_eager_execution`): the indexes in
        /// `commands` of the `ScheduleActivity` commands whose first attempt the worker will
        /// run at once, each with a free activity slot. Those scheduled on the run's own task
        /// queue start in the completion's commit and come back in
        /// [`Response::EagerActivities`] instead of waiting for a poll.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        eager_activities: Vec<usize>,
        /// The worker's identity.
        identity: String,
    },
    /// A worker could not run a workflow task.
    FailWorkflowTask {
        /// The task.
        token: WorkflowTaskToken,
        /// Why, in categories.
        cause: WorkflowTaskFailedCause,
        /// Why, in words.
        failure: Failure,
        /// The worker's identity.
        identity: String,
    },
    /// A worker answers a query.
    RespondQuery {
        /// The query.
        query_id: u64,
        /// The answer, or why there is none.
        answer: Result<Payload, String>,
    },
    /// A worker asks for an activity task.
    PollActivityTask {
        /// The queue.
        task_queue: TaskQueue,
        /// The worker's identity.
        identity: String,
    },
    /// A worker reports an activity attempt's progress.
    Heartbeat {
        /// The attempt.
        token: ActivityTaskToken,
        /// Progress details.
        details: Payload,
    },
    /// A worker reports an activity attempt's outcome.
    CompleteActivityTask {
        /// The attempt.
        token: ActivityTaskToken,
        /// Its outcome (`Err(ActivityError::Cancelled)`: it acknowledged a cancellation).
        outcome: Result<Payload, ActivityError>,
        /// The worker has a free workflow-task slot: if the outcome schedules the run's next
        /// workflow task and this worker is the run's sticky worker (it has the run cached),
        /// the task starts in the same commit and comes back in
        /// [`Response::EagerWorkflowTask`] instead of waiting in the queue for a poll.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        eager_workflow_task: bool,
        /// The worker's identity.
        identity: String,
    },
    /// A worker says it is alive, and what it is running. Sent every
    /// `WorkerOptions::liveness_interval` by workers that turn it on; a worker that stops
    /// sending it for `ServiceConfig::worker_liveness_timeout` is taken for dead, and the
    /// activity attempts and workflow tasks it held are handed to other workers.
    WorkerHeartbeat {
        /// The worker's identity, as in its polls.
        identity: String,
        /// The queue it polls.
        task_queue: TaskQueue,
        /// The activity attempts it is running (at most its `max_concurrent_activities`).
        running_activities: Vec<ActivityTaskToken>,
        /// The workflow tasks it is running (at most its `max_concurrent_workflow_tasks`).
        running_workflow_tasks: Vec<WorkflowTaskToken>,
    },
}

impl Request {
    /// The identity of the worker making the request, for calls that carry one.
    pub fn worker_identity(&self) -> Option<&str> {
        match self {
            Request::PollWorkflowTask { identity, .. }
            | Request::CompleteWorkflowTask { identity, .. }
            | Request::FailWorkflowTask { identity, .. }
            | Request::PollActivityTask { identity, .. }
            | Request::CompleteActivityTask { identity, .. }
            | Request::WorkerHeartbeat { identity, .. } => Some(identity),
            _ => None,
        }
    }
}

/// The answer to a [`Request`], variant for variant.
/// `<&str>::from(&response)` is the variant name (`"Ack"`), for traces and logs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, strum::IntoStaticStr)]
pub enum Response {
    /// To `StartWorkflow`.
    Started(Started),
    /// To calls that only acknowledge.
    Ack,
    /// To `Query`.
    QueryAnswer(Payload),
    /// To `Describe`.
    Description(Box<RunDescription>),
    /// To `GetHistory`.
    History(Box<crate::history::History>),
    /// To `ListRuns`.
    Runs(Vec<RunDescription>),
    /// To `WaitOutcome`: the outcome, or `None` if the poll timed out first.
    Outcome(Option<RunOutcome>),
    /// To `PollWorkflowTask`.
    WorkflowPoll(WorkflowPoll),
    /// To `CompleteWorkflowTask` that started activities eagerly: their first attempts, for
    /// the worker to run as if it had polled them (`Ack` when it started none).
    EagerActivities(Vec<ActivityTask>),
    /// To `CompleteActivityTask` that started the run's next workflow task for the worker
    /// (`Ack` when it started none).
    EagerWorkflowTask(Box<WorkflowTask>),
    /// To `PollActivityTask`: a task, or `None` if the poll timed out.
    ActivityTask(Option<Box<ActivityTask>>),
    /// To `Heartbeat`: whether the attempt should stop.
    HeartbeatAck {
        /// The workflow asked for the activity to be cancelled.
        cancel_requested: bool,
    },
}
