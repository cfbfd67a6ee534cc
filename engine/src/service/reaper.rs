//! Taking work back from workers that stopped heartbeating: the service's side of worker
//! liveness (`liveness.rs` is the table it keeps).
//!
//! A `WorkerHeartbeat` updates the table; polls note the work they hand out, completions
//! the work that came back; the timer loop asks the table which workers fell silent. Each
//! run holding lost work is changed in one commit: a lost activity attempt fails with
//! [`WORKER_LOST`](super::WORKER_LOST) and its next attempt is scheduled at once, a lost
//! workflow task times out and is scheduled again, for any worker.
//!
//! After a restart the table is empty: the first heartbeat this instance receives reads the
//! open runs once and records the work the previous instance handed out, and who holds it.
//! Nothing of this happens while no worker sends `WorkerHeartbeat`.

use super::activity_task::attempt_lost;
use super::api::{ActivityTaskToken, WorkflowTaskToken};
use super::liveness::{Held, Lost};
use super::workflow_task::workflow_task_lost;
use super::{Service, ServiceError, ServiceResult};
use crate::limits::{RECOVERY_RUNS_MAX, TRACKED_WORKERS_MAX, WORKER_HEARTBEAT_TASKS_MAX};
use crate::storage::RunKey;
use std::collections::BTreeMap;
use std::time::Duration;

impl Service {
    /// A worker's `WorkerHeartbeat`: it is alive and runs these. Work the previous instance
    /// handed it that it does not list is taken back now.
    pub(super) async fn worker_heartbeat(
        &self,
        identity: String,
        activities: Vec<ActivityTaskToken>,
        workflow_tasks: Vec<WorkflowTaskToken>,
    ) -> ServiceResult<()> {
        let listed = activities.len() + workflow_tasks.len();
        if listed > WORKER_HEARTBEAT_TASKS_MAX {
            return Err(ServiceError::LimitExceeded {
                what: format!(
                    "activity attempts and workflow tasks listed by the heartbeat of worker `{identity}` ({listed})"
                ),
                limit: WORKER_HEARTBEAT_TASKS_MAX,
            });
        }
        self.recover_liveness().await?;
        let listed = activities
            .into_iter()
            .map(Held::Activity)
            .chain(workflow_tasks.into_iter().map(Held::WorkflowTask))
            .collect();
        let Some((lost, wake)) = self.liveness.heartbeat(&identity, listed, self.now()) else {
            return Err(ServiceError::LimitExceeded {
                what: format!("worker identities tracked for liveness (worker `{identity}` is not)"),
                limit: TRACKED_WORKERS_MAX,
            });
        };
        // What could not be taken back now is retried by the timer loop.
        let failed = !lost.is_empty() && self.reap(lost).await.is_err();
        if wake || failed {
            self.timers_changed.notify_one();
        }
        Ok(())
    }

    /// Whether a poll of `identity` must hand out nothing: its worker is taken for dead, and
    /// the poll is one it left waiting here when it died (a closed connection goes unnoticed
    /// until the server next looks at it).
    pub(super) fn poller_taken_for_dead(&self, identity: &str) -> bool {
        self.liveness.taken_for_dead(identity, self.now())
    }

    /// How long a poll of `identity` claims the task it leases (see `Liveness::lease_for`).
    pub(super) fn poll_lease(&self, identity: &str) -> Duration {
        self.liveness.lease_for(identity, self.config.task_lease)
    }

    /// A poll hands `held` to `identity`. Called while building the commit that starts the
    /// work, before it is written: a call can be dropped at any point from there on (the
    /// server drops the call of a connection found closed) while the commit still lands, and
    /// the work must not then escape the reaper. If the commit fails instead, the reaper
    /// finds nothing of `identity`'s to take back, and a heartbeat soon drops the item.
    pub(super) fn note_handed(&self, identity: &str, held: impl FnOnce() -> Held) {
        if self.liveness.handed(identity, held, self.now()) {
            self.timers_changed.notify_one();
        }
    }

    /// After `result`, the outcome of a worker's report on `held` (`None`: not tracked), stops
    /// listing `held` as the worker's. Unless the call failed retryably: the worker reports
    /// again. (Called after the report is awaited rather than wrapping its future: a wrapper
    /// future holds the report's state machine twice, and doubled the size of every call's
    /// future.)
    pub(super) fn release<T>(&self, held: Option<(String, Held)>, result: &ServiceResult<T>) {
        let reports_again = matches!(result, Err(e) if e.is_retryable());
        if let Some((identity, held)) = held.filter(|_| !reports_again) {
            self.liveness.released(&identity, &held);
        }
    }

    /// Takes back the work of the workers taken for dead by now; returns how many runs
    /// changed. On a retryable failure, what was not taken back is kept for the next pass.
    pub(super) async fn reap_lost_workers(&self) -> ServiceResult<usize> {
        let lost = self.liveness.due(self.now());
        if lost.is_empty() {
            return Ok(0);
        }
        self.reap(lost).await
    }

    /// One commit per run holding lost work.
    async fn reap(&self, lost: Vec<Lost>) -> ServiceResult<usize> {
        let mut by_run: BTreeMap<RunKey, Vec<Lost>> = BTreeMap::new();
        for item in lost {
            by_run.entry(item.held.run().clone()).or_default().push(item);
        }
        let mut changed = 0;
        let mut failed = None;
        for (run, items) in by_run {
            match self.reap_run(&run, &items).await {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(e) if e.is_retryable() => {
                    self.liveness.retry_later(items);
                    failed = Some(e);
                }
                // The run's stored state cannot be used: its work waits for its own timeouts.
                Err(_) => {}
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(changed),
        }
    }

    /// Takes `lost` back from one run, if the run still has it started by that worker;
    /// returns whether the run changed.
    async fn reap_run(&self, key: &RunKey, lost: &[Lost]) -> ServiceResult<bool> {
        update!(self, |batch| {
            let i = match self.load(batch, &key.workflow_id, Some(&key.run_id)).await {
                Ok(i) => i,
                Err(ServiceError::WorkflowNotFound { .. }) => return Ok(false),
                Err(e) => return Err(e),
            };
            let run = &mut batch.runs[i];
            if !run.is_running() {
                return Ok(false);
            }
            let mut changed = false;
            for item in lost {
                changed |= match &item.held {
                    Held::Activity(token) => attempt_lost(run, token, &item.identity, item.because),
                    Held::WorkflowTask(token) => workflow_task_lost(run, token, &item.identity),
                };
            }
            Ok(changed)
        })
    }

    /// After a restart, once: records the work started by the previous instance (activity
    /// attempts and workflow tasks of open runs, started before this instance began) and
    /// who holds it.
    async fn recover_liveness(&self) -> ServiceResult<()> {
        if !self.liveness.needs_recovery() {
            return Ok(());
        }
        let _scanning = self.recovery.lock().await;
        if !self.liveness.needs_recovery() {
            return Ok(());
        }
        // Work started in the very millisecond this instance began is taken for the previous
        // instance's: if it is this one's, the worst case is that it runs twice; the other
        // way round, it would wait for its timeout.
        let started_at = self.liveness.started_at();
        let mut found = Vec::new();
        for record in self.storage.list_open_runs(RECOVERY_RUNS_MAX).await? {
            let state = &record.state;
            for (scheduled_event_id, activity) in state.activities.iter() {
                let Some((started, identity)) = &activity.started else {
                    continue;
                };
                if *started <= started_at {
                    let token = ActivityTaskToken {
                        run: record.key.clone(),
                        scheduled_event_id: *scheduled_event_id,
                        attempt: activity.attempt,
                    };
                    found.push((identity.clone(), Held::Activity(token)));
                }
            }
            let task = state
                .workflow_task
                .as_ref()
                .and_then(|t| Some((t, t.started_event_id?, t.identity.as_ref()?)));
            let Some((task, started_event_id, identity)) = task else {
                continue;
            };
            // The run's state does not keep when the task started; its started event does.
            let events = self.storage.read_events(&record.key, started_event_id).await?;
            if events.first().is_some_and(|e| e.event_time <= started_at) {
                let token = WorkflowTaskToken {
                    run: record.key.clone(),
                    scheduled_event_id: task.scheduled_event_id,
                    started_event_id,
                    attempt: task.attempt,
                };
                found.push((identity.to_string(), Held::WorkflowTask(token)));
            }
        }
        self.liveness.recover(found);
        Ok(())
    }
}
