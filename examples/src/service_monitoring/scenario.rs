//! Monitors with scripted unhealthy checks, and the fault campaign that runs them through
//! several continue-as-new runs each.

use super::workflow::{Monitor, MonitorService, MonitorState};
use super::{World, WorldSnapshot, registry};
use crate::campaigns::{self, ExampleScenario, Outcomes, completed};
use crate::services::Trouble;
use crate::services::outbox::Message;
use std::time::Duration;
use warpflow_engine::Registry;
use warpflow_testkit::{Campaign, RunReport, WorkloadCtx};

/// One monitor, and the checks that find its service unhealthy.
#[derive(Clone, Debug)]
pub struct Watch {
    /// The monitor.
    pub monitor: Monitor,
    /// The numbers of the checks that find the service unhealthy.
    pub unhealthy: Vec<u64>,
    /// Trouble reaching the service's health endpoint, if any.
    pub trouble: Option<Trouble>,
}

impl Watch {
    fn check(&self, outcomes: &Outcomes, world: &WorldSnapshot, run: &RunReport) -> Result<(), String> {
        let service = &self.monitor.service_id;
        let id = workflow_id(service);
        let state = completed::<MonitorState>(outcomes, &id)
            .ok_or_else(|| format!("{id} did not complete: {:?}", outcomes.get(&id)))?;
        let mut expected = self.unhealthy.clone();
        expected.sort_unstable();
        let alerted = alerted_checks(&world.alerts, service);
        if alerted != expected || state.alerts != expected.len() as u64 {
            return Err(format!(
                "{id}: alerts for checks {alerted:?} ({} counted), unhealthy at {expected:?}",
                state.alerts
            ));
        }
        let bound = self.monitor.history_events_max();
        for history in run.histories.get(&id.as_str().into()).into_iter().flatten() {
            if history.events.len() > bound {
                return Err(format!(
                    "{id} run {}: {} events, more than {bound}",
                    history.run_id,
                    history.events.len()
                ));
            }
        }
        Ok(())
    }
}

/// The numbers of the checks of `service` that `alerts` are about, in order.
pub fn alerted_checks(alerts: &[Message], service: &str) -> Vec<u64> {
    let prefix = format!("{service} unhealthy at check ");
    let mut checks: Vec<u64> = alerts
        .iter()
        .filter_map(|m| m.body.strip_prefix(&prefix)?.split(':').next()?.parse().ok())
        .collect();
    checks.sort_unstable();
    checks
}

/// The workflow id of the monitor of `service_id`.
pub fn workflow_id(service_id: &str) -> String {
    format!("monitor-{service_id}")
}

/// Monitors to run.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// The monitors.
    pub watches: Vec<Watch>,
}

impl Scenario {
    /// Two monitors checking every five minutes, each over several runs: `api` (16 checks,
    /// 5 a run, unhealthy at checks 3, 7 and 8) and `db` (10 checks, 4 a run, unhealthy at
    /// the last, its endpoint failing the first two calls).
    pub fn demo() -> Scenario {
        let watch = |service: &str, per_run, stop_after, unhealthy: &[u64], trouble| Watch {
            monitor: Monitor {
                checks_per_run: per_run,
                stop_after: Some(stop_after),
                ..Monitor::new(service)
            },
            unhealthy: unhealthy.to_vec(),
            trouble,
        };
        Scenario {
            watches: vec![
                watch("api", 5, 16, &[3, 7, 8], None),
                watch("db", 4, 10, &[10], Some(Trouble::Transient { calls: 2 })),
            ],
        }
    }

    /// How long the monitors take, in virtual time.
    pub fn duration(&self) -> Duration {
        self.watches
            .iter()
            .map(|w| {
                w.monitor.interval * u32::try_from(w.monitor.stop_after.unwrap_or(0)).unwrap_or(u32::MAX)
            })
            .max()
            .unwrap_or_default()
    }
}

impl ExampleScenario for Scenario {
    type World = World;
    type Snapshot = WorldSnapshot;
    const INVARIANT: &'static str = "one alert per unhealthy check, bounded histories";

    fn registry(world: &World) -> Registry {
        registry(world)
    }

    /// Resets `world` and scripts each service's health on it.
    fn prepare(&self, world: &World) {
        world.reset();
        for w in &self.watches {
            world
                .endpoints
                .unhealthy_at(&w.monitor.service_id, w.unhealthy.iter().copied());
            if let Some(trouble) = &w.trouble {
                world.endpoints.script(&w.monitor.service_id, trouble.clone());
            }
        }
    }

    fn snapshot(world: &World) -> WorldSnapshot {
        world.snapshot()
    }

    /// Starts every monitor at once.
    fn workload(&self, _world: &World, w: &mut WorkloadCtx) {
        for watch in &self.watches {
            let id = workflow_id(&watch.monitor.service_id);
            w.start::<MonitorService>(id.as_str(), &watch.monitor);
        }
    }

    /// Checks a finished run: each monitor made its checks and raised one alert per
    /// unhealthy check (and no other), and no run's history outgrew its bound.
    fn check(&self, run: &RunReport, outcomes: &Outcomes, world: &WorldSnapshot) -> Result<(), String> {
        self.watches
            .iter()
            .try_for_each(|w| w.check(outcomes, world, run))
    }
}

/// The example's campaign: [`Scenario::demo`] under the default fault mix.
pub fn campaign() -> Campaign {
    campaign_for("service_monitoring", Scenario::demo())
}

/// A campaign running `scenario`'s monitors under the default fault mix, with crash
/// equivalence over the checks and alerts; the liveness budget covers the monitors' checks.
///
/// Equivalence means the same checks, alerts and counts as the fault-free run, and it is
/// owed: faults stop at the campaign's fault horizon (30 s), far inside a check's budget
/// ([`CHECK_GIVE_UP_AFTER`](super::workflow::CHECK_GIVE_UP_AFTER), five minutes), and a
/// check retries at most [`CHECK_RETRY_INTERVAL_MAX`](super::workflow::CHECK_RETRY_INTERVAL_MAX)
/// apart, so it outlives a burst of faults and what the burst leaves behind (a lost reply to
/// a long poll, a task handed to a duplicated poll) and no healthy check turns into an
/// "unreachable" alert. Faults lasting a whole interval would rightly page, and such a run
/// is not equivalent to a fault-free one: a campaign with that long a horizon must not
/// expect equivalence.
pub fn campaign_for(name: &str, scenario: Scenario) -> Campaign {
    let budget = scenario.duration() + Duration::from_secs(24 * 3600);
    campaigns::campaign(name, scenario).liveness_budget(budget)
}
