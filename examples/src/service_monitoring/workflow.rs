//! The monitoring workflow: check the service's health every interval, alert the on-call
//! engineer when it is unhealthy, and after a bounded number of checks continue as new,
//! carrying its counts, so that no run's history grows without bound.

use super::activities::{Alert, AlertOnCall, CheckHealth, HealthCheck};
use crate::options::retried_for;
use crate::services::health::HealthReport;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use warpflow_engine::{ActivityOptions, Workflow, WorkflowCtx, WorkflowResult};

/// How often the guide checks.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// How many checks the guide makes per run before continuing as new.
pub const CHECKS_PER_RUN: u32 = 1000;

/// How long one attempt of a check or an alert may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a check keeps retrying an unreachable endpoint before it counts as unhealthy: a
/// whole interval, so that a blip (a lost reply, a worker restarting) never pages anyone.
pub const CHECK_GIVE_UP_AFTER: Duration = CHECK_INTERVAL;

/// The longest wait between two attempts of a check. Temporal's default backoff doubles up
/// to 100 s, which leaves a five-minute budget only nine attempts, the last of them 3m47s in:
/// an endpoint back after four minutes, or a burst of faults that fails the early attempts
/// and loses a couple of the late, widely spaced ones, paged. Retrying at least every 10 s
/// keeps the check trying until its budget is spent (33 attempts, or 17 if every one of
/// them times out), so only an outage of the whole interval counts as unreachable.
pub const CHECK_RETRY_INTERVAL_MAX: Duration = Duration::from_secs(10);

/// The most events one iteration adds to a run's history: a workflow task (3 events), the
/// check (3), another workflow task (3), the alert (3), a third workflow task (3) and the
/// timer (2).
pub const EVENTS_PER_CHECK_MAX: usize = 17;

/// Counts carried from run to run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorState {
    /// Checks made.
    pub checks: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Runs that continued as new.
    pub continued: u64,
}

/// What a monitor watches, how, and the counts so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Monitor {
    /// The service watched.
    pub service_id: String,
    /// Time between checks.
    pub interval: Duration,
    /// Checks per run before continuing as new.
    pub checks_per_run: u32,
    /// Stop after this many checks in all (`None`: watch forever, as the guide does).
    pub stop_after: Option<u64>,
    /// The counts carried over from the previous runs.
    pub state: MonitorState,
}

impl Monitor {
    /// The guide's monitor of `service_id`: every five minutes, 1000 checks a run, forever.
    pub fn new(service_id: &str) -> Monitor {
        Monitor {
            service_id: service_id.to_owned(),
            interval: CHECK_INTERVAL,
            checks_per_run: CHECKS_PER_RUN,
            stop_after: None,
            state: MonitorState::default(),
        }
    }

    /// True once the monitor made every check it was to make.
    pub fn is_finished(&self, state: &MonitorState) -> bool {
        self.stop_after.is_some_and(|n| state.checks >= n)
    }

    /// The most events a run of this monitor can record.
    pub fn history_events_max(&self) -> usize {
        // The run's start, its first workflow task, and its close.
        5 + EVENTS_PER_CHECK_MAX * self.checks_per_run as usize
    }
}

/// How a health check is tried: each attempt for [`ATTEMPT_TIMEOUT`], retried at most
/// [`CHECK_RETRY_INTERVAL_MAX`] apart until [`CHECK_GIVE_UP_AFTER`].
pub fn check_options() -> ActivityOptions {
    let mut options = retried_for(ATTEMPT_TIMEOUT, CHECK_GIVE_UP_AFTER);
    options.retry_policy.maximum_interval = Some(CHECK_RETRY_INTERVAL_MAX);
    options
}

/// The monitoring workflow (id `monitor-<service id>`).
#[derive(Debug)]
pub struct MonitorService;

impl Workflow for MonitorService {
    const NAME: &'static str = "monitor_service";
    type Input = Monitor;
    type Output = MonitorState;

    async fn run(ctx: WorkflowCtx, monitor: Monitor) -> WorkflowResult<MonitorState> {
        let mut state = monitor.state.clone();
        for _ in 0..monitor.checks_per_run {
            if monitor.is_finished(&state) {
                break;
            }
            let check = HealthCheck {
                service_id: monitor.service_id.clone(),
                check: state.checks + 1,
            };
            let health = ctx
                .activity_with::<CheckHealth>(check.clone(), check_options())
                .await
                // An endpoint that cannot be reached is as bad as one that says it is down.
                .unwrap_or_else(|e| HealthReport {
                    healthy: false,
                    detail: format!("unreachable: {e}"),
                });
            state.checks += 1;
            if !health.healthy {
                let alert = Alert {
                    check,
                    detail: health.detail,
                };
                ctx.activity_with::<AlertOnCall>(alert, ActivityOptions::start_to_close(ATTEMPT_TIMEOUT))
                    .await?;
                state.alerts += 1;
            }
            ctx.sleep(monitor.interval).await;
        }
        if monitor.is_finished(&state) {
            return Ok(state);
        }
        // A fresh history for the next checks; the counts go with it.
        state.continued += 1;
        Err(ctx.continue_as_new::<MonitorService>(&Monitor { state, ..monitor }))
    }
}
