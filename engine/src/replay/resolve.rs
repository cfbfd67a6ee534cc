//! Applying the events that resolve durable futures: activity, timer and child outcomes,
//! signals and cancellation requests. Each updates the run's state and wakes whoever waits.

use super::ActivationError;
use crate::failure::ActivityError;
use crate::history::{EventAttributes as E, HistoryError, HistoryEvent};
use crate::ids::EventId;
use crate::payload::Payload;
use crate::workflow::ChildError;
use crate::workflow::state::{Shared, WaitFor};

/// Applies one non-command, non-workflow-task event to the run's state.
pub(crate) fn apply_event(state: &Shared, event: &HistoryEvent) -> Result<(), ActivationError> {
    match &event.attributes {
        E::ActivityTaskCompleted {
            scheduled_event_id,
            result,
            ..
        } => resolve_activity(state, event, *scheduled_event_id, Ok(result.clone())),
        E::ActivityTaskFailed {
            scheduled_event_id,
            failure,
            ..
        } => resolve_activity(
            state,
            event,
            *scheduled_event_id,
            Err(ActivityError::Application(failure.clone())),
        ),
        E::ActivityTaskTimedOut {
            scheduled_event_id,
            timeout_type,
            ..
        } => resolve_activity(
            state,
            event,
            *scheduled_event_id,
            Err(ActivityError::TimedOut(*timeout_type)),
        ),
        E::ActivityTaskCanceled {
            scheduled_event_id, ..
        } => resolve_activity(state, event, *scheduled_event_id, Err(ActivityError::Cancelled)),
        E::TimerFired { timer_id, .. } => {
            let mut s = state.borrow_mut();
            // A timer no longer tracked was cancelled or dropped and taken: nothing waits.
            if let Some(seq) = s.timer_by_id.get(timer_id).copied()
                && let Some(timer) = s.timers.get_mut(&seq)
            {
                timer.slot.resolve(());
                if timer.slot.abandoned {
                    s.timers.remove(&seq);
                    s.timer_by_id.remove(timer_id);
                }
            }
            Ok(())
        }
        E::WorkflowExecutionSignaled {
            signal_name, input, ..
        } => {
            let signal = (signal_name.clone(), input.clone());
            state.borrow_mut().pending_signals.push_back(signal);
            Ok(())
        }
        E::WorkflowExecutionCancelRequested { .. } => {
            let mut s = state.borrow_mut();
            s.cancel_requested = true;
            s.wake_waiters(|w| matches!(w, WaitFor::Cancel));
            Ok(())
        }
        E::StartChildWorkflowExecutionFailed {
            initiated_event_id,
            cause,
            ..
        } => resolve_child(
            state,
            event,
            *initiated_event_id,
            Err(ChildError::StartFailed { cause: cause.clone() }),
        ),
        E::ChildWorkflowExecutionStarted {
            initiated_event_id,
            run_id,
            ..
        } => {
            let mut s = state.borrow_mut();
            let seq = child_seq(&s.child_by_event, event, *initiated_event_id)?;
            if let Some(child) = s.children.get_mut(&seq) {
                child.run_id = Some(run_id.clone());
            }
            Ok(())
        }
        E::ChildWorkflowExecutionCompleted {
            initiated_event_id,
            result,
            ..
        } => resolve_child(state, event, *initiated_event_id, Ok(result.clone())),
        E::ChildWorkflowExecutionFailed {
            initiated_event_id,
            failure,
            ..
        } => resolve_child(
            state,
            event,
            *initiated_event_id,
            Err(ChildError::Failed(failure.clone())),
        ),
        E::ChildWorkflowExecutionCanceled {
            initiated_event_id, ..
        } => resolve_child(state, event, *initiated_event_id, Err(ChildError::Cancelled)),
        E::ChildWorkflowExecutionTimedOut {
            initiated_event_id, ..
        } => resolve_child(state, event, *initiated_event_id, Err(ChildError::TimedOut)),
        E::ChildWorkflowExecutionTerminated {
            initiated_event_id, ..
        } => resolve_child(state, event, *initiated_event_id, Err(ChildError::Terminated)),
        // Progress reports and acknowledgements that change nothing the workflow sees.
        _ => Ok(()),
    }
}

fn resolve_activity(
    state: &Shared,
    event: &HistoryEvent,
    scheduled_event_id: EventId,
    outcome: Result<Payload, ActivityError>,
) -> Result<(), ActivationError> {
    let mut s = state.borrow_mut();
    let seq = *s.activity_by_event.get(&scheduled_event_id).ok_or_else(|| {
        dangling(
            event,
            "scheduledEventId",
            scheduled_event_id,
            "an ActivityTaskScheduled event of this run",
        )
    })?;
    if let Some(activity) = s.activities.get_mut(&seq) {
        activity.slot.resolve(outcome);
        if activity.slot.abandoned {
            s.activities.remove(&seq);
        }
    }
    Ok(())
}

fn resolve_child(
    state: &Shared,
    event: &HistoryEvent,
    initiated_event_id: EventId,
    outcome: Result<Payload, ChildError>,
) -> Result<(), ActivationError> {
    let mut s = state.borrow_mut();
    let seq = child_seq(&s.child_by_event, event, initiated_event_id)?;
    if let Some(child) = s.children.get_mut(&seq) {
        child.slot.resolve(outcome);
        if child.slot.abandoned {
            s.children.remove(&seq);
        }
    }
    Ok(())
}

fn child_seq(
    by_event: &crate::vec_map::VecMap<EventId, u32>,
    event: &HistoryEvent,
    initiated_event_id: EventId,
) -> Result<u32, ActivationError> {
    by_event.get(&initiated_event_id).copied().ok_or_else(|| {
        dangling(
            event,
            "initiatedEventId",
            initiated_event_id,
            "a StartChildWorkflowExecutionInitiated event of this run",
        )
    })
}

fn dangling(
    event: &HistoryEvent,
    field: &'static str,
    referenced: EventId,
    expected: &'static str,
) -> ActivationError {
    ActivationError::History(HistoryError::DanglingReference {
        event_id: event.event_id,
        event_type: event.attributes.event_type().to_owned(),
        field,
        referenced: referenced.to_string(),
        expected,
    })
}
