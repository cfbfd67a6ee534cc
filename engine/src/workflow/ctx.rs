//! `WorkflowCtx`: the workflow code's only door to the world.

use super::activity_call::ActivityCall;
use super::child::ChildCall;
use super::condition::{Condition, ConditionWithTimeout};
use super::signal::SignalReceiver;
use super::state::{Shared, WaitFor, WorkflowInfo};
use super::timer::Timer;
use super::{Query, Signal, Workflow};
use crate::activity::{Activity, ActivityOptions};
use crate::command::Command;
use crate::failure::{ContinueAsNew, WorkflowError};
use crate::history::Marker;
use crate::payload::{self, PayloadError};
use crate::time::Timestamp;
use rand_chacha::rand_core::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::rc::Rc;
use std::time::Duration;

/// The context of a workflow run. Owned, cheap to clone, and `!Send`: a run lives on the one
/// thread that replays it.
///
/// Everything that could differ between the first execution and a replay goes through here
/// and is recorded in history: time (`now`), randomness (`random`, `uuid`), side effects,
/// patch decisions, signals.
#[derive(Clone, Debug)]
pub struct WorkflowCtx {
    state: Shared,
}

impl WorkflowCtx {
    pub(crate) fn new(state: Shared) -> WorkflowCtx {
        WorkflowCtx { state }
    }

    /// Ids, type and task queue of this run.
    pub fn info(&self) -> WorkflowInfo {
        self.state.borrow().info.clone()
    }

    /// The time of the current workflow task, as recorded in history.
    pub fn now(&self) -> Timestamp {
        self.state.borrow().now
    }

    /// True while the current workflow task is being replayed from history (its commands were
    /// already recorded). Useful to silence logging; never to change behaviour.
    pub fn is_replaying(&self) -> bool {
        self.state.borrow().replaying
    }

    /// A random number from the run's seeded generator: the same sequence on every replay.
    pub fn random(&self) -> u64 {
        let mut s = self.state.borrow_mut();
        s.forbid_in_query("ctx.random()");
        s.rng.next_u64()
    }

    /// A version-4 UUID from the run's seeded generator.
    pub fn uuid(&self) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        let mut s = self.state.borrow_mut();
        s.forbid_in_query("ctx.uuid()");
        s.rng.fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// Runs `f` once and records its value; replays return the recorded value without
    /// running `f`. For small non-deterministic reads (a config flag, a generated id).
    pub fn side_effect<T, F>(&self, f: F) -> Result<T, PayloadError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> T,
    {
        let mut s = self.state.borrow_mut();
        s.forbid_in_query("ctx.side_effect()");
        s.seqs.side_effect += 1;
        let id = s.seqs.side_effect;
        let what = || format!("side effect #{id}");
        let (value, payload) = match s.lookahead.side_effects.get(&id) {
            Some(recorded) if s.replaying => (payload::decode::<T>(recorded, what)?, recorded.clone()),
            _ => {
                drop(s);
                let value = f();
                let payload = payload::encode(&value, what)?;
                s = self.state.borrow_mut();
                (value, payload)
            }
        };
        s.commands.push(Command::RecordMarker(Marker::SideEffect {
            side_effect_id: id,
            value: payload,
        }));
        Ok(value)
    }

    /// A durable timer: completes after `duration` of engine time.
    pub fn sleep(&self, duration: Duration) -> Timer {
        Timer::start(&self.state, duration)
    }

    /// Completes when `pred` holds. `pred` reads workflow state (set by signal handlers, for
    /// instance); it is re-checked whenever the run's state may have changed.
    pub fn condition(&self, pred: impl Fn() -> bool + 'static) -> Condition {
        Condition::new(self.state.clone(), Rc::new(pred))
    }

    /// Completes with `true` when `pred` holds, or `false` once `timeout` passes first.
    pub fn condition_timeout(
        &self,
        pred: impl Fn() -> bool + 'static,
        timeout: Duration,
    ) -> ConditionWithTimeout {
        let condition = self.condition(pred);
        let timer = self.sleep(timeout);
        ConditionWithTimeout::new(condition, timer)
    }

    /// An activity call with the default options (which need at least a close timeout: set
    /// one on the returned call).
    pub fn activity<A: Activity>(&self, input: A::Input) -> ActivityCall<A> {
        ActivityCall::new(self.state.clone(), input, ActivityOptions::default())
    }

    /// An activity call with the given options.
    pub fn activity_with<A: Activity>(&self, input: A::Input, options: ActivityOptions) -> ActivityCall<A> {
        ActivityCall::new(self.state.clone(), input, options)
    }

    /// A child workflow call.
    pub fn child<W: Workflow>(&self, input: W::Input) -> ChildCall<W> {
        ChildCall::new(self.state.clone(), input)
    }

    /// Receives signals of type `S`; signals sent before this call are waiting in the buffer.
    pub fn signal_channel<S: Signal>(&self) -> SignalReceiver<S> {
        SignalReceiver::new(self.state.clone())
    }

    /// Calls `handler` for each signal of type `S`, in arrival order, before the workflow code
    /// runs on. Signals buffered before the handler was set are delivered at once.
    ///
    /// A signal whose payload does not deserialize is dropped and fails the workflow task with
    /// a payload error naming the signal.
    pub fn on_signal<S: Signal>(&self, handler: impl FnMut(S::Input) + 'static) {
        let mut handler = handler;
        let typed = Box::new(move |payload: crate::payload::Payload| {
            let input = payload::decode_owned::<S::Input>(payload, || format!("signal `{}`", S::NAME))?;
            handler(input);
            Ok(())
        });
        let buffered: Vec<_> = {
            let mut s = self.state.borrow_mut();
            s.forbid_in_query("ctx.on_signal()");
            s.signal_handlers.insert(S::NAME, typed);
            s.signals.remove(S::NAME).map(Vec::from).unwrap_or_default()
        };
        for payload in buffered {
            deliver_signal(&self.state, S::NAME, payload);
        }
    }

    /// Answers queries of type `Q` from the workflow's state. The handler must only read.
    pub fn on_query<Q: Query>(&self, handler: impl Fn(Q::Args) -> Q::Output + 'static) {
        let typed = Rc::new(move |args: &crate::payload::Payload| {
            let args = payload::decode::<Q::Args>(args, || format!("arguments of query `{}`", Q::NAME))?;
            payload::encode(&handler(args), || format!("answer to query `{}`", Q::NAME))
        });
        self.state.borrow_mut().query_handlers.insert(Q::NAME, typed);
    }

    /// True once someone asked to cancel this run.
    pub fn is_cancel_requested(&self) -> bool {
        self.state.borrow().cancel_requested
    }

    /// Completes once someone asks to cancel this run. The workflow decides what cancelling
    /// means (compensate, cancel activities) and then returns `Err(WorkflowError::Cancelled)`.
    pub fn cancelled(&self) -> Condition {
        Condition::cancel_requested(self.state.clone())
    }

    /// The error that, returned from the workflow, closes this run and starts a new run of
    /// `W` with `input` and a fresh history.
    pub fn continue_as_new<W: Workflow>(&self, input: &W::Input) -> WorkflowError {
        match payload::encode(input, || format!("continue-as-new input of `{}`", W::NAME)) {
            Ok(input) => WorkflowError::ContinueAsNew(Box::new(ContinueAsNew {
                workflow_type: W::NAME.to_owned(),
                input,
                task_queue: None,
            })),
            Err(e) => e.into(),
        }
    }

    /// Versioning: true when this run should take the new code path introduced with patch
    /// `patch_id`.
    ///
    /// Temporal's truth table: a new run (or a task executed for the first time) takes the new
    /// path and records a marker; a replayed task takes the new path only if its history has
    /// the marker. Every call with the same id in one run returns the same answer.
    pub fn patched(&self, patch_id: &str) -> bool {
        self.decide_patch(patch_id, false)
    }

    /// Versioning, second step: the old code path is gone, but runs that recorded the patch
    /// marker must still replay. Records a deprecated marker for new runs; replays accept a
    /// history with or without the marker. Once no run has the marker, the call can go too.
    pub fn deprecate_patch(&self, patch_id: &str) {
        self.decide_patch(patch_id, true);
    }

    fn decide_patch(&self, patch_id: &str, deprecated: bool) -> bool {
        let mut s = self.state.borrow_mut();
        s.forbid_in_query("ctx.patched()");
        if let Some(&decided) = s.patches.get(patch_id) {
            return decided;
        }
        let use_new_path = !s.replaying || s.lookahead.patches.contains(patch_id);
        if use_new_path {
            s.commands.push(Command::RecordMarker(Marker::Patch {
                patch_id: patch_id.to_owned(),
                deprecated,
            }));
        }
        s.patches.insert(patch_id.to_owned(), use_new_path);
        use_new_path
    }
}

/// Hands a signal to its handler, or buffers it for a receiver. The handler is taken out of
/// the state while it runs, so it may use the context.
pub(crate) fn deliver_signal(state: &Shared, name: &str, payload: crate::payload::Payload) {
    let handler = state.borrow_mut().signal_handlers.remove_entry(name);
    match handler {
        Some((key, mut handler)) => {
            let result = handler(payload);
            let mut s = state.borrow_mut();
            // The handler goes back unless the handler itself set a new one.
            if !s.signal_handlers.contains_key(name) {
                s.signal_handlers.insert(key, handler);
            }
            if let Err(e) = result {
                s.set_fatal(crate::replay::ActivationError::Payload(e));
            }
        }
        None => {
            let mut s = state.borrow_mut();
            s.signals.entry(name.to_owned()).or_default().push_back(payload);
            s.wake_waiters(|w| matches!(w, WaitFor::Signal(n) if *n == name));
        }
    }
}
