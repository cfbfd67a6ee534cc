//! The seeded single-threaded executor every simulation runs on.
//!
//! Tasks are futures on one thread (they need not be `Send`). Each step polls one ready task,
//! picked at random by the scheduling stream of the seed, so a simulation explores different
//! interleavings across seeds and repeats exactly for one seed. When no task is ready, virtual
//! time jumps to the earliest timer or time action; when no task is ready and neither is set
//! while work is pending, the run is a deadlock, reported with the blocked tasks' names —
//! never a hang.
//! Step and virtual-time budgets bound every run. [`Sim::at_step`] runs an action once the
//! executor has made a given number of steps (a fault plan's [`When::Step`](crate::When::Step)),
//! [`Sim::at_time`] once virtual time reaches a given time: outside any task, so an action
//! that does nothing leaves the run exactly as it would have been without it.
//!
//! [`SimClock`] and [`SimSpawner`] are the engine's `Clock` and `Spawner` on this executor;
//! they are `Send + Sync` handles to state shared with it (behind a std mutex that is never
//! held across an await or a poll).

use crate::rng::{self, Stream};
use futures::future::{BoxFuture, LocalBoxFuture};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use warpflow_engine::env::{Clock, Sleep, Spawner, Timers};
use warpflow_engine::time::Timestamp;

/// 2026-01-01T00:00:00Z: simulations start here, so histories are byte-stable.
pub const SIM_EPOCH: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// Bounds and seed of a simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed every random stream derives from.
    pub seed: u64,
    /// Virtual time at the start.
    pub start: Timestamp,
    /// Most polls one `run_until` may make.
    pub max_steps: u64,
    /// Most virtual time one simulation may cover.
    pub max_virtual_time: Duration,
}

impl SimConfig {
    /// Defaults for `seed`: start at [`SIM_EPOCH`], ten million steps, one year.
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            start: SIM_EPOCH,
            max_steps: 10_000_000,
            max_virtual_time: Duration::from_secs(366 * 24 * 3600),
        }
    }
}

/// Why a simulation stopped before its goal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// Nothing can run and no timer or time action is set, yet the goal is not reached.
    #[error("deadlock at {at}: nothing can run and no timer or time action is set; blocked tasks: {}", .blocked.join(", "))]
    Deadlock {
        /// When.
        at: Timestamp,
        /// The names of the tasks still pending.
        blocked: Vec<String>,
    },
    /// The step budget ran out (a busy loop?).
    #[error("step budget of {steps} polls exhausted at {at}")]
    StepBudget {
        /// The budget.
        steps: u64,
        /// When.
        at: Timestamp,
    },
    /// The next timer lies beyond the virtual-time budget.
    #[error("virtual-time budget exhausted: next timer at {next}, budget ends at {end}")]
    TimeBudget {
        /// The next timer.
        next: Timestamp,
        /// The end of the budget.
        end: Timestamp,
    },
}

type TaskId = u64;

/// A task's place: its id (unique in a run, the order picks are made in) and its slot in
/// the task table (reused once the task is gone, so the table stays as small as the number
/// of live tasks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TaskKey {
    id: TaskId,
    slot: usize,
}

/// What wakers, timers and spawners share with the executor.
struct Shared {
    /// Virtual time in Unix milliseconds, outside the lock: every component reads the clock
    /// on every operation, and only the executor's thread ever moves it.
    now: AtomicU64,
    state: Mutex<State>,
}

/// The part of [`Shared`] behind the lock.
#[derive(Default)]
struct State {
    /// Pending timers sorted by (deadline, registration order) *descending*, so that the
    /// earliest is last and firing it is a `pop` (a handful of timers are pending at a time:
    /// a vector costs no allocation per timer, where a map frees and reallocates its node
    /// each time it empties). Registration order orders equal deadlines deterministically.
    timers: Vec<(TimerKey, Waker)>,
    next_timer: u64,
    /// The ready tasks, each once, in no order (a pick sorts them by id). A handful at a
    /// time, so a vector with a linear duplicate check beats a set.
    ready: Vec<TaskKey>,
    spawned: Vec<(&'static str, BoxFuture<'static, ()>)>,
}

type TimerKey = (Timestamp, u64);

impl State {
    /// Where the timer `key` is, or would go, in `timers` (descending order).
    fn timer_position(&self, key: TimerKey) -> Result<usize, usize> {
        self.timers.binary_search_by(|(probe, _)| key.cmp(probe))
    }

    fn remove_timer(&mut self, key: TimerKey) {
        if let Ok(at) = self.timer_position(key) {
            self.timers.remove(at);
        }
    }
}

type SharedState = Arc<Shared>;

fn new_shared(start: Timestamp) -> SharedState {
    Arc::new(Shared {
        now: AtomicU64::new(start.as_millis()),
        state: Mutex::new(State::default()),
    })
}

impl Shared {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.now.load(Ordering::Relaxed))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held across user code, so a poisoned lock only follows a panic in
        // this module; the state is still consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct TaskWaker {
    key: TaskKey,
    shared: SharedState,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.shared.lock();
        if !state.ready.contains(&self.key) {
            state.ready.push(self.key);
        }
    }
}

struct Task {
    id: TaskId,
    name: &'static str,
    /// `None` while the task is being polled (it keeps its slot, so a step costs no
    /// removal and re-insertion).
    future: Option<LocalBoxFuture<'static, ()>>,
    waker: Waker,
}

/// The live tasks by slot, with the free slots to reuse.
#[derive(Default)]
struct Tasks {
    slots: Vec<Option<Task>>,
    free: Vec<usize>,
}

impl Tasks {
    /// The task at `key`, if it still exists.
    fn get_mut(&mut self, key: TaskKey) -> Option<&mut Task> {
        self.slots
            .get_mut(key.slot)
            .and_then(Option::as_mut)
            .filter(|task| task.id == key.id)
    }

    fn contains(&self, key: TaskKey) -> bool {
        self.slots
            .get(key.slot)
            .and_then(Option::as_ref)
            .is_some_and(|task| task.id == key.id)
    }

    fn remove(&mut self, key: TaskKey) {
        if self.contains(key) {
            self.slots[key.slot] = None;
            self.free.push(key.slot);
        }
    }

    /// The names of the live tasks, in id order.
    fn names(&self) -> Vec<String> {
        let mut live: Vec<(TaskId, &'static str)> = self
            .slots
            .iter()
            .flatten()
            .map(|task| (task.id, task.name))
            .collect();
        live.sort_unstable_by_key(|(id, _)| *id);
        live.into_iter().map(|(_, name)| name.to_owned()).collect()
    }
}

/// The executor. `!Send`: a simulation runs on one thread.
pub struct Sim {
    config: SimConfig,
    shared: SharedState,
    tasks: RefCell<Tasks>,
    next_task: Cell<TaskId>,
    scheduling: RefCell<ChaCha8Rng>,
    steps: Cell<u64>,
    /// Actions to run once the executor has made a number of steps, in registration order.
    step_actions: RefCell<BTreeMap<u64, Vec<StepAction>>>,
    /// The step of the first action in `step_actions` (`u64::MAX`: none), so that a step
    /// without an action due costs one comparison.
    next_action_step: Cell<u64>,
    /// Actions to run once virtual time reaches a time, by `(time, registration number)`.
    time_actions: RefCell<BTreeMap<(Timestamp, u64), StepAction>>,
    /// The time of the first action in `time_actions`, if any.
    next_action_time: Cell<Option<Timestamp>>,
    /// Time actions registered so far (their order among equal times).
    time_actions_made: Cell<u64>,
    /// Scratch space reused by every jump of time (the wakers due) and every adoption of
    /// spawned tasks, so that neither allocates.
    scratch_due: RefCell<Vec<Waker>>,
    scratch_spawned: RefCell<Vec<(&'static str, BoxFuture<'static, ()>)>>,
}

type StepAction = Box<dyn FnOnce()>;

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("config", &self.config)
            .field("now", &self.now())
            .field("steps", &self.steps.get())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A simulation with `config`.
    pub fn new(config: SimConfig) -> Sim {
        Sim {
            scheduling: RefCell::new(rng::stream(config.seed, Stream::Scheduling)),
            shared: new_shared(config.start),
            config,
            tasks: RefCell::new(Tasks::default()),
            next_task: Cell::new(0),
            steps: Cell::new(0),
            step_actions: RefCell::new(BTreeMap::new()),
            next_action_step: Cell::new(u64::MAX),
            time_actions: RefCell::new(BTreeMap::new()),
            next_action_time: Cell::new(None),
            time_actions_made: Cell::new(0),
            scratch_due: RefCell::new(Vec::new()),
            scratch_spawned: RefCell::new(Vec::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Current virtual time.
    pub fn now(&self) -> Timestamp {
        self.shared.now()
    }

    /// Virtual time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        self.now().since(self.config.start)
    }

    /// Polls made so far.
    pub fn steps(&self) -> u64 {
        self.steps.get()
    }

    /// Runs `action` once the executor has made `step` steps, just before the next one (at
    /// once, before the next step, if `step` has passed). Actions for the same step run in
    /// the order they were registered. The action runs outside any task: it may wake and
    /// spawn tasks, not await.
    pub fn at_step(&self, step: u64, action: impl FnOnce() + 'static) {
        self.step_actions
            .borrow_mut()
            .entry(step)
            .or_default()
            .push(Box::new(action));
        self.next_action_step.set(self.next_action_step.get().min(step));
    }

    /// Runs the actions due once `steps` steps are made.
    fn run_step_actions(&self, steps: u64) {
        loop {
            let due = {
                let mut actions = self.step_actions.borrow_mut();
                let due = match actions.first_entry() {
                    Some(entry) if *entry.key() <= steps => entry.remove(),
                    _ => Vec::new(),
                };
                let next = actions.first_key_value().map_or(u64::MAX, |(step, _)| *step);
                self.next_action_step.set(next);
                due
            };
            if due.is_empty() {
                return;
            }
            // Run with the map released: an action may register another.
            due.into_iter().for_each(|action| action());
        }
    }

    /// Runs `action` once virtual time reaches `at`, before any task runs at that time (at
    /// once, before the next step, if `at` has passed). Actions for the same time run in the
    /// order they were registered. Like [`at_step`](Self::at_step), the action runs outside
    /// any task: it may wake and spawn tasks, not await. Unlike a task sleeping until `at`,
    /// it takes no part in the scheduling draws, so an action that does nothing changes
    /// nothing in the run.
    pub fn at_time(&self, at: Timestamp, action: impl FnOnce() + 'static) {
        let made = self.time_actions_made.get();
        self.time_actions_made.set(made + 1);
        self.time_actions
            .borrow_mut()
            .insert((at, made), Box::new(action));
        let next = self.next_action_time.get().map_or(at, |next| next.min(at));
        self.next_action_time.set(Some(next));
    }

    /// Whether a time action is due at the current virtual time.
    fn time_action_due(&self) -> bool {
        self.next_action_time.get().is_some_and(|at| at <= self.now())
    }

    /// Runs the time actions due at the current virtual time.
    fn run_time_actions(&self) {
        while self.time_action_due() {
            let action = {
                let mut actions = self.time_actions.borrow_mut();
                let action = actions.pop_first().map(|(_, action)| action);
                self.next_action_time
                    .set(actions.first_key_value().map(|((at, _), _)| *at));
                action
            };
            // Run with the map released: an action may register another.
            if let Some(action) = action {
                action();
            }
        }
    }

    /// The engine's clock on this simulation's virtual time.
    pub fn clock(&self) -> Arc<SimClock> {
        Arc::new(SimClock {
            shared: self.shared.clone(),
        })
    }

    /// The engine's spawner onto this simulation.
    pub fn spawner(&self) -> Arc<SimSpawner> {
        Arc::new(SimSpawner {
            shared: self.shared.clone(),
        })
    }

    /// Starts a task (it need not be `Send`).
    pub fn spawn(&self, name: &'static str, future: impl Future<Output = ()> + 'static) {
        self.add_task(name, Box::pin(future));
    }

    fn add_task(&self, name: &'static str, future: LocalBoxFuture<'static, ()>) -> TaskKey {
        let id = self.next_task.get() + 1;
        self.next_task.set(id);
        let mut tasks = self.tasks.borrow_mut();
        let slot = match tasks.free.pop() {
            Some(slot) => slot,
            None => {
                tasks.slots.push(None);
                tasks.slots.len() - 1
            }
        };
        let key = TaskKey { id, slot };
        let waker = Waker::from(Arc::new(TaskWaker {
            key,
            shared: self.shared.clone(),
        }));
        tasks.slots[slot] = Some(Task {
            id,
            name,
            future: Some(future),
            waker,
        });
        self.shared.lock().ready.push(key);
        key
    }

    /// Runs the simulation until `goal` completes, and returns its output. Other tasks keep
    /// their state and go on at the next call.
    pub fn run_until<T: 'static>(&self, goal: impl Future<Output = T> + 'static) -> Result<T, SimError> {
        let output = Rc::new(RefCell::new(None));
        let slot = output.clone();
        let goal_key = self.add_task(
            "goal",
            Box::pin(async move {
                let value = goal.await;
                *slot.borrow_mut() = Some(value);
            }),
        );
        let result = self.drive(|| output.borrow().is_some());
        if result.is_err() {
            // The goal is abandoned with the run; its task must not linger into the next one.
            self.tasks.borrow_mut().remove(goal_key);
        }
        result?;
        output.take().ok_or(SimError::Deadlock {
            at: self.now(),
            blocked: vec!["goal".to_owned()],
        })
    }

    /// Runs until virtual time reaches `deadline` (tasks due at it have run).
    pub fn run_until_time(&self, deadline: Timestamp) -> Result<(), SimError> {
        let clock = self.clock();
        self.run_until(async move { clock.sleep_until(deadline).await })
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&self, d: Duration) -> Result<(), SimError> {
        self.run_until_time(self.now().plus(d))
    }

    /// Runs every task that can run without time passing, and returns when none can.
    pub fn run_until_stalled(&self) -> Result<(), SimError> {
        loop {
            if self.time_action_due() {
                self.run_time_actions();
            }
            self.adopt_spawned();
            let Some(pick) = self.pick_ready() else {
                return Ok(());
            };
            self.step(pick)?;
        }
    }

    /// When the earliest timer or time action is due, if any is set.
    pub fn next_timer(&self) -> Option<Timestamp> {
        let timer = self
            .shared
            .lock()
            .timers
            .last()
            .map(|((deadline, _), _)| *deadline);
        [timer, self.next_action_time.get()].into_iter().flatten().min()
    }

    /// Jumps virtual time to the earliest timer or time action and wakes or runs what is due
    /// then. Fails as a deadlock when neither is set, or when it lies beyond the time budget.
    pub fn advance_to_next_timer(&self) -> Result<(), SimError> {
        self.advance_time()
    }

    /// Picks one ready task at random (the scheduling stream: one draw per pick among the
    /// ready tasks that still exist, in id order) and marks it not ready; `None` when none is.
    fn pick_ready(&self) -> Option<TaskKey> {
        let mut state = self.shared.lock();
        let ready = &mut state.ready;
        {
            // A task that ended while ready is never picked again (ids are not reused).
            let tasks = self.tasks.borrow();
            ready.retain(|key| tasks.contains(*key));
        }
        if ready.is_empty() {
            return None;
        }
        if ready.len() > 1 {
            ready.sort_unstable_by_key(|key| key.id);
        }
        let at = (self.scheduling.borrow_mut().next_u64() % ready.len() as u64) as usize;
        // The order of the rest does not matter: the next pick sorts again.
        Some(ready.swap_remove(at))
    }

    fn drive(&self, done: impl Fn() -> bool) -> Result<(), SimError> {
        loop {
            if self.time_action_due() {
                self.run_time_actions();
            }
            self.adopt_spawned();
            if done() {
                return Ok(());
            }
            match self.pick_ready() {
                Some(pick) => self.step(pick)?,
                None => self.advance_time()?,
            }
        }
    }

    fn step(&self, key: TaskKey) -> Result<(), SimError> {
        let made = self.steps.get();
        if made >= self.next_action_step.get() {
            self.run_step_actions(made);
        }
        self.steps.set(made + 1);
        if made + 1 > self.config.max_steps {
            return Err(SimError::StepBudget {
                steps: self.config.max_steps,
                at: self.now(),
            });
        }
        // The future is taken out while it runs (the table is not borrowed then), so the task
        // may spawn others.
        let (mut future, waker) = {
            let mut tasks = self.tasks.borrow_mut();
            let Some(task) = tasks.get_mut(key) else {
                return Ok(());
            };
            let Some(future) = task.future.take() else {
                return Ok(());
            };
            (future, task.waker.clone())
        };
        let mut cx = Context::from_waker(&waker);
        let pending = future.as_mut().poll(&mut cx).is_pending();
        let mut tasks = self.tasks.borrow_mut();
        if pending {
            if let Some(task) = tasks.get_mut(key) {
                task.future = Some(future);
            }
        } else {
            tasks.remove(key);
        }
        Ok(())
    }

    fn adopt_spawned(&self) {
        let mut spawned = self.scratch_spawned.borrow_mut();
        {
            let mut state = self.shared.lock();
            if state.spawned.is_empty() {
                return;
            }
            // Swapped with the scratch vector: both keep their capacity.
            std::mem::swap(&mut state.spawned, &mut *spawned);
        }
        for (name, future) in spawned.drain(..) {
            self.add_task(name, future);
        }
    }

    /// Jumps to the earliest timer or time action and runs or wakes everything due then: the
    /// actions first, then the timers. The timers go in the same jump: a task an action wakes
    /// finds its own timer due gone, not left behind to wake it again.
    fn advance_time(&self) -> Result<(), SimError> {
        let mut state = self.shared.lock();
        let timer = state.timers.last().map(|((deadline, _), _)| *deadline);
        let action = self.next_action_time.get();
        let Some(deadline) = [timer, action].into_iter().flatten().min() else {
            drop(state);
            let blocked = self.tasks.borrow().names();
            return Err(SimError::Deadlock {
                at: self.now(),
                blocked,
            });
        };
        let end = self.config.start.plus(self.config.max_virtual_time);
        if deadline > end {
            return Err(SimError::TimeBudget { next: deadline, end });
        }
        let now = self.shared.now().max(deadline);
        self.shared.now.store(now.as_millis(), Ordering::Relaxed);
        if action == Some(deadline) {
            drop(state);
            self.run_time_actions();
            state = self.shared.lock();
        }
        let mut due = self.scratch_due.borrow_mut();
        // Earliest first, as they were registered among equal deadlines.
        while state.timers.last().is_some_and(|((at, _), _)| *at <= now) {
            if let Some((_, waker)) = state.timers.pop() {
                due.push(waker);
            }
        }
        // Waking takes the lock again: wake with it released.
        drop(state);
        due.drain(..).for_each(Waker::wake);
        Ok(())
    }
}

/// Virtual time of a [`Sim`], as the engine's `Clock`.
#[derive(Clone)]
pub struct SimClock {
    shared: SharedState,
}

impl std::fmt::Debug for SimClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimClock").field("now", &self.now()).finish()
    }
}

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        self.shared.now()
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        Sleep::on_timers(self.shared.clone(), deadline)
    }
}

/// Virtual-time timers, for the engine's [`Sleep`]: a sleep holds its deadline and its
/// registration number, the timers' key, so that it costs no allocation of its own.
impl Timers for Shared {
    fn poll_timer(
        &self,
        deadline: Timestamp,
        registration: &mut Option<u64>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if self.now() >= deadline {
            // Time only moves by firing the earliest timers, every one due with it: a timer
            // whose deadline has come has left the timers already.
            return Poll::Ready(());
        }
        let mut state = self.lock();
        match *registration {
            Some(number) => match state.timer_position((deadline, number)) {
                // Polled again before it fired: keep the entry, update a changed waker.
                Ok(at) => {
                    let waker = &mut state.timers[at].1;
                    if !waker.will_wake(cx.waker()) {
                        *waker = cx.waker().clone();
                    }
                }
                Err(at) => state.timers.insert(at, ((deadline, number), cx.waker().clone())),
            },
            None => {
                state.next_timer += 1;
                let key = (deadline, state.next_timer);
                *registration = Some(key.1);
                let at = state.timer_position(key).unwrap_or_else(|at| at);
                state.timers.insert(at, (key, cx.waker().clone()));
            }
        }
        Poll::Pending
    }

    fn cancel_timer(&self, deadline: Timestamp, registration: u64) {
        // A timer nobody waits for must not hold virtual time up or hide a deadlock.
        self.lock().remove_timer((deadline, registration));
    }
}

/// Spawns onto a [`Sim`], as the engine's `Spawner`.
#[derive(Clone)]
pub struct SimSpawner {
    shared: SharedState,
}

impl std::fmt::Debug for SimSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSpawner").finish_non_exhaustive()
    }
}

impl Spawner for SimSpawner {
    fn spawn(&self, name: &'static str, future: BoxFuture<'static, ()>) {
        self.shared.lock().spawned.push((name, future));
    }
}
