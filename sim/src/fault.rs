//! Faults as data: what can go wrong in a simulated run ([`Fault`]), when ([`When`]), a
//! schedule of faults ([`FaultPlan`]), the probabilities of a random run ([`FaultRates`]),
//! and the record of what was injected ([`FaultLog`]).
//!
//! A run meets faults in one of two modes:
//! - **planned**: a [`FaultPlan`] is a plain value that proptest generates and shrinks
//!   (`fault::strategy`, with the `proptest` feature); whoever drives the run arms each
//!   fault at its time, on the component it belongs to ([`SimStorage`](crate::SimStorage),
//!   [`SimNetwork`](crate::SimNetwork), or the test kit for crashes and activities);
//! - **random**: components draw faults from [`FaultRates`] with seeded [`Dice`](crate::Dice),
//!   for soak runs.
//!
//! Either way, every fault that takes effect is appended to a shared [`FaultLog`] with the
//! virtual time it was decided at. [`FaultLog::to_plan`] turns the log of a failing random
//! run into an explicit plan that reproduces it, so the failure can be replayed and shrunk.
//! The log records a fault when the decision is made (a commit or a call starts), which is
//! also when a plan arms the same fault: replaying the plan makes the same decision for the
//! same operation.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use warpflow_engine::time::{Timestamp, format_duration};

/// One fault. Storage and network faults are one-shot: they apply to the next operation of
/// their kind after they are armed.
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

/// When a planned fault is armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum When {
    /// At this much virtual time after the start of the run.
    At(#[serde(with = "duration_text")] Duration),
    /// At this step of the simulation's executor.
    Step(u64),
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::At(d) => write!(f, "at {}", format_duration(*d)),
            When::Step(n) => write!(f, "at step {n}"),
        }
    }
}

/// A schedule of faults: a value, so that it can be generated, shrunk, printed and saved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// The faults and when to arm them. Faults at the same time are armed in this order.
    pub faults: Vec<(When, Fault)>,
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

    /// The plan ordered by time: every `At` by duration, then every `Step` by step. The sort
    /// is stable: faults at the same time keep their order (a partition and a heal at the
    /// same instant mean different things in different orders).
    pub fn sorted(mut self) -> FaultPlan {
        self.faults.sort_by_key(|(when, _)| *when);
        self
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
    /// One line per fault: `at 1.250s: fail the next commit`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.faults.is_empty() {
            return writeln!(f, "(no faults)");
        }
        for (when, fault) in &self.faults {
            writeln!(f, "{when}: {fault}")?;
        }
        Ok(())
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

/// Every fault injected in a run, with the virtual time it was decided at, in the order they
/// were recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultLog {
    entries: Vec<(Timestamp, Fault)>,
}

impl FaultLog {
    /// An empty log.
    pub fn new() -> FaultLog {
        FaultLog::default()
    }

    /// Records `fault`, injected at `at`.
    pub fn record(&mut self, at: Timestamp, fault: Fault) {
        self.entries.push((at, fault));
    }

    /// The entries, in the order they were recorded.
    pub fn entries(&self) -> &[(Timestamp, Fault)] {
        &self.entries
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was injected.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The plan that reproduces this log in a run that started at `start`: each fault at
    /// its time since `start` (an entry before `start` counts as at `start`), sorted.
    pub fn to_plan(&self, start: Timestamp) -> FaultPlan {
        FaultPlan {
            faults: self
                .entries
                .iter()
                .map(|(at, fault)| (When::At(at.since(start)), fault.clone()))
                .collect(),
        }
        .sorted()
    }
}

impl fmt::Display for FaultLog {
    /// One line per fault: `2026-01-01T00:00:01.250Z fail the next commit`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (at, fault) in &self.entries {
            writeln!(f, "{at} {fault}")?;
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

    /// Records `fault`, injected at `at`.
    pub fn record(&self, at: Timestamp, fault: Fault) {
        self.lock().record(at, fault);
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
        proptest::collection::vec((when(horizon), faults), 0..=max_len)
            .prop_map(|faults| FaultPlan { faults }.sorted())
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
            .with(When::At(ms(20)), Fault::CrashEngine)
            .with(When::Step(3), Fault::FailCommit)
            .with(When::At(ms(5)), Fault::Partition { node: node() })
            .with(When::At(ms(5)), Fault::Heal { node: node() })
            .sorted();
        assert_eq!(
            plan.faults,
            vec![
                (When::At(ms(5)), Fault::Partition { node: node() }),
                (When::At(ms(5)), Fault::Heal { node: node() }),
                (When::At(ms(20)), Fault::CrashEngine),
                (When::Step(3), Fault::FailCommit),
            ]
        );
    }

    #[test]
    fn plan_display_is_one_line_per_fault() {
        let plan = FaultPlan::new()
            .with(When::At(ms(1_250)), Fault::FailCommit)
            .with(When::At(ms(2_000)), Fault::DropMessages { count: 2 })
            .with(When::Step(7), Fault::CrashWorker { worker: 1 });
        assert_eq!(
            plan.to_string(),
            "at 1.250s: fail the next commit\n\
             at 2s: drop the next 2 message(s)\n\
             at step 7: crash worker 1\n"
        );
        assert_eq!(FaultPlan::new().to_string(), "(no faults)\n");
    }

    #[test]
    fn plans_round_trip_through_json() {
        let plan = FaultPlan::new()
            .with(When::At(ms(1_250)), Fault::Partition { node: "w".to_owned() })
            .with(When::Step(2), Fault::DropMessages { count: 3 })
            .with(When::At(ms(0)), Fault::CrashEngine);
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"faults":[[{"at":"1.250s"},{"fault":"partition","node":"w"}],"#,
                r#"[{"step":2},{"fault":"dropMessages","count":3}],"#,
                r#"[{"at":"0s"},{"fault":"crashEngine"}]]}"#
            )
        );
        assert_eq!(serde_json::from_str::<FaultPlan>(&json).unwrap(), plan);
    }

    #[test]
    fn log_to_plan_uses_time_since_start() {
        let start = Timestamp::from_millis(10_000);
        let mut log = FaultLog::new();
        log.record(Timestamp::from_millis(10_500), Fault::LoseCommitReply);
        log.record(Timestamp::from_millis(10_100), Fault::FailCommit);
        log.record(Timestamp::from_millis(10_500), Fault::LoseNextReply);
        assert_eq!(
            log.to_plan(start).faults,
            vec![
                (When::At(ms(100)), Fault::FailCommit),
                (When::At(ms(500)), Fault::LoseCommitReply),
                (When::At(ms(500)), Fault::LoseNextReply),
            ]
        );
        assert_eq!(
            log.to_string(),
            "1970-01-01T00:00:10.500Z lose the next commit's reply\n\
             1970-01-01T00:00:10.100Z fail the next commit\n\
             1970-01-01T00:00:10.500Z lose the next reply\n"
        );
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
