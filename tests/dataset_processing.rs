//! Dataset processing: the activity alone under `ActivityEnv` (it starts from the previous
//! attempt's heartbeat), the workflow under `TestEnv` (a failed attempt's successor resumes
//! from the last heartbeat; snapshot of the history), a worker crashed in the middle of the
//! activity on a `SimCluster` (the next attempt starts from the last heartbeat the engine
//! recorded, and every record ends up processed exactly once), and the fault campaign.

use std::time::Duration;
use warpflow_engine::client::StartOptions;
use warpflow_engine::history::EventAttributes;
use warpflow_engine::{Payload, Replayer};
use warpflow_examples::dataset_processing::{
    self, DatasetReport, ProcessDataset, ProcessLargeDataset, Processed, Progress, Scenario, World,
    attempt_starts, workflow_id,
};
use warpflow_examples::services::Trouble;
use warpflow_examples::services::dataset::{RECORD_LATENCY, Results};
use warpflow_sim::Fault;
use warpflow_testkit::cluster::{CLUSTER_TASK_QUEUE, ClusterConfig, SimCluster};
use warpflow_testkit::{ActivityEnv, TestEnv, assert_history_snapshot};

/// A world with dataset `id` of `records` records.
fn world_with(id: &str, records: u64) -> World {
    let world = World::new();
    world.store.create(id, records);
    world
}

fn progress(processed: u64, total: u64) -> Progress {
    Progress {
        processed,
        total,
        percentage: processed * 100 / total,
    }
}

fn exactly_once(records: u64) -> Results {
    Results {
        records,
        written: records,
        ..Results::default()
    }
}

/// What the store holds, checksum aside.
fn without_checksum(results: Results) -> Results {
    Results {
        checksum: 0,
        ..results
    }
}

#[test]
fn a_first_attempt_processes_everything_and_heartbeats_every_100_records() {
    let world = world_with("d", 350);
    let env = ActivityEnv::new();
    let job = Scenario::job("d");
    let done = futures::executor::block_on(env.run(&ProcessLargeDataset(world.store.clone()), job));
    assert_eq!(
        done,
        Ok(Processed {
            records: 350,
            resumed_from: 0
        })
    );
    let beats = env.heartbeats_as::<Progress>().expect("progress details");
    let processed: Vec<u64> = beats.iter().map(|p| p.processed).collect();
    assert_eq!(processed, [100, 200, 300, 350]);
    assert_eq!(beats[2], progress(300, 350));
}

#[test]
fn a_retry_starts_from_the_previous_attempts_last_heartbeat() {
    let world = world_with("d", 500);
    let env = ActivityEnv::new()
        .attempt(2)
        .previous_heartbeat(progress(300, 500));
    let done =
        futures::executor::block_on(env.run(&ProcessLargeDataset(world.store.clone()), Scenario::job("d")));
    assert_eq!(
        done,
        Ok(Processed {
            records: 500,
            resumed_from: 300
        })
    );
    assert_eq!(attempt_starts(&world.store.calls()), [(2, 300)]);
    assert_eq!(
        world.store.calls().len(),
        200,
        "records 0..300 are not processed again"
    );
    let processed: Vec<u64> = env
        .heartbeats_as::<Progress>()
        .expect("progress")
        .iter()
        .map(|p| p.processed)
        .collect();
    assert_eq!(processed, [400, 500]);
}

/// Processes dataset `d` of `records` under `TestEnv`, 10 ms a record of virtual time.
fn process_under_test_env(world: &World, records: u64) -> (DatasetReport, TestEnv) {
    let env = TestEnv::new(dataset_processing::registry(world));
    world.store.use_clock(env.clock(), RECORD_LATENCY);
    let handle = env
        .start::<ProcessDataset>(workflow_id("d"), &Scenario::job("d"))
        .expect("started");
    let report = env.result(&handle).expect("processed");
    assert_eq!(report.processed, records);
    (report, env)
}

#[test]
fn a_dataset_is_processed_in_one_heartbeating_attempt() {
    let world = world_with("d", 300);
    let (_, env) = process_under_test_env(&world, 300);
    assert_eq!(attempt_starts(&world.store.calls()), [(1, 0)]);
    assert_eq!(without_checksum(world.store.results("d")), exactly_once(300));
    assert!(env.elapsed() >= 300 * RECORD_LATENCY, "{:?}", env.elapsed());
    assert_history_snapshot!(
        "dataset_processed",
        env.history(workflow_id("d")).expect("history")
    );
}

#[test]
fn after_a_failed_attempt_the_next_resumes_from_the_last_heartbeat() {
    // The host processing record 250 goes down once: the attempt fails there, after its
    // heartbeat at 200 reached the engine.
    let world = world_with("d", 500);
    world.store.script("d", 250, Trouble::Transient { calls: 1 });
    process_under_test_env(&world, 500);
    assert_eq!(attempt_starts(&world.store.calls()), [(1, 0), (2, 200)]);
    assert_eq!(world.store.calls().len(), 500 + 51, "records 200..=250 twice");
    assert_eq!(without_checksum(world.store.results("d")), exactly_once(500));
}

#[test]
fn after_a_worker_crash_mid_activity_the_next_attempt_starts_from_the_last_heartbeat() {
    let world = world_with("big", 1000);
    let config = ClusterConfig {
        workers: 1,
        ..ClusterConfig::new(7)
    };
    let cluster = SimCluster::new(config, dataset_processing::registry(&world));
    world.store.use_clock(cluster.sim().clock(), RECORD_LATENCY);
    let client = cluster.client();
    let handle = cluster
        .run(async move {
            let options = StartOptions::new(CLUSTER_TASK_QUEUE);
            client
                .start::<ProcessDataset>(workflow_id("big"), &Scenario::job("big"), options)
                .await
        })
        .expect("simulation")
        .expect("started");

    // Let the first attempt get past record 450, then crash its worker (it restarts after a
    // short seeded delay, with nothing of the attempt left).
    while world.store.calls().len() < 450 {
        cluster.run_for(Duration::from_millis(50)).expect("simulation");
    }
    let reached = world.store.calls().last().map_or(0, |c| c.index);
    assert!(cluster.apply(&Fault::CrashWorker { worker: 0 }));

    let waiting = handle.clone();
    let report = cluster
        .run(async move { waiting.result().await })
        .expect("simulation")
        .expect("processed");
    assert_eq!(report.processed, 1000);

    // The second attempt started at a heartbeat: after record 0, at most two heartbeats
    // (one in flight when the worker died) before where the first one got.
    let calls = world.store.calls();
    let attempts = attempt_starts(&calls);
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    let (second, resumed) = attempts[1];
    assert_eq!(second, 2);
    assert!(resumed > 0 && resumed % 100 == 0, "resumed at {resumed}");
    assert!(
        resumed <= reached + 1 && reached + 1 - resumed <= 200,
        "reached {reached}, resumed {resumed}"
    );
    assert_eq!(calls.len() as u64, 1000 + (reached + 1 - resumed));
    // Every record is processed exactly once in the final state.
    assert_eq!(without_checksum(world.store.results("big")), exactly_once(1000));

    // The history records the successful attempt, and it replays.
    let reading = handle.clone();
    let history = cluster
        .run(async move { reading.history().await })
        .expect("simulation")
        .expect("history");
    let completed = history.events.iter().find_map(|e| match &e.attributes {
        EventAttributes::ActivityTaskCompleted { result, .. } => Some(result.clone()),
        _ => None,
    });
    let expected = serde_json::to_value(Processed {
        records: 1000,
        resumed_from: resumed,
    })
    .expect("encodes");
    assert_eq!(completed, Some(Payload::from(expected)));
    assert!(history.events.iter().any(|e| matches!(
        e.attributes,
        EventAttributes::ActivityTaskStarted { attempt: 2, .. }
    )));
    Replayer::new(dataset_processing::registry(&world))
        .check(&history)
        .expect("replays");
}

#[test]
fn the_campaign_passes_every_oracle_under_the_default_fault_mix() {
    let report = dataset_processing::campaign().seeds(3).run_or_panic();
    assert_eq!(report.workflows_run, report.seeds.len() * 2, "{report}");
    assert!(
        report
            .oracle_checks
            .contains_key("invariant:every record processed exactly once"),
        "{report}"
    );
}
