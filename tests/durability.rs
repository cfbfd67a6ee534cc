//! Durability with real processes and real files: `warpflow serve` on a SQLite file and a
//! `warpflow worker` process run the W3 workload (`three_step`), and one of them is killed
//! with SIGKILL at a seeded point (after the n-th activity execution). The server is restarted
//! on the same file, or a new worker started at once, and then:
//! - every workflow completes with `key:a:b:c` (none lost);
//! - every history is well formed, and what the server had recorded before the kill is a
//!   prefix of the final history (no recorded event lost or rewritten);
//! - every activity ran at least once, and the activities that ran twice are at most the
//!   activities in flight at the kill (executed, but their outcome not recorded);
//! - after a worker kill, the work the dead worker held (or that a poll it left waiting in
//!   the server took) came back within the liveness timeout, not its own timeouts.
//!
//! Two kill points of each kind run by default; `WARPFLOW_CRASH_POINTS=N` runs N of each, and
//! `WARPFLOW_SEED=S` picks the seed the kill points derive from.

mod support;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use support::processes::{self, TempDir, log_lines};
use warpflow::engine::client::{Client, StartOptions};
use warpflow::engine::history::{EventAttributes, History, validate};
use warpflow::engine::ids::{EventId, WorkflowId};
use warpflow::engine::service::ServiceConfig;
use warpflow::engine::time::Timestamp;
use warpflow_examples::three_step::{self, ThreeStep};

/// Workflows per kill point.
const WORKFLOWS: usize = 20;
/// Activities of the whole run.
const ACTIVITIES: usize = WORKFLOWS * 3;
/// How long the workflows may take to finish after the restart.
const FINISH_DEADLINE: Duration = Duration::from_secs(60);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_warpflow"))
}

/// Which process dies.
#[derive(Clone, Copy, Debug)]
enum Victim {
    Server,
    Worker,
}

fn seed() -> u64 {
    std::env::var("WARPFLOW_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed)
}

fn crash_points() -> usize {
    std::env::var("WARPFLOW_CRASH_POINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
}

/// The seeded kill points: after how many logged activity executions to kill.
fn kill_points(victim: Victim) -> Vec<usize> {
    let salt = match victim {
        Victim::Server => 1,
        Victim::Worker => 2,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed() ^ salt);
    (0..crash_points())
        .map(|_| 1 + (rng.next_u64() % (ACTIVITIES as u64 - 2)) as usize)
        .collect()
}

fn key(i: usize) -> String {
    format!("w3-{i:03}")
}

/// Every workflow's current history.
async fn histories(client: &Client) -> BTreeMap<String, History> {
    let mut all = BTreeMap::new();
    for i in 0..WORKFLOWS {
        let id = WorkflowId::from(key(i).as_str());
        let history = client.history(&id, None).await.expect("the history is readable");
        all.insert(key(i), history);
    }
    all
}

/// Activities whose completion a history records, as `"<key> <activity>"` lines.
fn completed_activities(histories: &BTreeMap<String, History>) -> BTreeSet<String> {
    let mut done = BTreeSet::new();
    for (key, history) in histories {
        let mut scheduled = BTreeMap::new();
        for event in &history.events {
            match &event.attributes {
                EventAttributes::ActivityTaskScheduled { activity_type, .. } => {
                    scheduled.insert(event.event_id, activity_type.clone());
                }
                EventAttributes::ActivityTaskCompleted {
                    scheduled_event_id, ..
                } => {
                    done.insert(format!("{key} {}", scheduled[scheduled_event_id]));
                }
                _ => {}
            }
        }
    }
    done
}

/// The wall clock, as the server's histories record it.
fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("the clock is after 1970");
    Timestamp::from_millis(since_epoch.as_millis() as u64)
}

/// After a worker kill, the work the dead worker held comes back by the server's liveness
/// check (about 1 s), not by its own timeouts (10 s): a workflow task it held times out well
/// before its timeout; an attempt it held is retried well before its start-to-close timeout
/// (a retried attempt is no event: the next attempt's `ActivityTaskStarted` is); none times
/// out for good. Prints how much came back, and how long after the kill.
fn check_taken_back(histories: &BTreeMap<String, History>, killed_at: Timestamp, rerun: &str) {
    let workflow_task_timeout = ServiceConfig::default().workflow_task_timeout;
    let mut taken_back = Vec::new();
    for (key, history) in histories {
        let time_of = |id: &EventId| {
            history
                .events
                .iter()
                .find(|e| e.event_id == *id)
                .map(|e| e.event_time)
        };
        for event in history.events.iter().filter(|e| e.event_time >= killed_at) {
            let (since, timeout) = match &event.attributes {
                EventAttributes::WorkflowTaskTimedOut {
                    started_event_id: Some(started),
                    ..
                } => (time_of(started), workflow_task_timeout),
                EventAttributes::ActivityTaskStarted {
                    scheduled_event_id,
                    attempt,
                    ..
                } if *attempt > 1 => (time_of(scheduled_event_id), three_step::STEP_TIMEOUT),
                EventAttributes::ActivityTaskTimedOut { .. } => {
                    panic!("{key}: an activity timed out after the worker kill ({rerun})")
                }
                _ => continue,
            };
            let waited = since.map(|since| event.event_time.since(since));
            assert!(
                waited.is_some_and(|waited| waited < timeout),
                "{key}: work of the dead worker waited for its timeout ({waited:?} until {}; {rerun})",
                event.attributes.event_type()
            );
            taken_back.push(event.event_time.since(killed_at));
        }
    }
    let done = histories
        .values()
        .filter_map(|h| h.events.last())
        .map(|e| e.event_time.since(killed_at.min(e.event_time)))
        .max()
        .unwrap_or_default();
    let latest = taken_back.iter().max().map_or(0, Duration::as_millis);
    println!(
        "  {} workflow tasks or attempts of the dead worker redispatched (the last {latest} ms after \
         the kill); every workflow done {} ms after the kill",
        taken_back.len(),
        done.as_millis()
    );
}

fn wait_for_log(log: &Path, lines: usize) {
    let start = Instant::now();
    while log_lines(log).len() < lines {
        assert!(
            start.elapsed() < FINISH_DEADLINE,
            "the workload stalled before {lines} activities ran"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn kill_and_recover(victim: Victim, kill_at: usize) {
    let rerun = format!(
        "WARPFLOW_SEED={} WARPFLOW_CRASH_POINTS={} cargo test --test durability",
        seed(),
        crash_points()
    );
    println!("{victim:?} killed after {kill_at} activity executions (rerun: {rerun})");
    let dir = TempDir::new("durability");
    let (db, log) = (dir.join("engine.db"), dir.join("activities.log"));
    let (mut server, addr) = processes::serve(binary(), &db, "127.0.0.1:0");
    let url = format!("http://{addr}");
    let mut worker = processes::worker(binary(), &url, Some(&log));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let client = processes::client(&url);

    runtime.block_on(async {
        for i in 0..WORKFLOWS {
            client
                .start::<ThreeStep>(key(i), &key(i), StartOptions::new(three_step::TASK_QUEUE))
                .await
                .expect("the start is acknowledged");
        }
    });
    wait_for_log(&log, kill_at);

    // Kill, and read the state the server kept at the kill.
    let mut killed_at = None;
    let before = runtime.block_on(histories(&client));
    let (executed_at_kill, recorded_at_kill) = match victim {
        Victim::Server => {
            // The worker is paused so that the restarted server's state is the state at the
            // kill; it resumes at once.
            worker.signal("STOP");
            let executed: BTreeSet<String> = log_lines(&log).into_iter().collect();
            server.kill();
            let (restarted, _) = processes::serve(binary(), &db, &addr);
            server = restarted;
            let at_kill = runtime.block_on(histories(&client));
            worker.signal("CONT");
            (executed, at_kill)
        }
        Victim::Worker => {
            killed_at = Some(now());
            worker.kill();
            let executed: BTreeSet<String> = log_lines(&log).into_iter().collect();
            let at_kill = runtime.block_on(histories(&client));
            worker = processes::worker(binary(), &url, Some(&log));
            (executed, at_kill)
        }
    };
    let in_flight = executed_at_kill
        .difference(&completed_activities(&recorded_at_kill))
        .count();

    let results = runtime.block_on(async {
        let mut results = BTreeMap::new();
        for i in 0..WORKFLOWS {
            let handle = client.handle::<ThreeStep>(key(i));
            let result = tokio::time::timeout(FINISH_DEADLINE, handle.result())
                .await
                .unwrap_or_else(|_| panic!("{} did not finish ({rerun})", key(i)));
            results.insert(key(i), result);
        }
        results
    });
    let after = runtime.block_on(histories(&client));
    drop(worker);
    drop(server);

    for (key, result) in &results {
        let expected = three_step::expected_result(key);
        assert_eq!(result.as_ref().ok(), Some(&expected), "{result:?} ({rerun})");
    }
    for (key, history) in &after {
        validate(history).unwrap_or_else(|e| panic!("{key}: {e} ({rerun})"));
        for earlier in [&before[key], &recorded_at_kill[key]] {
            assert!(
                history.events.starts_with(&earlier.events),
                "{key}: events recorded before the kill changed ({rerun})"
            );
        }
    }
    let lines = log_lines(&log);
    let distinct: BTreeSet<&String> = lines.iter().collect();
    let duplicates = lines.len() - distinct.len();
    assert_eq!(distinct.len(), ACTIVITIES, "every activity ran ({rerun})");
    assert!(
        duplicates <= in_flight,
        "{duplicates} activities ran twice, but only {in_flight} were in flight at the kill ({rerun})"
    );
    if let Some(killed_at) = killed_at {
        check_taken_back(&after, killed_at, &rerun);
    }
    println!(
        "  all {WORKFLOWS} workflows completed; {duplicates} duplicate executions, {in_flight} in flight at the kill"
    );
}

#[test]
fn a_server_killed_at_any_point_restarts_from_its_file_and_completes_every_workflow() {
    for kill_at in kill_points(Victim::Server) {
        kill_and_recover(Victim::Server, kill_at);
    }
}

#[test]
fn a_worker_killed_at_any_point_is_replaced_and_every_workflow_completes() {
    for kill_at in kill_points(Victim::Worker) {
        kill_and_recover(Victim::Worker, kill_at);
    }
}
