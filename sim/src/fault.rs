//! Faults as data: what can go wrong in a simulated run ([`Fault`]), when ([`When`], [`Op`]),
//! a schedule of faults ([`FaultPlan`]), the probabilities of a random run ([`FaultRates`]),
//! and the record of what was injected ([`FaultLog`]).
//!
//! A run meets faults in one of two modes:
//! - **planned**: a [`FaultPlan`] is a plain value that proptest generates and shrinks
//!   (`fault::strategy`, with the `proptest` feature); whoever drives the run arms each
//!   fault at its time, at its executor step, or at the operation it names, on the component
//!   it belongs to ([`SimStorage`](crate::SimStorage), [`SimNetwork`](crate::SimNetwork), or
//!   the test kit for crashes and activities);
//! - **random**: components draw faults from [`FaultRates`] with seeded [`Dice`](crate::Dice),
//!   for soak runs.
//!
//! Either way, every fault that takes effect is appended to a shared [`FaultLog`] with the
//! virtual time it was decided at and, for the faults a component decides per operation, the
//! operation it hit ([`Op`]: the n-th commit, message or activity attempt). [`FaultLog::to_plan`]
//! turns the log of a failing random run into an explicit plan that reproduces it exactly:
//! each per-operation fault is planned at its operation, each crash at its time. Replaying
//! the plan on the same seed makes the same decision for the same operation, because the
//! components draw the same random values per operation whatever they decide, and the
//! driver of the faults wakes at the same times in both modes (see the test kit's cluster).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use warpflow_engine::time::{Timestamp, format_duration};

/// One fault. Storage, network and activity faults are one-shot: they apply to the next
/// operation of their kind after they are armed (planned at an [`Op`], that operation itself).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "camelCase")]
pub enum Fault {
    /// Worker number `worker` crashes (its cache and running attempts are lost); the test kit
    /// restarts it.
    CrashWorker {
        /// The worker's index in the test kit.
        worker: u32,
    },
    /// The engine process crashes: commits in flight are lost ([`SimStorage::crash`]), and
    /// the test kit restarts it over the same durable storage.
    ///
    /// [`SimStorage::crash`]: crate::SimStorage::crash
    CrashEngine,
    /// The next storage commit fails with `Unavailable` and is not applied.
    FailCommit,
    /// The next storage commit is applied, but its caller gets `Unavailable`.
    LoseCommitReply,
    /// The next `count` requests on the network are lost (never delivered).
    DropMessages {
        /// How many.
        count: u32,
    },
    /// The next request on the network is delivered twice.
    DuplicateNextRequest,
    /// The next request on the network is delivered, but its reply is lost: the effect
    /// happened and the caller gets `Unavailable`.
    LoseNextReply,
    /// `node` is cut off: its calls fail fast, and its messages in flight are lost.
    Partition {
        /// The node.
        node: String,
    },
    /// `node` is reachable again.
    Heal {
        /// The node.
        node: String,
    },
    /// The next `attempts` activity attempts (of any type) fail with a retryable error
    /// without running the activity's code (interpreted by the test kit's activity runner).
    FailActivity {
        /// How many attempts fail.
        attempts: u32,
    },
    /// The next activity attempt hangs until it is cancelled, so the engine times it out
    /// (interpreted by the test kit's activity runner).
    TimeOutActivity,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::CrashWorker { worker } => write!(f, "crash worker {worker}"),
            Fault::CrashEngine => f.write_str("crash the engine"),
            Fault::FailCommit => f.write_str("fail the next commit"),
            Fault::LoseCommitReply => f.write_str("lose the next commit's reply"),
            Fault::DropMessages { count } => write!(f, "drop the next {count} message(s)"),
            Fault::DuplicateNextRequest => f.write_str("duplicate the next request"),
            Fault::LoseNextReply => f.write_str("lose the next reply"),
            Fault::Partition { node } => write!(f, "partition {node}"),
            Fault::Heal { node } => write!(f, "heal {node}"),
            Fault::FailActivity { attempts } => write!(f, "fail the next activity {attempts} time(s)"),
            Fault::TimeOutActivity => f.write_str("time out the next activity"),
        }
    }
}

/// When a planned fault is armed. In JSON: `{"at": "1.250s"}`, `{"step": 7}`, or the
/// operation (`{"commit": 3}`, `{"message": 12}`, `{"attempt": 2}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "WhenJson", into = "WhenJson")]
pub enum When {
    /// At this much virtual time after the start of the run.
    At(Duration),
    /// Once the simulation's executor has made this many steps (polls), before the next one.
    Step(u64),
    /// As this operation starts: only for the faults that operation takes (see
    /// [`Op::takes`]).
    Op(Op),
}

/// [`When`] as JSON writes it: one flat, externally tagged enum, so that a wrong key or
/// value is an error that names it.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum WhenJson {
    At(#[serde(with = "duration_text")] Duration),
    Step(u64),
    Commit(u64),
    Message(u64),
    Attempt(u64),
}

impl From<WhenJson> for When {
    fn from(json: WhenJson) -> When {
        match json {
            WhenJson::At(d) => When::At(d),
            WhenJson::Step(n) => When::Step(n),
            WhenJson::Commit(n) => When::Op(Op::Commit(n)),
            WhenJson::Message(n) => When::Op(Op::Message(n)),
            WhenJson::Attempt(n) => When::Op(Op::Attempt(n)),
        }
    }
}

impl From<When> for WhenJson {
    fn from(when: When) -> WhenJson {
        match when {
            When::At(d) => WhenJson::At(d),
            When::Step(n) => WhenJson::Step(n),
            When::Op(Op::Commit(n)) => WhenJson::Commit(n),
            When::Op(Op::Message(n)) => WhenJson::Message(n),
            When::Op(Op::Attempt(n)) => WhenJson::Attempt(n),
        }
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::At(d) => write!(f, "at {}", format_duration(*d)),
            When::Step(n) => write!(f, "at step {n}"),
            When::Op(op) => write!(f, "at {op}"),
        }
    }
}

impl From<Op> for When {
    fn from(op: Op) -> When {
        When::Op(op)
    }
}

/// An operation of a simulated component, numbered from 1 in the order they start: what a
/// per-operation fault hits. The numbers are the ones the trace shows (`commit #3`, `send
/// #12`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Op {
    /// The n-th storage commit (of every engine incarnation: the storage counts them).
    Commit(u64),
    /// The n-th call on the network, from any node.
    Message(u64),
    /// The n-th activity attempt started by any worker (the test kit counts them).
    Attempt(u64),
}

impl Op {
    /// Whether this operation can take `fault`: commits take the commit faults, messages the
    /// network faults (a partition or heal of any node), attempts the activity faults.
    pub fn takes(&self, fault: &Fault) -> bool {
        match self {
            Op::Commit(_) => matches!(fault, Fault::FailCommit | Fault::LoseCommitReply),
            Op::Message(_) => matches!(
                fault,
                Fault::DropMessages { .. }
                    | Fault::DuplicateNextRequest
                    | Fault::LoseNextReply
                    | Fault::Partition { .. }
                    | Fault::Heal { .. }
            ),
            Op::Attempt(_) => matches!(fault, Fault::FailActivity { .. } | Fault::TimeOutActivity),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Commit(n) => write!(f, "commit #{n}"),
            Op::Message(n) => write!(f, "message #{n}"),
            Op::Attempt(n) => write!(f, "activity attempt #{n}"),
        }
    }
}

/// A plan a run cannot follow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A fault is planned at an operation that cannot take it (a crash at a commit, say).
    #[error(
        "fault {index} of the plan (`{fault}`) is planned {when}, which cannot take it: commits take \
         commit faults, messages network faults, attempts activity faults; plan crashes at a time or a step"
    )]
    Misplaced {
        /// Its index in [`FaultPlan::faults`].
        index: usize,
        /// Where it is planned.
        when: When,
        /// The fault.
        fault: Fault,
    },
}

/// A schedule of faults: a value, so that it can be generated, shrunk, printed and saved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// The faults and when to arm them. Faults at the same time, step or operation are armed
    /// in this order.
    pub faults: Vec<(When, Fault)>,
    /// When faults stop, since the start (partitions heal; see [`FaultPlan::end`]). A plan
    /// exported from a random run has the run's horizon, and the test kit replays a plan with
    /// a horizon as that run was driven (its crash rolls woke the fault driver at a fixed
    /// cadence until then), so that the replay is exact.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration_text"
    )]
    pub horizon: Option<Duration>,
}

impl FaultPlan {
    /// An empty plan.
    pub fn new() -> FaultPlan {
        FaultPlan::default()
    }

    /// This plan with `fault` added at `when`.
    pub fn with(mut self, when: When, fault: Fault) -> FaultPlan {
        self.faults.push((when, fault));
        self
    }

    /// This plan with faults stopping at `horizon` after the start.
    pub fn with_horizon(mut self, horizon: Duration) -> FaultPlan {
        self.horizon = Some(horizon);
        self
    }

    /// The plan ordered by time: every `At` by duration, then every `Step` by step, then
    /// the operations by component and number. The sort is stable: faults at the same time
    /// keep their order (a partition and a heal at the same instant mean different things in
    /// different orders).
    pub fn sorted(mut self) -> FaultPlan {
        self.faults.sort_by_key(|(when, _)| *when);
        self
    }

    /// When faults stop, since the start: the horizon if set, else 1 ms after the last
    /// fault planned at a time (faults planned at a step or an operation do not count: when
    /// they happen is not known in advance).
    pub fn end(&self) -> Duration {
        self.horizon.unwrap_or_else(|| {
            self.faults
                .iter()
                .filter_map(|(when, _)| match when {
                    When::At(d) => Some(*d),
                    When::Step(_) | When::Op(_) => None,
                })
                .max()
                .unwrap_or_default()
                + Duration::from_millis(1)
        })
    }

    /// Checks that every fault planned at an operation is one that operation takes.
    pub fn check(&self) -> Result<(), PlanError> {
        for (index, (when, fault)) in self.faults.iter().enumerate() {
            if let When::Op(op) = when
                && !op.takes(fault)
            {
                return Err(PlanError::Misplaced {
                    index,
                    when: *when,
                    fault: fault.clone(),
                });
            }
        }
        Ok(())
    }

    /// The number of faults.
    pub fn len(&self) -> usize {
        self.faults.len()
    }

    /// True when the plan has no faults.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }
}

impl fmt::Display for FaultPlan {
    /// One line per fault (`at 1.250s: fail the next commit`, `at message #12: duplicate the
    /// next request`), then the horizon if set (`faults stop at 30s`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.faults.is_empty() {
            writeln!(f, "(no faults)")?;
        }
        for (when, fault) in &self.faults {
            writeln!(f, "{when}: {fault}")?;
        }
        if let Some(horizon) = self.horizon {
            writeln!(f, "faults stop at {}", format_duration(horizon))?;
        }
        Ok(())
    }
}

/// Faults planned at the operations of one component, by operation number: what a component
/// arms as each operation starts. Empty, it costs one map lookup per operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlannedOps {
    faults: BTreeMap<u64, Vec<Fault>>,
}

impl PlannedOps {
    /// Plans `fault` at operation `n` (after the faults already planned there).
    pub fn plan(&mut self, n: u64, fault: Fault) {
        self.faults.entry(n).or_default().push(fault);
    }

    /// Takes the faults planned at operation `n`, in the order they were planned.
    pub fn take(&mut self, n: u64) -> Vec<Fault> {
        self.faults.remove(&n).unwrap_or_default()
    }

    /// True when nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }
}

/// The probability of each fault per opportunity, for random runs. What an opportunity is
/// depends on the fault: each commit for the commit faults, each call on the network for
/// the network faults, and whatever the test kit decides (a step, a tick) for crashes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRates {
    /// A worker crashes.
    pub crash_worker: f64,
    /// The engine crashes.
    pub crash_engine: f64,
    /// A commit fails, not applied.
    pub fail_commit: f64,
    /// A commit is applied and its reply lost.
    pub lose_commit_reply: f64,
    /// A request is lost.
    pub drop_message: f64,
    /// A request is delivered twice.
    pub duplicate_request: f64,
    /// A request is delivered and its reply lost.
    pub lose_reply: f64,
    /// The calling node is partitioned (for a while: see `NetworkConfig::partition_length`).
    pub partition: f64,
    /// The next activity attempts fail ([`Fault::FailActivity`]; armed by the test kit).
    #[serde(default)]
    pub activity_failure: f64,
    /// The next activity attempt times out ([`Fault::TimeOutActivity`]; armed by the test
    /// kit).
    #[serde(default)]
    pub activity_timeout: f64,
}

impl FaultRates {
    /// No faults at all.
    pub const fn none() -> FaultRates {
        FaultRates {
            crash_worker: 0.0,
            crash_engine: 0.0,
            fail_commit: 0.0,
            lose_commit_reply: 0.0,
            drop_message: 0.0,
            duplicate_request: 0.0,
            lose_reply: 0.0,
            partition: 0.0,
            activity_failure: 0.0,
            activity_timeout: 0.0,
        }
    }

    /// Every rate multiplied by `factor`, capped at 1 (a probability): `scaled(4.0)` of the
    /// default mix is `warpflow simulate --faults heavy`.
    pub fn scaled(self, factor: f64) -> FaultRates {
        let times = |rate: f64| (rate * factor).min(1.0);
        FaultRates {
            crash_worker: times(self.crash_worker),
            crash_engine: times(self.crash_engine),
            fail_commit: times(self.fail_commit),
            lose_commit_reply: times(self.lose_commit_reply),
            drop_message: times(self.drop_message),
            duplicate_request: times(self.duplicate_request),
            lose_reply: times(self.lose_reply),
            partition: times(self.partition),
            activity_failure: times(self.activity_failure),
            activity_timeout: times(self.activity_timeout),
        }
    }
}

impl Default for FaultRates {
    /// A modest mix: a percent or two of commits and messages go wrong, crashes and
    /// partitions are rarer; activity failures and timeouts are armed now and then.
    fn default() -> FaultRates {
        FaultRates {
            crash_worker: 0.002,
            crash_engine: 0.001,
            fail_commit: 0.01,
            lose_commit_reply: 0.01,
            drop_message: 0.02,
            duplicate_request: 0.02,
            lose_reply: 0.01,
            partition: 0.002,
            activity_failure: 0.01,
            activity_timeout: 0.005,
        }
    }
}

/// One injected fault: when it was decided, the operation it hit (for the faults a component
/// decides per operation), and the fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedFault {
    /// The virtual time it was decided at.
    pub at: Timestamp,
    /// The operation it hit; `None` for faults applied at a time (crashes, the heals when
    /// faults stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Op>,
    /// The fault.
    pub fault: Fault,
}

impl LoggedFault {
    /// Where a plan replaying this entry arms it: at its operation, else at its time since
    /// `start` (an entry before `start` counts as at `start`).
    pub fn when(&self, start: Timestamp) -> When {
        match self.op {
            Some(op) => When::Op(op),
            None => When::At(self.at.since(start)),
        }
    }
}

impl fmt::Display for LoggedFault {
    /// `2026-01-01T00:00:01.250Z commit #7: fail the next commit`, or without the operation
    /// for a fault applied at a time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Some(op) => write!(f, "{} {op}: {}", self.at, self.fault),
            None => write!(f, "{} {}", self.at, self.fault),
        }
    }
}

/// Every fault injected in a run, in the order they were recorded (the order they happened).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultLog {
    entries: Vec<LoggedFault>,
}

impl FaultLog {
    /// An empty log.
    pub fn new() -> FaultLog {
        FaultLog::default()
    }

    /// Records `fault`, decided at `at`, hitting `op` (`None`: applied at a time).
    pub fn record(&mut self, at: Timestamp, op: Option<Op>, fault: Fault) {
        self.entries.push(LoggedFault { at, op, fault });
    }

    /// The entries, in the order they were recorded.
    pub fn entries(&self) -> &[LoggedFault] {
        &self.entries
    }

    /// The faults, in the order they were recorded.
    pub fn faults(&self) -> impl Iterator<Item = &Fault> {
        self.entries.iter().map(|entry| &entry.fault)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was injected.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The plan that reproduces this log in a run that started at `start`, in the order the
    /// faults happened: each per-operation fault at its operation, each other fault at its
    /// time since `start` (see [`LoggedFault::when`]). It has no horizon: give it the one the
    /// run had ([`FaultPlan::with_horizon`]) to replay a random run exactly.
    pub fn to_plan(&self, start: Timestamp) -> FaultPlan {
        FaultPlan {
            faults: self
                .entries
                .iter()
                .map(|entry| (entry.when(start), entry.fault.clone()))
                .collect(),
            horizon: None,
        }
    }
}

impl fmt::Display for FaultLog {
    /// One line per fault (see [`LoggedFault`]'s `Display`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in &self.entries {
            writeln!(f, "{entry}")?;
        }
        Ok(())
    }
}

/// A [`FaultLog`] shared by the components of one simulation; clones share the log.
#[derive(Clone, Debug, Default)]
pub struct SharedFaultLog {
    // A std mutex: every method locks, does its work and unlocks without awaiting.
    inner: Arc<Mutex<FaultLog>>,
}

impl SharedFaultLog {
    /// A new, empty shared log.
    pub fn new() -> SharedFaultLog {
        SharedFaultLog::default()
    }

    fn lock(&self) -> MutexGuard<'_, FaultLog> {
        // Nothing panics while holding the lock; a poisoned log is still a valid prefix.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `fault`, decided at `at`, hitting `op` (see [`FaultLog::record`]).
    pub fn record(&self, at: Timestamp, op: Option<Op>, fault: Fault) {
        self.lock().record(at, op, fault);
    }

    /// A copy of the log as it is now.
    pub fn snapshot(&self) -> FaultLog {
        self.lock().clone()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing was injected.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// See [`FaultLog::to_plan`].
    pub fn to_plan(&self, start: Timestamp) -> FaultPlan {
        self.lock().to_plan(start)
    }
}

/// `Duration`s in plans as history JSON writes them (`"1.250s"`).
mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    use warpflow_engine::time::{format_duration, parse_duration};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// `Option<Duration>`s in plans, as [`duration_text`] writes them.
mod optional_duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    use warpflow_engine::time::parse_duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::duration_text::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// proptest strategies for faults and plans (with the `proptest` feature, or in this crate's
/// tests).
///
/// They shrink toward fewer faults (the plan's vector drops elements), earlier faults (times
/// shrink toward zero), and simpler faults (the alternatives are listed storage and network
/// first, crashes and partitions last; counts shrink toward 1, worker indexes toward 0).
/// Plans use [`When::At`] only: steps depend on the executor's scheduling.
#[cfg(any(test, feature = "proptest"))]
pub mod strategy {
    use super::{Fault, FaultPlan, When};
    use proptest::prelude::*;
    use std::time::Duration;

    /// The node names [`fault`] partitions and heals.
    pub const DEFAULT_NODES: [&str; 4] = ["worker-0", "worker-1", "client-0", "engine"];

    /// The number of workers [`fault`] crashes among.
    pub const DEFAULT_WORKERS: u32 = 2;

    /// Any fault, on the [`DEFAULT_NODES`] and [`DEFAULT_WORKERS`].
    pub fn fault() -> impl Strategy<Value = Fault> {
        fault_on(
            DEFAULT_NODES.iter().map(|n| (*n).to_owned()).collect(),
            DEFAULT_WORKERS,
        )
    }

    /// Any fault, partitioning and healing `nodes` (which must not be empty) and crashing
    /// workers `0..workers` (at least one).
    pub fn fault_on(nodes: Vec<String>, workers: u32) -> impl Strategy<Value = Fault> {
        let node = proptest::sample::select(nodes);
        prop_oneof![
            Just(Fault::FailCommit),
            Just(Fault::LoseCommitReply),
            (1..=3u32).prop_map(|count| Fault::DropMessages { count }),
            Just(Fault::DuplicateNextRequest),
            Just(Fault::LoseNextReply),
            (1..=3u32).prop_map(|attempts| Fault::FailActivity { attempts }),
            Just(Fault::TimeOutActivity),
            (0..workers.max(1)).prop_map(|worker| Fault::CrashWorker { worker }),
            Just(Fault::CrashEngine),
            node.clone().prop_map(|node| Fault::Partition { node }),
            node.prop_map(|node| Fault::Heal { node }),
        ]
    }

    /// A time in `0..=horizon` (whole milliseconds).
    pub fn when(horizon: Duration) -> impl Strategy<Value = When> {
        let max = u64::try_from(horizon.as_millis()).unwrap_or(u64::MAX);
        (0..=max).prop_map(|ms| When::At(Duration::from_millis(ms)))
    }

    /// A sorted plan of at most `max_len` faults within `horizon`.
    pub fn fault_plan(max_len: usize, horizon: Duration) -> impl Strategy<Value = FaultPlan> {
        plan_of(fault(), max_len, horizon)
    }

    /// A sorted plan of at most `max_len` faults from `faults` within `horizon`.
    pub fn plan_of(
        faults: impl Strategy<Value = Fault>,
        max_len: usize,
        horizon: Duration,
    ) -> impl Strategy<Value = FaultPlan> {
        proptest::collection::vec((when(horizon), faults), 0..=max_len).prop_map(|faults| {
            FaultPlan {
                faults,
                horizon: None,
            }
            .sorted()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn sorted_is_stable_and_orders_by_time() {
        let node = || "worker-0".to_owned();
        let plan = FaultPlan::new()
            .with(When::Op(Op::Message(4)), Fault::DuplicateNextRequest)
            .with(When::At(ms(20)), Fault::CrashEngine)
            .with(When::Step(3), Fault::CrashWorker { worker: 0 })
            .with(When::At(ms(5)), Fault::Partition { node: node() })
            .with(When::At(ms(5)), Fault::Heal { node: node() })
            .with(When::Op(Op::Commit(9)), Fault::FailCommit)
            .sorted();
        assert_eq!(
            plan.faults,
            vec![
                (When::At(ms(5)), Fault::Partition { node: node() }),
                (When::At(ms(5)), Fault::Heal { node: node() }),
                (When::At(ms(20)), Fault::CrashEngine),
                (When::Step(3), Fault::CrashWorker { worker: 0 }),
                (When::Op(Op::Commit(9)), Fault::FailCommit),
                (When::Op(Op::Message(4)), Fault::DuplicateNextRequest),
            ]
        );
    }

    #[test]
    fn plan_display_is_one_line_per_fault() {
        let plan = FaultPlan::new()
            .with(When::At(ms(1_250)), Fault::FailCommit)
            .with(When::At(ms(2_000)), Fault::DropMessages { count: 2 })
            .with(When::Step(7), Fault::CrashWorker { worker: 1 })
            .with(Op::Commit(3).into(), Fault::LoseCommitReply)
            .with(Op::Message(12).into(), Fault::LoseNextReply)
            .with(Op::Attempt(2).into(), Fault::TimeOutActivity);
        assert_eq!(
            plan.to_string(),
            "at 1.250s: fail the next commit\n\
             at 2s: drop the next 2 message(s)\n\
             at step 7: crash worker 1\n\
             at commit #3: lose the next commit's reply\n\
             at message #12: lose the next reply\n\
             at activity attempt #2: time out the next activity\n"
        );
        assert_eq!(FaultPlan::new().to_string(), "(no faults)\n");
        assert_eq!(
            FaultPlan::new().with_horizon(ms(30_000)).to_string(),
            "(no faults)\nfaults stop at 30s\n"
        );
    }

    #[test]
    fn plans_round_trip_through_json() {
        let plan = FaultPlan::new()
            .with(When::At(ms(1_250)), Fault::Partition { node: "w".to_owned() })
            .with(When::Step(2), Fault::DropMessages { count: 3 })
            .with(When::At(ms(0)), Fault::CrashEngine)
            .with(Op::Commit(3).into(), Fault::FailCommit)
            .with(Op::Message(12).into(), Fault::Heal { node: "w".to_owned() })
            .with(Op::Attempt(2).into(), Fault::FailActivity { attempts: 1 });
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"faults":[[{"at":"1.250s"},{"fault":"partition","node":"w"}],"#,
                r#"[{"step":2},{"fault":"dropMessages","count":3}],"#,
                r#"[{"at":"0s"},{"fault":"crashEngine"}],"#,
                r#"[{"commit":3},{"fault":"failCommit"}],"#,
                r#"[{"message":12},{"fault":"heal","node":"w"}],"#,
                r#"[{"attempt":2},{"fault":"failActivity","attempts":1}]]}"#
            )
        );
        assert_eq!(serde_json::from_str::<FaultPlan>(&json).unwrap(), plan);

        let with_horizon = plan.with_horizon(ms(30_000));
        let json = serde_json::to_string(&with_horizon).unwrap();
        assert!(json.ends_with(r#"]],"horizon":"30s"}"#), "{json}");
        assert_eq!(serde_json::from_str::<FaultPlan>(&json).unwrap(), with_horizon);
    }

    #[test]
    fn a_bad_plan_is_an_error_naming_what_is_wrong() {
        let wrong = |json: &str| serde_json::from_str::<FaultPlan>(json).unwrap_err().to_string();
        let fault = r#"{"fault":"failCommit"}"#;
        assert_eq!(
            wrong(&format!(r#"{{"faults":[[{{"at":"soon"}},{fault}]]}}"#)),
            r#""soon" is not a duration like "10s" or "0.250s" at line 1 column 24"#
        );
        assert!(
            wrong(&format!(r#"{{"faults":[[{{"tick":3}},{fault}]]}}"#)).starts_with(
                "unknown variant `tick`, expected one of `at`, `step`, `commit`, `message`, `attempt`"
            ),
        );
        assert!(
            wrong(&format!(r#"{{"faults":[[{{"commit":"x"}},{fault}]]}}"#))
                .starts_with(r#"invalid type: string "x", expected u64"#)
        );
        assert!(wrong(r#"{"faults":[],"horizon":"soon"}"#).starts_with(r#""soon" is not a duration"#));

        let plan = FaultPlan::new()
            .with(Op::Commit(1).into(), Fault::FailCommit)
            .with(Op::Commit(5).into(), Fault::CrashEngine);
        let error = plan.check().unwrap_err();
        assert_eq!(
            error,
            PlanError::Misplaced {
                index: 1,
                when: Op::Commit(5).into(),
                fault: Fault::CrashEngine,
            }
        );
        assert!(
            error
                .to_string()
                .starts_with("fault 1 of the plan (`crash the engine`) is planned at commit #5"),
            "{error}"
        );
    }

    #[test]
    fn operations_take_only_their_component_s_faults() {
        let every = strategy::DEFAULT_NODES.map(|node| Fault::Partition {
            node: node.to_owned(),
        });
        assert!(every.iter().all(|f| Op::Message(1).takes(f)));
        assert!(Op::Message(1).takes(&Fault::Heal { node: "x".to_owned() }));
        assert!(Op::Commit(1).takes(&Fault::LoseCommitReply));
        assert!(Op::Attempt(1).takes(&Fault::FailActivity { attempts: 2 }));
        for crash in [Fault::CrashEngine, Fault::CrashWorker { worker: 0 }] {
            for op in [Op::Commit(1), Op::Message(1), Op::Attempt(1)] {
                assert!(!op.takes(&crash), "{op} takes {crash}");
            }
        }
        assert!(!Op::Commit(1).takes(&Fault::DuplicateNextRequest));
        assert!(!Op::Message(1).takes(&Fault::TimeOutActivity));
        assert!(!Op::Attempt(1).takes(&Fault::FailCommit));
    }

    #[test]
    fn a_plan_ends_at_its_horizon_or_after_its_last_timed_fault() {
        let plan = FaultPlan::new()
            .with(When::At(ms(300)), Fault::CrashEngine)
            .with(When::At(ms(100)), Fault::CrashEngine)
            .with(When::Step(1_000_000), Fault::CrashEngine)
            .with(Op::Message(99).into(), Fault::LoseNextReply);
        assert_eq!(plan.end(), ms(301));
        assert_eq!(plan.with_horizon(ms(30_000)).end(), ms(30_000));
        assert_eq!(FaultPlan::new().end(), ms(1));
    }

    #[test]
    fn log_to_plan_plans_operations_at_their_operation_and_the_rest_at_their_time() {
        let start = Timestamp::from_millis(10_000);
        let mut log = FaultLog::new();
        log.record(
            Timestamp::from_millis(10_500),
            Some(Op::Commit(7)),
            Fault::LoseCommitReply,
        );
        log.record(Timestamp::from_millis(10_100), None, Fault::CrashEngine);
        log.record(
            Timestamp::from_millis(10_500),
            Some(Op::Message(3)),
            Fault::LoseNextReply,
        );
        log.record(
            Timestamp::from_millis(10_600),
            Some(Op::Attempt(2)),
            Fault::TimeOutActivity,
        );
        assert_eq!(
            log.to_plan(start),
            FaultPlan::new()
                .with(Op::Commit(7).into(), Fault::LoseCommitReply)
                .with(When::At(ms(100)), Fault::CrashEngine)
                .with(Op::Message(3).into(), Fault::LoseNextReply)
                .with(Op::Attempt(2).into(), Fault::TimeOutActivity),
            "in the order they happened, without a horizon"
        );
        assert_eq!(
            log.to_string(),
            "1970-01-01T00:00:10.500Z commit #7: lose the next commit's reply\n\
             1970-01-01T00:00:10.100Z crash the engine\n\
             1970-01-01T00:00:10.500Z message #3: lose the next reply\n\
             1970-01-01T00:00:10.600Z activity attempt #2: time out the next activity\n"
        );
        assert_eq!(log.faults().count(), 4);
    }

    #[test]
    fn planned_operations_are_taken_once_in_order() {
        let mut planned = PlannedOps::default();
        assert!(planned.is_empty());
        planned.plan(3, Fault::FailCommit);
        planned.plan(3, Fault::LoseCommitReply);
        planned.plan(1, Fault::FailCommit);
        assert_eq!(planned.take(2), []);
        assert_eq!(planned.take(3), [Fault::FailCommit, Fault::LoseCommitReply]);
        assert_eq!(planned.take(3), []);
        assert_eq!(planned.take(1), [Fault::FailCommit]);
        assert!(planned.is_empty());
    }

    #[test]
    fn rates_none_is_all_zero_and_default_is_modest() {
        let none = FaultRates::none();
        let default = FaultRates::default();
        let pairs = [
            (none.crash_worker, default.crash_worker),
            (none.crash_engine, default.crash_engine),
            (none.fail_commit, default.fail_commit),
            (none.lose_commit_reply, default.lose_commit_reply),
            (none.drop_message, default.drop_message),
            (none.duplicate_request, default.duplicate_request),
            (none.lose_reply, default.lose_reply),
            (none.partition, default.partition),
        ];
        for (n, d) in pairs {
            assert_eq!(n, 0.0);
            assert!(d > 0.0 && d <= 0.05, "{d}");
        }
    }

    /// A property that fails on any plan with an engine crash shrinks to the one-fault plan
    /// "crash the engine at 0s".
    #[test]
    fn plans_shrink_to_fewer_and_earlier_faults() {
        let config = Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
        let strategy = strategy::fault_plan(8, Duration::from_secs(60));
        let result = runner.run(&strategy, |plan| {
            proptest::prop_assert!(
                !plan.faults.iter().any(|(_, f)| *f == Fault::CrashEngine),
                "the plan crashes the engine"
            );
            Ok(())
        });
        match result {
            Err(TestError::Fail(_, plan)) => {
                assert_eq!(plan.faults, vec![(When::At(Duration::ZERO), Fault::CrashEngine)]);
            }
            other => panic!("expected a shrunk failure, got {other:?}"),
        }
    }

    #[test]
    fn generated_plans_are_sorted_and_bounded() {
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 64,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let horizon = Duration::from_secs(5);
        runner
            .run(&strategy::fault_plan(5, horizon), |plan| {
                proptest::prop_assert!(plan.len() <= 5);
                proptest::prop_assert_eq!(plan.clone().sorted(), plan.clone());
                for (when, _) in &plan.faults {
                    proptest::prop_assert!(matches!(when, When::At(d) if *d <= horizon));
                }
                Ok(())
            })
            .unwrap();
    }
}
