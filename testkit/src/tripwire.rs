//! [`Tripwire`]: a one-shot kill switch for the simulated cluster's nodes, with the semantics
//! of a `CancellationToken` without children and at a fraction of its cost.
//!
//! The cluster races every spawned activity attempt, every call into the engine, each worker
//! and the engine's timer loop against such a switch, so its future is polled on every poll of
//! those tasks: a token's future takes a lock and walks tokio's waiter list each time, where
//! [`Tripped`] reads one atomic flag and compares its waker with the one it registered.
//!
//! Waking is what a token does, so that a simulation runs the same: [`Tripwire::trip`] wakes
//! every waiting future once, oldest registration first (a future registers on its first
//! pending poll and leaves the list when dropped).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A one-shot switch; clones share it. See the module documentation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tripwire {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tripped: AtomicBool,
    waiters: Mutex<Waiters>,
}

/// The waiting futures by registration number, oldest first.
#[derive(Debug, Default)]
struct Waiters {
    next: u64,
    list: Vec<(u64, Waker)>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // Nothing panics while holding the lock; the list stays meaningful if something did.
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Tripwire {
    /// A switch not tripped.
    pub(crate) fn new() -> Tripwire {
        Tripwire::default()
    }

    /// Trips the switch (once: later calls do nothing) and wakes every waiting future.
    pub(crate) fn trip(&self) {
        if self.inner.tripped.swap(true, Ordering::AcqRel) {
            return;
        }
        let waiters = std::mem::take(&mut self.inner.lock().list);
        // Woken with the lock released: a woken future may be polled, or dropped, at once.
        for (_, waker) in waiters {
            waker.wake();
        }
    }

    /// Completes once the switch is tripped.
    pub(crate) fn tripped(&self) -> Tripped<'_> {
        Tripped {
            inner: &self.inner,
            registration: None,
        }
    }
}

/// The future of [`Tripwire::tripped`].
#[derive(Debug)]
pub(crate) struct Tripped<'a> {
    inner: &'a Inner,
    /// Its number and the waker it registered, once it has waited.
    registration: Option<(u64, Waker)>,
}

impl Future for Tripped<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.inner.tripped.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        match &mut this.registration {
            // The common case, polled again by the same task: nothing to do.
            Some((_, waker)) if waker.will_wake(cx.waker()) => {}
            registration => {
                let mut waiters = this.inner.lock();
                // Tripped between the check and the lock: the trip has taken the list.
                if this.inner.tripped.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                let waker = cx.waker().clone();
                match registration {
                    Some((number, registered)) => {
                        if let Some(entry) = waiters.list.iter_mut().find(|(n, _)| n == number) {
                            entry.1 = waker.clone();
                        }
                        *registered = waker;
                    }
                    None => {
                        waiters.next += 1;
                        let number = waiters.next;
                        waiters.list.push((number, waker.clone()));
                        *registration = Some((number, waker));
                    }
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for Tripped<'_> {
    fn drop(&mut self) {
        if let Some((number, _)) = &self.registration
            && !self.inner.tripped.load(Ordering::Acquire)
        {
            self.inner.lock().list.retain(|(n, _)| n != number);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_trip_wakes_each_waiting_future_once_and_completes_them() {
        let wire = Tripwire::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut first = Box::pin(wire.tripped());
        let mut second = Box::pin(wire.tripped());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(first.as_mut().poll(&mut cx).is_pending(), "polled again");
        assert!(second.as_mut().poll(&mut cx).is_pending());
        let dropped = {
            let mut gone = Box::pin(wire.tripped());
            assert!(gone.as_mut().poll(&mut cx).is_pending());
            wire.inner.lock().list.len()
        };
        assert_eq!(dropped, 3);
        assert_eq!(
            wire.inner.lock().list.len(),
            2,
            "a dropped future leaves the list"
        );
        assert_eq!(wire.tripped().now_or_never(), None, "not tripped yet");
        wire.clone().trip();
        wire.trip();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(first.as_mut().poll(&mut cx).is_ready());
        assert!(second.as_mut().poll(&mut cx).is_ready());
        assert_eq!(wire.tripped().now_or_never(), Some(()), "after the trip, at once");
    }

    #[test]
    fn a_future_polled_by_another_task_wakes_that_task_only() {
        let wire = Tripwire::new();
        let (before, after) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let (first_waker, second_waker) = (Waker::from(before.clone()), Waker::from(after.clone()));
        let mut moved = Box::pin(wire.tripped());
        assert!(
            moved
                .as_mut()
                .poll(&mut Context::from_waker(&first_waker))
                .is_pending()
        );
        assert!(
            moved
                .as_mut()
                .poll(&mut Context::from_waker(&second_waker))
                .is_pending()
        );
        assert_eq!(
            wire.inner.lock().list.len(),
            1,
            "one registration, its waker replaced"
        );
        wire.trip();
        assert_eq!(
            before.0.load(Ordering::SeqCst),
            0,
            "the task it left is not woken"
        );
        assert_eq!(after.0.load(Ordering::SeqCst), 1, "the task polling it now is");
    }
}
