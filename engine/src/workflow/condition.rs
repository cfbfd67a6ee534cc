//! Waiting on the workflow's own state: `ctx.condition(pred)`, with or without a timeout, and
//! `ctx.cancelled()`. The executor re-evaluates pending predicates after every change it
//! applies, so a condition over state set by a signal handler completes in the same task.

use super::state::{Shared, WaitFor};
use super::timer::Timer;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Completes when its predicate returns true.
#[must_use = "futures do nothing unless awaited"]
pub struct Condition {
    state: Shared,
    pred: Rc<dyn Fn() -> bool>,
    wait_for: fn(&Rc<dyn Fn() -> bool>) -> WaitFor,
    waiter: Option<u64>,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("waiter", &self.waiter)
            .finish_non_exhaustive()
    }
}

impl Condition {
    pub(crate) fn new(state: Shared, pred: Rc<dyn Fn() -> bool>) -> Condition {
        Condition {
            state,
            pred,
            wait_for: |pred| WaitFor::Condition(pred.clone()),
            waiter: None,
        }
    }

    /// Completes once the run has a cancellation request.
    pub(crate) fn cancel_requested(state: Shared) -> Condition {
        let flag = state.clone();
        Condition {
            state,
            pred: Rc::new(move || flag.borrow().cancel_requested),
            wait_for: |_| WaitFor::Cancel,
            waiter: None,
        }
    }
}

impl Future for Condition {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The predicate is user code: call it with the state not borrowed.
        if (self.pred)() {
            if let Some(key) = self.waiter.take() {
                self.state.borrow_mut().waiters.remove(&key);
            }
            return Poll::Ready(());
        }
        let mut s = self.state.borrow_mut();
        match self.waiter.and_then(|key| s.waiters.get_mut(&key)) {
            Some(waiter) => {
                waiter.waker = cx.waker().clone();
                waiter.woken = false;
            }
            None => {
                let key = s.add_waiter((self.wait_for)(&self.pred), cx.waker().clone());
                drop(s);
                self.waiter = Some(key);
            }
        }
        Poll::Pending
    }
}

impl Drop for Condition {
    fn drop(&mut self) {
        if let Some(key) = self.waiter
            && let Ok(mut s) = self.state.try_borrow_mut()
        {
            s.waiters.remove(&key);
        }
    }
}

/// Completes with `true` when its predicate holds, or `false` when the timeout fires first.
/// The timer is cancelled when the predicate wins.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct ConditionWithTimeout {
    condition: Condition,
    timer: Timer,
}

impl ConditionWithTimeout {
    pub(crate) fn new(condition: Condition, timer: Timer) -> Self {
        ConditionWithTimeout { condition, timer }
    }
}

impl Future for ConditionWithTimeout {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        // The condition is checked first, so a signal and a timeout in the same workflow task
        // resolve in favour of the signal, deterministically.
        if Pin::new(&mut self.condition).poll(cx).is_ready() {
            self.timer.cancel();
            return Poll::Ready(true);
        }
        if Pin::new(&mut self.timer).poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        Poll::Pending
    }
}
