//! Why an activation failed. A non-determinism error carries a structured report a user can
//! act on; every other variant names the workflow and what went wrong.

use crate::history::{HistoryError, WorkflowTaskFailedCause};
use crate::ids::{EventId, RunId, WorkflowId};
use crate::payload::PayloadError;
use crate::registry::UnknownType;
use std::fmt::Write as _;

/// How the code's commands and the history's events disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MismatchKind {
    /// The history has one command event where the code issues a different command.
    Changed,
    /// The history has a command event the code no longer issues.
    MissingFromCode,
    /// The code issues a command the history does not have.
    NotInHistory,
}

/// One step that replayed fine, shown before a divergence for context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedStep {
    /// The recorded event.
    pub event_id: EventId,
    /// The event in the words of the report (`ActivityTaskScheduled(reserve_inventory)`).
    pub description: String,
}

/// The code no longer produces the history it produced before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nondeterminism {
    /// The workflow id.
    pub workflow_id: WorkflowId,
    /// The run id.
    pub run_id: RunId,
    /// The workflow type.
    pub workflow_type: String,
    /// The event where replay diverged.
    pub event_id: EventId,
    /// The workflow task (1-based, counting the tasks the code ran) where it diverged.
    pub workflow_task: u32,
    /// The kind of divergence.
    pub kind: MismatchKind,
    /// What history recorded at that point.
    pub expected: Option<String>,
    /// What the code does now.
    pub actual: Option<String>,
    /// The verb for `actual` ("schedules", "starts", ...).
    pub actual_verb: &'static str,
    /// The last steps that matched, oldest first.
    pub matched_before: Vec<MatchedStep>,
    /// A suggestion, when the shape of the divergence suggests one.
    pub hint: Option<String>,
}

impl Nondeterminism {
    /// The one-line summary.
    pub fn summary(&self) -> String {
        let what = match (self.kind, &self.expected, &self.actual) {
            (MismatchKind::Changed, Some(e), Some(a)) => {
                format!(
                    "event {} is {e} but the code now {} {a} at this point",
                    self.event_id, self.actual_verb
                )
            }
            (MismatchKind::MissingFromCode, Some(e), _) => {
                format!("event {} is {e} but the code no longer issues it", self.event_id)
            }
            (_, _, Some(a)) => format!(
                "the code now {} {a} after event {}, but history has no such event there",
                self.actual_verb, self.event_id
            ),
            _ => format!("replay diverged at event {}", self.event_id),
        };
        format!(
            "non-deterministic workflow `{}` (type {}, run {}): {what} (workflow task {})",
            self.workflow_id, self.workflow_type, self.run_id, self.workflow_task
        )
    }

    /// A multi-line report: the summary, the steps that matched before, and a hint.
    pub fn report(&self) -> String {
        let mut out = self.summary();
        if !self.matched_before.is_empty() {
            out.push_str("\n  replayed fine before that:");
            for step in &self.matched_before {
                let _ = write!(out, "\n    event {:>4}  {}", step.event_id, step.description);
            }
        }
        let _ = write!(
            out,
            "\n  history: {}\n  code:    {}",
            self.expected.as_deref().unwrap_or("(nothing)"),
            self.actual.as_deref().unwrap_or("(nothing)")
        );
        if let Some(hint) = &self.hint {
            let _ = write!(out, "\n  hint: {hint}");
        }
        out
    }
}

impl std::fmt::Display for Nondeterminism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

/// How workflow code escaped the engine's control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// The workflow is blocked, and no durable future (activity, timer, signal, condition,
    /// child) is waiting: it awaits something the engine will never complete.
    BlockedOutsideEngine,
    /// Something other than the engine woke the workflow (a tokio timer, a channel fed by
    /// another thread).
    WokenOutsideEngine,
}

/// Workflow code used a source of non-determinism the engine cannot record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeterminismViolation {
    /// The workflow id.
    pub workflow_id: WorkflowId,
    /// The workflow type.
    pub workflow_type: String,
    /// What happened.
    pub kind: ViolationKind,
}

impl std::fmt::Display for DeterminismViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            ViolationKind::BlockedOutsideEngine => {
                "is blocked on a future the engine does not drive (a tokio sleep, a channel, I/O?)"
            }
            ViolationKind::WokenOutsideEngine => {
                "was woken by something other than the engine (a tokio timer, a channel, another thread?)"
            }
        };
        write!(
            f,
            "determinism violation: workflow `{}` (type {}) {what}; \
             use ctx.sleep, activities, signals and ctx.condition instead",
            self.workflow_id, self.workflow_type
        )
    }
}

/// Why an activation of a workflow instance failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ActivationError {
    /// The code's commands do not match the history.
    #[error("{0}")]
    Nondeterminism(Box<Nondeterminism>),
    /// The code escaped the engine's control.
    #[error("{0}")]
    DeterminismViolation(Box<DeterminismViolation>),
    /// The workflow code panicked.
    #[error("workflow `{workflow_id}` (type {workflow_type}) panicked: {message}")]
    Panic {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The workflow type.
        workflow_type: String,
        /// The panic message.
        message: String,
    },
    /// A payload did not decode into its declared type.
    #[error("{0}")]
    Payload(#[from] PayloadError),
    /// The history given to the instance is inconsistent.
    #[error("{0}")]
    History(#[from] HistoryError),
    /// The history names a workflow type this worker does not have.
    #[error("{0}")]
    UnknownWorkflowType(#[from] UnknownType),
    /// The instance ran a workflow task that then failed or timed out: its state is ahead of
    /// history. Drop it and replay from history.
    #[error("workflow `{workflow_id}`: cached instance is stale ({reason}); replay it from history")]
    StaleInstance {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// What made it stale.
        reason: String,
    },
    /// An earlier activation of this instance failed; it must be rebuilt from history.
    #[error("workflow `{workflow_id}`: instance failed earlier ({first_error}); replay it from history")]
    Poisoned {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The earlier failure.
        first_error: String,
    },
    /// The workflow kept waking itself without ever blocking.
    #[error(
        "workflow `{workflow_id}` did not settle after {polls} polls in one workflow task (a busy loop?)"
    )]
    Livelock {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// How many polls ran.
        polls: usize,
    },
}

impl ActivationError {
    /// The cause an engine records on `WorkflowTaskFailed` for this error.
    pub fn task_failed_cause(&self) -> WorkflowTaskFailedCause {
        match self {
            ActivationError::Nondeterminism(_) | ActivationError::DeterminismViolation(_) => {
                WorkflowTaskFailedCause::NonDeterminism
            }
            ActivationError::Panic { .. } | ActivationError::Livelock { .. } => {
                WorkflowTaskFailedCause::WorkflowPanic
            }
            ActivationError::Payload(_)
            | ActivationError::History(_)
            | ActivationError::UnknownWorkflowType(_)
            | ActivationError::StaleInstance { .. }
            | ActivationError::Poisoned { .. } => WorkflowTaskFailedCause::BadPayload,
        }
    }

    /// The structured non-determinism report, if this is one.
    pub fn as_nondeterminism(&self) -> Option<&Nondeterminism> {
        match self {
            ActivationError::Nondeterminism(n) => Some(n),
            _ => None,
        }
    }
}
