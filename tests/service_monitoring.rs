//! Service monitoring under the time-skipping test environment: an unhealthy check raises an
//! alert, an unreachable endpoint counts as unhealthy, the monitor continues as new after its
//! checks per run with its counts carried, each run's history stays within its bound, and
//! days of five-minute checks pass in virtual time; snapshots of the main histories; and the
//! example's fault campaign.

use std::time::Duration;
use warpflow_engine::History;
use warpflow_engine::history::EventAttributes;
use warpflow_examples::service_monitoring::{
    self, Monitor, MonitorService, MonitorState, ON_CALL, World, alerted_checks, workflow_id,
};
use warpflow_examples::services::Trouble;
use warpflow_sim::FaultRates;
use warpflow_testkit::{TestEnv, assert_history_snapshot};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A monitor of `api` making `stop_after` checks, `per_run` a run.
fn monitor(per_run: u32, stop_after: u64) -> Monitor {
    Monitor {
        checks_per_run: per_run,
        stop_after: Some(stop_after),
        ..Monitor::new("api")
    }
}

/// Runs `monitor` on a fresh world (after `script`, which may also schedule changes to the
/// world on the environment); its result, every run's history, the world and the environment.
fn run(
    monitor: &Monitor,
    script: impl FnOnce(&World, &TestEnv),
) -> (MonitorState, Vec<History>, World, TestEnv) {
    let world = World::new();
    let env = TestEnv::new(service_monitoring::registry(&world));
    script(&world, &env);
    let id = workflow_id(&monitor.service_id);
    let handle = env
        .start::<MonitorService>(id.as_str(), monitor)
        .expect("started");
    let state = env.result(&handle).expect("the monitor stops after its checks");
    let histories = env.histories(id).expect("histories");
    (state, histories, world, env)
}

/// The input each run started with.
fn inputs(histories: &[History]) -> Vec<Monitor> {
    histories
        .iter()
        .map(|h| match &h.events[0].attributes {
            EventAttributes::WorkflowExecutionStarted { input, .. } => {
                serde_json::from_value(input.clone().into_value()).expect("a monitor input")
            }
            other => panic!("the first event is {other:?}"),
        })
        .collect()
}

#[test]
fn an_unhealthy_check_raises_one_alert() {
    let (state, histories, world, env) = run(&monitor(10, 4), |w, _| w.endpoints.unhealthy_at("api", [2]));
    assert_eq!(
        state,
        MonitorState {
            checks: 4,
            alerts: 1,
            continued: 0
        }
    );
    let alerts = world.outbox.sent_to(ON_CALL);
    assert_eq!(alerted_checks(&alerts, "api"), [2]);
    assert_eq!(
        alerts[0].body,
        "api unhealthy at check 2: 503 Service Unavailable"
    );
    assert_eq!(env.elapsed(), 4 * service_monitoring::workflow::CHECK_INTERVAL);
    assert_history_snapshot!("monitor_alerts_on_unhealthy_check", histories[0]);
}

#[test]
fn an_unreachable_endpoint_counts_as_unhealthy() {
    let (state, _, world, _) = run(&monitor(10, 2), |w, _| w.endpoints.script("api", Trouble::Outage));
    assert_eq!(state.alerts, 2);
    let alerts = world.outbox.sent_to(ON_CALL);
    assert!(
        alerts[0]
            .body
            .starts_with("api unhealthy at check 1: unreachable: Unavailable"),
        "{:?}",
        alerts[0]
    );
}

#[test]
fn an_endpoint_back_before_the_check_gives_up_does_not_page() {
    // Down for the first four minutes of the check's five: the check must still be trying
    // when it comes back. (With Temporal's default backoff, doubling to 100 s, the last
    // attempt started 3m47s in and this paged.)
    let down_for = Duration::from_secs(4 * 60);
    assert!(down_for < service_monitoring::workflow::CHECK_GIVE_UP_AFTER);
    let (state, _, world, _) = run(&monitor(10, 1), |w, env| {
        w.endpoints.script("api", Trouble::Outage);
        let endpoints = w.endpoints.clone();
        env.after(down_for, move |_| async move {
            // No calls left to fail: the endpoint answers again.
            endpoints.script("api", Trouble::Transient { calls: 0 });
        });
    });
    assert_eq!(
        (state.checks, state.alerts),
        (1, 0),
        "{:?}",
        world.outbox.sent_to(ON_CALL)
    );
    assert_eq!(world.endpoints.snapshot().checks["api"].get(&1), Some(&true));
}

#[test]
fn it_continues_as_new_after_its_checks_per_run_carrying_its_counts() {
    let (state, histories, world, _) = run(&monitor(3, 7), |w, _| w.endpoints.unhealthy_at("api", [2, 5]));
    assert_eq!(
        state,
        MonitorState {
            checks: 7,
            alerts: 2,
            continued: 2
        }
    );
    assert_eq!(histories.len(), 3, "3 + 3 + 1 checks");
    let carried: Vec<MonitorState> = inputs(&histories).into_iter().map(|m| m.state).collect();
    assert_eq!(
        carried,
        [
            MonitorState::default(),
            MonitorState {
                checks: 3,
                alerts: 1,
                continued: 1
            },
            MonitorState {
                checks: 6,
                alerts: 2,
                continued: 2
            },
        ]
    );
    for h in &histories[..2] {
        assert!(
            matches!(
                h.terminal_event().map(|e| &e.attributes),
                Some(EventAttributes::WorkflowExecutionContinuedAsNew { .. })
            ),
            "{}",
            h.render_timeline()
        );
    }
    assert_eq!(alerted_checks(&world.outbox.sent(), "api"), [2, 5]);
    assert_history_snapshot!("monitor_first_run_continues_as_new", histories[0]);
}

#[test]
fn each_run_history_stays_within_its_bound_and_days_pass_in_virtual_time() {
    // Three days of checks every five minutes, two hours of them a run, unhealthy every 50th.
    let checks = 3 * 24 * 12;
    let m = monitor(24, checks);
    let (state, histories, world, env) = run(&m, |w, _| {
        w.endpoints.unhealthy_at("api", (50..=checks).step_by(50))
    });
    assert_eq!(state.checks, checks);
    assert_eq!(state.alerts, checks / 50);
    assert_eq!(histories.len(), 36, "864 checks, 24 a run");
    let bound = m.history_events_max();
    for h in &histories {
        assert!(
            h.events.len() <= bound,
            "{} events, bound {bound}",
            h.events.len()
        );
    }
    // The bound is not slack: a full run of 24 checks, one of them alerting, comes close.
    let longest = histories.iter().map(|h| h.events.len()).max().unwrap_or(0);
    assert!(longest > 24 * 11, "{longest} events");
    assert_eq!(world.endpoints.snapshot().checks["api"].len() as u64, checks);
    assert!(env.elapsed() >= 3 * DAY, "{:?}", env.elapsed());
}

/// Every fault kind at four times its default rate (`warpflow simulate --faults heavy`).
fn heavy_faults() -> FaultRates {
    FaultRates::default().scaled(4.0)
}

#[test]
fn a_burst_of_heavy_faults_never_pages_about_a_healthy_service() {
    // Seeds where 30 s of heavy faults failed `db`'s first check five times and lost its
    // later attempts (tasks handed to duplicated polls, lost replies) until its budget ran
    // out: an "unreachable" page the fault-free run does not send.
    for seed in [175, 209, 287] {
        service_monitoring::campaign()
            .faults(heavy_faults())
            .seed_range(seed, 1)
            .run_or_panic();
    }
}

#[test]
fn the_campaign_passes_every_oracle_under_the_default_fault_mix() {
    let report = service_monitoring::campaign().seeds(3).run_or_panic();
    assert_eq!(report.workflows_run, report.seeds.len() * 2, "{report}");
    assert!(
        report
            .oracle_checks
            .contains_key("invariant:one alert per unhealthy check, bounded histories"),
        "{report}"
    );
}
