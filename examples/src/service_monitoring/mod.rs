//! `service_monitoring`: the guide's long-running monitor. Every five minutes it checks a
//! service's health (an activity, then a durable `ctx.sleep`), alerts the on-call engineer
//! when the service is unhealthy, and after a bounded number of checks continues as new with
//! its counts, so that each run's history stays small however long the monitor runs. An
//! endpoint it cannot reach counts as unhealthy only once a whole interval of retries (at
//! most 10 s apart) failed, so that a blip never pages anyone.
//!
//! - [`workflow`]: [`MonitorService`], its input [`Monitor`] and the carried [`MonitorState`];
//! - [`activities`]: the health check and the alert, on the simulated [`HealthEndpoints`] and
//!   [`Outbox`];
//! - [`scenario`]: monitors with scripted unhealthy checks, and their fault campaign.

pub mod activities;
pub mod scenario;
pub mod workflow;

pub use activities::{Alert, AlertOnCall, CheckHealth, HealthCheck, ON_CALL};
pub use scenario::{Scenario, Watch, alerted_checks, campaign, campaign_for, workflow_id};
pub use workflow::{Monitor, MonitorService, MonitorState};

use crate::services::health::{self, HealthEndpoints};
use crate::services::outbox::{Message, Outbox};
use serde::{Deserialize, Serialize};
use warpflow_engine::Registry;

/// The services a monitor acts on.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// The health endpoints of the services watched.
    pub endpoints: HealthEndpoints,
    /// Where alerts go.
    pub outbox: Outbox,
}

/// The world's state, as a campaign compares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldSnapshot {
    /// The checks made.
    pub health: health::Snapshot,
    /// The alerts sent, sorted.
    pub alerts: Vec<Message>,
}

impl World {
    /// Healthy services, no alerts.
    pub fn new() -> World {
        World::default()
    }

    /// Forgets every check, alert and script.
    pub fn reset(&self) {
        self.endpoints.reset();
        self.outbox.reset();
    }

    /// The checks made and the alerts sent.
    pub fn snapshot(&self) -> WorldSnapshot {
        WorldSnapshot {
            health: self.endpoints.snapshot(),
            alerts: self.outbox.snapshot(),
        }
    }
}

/// The monitoring workflow and its activities, bound to `world`.
pub fn registry(world: &World) -> Registry {
    Registry::new()
        .with_workflow::<MonitorService>()
        .with_activity(CheckHealth(world.endpoints.clone()))
        .with_activity(AlertOnCall(world.outbox.clone()))
}
