//! The events of a history, with Temporal's names and meaning.
//!
//! Each variant of [`EventAttributes`] is one `eventType` of the JSON format
//! (`docs/history-format.md`); its fields are that event's attributes, in camelCase.

use crate::activity::ActivityOptions;
use crate::failure::{Failure, TimeoutType};
use crate::ids::{ActivityId, EventId, RunId, TaskQueue, TimerId, WorkflowId};
use crate::payload::Payload;
use crate::time::{Timestamp, duration_serde};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::time::Duration;

/// One event of a history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    /// Dense from 1 within a run.
    pub event_id: EventId,
    /// When the engine recorded the event (engine clock).
    pub event_time: Timestamp,
    /// The event type and its attributes.
    #[serde(flatten)]
    pub attributes: EventAttributes,
}

/// Where a child workflow's parent is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentExecution {
    /// The parent's workflow id.
    pub workflow_id: WorkflowId,
    /// The parent's run id.
    pub run_id: RunId,
    /// The parent's `StartChildWorkflowExecutionInitiated` event.
    pub initiated_event_id: EventId,
}

/// What happens to a child workflow when its parent closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ParentClosePolicy {
    /// The child is terminated (Temporal's default).
    #[default]
    Terminate,
    /// The child is asked to cancel.
    RequestCancel,
    /// The child keeps running.
    Abandon,
}

/// Why an activity will or will not be retried, as recorded on its final event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetryState {
    /// The error was non-retryable.
    NonRetryableFailure,
    /// `maximum_attempts` was reached.
    MaximumAttemptsReached,
    /// The schedule-to-close timeout leaves no time for another attempt.
    Timeout,
    /// The failure happened while the activity was being cancelled.
    CancelRequested,
}

/// Why a workflow task failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkflowTaskFailedCause {
    /// The code's commands do not match the history.
    NonDeterminism,
    /// The workflow code panicked.
    WorkflowPanic,
    /// A payload could not be encoded or decoded, or the workflow type is unknown.
    BadPayload,
    /// A command exceeded a limit.
    LimitExceeded,
    /// A command had invalid attributes (no close timeout, a duplicate timer id, ...).
    BadCommand,
    /// The task tried to close the run while new events were waiting for it.
    UnhandledCommand,
    /// The run was closed from outside (terminated) while the task ran.
    ForceClose,
}

/// A marker: a value recorded in history so that replay sees the same value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "markerName", content = "details", rename_all_fields = "camelCase")]
pub enum Marker {
    /// `ctx.patched(id)` or `ctx.deprecate_patch(id)` ran for the first time in this run.
    Patch {
        /// The patch id.
        patch_id: String,
        /// True when recorded by `deprecate_patch`: replay may skip it if the code no longer
        /// mentions the patch.
        deprecated: bool,
    },
    /// The value returned by `ctx.side_effect`.
    SideEffect {
        /// Sequence number of the side effect in the run.
        side_effect_id: u32,
        /// The value.
        value: Payload,
    },
}

/// The type and attributes of a history event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "eventType", rename_all_fields = "camelCase")]
#[allow(missing_docs)] // Field meanings follow Temporal's; see docs/history-format.md.
pub enum EventAttributes {
    WorkflowExecutionStarted {
        workflow_type: String,
        task_queue: TaskQueue,
        input: Payload,
        #[serde(with = "duration_serde")]
        workflow_task_timeout: Duration,
        /// Seeds `ctx.random()` and `ctx.uuid()`, so they replay identically.
        randomness_seed: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<ParentExecution>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        continued_from_run_id: Option<RunId>,
    },
    WorkflowTaskScheduled {
        task_queue: TaskQueue,
        #[serde(with = "duration_serde")]
        start_to_close_timeout: Duration,
        attempt: u32,
    },
    WorkflowTaskStarted {
        scheduled_event_id: EventId,
        identity: String,
    },
    WorkflowTaskCompleted {
        scheduled_event_id: EventId,
        started_event_id: EventId,
        identity: String,
    },
    WorkflowTaskFailed {
        scheduled_event_id: EventId,
        started_event_id: EventId,
        cause: WorkflowTaskFailedCause,
        failure: Failure,
    },
    WorkflowTaskTimedOut {
        scheduled_event_id: EventId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_event_id: Option<EventId>,
        timeout_type: TimeoutType,
    },
    ActivityTaskScheduled {
        activity_id: ActivityId,
        /// Borrowed from the typed API's `Activity::NAME` when recorded by workflow code
        /// (no copy per scheduled activity, in the run or in each replay); owned when read.
        activity_type: Cow<'static, str>,
        input: Payload,
        #[serde(flatten)]
        options: ActivityOptions,
        workflow_task_completed_event_id: EventId,
    },
    ActivityTaskStarted {
        scheduled_event_id: EventId,
        attempt: u32,
        identity: String,
    },
    ActivityTaskCompleted {
        scheduled_event_id: EventId,
        started_event_id: EventId,
        result: Payload,
    },
    ActivityTaskFailed {
        scheduled_event_id: EventId,
        started_event_id: EventId,
        failure: Failure,
        retry_state: RetryState,
    },
    ActivityTaskTimedOut {
        scheduled_event_id: EventId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_event_id: Option<EventId>,
        timeout_type: TimeoutType,
        retry_state: RetryState,
    },
    ActivityTaskCancelRequested {
        scheduled_event_id: EventId,
        workflow_task_completed_event_id: EventId,
    },
    ActivityTaskCanceled {
        scheduled_event_id: EventId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_event_id: Option<EventId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        details: Option<Payload>,
    },
    TimerStarted {
        timer_id: TimerId,
        #[serde(with = "duration_serde")]
        start_to_fire_timeout: Duration,
        workflow_task_completed_event_id: EventId,
    },
    TimerFired {
        timer_id: TimerId,
        started_event_id: EventId,
    },
    TimerCanceled {
        timer_id: TimerId,
        started_event_id: EventId,
        workflow_task_completed_event_id: EventId,
    },
    MarkerRecorded {
        #[serde(flatten)]
        marker: Marker,
        workflow_task_completed_event_id: EventId,
    },
    WorkflowExecutionSignaled {
        signal_name: String,
        input: Payload,
        identity: String,
    },
    WorkflowExecutionCancelRequested {
        cause: String,
        identity: String,
    },
    StartChildWorkflowExecutionInitiated {
        workflow_id: WorkflowId,
        workflow_type: String,
        task_queue: TaskQueue,
        input: Payload,
        parent_close_policy: ParentClosePolicy,
        workflow_task_completed_event_id: EventId,
    },
    StartChildWorkflowExecutionFailed {
        initiated_event_id: EventId,
        workflow_id: WorkflowId,
        workflow_type: String,
        cause: String,
    },
    ChildWorkflowExecutionStarted {
        initiated_event_id: EventId,
        workflow_id: WorkflowId,
        run_id: RunId,
        workflow_type: String,
    },
    ChildWorkflowExecutionCompleted {
        initiated_event_id: EventId,
        started_event_id: EventId,
        result: Payload,
    },
    ChildWorkflowExecutionFailed {
        initiated_event_id: EventId,
        started_event_id: EventId,
        failure: Failure,
    },
    ChildWorkflowExecutionCanceled {
        initiated_event_id: EventId,
        started_event_id: EventId,
    },
    ChildWorkflowExecutionTimedOut {
        initiated_event_id: EventId,
        started_event_id: EventId,
    },
    ChildWorkflowExecutionTerminated {
        initiated_event_id: EventId,
        started_event_id: EventId,
    },
    RequestCancelExternalWorkflowExecutionInitiated {
        workflow_id: WorkflowId,
        child_workflow_only: bool,
        workflow_task_completed_event_id: EventId,
    },
    ExternalWorkflowExecutionCancelRequested {
        initiated_event_id: EventId,
        workflow_id: WorkflowId,
    },
    RequestCancelExternalWorkflowExecutionFailed {
        initiated_event_id: EventId,
        workflow_id: WorkflowId,
        cause: String,
    },
    WorkflowExecutionCompleted {
        result: Payload,
        workflow_task_completed_event_id: EventId,
    },
    WorkflowExecutionFailed {
        failure: Failure,
        workflow_task_completed_event_id: EventId,
    },
    WorkflowExecutionTimedOut {},
    WorkflowExecutionCanceled {
        workflow_task_completed_event_id: EventId,
    },
    WorkflowExecutionTerminated {
        reason: String,
        identity: String,
    },
    WorkflowExecutionContinuedAsNew {
        new_execution_run_id: RunId,
        workflow_type: String,
        task_queue: TaskQueue,
        input: Payload,
        workflow_task_completed_event_id: EventId,
    },
}

/// Every `eventType` name of the format, in the order of [`EventAttributes`].
pub const EVENT_TYPES: &[&str] = &[
    "WorkflowExecutionStarted",
    "WorkflowTaskScheduled",
    "WorkflowTaskStarted",
    "WorkflowTaskCompleted",
    "WorkflowTaskFailed",
    "WorkflowTaskTimedOut",
    "ActivityTaskScheduled",
    "ActivityTaskStarted",
    "ActivityTaskCompleted",
    "ActivityTaskFailed",
    "ActivityTaskTimedOut",
    "ActivityTaskCancelRequested",
    "ActivityTaskCanceled",
    "TimerStarted",
    "TimerFired",
    "TimerCanceled",
    "MarkerRecorded",
    "WorkflowExecutionSignaled",
    "WorkflowExecutionCancelRequested",
    "StartChildWorkflowExecutionInitiated",
    "StartChildWorkflowExecutionFailed",
    "ChildWorkflowExecutionStarted",
    "ChildWorkflowExecutionCompleted",
    "ChildWorkflowExecutionFailed",
    "ChildWorkflowExecutionCanceled",
    "ChildWorkflowExecutionTimedOut",
    "ChildWorkflowExecutionTerminated",
    "RequestCancelExternalWorkflowExecutionInitiated",
    "ExternalWorkflowExecutionCancelRequested",
    "RequestCancelExternalWorkflowExecutionFailed",
    "WorkflowExecutionCompleted",
    "WorkflowExecutionFailed",
    "WorkflowExecutionTimedOut",
    "WorkflowExecutionCanceled",
    "WorkflowExecutionTerminated",
    "WorkflowExecutionContinuedAsNew",
];

impl EventAttributes {
    /// The `eventType` name of this event.
    pub fn event_type(&self) -> &'static str {
        use EventAttributes::*;
        match self {
            WorkflowExecutionStarted { .. } => "WorkflowExecutionStarted",
            WorkflowTaskScheduled { .. } => "WorkflowTaskScheduled",
            WorkflowTaskStarted { .. } => "WorkflowTaskStarted",
            WorkflowTaskCompleted { .. } => "WorkflowTaskCompleted",
            WorkflowTaskFailed { .. } => "WorkflowTaskFailed",
            WorkflowTaskTimedOut { .. } => "WorkflowTaskTimedOut",
            ActivityTaskScheduled { .. } => "ActivityTaskScheduled",
            ActivityTaskStarted { .. } => "ActivityTaskStarted",
            ActivityTaskCompleted { .. } => "ActivityTaskCompleted",
            ActivityTaskFailed { .. } => "ActivityTaskFailed",
            ActivityTaskTimedOut { .. } => "ActivityTaskTimedOut",
            ActivityTaskCancelRequested { .. } => "ActivityTaskCancelRequested",
            ActivityTaskCanceled { .. } => "ActivityTaskCanceled",
            TimerStarted { .. } => "TimerStarted",
            TimerFired { .. } => "TimerFired",
            TimerCanceled { .. } => "TimerCanceled",
            MarkerRecorded { .. } => "MarkerRecorded",
            WorkflowExecutionSignaled { .. } => "WorkflowExecutionSignaled",
            WorkflowExecutionCancelRequested { .. } => "WorkflowExecutionCancelRequested",
            StartChildWorkflowExecutionInitiated { .. } => "StartChildWorkflowExecutionInitiated",
            StartChildWorkflowExecutionFailed { .. } => "StartChildWorkflowExecutionFailed",
            ChildWorkflowExecutionStarted { .. } => "ChildWorkflowExecutionStarted",
            ChildWorkflowExecutionCompleted { .. } => "ChildWorkflowExecutionCompleted",
            ChildWorkflowExecutionFailed { .. } => "ChildWorkflowExecutionFailed",
            ChildWorkflowExecutionCanceled { .. } => "ChildWorkflowExecutionCanceled",
            ChildWorkflowExecutionTimedOut { .. } => "ChildWorkflowExecutionTimedOut",
            ChildWorkflowExecutionTerminated { .. } => "ChildWorkflowExecutionTerminated",
            RequestCancelExternalWorkflowExecutionInitiated { .. } => {
                "RequestCancelExternalWorkflowExecutionInitiated"
            }
            ExternalWorkflowExecutionCancelRequested { .. } => "ExternalWorkflowExecutionCancelRequested",
            RequestCancelExternalWorkflowExecutionFailed { .. } => {
                "RequestCancelExternalWorkflowExecutionFailed"
            }
            WorkflowExecutionCompleted { .. } => "WorkflowExecutionCompleted",
            WorkflowExecutionFailed { .. } => "WorkflowExecutionFailed",
            WorkflowExecutionTimedOut { .. } => "WorkflowExecutionTimedOut",
            WorkflowExecutionCanceled { .. } => "WorkflowExecutionCanceled",
            WorkflowExecutionTerminated { .. } => "WorkflowExecutionTerminated",
            WorkflowExecutionContinuedAsNew { .. } => "WorkflowExecutionContinuedAsNew",
        }
    }

    /// True for the events that close a run: nothing may follow them.
    pub fn is_terminal(&self) -> bool {
        use EventAttributes::*;
        matches!(
            self,
            WorkflowExecutionCompleted { .. }
                | WorkflowExecutionFailed { .. }
                | WorkflowExecutionTimedOut { .. }
                | WorkflowExecutionCanceled { .. }
                | WorkflowExecutionTerminated { .. }
                | WorkflowExecutionContinuedAsNew { .. }
        )
    }

    /// True for the events a workflow task's commands produce; replay matches these against
    /// the commands the code issues.
    pub fn is_command_event(&self) -> bool {
        use EventAttributes::*;
        matches!(
            self,
            ActivityTaskScheduled { .. }
                | ActivityTaskCancelRequested { .. }
                | TimerStarted { .. }
                | TimerCanceled { .. }
                | MarkerRecorded { .. }
                | StartChildWorkflowExecutionInitiated { .. }
                | RequestCancelExternalWorkflowExecutionInitiated { .. }
                | WorkflowExecutionCompleted { .. }
                | WorkflowExecutionFailed { .. }
                | WorkflowExecutionCanceled { .. }
                | WorkflowExecutionContinuedAsNew { .. }
        )
    }
}
