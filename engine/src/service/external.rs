//! Calls from clients about a run: signal, cancel, terminate, query, describe, history, list,
//! and waiting for the outcome.

use super::api::{PendingActivity, RunDescription, RunOutcome};
use super::state::Incoming;
use super::{Service, ServiceError, ServiceResult};
use crate::history::{EventAttributes as E, History};
use crate::ids::{RunId, WorkflowId};
use crate::payload::{self, Payload};
use crate::storage::{RequestId, RunRecord, TaskKind};
use futures::future::{Either, select};
use std::pin::pin;

/// How many runs `ListRuns` returns at most.
const LIST_RUNS_MAX: usize = 1_000;

impl Service {
    pub(super) async fn signal(
        &self,
        request_id: RequestId,
        workflow_id: WorkflowId,
        run_id: Option<RunId>,
        name: String,
        input: Payload,
    ) -> ServiceResult<()> {
        payload::check_size(&input, || format!("signal `{name}`"))?;
        let event = E::WorkflowExecutionSignaled {
            signal_name: name.clone(),
            input: input.clone(),
            identity: "client".into(),
        };
        self.deliver_once(request_id, workflow_id, run_id, Incoming::Event(event))
            .await
    }

    pub(super) async fn request_cancel(
        &self,
        request_id: RequestId,
        workflow_id: WorkflowId,
        run_id: Option<RunId>,
        reason: String,
    ) -> ServiceResult<()> {
        let event = E::WorkflowExecutionCancelRequested {
            cause: reason,
            identity: "client".into(),
        };
        self.deliver_once(request_id, workflow_id, run_id, Incoming::Event(event))
            .await
    }

    /// Delivers `incoming` to a running run, once per request id.
    async fn deliver_once(
        &self,
        request_id: RequestId,
        workflow_id: WorkflowId,
        run_id: Option<RunId>,
        incoming: Incoming,
    ) -> ServiceResult<()> {
        update!(self, |batch| {
            let Some(i) = self
                .load_running_once(batch, &request_id, &workflow_id, run_id.as_ref())
                .await?
            else {
                return Ok(());
            };
            let run = &mut batch.runs[i];
            let is_cancel = matches!(
                incoming,
                Incoming::Event(E::WorkflowExecutionCancelRequested { .. })
            );
            // A second cancel request changes nothing, as in Temporal.
            if !(is_cancel && run.state.cancel_requested) {
                run.state.cancel_requested |= is_cancel;
                run.add_incoming(incoming.clone());
            }
            batch
                .requests
                .push((request_id.clone(), Payload::from(serde_json::Value::Bool(true))));
            Ok(())
        })
    }

    pub(super) async fn terminate(
        &self,
        request_id: RequestId,
        workflow_id: WorkflowId,
        run_id: Option<RunId>,
        reason: String,
    ) -> ServiceResult<()> {
        update!(self, |batch| {
            let Some(i) = self
                .load_running_once(batch, &request_id, &workflow_id, run_id.as_ref())
                .await?
            else {
                return Ok(());
            };
            self.terminate_in(batch, i, reason.clone(), "client".into())
                .await?;
            batch
                .requests
                .push((request_id.clone(), Payload::from(serde_json::Value::Bool(true))));
            Ok(())
        })
    }

    /// Loads the running run a request with `request_id` acts on; `None` when that request was
    /// already carried out (a retry). Checked in every attempt of the update, so a duplicate
    /// that wins a race is seen (see `start_workflow`).
    async fn load_running_once(
        &self,
        batch: &mut super::txn::Batch,
        request_id: &RequestId,
        workflow_id: &WorkflowId,
        run_id: Option<&RunId>,
    ) -> ServiceResult<Option<usize>> {
        if self.storage.get_request(request_id).await?.is_some() {
            return Ok(None);
        }
        let i = self.load(batch, workflow_id, run_id).await?;
        if !batch.runs[i].is_running() {
            return Err(not_running(&batch.runs[i].record));
        }
        Ok(Some(i))
    }

    /// Asks a worker of the run's queue to answer a query from the run's state.
    pub(super) async fn query(
        &self,
        workflow_id: WorkflowId,
        run_id: Option<RunId>,
        name: String,
        args: Payload,
    ) -> ServiceResult<Payload> {
        payload::check_size(&args, || format!("arguments of query `{name}`"))?;
        let record = self.get_record(&workflow_id, run_id.as_ref()).await?;
        let queue = record.task_queue.clone();
        let (query_id, answer) = self
            .queries
            .register(queue.clone(), record.key, name.clone(), args);
        self.queue_notify(&queue, TaskKind::Workflow).notify_waiters();
        let deadline = self.now().plus(self.config.query_timeout);
        match select(answer, self.clock.sleep_until(deadline)).await {
            Either::Left((Ok(Ok(answer)), _)) => Ok(answer),
            Either::Left((Ok(Err(message)), _)) => Err(ServiceError::QueryFailed(message)),
            Either::Left((Err(_), _)) | Either::Right(_) => {
                self.queries.forget(query_id);
                Err(ServiceError::QueryFailed(format!(
                    "no worker of task queue {queue} answered query `{name}` within {}",
                    crate::time::human_duration(self.config.query_timeout)
                )))
            }
        }
    }

    pub(super) async fn describe(
        &self,
        workflow_id: WorkflowId,
        run_id: Option<RunId>,
    ) -> ServiceResult<RunDescription> {
        let record = self.get_record(&workflow_id, run_id.as_ref()).await?;
        describe(&record)
    }

    pub(super) async fn history(
        &self,
        workflow_id: WorkflowId,
        run_id: Option<RunId>,
    ) -> ServiceResult<History> {
        let record = self.get_record(&workflow_id, run_id.as_ref()).await?;
        let events = self
            .storage
            .read_events(&record.key, crate::ids::EventId::FIRST)
            .await?;
        Ok(History {
            workflow_id: record.key.workflow_id,
            run_id: record.key.run_id,
            events,
        })
    }

    pub(super) async fn list_runs(
        &self,
        workflow_id: Option<WorkflowId>,
    ) -> ServiceResult<Vec<RunDescription>> {
        let records = self
            .storage
            .list_runs(workflow_id.as_ref(), LIST_RUNS_MAX)
            .await?;
        records.iter().map(describe).collect()
    }

    /// Waits (up to `outcome_wait`) for the run to close.
    pub(super) async fn wait_outcome(
        &self,
        workflow_id: WorkflowId,
        run_id: Option<RunId>,
    ) -> ServiceResult<Option<RunOutcome>> {
        let deadline = self.now().plus(self.config.outcome_wait);
        let waiting = self.close_waiters.watch(&workflow_id);
        loop {
            let mut closed = pin!(waiting.notify().notified());
            closed.as_mut().enable();
            let record = self.get_record(&workflow_id, run_id.as_ref()).await?;
            if record.status.is_closed() {
                return Ok(record.state.outcome.clone());
            }
            if self.now() >= deadline {
                return Ok(None);
            }
            let _ = select(closed, self.clock.sleep_until(deadline)).await;
        }
    }

    async fn get_record(&self, workflow_id: &WorkflowId, run_id: Option<&RunId>) -> ServiceResult<RunRecord> {
        self.storage
            .get_run(workflow_id, run_id)
            .await?
            .ok_or_else(|| ServiceError::WorkflowNotFound {
                workflow_id: workflow_id.clone(),
                run_id: run_id.cloned(),
            })
    }
}

fn not_running(record: &RunRecord) -> ServiceError {
    ServiceError::NotRunning {
        workflow_id: record.key.workflow_id.clone(),
        run_id: record.key.run_id.clone(),
    }
}

fn describe(record: &RunRecord) -> ServiceResult<RunDescription> {
    let state = &record.state;
    Ok(RunDescription {
        run: record.key.clone(),
        workflow_type: record.workflow_type.to_string(),
        task_queue: record.task_queue.clone(),
        status: record.status,
        start_time: record.start_time,
        close_time: record.close_time,
        history_length: record.next_event_id.0.saturating_sub(1),
        pending_activities: state
            .activities
            .iter()
            .map(|(scheduled, a)| PendingActivity {
                scheduled_event_id: *scheduled,
                activity_type: a.activity_type.to_string(),
                attempt: a.attempt,
                running: a.started.is_some(),
                last_failure: a.last_failure.clone(),
            })
            .collect(),
        pending_timers: state.timers.len(),
        pending_children: state.children.len(),
        workflow_task_pending: state.workflow_task.is_some() || !state.buffered.is_empty(),
        outcome: state.outcome.clone(),
    })
}
