//! Retrying calls through a transport: a call whose error says a retry may help is sent
//! again, unchanged (so with the same request id or task token, which makes it idempotent at
//! the service), after a backoff measured on the environment's clock.

use crate::env::Clock;
use crate::service::{Request, Response, ServiceError, Transport};
use std::time::Duration;

/// How many times, and how far apart, a retryable call is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRetry {
    /// Attempts in all, the first included (at least 1 is always made).
    pub max_attempts: u32,
    /// The wait before the first retry.
    pub initial_backoff: Duration,
    /// The longest wait between attempts; waits double up to it.
    pub max_backoff: Duration,
}

impl Default for CallRetry {
    fn default() -> Self {
        CallRetry {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl CallRetry {
    /// The wait after `backoff`: doubled, capped at `max_backoff`.
    pub(crate) fn next_backoff(&self, backoff: Duration) -> Duration {
        backoff.saturating_mul(2).min(self.max_backoff)
    }
}

/// Sends `request`, retrying retryable errors as `retry` says. Backoff is deterministic (no
/// jitter), so simulated runs repeat exactly.
///
/// A function returning an `async move` block rather than an `async fn`: an `async fn`
/// keeps its by-value arguments in its future besides the locals they are moved into, which
/// stored the 192-byte [`Request`] twice in every call's future (and in every worker task
/// awaiting one).
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would hold the request twice in its future"
)]
pub(crate) fn call<'a>(
    transport: &'a dyn Transport,
    clock: &'a dyn Clock,
    retry: &'a CallRetry,
    request: Request,
) -> impl Future<Output = Result<Response, ServiceError>> + 'a {
    async move {
        let mut backoff = retry.initial_backoff;
        let mut attempt = 1;
        loop {
            match transport.call(request.clone()).await {
                Err(e) if e.is_retryable() && attempt < retry.max_attempts => {
                    clock.sleep_until(clock.now().plus(backoff)).await;
                    backoff = retry.next_backoff(backoff);
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}
