//! # warpflow-testkit
//!
//! What users call from `cargo test`: [`TestEnv`] runs the real engine on the simulator,
//! skipping virtual time, and replays every awaited workflow against the code;
//! [`SimCluster`] is a simulated deployment whose engine and workers crash and restart; a
//! [`Campaign`] runs a workload over many seeds with a fault mix and checks the oracles.

pub mod campaign;
pub mod cluster;
pub mod env;
pub mod seed;

pub use campaign::{Campaign, CampaignFailure, CampaignReport, FaultMode, RunReport, WorkloadCtx};
pub use cluster::{ClusterConfig, EngineSlot, SimCluster};
pub use env::{TEST_TASK_QUEUE, TestEnv, TestEnvBuilder};
pub use seed::{DEFAULT_SEED, Seed};
