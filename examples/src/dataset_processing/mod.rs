//! `dataset_processing`: the guide's long activity. One activity processes every record of a
//! dataset, heartbeating its progress every 100 records; when its worker crashes, the
//! engine's heartbeat timeout notices, and the next attempt starts from the last heartbeat
//! the engine recorded rather than from the first record. The dataset store writes each
//! record's result once, so the records processed again after a crash leave the final state
//! as if each had been processed exactly once.
//!
//! - [`workflow`]: [`ProcessDataset`] and its heartbeat and timeouts;
//! - [`activities`]: [`ProcessLargeDataset`] and its [`Progress`] heartbeat details, on the
//!   simulated [`DatasetStore`];
//! - [`scenario`]: datasets to process, and their fault campaign.

pub mod activities;
pub mod scenario;
pub mod workflow;

pub use activities::{DatasetJob, ProcessLargeDataset, Processed, Progress};
pub use scenario::{Scenario, campaign, campaign_for, workflow_id};
pub use workflow::{DatasetReport, HEARTBEAT_EVERY, ProcessDataset};

use crate::services::dataset::Call;

use crate::services::dataset::{DatasetStore, Results};
use std::collections::BTreeMap;
use warpflow_engine::Registry;

/// The services the processing acts on.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// The datasets and their results.
    pub store: DatasetStore,
}

/// The world's state: each dataset's results.
pub type WorldSnapshot = BTreeMap<String, Results>;

impl World {
    /// An empty store, processing without a clock.
    pub fn new() -> World {
        World::default()
    }

    /// Empties the store.
    pub fn reset(&self) {
        self.store.reset();
    }

    /// Each dataset's results.
    pub fn snapshot(&self) -> WorldSnapshot {
        self.store.snapshot()
    }
}

/// Where each attempt started: the first record it processed, by attempt, in order.
pub fn attempt_starts(calls: &[Call]) -> Vec<(u32, u64)> {
    let mut starts: Vec<(u32, u64)> = Vec::new();
    for call in calls {
        if starts.last().is_none_or(|(attempt, _)| *attempt != call.attempt) {
            starts.push((call.attempt, call.index));
        }
    }
    starts
}

/// The dataset workflow and its activity, bound to `world`.
pub fn registry(world: &World) -> Registry {
    Registry::new()
        .with_workflow::<ProcessDataset>()
        .with_activity(ProcessLargeDataset(world.store.clone()))
}
