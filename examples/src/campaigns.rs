//! What the examples' campaigns share: an example describes its scenario (world, workload,
//! invariant) as an [`ExampleScenario`], and [`campaign`] runs it under faults with every
//! oracle; [`completed`] reads a workflow's result back for an invariant.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use warpflow_engine::Registry;
use warpflow_testkit::{Campaign, RunReport, WorkloadCtx};

/// Each workflow's outcome, by workflow id, as [`RunReport::outcomes`] has them.
pub type Outcomes = BTreeMap<String, Value>;

/// An example's scenario: the world its activities act on, how a run sets it up, the
/// workflows it starts, and what must hold when the run is over. [`campaign`] makes a fault
/// campaign of it.
pub trait ExampleScenario: Clone + 'static {
    /// The simulated services the activities act on.
    type World: Clone + Default + 'static;
    /// The world's state, as the crash-equivalence oracle and [`check`](Self::check) see it.
    type Snapshot: Serialize + DeserializeOwned;
    /// The name of the invariant [`check`](Self::check) holds the runs to.
    const INVARIANT: &'static str;

    /// The example's workflows and activities, bound to `world`.
    fn registry(world: &Self::World) -> Registry;
    /// Empties `world` and sets it up (accounts, datasets, scripted trouble).
    fn prepare(&self, world: &Self::World);
    /// Reads `world`'s state.
    fn snapshot(world: &Self::World) -> Self::Snapshot;
    /// Lists the workflows a run starts (and signals it sends), given the run's world.
    fn workload(&self, world: &Self::World, w: &mut WorkloadCtx);
    /// What must hold after a run: `outcomes` and `world` are `run`'s, read back.
    fn check(&self, run: &RunReport, outcomes: &Outcomes, world: &Self::Snapshot) -> Result<(), String>;
}

/// A campaign named `name` running `scenario` under the default fault mix: the world set up
/// before each run and compared after it with the fault-free run's, and
/// [`ExampleScenario::check`] as invariant.
pub fn campaign<S: ExampleScenario>(name: &str, scenario: S) -> Campaign {
    let world = S::World::default();
    let (before, after, during) = (world.clone(), world.clone(), world.clone());
    let (setup, starts) = (scenario.clone(), scenario.clone());
    Campaign::new(name, S::registry(&world))
        .world(
            move || setup.prepare(&before),
            move || world_value(S::snapshot(&after)),
        )
        .workload(move |w| starts.workload(&during, w))
        .invariant(S::INVARIANT, move |run| {
            let world: S::Snapshot = serde_json::from_value(run.world.clone())
                .map_err(|e| format!("unreadable world snapshot: {e}"))?;
            let outcomes = run
                .outcomes
                .iter()
                .map(|(id, o)| (id.to_string(), o.clone()))
                .collect();
            scenario.check(run, &outcomes, &world)
        })
}

/// `snapshot` as the JSON value a campaign compares (`null` if it does not serialize, which
/// the crash-equivalence oracle would then see as a difference only if it happened once).
fn world_value<T: Serialize>(snapshot: T) -> Value {
    serde_json::to_value(snapshot).unwrap_or(Value::Null)
}

/// The result of workflow `workflow_id` if it completed with a `T`.
pub fn completed<T: DeserializeOwned>(outcomes: &Outcomes, workflow_id: &str) -> Option<T> {
    let result = outcomes.get(workflow_id)?.get("completed")?;
    serde_json::from_value(result.clone()).ok()
}
