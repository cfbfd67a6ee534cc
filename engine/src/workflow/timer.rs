//! Durable timers: `ctx.sleep(d)`.

use super::state::{Outcome, Shared, Slot, TimerSlot};
use crate::command::Command;
use crate::ids::TimerId;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A durable timer. Completes when it fires, or at once when cancelled.
#[must_use = "a timer does nothing unless awaited"]
#[derive(Debug)]
pub struct Timer {
    state: Shared,
    seq: u32,
}

impl Timer {
    pub(crate) fn start(state: &Shared, duration: Duration) -> Timer {
        let mut s = state.borrow_mut();
        s.forbid_in_query("ctx.sleep()");
        s.seqs.timer += 1;
        let seq = s.seqs.timer;
        let timer_id = TimerId::from_seq(seq);
        // A zero timer fires at once without a command, as it could not wait anyway.
        let slot = if duration.is_zero() {
            Slot::ready(())
        } else {
            s.commands.push(Command::StartTimer {
                timer_id: timer_id.clone(),
                duration,
            });
            Slot::pending()
        };
        s.timers.insert(
            seq,
            TimerSlot {
                slot,
                timer_id,
                recorded: false,
            },
        );
        drop(s);
        Timer {
            state: state.clone(),
            seq,
        }
    }

    /// Cancels the timer if it has not fired: the timer completes at once and, if it was
    /// already recorded, a `TimerCanceled` event is recorded.
    pub fn cancel(&self) {
        let mut s = self.state.borrow_mut();
        let Some(timer) = s.timers.get(&self.seq) else {
            return;
        };
        if !matches!(timer.slot.outcome, Outcome::Pending) {
            return;
        }
        let (recorded, timer_id) = (timer.recorded, timer.timer_id.clone());
        if recorded {
            s.commands.push(Command::CancelTimer { timer_id });
        } else {
            // Started in this same workflow task: withdraw the start instead.
            s.commands
                .retain(|c| !matches!(c, Command::StartTimer { timer_id: id, .. } if *id == timer_id));
        }
        if let Some(timer) = s.timers.get_mut(&self.seq) {
            timer.slot.resolve(());
        }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.state.borrow_mut();
        let Some(timer) = s.timers.get_mut(&self.seq) else {
            return Poll::Ready(());
        };
        if matches!(timer.slot.outcome, Outcome::Pending) {
            timer.slot.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let id = timer.timer_id.clone();
        s.timers.remove(&self.seq);
        s.timer_by_id.remove(&id);
        Poll::Ready(())
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // A dropped timer no longer holds the workflow up; it still fires in history.
        if let Ok(mut s) = self.state.try_borrow_mut()
            && let Some(timer) = s.timers.get_mut(&self.seq)
            && timer.slot.abandon()
        {
            // Fired or cancelled, and not taken: no event will look it up again.
            if let Some(timer) = s.timers.remove(&self.seq) {
                s.timer_by_id.remove(&timer.timer_id);
            }
        }
    }
}
