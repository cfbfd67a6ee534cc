//! The client's calls by workflow id, with raw payloads: what typed handles are built on,
//! and what tools such as the CLI use directly. A `run_id` of `None` means the workflow id's
//! current run.

use super::{Client, ClientError, StartOptions, WorkflowFailure, unexpected};
use crate::history::History;
use crate::ids::{RunId, WorkflowId};
use crate::payload::Payload;
use crate::service::api::{RunDescription, RunOutcome, Started};
use crate::service::{Request, Response};

impl Client {
    /// Starts a run of the workflow type named `workflow_type` with a raw input.
    pub async fn start_untyped(
        &self,
        workflow_type: &str,
        workflow_id: impl Into<WorkflowId>,
        input: Payload,
        options: StartOptions,
    ) -> Result<Started, ClientError> {
        self.start_request(workflow_type, workflow_id.into(), input, options, None)
            .await
    }

    /// Signal-with-start with raw payloads: signals the running run of `workflow_id`, or
    /// starts one of `workflow_type` and signals it.
    pub async fn signal_with_start_untyped(
        &self,
        workflow_type: &str,
        workflow_id: impl Into<WorkflowId>,
        input: Payload,
        signal: (String, Payload),
        options: StartOptions,
    ) -> Result<Started, ClientError> {
        self.start_request(workflow_type, workflow_id.into(), input, options, Some(signal))
            .await
    }

    /// Sends the signal `name` with a raw payload.
    pub async fn signal_untyped(
        &self,
        workflow_id: &WorkflowId,
        run_id: Option<&RunId>,
        name: &str,
        input: Payload,
    ) -> Result<(), ClientError> {
        let request = Request::Signal {
            request_id: self.new_request_id(),
            workflow_id: workflow_id.clone(),
            run_id: run_id.cloned(),
            name: name.to_owned(),
            input,
        };
        self.expect_ack("Signal", request).await
    }

    /// Runs the query `name` with raw arguments; the answer is raw too.
    pub async fn query_untyped(
        &self,
        workflow_id: &WorkflowId,
        run_id: Option<&RunId>,
        name: &str,
        args: Payload,
    ) -> Result<Payload, ClientError> {
        let request = Request::Query {
            workflow_id: workflow_id.clone(),
            run_id: run_id.cloned(),
            name: name.to_owned(),
            args,
        };
        match self.call(request).await? {
            Response::QueryAnswer(answer) => Ok(answer),
            other => Err(unexpected("Query", other)),
        }
    }

    /// Asks a run to cancel; the workflow decides how.
    pub async fn cancel(
        &self,
        workflow_id: &WorkflowId,
        run_id: Option<&RunId>,
        reason: &str,
    ) -> Result<(), ClientError> {
        let request = Request::RequestCancel {
            request_id: self.new_request_id(),
            workflow_id: workflow_id.clone(),
            run_id: run_id.cloned(),
            reason: reason.to_owned(),
        };
        self.expect_ack("RequestCancel", request).await
    }

    /// Terminates a run at once; its code gets no say.
    pub async fn terminate(
        &self,
        workflow_id: &WorkflowId,
        run_id: Option<&RunId>,
        reason: &str,
    ) -> Result<(), ClientError> {
        let request = Request::Terminate {
            request_id: self.new_request_id(),
            workflow_id: workflow_id.clone(),
            run_id: run_id.cloned(),
            reason: reason.to_owned(),
        };
        self.expect_ack("Terminate", request).await
    }

    /// What a run is doing, or how it ended.
    pub async fn describe(
        &self,
        workflow_id: &WorkflowId,
        run_id: Option<&RunId>,
    ) -> Result<RunDescription, ClientError> {
        let request = Request::Describe {
            workflow_id: workflow_id.clone(),
            run_id: run_id.cloned(),
        };
        match self.call(request).await? {
            Response::Description(description) => Ok(*description),
            other => Err(unexpected("Describe", other)),
        }
    }

    /// A run's history so far.
    pub async fn history(
        &self,
        workflow_id: &WorkflowId,
        run_id: Option<&RunId>,
    ) -> Result<History, ClientError> {
        let request = Request::GetHistory {
            workflow_id: workflow_id.clone(),
            run_id: run_id.cloned(),
        };
        match self.call(request).await? {
            Response::History(history) => Ok(*history),
            other => Err(unexpected("GetHistory", other)),
        }
    }

    /// The runs of `workflow_id` (oldest first), or of every workflow.
    pub async fn list_runs(
        &self,
        workflow_id: Option<&WorkflowId>,
    ) -> Result<Vec<RunDescription>, ClientError> {
        let request = Request::ListRuns {
            workflow_id: workflow_id.cloned(),
        };
        match self.call(request).await? {
            Response::Runs(runs) => Ok(runs),
            other => Err(unexpected("ListRuns", other)),
        }
    }

    /// Waits until the run closes and returns how. A continued-as-new run returns
    /// [`RunOutcome::ContinuedAsNew`]; typed handles follow it to the next run.
    pub async fn wait_outcome(
        &self,
        workflow_id: &WorkflowId,
        run_id: Option<&RunId>,
    ) -> Result<RunOutcome, ClientError> {
        loop {
            let request = Request::WaitOutcome {
                workflow_id: workflow_id.clone(),
                run_id: run_id.cloned(),
            };
            match self.call(request).await? {
                Response::Outcome(Some(outcome)) => return Ok(outcome),
                // The long poll timed out with the run still open: wait again.
                Response::Outcome(None) => {}
                other => return Err(unexpected("WaitOutcome", other)),
            }
        }
    }

    /// Waits for the workflow's result as a raw payload, following continue-as-new to the
    /// run that closes for good; a run that did not complete is the matching
    /// [`WorkflowFailure`].
    pub async fn result_untyped(
        &self,
        workflow_id: &WorkflowId,
        run_id: Option<&RunId>,
    ) -> Result<Payload, WorkflowFailure> {
        let mut run_id = run_id.cloned();
        loop {
            match self.wait_outcome(workflow_id, run_id.as_ref()).await? {
                RunOutcome::Completed(output) => return Ok(output),
                RunOutcome::ContinuedAsNew(next) => run_id = Some(next),
                RunOutcome::Failed(failure) => return Err(WorkflowFailure::Failed(failure)),
                RunOutcome::Canceled => return Err(WorkflowFailure::Canceled),
                RunOutcome::Terminated(reason) => return Err(WorkflowFailure::Terminated(reason)),
                RunOutcome::TimedOut => return Err(WorkflowFailure::TimedOut),
            }
        }
    }

    async fn expect_ack(&self, what: &'static str, request: Request) -> Result<(), ClientError> {
        match self.call(request).await? {
            Response::Ack => Ok(()),
            other => Err(unexpected(what, other)),
        }
    }
}
