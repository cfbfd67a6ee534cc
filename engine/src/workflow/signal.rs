//! Receiving signals. Signals that arrive before the workflow listens are buffered in the run's
//! state (and so in history), never lost.

use super::Signal;
use super::state::{Shared, WaitFor};
use crate::payload::{self, PayloadError};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Receives signals of type `S`, oldest first.
pub struct SignalReceiver<S: Signal> {
    state: Shared,
    _signal: PhantomData<fn() -> S>,
}

impl<S: Signal> std::fmt::Debug for SignalReceiver<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalReceiver")
            .field("signal", &S::NAME)
            .finish()
    }
}

impl<S: Signal> SignalReceiver<S> {
    pub(crate) fn new(state: Shared) -> Self {
        SignalReceiver {
            state,
            _signal: PhantomData,
        }
    }

    /// Takes the oldest buffered signal, if any, without waiting.
    ///
    /// The payload comes from whoever sent the signal: one that does not deserialize into
    /// `S::Input` is an error for the workflow to handle (or to fail with, using `?`).
    pub fn try_recv(&self) -> Option<Result<S::Input, PayloadError>> {
        take_signal::<S>(&self.state)
    }

    /// Waits for the next signal.
    pub fn recv(&self) -> SignalFuture<S> {
        SignalFuture {
            state: self.state.clone(),
            waiter: None,
            _signal: PhantomData,
        }
    }
}

fn take_signal<S: Signal>(state: &Shared) -> Option<Result<S::Input, PayloadError>> {
    let payload = state.borrow_mut().signals.get_mut(S::NAME)?.pop_front()?;
    Some(payload::decode_owned(payload, || format!("signal `{}`", S::NAME)))
}

/// The next signal of type `S`.
#[must_use = "futures do nothing unless awaited"]
pub struct SignalFuture<S: Signal> {
    state: Shared,
    waiter: Option<u64>,
    _signal: PhantomData<fn() -> S>,
}

impl<S: Signal> std::fmt::Debug for SignalFuture<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalFuture").field("signal", &S::NAME).finish()
    }
}

impl<S: Signal> Future for SignalFuture<S> {
    type Output = Result<S::Input, PayloadError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(signal) = take_signal::<S>(&self.state) {
            if let Some(key) = self.waiter.take() {
                self.state.borrow_mut().waiters.remove(&key);
            }
            return Poll::Ready(signal);
        }
        let mut s = self.state.borrow_mut();
        match self.waiter.and_then(|key| s.waiters.get_mut(&key)) {
            Some(waiter) => waiter.waker = cx.waker().clone(),
            None => {
                let key = s.add_waiter(WaitFor::Signal(S::NAME), cx.waker().clone());
                drop(s);
                self.waiter = Some(key);
            }
        }
        Poll::Pending
    }
}

impl<S: Signal> Drop for SignalFuture<S> {
    fn drop(&mut self) {
        if let Some(key) = self.waiter
            && let Ok(mut s) = self.state.try_borrow_mut()
        {
            s.waiters.remove(&key);
        }
    }
}
