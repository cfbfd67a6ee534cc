//! What each command of a completed workflow task does to the run (and to other runs: a child
//! started, a child asked to cancel, a new run continued as new).

use super::api::RunOutcome;
use super::close::{Closing, drop_activity_work};
use super::start::NewRun;
use super::state::{ActivityFinal, ActivityState, ChildState, ExecutionState, Incoming};
use super::txn::{Batch, RunTxn};
use super::{Service, ServiceResult};
use crate::command::Command;
use crate::history::{EventAttributes as E, ParentExecution, WorkflowTaskFailedCause};
use crate::ids::{ActivityId, EventId, TimerId};
use crate::limits::{PENDING_ACTIVITIES_MAX, PENDING_CHILDREN_MAX, PENDING_TIMERS_MAX};
use crate::storage::{RunStatus, TaskKind, TimeoutTypeKey, TimerKind};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Checks a task's commands before any takes effect: attributes, limits, order. A rejected
/// task is recorded as failed with the returned cause and message.
pub(super) fn check_commands(
    run: &RunTxn,
    commands: &[Command],
) -> Result<(), (WorkflowTaskFailedCause, String)> {
    let bad = |m: String| Err((WorkflowTaskFailedCause::BadCommand, m));
    let limit = |what: &str, max: usize| {
        Err((
            WorkflowTaskFailedCause::LimitExceeded,
            format!("more than {max} pending {what} in one run"),
        ))
    };
    let state = &run.state;
    let (mut activities, mut timers, mut children) =
        (state.activities.len(), state.timers.len(), state.children.len());
    // The sets of ids taken are gathered from the run's state only when a command needs
    // them: most tasks schedule one activity or start one timer, or neither.
    let mut activity_ids: Option<BTreeSet<ActivityId>> = None;
    let mut timer_sets: Option<TimerIds> = None;
    let finished = |id: &EventId| {
        state
            .buffered
            .iter()
            .any(|b| matches!(b, Incoming::Activity { scheduled_event_id, .. } if scheduled_event_id == id))
    };
    for (n, command) in commands.iter().enumerate() {
        if n + 1 < commands.len() && super::workflow_task::is_terminal(command) {
            return bad(format!("{} must be the task's last command", command.describe()));
        }
        match command {
            Command::ScheduleActivity {
                activity_id, options, ..
            } => {
                options
                    .validate()
                    .map_err(|m| (WorkflowTaskFailedCause::BadCommand, m))?;
                let taken = activity_ids.get_or_insert_with(|| pending_activity_ids(state));
                if !taken.insert(activity_id.clone()) {
                    return bad(format!("activity id {activity_id} is already pending"));
                }
                activities += 1;
                if activities > PENDING_ACTIVITIES_MAX {
                    return limit("activities", PENDING_ACTIVITIES_MAX);
                }
            }
            Command::StartTimer { timer_id, duration } => {
                if duration.is_zero() {
                    return bad(format!("timer {timer_id} has a zero duration"));
                }
                let ids = timer_sets.get_or_insert_with(|| TimerIds::of(state));
                if !ids.taken.insert(timer_id.clone()) {
                    return bad(format!("timer id {timer_id} is already pending"));
                }
                ids.cancellable.insert(timer_id.clone());
                timers += 1;
                if timers > PENDING_TIMERS_MAX {
                    return limit("timers", PENDING_TIMERS_MAX);
                }
            }
            Command::StartChildWorkflow { .. } => {
                children += 1;
                if children > PENDING_CHILDREN_MAX {
                    return limit("child workflows", PENDING_CHILDREN_MAX);
                }
            }
            Command::CancelTimer { timer_id }
                if !timer_sets
                    .get_or_insert_with(|| TimerIds::of(state))
                    .cancellable
                    .remove(timer_id) =>
            {
                return bad(format!("timer id {timer_id} names no pending timer"));
            }
            // The activity is pending, or its outcome arrived while the task ran.
            Command::RequestCancelActivity { scheduled_event_id }
                if !state.activities.contains_key(scheduled_event_id) && !finished(scheduled_event_id) =>
            {
                return bad(format!(
                    "no pending activity was scheduled by event {scheduled_event_id}"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The ids of the run's activities still open in history: pending, or whose outcome arrived
/// while the task ran (buffered, not yet written).
fn pending_activity_ids(state: &ExecutionState) -> BTreeSet<ActivityId> {
    let finishing = state.buffered.iter().filter_map(|b| match b {
        Incoming::Activity { activity_id, .. } => activity_id.clone(),
        _ => None,
    });
    state
        .activities
        .values()
        .map(|a| a.activity_id.clone())
        .chain(finishing)
        .collect()
}

/// The timer ids a task's commands are checked against.
struct TimerIds {
    /// Ids a `CancelTimer` may name: pending timers, and those that fired while the task ran
    /// (still open in history until their event is written; see `CancelTimer`).
    cancellable: BTreeSet<TimerId>,
    /// Ids a `StartTimer` may not take: the same, and those cancelled in this task (one
    /// commit must not drop and set one timer key).
    taken: BTreeSet<TimerId>,
}

impl TimerIds {
    fn of(state: &ExecutionState) -> TimerIds {
        let fired = state.buffered.iter().filter_map(|b| match b {
            Incoming::Event(E::TimerFired { timer_id, .. }) => Some(timer_id.clone()),
            _ => None,
        });
        let cancellable: BTreeSet<_> = state.timers.keys().cloned().chain(fired).collect();
        TimerIds {
            taken: cancellable.clone(),
            cancellable,
        }
    }
}

impl Service {
    /// Applies one command of the task completed by event `completed` to run `i`.
    pub(super) async fn apply_command(
        &self,
        batch: &mut Batch,
        i: usize,
        completed: EventId,
        command: Command,
    ) -> ServiceResult<()> {
        let run = &mut batch.runs[i];
        let now = run.now();
        match command {
            Command::ScheduleActivity {
                activity_id,
                activity_type,
                input,
                mut options,
            } => {
                let queue = options
                    .task_queue
                    .clone()
                    .unwrap_or_else(|| run.record.task_queue.clone());
                options.task_queue = Some(queue.clone());
                let scheduled = run.append(E::ActivityTaskScheduled {
                    activity_id: activity_id.clone(),
                    activity_type: activity_type.clone(),
                    input: input.clone(),
                    options: options.clone(),
                    workflow_task_completed_event_id: completed,
                });
                run.create_task(TaskKind::Activity, scheduled, 1, queue.clone(), now);
                if let Some(timeout) = options.schedule_to_close_timeout {
                    let kind = activity_timer(scheduled, 0, TimeoutTypeKey::ScheduleToClose);
                    run.set_timer(kind, now.plus(timeout));
                }
                if let Some(timeout) = options.schedule_to_start_timeout {
                    run.set_timer(
                        activity_timer(scheduled, 1, TimeoutTypeKey::ScheduleToStart),
                        now.plus(timeout),
                    );
                }
                run.state.activities.insert(
                    scheduled,
                    ActivityState {
                        activity_id,
                        activity_type: activity_type.into(),
                        input: Arc::new(input),
                        options: Arc::new(options),
                        task_queue: queue,
                        scheduled_time: now,
                        attempt: 1,
                        started: None,
                        heartbeat_details: None,
                        last_failure: None,
                        cancel_requested: false,
                    },
                );
            }
            Command::RequestCancelActivity { scheduled_event_id } => {
                run.append(E::ActivityTaskCancelRequested {
                    scheduled_event_id,
                    workflow_task_completed_event_id: completed,
                });
                cancel_activity(run, scheduled_event_id);
            }
            Command::StartTimer { timer_id, duration } => {
                let started = run.append(E::TimerStarted {
                    timer_id: timer_id.clone(),
                    start_to_fire_timeout: duration,
                    workflow_task_completed_event_id: completed,
                });
                run.set_timer(
                    TimerKind::User {
                        timer_id: timer_id.clone(),
                    },
                    now.plus(duration),
                );
                run.state.timers.insert(timer_id, started);
            }
            Command::CancelTimer { timer_id } => {
                // A timer that fired while the task ran is cancelled instead: the workflow never
                // saw it fire, and history must not show both.
                let started = run
                    .state
                    .timers
                    .remove(&timer_id)
                    .or_else(|| take_buffered_fire(run, &timer_id));
                if let Some(started_event_id) = started {
                    run.append(E::TimerCanceled {
                        timer_id: timer_id.clone(),
                        started_event_id,
                        workflow_task_completed_event_id: completed,
                    });
                    run.drop_timer(TimerKind::User { timer_id });
                }
            }
            Command::RecordMarker(marker) => {
                run.append(E::MarkerRecorded {
                    marker,
                    workflow_task_completed_event_id: completed,
                });
            }
            Command::StartChildWorkflow {
                workflow_id,
                workflow_type,
                input,
                task_queue,
                parent_close_policy,
            } => {
                let initiated = run.append(E::StartChildWorkflowExecutionInitiated {
                    workflow_id: workflow_id.clone(),
                    workflow_type: workflow_type.clone(),
                    task_queue: task_queue.clone(),
                    input: input.clone(),
                    parent_close_policy,
                    workflow_task_completed_event_id: completed,
                });
                run.state.children.insert(
                    initiated,
                    ChildState {
                        workflow_id: workflow_id.clone(),
                        workflow_type: workflow_type.clone(),
                        run_id: None,
                        started_event_id: None,
                        parent_close_policy,
                    },
                );
                let parent = ParentExecution {
                    workflow_id: run.key().workflow_id.clone(),
                    run_id: run.key().run_id.clone(),
                    initiated_event_id: initiated,
                };
                self.start_child(
                    batch,
                    i,
                    parent,
                    NewRun {
                        workflow_id,
                        workflow_type,
                        task_queue,
                        input,
                        workflow_task_timeout: None,
                        parent: None,
                        continued_from: None,
                        signal: None,
                    },
                )
                .await?;
            }
            Command::RequestCancelChild { workflow_id } => {
                let initiated = run.append(E::RequestCancelExternalWorkflowExecutionInitiated {
                    workflow_id: workflow_id.clone(),
                    child_workflow_only: true,
                    workflow_task_completed_event_id: completed,
                });
                self.cancel_child(batch, i, initiated, workflow_id).await?;
            }
            Command::CompleteWorkflow { result } => {
                run.append(E::WorkflowExecutionCompleted {
                    result: result.clone(),
                    workflow_task_completed_event_id: completed,
                });
                self.close_by_command(batch, i, RunStatus::Completed, RunOutcome::Completed(result))
                    .await?;
            }
            Command::FailWorkflow { failure } => {
                run.append(E::WorkflowExecutionFailed {
                    failure: failure.clone(),
                    workflow_task_completed_event_id: completed,
                });
                self.close_by_command(batch, i, RunStatus::Failed, RunOutcome::Failed(failure))
                    .await?;
            }
            Command::CancelWorkflow => {
                run.append(E::WorkflowExecutionCanceled {
                    workflow_task_completed_event_id: completed,
                });
                self.close_by_command(batch, i, RunStatus::Canceled, RunOutcome::Canceled)
                    .await?;
            }
            Command::ContinueAsNew(next) => {
                let task_queue = next
                    .task_queue
                    .clone()
                    .unwrap_or_else(|| run.record.task_queue.clone());
                let new = NewRun {
                    workflow_id: run.key().workflow_id.clone(),
                    workflow_type: next.workflow_type.clone(),
                    task_queue: task_queue.clone(),
                    input: next.input.clone(),
                    workflow_task_timeout: Some(run.state.workflow_task_timeout),
                    parent: run.state.parent.clone(),
                    continued_from: Some(run.key().run_id.clone()),
                    signal: None,
                };
                // The new run is created after this one closes in the same commit, so the
                // workflow id is never without a running run and no signal finds it closed.
                let new_run_id = self.create_run(batch, new);
                batch.runs[i].append(E::WorkflowExecutionContinuedAsNew {
                    new_execution_run_id: new_run_id.clone(),
                    workflow_type: next.workflow_type,
                    task_queue,
                    input: next.input,
                    workflow_task_completed_event_id: completed,
                });
                let outcome = RunOutcome::ContinuedAsNew(new_run_id);
                self.close_by_command(batch, i, RunStatus::ContinuedAsNew, outcome)
                    .await?;
            }
        }
        Ok(())
    }

    async fn close_by_command(
        &self,
        batch: &mut Batch,
        i: usize,
        status: RunStatus,
        outcome: RunOutcome,
    ) -> ServiceResult<()> {
        self.close_run(
            batch,
            i,
            Closing {
                status,
                outcome,
                event: None,
            },
        )
        .await
    }

    /// Starts a child run, or records that its workflow id is taken.
    async fn start_child(
        &self,
        batch: &mut Batch,
        i: usize,
        parent: ParentExecution,
        mut new: NewRun,
    ) -> ServiceResult<()> {
        let initiated_event_id = parent.initiated_event_id;
        let running_in_batch = batch
            .runs
            .iter()
            .any(|r| r.key().workflow_id == new.workflow_id && r.is_running());
        let running = running_in_batch
            || self
                .storage
                .get_run(&new.workflow_id, None)
                .await?
                .is_some_and(|r| r.status == RunStatus::Running);
        if running {
            let run = &mut batch.runs[i];
            run.state.children.remove(&initiated_event_id);
            run.add_incoming(Incoming::Event(E::StartChildWorkflowExecutionFailed {
                initiated_event_id,
                workflow_id: new.workflow_id,
                workflow_type: new.workflow_type,
                cause: "WorkflowAlreadyRunning".into(),
            }));
            return Ok(());
        }
        let (workflow_id, workflow_type) = (new.workflow_id.clone(), new.workflow_type.clone());
        new.parent = Some(parent);
        let run_id = self.create_run(batch, new);
        batch.runs[i].add_incoming(Incoming::ChildStarted {
            initiated_event_id,
            workflow_id,
            run_id,
            workflow_type,
        });
        Ok(())
    }

    /// Delivers a parent's cancel request to its child.
    async fn cancel_child(
        &self,
        batch: &mut Batch,
        i: usize,
        initiated_event_id: EventId,
        workflow_id: crate::ids::WorkflowId,
    ) -> ServiceResult<()> {
        let me = batch.runs[i].key().clone();
        let child = match self.load(batch, &workflow_id, None).await {
            Ok(c) => Some(c),
            Err(super::ServiceError::WorkflowNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let ours = child.filter(|&c| {
            let run = &batch.runs[c];
            run.is_running()
                && run
                    .state
                    .parent
                    .as_ref()
                    .is_some_and(|p| p.workflow_id == me.workflow_id && p.run_id == me.run_id)
        });
        let incoming = match ours {
            Some(c) => {
                batch.runs[c].state.cancel_requested = true;
                batch.runs[c].add_incoming(Incoming::Event(E::WorkflowExecutionCancelRequested {
                    cause: format!("requested by parent {}", me.workflow_id),
                    identity: "parent".into(),
                }));
                E::ExternalWorkflowExecutionCancelRequested {
                    initiated_event_id,
                    workflow_id,
                }
            }
            None => E::RequestCancelExternalWorkflowExecutionFailed {
                initiated_event_id,
                workflow_id,
                cause: "the child is not running".into(),
            },
        };
        batch.runs[i].add_incoming(Incoming::Event(incoming));
        Ok(())
    }
}

pub(super) fn activity_timer(
    scheduled_event_id: EventId,
    attempt: u32,
    timeout: TimeoutTypeKey,
) -> TimerKind {
    TimerKind::Activity {
        scheduled_event_id,
        attempt,
        timeout,
    }
}

/// The workflow asked to cancel an activity: one still in the queue is cancelled at once;
/// a running attempt hears of it on its next heartbeat.
fn cancel_activity(run: &mut RunTxn, scheduled_event_id: EventId) {
    let Some(activity) = run.state.activities.get_mut(&scheduled_event_id) else {
        return;
    };
    if activity.started.is_some() {
        activity.cancel_requested = true;
        return;
    }
    let Some(activity) = run.state.activities.remove(&scheduled_event_id) else {
        return;
    };
    let (attempt, activity_id) = (activity.attempt, activity.activity_id.clone());
    drop_activity_work(run, scheduled_event_id, &activity);
    run.add_incoming(Incoming::Activity {
        scheduled_event_id,
        activity_id: Some(activity_id),
        attempt,
        identity: String::new(),
        started: false,
        outcome: ActivityFinal::Canceled,
    });
}

/// Removes a buffered `TimerFired` of `timer_id`, returning the timer's started event.
fn take_buffered_fire(run: &mut RunTxn, timer_id: &crate::ids::TimerId) -> Option<EventId> {
    let position =
        run.state.buffered.iter().position(
            |b| matches!(b, Incoming::Event(E::TimerFired { timer_id: id, .. }) if id == timer_id),
        )?;
    match run.state.buffered.remove(position) {
        Incoming::Event(E::TimerFired { started_event_id, .. }) => Some(started_event_id),
        _ => None,
    }
}
