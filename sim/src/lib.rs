//! # warpflow-sim
//!
//! Deterministic simulation of the Warpflow engine: everything runs on one thread, from one
//! seed, on virtual time, so a 24-hour timer takes microseconds and every run can be repeated.
//!
//! - [`executor`]: the seeded executor ([`Sim`]), its clock and spawner.
//! - [`rng`]: independent random streams derived from the seed.

pub mod executor;
pub mod rng;

pub use executor::{SIM_EPOCH, Sim, SimClock, SimConfig, SimError, SimSpawner};
pub use rng::Stream;
