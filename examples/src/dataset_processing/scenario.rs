//! Datasets to process, and the fault campaign that processes them while workers crash, the
//! engine crashes and attempts fail or hang: every record must end up processed exactly once.

use super::activities::DatasetJob;
use super::workflow::{DatasetReport, HEARTBEAT_EVERY, ProcessDataset};
use super::{World, WorldSnapshot, registry};
use crate::campaigns::{self, ExampleScenario, Outcomes, completed};
use crate::services::dataset::RECORD_LATENCY;
use warpflow_engine::Registry;
use warpflow_testkit::{Campaign, RunReport, WorkloadCtx};

/// The workflow id of the processing of `dataset_id`.
pub fn workflow_id(dataset_id: &str) -> String {
    format!("dataset-{dataset_id}")
}

/// Datasets to process.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// Each dataset's id and number of records.
    pub datasets: Vec<(String, u64)>,
}

impl Scenario {
    /// Two datasets, of 600 and 1000 records: 6 and 10 seconds of processing, through the
    /// campaign's fault horizon.
    pub fn demo() -> Scenario {
        Scenario {
            datasets: vec![("events".into(), 600), ("clicks".into(), 1000)],
        }
    }

    /// The job of processing `dataset_id`.
    pub fn job(dataset_id: &str) -> DatasetJob {
        DatasetJob {
            dataset_id: dataset_id.to_owned(),
            heartbeat_every: HEARTBEAT_EVERY,
        }
    }
}

impl ExampleScenario for Scenario {
    type World = World;
    type Snapshot = WorldSnapshot;
    const INVARIANT: &'static str = "every record processed exactly once";

    fn registry(world: &World) -> Registry {
        registry(world)
    }

    /// Resets `world` and creates the datasets in it.
    fn prepare(&self, world: &World) {
        world.reset();
        for (id, records) in &self.datasets {
            world.store.create(id, *records);
        }
    }

    fn snapshot(world: &World) -> WorldSnapshot {
        world.snapshot()
    }

    /// Starts every dataset's processing at once, each record taking [`RECORD_LATENCY`] of
    /// the run's clock (long enough for crashes to land in the middle).
    fn workload(&self, world: &World, w: &mut WorkloadCtx) {
        world.store.use_clock(w.clock(), RECORD_LATENCY);
        for (id, _) in &self.datasets {
            w.start::<ProcessDataset>(workflow_id(id), &Scenario::job(id));
        }
    }

    /// Checks the end state of a run: each workflow reports every record processed, and the
    /// store holds exactly one right result per record.
    fn check(&self, _run: &RunReport, outcomes: &Outcomes, world: &WorldSnapshot) -> Result<(), String> {
        for (id, records) in &self.datasets {
            let report = completed::<DatasetReport>(outcomes, &workflow_id(id));
            if report.map(|r| r.processed) != Some(*records) {
                return Err(format!("{id}: reported {:?}", outcomes.get(&workflow_id(id))));
            }
            let results = world.get(id).cloned().unwrap_or_default();
            if results.written != *records || results.missing + results.duplicates + results.wrong != 0 {
                return Err(format!(
                    "{id}: not every record processed exactly once: {results:?}"
                ));
            }
        }
        Ok(())
    }
}

/// The example's campaign: [`Scenario::demo`] under the default fault mix.
pub fn campaign() -> Campaign {
    campaign_for("dataset_processing", Scenario::demo())
}

/// A campaign processing `scenario`'s datasets under the default fault mix, with crash
/// equivalence over the results and the exactly-once invariant.
pub fn campaign_for(name: &str, scenario: Scenario) -> Campaign {
    campaigns::campaign(name, scenario)
}
