//! Errors that workflow and activity code return, and the `Failure` form they take in history.
//!
//! Retryable vs terminal is explicit: an activity error is retried by its retry policy unless it
//! is marked non-retryable or its `error_type` is listed in the policy's non-retryable types.

use crate::ids::TaskQueue;
use crate::payload::{Payload, PayloadError};
use serde::{Deserialize, Serialize};

/// A failure as recorded in history (`ActivityTaskFailed`, `WorkflowExecutionFailed`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// Human-readable message.
    pub message: String,
    /// The error's type name, matched by retry policies (`"CardDeclined"`).
    pub error_type: String,
    /// When true, no retry policy retries this failure.
    #[serde(default)]
    pub non_retryable: bool,
    /// Structured details for the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Payload>,
}

impl Failure {
    /// A failure with a type name and a message.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            error_type: error_type.into(),
            non_retryable: false,
            details: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

/// Which activity timeout fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeoutType {
    /// One attempt ran longer than its start-to-close timeout.
    StartToClose,
    /// All attempts together ran longer than the schedule-to-close timeout.
    ScheduleToClose,
    /// No worker picked the task up within the schedule-to-start timeout.
    ScheduleToStart,
    /// The attempt stopped heartbeating for longer than the heartbeat timeout.
    Heartbeat,
}

impl std::fmt::Display for TimeoutType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            TimeoutType::StartToClose => "start-to-close",
            TimeoutType::ScheduleToClose => "schedule-to-close",
            TimeoutType::ScheduleToStart => "schedule-to-start",
            TimeoutType::Heartbeat => "heartbeat",
        };
        f.write_str(s)
    }
}

/// The error of an activity: what activity code returns, and what a workflow awaiting the
/// activity sees once retries are exhausted.
#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum ActivityError {
    /// The activity's code failed.
    #[error("{}", .0)]
    Application(Failure),
    /// A timeout fired and the retry policy gave up.
    #[error("activity timed out ({0})")]
    TimedOut(TimeoutType),
    /// The activity was cancelled.
    #[error("activity was cancelled")]
    Cancelled,
    /// The workflow asked for the activity with options that cannot work (no close timeout,
    /// an invalid retry policy, an input that does not serialize). Nothing was scheduled.
    #[error("activity not scheduled: {0}")]
    InvalidOptions(String),
}

impl ActivityError {
    /// A failure the retry policy may retry.
    pub fn retryable(error_type: impl Into<String>, message: impl Into<String>) -> ActivityError {
        ActivityError::Application(Failure::new(error_type, message))
    }

    /// A failure that is never retried.
    pub fn non_retryable(error_type: impl Into<String>, message: impl Into<String>) -> ActivityError {
        ActivityError::Application(Failure {
            non_retryable: true,
            ..Failure::new(error_type, message)
        })
    }

    /// Attaches structured details (only to application failures).
    pub fn with_details(mut self, details: Payload) -> ActivityError {
        if let ActivityError::Application(f) = &mut self {
            f.details = Some(details);
        }
        self
    }

    /// The error type name a retry policy matches, if this is an application failure.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            ActivityError::Application(f) => Some(&f.error_type),
            _ => None,
        }
    }
}

/// How a workflow run ends other than by returning a value.
#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum WorkflowError {
    /// The workflow failed; the run closes with `WorkflowExecutionFailed`.
    #[error("workflow failed: {0}")]
    Failed(Failure),
    /// The workflow accepted a cancellation request; the run closes with
    /// `WorkflowExecutionCanceled`.
    #[error("workflow cancelled")]
    Cancelled,
    /// The run closes and a new run of the same workflow id starts with a fresh history.
    /// Build it with `WorkflowCtx::continue_as_new`.
    #[error("workflow continues as new ({})", .0.workflow_type)]
    ContinueAsNew(Box<ContinueAsNew>),
}

impl WorkflowError {
    /// A workflow failure with a type name and a message.
    pub fn fail(error_type: impl Into<String>, message: impl Into<String>) -> WorkflowError {
        WorkflowError::Failed(Failure::new(error_type, message))
    }
}

/// What the next run of a continued-as-new workflow starts with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinueAsNew {
    /// The workflow type of the new run.
    pub workflow_type: String,
    /// The input of the new run.
    pub input: Payload,
    /// The task queue of the new run; the current one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_queue: Option<TaskQueue>,
}

impl From<ActivityError> for WorkflowError {
    /// Lets workflow code propagate an activity failure with `?`. A cancelled activity becomes a
    /// cancelled workflow, as in Temporal; anything else fails the workflow.
    fn from(e: ActivityError) -> WorkflowError {
        match e {
            ActivityError::Application(f) => WorkflowError::Failed(f),
            ActivityError::Cancelled => WorkflowError::Cancelled,
            ActivityError::TimedOut(t) => {
                WorkflowError::fail("ActivityTimeout", format!("activity timed out ({t})"))
            }
            ActivityError::InvalidOptions(m) => WorkflowError::fail("InvalidActivityOptions", m),
        }
    }
}

impl From<PayloadError> for WorkflowError {
    fn from(e: PayloadError) -> WorkflowError {
        WorkflowError::Failed(Failure {
            non_retryable: true,
            ..Failure::new("PayloadError", e.to_string())
        })
    }
}

/// The result type of workflow code.
pub type WorkflowResult<T> = Result<T, WorkflowError>;
