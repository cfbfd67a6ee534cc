//! Well-formedness checks for a history: what every history the engine writes satisfies, so
//! that replay can rely on it and a hand-edited fixture fails early with a precise error.
//!
//! One pass over the events keeps the open workflow task, activities, timers, child workflows
//! and external cancellations; each event is checked against that state.

use super::{EventAttributes, History, HistoryError, HistoryEvent};
use crate::ids::{ActivityId, EventId, TimerId};
use crate::time::Timestamp;
use crate::vec_map::VecMap;

/// Checks that a history is well formed.
///
/// The history must be non-empty and start with `WorkflowExecutionStarted`; event ids are dense
/// from 1 and event times never go backwards; at most one event closes the run and it is the
/// last; every reference (`scheduledEventId`, `startedEventId`, `initiatedEventId`, `timerId`,
/// `workflowTaskCompletedEventId`) names an earlier event of the right type; activities,
/// timers, child workflows and external cancellations are closed at most once; workflow tasks
/// go Scheduled → Started → Completed/Failed/TimedOut, one at a time; and command events
/// directly follow the `WorkflowTaskCompleted` whose commands they record.
///
/// # Errors
///
/// The first problem found, as the [`HistoryError`] variant that names it and its event.
pub fn validate(history: &History) -> Result<(), HistoryError> {
    let first = history.events.first().ok_or(HistoryError::Empty)?;
    if !matches!(first.attributes, EventAttributes::WorkflowExecutionStarted { .. }) {
        return Err(HistoryError::FirstEventNotStarted {
            event_id: first.event_id,
            event_type: first.attributes.event_type().to_owned(),
        });
    }
    let mut validator = Validator::default();
    for (index, event) in history.events.iter().enumerate() {
        validator.check(index, event)?;
    }
    Ok(())
}

/// A workflow task's progress.
#[derive(Clone, Copy, Default)]
enum WorkflowTask {
    /// No workflow task is open.
    #[default]
    Idle,
    /// Scheduled by this event, not started.
    Scheduled(EventId),
    /// Scheduled and started by these events.
    Started(EventId, EventId),
}

/// An activity, keyed by its `ActivityTaskScheduled` event.
struct Activity {
    activity_id: ActivityId,
    started: Option<EventId>,
    closed_by: Option<EventId>,
}

/// A timer, keyed by its `TimerStarted` event.
struct Timer {
    timer_id: TimerId,
    closed_by: Option<EventId>,
}

/// A child workflow, keyed by its `StartChildWorkflowExecutionInitiated` event.
#[derive(Default)]
struct Child {
    started: Option<EventId>,
    closed_by: Option<EventId>,
}

#[derive(Default)]
struct Validator {
    previous_time: Timestamp,
    closed_by: Option<EventId>,
    workflow_task: WorkflowTask,
    /// The `WorkflowTaskCompleted` whose commands may follow: set by that event, kept by
    /// command events, cleared by any other event.
    commands_of: Option<EventId>,
    // Sorted vectors rather than B-trees: a replay check validates every history it replays,
    // most of them short. The maps by event id only grow at their end (events come in id
    // order, so an insert appends), and the open ones hold what is open at once.
    activities: VecMap<EventId, Activity>,
    open_activities: VecMap<ActivityId, EventId>,
    timers: VecMap<EventId, Timer>,
    open_timers: VecMap<TimerId, EventId>,
    children: VecMap<EventId, Child>,
    /// `RequestCancelExternalWorkflowExecutionInitiated` events, with their outcome if any.
    cancel_requests: VecMap<EventId, Option<EventId>>,
}

/// The event being checked, for building errors.
#[derive(Clone, Copy)]
struct At<'a> {
    id: EventId,
    event: &'a HistoryEvent,
}

impl At<'_> {
    fn event_type(self) -> String {
        self.event.attributes.event_type().to_owned()
    }

    fn dangling(
        self,
        field: &'static str,
        referenced: impl ToString,
        expected: &'static str,
    ) -> HistoryError {
        HistoryError::DanglingReference {
            event_id: self.id,
            event_type: self.event_type(),
            field,
            referenced: referenced.to_string(),
            expected,
        }
    }

    fn already_closed(self, what: String, closed_by: EventId) -> HistoryError {
        HistoryError::AlreadyClosed {
            event_id: self.id,
            event_type: self.event_type(),
            what,
            closed_by,
        }
    }

    fn duplicate(self, field: &'static str, value: impl ToString, used_by: EventId) -> HistoryError {
        HistoryError::DuplicateId {
            event_id: self.id,
            event_type: self.event_type(),
            field,
            value: value.to_string(),
            used_by,
        }
    }

    fn task_order(self, problem: String) -> HistoryError {
        HistoryError::WorkflowTaskOrder {
            event_id: self.id,
            event_type: self.event_type(),
            problem,
        }
    }
}

impl Validator {
    fn check(&mut self, index: usize, event: &HistoryEvent) -> Result<(), HistoryError> {
        let at = At {
            id: event.event_id,
            event,
        };
        self.check_sequence(index, at)?;
        self.check_command_position(at)?;
        self.check_attributes(index, at)?;
        if event.attributes.is_terminal() {
            self.closed_by = Some(at.id);
        }
        Ok(())
    }

    /// Dense ids, time order, nothing after the close.
    fn check_sequence(&mut self, index: usize, at: At<'_>) -> Result<(), HistoryError> {
        let expected = u64::try_from(index).map_or(EventId(u64::MAX), |i| EventId(i.saturating_add(1)));
        if at.id != expected {
            return Err(HistoryError::EventIdGap {
                index,
                expected,
                found: at.id,
            });
        }
        if let Some(closed_by) = self.closed_by {
            return Err(HistoryError::EventAfterClose {
                event_id: at.id,
                event_type: at.event_type(),
                closed_by,
            });
        }
        if at.event.event_time < self.previous_time {
            return Err(HistoryError::TimeWentBackwards {
                event_id: at.id,
                time: at.event.event_time.to_string(),
                previous: self.previous_time.to_string(),
            });
        }
        self.previous_time = at.event.event_time;
        Ok(())
    }

    /// Command events directly follow their `WorkflowTaskCompleted` (or its other commands) and
    /// name it in `workflowTaskCompletedEventId`.
    fn check_command_position(&mut self, at: At<'_>) -> Result<(), HistoryError> {
        let attributes = &at.event.attributes;
        if !attributes.is_command_event() {
            self.commands_of = match attributes {
                EventAttributes::WorkflowTaskCompleted { .. } => Some(at.id),
                _ => None,
            };
            return Ok(());
        }
        let Some(completed) = self.commands_of else {
            return Err(HistoryError::CommandOutsideWorkflowTask {
                event_id: at.id,
                event_type: at.event_type(),
            });
        };
        let named = workflow_task_completed_event_id(attributes);
        if named != Some(completed) {
            let referenced = named.map_or_else(|| "(none)".to_owned(), |id| id.to_string());
            return Err(at.dangling(
                "workflowTaskCompletedEventId",
                referenced,
                "the WorkflowTaskCompleted event its command event follows",
            ));
        }
        Ok(())
    }

    fn check_attributes(&mut self, index: usize, at: At<'_>) -> Result<(), HistoryError> {
        use EventAttributes::*;
        match &at.event.attributes {
            WorkflowExecutionStarted { .. } if index > 0 => Err(HistoryError::Malformed {
                event_id: Some(at.id),
                index,
                event_type: Some(at.event_type()),
                message: "only the first event of a history may be WorkflowExecutionStarted".to_owned(),
            }),
            WorkflowTaskScheduled { .. }
            | WorkflowTaskStarted { .. }
            | WorkflowTaskCompleted { .. }
            | WorkflowTaskFailed { .. }
            | WorkflowTaskTimedOut { .. } => self.check_workflow_task(at),
            ActivityTaskScheduled { .. }
            | ActivityTaskStarted { .. }
            | ActivityTaskCompleted { .. }
            | ActivityTaskFailed { .. }
            | ActivityTaskTimedOut { .. }
            | ActivityTaskCancelRequested { .. }
            | ActivityTaskCanceled { .. } => self.check_activity(at),
            TimerStarted { .. } | TimerFired { .. } | TimerCanceled { .. } => self.check_timer(at),
            StartChildWorkflowExecutionInitiated { .. }
            | StartChildWorkflowExecutionFailed { .. }
            | ChildWorkflowExecutionStarted { .. }
            | ChildWorkflowExecutionCompleted { .. }
            | ChildWorkflowExecutionFailed { .. }
            | ChildWorkflowExecutionCanceled { .. }
            | ChildWorkflowExecutionTimedOut { .. }
            | ChildWorkflowExecutionTerminated { .. } => self.check_child(at),
            RequestCancelExternalWorkflowExecutionInitiated { .. }
            | ExternalWorkflowExecutionCancelRequested { .. }
            | RequestCancelExternalWorkflowExecutionFailed { .. } => self.check_cancel_external(at),
            _ => Ok(()),
        }
    }

    fn check_workflow_task(&mut self, at: At<'_>) -> Result<(), HistoryError> {
        use EventAttributes::*;
        match &at.event.attributes {
            WorkflowTaskScheduled { .. } => self.schedule_workflow_task(at),
            WorkflowTaskStarted {
                scheduled_event_id, ..
            } => self.start_workflow_task(at, *scheduled_event_id),
            WorkflowTaskCompleted {
                scheduled_event_id,
                started_event_id,
                ..
            }
            | WorkflowTaskFailed {
                scheduled_event_id,
                started_event_id,
                ..
            } => self.close_workflow_task(at, *scheduled_event_id, Some(*started_event_id)),
            WorkflowTaskTimedOut {
                scheduled_event_id,
                started_event_id,
                ..
            } => self.close_workflow_task(at, *scheduled_event_id, *started_event_id),
            _ => Ok(()),
        }
    }

    fn schedule_workflow_task(&mut self, at: At<'_>) -> Result<(), HistoryError> {
        if !matches!(self.workflow_task, WorkflowTask::Idle) {
            return Err(at.task_order(format!(
                "a workflow task is already open ({}): only one may be open at a time",
                describe_task(self.workflow_task)
            )));
        }
        self.workflow_task = WorkflowTask::Scheduled(at.id);
        Ok(())
    }

    fn start_workflow_task(&mut self, at: At<'_>, scheduled: EventId) -> Result<(), HistoryError> {
        match self.workflow_task {
            WorkflowTask::Scheduled(open) if open == scheduled => {
                self.workflow_task = WorkflowTask::Started(open, at.id);
                Ok(())
            }
            state => Err(at.task_order(format!(
                "scheduledEventId {scheduled} does not name the latest WorkflowTaskScheduled that has \
                 not started ({})",
                describe_task(state)
            ))),
        }
    }

    /// Completed, Failed or TimedOut: `started` is `None` only for a task that timed out before
    /// it started.
    fn close_workflow_task(
        &mut self,
        at: At<'_>,
        scheduled: EventId,
        started: Option<EventId>,
    ) -> Result<(), HistoryError> {
        let state = self.workflow_task;
        let matches = match state {
            WorkflowTask::Started(s, st) => scheduled == s && started == Some(st),
            WorkflowTask::Scheduled(s) => scheduled == s && started.is_none(),
            WorkflowTask::Idle => false,
        };
        if !matches {
            let named = started.map_or_else(String::new, |st| format!(" and startedEventId {st}"));
            return Err(at.task_order(format!(
                "scheduledEventId {scheduled}{named} do not name the open workflow task ({})",
                describe_task(state)
            )));
        }
        self.workflow_task = WorkflowTask::Idle;
        Ok(())
    }

    fn check_activity(&mut self, at: At<'_>) -> Result<(), HistoryError> {
        use EventAttributes::*;
        let (scheduled, started) = match &at.event.attributes {
            ActivityTaskScheduled { activity_id, .. } => return self.schedule_activity(at, activity_id),
            ActivityTaskStarted {
                scheduled_event_id, ..
            } => return self.start_activity(at, *scheduled_event_id),
            ActivityTaskCancelRequested {
                scheduled_event_id, ..
            } => {
                self.open_activity(at, *scheduled_event_id)?;
                return Ok(());
            }
            ActivityTaskCompleted {
                scheduled_event_id,
                started_event_id,
                ..
            }
            | ActivityTaskFailed {
                scheduled_event_id,
                started_event_id,
                ..
            } => (*scheduled_event_id, Some(*started_event_id)),
            ActivityTaskTimedOut {
                scheduled_event_id,
                started_event_id,
                ..
            }
            | ActivityTaskCanceled {
                scheduled_event_id,
                started_event_id,
                ..
            } => (*scheduled_event_id, *started_event_id),
            _ => return Ok(()),
        };
        let activity = self.open_activity(at, scheduled)?;
        if let Some(started) = started
            && activity.started != Some(started)
        {
            return Err(at.dangling(
                "startedEventId",
                started,
                "the activity's ActivityTaskStarted event",
            ));
        }
        activity.closed_by = Some(at.id);
        let activity_id = activity.activity_id.clone();
        self.open_activities.remove(&activity_id);
        Ok(())
    }

    fn schedule_activity(&mut self, at: At<'_>, activity_id: &ActivityId) -> Result<(), HistoryError> {
        if let Some(&used_by) = self.open_activities.get(activity_id) {
            return Err(at.duplicate("activityId", format!("{:?}", activity_id.as_str()), used_by));
        }
        self.open_activities.insert(activity_id.clone(), at.id);
        let activity = Activity {
            activity_id: activity_id.clone(),
            started: None,
            closed_by: None,
        };
        self.activities.insert(at.id, activity);
        Ok(())
    }

    fn start_activity(&mut self, at: At<'_>, scheduled: EventId) -> Result<(), HistoryError> {
        let activity = self.open_activity(at, scheduled)?;
        if let Some(first) = activity.started {
            return Err(at.duplicate("scheduledEventId", scheduled, first));
        }
        activity.started = Some(at.id);
        Ok(())
    }

    /// The activity scheduled by `scheduled`, which must not be closed yet.
    fn open_activity(&mut self, at: At<'_>, scheduled: EventId) -> Result<&mut Activity, HistoryError> {
        let Some(activity) = self.activities.get_mut(&scheduled) else {
            return Err(at.dangling(
                "scheduledEventId",
                scheduled,
                "an earlier ActivityTaskScheduled event",
            ));
        };
        if let Some(closed_by) = activity.closed_by {
            let what = format!(
                "activity {:?} (scheduled by event {scheduled})",
                activity.activity_id.as_str()
            );
            return Err(at.already_closed(what, closed_by));
        }
        Ok(activity)
    }

    fn check_timer(&mut self, at: At<'_>) -> Result<(), HistoryError> {
        use EventAttributes::*;
        let (timer_id, started) = match &at.event.attributes {
            TimerStarted { timer_id, .. } => {
                if let Some(&used_by) = self.open_timers.get(timer_id) {
                    return Err(at.duplicate("timerId", format!("{:?}", timer_id.as_str()), used_by));
                }
                self.open_timers.insert(timer_id.clone(), at.id);
                let timer = Timer {
                    timer_id: timer_id.clone(),
                    closed_by: None,
                };
                self.timers.insert(at.id, timer);
                return Ok(());
            }
            TimerFired {
                timer_id,
                started_event_id,
            }
            | TimerCanceled {
                timer_id,
                started_event_id,
                ..
            } => (timer_id, *started_event_id),
            _ => return Ok(()),
        };
        if let Some(timer) = self.timers.get(&started)
            && timer.timer_id == *timer_id
            && let Some(closed_by) = timer.closed_by
        {
            let what = format!("timer {:?} (started by event {started})", timer_id.as_str());
            return Err(at.already_closed(what, closed_by));
        }
        let Some(&open) = self.open_timers.get(timer_id) else {
            return Err(at.dangling(
                "timerId",
                format!("{:?}", timer_id.as_str()),
                "a started, still open timer",
            ));
        };
        if open != started {
            return Err(at.dangling("startedEventId", started, "the TimerStarted event of its timer"));
        }
        self.open_timers.remove(timer_id);
        if let Some(timer) = self.timers.get_mut(&started) {
            timer.closed_by = Some(at.id);
        }
        Ok(())
    }

    fn check_child(&mut self, at: At<'_>) -> Result<(), HistoryError> {
        use EventAttributes::*;
        let (initiated, started) = match &at.event.attributes {
            StartChildWorkflowExecutionInitiated { .. } => {
                self.children.insert(at.id, Child::default());
                return Ok(());
            }
            ChildWorkflowExecutionStarted {
                initiated_event_id, ..
            } => {
                let child = self.open_child(at, *initiated_event_id)?;
                if let Some(first) = child.started {
                    return Err(at.duplicate("initiatedEventId", initiated_event_id, first));
                }
                child.started = Some(at.id);
                return Ok(());
            }
            StartChildWorkflowExecutionFailed {
                initiated_event_id, ..
            } => (*initiated_event_id, None),
            ChildWorkflowExecutionCompleted {
                initiated_event_id,
                started_event_id,
                ..
            }
            | ChildWorkflowExecutionFailed {
                initiated_event_id,
                started_event_id,
                ..
            }
            | ChildWorkflowExecutionCanceled {
                initiated_event_id,
                started_event_id,
            }
            | ChildWorkflowExecutionTimedOut {
                initiated_event_id,
                started_event_id,
            }
            | ChildWorkflowExecutionTerminated {
                initiated_event_id,
                started_event_id,
            } => (*initiated_event_id, Some(*started_event_id)),
            _ => return Ok(()),
        };
        let child = self.open_child(at, initiated)?;
        if child.started != started {
            return Err(match started {
                Some(started) => at.dangling(
                    "startedEventId",
                    started,
                    "the child's ChildWorkflowExecutionStarted event",
                ),
                None => at.dangling(
                    "initiatedEventId",
                    initiated,
                    "a child workflow that has not started",
                ),
            });
        }
        child.closed_by = Some(at.id);
        Ok(())
    }

    /// The child initiated by `initiated`, which must not be closed yet.
    fn open_child(&mut self, at: At<'_>, initiated: EventId) -> Result<&mut Child, HistoryError> {
        let Some(child) = self.children.get_mut(&initiated) else {
            return Err(at.dangling(
                "initiatedEventId",
                initiated,
                "an earlier StartChildWorkflowExecutionInitiated event",
            ));
        };
        if let Some(closed_by) = child.closed_by {
            return Err(at.already_closed(
                format!("child workflow initiated by event {initiated}"),
                closed_by,
            ));
        }
        Ok(child)
    }

    fn check_cancel_external(&mut self, at: At<'_>) -> Result<(), HistoryError> {
        use EventAttributes::*;
        let initiated = match &at.event.attributes {
            RequestCancelExternalWorkflowExecutionInitiated { .. } => {
                self.cancel_requests.insert(at.id, None);
                return Ok(());
            }
            ExternalWorkflowExecutionCancelRequested {
                initiated_event_id, ..
            }
            | RequestCancelExternalWorkflowExecutionFailed {
                initiated_event_id, ..
            } => *initiated_event_id,
            _ => return Ok(()),
        };
        match self.cancel_requests.get_mut(&initiated) {
            None => Err(at.dangling(
                "initiatedEventId",
                initiated,
                "an earlier RequestCancelExternalWorkflowExecutionInitiated event",
            )),
            Some(Some(closed_by)) => {
                let what = format!("external cancellation request initiated by event {initiated}");
                Err(at.already_closed(what, *closed_by))
            }
            Some(outcome) => {
                *outcome = Some(at.id);
                Ok(())
            }
        }
    }
}

/// The `workflowTaskCompletedEventId` of a command event.
fn workflow_task_completed_event_id(attributes: &EventAttributes) -> Option<EventId> {
    use EventAttributes::*;
    match attributes {
        ActivityTaskScheduled {
            workflow_task_completed_event_id: id,
            ..
        }
        | ActivityTaskCancelRequested {
            workflow_task_completed_event_id: id,
            ..
        }
        | TimerStarted {
            workflow_task_completed_event_id: id,
            ..
        }
        | TimerCanceled {
            workflow_task_completed_event_id: id,
            ..
        }
        | MarkerRecorded {
            workflow_task_completed_event_id: id,
            ..
        }
        | StartChildWorkflowExecutionInitiated {
            workflow_task_completed_event_id: id,
            ..
        }
        | RequestCancelExternalWorkflowExecutionInitiated {
            workflow_task_completed_event_id: id,
            ..
        }
        | WorkflowExecutionCompleted {
            workflow_task_completed_event_id: id,
            ..
        }
        | WorkflowExecutionFailed {
            workflow_task_completed_event_id: id,
            ..
        }
        | WorkflowExecutionCanceled {
            workflow_task_completed_event_id: id,
        }
        | WorkflowExecutionContinuedAsNew {
            workflow_task_completed_event_id: id,
            ..
        } => Some(*id),
        _ => None,
    }
}

fn describe_task(state: WorkflowTask) -> String {
    match state {
        WorkflowTask::Idle => "no workflow task is open".to_owned(),
        WorkflowTask::Scheduled(s) => format!("scheduled by event {s}, not started"),
        WorkflowTask::Started(s, st) => format!("scheduled by event {s}, started by event {st}"),
    }
}
