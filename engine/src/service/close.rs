//! Closing a run, however it closes (a command, terminate, a limit): the terminal event, the
//! run's pending work dropped, its parent told, its children handled by their parent-close
//! policy — all in the caller's one commit.

use super::api::RunOutcome;
use super::state::{ActivityState, Incoming};
use super::txn::{Batch, RunTxn};
use super::{Service, ServiceError, ServiceResult};
use crate::activity::ActivityOptions;
use crate::failure::Failure;
use crate::history::{EventAttributes as E, ParentClosePolicy, WorkflowTaskFailedCause};
use crate::ids::EventId;
use crate::limits::HISTORY_EVENTS_MAX;
use crate::storage::{RunStatus, TaskKind, TimeoutTypeKey, TimerKind};
use futures::future::BoxFuture;

/// How a run closes.
pub(crate) struct Closing {
    pub status: RunStatus,
    pub outcome: RunOutcome,
    /// The terminal event to append; `None` when a command already appended it.
    pub event: Option<E>,
}

impl Service {
    /// Closes run `i` of the batch. Boxed: closing a parent may terminate its children.
    pub(super) fn close_run<'a>(
        &'a self,
        batch: &'a mut Batch,
        i: usize,
        closing: Closing,
    ) -> BoxFuture<'a, ServiceResult<()>> {
        Box::pin(async move {
            let run = &mut batch.runs[i];
            if !run.is_running() {
                return Ok(());
            }
            match closing.event {
                // Closed from outside (terminate, a limit): a running task fails first (replay
                // needs every started task closed), then what arrived first is written first.
                Some(event) => {
                    let running_task = run
                        .state
                        .workflow_task
                        .as_ref()
                        .and_then(|t| t.started_event_id.map(|started| (t.scheduled_event_id, started)));
                    if let Some((scheduled_event_id, started_event_id)) = running_task {
                        run.append(E::WorkflowTaskFailed {
                            scheduled_event_id,
                            started_event_id,
                            cause: WorkflowTaskFailedCause::ForceClose,
                            failure: Failure::new("ForceClose", "the run was closed while the task ran"),
                        });
                    }
                    run.flush_buffered();
                    run.append(event);
                }
                // Closed by its own last task: what that task's other commands caused (a child
                // starting, an activity cancelled) no longer matters to the run.
                None => run.state.buffered.clear(),
            }
            run.record.status = closing.status;
            run.record.close_time = Some(run.now());
            run.state.outcome = Some(closing.outcome.clone());
            drop_pending_work(run);
            let children = std::mem::take(&mut run.state.children);
            let parent = run.state.parent.clone();
            let me = run.key().clone();

            if let (Some(parent), false) = (parent, matches!(closing.outcome, RunOutcome::ContinuedAsNew(_)))
            {
                match self.load(batch, &parent.workflow_id, Some(&parent.run_id)).await {
                    Ok(p) => batch.runs[p].add_incoming(Incoming::ChildClosed {
                        initiated_event_id: parent.initiated_event_id,
                        outcome: closing.outcome,
                    }),
                    // A parent that no longer exists has no one to tell.
                    Err(ServiceError::WorkflowNotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            for child in children.into_values() {
                // A child started by the task closing this run is in the batch: `load` finds it.
                if child.parent_close_policy == ParentClosePolicy::Abandon {
                    continue;
                }
                let c = match self.load(batch, &child.workflow_id, None).await {
                    Ok(c) => c,
                    Err(ServiceError::WorkflowNotFound { .. }) => continue,
                    Err(e) => return Err(e),
                };
                let ours = batch.runs[c]
                    .state
                    .parent
                    .as_ref()
                    .is_some_and(|p| p.workflow_id == me.workflow_id && p.run_id == me.run_id);
                if !ours || !batch.runs[c].is_running() {
                    continue;
                }
                if child.parent_close_policy == ParentClosePolicy::Terminate {
                    let reason = "parent closed (parent-close policy: terminate)".to_owned();
                    self.terminate_in(batch, c, reason, "engine".into()).await?;
                } else if !batch.runs[c].state.cancel_requested {
                    batch.runs[c].state.cancel_requested = true;
                    batch.runs[c].add_incoming(Incoming::Event(E::WorkflowExecutionCancelRequested {
                        cause: "parent closed (parent-close policy: request cancel)".into(),
                        identity: "engine".into(),
                    }));
                }
            }
            Ok(())
        })
    }

    /// Terminates run `i` of the batch.
    pub(super) async fn terminate_in(
        &self,
        batch: &mut Batch,
        i: usize,
        reason: String,
        identity: String,
    ) -> ServiceResult<()> {
        let closing = Closing {
            status: RunStatus::Terminated,
            outcome: RunOutcome::Terminated(reason.clone()),
            event: Some(E::WorkflowExecutionTerminated { reason, identity }),
        };
        self.close_run(batch, i, closing).await
    }

    /// Terminates every run of the batch whose history reached the limit (Temporal's rule).
    pub(super) async fn enforce_history_limit(&self, batch: &mut Batch) -> ServiceResult<()> {
        for i in 0..batch.runs.len() {
            let run = &batch.runs[i];
            let length = usize::try_from(run.record.next_event_id.0.saturating_sub(1)).unwrap_or(usize::MAX);
            if run.is_running() && length >= HISTORY_EVENTS_MAX {
                let reason =
                    format!("history length limit reached ({length} events, limit {HISTORY_EVENTS_MAX})");
                self.terminate_in(batch, i, reason, "engine".into()).await?;
            }
        }
        Ok(())
    }
}

/// Removes the closed run's tasks and timers, so nothing fires for it later.
fn drop_pending_work(run: &mut RunTxn) {
    if let Some(task) = run.state.workflow_task.take() {
        let key = run.task_key(TaskKind::Workflow, task.scheduled_event_id, task.attempt);
        run.complete_task(key);
        run.drop_timer(TimerKind::WorkflowTask {
            scheduled_event_id: task.scheduled_event_id,
            attempt: task.attempt,
        });
    }
    let activities = std::mem::take(&mut run.state.activities);
    for (scheduled_event_id, activity) in activities {
        drop_activity_work(run, scheduled_event_id, &activity);
    }
    let timers = std::mem::take(&mut run.state.timers);
    for timer_id in timers.into_keys() {
        run.drop_timer(TimerKind::User { timer_id });
    }
}

/// Removes an activity's task and every timeout timer of its current attempt.
///
/// Only what can exist is removed, each removal being a storage search: the task of an
/// attempt not started (a started attempt's task went in the commit that started it), and
/// the timers of the timeouts the activity's options set (they never change).
pub(super) fn drop_activity_work(run: &mut RunTxn, scheduled_event_id: EventId, activity: &ActivityState) {
    let attempt = activity.attempt;
    if activity.started.is_none() {
        let key = run.task_key(TaskKind::Activity, scheduled_event_id, attempt);
        run.complete_task(key);
    }
    drop_attempt_timers(run, scheduled_event_id, attempt, &activity.options);
    if activity.options.schedule_to_close_timeout.is_some() {
        run.drop_timer(TimerKind::Activity {
            scheduled_event_id,
            attempt: 0,
            timeout: TimeoutTypeKey::ScheduleToClose,
        });
    }
}

/// Removes the timers of an attempt's own timeouts (not schedule-to-close, which spans
/// attempts), those that `options` set.
pub(super) fn drop_attempt_timers(
    run: &mut RunTxn,
    scheduled_event_id: EventId,
    attempt: u32,
    options: &ActivityOptions,
) {
    let set = [
        (TimeoutTypeKey::StartToClose, options.start_to_close_timeout),
        (TimeoutTypeKey::Heartbeat, options.heartbeat_timeout),
        (TimeoutTypeKey::ScheduleToStart, options.schedule_to_start_timeout),
    ];
    for (timeout, _) in set.into_iter().filter(|(_, after)| after.is_some()) {
        run.drop_timer(TimerKind::Activity {
            scheduled_event_id,
            attempt,
            timeout,
        });
    }
}
