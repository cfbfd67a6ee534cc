//! [`Sleep`]: the future of [`Clock::sleep_until`](super::Clock::sleep_until).
//!
//! A clock with timers of its own (the simulator's) hands out sleeps that poll those timers
//! through [`Timers`], so that a sleep costs no allocation: the engine, its worker and the
//! simulated storage and network sleep on every poll, commit and message, and a boxed future
//! per sleep was a measurable share of a simulation's allocations. Any other clock (tokio's)
//! wraps its own future with [`Sleep::boxed`].

use crate::time::Timestamp;
use futures::future::BoxFuture;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Timers a [`Sleep`] can wait on without a future of its own.
pub trait Timers: Send + Sync + 'static {
    /// Ready once `deadline` has come; otherwise arranges for `cx`'s waker to be woken then.
    /// `registration` is the timer's handle between polls: `None` before the first, set by
    /// the implementation when it registers the timer.
    fn poll_timer(
        &self,
        deadline: Timestamp,
        registration: &mut Option<u64>,
        cx: &mut Context<'_>,
    ) -> Poll<()>;

    /// Forgets the timer `registration` of `deadline`: its sleep was dropped before waking.
    fn cancel_timer(&self, deadline: Timestamp, registration: u64);
}

/// Completes at or after a deadline. `Unpin`, so it can be raced with `select` as it is.
pub struct Sleep {
    inner: Inner,
}

enum Inner {
    Timer {
        timers: Arc<dyn Timers>,
        deadline: Timestamp,
        registration: Option<u64>,
    },
    Boxed(BoxFuture<'static, ()>),
}

impl Sleep {
    /// A sleep until `deadline` on `timers`.
    pub fn on_timers(timers: Arc<dyn Timers>, deadline: Timestamp) -> Sleep {
        Sleep {
            inner: Inner::Timer {
                timers,
                deadline,
                registration: None,
            },
        }
    }

    /// A sleep that is `future` (a clock without [`Timers`]).
    pub fn boxed(future: impl Future<Output = ()> + Send + 'static) -> Sleep {
        Sleep {
            inner: Inner::Boxed(Box::pin(future)),
        }
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Timer { deadline, .. } => f.debug_struct("Sleep").field("deadline", deadline).finish(),
            Inner::Boxed(_) => f.debug_struct("Sleep").finish_non_exhaustive(),
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.get_mut().inner {
            Inner::Timer {
                timers,
                deadline,
                registration,
            } => {
                let done = timers.poll_timer(*deadline, registration, cx);
                if done.is_ready() {
                    // Woken: nothing left to cancel.
                    *registration = None;
                }
                done
            }
            Inner::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Inner::Timer {
            timers,
            deadline,
            registration: Some(registration),
        } = &self.inner
        {
            timers.cancel_timer(*deadline, *registration);
        }
    }
}
