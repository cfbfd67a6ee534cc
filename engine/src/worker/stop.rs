//! Racing the worker's work against its stop token, cheaply.
//!
//! A worker's polls, slot waits and handed-over tasks each race the stop token, so its future
//! is polled on every poll of theirs (a simulation polls them thousands of times per run).
//! The token's own future ([`CancellationToken::cancelled`]) takes a lock and looks at tokio's
//! waiter list on every poll; here it is polled only to register the task's waker (on the
//! first pending poll, and when another waker polls), and a poll by the registered task reads
//! the token's flag instead: the token wakes that waker when it is cancelled, and the flag
//! then says so. Same answers, in the same order, as the token's futures.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::{Poll, Waker};
use tokio_util::sync::CancellationToken;

/// Runs `future` until it completes, or `None` once `stop` is cancelled: what
/// [`CancellationToken::run_until_cancelled`] does, with its fairness (a token cancelled
/// already gives `None` at once; after that, a future that completes at the poll where the
/// token is found cancelled gives its output).
pub(super) async fn until_stopped<F: Future>(stop: &CancellationToken, future: F) -> Option<F::Output> {
    if stop.is_cancelled() {
        return None;
    }
    let mut future = pin!(future);
    let mut cancelled = pin!(stop.cancelled());
    // The waker the token's future registered, once it has.
    let mut registered: Option<Waker> = None;
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            return match stop.is_cancelled() {
                true => Poll::Ready(None),
                false => Poll::Pending,
            };
        }
        if cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        registered = Some(cx.waker().clone());
        Poll::Pending
    })
    .await
}

/// Completes once `stop` is cancelled, as [`CancellationToken::cancelled`] does.
pub(super) async fn stopped(stop: &CancellationToken) {
    until_stopped(stop, std::future::pending::<()>()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use futures::task::noop_waker_ref;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake};

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_token_cancelled_already_stops_before_the_future_runs() {
        let stop = CancellationToken::new();
        stop.cancel();
        let mut ran = false;
        let outcome = until_stopped(&stop, async { ran = true }).now_or_never();
        assert_eq!(outcome, Some(None));
        assert!(!ran);
    }

    #[test]
    fn the_future_s_output_comes_through_while_not_stopped() {
        let stop = CancellationToken::new();
        assert_eq!(until_stopped(&stop, async { 7 }).now_or_never(), Some(Some(7)));
    }

    #[test]
    fn a_cancel_while_waiting_stops_the_wait() {
        let stop = CancellationToken::new();
        let mut waiting = pin!(until_stopped(&stop, std::future::pending::<()>()));
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        // Polled again by the same waker: the flag is read, and still says no.
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        stop.cancel();
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(None));
        assert_eq!(stopped(&stop).now_or_never(), Some(()));
    }

    #[test]
    fn a_cancel_wakes_the_waiting_task() {
        let stop = CancellationToken::new();
        let woken = Arc::new(Counting::default());
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut waiting = pin!(stopped(&stop));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert_eq!(woken.0.load(Ordering::SeqCst), 0);
        stop.cancel();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert!(waiting.as_mut().poll(&mut cx).is_ready());
    }
}
