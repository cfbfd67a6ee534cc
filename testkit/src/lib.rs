//! # warpflow-testkit
//!
//! What Warpflow users call from `cargo test` (`../shared/DESIGN.md` §6):
//!
//! - [`env`](mod@env): [`TestEnv`], the real engine on the simulator: start workflows, skip virtual
//!   time, signal and query mid-wait, read histories; every awaited workflow is replayed
//!   against the code by default; [`seed`] resolves `WARPFLOW_SEED` and prints rerun commands;
//! - [`cluster`]: [`SimCluster`], a simulated deployment (storage, engine, workers on a
//!   simulated network) whose nodes crash and restart and whose activities fail or time out
//!   ([`faulty_activity`]), with faults from a plan or at random;
//! - [`campaign`]: [`Campaign`], a workload over many seeds with a fault mix, checked by the
//!   oracles (replay, crash equivalence, saga, liveness, same seed twice, user invariants),
//!   reporting each failing seed with its reproduction command and a shrunk fault plan;
//! - [`mock`]: [`MockActivity`], an activity type played by a script of outcomes per attempt
//!   (fail N times, fail for good, time out, complete after a virtual delay, heartbeat then
//!   stall, panic), registered in a `Registry` like any activity, recording every call in
//!   [`MockCalls`];
//! - [`activity_env`]: [`ActivityEnv`], to unit-test one activity without an engine: attempt
//!   number, previous heartbeat, recorded heartbeats, cancellation from another task;
//! - [`replayer`]: [`HistoryReplayer`], the CI check that stored JSON histories (a file, a
//!   directory of them) still replay against the current code, with a [`ReplayReport`] naming
//!   each history that does not and its non-determinism report;
//! - [`snapshot`]: [`history_snapshot`] and [`assert_history_snapshot!`], a stable rendering of
//!   a history (engine-generated ids replaced by placeholders) for `insta` snapshots;
//! - `strategy` (with the `proptest` feature): proptest strategies for outcome scripts, signal
//!   timings, seeds and fault plans.
//!
//! The kit is deterministic like the code it tests: no wall clock (delays sleep on a
//! `Clock` the test gives, virtual under the simulator), no ambient randomness, no iteration
//! over hash maps.
//!
//! ```
//! use warpflow_engine::Registry;
//! use warpflow_testkit::{ActivityEnv, MockActivity};
//!
//! let mock = MockActivity::new("send_email").fails_times(1, "SmtpDown", "try later").returns("sent");
//! let calls = mock.calls();
//!
//! // The mock on its own, one attempt at a time:
//! let env = ActivityEnv::new();
//! let first = futures::executor::block_on(env.run_definition(&mock, "ada@example.com"));
//! assert!(first.is_err());
//! let second = futures::executor::block_on(env.next_attempt().run_definition(&mock, "ada@example.com"));
//! assert_eq!(second, Ok(warpflow_engine::Payload::from("sent")));
//! assert_eq!(calls.attempts(), [1, 2]);
//!
//! // Or registered for a worker, a `TestEnv` or a replayer:
//! let mut registry = Registry::new();
//! mock.register(&mut registry);
//! ```

#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod activity_env;
pub mod campaign;
pub mod cluster;
mod durable;
pub mod env;
pub mod faulty_activity;
pub mod mock;
pub mod replayer;
pub mod seed;
pub mod snapshot;
#[cfg(feature = "proptest")]
pub mod strategy;
mod tripwire;

pub use activity_env::{ActivityEnv, CancelHandle};
pub use campaign::{
    Campaign, CampaignFailure, CampaignReport, FaultMode, NamedCampaign, RunReport, WorkloadCtx,
};
pub use cluster::{ClusterConfig, EngineSlot, SimCluster};
pub use env::{TEST_TASK_QUEUE, TestEnv, TestEnvBuilder};
pub use faulty_activity::{ActivityFaults, FaultyActivity};
pub use mock::{MockActivity, MockCall, MockCalls, MockOutcome, MockResponder};
pub use replayer::{HistoryReplayer, ReplayCheck, ReplayEntry, ReplayFailure, ReplayReport};
pub use seed::{DEFAULT_SEED, Seed};
pub use snapshot::history_snapshot;

/// `insta`, for [`assert_history_snapshot!`]: users need not depend on it themselves.
#[doc(hidden)]
pub use insta as __insta;
