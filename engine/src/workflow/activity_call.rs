//! Scheduling activities from workflow code: `ctx.activity::<A>(input)` gives an
//! [`ActivityCall`] to set options on; awaiting it (or calling `start`) schedules the activity.

use super::state::{ActivitySlot, Outcome, Shared, Slot};
use crate::activity::{Activity, ActivityOptions};
use crate::command::Command;
use crate::failure::ActivityError;
use crate::ids::{ActivityId, TaskQueue};
use crate::payload;
use crate::replay::ActivationError;
use crate::retry::RetryPolicy;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// An activity about to be scheduled. Set options, then `.await` it or call [`start`](Self::start).
#[must_use = "an activity is scheduled only when awaited or started"]
pub struct ActivityCall<A: Activity> {
    state: Shared,
    input: A::Input,
    options: ActivityOptions,
}

impl<A: Activity> std::fmt::Debug for ActivityCall<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityCall")
            .field("activity_type", &A::NAME)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<A: Activity> ActivityCall<A> {
    pub(crate) fn new(state: Shared, input: A::Input, options: ActivityOptions) -> Self {
        ActivityCall {
            state,
            input,
            options,
        }
    }

    /// Replaces all options.
    pub fn options(mut self, options: ActivityOptions) -> Self {
        self.options = options;
        self
    }

    /// Limit on one attempt.
    pub fn start_to_close(mut self, timeout: Duration) -> Self {
        self.options.start_to_close_timeout = Some(timeout);
        self
    }

    /// Limit on all attempts together.
    pub fn schedule_to_close(mut self, timeout: Duration) -> Self {
        self.options.schedule_to_close_timeout = Some(timeout);
        self
    }

    /// Limit on waiting for a worker.
    pub fn schedule_to_start(mut self, timeout: Duration) -> Self {
        self.options.schedule_to_start_timeout = Some(timeout);
        self
    }

    /// Longest silence between heartbeats.
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.options.heartbeat_timeout = Some(timeout);
        self
    }

    /// The retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.options.retry_policy = policy;
        self
    }

    /// The task queue (the workflow's own by default).
    pub fn task_queue(mut self, queue: impl Into<TaskQueue>) -> Self {
        self.options.task_queue = Some(queue.into());
        self
    }

    /// Schedules the activity now and returns the future of its result.
    ///
    /// Options that cannot work (no close timeout, an invalid retry policy) or an input that
    /// does not encode resolve the future at once with [`ActivityError::InvalidOptions`];
    /// nothing is scheduled.
    pub fn start(self) -> ActivityFuture<A> {
        let ActivityCall {
            state,
            input,
            mut options,
        } = self;
        let mut s = state.borrow_mut();
        s.forbid_in_query("ctx.activity()");
        s.seqs.activity += 1;
        let seq = s.seqs.activity;
        let what = || format!("input of activity `{}`", A::NAME);
        let checked = options
            .validate()
            .map_err(|e| format!("activity `{}`: {e}", A::NAME))
            .and_then(|()| payload::encode(&input, what).map_err(|e| e.to_string()));
        let slot = match checked {
            Ok(input) => {
                options
                    .task_queue
                    .get_or_insert_with(|| s.info.task_queue.clone());
                s.commands.push(Command::ScheduleActivity {
                    activity_id: ActivityId::from_seq(seq),
                    activity_type: std::borrow::Cow::Borrowed(A::NAME),
                    input,
                    options,
                });
                Slot::pending()
            }
            Err(message) => Slot::ready(Err(ActivityError::InvalidOptions(message))),
        };
        s.activities.insert(
            seq,
            ActivitySlot {
                slot,
                scheduled_event_id: None,
                activity_type: A::NAME,
            },
        );
        drop(s);
        ActivityFuture {
            state,
            seq,
            _activity: PhantomData,
        }
    }
}

impl<A: Activity> IntoFuture for ActivityCall<A> {
    type Output = Result<A::Output, ActivityError>;
    type IntoFuture = ActivityFuture<A>;

    fn into_future(self) -> ActivityFuture<A> {
        self.start()
    }
}

/// The result of a scheduled activity, once the engine records it.
#[must_use = "futures do nothing unless awaited"]
pub struct ActivityFuture<A: Activity> {
    state: Shared,
    seq: u32,
    _activity: PhantomData<fn() -> A>,
}

impl<A: Activity> std::fmt::Debug for ActivityFuture<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityFuture")
            .field("activity_type", &A::NAME)
            .field("seq", &self.seq)
            .finish()
    }
}

impl<A: Activity> ActivityFuture<A> {
    /// Asks for the activity to be cancelled. The future completes at once with
    /// [`ActivityError::Cancelled`] (Temporal's try-cancel); the running attempt is told to
    /// stop, and whatever it reports later is ignored.
    pub fn cancel(&self) {
        let mut s = self.state.borrow_mut();
        let Some(activity) = s.activities.get(&self.seq) else {
            return;
        };
        if !matches!(activity.slot.outcome, Outcome::Pending) {
            return;
        }
        match activity.scheduled_event_id {
            Some(scheduled_event_id) => s
                .commands
                .push(Command::RequestCancelActivity { scheduled_event_id }),
            None => {
                // Scheduled in this same workflow task: withdraw the command instead.
                let id = ActivityId::from_seq(self.seq);
                s.commands.retain(
                    |c| !matches!(c, Command::ScheduleActivity { activity_id, .. } if *activity_id == id),
                );
            }
        }
        if let Some(activity) = s.activities.get_mut(&self.seq) {
            activity.slot.resolve(Err(ActivityError::Cancelled));
        }
    }
}

impl<A: Activity> Future for ActivityFuture<A> {
    type Output = Result<A::Output, ActivityError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.state.borrow_mut();
        let Some(activity) = s.activities.get_mut(&self.seq) else {
            // Polled again after completion: a bug in a hand-written combinator.
            return Poll::Pending;
        };
        if !matches!(activity.slot.outcome, Outcome::Ready(_)) {
            activity.slot.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        // Taken: the slot goes, so the run's state stays as small as what is still pending.
        let outcome = match s.activities.remove(&self.seq).map(|a| a.slot.outcome) {
            Some(Outcome::Ready(outcome)) => outcome,
            _ => return Poll::Pending,
        };
        match outcome {
            Ok(result) => {
                match payload::decode_owned::<A::Output>(result, || {
                    format!("result of activity `{}`", A::NAME)
                }) {
                    Ok(output) => Poll::Ready(Ok(output)),
                    Err(e) => {
                        // The recorded result does not fit the declared type: the workflow
                        // task fails, loudly, rather than the workflow seeing a made-up error.
                        s.set_fatal(ActivationError::Payload(e));
                        Poll::Pending
                    }
                }
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<A: Activity> Drop for ActivityFuture<A> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.state.try_borrow_mut()
            && let Some(activity) = s.activities.get_mut(&self.seq)
            && activity.slot.abandon()
        {
            s.activities.remove(&self.seq);
        }
    }
}
