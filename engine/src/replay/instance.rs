//! `WorkflowInstance`: one run of workflow code, driven by its history.
//!
//! An activation hands the instance the events it has not seen. The instance walks them in
//! order: resolution events (activity results, timers, signals) update the run's state; at
//! each `WorkflowTaskStarted` it polls the workflow until it blocks and collects its commands;
//! the command events recorded after `WorkflowTaskCompleted` are then matched, in order,
//! against those commands. A task whose completion is already in the input is *replayed*;
//! a final `WorkflowTaskStarted` with nothing after it is *live*, and its commands are the
//! activation's answer. A sticky worker feeds one instance task by task; a cold worker feeds a
//! new instance the whole history at once. Both walk the same path.

use super::error::{
    ActivationError, DeterminismViolation, MatchedStep, MismatchKind, Nondeterminism, ViolationKind,
};
use super::queue::CommandQueue;
use super::resolve::apply_event;
use super::wake::WakeFlags;
use crate::command::{Command, StepText, describe_event};
use crate::history::{EventAttributes as E, HistoryError, HistoryEvent, Marker};
use crate::ids::{EventId, RunId, WorkflowId};
use crate::limits::{POLLS_PER_ACTIVATION_MAX, REPORT_MATCHED_STEPS};
use crate::payload::{Payload, PayloadError};
use crate::registry::{Registry, WorkflowFuture};
use crate::workflow::WorkflowCtx;
use crate::workflow::ctx::deliver_signal;
use crate::workflow::state::{Lookahead, Outcome, RunState, Shared, StartedRun, WaitFor, Waiter};
use futures::FutureExt;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// One run of workflow code and its replay state. `!Send`: it lives on one thread.
pub struct WorkflowInstance {
    registry: Registry,
    workflow_id: WorkflowId,
    run_id: RunId,
    state: Option<Shared>,
    root: Option<WorkflowFuture>,
    wake: Arc<WakeFlags>,
    next_event_id: EventId,
    /// Commands of the last polled task that still wait for their recorded events.
    unmatched: CommandQueue,
    /// Set between a `WorkflowTaskCompleted` and the end of its command events.
    matching_task: bool,
    /// True between polling a live task and seeing how that task ended.
    live_task_open: bool,
    /// False while a replayer runs a task live only to match its commands against history:
    /// they are then moved to the queue to match, not copied for an answer nobody sends.
    answer_live_task: bool,
    workflow_task: u32,
    /// The last matched command events, for a report; their text is written only if one is.
    matched_recent: VecDeque<(EventId, StepText)>,
    /// The event that closed the run, once history has it.
    closed_by: Option<EventId>,
    poisoned: Option<String>,
    /// A finished execution's state, whose buffers the run's state is built in when the
    /// run starts (see [`Spare`]).
    spare_state: Option<Shared>,
}

/// The buffers of a finished execution, for the next one to reuse: the replay check runs a
/// workflow eight times per history, and each new instance allocated its command queues, its
/// run's state and every map of it again. Empty by default.
#[derive(Default)]
pub(crate) struct Spare {
    /// Held by nothing else.
    state: Option<Shared>,
    unmatched: CommandQueue,
    matched_recent: VecDeque<(EventId, StepText)>,
}

impl std::fmt::Debug for WorkflowInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowInstance")
            .field("workflow_id", &self.workflow_id)
            .field("run_id", &self.run_id)
            .field("next_event_id", &self.next_event_id)
            .field("workflow_task", &self.workflow_task)
            .finish_non_exhaustive()
    }
}

impl WorkflowInstance {
    /// An instance for run `run_id` of `workflow_id`, with the workflow types of `registry`.
    /// It starts the workflow code when it sees `WorkflowExecutionStarted`.
    pub fn new(registry: Registry, workflow_id: WorkflowId, run_id: RunId) -> WorkflowInstance {
        WorkflowInstance::reusing(registry, workflow_id, run_id, Spare::default())
    }

    /// [`new`](Self::new), in the buffers of a finished execution.
    pub(crate) fn reusing(
        registry: Registry,
        workflow_id: WorkflowId,
        run_id: RunId,
        spare: Spare,
    ) -> WorkflowInstance {
        let Spare {
            state,
            mut unmatched,
            mut matched_recent,
        } = spare;
        unmatched.clear();
        matched_recent.clear();
        WorkflowInstance {
            registry,
            workflow_id,
            run_id,
            state: None,
            root: None,
            wake: Arc::new(WakeFlags::default()),
            next_event_id: EventId::FIRST,
            unmatched,
            matching_task: false,
            live_task_open: false,
            answer_live_task: true,
            workflow_task: 0,
            matched_recent,
            closed_by: None,
            poisoned: None,
            spare_state: state,
        }
    }

    /// Ends this execution and hands its buffers to the next. The run's state comes back
    /// only if nothing else holds it once the workflow's future is gone (a handler that kept
    /// the context does): then the next state is allocated afresh.
    pub(crate) fn into_spare(mut self) -> Spare {
        // The future goes first: it holds the context, and its durable futures reach the
        // state as they drop.
        self.root = None;
        let state = self
            .state
            .take()
            .and_then(|mut state| Rc::get_mut(&mut state).is_some().then_some(state));
        Spare {
            state,
            unmatched: std::mem::take(&mut self.unmatched),
            matched_recent: std::mem::take(&mut self.matched_recent),
        }
    }

    /// The id of the next event this instance expects.
    pub fn next_event_id(&self) -> EventId {
        self.next_event_id
    }

    /// True once the workflow code returned (its closing command may not be recorded yet).
    pub fn is_finished(&self) -> bool {
        self.state.is_some() && self.root.is_none()
    }

    /// True once history recorded the end of the run.
    pub fn is_closed(&self) -> bool {
        self.closed_by.is_some()
    }

    /// How many workflow tasks the code has run.
    pub fn workflow_tasks(&self) -> u32 {
        self.workflow_task
    }

    /// A summary of what the run waits for, to compare instances that reached the same point
    /// by different paths (cold replay, resumed replay, live execution).
    pub fn summary(&self) -> InstanceSummary {
        let mut summary = InstanceSummary {
            next_event_id: self.next_event_id,
            workflow_tasks: self.workflow_task,
            finished: self.is_finished(),
            closed: self.is_closed(),
            ..InstanceSummary::default()
        };
        if let Some(state) = &self.state {
            let s = state.borrow();
            summary.pending_activities = s
                .activities
                .iter()
                .filter(|(_, a)| matches!(a.slot.outcome, Outcome::Pending))
                .map(|(seq, a)| format!("{seq}:{}", a.activity_type))
                .collect();
            summary.pending_timers = s
                .timers
                .values()
                .filter(|t| matches!(t.slot.outcome, Outcome::Pending))
                .map(|t| t.timer_id.to_string())
                .collect();
            summary.pending_children = s
                .children
                .values()
                .filter(|c| matches!(c.slot.outcome, Outcome::Pending))
                .map(|c| format!("{}:{}", c.workflow_type, c.workflow_id))
                .collect();
            summary.buffered_signals = s
                .signals
                .iter()
                .map(|(name, q)| (name.clone(), q.len()))
                .collect();
            summary.cancel_requested = s.cancel_requested;
        }
        summary
    }

    /// Answers a query from the workflow's current state.
    pub fn query(&self, name: &str, args: &Payload) -> Result<Payload, QueryError> {
        let state = self.state.as_ref().ok_or(QueryError::NotStarted)?;
        let handler = state.borrow().query_handlers.get(name).cloned();
        let Some(handler) = handler else {
            return Err(QueryError::UnknownQuery {
                name: name.to_owned(),
                known: state
                    .borrow()
                    .query_handlers
                    .keys()
                    .map(|name| (*name).to_owned())
                    .collect(),
            });
        };
        // The handler runs with the state not borrowed, so it may read through the context;
        // `in_query` makes the context refuse anything that would change the run.
        state.borrow_mut().in_query = true;
        let answered = std::panic::catch_unwind(AssertUnwindSafe(|| handler(args)));
        state.borrow_mut().in_query = false;
        match answered {
            Ok(answer) => Ok(answer?),
            Err(panic) => Err(QueryError::HandlerPanicked {
                name: name.to_owned(),
                message: panic_message(panic.as_ref()),
            }),
        }
    }

    /// Applies `events` (the next ones of the run's history, in order).
    ///
    /// Returns the commands of the live workflow task when `events` ends with a
    /// `WorkflowTaskStarted`, and `None` when there is no task to answer. Any error leaves
    /// the instance unusable: drop it and replay from history.
    pub fn activate(&mut self, events: &[HistoryEvent]) -> Result<Option<Vec<Command>>, ActivationError> {
        if let Some(first_error) = &self.poisoned {
            return Err(ActivationError::Poisoned {
                workflow_id: self.workflow_id.clone(),
                first_error: first_error.clone(),
            });
        }
        self.wake.set_in_activation(true);
        let result = self.activate_inner(events);
        self.wake.set_in_activation(false);
        if let Err(e) = &result {
            self.poisoned = Some(e.to_string());
        }
        result
    }

    /// [`activate`](Self::activate) for a replayer, which matches a live task's commands
    /// against the rest of the history rather than sending them: no answer is returned.
    pub(crate) fn activate_unanswered(&mut self, events: &[HistoryEvent]) -> Result<(), ActivationError> {
        self.answer_live_task = false;
        let activated = self.activate(events);
        self.answer_live_task = true;
        activated.map(drop)
    }

    /// Checks, after the last event of a history, that every command of the last replayed
    /// task found its recorded event.
    pub fn finish_replay(&mut self) -> Result<(), ActivationError> {
        if self.matching_task {
            self.end_matching(EventId(self.next_event_id.0.saturating_sub(1)))?;
        }
        Ok(())
    }

    fn activate_inner(&mut self, events: &[HistoryEvent]) -> Result<Option<Vec<Command>>, ActivationError> {
        if self.wake.take_woken_outside() {
            return Err(self.violation(ViolationKind::WokenOutsideEngine));
        }
        let mut answer = None;
        for (i, event) in events.iter().enumerate() {
            if event.event_id != self.next_event_id {
                return Err(HistoryError::EventIdGap {
                    index: i,
                    expected: self.next_event_id,
                    found: event.event_id,
                }
                .into());
            }
            self.next_event_id = event.event_id.next();
            answer = self.apply(event, &events[i + 1..])?;
        }
        Ok(answer)
    }

    fn apply(
        &mut self,
        event: &HistoryEvent,
        rest: &[HistoryEvent],
    ) -> Result<Option<Vec<Command>>, ActivationError> {
        if let Some(closed_by) = self.closed_by {
            return Err(HistoryError::EventAfterClose {
                event_id: event.event_id,
                event_type: event.attributes.event_type().to_owned(),
                closed_by,
            }
            .into());
        }
        if event.attributes.is_command_event() {
            if !self.matching_task {
                return Err(HistoryError::CommandOutsideWorkflowTask {
                    event_id: event.event_id,
                    event_type: event.attributes.event_type().to_owned(),
                }
                .into());
            }
            self.match_command_event(event)?;
            if event.attributes.is_terminal() {
                self.closed_by = Some(event.event_id);
            }
            return Ok(None);
        }
        if self.matching_task {
            self.end_matching(EventId(event.event_id.0.saturating_sub(1)))?;
        }
        match &event.attributes {
            E::WorkflowExecutionStarted { .. } => self.start(event)?,
            E::WorkflowTaskStarted { .. } => return self.workflow_task_started(event, rest),
            E::WorkflowTaskCompleted { .. } => {
                self.live_task_open = false;
                self.matching_task = true;
            }
            E::WorkflowTaskFailed { .. } | E::WorkflowTaskTimedOut { .. } if self.live_task_open => {
                return Err(ActivationError::StaleInstance {
                    workflow_id: self.workflow_id.clone(),
                    reason: format!(
                        "the workflow task it ran ended with {}",
                        event.attributes.event_type()
                    ),
                });
            }
            E::WorkflowExecutionTerminated { .. } | E::WorkflowExecutionTimedOut { .. } => {
                self.closed_by = Some(event.event_id);
            }
            // Signal handlers are user code: a panic in one fails the activation, as one in the
            // workflow code does.
            _ => {
                let state = self.run_state()?;
                match std::panic::catch_unwind(AssertUnwindSafe(|| apply_event(state, event))) {
                    Ok(applied) => applied?,
                    Err(panic) => return Err(self.panic_error(panic.as_ref())),
                }
            }
        }
        Ok(None)
    }

    fn start(&mut self, event: &HistoryEvent) -> Result<(), ActivationError> {
        let E::WorkflowExecutionStarted {
            workflow_type,
            task_queue,
            input,
            randomness_seed,
            ..
        } = &event.attributes
        else {
            return Ok(());
        };
        if self.state.is_some() {
            return Err(HistoryError::WorkflowTaskOrder {
                event_id: event.event_id,
                event_type: event.attributes.event_type().to_owned(),
                problem: "a run starts only once".to_owned(),
            }
            .into());
        }
        let definition = self.registry.workflow(workflow_type)?;
        let run = StartedRun {
            workflow_id: &self.workflow_id,
            run_id: &self.run_id,
            workflow_type,
            task_queue,
            start_time: event.event_time,
        };
        let rng = ChaCha8Rng::seed_from_u64(*randomness_seed);
        let state: Shared = match self.spare_state.take() {
            // `into_spare` keeps a state only when nothing else holds it.
            Some(spare) => {
                spare.borrow_mut().restart(&run, rng);
                spare
            }
            None => Rc::new(RefCell::new(RunState::new(run.info(), rng))),
        };
        self.root = Some(definition.start(WorkflowCtx::new(state.clone()), input)?);
        self.state = Some(state);
        Ok(())
    }

    fn workflow_task_started(
        &mut self,
        event: &HistoryEvent,
        rest: &[HistoryEvent],
    ) -> Result<Option<Vec<Command>>, ActivationError> {
        let replaying = match rest.first().map(|e| &e.attributes) {
            Some(E::WorkflowTaskCompleted { .. }) => true,
            // The task failed or timed out: its commands were never recorded, so it is not run.
            Some(E::WorkflowTaskFailed { .. } | E::WorkflowTaskTimedOut { .. }) => return Ok(None),
            None => false,
            Some(other) => {
                return Err(HistoryError::WorkflowTaskOrder {
                    event_id: event.event_id.next(),
                    event_type: other.event_type().to_owned(),
                    problem: "a WorkflowTaskStarted must be followed by its Completed, Failed or TimedOut"
                        .to_owned(),
                }
                .into());
            }
        };
        {
            let mut s = self.run_state()?.borrow_mut();
            s.now = event.event_time;
            s.replaying = replaying;
            // Most tasks record no marker: an empty lookahead is kept rather than replaced.
            match replaying.then(|| lookahead(&rest[1..])).flatten() {
                Some(found) => s.lookahead = found,
                None if !s.lookahead.is_empty() => s.lookahead = Lookahead::default(),
                None => {}
            }
        }
        self.workflow_task += 1;
        self.deliver_pending_signals()?;
        let mut commands = self.poll_until_blocked()?;
        if !replaying {
            self.live_task_open = true;
            if self.answer_live_task {
                self.unmatched.extend_cloned(&commands);
                return Ok(Some(commands));
            }
        }
        // The commands become the queue to match (see `CommandQueue::append`), and the
        // emptied buffer goes back to the run's state: the next task's commands reuse its
        // room instead of allocating their own (a replay polls every task).
        self.unmatched.append(&mut commands);
        let mut s = self.run_state()?.borrow_mut();
        if s.commands.is_empty() {
            s.commands = commands;
        }
        Ok(None)
    }

    /// Hands the signals applied since the last task to their handlers (or receivers), now
    /// that the task's time, replay flag and recorded values are set. Handlers are user code:
    /// a panic in one fails the activation.
    fn deliver_pending_signals(&mut self) -> Result<(), ActivationError> {
        let state = self.run_state()?.clone();
        loop {
            let next = state.borrow_mut().pending_signals.pop_front();
            let Some((name, payload)) = next else {
                return Ok(());
            };
            let delivered =
                std::panic::catch_unwind(AssertUnwindSafe(|| deliver_signal(&state, &name, payload)));
            if let Err(panic) = delivered {
                return Err(self.panic_error(panic.as_ref()));
            }
            if let Some(fatal) = state.borrow_mut().fatal.take() {
                return Err(fatal);
            }
        }
    }

    /// Polls the workflow until it blocks or returns, re-checking conditions after each
    /// poll, and returns the commands it issued.
    fn poll_until_blocked(&mut self) -> Result<Vec<Command>, ActivationError> {
        let state = self.run_state()?.clone();
        let waker = Waker::from(self.wake.clone());
        self.wake.request_poll();
        let mut polls = 0;
        while self.root.is_some() && self.wake.take_woken() {
            polls += 1;
            if polls > POLLS_PER_ACTIVATION_MAX {
                return Err(ActivationError::Livelock {
                    workflow_id: self.workflow_id.clone(),
                    polls,
                });
            }
            self.poll_root(&waker)?;
            if let Some(fatal) = state.borrow_mut().fatal.take() {
                return Err(fatal);
            }
            let woken = std::panic::catch_unwind(AssertUnwindSafe(|| wake_satisfied_conditions(&state)));
            if let Err(panic) = woken {
                return Err(self.panic_error(panic.as_ref()));
            }
        }
        if self.root.is_some() && !state.borrow().has_durable_waiters() {
            return Err(self.violation(ViolationKind::BlockedOutsideEngine));
        }
        let commands = std::mem::take(&mut state.borrow_mut().commands);
        Ok(commands)
    }

    fn poll_root(&mut self, waker: &Waker) -> Result<(), ActivationError> {
        let Some(root) = self.root.as_mut() else {
            return Ok(());
        };
        let mut cx = Context::from_waker(waker);
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| root.poll_unpin(&mut cx)));
        let outcome = match polled {
            Ok(Poll::Pending) => return Ok(()),
            Ok(Poll::Ready(outcome)) => outcome,
            Err(panic) => return Err(self.panic_error(panic.as_ref())),
        };
        self.root = None;
        let close = match outcome {
            Ok(result) => Command::CompleteWorkflow { result },
            Err(crate::WorkflowError::Failed(failure)) => Command::FailWorkflow { failure },
            Err(crate::WorkflowError::Cancelled) => Command::CancelWorkflow,
            Err(crate::WorkflowError::ContinueAsNew(next)) => Command::ContinueAsNew(*next),
        };
        self.run_state()?.borrow_mut().commands.push(close);
        Ok(())
    }

    fn panic_error(&self, panic: &(dyn std::any::Any + Send)) -> ActivationError {
        ActivationError::Panic {
            workflow_id: self.workflow_id.clone(),
            workflow_type: self.workflow_type(),
            message: panic_message(panic),
        }
    }

    fn match_command_event(&mut self, event: &HistoryEvent) -> Result<(), ActivationError> {
        let Some(command) = self.unmatched.front() else {
            if is_deprecated_patch(&event.attributes) {
                return Ok(());
            }
            return Err(self.mismatch(
                event.event_id,
                MismatchKind::MissingFromCode,
                Some(&event.attributes),
                None,
            ));
        };
        if !command.matches(&event.attributes) {
            // A deprecated patch marker may be skipped: the code that asked for it is gone.
            if is_deprecated_patch(&event.attributes) {
                return Ok(());
            }
            let command = command.clone();
            return Err(self.mismatch(
                event.event_id,
                MismatchKind::Changed,
                Some(&event.attributes),
                Some(&command),
            ));
        }
        // Read where it lies and dropped there: a command is large, and moving it out of the
        // queue and on to the step text copied it twice per matched event.
        self.on_matched(command, event)?;
        let step = StepText::of_matched(&event.attributes, command);
        self.unmatched.pop_front();
        if self.matched_recent.capacity() == 0 {
            // Room for the steps a report shows and the one pushed before the oldest goes,
            // at once rather than grown.
            self.matched_recent.reserve_exact(REPORT_MATCHED_STEPS + 1);
        }
        self.matched_recent.push_back((event.event_id, step));
        if self.matched_recent.len() > REPORT_MATCHED_STEPS {
            self.matched_recent.pop_front();
        }
        Ok(())
    }

    /// Links a recorded command event to the future that issued it, so later events that
    /// refer to it by event id reach that future.
    fn on_matched(&self, command: &Command, event: &HistoryEvent) -> Result<(), ActivationError> {
        let mut s = self.run_state()?.borrow_mut();
        match command {
            Command::ScheduleActivity { activity_id, .. } => {
                if let Ok(seq) = activity_id.as_str().parse::<u32>() {
                    s.activity_by_event.insert(event.event_id, seq);
                    if let Some(activity) = s.activities.get_mut(&seq) {
                        activity.scheduled_event_id = Some(event.event_id);
                    }
                }
            }
            Command::StartTimer { timer_id, .. } => {
                if let Ok(seq) = timer_id.as_str().parse::<u32>() {
                    s.timer_by_id.insert(timer_id.clone(), seq);
                    if let Some(timer) = s.timers.get_mut(&seq) {
                        timer.recorded = true;
                    }
                }
            }
            Command::StartChildWorkflow { workflow_id, .. } => {
                let linked: std::collections::BTreeSet<u32> = s.child_by_event.values().copied().collect();
                let seq = s
                    .children
                    .iter()
                    // A child resolved before it is linked never issued its command (its input
                    // did not encode): it is not the one this event records.
                    .find(|(seq, c)| {
                        c.workflow_id == *workflow_id
                            && matches!(c.slot.outcome, Outcome::Pending)
                            && !linked.contains(seq)
                    })
                    .map(|(seq, _)| *seq);
                if let Some(seq) = seq {
                    s.child_by_event.insert(event.event_id, seq);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The recorded command events of a task have ended: every command must have found one.
    /// `last_recorded` is the task's last recorded event, where the extra command would go.
    fn end_matching(&mut self, last_recorded: EventId) -> Result<(), ActivationError> {
        self.matching_task = false;
        match self.unmatched.front().cloned() {
            None => Ok(()),
            Some(command) => {
                Err(self.mismatch(last_recorded, MismatchKind::NotInHistory, None, Some(&command)))
            }
        }
    }

    fn mismatch(
        &self,
        event_id: EventId,
        kind: MismatchKind,
        recorded: Option<&E>,
        command: Option<&Command>,
    ) -> ActivationError {
        let hint = match recorded {
            Some(E::MarkerRecorded {
                marker: Marker::Patch { patch_id, .. },
                ..
            }) => Some(format!(
                "history recorded patch {patch_id:?}: keep `ctx.patched({patch_id:?})` (or \
                 `ctx.deprecate_patch({patch_id:?})`) at this point while runs with it may replay"
            )),
            _ => Some(
                "the workflow code changed in a way that breaks runs already in flight: guard the \
                 change with `ctx.patched(\"<change-id>\")`"
                    .to_owned(),
            ),
        };
        ActivationError::Nondeterminism(Box::new(Nondeterminism {
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.clone(),
            workflow_type: self.workflow_type(),
            event_id,
            workflow_task: self.workflow_task,
            kind,
            expected: recorded.map(describe_event),
            actual: command.map(Command::describe),
            actual_verb: command.map_or("issues", Command::verb),
            matched_before: self
                .matched_recent
                .iter()
                .map(|(event_id, text)| MatchedStep {
                    event_id: *event_id,
                    description: text.render(),
                })
                .collect(),
            hint,
        }))
    }

    fn violation(&self, kind: ViolationKind) -> ActivationError {
        ActivationError::DeterminismViolation(Box::new(DeterminismViolation {
            workflow_id: self.workflow_id.clone(),
            workflow_type: self.workflow_type(),
            kind,
        }))
    }

    /// The run's workflow type, for errors (empty before the run started). Kept only in the
    /// run's state: a replay makes one instance per path, and a second copy was one more
    /// allocation each time.
    fn workflow_type(&self) -> String {
        self.state
            .as_ref()
            .and_then(|state| state.try_borrow().ok().map(|s| s.info.workflow_type.clone()))
            .unwrap_or_default()
    }

    fn run_state(&self) -> Result<&Shared, ActivationError> {
        self.state.as_ref().ok_or_else(|| {
            HistoryError::FirstEventNotStarted {
                event_id: EventId::FIRST,
                event_type: "(none)".to_owned(),
            }
            .into()
        })
    }
}

/// What a run waits for at some point of its history (see [`WorkflowInstance::summary`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceSummary {
    /// The next event the instance expects.
    pub next_event_id: EventId,
    /// Workflow tasks the code ran.
    pub workflow_tasks: u32,
    /// The code returned.
    pub finished: bool,
    /// History closed the run.
    pub closed: bool,
    /// Activities scheduled and unresolved, as `seq:type`.
    pub pending_activities: Vec<String>,
    /// Timers started and unresolved.
    pub pending_timers: Vec<String>,
    /// Children started and unresolved.
    pub pending_children: Vec<String>,
    /// Signals buffered, by name.
    pub buffered_signals: BTreeMap<String, usize>,
    /// A cancellation was requested.
    pub cancel_requested: bool,
}

/// A query that could not be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The run has not started (no `WorkflowExecutionStarted` applied).
    #[error("the workflow has not started yet")]
    NotStarted,
    /// No handler for this query name.
    #[error("unknown query `{name}` (handlers: {})", .known.join(", "))]
    UnknownQuery {
        /// The name asked for.
        name: String,
        /// The names with handlers.
        known: Vec<String>,
    },
    /// The arguments or the answer did not fit their types.
    #[error("{0}")]
    Payload(#[from] PayloadError),
    /// The handler panicked (or tried to change the run: query handlers may only read).
    #[error("query handler `{name}` panicked: {message}")]
    HandlerPanicked {
        /// The query name.
        name: String,
        /// The panic message.
        message: String,
    },
}

/// The markers recorded by the task whose command events start `rest`, if it recorded any.
fn lookahead(rest: &[HistoryEvent]) -> Option<Lookahead> {
    let mut found: Option<Lookahead> = None;
    for event in rest.iter().take_while(|e| e.attributes.is_command_event()) {
        if let E::MarkerRecorded { marker, .. } = &event.attributes {
            let found = found.get_or_insert_with(Lookahead::default);
            match marker {
                Marker::Patch { patch_id, .. } => {
                    found.patches.insert(patch_id.clone());
                }
                Marker::SideEffect {
                    side_effect_id,
                    value,
                } => {
                    found.side_effects.insert(*side_effect_id, value.clone());
                }
            }
        }
    }
    found
}

fn is_deprecated_patch(event: &E) -> bool {
    matches!(
        event,
        E::MarkerRecorded {
            marker: Marker::Patch { deprecated: true, .. },
            ..
        }
    )
}

/// Wakes the conditions whose predicates now hold. Predicates are user code, so they are
/// called with the state not borrowed. A condition already woken is not woken again until it
/// is polled: one held but not awaited must not keep the run polling forever.
fn wake_satisfied_conditions(state: &Shared) {
    let unwoken = |(key, w): (&u64, &Waiter)| match &w.wait_for {
        WaitFor::Condition(pred) if !w.woken => Some((*key, pred.clone(), w.waker.clone())),
        _ => None,
    };
    // Checked after every poll: most of the time no condition waits, and one when any does,
    // so the first is kept apart and only the rest are collected (an empty collection
    // allocates nothing).
    let (first, rest) = {
        let s = state.borrow();
        let mut conditions = s.waiters.iter().filter_map(unwoken);
        let Some(first) = conditions.next() else {
            return;
        };
        (first, conditions.collect::<Vec<_>>())
    };
    for (key, pred, waker) in std::iter::once(first).chain(rest) {
        if pred() {
            if let Some(waiter) = state.borrow_mut().waiters.get_mut(&key) {
                waiter.woken = true;
            }
            waker.wake();
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_owned());
    if message.contains("Tokio") || message.contains("reactor") {
        format!("{message} (workflow code must not use tokio timers or I/O: use ctx.sleep and activities)")
    } else {
        message
    }
}
