//! What the examples' campaigns share: the world snapshot as the campaign stores it, and a
//! run's outcomes and world read back into their types for an invariant.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use warpflow_testkit::RunReport;

/// Each workflow's outcome, by workflow id, as [`RunReport::outcomes`] has them.
pub type Outcomes = BTreeMap<String, Value>;

/// `snapshot` as the JSON value a campaign compares (`null` if it does not serialize, which
/// the crash-equivalence oracle would then see as a difference only if it happened once).
pub fn world_value<T: Serialize>(snapshot: T) -> Value {
    serde_json::to_value(snapshot).unwrap_or(Value::Null)
}

/// The result of workflow `workflow_id` if it completed with a `T`.
pub fn completed<T: DeserializeOwned>(outcomes: &Outcomes, workflow_id: &str) -> Option<T> {
    let result = outcomes.get(workflow_id)?.get("completed")?;
    serde_json::from_value(result.clone()).ok()
}

/// Runs `check` on `run`'s outcomes and its world snapshot read back as a `W`.
pub fn check_run<W: DeserializeOwned>(
    run: &RunReport,
    check: impl FnOnce(&Outcomes, &W) -> Result<(), String>,
) -> Result<(), String> {
    let world: W =
        serde_json::from_value(run.world.clone()).map_err(|e| format!("unreadable world snapshot: {e}"))?;
    let outcomes = run
        .outcomes
        .iter()
        .map(|(id, o)| (id.to_string(), o.clone()))
        .collect();
    check(&outcomes, &world)
}
