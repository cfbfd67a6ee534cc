//! `WorkflowHandle`: a typed handle to a workflow, for its result, signals and queries.

use super::{Client, ClientError, WorkflowFailure};
use crate::history::History;
use crate::ids::{RunId, WorkflowId};
use crate::payload;
use crate::service::api::RunDescription;
use crate::workflow::{Query, Signal, Workflow};
use std::marker::PhantomData;

/// A handle to a run of workflow `W` (or, without a run id, to the workflow id's current
/// run). Cheap to clone.
pub struct WorkflowHandle<W> {
    client: Client,
    workflow_id: WorkflowId,
    run_id: Option<RunId>,
    _workflow: PhantomData<fn() -> W>,
}

impl<W> Clone for WorkflowHandle<W> {
    fn clone(&self) -> Self {
        WorkflowHandle {
            client: self.client.clone(),
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.clone(),
            _workflow: PhantomData,
        }
    }
}

impl<W: Workflow> std::fmt::Debug for WorkflowHandle<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowHandle")
            .field("workflow_type", &W::NAME)
            .field("workflow_id", &self.workflow_id)
            .field("run_id", &self.run_id)
            .finish()
    }
}

impl<W: Workflow> WorkflowHandle<W> {
    pub(crate) fn new(client: Client, workflow_id: WorkflowId, run_id: Option<RunId>) -> Self {
        WorkflowHandle {
            client,
            workflow_id,
            run_id,
            _workflow: PhantomData,
        }
    }

    /// The workflow id.
    pub fn workflow_id(&self) -> &WorkflowId {
        &self.workflow_id
    }

    /// The run this handle is for; `None` for a handle to the current run.
    pub fn run_id(&self) -> Option<&RunId> {
        self.run_id.as_ref()
    }

    /// Waits for the workflow's result. A run that continues as new is followed to the next
    /// run, and so on until one closes for good.
    pub async fn result(&self) -> Result<W::Output, WorkflowFailure> {
        let output = self
            .client
            .result_untyped(&self.workflow_id, self.run_id.as_ref())
            .await?;
        let output = payload::decode(&output, || format!("result of workflow `{}`", W::NAME))
            .map_err(ClientError::from)?;
        Ok(output)
    }

    /// Sends signal `S`.
    pub async fn signal<S: Signal>(&self, input: &S::Input) -> Result<(), ClientError> {
        let input = payload::encode(input, || format!("input of signal `{}`", S::NAME))?;
        self.client
            .signal_untyped(&self.workflow_id, self.run_id.as_ref(), S::NAME, input)
            .await
    }

    /// Runs query `Q` against the workflow's current state.
    pub async fn query<Q: Query>(&self, args: &Q::Args) -> Result<Q::Output, ClientError> {
        let args = payload::encode(args, || format!("arguments of query `{}`", Q::NAME))?;
        let answer = self
            .client
            .query_untyped(&self.workflow_id, self.run_id.as_ref(), Q::NAME, args)
            .await?;
        Ok(payload::decode(&answer, || {
            format!("answer of query `{}`", Q::NAME)
        })?)
    }

    /// Asks the workflow to cancel; it decides how (see `WorkflowCtx::cancelled`).
    pub async fn cancel(&self) -> Result<(), ClientError> {
        self.client
            .cancel(&self.workflow_id, self.run_id.as_ref(), "cancelled by client")
            .await
    }

    /// Terminates the run at once, recording `reason`.
    pub async fn terminate(&self, reason: &str) -> Result<(), ClientError> {
        self.client
            .terminate(&self.workflow_id, self.run_id.as_ref(), reason)
            .await
    }

    /// What the run is doing, or how it ended.
    pub async fn describe(&self) -> Result<RunDescription, ClientError> {
        self.client
            .describe(&self.workflow_id, self.run_id.as_ref())
            .await
    }

    /// The run's history so far.
    pub async fn history(&self) -> Result<History, ClientError> {
        self.client.history(&self.workflow_id, self.run_id.as_ref()).await
    }

    /// The run's history in the JSON format of `docs/history-format.md`, pretty-printed.
    pub async fn history_json(&self) -> Result<String, ClientError> {
        Ok(self.history().await?.to_json_pretty())
    }
}
