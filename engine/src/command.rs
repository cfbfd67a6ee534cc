//! Commands: what a workflow task asks the engine to do. The engine turns each into the history
//! event named in [`Command::describe`]; replay checks that the code issues the same commands,
//! in the same order, as the recorded events.

use crate::activity::ActivityOptions;
use crate::failure::{ContinueAsNew, Failure};
use crate::history::{EventAttributes, Marker, ParentClosePolicy};
use crate::ids::{ActivityId, EventId, TaskQueue, TimerId, WorkflowId};
use crate::payload::Payload;
use crate::time::human_duration;
use std::borrow::Cow;
use std::time::Duration;

/// One command of a workflow task.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum Command {
    /// Becomes `ActivityTaskScheduled`.
    ScheduleActivity {
        /// The activity's id in the run.
        activity_id: ActivityId,
        /// The activity type (`Activity::NAME`, borrowed, from the typed API).
        activity_type: Cow<'static, str>,
        /// Its input.
        input: Payload,
        /// Where and how to run it (the task queue is always set).
        options: ActivityOptions,
    },
    /// Becomes `ActivityTaskCancelRequested`.
    RequestCancelActivity {
        /// The activity's `ActivityTaskScheduled` event.
        scheduled_event_id: EventId,
    },
    /// Becomes `TimerStarted`.
    StartTimer {
        /// The timer's id in the run.
        timer_id: TimerId,
        /// How long until it fires.
        #[serde(with = "crate::time::duration_serde")]
        duration: Duration,
    },
    /// Becomes `TimerCanceled`.
    CancelTimer {
        /// The timer's id in the run.
        timer_id: TimerId,
    },
    /// Becomes `MarkerRecorded`.
    RecordMarker(Marker),
    /// Becomes `StartChildWorkflowExecutionInitiated`.
    StartChildWorkflow {
        /// The child's workflow id.
        workflow_id: WorkflowId,
        /// The child's workflow type.
        workflow_type: String,
        /// The child's input.
        input: Payload,
        /// The child's task queue.
        task_queue: TaskQueue,
        /// What happens to the child when this run closes.
        parent_close_policy: ParentClosePolicy,
    },
    /// Becomes `RequestCancelExternalWorkflowExecutionInitiated` for a child.
    RequestCancelChild {
        /// The child's workflow id.
        workflow_id: WorkflowId,
    },
    /// Becomes `WorkflowExecutionCompleted`.
    CompleteWorkflow {
        /// The workflow's result.
        result: Payload,
    },
    /// Becomes `WorkflowExecutionFailed`.
    FailWorkflow {
        /// Why.
        failure: Failure,
    },
    /// Becomes `WorkflowExecutionCanceled`.
    CancelWorkflow,
    /// Becomes `WorkflowExecutionContinuedAsNew`.
    ContinueAsNew(ContinueAsNew),
}

impl Command {
    /// The command as the event it becomes, in the same words as [`describe_event`], so a
    /// non-determinism report compares like with like: `ActivityTaskScheduled(charge_payment)`.
    pub fn describe(&self) -> String {
        match self {
            Command::ScheduleActivity { activity_type, .. } => {
                format!("ActivityTaskScheduled({activity_type})")
            }
            Command::RequestCancelActivity { scheduled_event_id } => {
                format!("ActivityTaskCancelRequested(event {scheduled_event_id})")
            }
            Command::StartTimer { duration, .. } => format!("TimerStarted({})", human_duration(*duration)),
            Command::CancelTimer { timer_id } => format!("TimerCanceled(timer {timer_id})"),
            Command::RecordMarker(marker) => format!("MarkerRecorded({})", describe_marker(marker)),
            Command::StartChildWorkflow {
                workflow_type,
                workflow_id,
                ..
            } => format!("StartChildWorkflowExecutionInitiated({workflow_type}, id {workflow_id})"),
            Command::RequestCancelChild { workflow_id } => {
                format!("RequestCancelExternalWorkflowExecutionInitiated({workflow_id})")
            }
            Command::CompleteWorkflow { .. } => "WorkflowExecutionCompleted".to_owned(),
            Command::FailWorkflow { failure } => format!("WorkflowExecutionFailed({})", failure.error_type),
            Command::CancelWorkflow => "WorkflowExecutionCanceled".to_owned(),
            Command::ContinueAsNew(c) => format!("WorkflowExecutionContinuedAsNew({})", c.workflow_type),
        }
    }

    /// The verb a report uses for this command: "the code now schedules ...".
    pub fn verb(&self) -> &'static str {
        match self {
            Command::ScheduleActivity { .. } | Command::StartChildWorkflow { .. } => "schedules",
            Command::StartTimer { .. } => "starts",
            Command::RequestCancelActivity { .. }
            | Command::CancelTimer { .. }
            | Command::RequestCancelChild { .. } => "cancels",
            Command::RecordMarker(_) => "records",
            Command::CompleteWorkflow { .. }
            | Command::FailWorkflow { .. }
            | Command::CancelWorkflow
            | Command::ContinueAsNew(_) => "closes the run with",
        }
    }

    /// Whether `event` is what this command became when it was recorded.
    ///
    /// Identity is checked (activity type and id, timer id, marker, child type and id), not
    /// payloads: changing an activity's input is not a change in the workflow's shape, as in
    /// Temporal. `activity_by_event` resolves an `ActivityTaskCancelRequested` to the activity.
    pub fn matches(&self, event: &EventAttributes) -> bool {
        use EventAttributes as E;
        match (self, event) {
            (
                Command::ScheduleActivity {
                    activity_id,
                    activity_type,
                    ..
                },
                E::ActivityTaskScheduled {
                    activity_id: id,
                    activity_type: ty,
                    ..
                },
            ) => activity_id == id && activity_type == ty,
            (
                Command::RequestCancelActivity { scheduled_event_id },
                E::ActivityTaskCancelRequested {
                    scheduled_event_id: id,
                    ..
                },
            ) => scheduled_event_id == id,
            (Command::StartTimer { timer_id, .. }, E::TimerStarted { timer_id: id, .. }) => timer_id == id,
            (Command::CancelTimer { timer_id }, E::TimerCanceled { timer_id: id, .. }) => timer_id == id,
            (Command::RecordMarker(mine), E::MarkerRecorded { marker, .. }) => same_marker(mine, marker),
            (
                Command::StartChildWorkflow {
                    workflow_id,
                    workflow_type,
                    ..
                },
                E::StartChildWorkflowExecutionInitiated {
                    workflow_id: id,
                    workflow_type: ty,
                    ..
                },
            ) => workflow_id == id && workflow_type == ty,
            (
                Command::RequestCancelChild { workflow_id },
                E::RequestCancelExternalWorkflowExecutionInitiated { workflow_id: id, .. },
            ) => workflow_id == id,
            (Command::CompleteWorkflow { .. }, E::WorkflowExecutionCompleted { .. })
            | (Command::FailWorkflow { .. }, E::WorkflowExecutionFailed { .. })
            | (Command::CancelWorkflow, E::WorkflowExecutionCanceled { .. }) => true,
            (Command::ContinueAsNew(c), E::WorkflowExecutionContinuedAsNew { workflow_type, .. }) => {
                c.workflow_type == *workflow_type
            }
            _ => false,
        }
    }
}

/// Patch markers match on the patch id alone: `deprecate_patch` and `patched` record the same
/// decision. Side effects match on their sequence number.
fn same_marker(a: &Marker, b: &Marker) -> bool {
    match (a, b) {
        (Marker::Patch { patch_id: x, .. }, Marker::Patch { patch_id: y, .. }) => x == y,
        (
            Marker::SideEffect {
                side_effect_id: x, ..
            },
            Marker::SideEffect {
                side_effect_id: y, ..
            },
        ) => x == y,
        _ => false,
    }
}

fn describe_marker(marker: &Marker) -> String {
    match marker {
        Marker::Patch {
            patch_id,
            deprecated: false,
        } => format!("patch {patch_id:?}"),
        Marker::Patch {
            patch_id,
            deprecated: true,
        } => format!("deprecated patch {patch_id:?}"),
        Marker::SideEffect { side_effect_id, .. } => format!("side effect #{side_effect_id}"),
    }
}

/// A command event in the words of [`Command::describe`]: `TimerStarted(1day)`.
pub fn describe_event(event: &EventAttributes) -> String {
    detail_text(event).unwrap_or_else(|| event.event_type().to_owned())
}

/// [`describe_event`]'s text for the events it says more of than their type, `None` for the
/// others.
fn detail_text(event: &EventAttributes) -> Option<String> {
    use EventAttributes as E;
    let text = match event {
        E::ActivityTaskScheduled { activity_type, .. } => activity_scheduled_text(activity_type),
        E::ActivityTaskCancelRequested {
            scheduled_event_id, ..
        } => format!("ActivityTaskCancelRequested(event {scheduled_event_id})"),
        E::TimerStarted {
            start_to_fire_timeout,
            ..
        } => timer_started_text(*start_to_fire_timeout),
        E::TimerCanceled { timer_id, .. } => format!("TimerCanceled(timer {timer_id})"),
        E::MarkerRecorded { marker, .. } => format!("MarkerRecorded({})", describe_marker(marker)),
        E::StartChildWorkflowExecutionInitiated {
            workflow_type,
            workflow_id,
            ..
        } => format!("StartChildWorkflowExecutionInitiated({workflow_type}, id {workflow_id})"),
        E::RequestCancelExternalWorkflowExecutionInitiated { workflow_id, .. } => {
            format!("RequestCancelExternalWorkflowExecutionInitiated({workflow_id})")
        }
        E::WorkflowExecutionFailed { failure, .. } => {
            format!("WorkflowExecutionFailed({})", failure.error_type)
        }
        E::WorkflowExecutionContinuedAsNew { workflow_type, .. } => {
            format!("WorkflowExecutionContinuedAsNew({workflow_type})")
        }
        _ => return None,
    };
    Some(text)
}

fn activity_scheduled_text(activity_type: &str) -> String {
    let mut text = String::with_capacity("ActivityTaskScheduled()".len() + activity_type.len());
    text.push_str("ActivityTaskScheduled(");
    text.push_str(activity_type);
    text.push(')');
    text
}

fn timer_started_text(duration: Duration) -> String {
    format!("TimerStarted({})", human_duration(duration))
}

/// A matched command event's [`describe_event`] text, kept in parts until a report asks for
/// it: a replay matches every command event and keeps the last few for a report it almost
/// never writes, so the common steps cost no formatting and no allocation.
#[derive(Debug)]
pub(crate) enum StepText {
    /// `ActivityTaskScheduled(<type>)`, the type shared with the matched command.
    ActivityScheduled(Cow<'static, str>),
    /// `TimerStarted(<duration>)`.
    TimerStarted(Duration),
    /// An event whose text is its type alone.
    EventType(&'static str),
    /// Any other event, described at once.
    Text(String),
}

impl StepText {
    /// The text of `event`, which `command` matched (a borrowed activity type is shared, not
    /// copied).
    pub(crate) fn of_matched(event: &EventAttributes, command: &Command) -> StepText {
        use EventAttributes as E;
        match (event, command) {
            (E::ActivityTaskScheduled { .. }, Command::ScheduleActivity { activity_type, .. }) => {
                StepText::ActivityScheduled(activity_type.clone())
            }
            (
                E::TimerStarted {
                    start_to_fire_timeout,
                    ..
                },
                _,
            ) => StepText::TimerStarted(*start_to_fire_timeout),
            _ => match detail_text(event) {
                Some(text) => StepText::Text(text),
                None => StepText::EventType(event.event_type()),
            },
        }
    }

    /// The text, as [`describe_event`] gives it.
    pub(crate) fn render(&self) -> String {
        match self {
            StepText::ActivityScheduled(activity_type) => activity_scheduled_text(activity_type),
            StepText::TimerStarted(duration) => timer_started_text(*duration),
            StepText::EventType(event_type) => (*event_type).to_owned(),
            StepText::Text(text) => text.clone(),
        }
    }
}
