//! `SimStorage`: commit faults, lost replies, crashes, determinism, random mode, and the
//! storage conformance suite with faults off.

mod support;

use futures::executor::block_on;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use std::time::Duration;
use support::{ManualClock, T0, at, create_run, poll_once, run_key};
use warpflow_engine::Payload;
use warpflow_engine::ids::WorkflowId;
use warpflow_engine::storage::{MemoryStorage, RequestId, Storage, StorageError, conformance};
use warpflow_sim::{
    Fault, FaultLog, FaultPlan, FaultRates, LatencyRange, LoggedFault, Op, SharedFaultLog, SharedTrace,
    SimStorage, When,
};

fn storage(clock: &ManualClock, seed: u64) -> SimStorage {
    SimStorage::new(
        MemoryStorage::new(),
        clock.shared(),
        ChaCha8Rng::seed_from_u64(seed),
    )
}

fn is_unavailable<T>(result: &Result<T, StorageError>) -> bool {
    matches!(result, Err(StorageError::Unavailable(_)))
}

fn exists(storage: &SimStorage, workflow_id: &str) -> bool {
    block_on(storage.get_run(&WorkflowId::new(workflow_id), None))
        .unwrap()
        .is_some()
}

#[test]
fn a_failed_commit_is_not_applied() {
    let clock = ManualClock::auto();
    let storage = storage(&clock, 1).with_latency(LatencyRange::millis(1, 1));
    storage.faults().fail_next_commit();

    let result = block_on(storage.commit(create_run("a", "r1")));
    assert!(is_unavailable(&result), "{result:?}");
    assert!(!exists(&storage, "a"));
    assert_eq!(
        block_on(storage.get_request(&RequestId("r1".into()))).unwrap(),
        None
    );
    assert_eq!(
        storage.faults().log().snapshot().entries(),
        [hit(T0, 1, Fault::FailCommit)]
    );

    // One-shot: the retry goes through.
    block_on(storage.commit(create_run("a", "r1"))).unwrap();
    assert!(exists(&storage, "a"));
    assert_eq!(clock.shared().now(), at(2), "each commit waited its 1 ms");
}

#[test]
fn a_lost_reply_is_applied_and_the_retry_is_recognised() {
    let clock = ManualClock::auto();
    let storage = storage(&clock, 2);
    storage.faults().lose_next_commit_reply();

    let result = block_on(storage.commit(create_run("a", "r1")));
    assert!(is_unavailable(&result), "{result:?}");
    // The commit is durable: the retry finds the request id's response...
    assert_eq!(
        block_on(storage.get_request(&RequestId("r1".into()))).unwrap(),
        Some(Payload::from("started a"))
    );
    assert!(exists(&storage, "a"));
    // ...and blindly redoing the commit is a conflict, not a second run.
    assert_eq!(
        block_on(storage.commit(create_run("a", "r1"))),
        Err(StorageError::Conflict {
            run: run_key("a"),
            expected: None,
            found: Some(warpflow_engine::ids::EventId(2)),
        })
    );
    assert_eq!(
        storage.faults().log().snapshot().entries(),
        [hit(T0, 1, Fault::LoseCommitReply)]
    );
}

/// A log entry: `fault` decided at `at` for commit number `commit`.
fn hit(at: warpflow_engine::time::Timestamp, commit: u64, fault: Fault) -> LoggedFault {
    LoggedFault {
        at,
        op: Some(Op::Commit(commit)),
        fault,
    }
}

#[test]
fn a_crash_drops_commits_in_flight_and_keeps_completed_ones() {
    let clock = ManualClock::manual();
    let trace = SharedTrace::new();
    let storage = storage(&clock, 3)
        .with_latency(LatencyRange::millis(5, 5))
        .with_trace(trace.clone());

    // `done` completes before the crash.
    let mut done = storage.commit(create_run("done", "r-done"));
    assert!(poll_once(&mut done).is_none(), "in its latency window");
    clock.advance(Duration::from_millis(5));
    assert_eq!(poll_once(&mut done), Some(Ok(())));
    drop(done);

    // `lost` is in its latency window when the process crashes.
    let mut lost = storage.commit(create_run("lost", "r-lost"));
    assert!(poll_once(&mut lost).is_none());
    clock.advance(Duration::from_millis(2));
    storage.crash();
    clock.advance(Duration::from_millis(3));
    let result = poll_once(&mut lost).expect("woken at its deadline");
    assert!(is_unavailable(&result), "{result:?}");
    drop(lost);

    // The crashed handle does no more I/O.
    assert!(!storage.is_alive());
    assert!(is_unavailable(&block_on(
        storage.get_run(&WorkflowId::new("done"), None)
    )));
    let mut late = storage.commit(create_run("late", "r-late"));
    assert!(is_unavailable(&poll_once(&mut late).expect("refused at once")));
    drop(late);

    // The restarted process sees exactly what completed.
    let reopened = storage.reopen();
    assert!(reopened.is_alive());
    assert!(exists(&reopened, "done"));
    assert!(!exists(&reopened, "lost"));
    assert!(!exists(&reopened, "late"));
    assert_eq!(
        block_on(reopened.get_request(&RequestId("r-lost".into()))).unwrap(),
        None
    );
    // And it commits.
    let mut again = reopened.commit(create_run("lost", "r-lost"));
    assert!(poll_once(&mut again).is_none());
    clock.advance(Duration::from_millis(5));
    assert_eq!(poll_once(&mut again), Some(Ok(())));
    drop(again);
    assert!(exists(&reopened, "lost"));

    assert_eq!(
        storage.faults().log().snapshot().entries(),
        [LoggedFault {
            at: at(7),
            op: None,
            fault: Fault::CrashEngine
        }]
    );
    let lines: Vec<String> = trace.snapshot().lines().iter().map(|l| l.to_string()).collect();
    let commit = "tasks +0 -0, timers +0 -0, requests +1";
    assert_eq!(
        lines,
        [
            "2026-01-01T00:00:00.000Z storage commit #1 begins (latency 5ms)".to_owned(),
            format!("2026-01-01T00:00:00.005Z storage commit #1 applied (runs [done/run-1 +1], {commit})"),
            "2026-01-01T00:00:00.005Z storage commit #2 begins (latency 5ms)".to_owned(),
            "2026-01-01T00:00:00.007Z storage crash: commits in flight are lost (epoch 1)".to_owned(),
            "2026-01-01T00:00:00.010Z storage commit #2 lost in the crash".to_owned(),
            "2026-01-01T00:00:00.010Z storage reopen (epoch 2)".to_owned(),
            "2026-01-01T00:00:00.010Z storage commit #3 begins (latency 5ms)".to_owned(),
            format!("2026-01-01T00:00:00.015Z storage commit #3 applied (runs [lost/run-1 +1], {commit})"),
        ]
    );
}

/// What a run of [`random_run`] observes: each commit's result, the time after each, the
/// fault log and the trace's hash.
type Observed = (Vec<Result<(), StorageError>>, Vec<u64>, FaultLog, u64);

/// Runs 40 commits with random faults and latencies; returns what a run can observe.
fn random_run(seed: u64, rates: &FaultRates) -> Observed {
    planned_run(seed, rates, &FaultPlan::new())
}

/// [`random_run`], with the faults of `plan` (all at commit numbers) planned on the storage.
fn planned_run(seed: u64, rates: &FaultRates, plan: &FaultPlan) -> Observed {
    let clock = ManualClock::auto();
    let trace = SharedTrace::new();
    let log = SharedFaultLog::new();
    let storage = storage(&clock, seed)
        .with_latency(LatencyRange::millis(0, 20))
        .with_rates(rates)
        .with_log(log.clone())
        .with_trace(trace.clone());
    for (when, fault) in &plan.faults {
        let When::Op(Op::Commit(n)) = when else {
            panic!("{when} is not a commit");
        };
        assert!(storage.faults().plan(*n, fault), "{fault} is a storage fault");
    }
    let mut results = Vec::new();
    let mut times = Vec::new();
    for i in 0..40 {
        results.push(block_on(
            storage.commit(create_run(&format!("w{i}"), &format!("r{i}"))),
        ));
        times.push(clock.shared().now().as_millis());
    }
    (results, times, log.snapshot(), trace.hash())
}

/// Rates at which a run of 40 commits meets both commit faults.
fn busy_rates() -> FaultRates {
    FaultRates {
        fail_commit: 0.2,
        lose_commit_reply: 0.2,
        ..FaultRates::none()
    }
}

#[test]
fn the_same_seed_gives_the_same_latencies_and_faults() {
    let rates = busy_rates();
    let first = random_run(7, &rates);
    assert_eq!(first, random_run(7, &rates));
    assert_ne!(first.1, random_run(8, &rates).1, "another seed, other latencies");
    assert!(first.0.iter().any(is_unavailable) && first.0.iter().any(Result::is_ok));
    // The latencies do not depend on the rates: the dice are drawn the same way.
    assert_eq!(random_run(7, &FaultRates::none()).1, first.1);
}

#[test]
fn a_random_run_s_log_replays_as_a_plan() {
    let random = random_run(12, &busy_rates());
    assert!(random.2.len() > 2, "{}", random.2);
    let replayed = planned_run(12, &FaultRates::none(), &random.2.to_plan(T0));
    assert_eq!(replayed, random);
}

#[test]
fn random_mode_at_rate_zero_injects_nothing_and_at_rate_one_fails_everything() {
    let (results, _, log, _) = random_run(9, &FaultRates::none());
    assert!(results.iter().all(Result::is_ok));
    assert!(log.is_empty(), "{log}");

    let clock = ManualClock::auto();
    let all_fail = FaultRates {
        fail_commit: 1.0,
        ..FaultRates::none()
    };
    let storage = storage(&clock, 9).with_rates(&all_fail);
    for i in 0..20 {
        let result = block_on(storage.commit(create_run(&format!("w{i}"), "r")));
        assert!(is_unavailable(&result), "{result:?}");
    }
    assert!(block_on(storage.list_runs(None, 100)).unwrap().is_empty());
    let log = storage.faults().log().snapshot();
    assert_eq!(log.len(), 20);
    assert!(log.faults().all(|f| *f == Fault::FailCommit));

    let all_lost = FaultRates {
        lose_commit_reply: 1.0,
        ..FaultRates::none()
    };
    storage.faults().set_rates(&all_lost);
    for i in 0..20 {
        let result = block_on(storage.commit(create_run(&format!("v{i}"), "r")));
        assert!(is_unavailable(&result), "{result:?}");
    }
    assert_eq!(
        block_on(storage.list_runs(None, 100)).unwrap().len(),
        20,
        "all applied"
    );
}

#[test]
fn plans_arm_storage_faults() {
    let clock = ManualClock::auto();
    let storage = storage(&clock, 10);
    let faults = storage.faults();
    assert!(faults.apply(&Fault::FailCommit));
    assert!(faults.apply(&Fault::LoseCommitReply));
    assert!(
        !faults.apply(&Fault::CrashEngine),
        "the test kit crashes the engine"
    );
    assert!(!faults.apply(&Fault::DuplicateNextRequest));
    // Failing takes precedence: the first commit fails, the second loses its reply.
    assert!(is_unavailable(&block_on(storage.commit(create_run("a", "r1")))));
    assert!(!exists(&storage, "a"));
    assert!(is_unavailable(&block_on(storage.commit(create_run("a", "r1")))));
    assert!(exists(&storage, "a"));
    let kinds: Vec<Fault> = faults.log().snapshot().faults().cloned().collect();
    assert_eq!(kinds, [Fault::FailCommit, Fault::LoseCommitReply]);
}

#[test]
fn a_fault_planned_at_a_commit_number_hits_that_commit() {
    let clock = ManualClock::auto();
    let storage = storage(&clock, 11);
    let faults = storage.faults();
    assert!(faults.plan(2, &Fault::FailCommit));
    assert!(faults.plan(3, &Fault::LoseCommitReply));
    assert!(
        !faults.plan(3, &Fault::CrashEngine),
        "the test kit crashes the engine"
    );
    assert!(!faults.plan(3, &Fault::LoseNextReply), "not a storage fault");
    let results: Vec<bool> = (1..=4)
        .map(|i| block_on(storage.commit(create_run(&format!("w{i}"), &format!("r{i}")))).is_ok())
        .collect();
    assert_eq!(results, [true, false, false, true]);
    assert!(!exists(&storage, "w2"), "failed");
    assert!(exists(&storage, "w3"), "applied, its reply lost");
    let log = faults.log().snapshot();
    let ops: Vec<_> = log.entries().iter().map(|e| (e.op, e.fault.clone())).collect();
    assert_eq!(
        ops,
        [
            (Some(Op::Commit(2)), Fault::FailCommit),
            (Some(Op::Commit(3)), Fault::LoseCommitReply),
        ]
    );
}

#[test]
fn sim_storage_without_faults_conforms() {
    let clock = ManualClock::auto();
    let seed = std::cell::Cell::new(0);
    let make = || {
        seed.set(seed.get() + 1);
        storage(&clock, seed.get())
    };
    block_on(conformance::run_all(make));
    block_on(conformance::crash_keeps_only_committed(make, SimStorage::reopen));
}
