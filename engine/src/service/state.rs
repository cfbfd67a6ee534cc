//! The service's mutable state of one run (Temporal's "mutable state"): what is pending, what
//! arrived while a workflow task was running, how the run ended. Kept in the run's record,
//! shared rather than copied (`Arc`), and replaced by every commit that changes it; backends
//! that persist it store its serde encoding.

use super::api::RunOutcome;
use crate::activity::ActivityOptions;
use crate::failure::{Failure, TimeoutType};
use crate::history::{EventAttributes, ParentClosePolicy, ParentExecution, RetryState};
use crate::ids::{ActivityId, EventId, RunId, TaskQueue, TimerId, WorkflowId};
use crate::payload::Payload;
use crate::time::Timestamp;
use crate::vec_map::VecMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The workflow task of a run, from scheduled to completed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkflowTaskState {
    pub scheduled_event_id: EventId,
    /// Set once a worker started it.
    pub started_event_id: Option<EventId>,
    pub attempt: u32,
    /// The worker that started it (shared with `Sticky::identity`: copying the run's state
    /// to change it then copies no names).
    pub identity: Option<Arc<str>>,
}

/// An activity from scheduled to its final outcome.
///
/// What the command scheduled (type, input, options) never changes, and is shared rather
/// than copied each time a call copies the run's state to change it (`Arc`s encode as the
/// values they hold, so the stored form is the same).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActivityState {
    pub activity_id: ActivityId,
    pub activity_type: Arc<str>,
    pub input: Arc<Payload>,
    pub options: Arc<ActivityOptions>,
    pub task_queue: TaskQueue,
    pub scheduled_time: Timestamp,
    /// The current attempt (1-based).
    pub attempt: u32,
    /// When the current attempt started, and by whom; `None` while it waits in the queue.
    pub started: Option<(Timestamp, String)>,
    /// The latest heartbeat details, handed to the next attempt.
    pub heartbeat_details: Option<Payload>,
    pub last_failure: Option<Failure>,
    pub cancel_requested: bool,
}

/// A child workflow this run started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChildState {
    pub workflow_id: WorkflowId,
    pub workflow_type: String,
    pub run_id: Option<RunId>,
    /// The parent's `ChildWorkflowExecutionStarted` event.
    pub started_event_id: Option<EventId>,
    pub parent_close_policy: ParentClosePolicy,
}

/// Something that happened to a run from outside its workflow code. Written to history at
/// once, or, while a workflow task runs, buffered and written after the task's completion
/// (Temporal's order). Kept as a description rather than finished events because the ids
/// they refer to (an activity's started event) are only known when they are written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Incoming {
    /// A plain event: a signal, a cancel request, a timer firing, a child start failure.
    Event(EventAttributes),
    /// The end of an activity: its final attempt's started event (if it started) and outcome.
    Activity {
        scheduled_event_id: EventId,
        /// Still open in history until this is written: a new activity may not take it.
        #[serde(default)]
        activity_id: Option<ActivityId>,
        attempt: u32,
        identity: String,
        started: bool,
        outcome: ActivityFinal,
    },
    /// A child workflow started.
    ChildStarted {
        initiated_event_id: EventId,
        workflow_id: WorkflowId,
        run_id: RunId,
        workflow_type: String,
    },
    /// A child workflow closed.
    ChildClosed {
        initiated_event_id: EventId,
        outcome: RunOutcome,
    },
}

/// How an activity ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum ActivityFinal {
    Completed(Payload),
    Failed(Failure, RetryState),
    TimedOut(TimeoutType, RetryState),
    Canceled,
}

/// Where the service believes a worker holds this run's instance in its cache.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Sticky {
    pub identity: Arc<str>,
    /// The first event the worker has not seen.
    pub next_event_id: EventId,
}

/// The service's mutable state of a run. Opaque outside the service: a storage backend only
/// keeps it, through its `Serialize`/`Deserialize` encoding if it persists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionState {
    pub(crate) workflow_task_timeout: Duration,
    pub(crate) workflow_task: Option<WorkflowTaskState>,
    /// What arrived while a workflow task was started: written after its completion.
    pub(crate) buffered: Vec<Incoming>,
    /// By `ActivityTaskScheduled` event id.
    pub(crate) activities: VecMap<EventId, ActivityState>,
    /// By timer id: the `TimerStarted` event id.
    pub(crate) timers: BTreeMap<TimerId, EventId>,
    /// By `StartChildWorkflowExecutionInitiated` event id.
    pub(crate) children: BTreeMap<EventId, ChildState>,
    pub(crate) parent: Option<ParentExecution>,
    pub(crate) cancel_requested: bool,
    pub(crate) sticky: Option<Sticky>,
    pub(crate) outcome: Option<RunOutcome>,
    /// Consecutive failed workflow tasks, for backoff.
    pub(crate) failed_workflow_tasks: u32,
}

impl ExecutionState {
    /// The state of a run that just started.
    pub fn new(workflow_task_timeout: Duration, parent: Option<ParentExecution>) -> ExecutionState {
        ExecutionState {
            workflow_task_timeout,
            workflow_task: None,
            buffered: Vec::new(),
            activities: VecMap::new(),
            timers: BTreeMap::new(),
            children: BTreeMap::new(),
            parent,
            cancel_requested: false,
            sticky: None,
            outcome: None,
            failed_workflow_tasks: 0,
        }
    }

    /// True while a worker runs a workflow task of this run.
    pub(crate) fn workflow_task_started(&self) -> bool {
        self.workflow_task
            .as_ref()
            .is_some_and(|t| t.started_event_id.is_some())
    }
}
