//! Long polls that survive an unavailable service: a retryable error is retried for as long
//! as the worker runs, with a capped exponential backoff on the environment's clock, and the
//! wait stops as soon as the worker is asked to stop.

use super::stop::until_stopped;
use crate::client::excerpt;
use crate::env::Clock;
use crate::service::{Request, Response, ServiceError, Transport};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The first wait after a failed poll.
const BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// The longest wait between failed polls.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Sends the poll `request` until it gets an answer or a non-retryable error. `None` when
/// `stop` was cancelled first; a poll in flight is then abandoned (a task the service handed
/// out meanwhile is retried by the service when its lease or timeout lapses).
pub(super) async fn poll(
    transport: &dyn Transport,
    clock: &dyn Clock,
    stop: &CancellationToken,
    request: &Request,
) -> Option<Result<Response, ServiceError>> {
    let mut backoff = BACKOFF_INITIAL;
    loop {
        match until_stopped(stop, transport.call(request.clone())).await? {
            Err(e) if e.is_retryable() => {
                until_stopped(stop, clock.sleep_until(clock.now().plus(backoff))).await?;
                backoff = backoff.saturating_mul(2).min(BACKOFF_MAX);
            }
            result => return Some(result),
        }
    }
}

/// The error for a poll answered with a response of the wrong kind: a protocol bug the
/// worker cannot work around, so it stops.
pub(super) fn unexpected(request: &str, response: &Response) -> ServiceError {
    ServiceError::InvalidRequest(format!(
        "the service answered {request} with {}",
        excerpt(response)
    ))
}
