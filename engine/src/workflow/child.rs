//! Child workflows: `ctx.child::<W>(input)` starts a workflow whose result the parent awaits.

use super::Workflow;
use super::state::{ChildSlot, Outcome, Shared, Slot};
use crate::command::Command;
use crate::failure::{Failure, WorkflowError};
use crate::history::ParentClosePolicy;
use crate::ids::{TaskQueue, WorkflowId};
use crate::payload;
use crate::replay::ActivationError;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How a child workflow ended, when it did not return a value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ChildError {
    /// The engine could not start it (its workflow id is in use, for instance).
    #[error("child workflow could not start: {cause}")]
    StartFailed {
        /// Why.
        cause: String,
    },
    /// The child failed.
    #[error("child workflow failed: {0}")]
    Failed(Failure),
    /// The child was cancelled.
    #[error("child workflow was cancelled")]
    Cancelled,
    /// The child timed out.
    #[error("child workflow timed out")]
    TimedOut,
    /// The child was terminated.
    #[error("child workflow was terminated")]
    Terminated,
}

impl From<ChildError> for WorkflowError {
    fn from(e: ChildError) -> WorkflowError {
        match e {
            ChildError::Failed(f) => WorkflowError::Failed(f),
            ChildError::Cancelled => WorkflowError::Cancelled,
            other => WorkflowError::fail("ChildWorkflowFailure", other.to_string()),
        }
    }
}

/// A child workflow about to be started. Set options, then `.await` it or call `start`.
#[must_use = "a child workflow is started only when awaited or started"]
pub struct ChildCall<W: Workflow> {
    state: Shared,
    input: W::Input,
    workflow_id: Option<WorkflowId>,
    task_queue: Option<TaskQueue>,
    parent_close_policy: ParentClosePolicy,
}

impl<W: Workflow> std::fmt::Debug for ChildCall<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildCall")
            .field("workflow_type", &W::NAME)
            .field("workflow_id", &self.workflow_id)
            .finish_non_exhaustive()
    }
}

impl<W: Workflow> ChildCall<W> {
    pub(crate) fn new(state: Shared, input: W::Input) -> Self {
        ChildCall {
            state,
            input,
            workflow_id: None,
            task_queue: None,
            parent_close_policy: ParentClosePolicy::default(),
        }
    }

    /// The child's workflow id (default: `<parent id>-child-<n>`).
    pub fn id(mut self, workflow_id: impl Into<WorkflowId>) -> Self {
        self.workflow_id = Some(workflow_id.into());
        self
    }

    /// The child's task queue (default: the parent's).
    pub fn task_queue(mut self, queue: impl Into<TaskQueue>) -> Self {
        self.task_queue = Some(queue.into());
        self
    }

    /// What happens to the child when the parent closes (default: terminate).
    pub fn parent_close_policy(mut self, policy: ParentClosePolicy) -> Self {
        self.parent_close_policy = policy;
        self
    }

    /// Starts the child now and returns the future of its result.
    pub fn start(self) -> ChildFuture<W> {
        let mut s = self.state.borrow_mut();
        s.forbid_in_query("ctx.child()");
        s.seqs.child += 1;
        let seq = s.seqs.child;
        let workflow_id = self
            .workflow_id
            .unwrap_or_else(|| WorkflowId::new(format!("{}-child-{seq}", s.info.workflow_id)));
        let slot = match payload::encode(&self.input, || format!("input of child workflow `{}`", W::NAME)) {
            Ok(input) => {
                let task_queue = self.task_queue.unwrap_or_else(|| s.info.task_queue.clone());
                s.commands.push(Command::StartChildWorkflow {
                    workflow_id: workflow_id.clone(),
                    workflow_type: W::NAME.to_owned(),
                    input,
                    task_queue,
                    parent_close_policy: self.parent_close_policy,
                });
                Slot::pending()
            }
            Err(e) => Slot::ready(Err(ChildError::StartFailed { cause: e.to_string() })),
        };
        s.children.insert(
            seq,
            ChildSlot {
                slot,
                workflow_id,
                workflow_type: W::NAME.to_owned(),
                run_id: None,
                cancel_requested: false,
            },
        );
        drop(s);
        ChildFuture {
            state: self.state,
            seq,
            _workflow: PhantomData,
        }
    }
}

impl<W: Workflow> IntoFuture for ChildCall<W> {
    type Output = Result<W::Output, ChildError>;
    type IntoFuture = ChildFuture<W>;

    fn into_future(self) -> ChildFuture<W> {
        self.start()
    }
}

/// The result of a child workflow.
#[must_use = "futures do nothing unless awaited"]
pub struct ChildFuture<W: Workflow> {
    state: Shared,
    seq: u32,
    _workflow: PhantomData<fn() -> W>,
}

impl<W: Workflow> std::fmt::Debug for ChildFuture<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildFuture")
            .field("workflow_type", &W::NAME)
            .field("seq", &self.seq)
            .finish()
    }
}

impl<W: Workflow> ChildFuture<W> {
    /// The child's workflow id.
    pub fn workflow_id(&self) -> Option<WorkflowId> {
        self.state
            .borrow()
            .children
            .get(&self.seq)
            .map(|c| c.workflow_id.clone())
    }

    /// Asks the child to cancel. The child decides how; this future completes when the child
    /// closes (usually with [`ChildError::Cancelled`]).
    pub fn cancel(&self) {
        let mut s = self.state.borrow_mut();
        let Some(child) = s.children.get_mut(&self.seq) else {
            return;
        };
        if child.cancel_requested || !matches!(child.slot.outcome, Outcome::Pending) {
            return;
        }
        child.cancel_requested = true;
        let workflow_id = child.workflow_id.clone();
        s.commands.push(Command::RequestCancelChild { workflow_id });
    }
}

impl<W: Workflow> Future for ChildFuture<W> {
    type Output = Result<W::Output, ChildError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.state.borrow_mut();
        let Some(child) = s.children.get_mut(&self.seq) else {
            return Poll::Pending;
        };
        if !matches!(child.slot.outcome, Outcome::Ready(_)) {
            child.slot.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let outcome = match s.children.remove(&self.seq).map(|c| c.slot.outcome) {
            Some(Outcome::Ready(outcome)) => outcome,
            _ => return Poll::Pending,
        };
        match outcome {
            Ok(result) => {
                match payload::decode_owned::<W::Output>(result, || {
                    format!("result of child workflow `{}`", W::NAME)
                }) {
                    Ok(output) => Poll::Ready(Ok(output)),
                    Err(e) => {
                        s.set_fatal(ActivationError::Payload(e));
                        Poll::Pending
                    }
                }
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<W: Workflow> Drop for ChildFuture<W> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.state.try_borrow_mut()
            && let Some(child) = s.children.get_mut(&self.seq)
            && child.slot.abandon()
        {
            s.children.remove(&self.seq);
        }
    }
}
