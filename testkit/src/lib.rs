//! # warpflow-testkit
//!
//! What users call from `cargo test`: [`TestEnv`] runs the real engine on the simulator,
//! skipping virtual time, and replays every awaited workflow against the code.

pub mod env;
pub mod seed;

pub use env::{TEST_TASK_QUEUE, TestEnv, TestEnvBuilder};
pub use seed::{DEFAULT_SEED, Seed};
