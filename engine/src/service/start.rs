//! Starting runs: `StartWorkflow` (with the id-reuse policy, request-id dedup and
//! signal-with-start), and the run creation shared with child workflows and continue-as-new.

use super::api::{IdReusePolicy, StartWorkflow, Started};
use super::state::{ExecutionState, Incoming};
use super::txn::{Batch, RunTxn};
use super::{Service, ServiceError, ServiceResult};
use crate::history::{EventAttributes as E, ParentExecution};
use crate::ids::{RunId, TaskQueue, WorkflowId};
use crate::payload::{self, Payload};
use crate::storage::{RunKey, RunRecord, RunStatus};
use std::sync::Arc;
use std::time::Duration;

/// What a new run starts with.
pub(crate) struct NewRun {
    pub workflow_id: WorkflowId,
    pub workflow_type: String,
    pub task_queue: TaskQueue,
    pub input: Payload,
    pub workflow_task_timeout: Option<Duration>,
    pub parent: Option<ParentExecution>,
    pub continued_from: Option<RunId>,
    pub signal: Option<(String, Payload)>,
}

impl Service {
    pub(super) async fn start_workflow(&self, start: StartWorkflow) -> ServiceResult<Started> {
        payload::check_size(&start.input, || {
            format!("input of workflow `{}`", start.workflow_type)
        })?;
        if let Some((name, input)) = &start.signal {
            payload::check_size(input, || format!("signal `{name}`"))?;
        }
        if start.workflow_task_timeout.is_some_and(|t| t.is_zero()) {
            return Err(ServiceError::InvalidRequest(
                "the workflow task timeout must be positive".into(),
            ));
        }
        self.check_known_type(&start.task_queue, &start.workflow_type)?;
        update!(self, |batch| {
            // Looked up in every attempt: a duplicate that committed while this attempt ran is
            // what makes the attempt conflict, and the redo must then answer as it did.
            if let Some(previous) = self.storage.get_request(&start.request_id).await? {
                return payload::decode(&previous, || "recorded start response".to_owned())
                    .map_err(Into::into);
            }
            let started = self.start_in(batch, &start).await?;
            let response = payload::encode(&started, || "start response".to_owned())?;
            batch.requests.push((start.request_id.clone(), response));
            Ok(started)
        })
    }

    async fn start_in(&self, batch: &mut Batch, start: &StartWorkflow) -> ServiceResult<Started> {
        let current = self.storage.get_run(&start.workflow_id, None).await?;
        if let Some(current) = current {
            let already_started = || ServiceError::AlreadyStarted {
                workflow_id: start.workflow_id.clone(),
                run_id: current.key.run_id.clone(),
            };
            if current.status == RunStatus::Running {
                let i = self
                    .load(batch, &start.workflow_id, Some(&current.key.run_id))
                    .await?;
                if let Some((name, input)) = &start.signal {
                    batch.runs[i].add_incoming(Incoming::Event(E::WorkflowExecutionSignaled {
                        signal_name: name.clone(),
                        input: input.clone(),
                        identity: "signal-with-start".into(),
                    }));
                    return Ok(Started {
                        run_id: current.key.run_id.clone(),
                        created: false,
                    });
                }
                if start.id_reuse_policy != IdReusePolicy::TerminateIfRunning {
                    return Err(already_started());
                }
                let reason = "terminated by a new start of the workflow id (TerminateIfRunning)";
                self.terminate_in(batch, i, reason.into(), "engine".into())
                    .await?;
            } else {
                let refused = match start.id_reuse_policy {
                    IdReusePolicy::RejectDuplicate => true,
                    IdReusePolicy::AllowDuplicateFailedOnly => current.status == RunStatus::Completed,
                    IdReusePolicy::AllowDuplicate | IdReusePolicy::TerminateIfRunning => false,
                };
                if refused {
                    return Err(already_started());
                }
            }
        }
        let run_id = self.create_run(
            batch,
            NewRun {
                workflow_id: start.workflow_id.clone(),
                workflow_type: start.workflow_type.clone(),
                task_queue: start.task_queue.clone(),
                input: start.input.clone(),
                workflow_task_timeout: start.workflow_task_timeout,
                parent: None,
                continued_from: None,
                signal: start.signal.clone(),
            },
        );
        Ok(Started {
            run_id,
            created: true,
        })
    }

    /// Adds a new run to the batch: `WorkflowExecutionStarted`, an optional signal, and its
    /// first workflow task. Storage refuses it if another run of the id is running.
    pub(super) fn create_run(&self, batch: &mut Batch, new: NewRun) -> RunId {
        let (run_id, randomness_seed) = self.draw_ids();
        let workflow_task_timeout = new
            .workflow_task_timeout
            .unwrap_or(self.config.workflow_task_timeout);
        let record = RunRecord {
            key: RunKey {
                workflow_id: new.workflow_id,
                run_id: run_id.clone(),
            },
            workflow_type: Arc::from(new.workflow_type.as_str()),
            task_queue: new.task_queue.clone(),
            status: RunStatus::Running,
            start_time: batch.now,
            close_time: None,
            next_event_id: crate::ids::EventId::FIRST,
            version: 1,
            state: Arc::new(ExecutionState::new(workflow_task_timeout, new.parent.clone())),
        };
        let mut run = RunTxn::created(record, batch.now);
        run.append(E::WorkflowExecutionStarted {
            workflow_type: new.workflow_type,
            task_queue: new.task_queue,
            input: new.input,
            workflow_task_timeout,
            randomness_seed,
            parent: new.parent,
            continued_from_run_id: new.continued_from,
        });
        if let Some((signal_name, input)) = new.signal {
            run.append(E::WorkflowExecutionSignaled {
                signal_name,
                input,
                identity: "signal-with-start".into(),
            });
        }
        run.schedule_workflow_task();
        batch.push_run(run);
        run_id
    }

    fn check_known_type(&self, queue: &TaskQueue, workflow_type: &str) -> ServiceResult<()> {
        let known = self
            .worker_types
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match known.get(queue) {
            Some(types) if !types.contains(workflow_type) => Err(ServiceError::UnknownWorkflowType {
                workflow_type: workflow_type.to_owned(),
                task_queue: queue.to_string(),
                known: types.iter().cloned().collect(),
            }),
            _ => Ok(()),
        }
    }
}
