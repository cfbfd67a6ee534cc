//! The health endpoints of the services being watched: a test scripts which checks find a
//! service unhealthy (by check number, counted across the monitor's runs) or the endpoint
//! unreachable. Every check is recorded, once per check number, for the test to read.

use super::{Script, ServiceError, Trouble, lock};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// What a health check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// Whether the service is healthy.
    pub healthy: bool,
    /// What the endpoint said.
    pub detail: String,
}

/// The checks made, as a test or a campaign compares them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// For each service, each check number and whether it found the service healthy.
    pub checks: BTreeMap<String, BTreeMap<u64, bool>>,
}

#[derive(Debug, Default)]
struct State {
    unhealthy: BTreeMap<String, BTreeSet<u64>>,
    troubles: Script<String>,
    seen: Snapshot,
}

/// A handle on the endpoints. Cheap to clone: clones share them.
#[derive(Clone, Debug, Default)]
pub struct HealthEndpoints {
    state: Arc<Mutex<State>>,
}

impl HealthEndpoints {
    /// Endpoints of healthy services.
    pub fn new() -> HealthEndpoints {
        HealthEndpoints::default()
    }

    /// Forgets every check and script.
    pub fn reset(&self) {
        *lock(&self.state) = State::default();
    }

    /// Checks number `checks` of `service` find it unhealthy.
    pub fn unhealthy_at(&self, service: &str, checks: impl IntoIterator<Item = u64>) {
        lock(&self.state)
            .unhealthy
            .entry(service.to_owned())
            .or_default()
            .extend(checks);
    }

    /// From now on, reaching `service`'s endpoint meets `trouble`.
    pub fn script(&self, service: &str, trouble: Trouble) {
        lock(&self.state).troubles.set(service.to_owned(), trouble);
    }

    /// Check number `check` of `service`. Checking the same number again (a retry) finds the
    /// same and records it once.
    pub fn check(&self, service: &str, check: u64) -> Result<HealthReport, ServiceError> {
        let state = &mut *lock(&self.state);
        state.troubles.check(&service.to_owned(), || {
            format!("the health endpoint of `{service}`")
        })?;
        let healthy = !state.unhealthy.get(service).is_some_and(|c| c.contains(&check));
        state
            .seen
            .checks
            .entry(service.to_owned())
            .or_default()
            .insert(check, healthy);
        let detail = if healthy { "ok" } else { "503 Service Unavailable" };
        Ok(HealthReport {
            healthy,
            detail: detail.to_owned(),
        })
    }

    /// The checks made so far.
    pub fn snapshot(&self) -> Snapshot {
        lock(&self.state).seen.clone()
    }
}
