//! # warpflow-sim
//!
//! Deterministic simulation of the Warpflow engine (`../shared/DESIGN.md` §5): everything runs
//! on one thread, from one seed, on virtual time, against simulated storage and network that
//! inject faults, so a 24-hour timer takes microseconds, a run is a function of its seed, and a
//! failing seed replays exactly.
//!
//! This crate's parts, one concept per module:
//! - [`executor`]: the seeded executor ([`Sim`]): random pick among ready tasks, timers by deadline,
//!   jumps of virtual time, deadlock and budget detection; [`SimClock`] and [`SimSpawner`] are
//!   the engine's `Clock` and `Spawner` on it;
//! - [`rng`]: independent random streams derived from the seed ([`Stream`]);
//! - [`fault`]: faults as data: [`Fault`], [`FaultPlan`] (what a property test generates and
//!   shrinks, with the strategies of `fault::strategy` under the `proptest` feature), planned
//!   at a time, a step, or an operation ([`Op`]: the n-th commit, message or activity
//!   attempt), [`FaultRates`] for random runs, and the [`FaultLog`] that turns a random run
//!   into a plan that replays it exactly;
//! - [`dice`]: [`Dice`], the seeded fault-decision source, and [`LatencyRange`];
//! - [`storage`]: [`SimStorage`], the engine's `Storage` with commit latency, failed commits,
//!   lost commit replies and crashes that lose the commits in flight;
//! - [`network`]: [`SimNetwork`], named nodes calling the engine with latency, loss,
//!   duplication, lost replies, reordering and partitions;
//! - [`trace`]: the [`Trace`] of a run with its running hash: the same seed must give the
//!   same hash.
//!
//! Storage and network are written against the engine's environment traits
//! ([`Clock`](warpflow_engine::env::Clock) for time and sleeping), not against the executor,
//! and hold their shared state behind `std::sync::Mutex`es that are never held across an
//! await.

pub mod dice;
pub mod executor;
pub mod fault;
pub mod network;
pub mod rng;
pub mod storage;
pub mod trace;

pub use dice::{Dice, LatencyRange};
pub use executor::{SIM_EPOCH, Sim, SimClock, SimConfig, SimError, SimSpawner};
pub use fault::{
    Fault, FaultLog, FaultPlan, FaultRates, LoggedFault, Op, PlanError, PlannedOps, SharedFaultLog, When,
};
pub use network::{NetworkConfig, SimNetwork};
pub use rng::Stream;
pub use storage::{SimStorage, StorageFaults};
pub use trace::{SharedTrace, Trace, TraceLine};
