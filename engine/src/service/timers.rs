//! Timers coming due: workflow timers fire, workflow tasks and activity attempts time out.
//! Each due timer is handled in its own commit, which also removes it. The same loop takes
//! back the work of workers that stopped heartbeating (`reaper.rs`).

use super::activity_task::attempt_timed_out;
use super::state::Incoming;
use super::workflow_task::time_out_workflow_task;
use super::{Service, ServiceError, ServiceResult};
use crate::history::EventAttributes as E;
use crate::storage::{TimerKind, TimerRecord};
use futures::future::select;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

/// Timers handled per pass before looking again (bounds one pass's work).
const TIMERS_PER_PASS_MAX: usize = 256;
/// How long the loop waits after storage failed before trying again.
const STORAGE_RETRY_DELAY: Duration = Duration::from_millis(100);

impl Service {
    /// Fires timers as they come due, forever. Hosts run it in the background.
    pub async fn run_timers(self: Arc<Self>) {
        loop {
            let mut changed = pin!(self.timers_changed.notified());
            changed.as_mut().enable();
            self.liveness.loop_awake();
            let now = self.now();
            match self.fire_due_timers().await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(_) => {
                    self.clock.sleep_until(now.plus(STORAGE_RETRY_DELAY)).await;
                    continue;
                }
            }
            let next = self.storage.next_timer_due().await.ok().flatten();
            let idle_limit = now.plus(self.config.timer_idle_wait);
            let wake_at = next.unwrap_or(idle_limit).min(idle_limit);
            // Also when a worker is due to be taken for dead.
            let wake_at = self.liveness.plan_loop_wake(wake_at, now);
            let _ = select(changed, self.clock.sleep_until(wake_at)).await;
        }
    }

    /// Handles the timers due now, then takes back the work of workers taken for dead
    /// (`reaper.rs`); returns how many timers and runs it handled. A timer whose handling
    /// fails for good (its run's stored state is unreadable) is dropped rather than retried
    /// forever.
    pub async fn fire_due_timers(&self) -> ServiceResult<usize> {
        let due = self.storage.due_timers(self.now(), TIMERS_PER_PASS_MAX).await?;
        for timer in &due {
            match self.fire(timer).await {
                Ok(()) => {}
                Err(e) if e.is_retryable() => return Err(e),
                Err(_) => {
                    update!(self, |batch| {
                        batch.orphan_timers.push(timer.key.clone());
                        Ok(())
                    })?;
                }
            }
        }
        let reaped = self.reap_lost_workers().await?;
        Ok(due.len() + reaped)
    }

    async fn fire(&self, timer: &TimerRecord) -> ServiceResult<()> {
        update!(self, |batch| {
            let run_key = &timer.key.run;
            let i = match self
                .load(batch, &run_key.workflow_id, Some(&run_key.run_id))
                .await
            {
                Ok(i) => i,
                Err(ServiceError::WorkflowNotFound { .. }) => {
                    batch.orphan_timers.push(timer.key.clone());
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let run = &mut batch.runs[i];
            run.drop_timer(timer.key.kind.clone());
            if !run.is_running() {
                return Ok(());
            }
            match &timer.key.kind {
                TimerKind::User { timer_id } => {
                    if let Some(started_event_id) = run.state.timers.remove(timer_id) {
                        run.add_incoming(Incoming::Event(E::TimerFired {
                            timer_id: timer_id.clone(),
                            started_event_id,
                        }));
                    }
                }
                TimerKind::WorkflowTask {
                    scheduled_event_id,
                    attempt,
                } => {
                    let started = run
                        .state
                        .workflow_task
                        .as_ref()
                        .filter(|t| t.scheduled_event_id == *scheduled_event_id && t.attempt == *attempt)
                        .and_then(|t| t.started_event_id);
                    if let Some(started_event_id) = started {
                        time_out_workflow_task(run, *scheduled_event_id, started_event_id);
                    }
                }
                TimerKind::Activity {
                    scheduled_event_id,
                    attempt,
                    timeout,
                } => attempt_timed_out(run, *scheduled_event_id, *attempt, *timeout),
            }
            Ok(())
        })
    }
}
