//! The state one run shares between the workflow code (through `WorkflowCtx` and the durable
//! futures) and the replay executor that feeds it history.
//!
//! Why `Rc<RefCell<..>>`: a run is polled on one thread by one executor, and the workflow code
//! holds many handles to it. Callbacks into user code (signal and query handlers, condition
//! predicates) are always made with the borrow released, since they may call the context.

use crate::command::Command;
use crate::failure::ActivityError;
use crate::ids::{EventId, RunId, TaskQueue, TimerId, WorkflowId};
use crate::payload::Payload;
use crate::replay::ActivationError;
use crate::time::Timestamp;
use crate::vec_map::VecMap;
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::task::Waker;

use super::child::ChildError;

/// What a run knows about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowInfo {
    /// The workflow id.
    pub workflow_id: WorkflowId,
    /// The run id.
    pub run_id: RunId,
    /// The workflow type.
    pub workflow_type: String,
    /// The task queue the run's workflow tasks go to.
    pub task_queue: TaskQueue,
    /// When the run started (engine time).
    pub start_time: Timestamp,
}

pub(crate) type Shared = Rc<RefCell<RunState>>;

/// A durable operation's outcome, waiting to be taken by its future.
#[derive(Debug)]
pub(crate) enum Outcome<T> {
    Pending,
    Ready(T),
}

#[derive(Debug)]
pub(crate) struct Slot<T> {
    pub outcome: Outcome<T>,
    pub waker: Option<Waker>,
    /// The future was dropped while pending: drop the slot when its outcome arrives.
    pub abandoned: bool,
}

impl<T> Slot<T> {
    pub fn pending() -> Self {
        Slot {
            outcome: Outcome::Pending,
            waker: None,
            abandoned: false,
        }
    }

    pub fn ready(value: T) -> Self {
        Slot {
            outcome: Outcome::Ready(value),
            waker: None,
            abandoned: false,
        }
    }

    /// Records the outcome unless one is already there (a cancelled activity's late result is
    /// ignored, as Temporal's try-cancel does) and wakes the awaiting future.
    pub fn resolve(&mut self, value: T) {
        if matches!(self.outcome, Outcome::Pending) {
            self.outcome = Outcome::Ready(value);
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }

    /// The future is gone: a pending slot is kept until its outcome arrives (so late events
    /// find it), a resolved one can go now. Returns true when the slot can be removed.
    pub fn abandon(&mut self) -> bool {
        self.waker = None;
        self.abandoned = true;
        !matches!(self.outcome, Outcome::Pending)
    }

    /// True while a future is parked on this slot.
    pub fn is_awaited(&self) -> bool {
        matches!(self.outcome, Outcome::Pending) && self.waker.is_some()
    }
}

/// A scheduled activity.
#[derive(Debug)]
pub(crate) struct ActivitySlot {
    pub slot: Slot<Result<Payload, ActivityError>>,
    /// Known once the `ActivityTaskScheduled` event is matched.
    pub scheduled_event_id: Option<EventId>,
    pub activity_type: &'static str,
}

/// A started timer.
#[derive(Debug)]
pub(crate) struct TimerSlot {
    pub slot: Slot<()>,
    pub timer_id: TimerId,
    /// True once the `TimerStarted` event is matched.
    pub recorded: bool,
}

/// A child workflow.
#[derive(Debug)]
pub(crate) struct ChildSlot {
    pub slot: Slot<Result<Payload, ChildError>>,
    pub workflow_id: WorkflowId,
    pub workflow_type: String,
    pub run_id: Option<RunId>,
    pub cancel_requested: bool,
}

/// Something other than a slot that a future waits on.
pub(crate) enum WaitFor {
    /// A signal type's name (`Signal::NAME`).
    Signal(&'static str),
    Cancel,
    Condition(Rc<dyn Fn() -> bool>),
}

pub(crate) struct Waiter {
    pub wait_for: WaitFor,
    pub waker: Waker,
    /// Woken because its predicate held, and not polled since.
    pub woken: bool,
}

/// Values recorded in the workflow task being replayed, read by `patched` and `side_effect`
/// before the task's commands are matched.
#[derive(Debug, Default)]
pub(crate) struct Lookahead {
    pub patches: BTreeSet<String>,
    pub side_effects: BTreeMap<u32, Payload>,
}

impl Lookahead {
    pub fn is_empty(&self) -> bool {
        self.patches.is_empty() && self.side_effects.is_empty()
    }
}

pub(crate) type SignalHandler = Box<dyn FnMut(Payload) -> Result<(), crate::payload::PayloadError>>;
pub(crate) type QueryHandler = Rc<dyn Fn(&Payload) -> Result<Payload, crate::payload::PayloadError>>;

/// Per-kind sequence numbers: the ids of activities, timers, children and side effects.
#[derive(Debug, Default)]
pub(crate) struct Seqs {
    pub activity: u32,
    pub timer: u32,
    pub child: u32,
    pub side_effect: u32,
    pub waiter: u64,
}

pub(crate) struct RunState {
    pub info: WorkflowInfo,
    /// The time of the workflow task being processed.
    pub now: Timestamp,
    /// True while replaying a workflow task whose commands are already in history.
    pub replaying: bool,
    pub rng: ChaCha8Rng,
    pub seqs: Seqs,
    /// Commands issued in the current workflow task, in order.
    pub commands: Vec<Command>,
    pub lookahead: Lookahead,
    // The maps in `VecMap`s hold a handful of entries at most (numbered ones mostly inserted
    // in order, handlers one per signal or query type): sorted vectors, not B-trees, so a
    // replay (which builds and drops a run's state each time) allocates one small buffer per
    // map instead of whole nodes.
    pub activities: VecMap<u32, ActivitySlot>,
    pub activity_by_event: VecMap<EventId, u32>,
    pub timers: VecMap<u32, TimerSlot>,
    pub timer_by_id: VecMap<TimerId, u32>,
    pub children: VecMap<u32, ChildSlot>,
    pub child_by_event: VecMap<EventId, u32>,
    pub waiters: VecMap<u64, Waiter>,
    pub signals: BTreeMap<String, VecDeque<Payload>>,
    // Keyed by the types' `NAME`s: registering a handler copies no name (a replay check
    // registers them once per execution).
    pub signal_handlers: VecMap<&'static str, SignalHandler>,
    pub query_handlers: VecMap<&'static str, QueryHandler>,
    pub cancel_requested: bool,
    /// Patch decisions made in this run, so every call for one id agrees.
    pub patches: BTreeMap<String, bool>,
    /// An error raised inside a durable future; the executor fails the activation with it.
    pub fatal: Option<ActivationError>,
    /// Signals applied since the last workflow task, delivered when the next one starts (so
    /// handlers see that task's time, replay flag and recorded values, as in Temporal).
    pub pending_signals: VecDeque<(String, Payload)>,
    /// True while a query handler runs: the context then refuses anything that would change
    /// what the workflow does next.
    pub in_query: bool,
}

/// A run's identity as its `WorkflowExecutionStarted` gives it, borrowed: what
/// [`RunState::restart`] writes over a finished execution's [`WorkflowInfo`] in place.
pub(crate) struct StartedRun<'a> {
    pub workflow_id: &'a WorkflowId,
    pub run_id: &'a RunId,
    pub workflow_type: &'a str,
    pub task_queue: &'a TaskQueue,
    pub start_time: Timestamp,
}

impl StartedRun<'_> {
    /// The run's info, owned.
    pub fn info(&self) -> WorkflowInfo {
        WorkflowInfo {
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.clone(),
            workflow_type: self.workflow_type.to_owned(),
            task_queue: self.task_queue.clone(),
            start_time: self.start_time,
        }
    }
}

impl RunState {
    pub fn new(info: WorkflowInfo, rng: ChaCha8Rng) -> RunState {
        RunState {
            now: info.start_time,
            info,
            replaying: false,
            rng,
            seqs: Seqs::default(),
            commands: Vec::new(),
            lookahead: Lookahead::default(),
            activities: VecMap::new(),
            activity_by_event: VecMap::new(),
            timers: VecMap::new(),
            timer_by_id: VecMap::new(),
            children: VecMap::new(),
            child_by_event: VecMap::new(),
            waiters: VecMap::new(),
            signals: BTreeMap::new(),
            signal_handlers: VecMap::new(),
            query_handlers: VecMap::new(),
            cancel_requested: false,
            patches: BTreeMap::new(),
            fatal: None,
            pending_signals: VecDeque::new(),
            in_query: false,
        }
    }

    /// Makes this state, a finished execution's, the fresh state [`new`](Self::new) would
    /// make for `run`, in place: a replay check runs the workflow eight times per history,
    /// and building a new state (then dropping the old one and moving the new one in) cost
    /// more than the execution's own bookkeeping. Every buffer keeps its room, the workflow
    /// type its string's. The destructuring names every field, so a field added later
    /// cannot be left out of the reset.
    pub fn restart(&mut self, run: &StartedRun<'_>, new_rng: ChaCha8Rng) {
        let RunState {
            info,
            now,
            replaying,
            rng,
            seqs,
            commands,
            lookahead,
            activities,
            activity_by_event,
            timers,
            timer_by_id,
            children,
            child_by_event,
            waiters,
            signals,
            signal_handlers,
            query_handlers,
            cancel_requested,
            patches,
            fatal,
            pending_signals,
            in_query,
        } = self;
        info.workflow_id.clone_from(run.workflow_id);
        info.run_id.clone_from(run.run_id);
        run.workflow_type.clone_into(&mut info.workflow_type);
        info.task_queue.clone_from(run.task_queue);
        info.start_time = run.start_time;
        *now = run.start_time;
        *replaying = false;
        *rng = new_rng;
        *seqs = Seqs::default();
        commands.clear();
        lookahead.patches.clear();
        lookahead.side_effects.clear();
        activities.clear();
        activity_by_event.clear();
        timers.clear();
        timer_by_id.clear();
        children.clear();
        child_by_event.clear();
        waiters.clear();
        signals.clear();
        signal_handlers.clear();
        query_handlers.clear();
        *cancel_requested = false;
        patches.clear();
        *fatal = None;
        pending_signals.clear();
        *in_query = false;
    }

    /// Registers a waiter and returns its key.
    pub fn add_waiter(&mut self, wait_for: WaitFor, waker: Waker) -> u64 {
        self.seqs.waiter += 1;
        let key = self.seqs.waiter;
        self.waiters.insert(
            key,
            Waiter {
                wait_for,
                waker,
                woken: false,
            },
        );
        key
    }

    /// Wakes every waiter whose condition `pick` selects.
    pub fn wake_waiters(&mut self, pick: impl Fn(&WaitFor) -> bool) {
        for waiter in self.waiters.values() {
            if pick(&waiter.wait_for) {
                waiter.waker.wake_by_ref();
            }
        }
    }

    /// True when some durable future is parked, waiting for the engine. A workflow that is
    /// blocked while this is false waits on something the engine will never wake.
    pub fn has_durable_waiters(&self) -> bool {
        !self.waiters.is_empty()
            || self.activities.values().any(|a| a.slot.is_awaited())
            || self.timers.values().any(|t| t.slot.is_awaited())
            || self.children.values().any(|c| c.slot.is_awaited())
    }

    /// Panics when called from a query handler (the panic is caught and reported as
    /// `QueryError::HandlerPanicked`): a query that drew a random number or scheduled an
    /// activity would change the run's next workflow task, and its history would not replay.
    pub fn forbid_in_query(&self, what: &str) {
        if self.in_query {
            panic!("{what} called from a query handler: query handlers may only read workflow state");
        }
    }

    /// Records a fatal error (the first one wins).
    pub fn set_fatal(&mut self, error: ActivationError) {
        if self.fatal.is_none() {
            self.fatal = Some(error);
        }
    }
}

impl std::fmt::Debug for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunState")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::{Rng, SeedableRng};

    fn info(workflow_id: &str, start_ms: u64) -> WorkflowInfo {
        WorkflowInfo {
            workflow_id: WorkflowId::new(workflow_id),
            run_id: RunId::new("run"),
            workflow_type: "order".to_owned(),
            task_queue: TaskQueue::new("default"),
            start_time: Timestamp::from_millis(start_ms),
        }
    }

    #[test]
    fn a_restarted_state_keeps_nothing_of_the_finished_execution_but_its_buffers() {
        let mut state = RunState::new(info("first", 1), ChaCha8Rng::seed_from_u64(1));
        state.replaying = true;
        state.seqs.activity = 3;
        state.commands.push(Command::CancelWorkflow);
        state.activities.insert(
            1,
            ActivitySlot {
                slot: Slot::pending(),
                scheduled_event_id: Some(EventId(5)),
                activity_type: "charge",
            },
        );
        state.activity_by_event.insert(EventId(5), 1);
        state.timer_by_id.insert(TimerId::from_seq(1), 1);
        state.timers.insert(
            1,
            TimerSlot {
                slot: Slot::pending(),
                timer_id: TimerId::from_seq(1),
                recorded: true,
            },
        );
        state.children.insert(
            1,
            ChildSlot {
                slot: Slot::pending(),
                workflow_id: WorkflowId::new("child"),
                workflow_type: "child".to_owned(),
                run_id: None,
                cancel_requested: false,
            },
        );
        state.child_by_event.insert(EventId(7), 1);
        state.add_waiter(WaitFor::Cancel, futures::task::noop_waker());
        state.signal_handlers.insert("approve", Box::new(|_| Ok(())));
        state
            .lookahead
            .side_effects
            .insert(1, Payload::from(serde_json::Value::Bool(true)));
        state.signals.insert(
            "approve".to_owned(),
            VecDeque::from([Payload::from(serde_json::Value::Bool(true))]),
        );
        state
            .pending_signals
            .push_back(("approve".to_owned(), Payload::from(serde_json::Value::Bool(true))));
        state.patches.insert("v2".to_owned(), true);
        state.lookahead.patches.insert("v2".to_owned());
        state.cancel_requested = true;
        state.in_query = true;
        state.set_fatal(ActivationError::Poisoned {
            workflow_id: WorkflowId::new("first"),
            first_error: "boom".to_owned(),
        });
        state
            .query_handlers
            .insert("waiting", Rc::new(|_: &Payload| Ok(Payload::null())));
        let commands_room = state.commands.capacity();

        let second = info("second", 2);
        let run = StartedRun {
            workflow_id: &second.workflow_id,
            run_id: &second.run_id,
            workflow_type: &second.workflow_type,
            task_queue: &second.task_queue,
            start_time: second.start_time,
        };
        state.restart(&run, ChaCha8Rng::seed_from_u64(2));

        assert_eq!(state.info, second);
        assert_eq!(state.now, Timestamp::from_millis(2));
        assert!(!state.replaying && !state.cancel_requested && !state.in_query);
        assert_eq!(state.seqs.activity, 0);
        assert!(state.commands.is_empty());
        assert_eq!(
            state.commands.capacity(),
            commands_room,
            "the command buffer is reused"
        );
        assert!(state.activities.is_empty() && state.activity_by_event.is_empty());
        assert!(state.timer_by_id.is_empty() && state.query_handlers.is_empty());
        assert!(state.timers.is_empty() && state.waiters.is_empty());
        assert!(state.children.is_empty() && state.child_by_event.is_empty());
        assert!(state.signal_handlers.is_empty());
        assert!(state.signals.is_empty() && state.pending_signals.is_empty());
        assert!(state.patches.is_empty() && state.lookahead.is_empty());
        assert!(state.fatal.is_none());
        let fresh = ChaCha8Rng::seed_from_u64(2).next_u64();
        assert_eq!(state.rng.next_u64(), fresh, "the new run's random numbers");
    }
}
