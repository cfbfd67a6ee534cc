//! # warpflow-sim
//!
//! Deterministic simulation of the Warpflow engine (`../shared/DESIGN.md` §5): the engine
//! runs on virtual time against simulated storage and network that inject faults, and every
//! random decision comes from a seeded stream, so a run is a function of its seed and a
//! failing seed replays exactly.
//!
//! This crate's parts, one concept per module:
//! - [`fault`]: faults as data: [`Fault`], [`FaultPlan`] (what a property test generates and
//!   shrinks, with the strategies of `fault::strategy` under the `proptest` feature),
//!   [`FaultRates`] for random runs, and the [`FaultLog`] that turns a random run into a plan;
//! - [`dice`]: [`Dice`], the seeded fault-decision source, and [`LatencyRange`];
//! - [`storage`]: [`SimStorage`], the engine's `Storage` with commit latency, failed commits,
//!   lost commit replies and crashes that lose the commits in flight;
//! - [`network`]: [`SimNetwork`], named nodes calling the engine with latency, loss,
//!   duplication, lost replies, reordering and partitions;
//! - [`trace`]: the [`Trace`] of a run with its running hash: the same seed must give the
//!   same hash.
//!
//! The components are written against the engine's environment traits
//! ([`Clock`](warpflow_engine::env::Clock) for time and sleeping), not against a particular
//! executor: they run on the simulator's virtual clock, and in tests on any clock. They hold
//! their shared state behind `std::sync::Mutex`es that are never held across an await.

pub mod dice;
pub mod fault;
pub mod network;
pub mod storage;
pub mod trace;

pub use dice::{Dice, LatencyRange};
pub use fault::{Fault, FaultLog, FaultPlan, FaultRates, SharedFaultLog, When};
pub use network::{NetworkConfig, SimNetwork};
pub use storage::{SimStorage, StorageFaults};
pub use trace::{SharedTrace, Trace, TraceLine};
