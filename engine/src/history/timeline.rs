//! A readable, stable rendering of a history: one line per event, time relative to the start
//! of the run, grouped by workflow task. Used by `warpflow history show` and for snapshot
//! tests, so it must only change when the history does.

use super::event::{EventAttributes as E, Marker};
use super::{History, HistoryEvent};
use crate::payload::Payload;
use crate::time::human_duration;
use std::fmt::Write as _;

/// Payloads longer than this are cut in the timeline (the JSON has them whole).
const PAYLOAD_CHARS_MAX: usize = 60;

impl History {
    /// The timeline of this history.
    ///
    /// ```text
    /// workflow wf-1, run run-1, type order: 31 events
    ///       +0s     1  WorkflowExecutionStarted  order ["o-1",24] on default
    /// workflow task 1
    ///       +0s     2  WorkflowTaskScheduled
    /// ...
    /// ```
    pub fn render_timeline(&self) -> String {
        let start = self.events.first().map(|e| e.event_time).unwrap_or_default();
        let mut out = format!(
            "workflow {}, run {}, type {}: {} events\n",
            self.workflow_id,
            self.run_id,
            self.workflow_type().unwrap_or("?"),
            self.events.len()
        );
        let mut task = 0;
        for event in &self.events {
            if matches!(event.attributes, E::WorkflowTaskScheduled { .. }) {
                task += 1;
                let _ = writeln!(out, "workflow task {task}");
            }
            let at = format!("+{}", human_duration(event.event_time.since(start)));
            let detail = detail(event);
            let _ = writeln!(
                out,
                "{at:>12} {:>5}  {}{}{}",
                event.event_id,
                event.attributes.event_type(),
                if detail.is_empty() { "" } else { "  " },
                detail
            );
        }
        out
    }
}

/// The attributes of an event that matter to a reader.
fn detail(event: &HistoryEvent) -> String {
    match &event.attributes {
        E::WorkflowExecutionStarted {
            workflow_type,
            input,
            task_queue,
            ..
        } => format!("{workflow_type} {} on {task_queue}", payload(input)),
        E::WorkflowTaskFailed { cause, failure, .. } => format!("{cause:?}: {failure}"),
        E::WorkflowTaskTimedOut { timeout_type, .. } => format!("{timeout_type}"),
        E::ActivityTaskScheduled {
            activity_id,
            activity_type,
            input,
            ..
        } => format!("#{activity_id} {activity_type} {}", payload(input)),
        E::ActivityTaskStarted {
            scheduled_event_id,
            attempt,
            ..
        } => format!("of {scheduled_event_id}, attempt {attempt}"),
        E::ActivityTaskCompleted {
            scheduled_event_id,
            result,
            ..
        } => format!("of {scheduled_event_id} -> {}", payload(result)),
        E::ActivityTaskFailed {
            scheduled_event_id,
            failure,
            ..
        } => format!("of {scheduled_event_id}: {failure}"),
        E::ActivityTaskTimedOut {
            scheduled_event_id,
            timeout_type,
            ..
        } => format!("of {scheduled_event_id}: {timeout_type}"),
        E::ActivityTaskCancelRequested {
            scheduled_event_id, ..
        }
        | E::ActivityTaskCanceled {
            scheduled_event_id, ..
        } => format!("of {scheduled_event_id}"),
        E::TimerStarted {
            timer_id,
            start_to_fire_timeout,
            ..
        } => format!("#{timer_id} {}", human_duration(*start_to_fire_timeout)),
        E::TimerFired { timer_id, .. } | E::TimerCanceled { timer_id, .. } => format!("#{timer_id}"),
        E::MarkerRecorded { marker, .. } => match marker {
            Marker::Patch { patch_id, deprecated } => {
                format!(
                    "patch {patch_id:?}{}",
                    if *deprecated { " (deprecated)" } else { "" }
                )
            }
            Marker::SideEffect {
                side_effect_id,
                value,
            } => format!("side effect #{side_effect_id} = {}", payload(value)),
        },
        E::WorkflowExecutionSignaled {
            signal_name, input, ..
        } => format!("{signal_name} {}", payload(input)),
        E::WorkflowExecutionCancelRequested { cause, .. } => cause.clone(),
        E::StartChildWorkflowExecutionInitiated {
            workflow_id,
            workflow_type,
            input,
            ..
        } => format!("{workflow_type} {workflow_id} {}", payload(input)),
        E::StartChildWorkflowExecutionFailed {
            workflow_id, cause, ..
        } => format!("{workflow_id}: {cause}"),
        E::ChildWorkflowExecutionStarted {
            workflow_id, run_id, ..
        } => format!("{workflow_id} run {run_id}"),
        E::ChildWorkflowExecutionCompleted {
            initiated_event_id,
            result,
            ..
        } => format!("of {initiated_event_id} -> {}", payload(result)),
        E::ChildWorkflowExecutionFailed {
            initiated_event_id,
            failure,
            ..
        } => format!("of {initiated_event_id}: {failure}"),
        E::WorkflowExecutionCompleted { result, .. } => format!("-> {}", payload(result)),
        E::WorkflowExecutionFailed { failure, .. } => failure.to_string(),
        E::WorkflowExecutionTerminated { reason, .. } => reason.clone(),
        E::WorkflowExecutionContinuedAsNew {
            workflow_type, input, ..
        } => format!("{workflow_type} {}", payload(input)),
        E::RequestCancelExternalWorkflowExecutionInitiated { workflow_id, .. }
        | E::ExternalWorkflowExecutionCancelRequested { workflow_id, .. } => workflow_id.to_string(),
        _ => String::new(),
    }
}

fn payload(p: &Payload) -> String {
    let text = p.to_string();
    if text.chars().count() <= PAYLOAD_CHARS_MAX {
        return text;
    }
    let cut: String = text.chars().take(PAYLOAD_CHARS_MAX).collect();
    format!("{cut}…")
}
