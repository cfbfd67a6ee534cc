//! [`SimStorage`]: the engine's [`Storage`] with simulated latency, commit faults and
//! crashes, over a [`MemoryStorage`] that plays the disk.
//!
//! The wrapped `MemoryStorage` is the durable state: what it holds survives a crash. Every
//! `commit` goes through three steps:
//! 1. **decide**: number the commit, arm the faults planned at that number, draw a latency
//!    and the fault dice (always the same number of draws, see [`Dice`]), take the one-shot
//!    knobs, and record any injected fault in the [`FaultLog`](crate::FaultLog) with the
//!    commit's number ([`Op::Commit`]);
//! 2. **wait** out the latency on the [`Clock`](warpflow_engine::env::Clock) (virtual time
//!    in the simulator): this is the window in which a crash loses the commit;
//! 3. **apply** to the durable state, unless the fault says the commit fails, and lose the
//!    reply if the fault says so (the commit is durable but the caller gets `Unavailable`,
//!    and must retry with the same request id to find out).
//!
//! **Crashes** are modelled with an epoch: each handle belongs to the epoch it was opened in,
//! and [`SimStorage::crash`] ends the current epoch. A commit whose handle's epoch ended
//! before its apply step is dropped (never applied, the caller gets `Unavailable`), and every
//! later call through that handle fails the same way: a dead process does no more I/O.
//! [`SimStorage::reopen`] is the restart: a new handle in a new epoch over the same durable
//! state. The epoch check and the apply happen under one lock (the `MemoryStorage` commit
//! is applied at once, [`MemoryStorage::commit_now`]), so a commit is either applied before
//! the crash or not at all.
//!
//! Reads go straight to the durable state, without latency or faults (but not through a dead
//! handle). The knobs live in a shared [`StorageFaults`] handle, so a test or a fault plan
//! can arm them while the engine owns the storage: at once for the next commit
//! ([`StorageFaults::apply`]), or for the commit of a given number ([`StorageFaults::plan`]),
//! which is how a plan exported from a random run hits the very commits the dice hit.

use crate::dice::{Dice, LatencyRange};
use crate::fault::{Fault, FaultRates, Op, PlannedOps, SharedFaultLog};
use crate::trace::{EventText, SharedTrace};
use futures::future::BoxFuture;
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use warpflow_engine::env::SharedClock;
use warpflow_engine::history::HistoryEvent;
use warpflow_engine::ids::{EventId, RunId, TaskQueue, WorkflowId};
use warpflow_engine::payload::Payload;
use warpflow_engine::storage::{
    Commit, MemoryStorage, RequestId, RunKey, RunRecord, Storage, StorageError, StorageResult, Task,
    TaskKind, TimerRecord,
};
use warpflow_engine::time::Timestamp;

/// The default commit latency: 0 to 2 ms of virtual time.
pub const DEFAULT_COMMIT_LATENCY: LatencyRange = LatencyRange::millis(0, 2);

/// The default trace node name of a storage.
pub const DEFAULT_STORAGE_NODE: &str = "storage";

/// A [`Storage`] with simulated latency, faults and crashes. See the module documentation.
///
/// Clones are handles of the same epoch; [`SimStorage::reopen`] makes a handle of a new one.
#[derive(Clone)]
pub struct SimStorage {
    durable: MemoryStorage,
    clock: SharedClock,
    shared: Arc<Mutex<Shared>>,
    /// The epoch this handle was opened in; it is dead once the shared epoch moves on.
    epoch: u64,
}

/// The knobs of a [`SimStorage`], shared by all its handles (across reopens too).
#[derive(Clone)]
pub struct StorageFaults {
    shared: Arc<Mutex<Shared>>,
}

/// State shared by the handles and the knobs. Behind a std mutex that is only held inside
/// synchronous blocks, never across an await: each commit locks once to decide, and once to
/// check its epoch and apply.
struct Shared {
    /// The current epoch: handles opened in an earlier one are dead.
    epoch: u64,
    dice: Dice,
    latency: LatencyRange,
    fail_rate: f64,
    lose_reply_rate: f64,
    /// One-shot knobs: how many upcoming commits fail / lose their reply.
    fail_next: u32,
    lose_reply_next: u32,
    /// Faults planned at commit numbers, armed as that commit starts.
    planned: PlannedOps,
    log: SharedFaultLog,
    trace: Option<SharedTrace>,
    node: String,
    /// Numbers commits in the trace.
    commits: u64,
    /// Where a commit's applied line is spelled before the commit is handed over (kept, so
    /// that each commit does not allocate its own).
    line: String,
}

/// What the decide step chose for one commit.
struct Decision {
    number: u64,
    latency: Duration,
    fail: bool,
    lose_reply: bool,
}

impl Shared {
    fn trace(&self, at: Timestamp, event: impl AsRef<str>) {
        if let Some(trace) = &self.trace {
            trace.record(at, &self.node, event);
        }
    }

    /// Step 1 of a commit: the latency and faults, recorded in the log.
    fn decide(&mut self, now: Timestamp) -> Decision {
        self.commits += 1;
        let number = self.commits;
        for fault in self.planned.take(number) {
            self.arm(&fault);
        }
        // Always three draws, in this order, whatever the knobs and rates.
        let latency = self.dice.latency(self.latency);
        let roll_fail = self.dice.chance(self.fail_rate);
        let roll_lose = self.dice.chance(self.lose_reply_rate);
        let fail = take(&mut self.fail_next) || roll_fail;
        let lose_reply = !fail && (take(&mut self.lose_reply_next) || roll_lose);
        let op = Some(Op::Commit(number));
        if fail {
            self.log.record(now, op, Fault::FailCommit);
        }
        if lose_reply {
            self.log.record(now, op, Fault::LoseCommitReply);
        }
        // `as_millis` fits: latencies are drawn in whole milliseconds from a u64 range.
        let millis = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        if let Some(trace) = &self.trace {
            trace.record_with(now, &self.node, |line| {
                line.text("commit #")
                    .number(number)
                    .text(" begins (latency ")
                    .number(millis)
                    .text("ms)")
            });
        }
        Decision {
            number,
            latency,
            fail,
            lose_reply,
        }
    }

    /// Arms `fault` for the next commit if it is a storage fault; says whether it was.
    fn arm(&mut self, fault: &Fault) -> bool {
        match fault {
            Fault::FailCommit => self.fail_next += 1,
            Fault::LoseCommitReply => self.lose_reply_next += 1,
            _ => return false,
        }
        true
    }
}

/// Consumes one unit of a one-shot knob.
fn take(counter: &mut u32) -> bool {
    if *counter > 0 {
        *counter -= 1;
        true
    } else {
        false
    }
}

fn unavailable(what: impl Into<String>) -> StorageError {
    StorageError::Unavailable(what.into())
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Nothing panics while holding the lock; the knobs stay meaningful if something did.
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimStorage {
    /// A storage over `durable` on `clock`, drawing latencies and faults from `rng`: latency
    /// [`DEFAULT_COMMIT_LATENCY`], no random faults, a fresh log, no trace.
    pub fn new(durable: MemoryStorage, clock: SharedClock, rng: ChaCha8Rng) -> SimStorage {
        let shared = Shared {
            epoch: 0,
            dice: Dice::new(rng),
            latency: DEFAULT_COMMIT_LATENCY,
            fail_rate: 0.0,
            lose_reply_rate: 0.0,
            fail_next: 0,
            lose_reply_next: 0,
            planned: PlannedOps::default(),
            log: SharedFaultLog::new(),
            trace: None,
            node: DEFAULT_STORAGE_NODE.to_owned(),
            commits: 0,
            line: String::new(),
        };
        SimStorage {
            durable,
            clock,
            shared: Arc::new(Mutex::new(shared)),
            epoch: 0,
        }
    }

    /// This storage with commit latencies drawn from `latency`.
    pub fn with_latency(self, latency: LatencyRange) -> SimStorage {
        self.faults().set_latency(latency);
        self
    }

    /// This storage drawing random commit faults from `rates` (`fail_commit`,
    /// `lose_commit_reply`; the other rates are not the storage's).
    pub fn with_rates(self, rates: &FaultRates) -> SimStorage {
        self.faults().set_rates(rates);
        self
    }

    /// This storage recording injected faults in `log`.
    pub fn with_log(self, log: SharedFaultLog) -> SimStorage {
        lock(&self.shared).log = log;
        self
    }

    /// This storage recording what it does in `trace`.
    pub fn with_trace(self, trace: SharedTrace) -> SimStorage {
        lock(&self.shared).trace = Some(trace);
        self
    }

    /// This storage naming itself `node` in the trace (default [`DEFAULT_STORAGE_NODE`]).
    pub fn with_node(self, node: impl Into<String>) -> SimStorage {
        lock(&self.shared).node = node.into();
        self
    }

    /// The knobs, shared with every handle of this storage.
    pub fn faults(&self) -> StorageFaults {
        StorageFaults {
            shared: self.shared.clone(),
        }
    }

    /// The durable state (what survives a crash).
    pub fn durable(&self) -> &MemoryStorage {
        &self.durable
    }

    /// The engine process crashes: the current epoch ends, so every commit still in its
    /// latency window is dropped, and every handle opened so far is dead. Records
    /// [`Fault::CrashEngine`] in the log (the storage is the engine's disk: its crash is the
    /// engine's crash; whoever calls this records nothing more).
    pub fn crash(&self) {
        let now = self.clock.now();
        let mut shared = lock(&self.shared);
        shared.epoch += 1;
        shared.log.record(now, None, Fault::CrashEngine);
        let epoch = shared.epoch;
        shared.trace(now, format!("crash: commits in flight are lost (epoch {epoch})"));
    }

    /// The restart: a handle in a new epoch over the same durable state, sharing the knobs,
    /// the log, the trace and the random stream. Every earlier handle is dead from now on
    /// (call [`SimStorage::crash`] first to have the crash recorded as a fault).
    pub fn reopen(&self) -> SimStorage {
        let now = self.clock.now();
        let mut shared = lock(&self.shared);
        shared.epoch += 1;
        let epoch = shared.epoch;
        shared.trace(now, format!("reopen (epoch {epoch})"));
        drop(shared);
        SimStorage {
            durable: self.durable.clone(),
            clock: self.clock.clone(),
            shared: self.shared.clone(),
            epoch,
        }
    }

    /// True until a crash or a reopen ends this handle's epoch.
    pub fn is_alive(&self) -> bool {
        lock(&self.shared).epoch == self.epoch
    }

    fn check_alive(&self) -> StorageResult<()> {
        if self.is_alive() {
            Ok(())
        } else {
            Err(unavailable("storage handle of a crashed process"))
        }
    }

    /// A call on the durable state through this handle other than a commit (reads, and a
    /// task's lease): the durable storage's own future (not boxed a second time: these are
    /// most of the storage calls), or `Unavailable`
    /// from a dead handle. The handle is checked when the read is asked for rather than
    /// when it is first polled; the engine awaits a read at once, so no crash falls between.
    fn read<'a, T: Send + 'a>(
        &'a self,
        read: impl FnOnce(&'a MemoryStorage) -> BoxFuture<'a, StorageResult<T>>,
    ) -> BoxFuture<'a, StorageResult<T>> {
        match self.check_alive() {
            Ok(()) => read(&self.durable),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    /// Steps 2 and 3 of a commit (see the module documentation).
    async fn commit_inner(&self, commit: Commit) -> StorageResult<()> {
        let start = self.clock.now();
        let decision = {
            let mut shared = lock(&self.shared);
            if shared.epoch != self.epoch {
                return Err(unavailable("storage handle of a crashed process"));
            }
            shared.decide(start)
        };
        let number = decision.number;
        self.clock.sleep_until(start.plus(decision.latency)).await;

        let now = self.clock.now();
        // The epoch check and the apply under one lock, so that a crash cannot fall between
        // them. The memory commit is applied at once, so no await happens here.
        let mut shared = lock(&self.shared);
        if shared.epoch != self.epoch {
            shared.trace(now, format!("commit #{number} lost in the crash"));
            return Err(unavailable(format!("commit #{number} lost: the storage crashed")));
        }
        if decision.fail {
            shared.trace(now, format!("commit #{number} failed (injected), not applied"));
            return Err(unavailable(format!("injected fault: commit #{number} failed")));
        }
        let mut applied = std::mem::take(&mut shared.line);
        applied.clear();
        applied_line(&mut applied, number, &commit);
        let result = self.durable.commit_now(commit);
        match &result {
            Ok(()) => shared.trace(now, &applied),
            Err(e) => shared.trace(now, format!("commit #{number} refused: {e}")),
        }
        shared.line = applied;
        if decision.lose_reply {
            shared.trace(now, format!("commit #{number} reply lost (injected)"));
            return Err(unavailable(format!(
                "injected fault: the reply of commit #{number} was lost"
            )));
        }
        result
    }
}

/// The trace line of commit `number` applied: `commit #<n> applied (<a short description
/// of the commit>)`, written at the end of `text`. Written piece by piece: this runs on every
/// simulated commit.
fn applied_line(text: &mut String, number: u64, commit: &Commit) {
    let mut line = EventText::new(text)
        .text("commit #")
        .number(number)
        .text(" applied (runs [");
    for (i, write) in commit.runs.iter().enumerate() {
        let key = &write.record.key;
        line = line
            .text(if i == 0 { "" } else { ", " })
            .text(key.workflow_id.as_str())
            .text("/")
            .text(key.run_id.as_str())
            .text(" +")
            .number(write.events.len() as u64);
    }
    line.text("], tasks +")
        .number(commit.create_tasks.len() as u64)
        .text(" -")
        .number(commit.complete_tasks.len() as u64)
        .text(", timers +")
        .number(commit.create_timers.len() as u64)
        .text(" -")
        .number(commit.delete_timers.len() as u64)
        .text(", requests +")
        .number(commit.requests.len() as u64)
        .text(")");
}

impl fmt::Debug for SimStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimStorage")
            .field("epoch", &self.epoch)
            .field("alive", &self.is_alive())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for StorageFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = lock(&self.shared);
        f.debug_struct("StorageFaults")
            .field("latency", &shared.latency)
            .field("fail_rate", &shared.fail_rate)
            .field("lose_reply_rate", &shared.lose_reply_rate)
            .field("fail_next", &shared.fail_next)
            .field("lose_reply_next", &shared.lose_reply_next)
            .finish_non_exhaustive()
    }
}

impl StorageFaults {
    /// The next commit (that is not already taken by an earlier call) fails with
    /// `Unavailable` and is not applied.
    pub fn fail_next_commit(&self) {
        lock(&self.shared).fail_next += 1;
    }

    /// The next commit is applied, but its caller gets `Unavailable`.
    pub fn lose_next_commit_reply(&self) {
        lock(&self.shared).lose_reply_next += 1;
    }

    /// Random mode: each commit fails with probability `rates.fail_commit`, else loses its
    /// reply with probability `rates.lose_commit_reply`. [`FaultRates::none`] turns it off.
    pub fn set_rates(&self, rates: &FaultRates) {
        let mut shared = lock(&self.shared);
        shared.fail_rate = rates.fail_commit;
        shared.lose_reply_rate = rates.lose_commit_reply;
    }

    /// Commit latencies from now on.
    pub fn set_latency(&self, latency: LatencyRange) {
        lock(&self.shared).latency = latency;
    }

    /// Arms `fault` if it is a storage fault ([`Fault::FailCommit`],
    /// [`Fault::LoseCommitReply`]) and says whether it was. Crashes are not armed here: the
    /// test kit crashes the engine and calls [`SimStorage::crash`].
    pub fn apply(&self, fault: &Fault) -> bool {
        lock(&self.shared).arm(fault)
    }

    /// Plans `fault` for commit number `commit` (numbered from 1, as the trace and the log
    /// number them) if it is a storage fault, and says whether it was: it is armed as that
    /// commit starts, so that commit takes it.
    pub fn plan(&self, commit: u64, fault: &Fault) -> bool {
        if !Op::Commit(commit).takes(fault) {
            return false;
        }
        lock(&self.shared).planned.plan(commit, fault.clone());
        true
    }

    /// The log injected faults go to.
    pub fn log(&self) -> SharedFaultLog {
        lock(&self.shared).log.clone()
    }
}

impl Storage for SimStorage {
    fn commit(&self, commit: Commit) -> BoxFuture<'_, StorageResult<()>> {
        Box::pin(self.commit_inner(commit))
    }

    fn get_run<'a>(
        &'a self,
        workflow_id: &'a WorkflowId,
        run_id: Option<&'a RunId>,
    ) -> BoxFuture<'a, StorageResult<Option<RunRecord>>> {
        self.read(|durable| durable.get_run(workflow_id, run_id))
    }

    fn read_events<'a>(
        &'a self,
        run: &'a RunKey,
        from: EventId,
    ) -> BoxFuture<'a, StorageResult<Vec<HistoryEvent>>> {
        self.read(|durable| durable.read_events(run, from))
    }

    fn list_runs<'a>(
        &'a self,
        workflow_id: Option<&'a WorkflowId>,
        limit: usize,
    ) -> BoxFuture<'a, StorageResult<Vec<RunRecord>>> {
        self.read(|durable| durable.list_runs(workflow_id, limit))
    }

    fn lease_task<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
        owner: &'a str,
        lease_for: Duration,
    ) -> BoxFuture<'a, StorageResult<Option<Task>>> {
        self.read(|durable| durable.lease_task(queue, kind, now, owner, lease_for))
    }

    fn next_task_time<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
    ) -> BoxFuture<'a, StorageResult<Option<Timestamp>>> {
        self.read(|durable| durable.next_task_time(queue, kind, now))
    }

    fn due_timers(&self, now: Timestamp, limit: usize) -> BoxFuture<'_, StorageResult<Vec<TimerRecord>>> {
        self.read(|durable| durable.due_timers(now, limit))
    }

    fn next_timer_due(&self) -> BoxFuture<'_, StorageResult<Option<Timestamp>>> {
        self.read(|durable| durable.next_timer_due())
    }

    fn get_request<'a>(&'a self, request_id: &'a RequestId) -> BoxFuture<'a, StorageResult<Option<Payload>>> {
        self.read(|durable| durable.get_request(request_id))
    }
}
