//! Random mode's activity faults on a [`SimCluster`]: rolled at every tick up front, armed as
//! virtual time reaches their tick, and disarmed at the horizon when no attempt took them.

use std::time::Duration;
use warpflow_engine::Registry;
use warpflow_sim::{Fault, FaultRates};
use warpflow_testkit::{ClusterConfig, SimCluster};

#[test]
fn random_activity_faults_arm_at_their_ticks_and_disarm_at_the_horizon() {
    let cluster = SimCluster::new(ClusterConfig::new(7), Registry::new());
    let rates = FaultRates {
        activity_failure: 1.0,
        activity_timeout: 1.0,
        ..FaultRates::none()
    };
    cluster.run_random(&rates, Duration::from_secs(1));
    let faults = cluster.activity_faults();

    cluster.sim().run_for(Duration::from_millis(50)).expect("ran");
    assert_eq!(faults.pending(), (0, 0), "nothing is armed before the first tick");

    // Ticks at 100, 200, ..., 500 ms: each arms a failure of 1 to 3 attempts and a timeout.
    cluster.sim().run_for(Duration::from_millis(500)).expect("ran");
    let (failures, timeouts) = faults.pending();
    assert!(
        (5..=15).contains(&failures),
        "failures armed by five ticks: {failures}"
    );
    assert_eq!(timeouts, 5, "one timeout per tick");

    cluster.sim().run_for(Duration::from_secs(1)).expect("ran");
    assert_eq!(
        faults.pending(),
        (0, 0),
        "faults no attempt took are disarmed at the horizon"
    );
    assert!(cluster.fault_log().snapshot().is_empty(), "none was injected");
}

#[test]
fn activity_faults_scheduled_out_of_order_arm_as_their_times_come() {
    let cluster = SimCluster::new(ClusterConfig::new(7), Registry::new());
    let faults = cluster.activity_faults();
    let start = cluster.now();
    faults.schedule(start.plus(Duration::from_millis(200)), &Fault::TimeOutActivity);
    faults.schedule(
        start.plus(Duration::from_millis(100)),
        &Fault::FailActivity { attempts: 2 },
    );
    assert!(
        !faults.schedule(start, &Fault::CrashEngine),
        "not an activity fault"
    );

    cluster.sim().run_for(Duration::from_millis(150)).expect("ran");
    assert_eq!(
        faults.pending(),
        (2, 0),
        "the earlier one, scheduled second, is armed"
    );
    cluster.sim().run_for(Duration::from_millis(100)).expect("ran");
    assert_eq!(faults.pending(), (2, 1));
}
