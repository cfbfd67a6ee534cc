//! Errors of the service's calls: each names what is wrong and says whether a retry can help.

use crate::ids::{RunId, WorkflowId};
use crate::payload::PayloadError;
use crate::storage::StorageError;
use serde::{Deserialize, Serialize};

/// Why a call to the service failed. `<&str>::from(&error)` is the variant name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize, strum::IntoStaticStr)]
pub enum ServiceError {
    /// No such workflow id, or no such run of it.
    #[error("workflow {workflow_id} not found{}", .run_id.as_ref().map(|r| format!(" (run {r})")).unwrap_or_default())]
    WorkflowNotFound {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The run asked for, if any.
        run_id: Option<RunId>,
    },
    /// A start found a run of the id that the id-reuse policy does not allow to follow.
    #[error("workflow {workflow_id} already started (run {run_id})")]
    AlreadyStarted {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The existing run.
        run_id: RunId,
    },
    /// The run is closed: it takes no signals, cancels or terminates.
    #[error("workflow {workflow_id} run {run_id} is already closed")]
    NotRunning {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The run.
        run_id: RunId,
    },
    /// No worker polling the queue handles this workflow type.
    #[error("unknown workflow type `{workflow_type}` on task queue {task_queue} (workers there handle: {})", .known.join(", "))]
    UnknownWorkflowType {
        /// The type asked for.
        workflow_type: String,
        /// The queue.
        task_queue: String,
        /// The types workers registered for that queue.
        known: Vec<String>,
    },
    /// A task completion or heartbeat for an attempt that is no longer current (late,
    /// duplicate, or after a timeout). Nothing changed.
    #[error("stale task: {0}")]
    StaleTask(String),
    /// A request that cannot be carried out as asked (a command with invalid attributes...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A bound of `limits.rs` would be exceeded.
    #[error("limit exceeded: {what} (limit {limit})")]
    LimitExceeded {
        /// What.
        what: String,
        /// The bound.
        limit: usize,
    },
    /// A payload is too large or malformed.
    #[error("{0}")]
    Payload(PayloadError),
    /// A query could not be answered.
    #[error("query failed: {0}")]
    QueryFailed(String),
    /// Storage failed; see `StorageError::is_retryable`.
    #[error("{0}")]
    Storage(StorageError),
    /// The service could not be reached or is shutting down. Retry.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A server that requires a token got none, or a wrong one (network transports). A
    /// retry with the same credentials fails the same way.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
}

impl ServiceError {
    /// True when retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ServiceError::Storage(e) => e.is_retryable(),
            ServiceError::Unavailable(_) => true,
            _ => false,
        }
    }
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> ServiceError {
        ServiceError::Storage(e)
    }
}

impl From<PayloadError> for ServiceError {
    fn from(e: PayloadError) -> ServiceError {
        ServiceError::Payload(e)
    }
}

/// Result of a service call.
pub type ServiceResult<T> = Result<T, ServiceError>;
