//! The monitor's activities: a health check (a read, recorded once per check number) and an
//! alert to the on-call engineer through the outbox (idempotent by key).

use crate::services::health::{HealthEndpoints, HealthReport};
use crate::services::key_of;
use crate::services::outbox::{Kind, Message, Outbox};
use serde::{Deserialize, Serialize};
use warpflow_engine::{Activity, ActivityCtx, ActivityError};

/// Where alerts go.
pub const ON_CALL: &str = "oncall@example.com";

/// One health check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// The service checked.
    pub service_id: String,
    /// Which check this is, counted from 1 across the monitor's runs.
    pub check: u64,
}

/// Asks the service's health endpoint.
#[derive(Debug)]
pub struct CheckHealth(pub HealthEndpoints);

impl Activity for CheckHealth {
    const NAME: &'static str = "check_health";
    type Input = HealthCheck;
    type Output = HealthReport;
    async fn run(&self, _ctx: ActivityCtx, c: HealthCheck) -> Result<HealthReport, ActivityError> {
        Ok(self.0.check(&c.service_id, c.check)?)
    }
}

/// An alert about one unhealthy check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// The check that found the service unhealthy.
    pub check: HealthCheck,
    /// What it found.
    pub detail: String,
}

/// Pages the on-call engineer.
#[derive(Debug)]
pub struct AlertOnCall(pub Outbox);

impl Activity for AlertOnCall {
    const NAME: &'static str = "alert_on_call";
    type Input = Alert;
    type Output = ();
    async fn run(&self, ctx: ActivityCtx, a: Alert) -> Result<(), ActivityError> {
        let message = Message {
            to: ON_CALL.to_owned(),
            kind: Kind::Alert,
            body: format!(
                "{} unhealthy at check {}: {}",
                a.check.service_id, a.check.check, a.detail
            ),
        };
        self.0.send(&key_of(ctx.info()), message)?;
        Ok(())
    }
}
