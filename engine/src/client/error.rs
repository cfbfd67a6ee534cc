//! What a client call, and waiting for a workflow's result, can fail with.

use crate::failure::Failure;
use crate::payload::PayloadError;
use crate::service::ServiceError;

/// Why a client call failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The service refused the call, or could not be reached after the retries.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// An input did not encode, or an answer did not decode into its declared type.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The service answered with a response of the wrong kind: a transport or version bug.
    #[error("unexpected response to {request}: {response}")]
    UnexpectedResponse {
        /// The call made.
        request: &'static str,
        /// What came back, in debug form.
        response: String,
    },
}

impl ClientError {
    /// True when the same call may succeed later (the service was unavailable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClientError::Service(e) if e.is_retryable())
    }
}

/// Why a workflow produced no result.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WorkflowFailure {
    /// The workflow failed.
    #[error("workflow failed: {0}")]
    Failed(Failure),
    /// The workflow accepted a cancellation.
    #[error("workflow was cancelled")]
    Canceled,
    /// The workflow was terminated, for this reason.
    #[error("workflow was terminated: {0}")]
    Terminated(String),
    /// The workflow timed out.
    #[error("workflow timed out")]
    TimedOut,
    /// Waiting for the result failed, or the result did not decode.
    #[error(transparent)]
    Client(#[from] ClientError),
}
