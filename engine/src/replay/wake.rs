//! The waker the executor gives a workflow: it records that a re-poll is needed, and whether
//! a wake-up came from outside an activation (which the engine did not cause).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Wake;

#[derive(Debug, Default)]
pub(crate) struct WakeFlags {
    woken: AtomicBool,
    in_activation: AtomicBool,
    woken_outside: AtomicBool,
}

impl WakeFlags {
    /// Marks the start or end of an activation: wake-ups in between come from the engine.
    pub fn set_in_activation(&self, inside: bool) {
        self.in_activation.store(inside, Ordering::SeqCst);
    }

    /// Clears and returns the "re-poll needed" flag.
    pub fn take_woken(&self) -> bool {
        self.woken.swap(false, Ordering::SeqCst)
    }

    /// Forces a poll.
    pub fn request_poll(&self) {
        self.woken.store(true, Ordering::SeqCst);
    }

    /// Clears and returns the "woken from outside" flag.
    pub fn take_woken_outside(&self) -> bool {
        self.woken_outside.swap(false, Ordering::SeqCst)
    }
}

impl Wake for WakeFlags {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if !self.in_activation.load(Ordering::SeqCst) {
            self.woken_outside.store(true, Ordering::SeqCst);
        }
    }
}
