//! Group commit: concurrent commits share transactions, and a refused commit fails alone
//! while the rest of its batch commits.

use crate::support::{Dir, append, at, event, new_run, numbered, numbered_commit, request, run_key, timer};
use futures::executor::block_on;
use futures::future::join_all;
use futures::{join, poll};
use rusqlite::Connection;
use serde_json::json;
use std::pin::pin;
use std::time::{Duration, Instant};
use warpflow_engine::Payload;
use warpflow_engine::adapters::sqlite::SqliteStorage;
use warpflow_engine::ids::{EventId, WorkflowId};
use warpflow_engine::storage::{
    Commit, RunRecord, RunStatus, RunWrite, Storage, StorageError, StorageResult,
};

/// Waits until `done`, polling: the writer is a real thread.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Commits `commits` concurrently so that they are all in ONE batch, and returns their
/// results in order.
///
/// Another connection holds the write lock; a first commit is sent and the writer takes it
/// alone and waits for the lock. Meanwhile every commit of `commits` is queued; then the lock
/// is released, and the writer's next batch is all of them.
fn in_one_batch(storage: &SqliteStorage, commits: Vec<Commit>) -> Vec<StorageResult<()>> {
    let lock = Connection::open(storage.path()).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let before = storage.stats().batches;
    block_on(async {
        let blocker = Commit {
            requests: vec![(request(&format!("blocker-{before}")), Payload::null())],
            ..Commit::default()
        };
        let mut blocker = pin!(storage.commit(blocker));
        assert!(poll!(&mut blocker).is_pending(), "a commit went through the lock");
        wait_until("the writer takes the first commit", || {
            storage.stats().batches > before
        });
        let queued = join_all(commits.into_iter().map(|c| storage.commit(c)));
        // Polled after every commit above was sent, as `join!` polls in order.
        let release = async { lock.execute_batch("ROLLBACK").unwrap() };
        let (results, (), blocked) = join!(queued, release, blocker);
        blocked.unwrap();
        results
    })
}

#[test]
fn sixty_four_concurrent_commits_share_one_transaction() {
    let dir = Dir::new();
    let storage = dir.fresh();
    let results = in_one_batch(&storage, (0..64).map(|n| numbered_commit(n, "batch")).collect());
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stats = storage.stats();
    assert_eq!(stats.commits, 65, "{stats:?}");
    assert_eq!(stats.largest_batch, 64, "{stats:?}");
    assert_eq!(
        stats.transactions, 2,
        "the first commit's, then one for the 64: {stats:?}"
    );
    assert_eq!(
        block_on(storage.list_runs(None, 100)).unwrap().len(),
        64,
        "every run is there"
    );
}

/// Free-running: 64 committers, each committing one after the other, share transactions
/// with no help.
#[test]
fn concurrent_committers_share_transactions() {
    const COMMITTERS: u64 = 64;
    const EACH: u64 = 8;
    let dir = Dir::new();
    let storage = dir.fresh();
    let results = block_on(join_all((0..COMMITTERS).map(|c| {
        let storage = &storage;
        async move {
            for i in 0..EACH {
                storage.commit(numbered_commit(c * EACH + i, "free")).await?;
            }
            Ok::<(), StorageError>(())
        }
    })));
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stats = storage.stats();
    assert_eq!(stats.commits, COMMITTERS * EACH, "{stats:?}");
    assert!(
        stats.transactions < stats.commits,
        "every commit had its own transaction: {stats:?}"
    );
}

/// `write` in a commit that also creates a run `trace-<name>/run-1` before it, and carries a task,
/// a timer and a request: a trace of any of them shows a refused commit partly applied.
fn with_traces(name: &str, write: RunWrite) -> Commit {
    let traces = run_key(&format!("trace-{name}"), "run-1");
    Commit {
        runs: vec![new_run(&traces, 2), write],
        create_tasks: vec![crate::support::task(&traces, "traces", at(0))],
        create_timers: vec![timer(&traces, name, at(1))],
        requests: vec![(request(name), Payload::from(json!(name)))],
        ..Commit::default()
    }
}

/// `write` alone, with a task, a timer and a request of its own run (`extra_task` too):
/// the writer applies such a commit without a savepoint, so it must refuse before writing.
fn single_run(name: &str, write: RunWrite, extra_task: Option<warpflow_engine::storage::Task>) -> Commit {
    let key = write.record.key.clone();
    Commit {
        runs: vec![write],
        create_tasks: [crate::support::task(&key, "traces", at(0))]
            .into_iter()
            .chain(extra_task)
            .collect(),
        create_timers: vec![timer(&key, name, at(1))],
        requests: vec![(request(name), Payload::from(json!(name)))],
        ..Commit::default()
    }
}

/// An append of event 2 to a run that, by the time it lands, holds event 2 already: the
/// optimistic check refuses it with `Conflict`.
fn stale_append(record: &RunRecord) -> RunWrite {
    let mut write = append(record, 1, RunStatus::Running);
    write.expected_next_event_id = Some(EventId(2));
    write.events = vec![event(2)];
    write.record.next_event_id = EventId(3);
    write
}

fn numbered_ids() -> Vec<String> {
    (0..30).map(numbered).collect()
}

#[test]
fn a_refused_single_run_commit_writes_nothing_in_its_batch() {
    let dir = Dir::new();
    let storage = dir.fresh();
    let stale = new_run(&run_key("stale", "run-1"), 2);
    block_on(storage.commit(Commit {
        runs: vec![stale.clone()],
        ..Commit::default()
    }))
    .unwrap();
    let stale_write = stale_append(&stale.record);
    // A valid run creation whose second task cannot be stored: refused after the run's
    // checks passed, before anything of it is written.
    let unstorable = run_key("unstorable", "run-1");
    let mut late_task = crate::support::task(&unstorable, "traces", at(0));
    late_task.visible_at = warpflow_engine::Timestamp::from_millis(u64::MAX);
    late_task.key.attempt = 2;

    let mut commits: Vec<Commit> = (0..30).map(|n| numbered_commit(n, "single")).collect();
    commits.insert(10, single_run("stale", stale_write, None));
    commits.insert(
        20,
        single_run("unstorable", new_run(&unstorable, 2), Some(late_task)),
    );
    let results = in_one_batch(&storage, commits);
    assert!(
        matches!(results[10], Err(StorageError::Conflict { .. })),
        "{:?}",
        results[10]
    );
    assert!(
        matches!(&results[20], Err(StorageError::Invalid(_))),
        "{:?}",
        results[20]
    );
    for (i, result) in results.iter().enumerate() {
        if ![10, 20].contains(&i) {
            assert_eq!(*result, Ok(()), "commit #{i} of the batch");
        }
    }
    for name in ["stale", "unstorable"] {
        assert_eq!(
            block_on(storage.get_request(&request(name))).unwrap(),
            None,
            "{name}"
        );
    }
    assert_eq!(
        block_on(storage.get_run(&WorkflowId::new("unstorable"), None)).unwrap(),
        None
    );
    let stored = block_on(storage.get_run(&WorkflowId::new("stale"), None)).unwrap();
    assert_eq!(stored.map(|r| r.next_event_id), Some(EventId(3)));
    let timers = block_on(storage.due_timers(at(100), 100)).unwrap();
    assert!(
        timers
            .iter()
            .all(|t| t.key.run.workflow_id.as_str().starts_with("single")
                || numbered_ids().contains(&t.key.run.workflow_id.as_str().to_owned())),
        "a refused commit set a timer: {timers:?}"
    );
    assert_eq!(
        block_on(storage.next_task_time(
            &"traces".into(),
            warpflow_engine::storage::TaskKind::Workflow,
            at(0)
        ))
        .unwrap(),
        None
    );
}

#[test]
fn a_refused_commit_fails_alone_in_its_batch() {
    let dir = Dir::new();
    let storage = dir.fresh();
    let stale = new_run(&run_key("stale", "run-1"), 2);
    let versioned = new_run(&run_key("versioned", "run-1"), 2);
    block_on(storage.commit(Commit {
        runs: vec![stale.clone(), versioned.clone()],
        ..Commit::default()
    }))
    .unwrap();

    let stale_write = stale_append(&stale.record);
    let mut version_write = append(&versioned.record, 0, RunStatus::Running);
    version_write.record.version += 1;
    let mut invalid_write = new_run(&run_key("invalid", "run-1"), 2);
    invalid_write.events[1].event_id = EventId(3);
    let dup = run_key("dup", "run-1");

    let mut commits: Vec<Commit> = (0..59).map(|n| numbered_commit(n, "refusals")).collect();
    commits.insert(10, with_traces("dup-1", new_run(&dup, 2)));
    commits.insert(20, with_traces("stale", stale_write));
    commits.insert(30, with_traces("dup-2", new_run(&dup, 2)));
    commits.insert(40, with_traces("invalid", invalid_write));
    commits.insert(50, with_traces("version", version_write));
    assert_eq!(commits.len(), 64);
    let before = storage.stats();
    let results = in_one_batch(&storage, commits);
    let stats = storage.stats();
    assert_eq!(
        (stats.transactions - before.transactions, stats.largest_batch),
        (2, 64),
        "the 64 commits were not one batch: {stats:?}"
    );

    let dup_refused = StorageError::Conflict {
        run: dup.clone(),
        expected: None,
        found: Some(EventId(3)),
    };
    let (dup_winner, dup_loser) = match (&results[10], &results[30]) {
        (Ok(()), Err(e)) if *e == dup_refused => ("dup-1", "dup-2"),
        (Err(e), Ok(())) if *e == dup_refused => ("dup-2", "dup-1"),
        other => panic!("the two creations of {dup}: {other:?}"),
    };
    assert_eq!(
        results[20],
        Err(StorageError::Conflict {
            run: run_key("stale", "run-1"),
            expected: Some(EventId(2)),
            found: Some(EventId(3)),
        })
    );
    assert!(
        matches!(&results[40], Err(StorageError::Invalid(_))),
        "{:?}",
        results[40]
    );
    assert_eq!(
        results[50],
        Err(StorageError::VersionConflict {
            run: run_key("versioned", "run-1"),
            based_on: 2,
            found: 1,
        })
    );
    let refused = [10, 20, 30, 40, 50];
    for (i, result) in results.iter().enumerate() {
        if !refused.contains(&i) {
            assert_eq!(*result, Ok(()), "commit #{i} of the batch");
        }
    }
    assert_eq!(stats.refused - before.refused, 4, "{stats:?}");

    // The refused commits left nothing; their neighbours are all there.
    for name in [dup_loser, "stale", "invalid", "version"] {
        assert_eq!(
            block_on(storage.get_request(&request(name))).unwrap(),
            None,
            "the refused commit {name} recorded its request"
        );
    }
    assert_eq!(
        block_on(storage.get_request(&request(dup_winner))).unwrap(),
        Some(Payload::from(json!(dup_winner)))
    );
    let timers = block_on(storage.due_timers(at(10), 100)).unwrap();
    let traced: Vec<&str> = timers
        .iter()
        .filter_map(|t| t.key.run.workflow_id.as_str().strip_prefix("trace-"))
        .collect();
    assert_eq!(traced, vec![dup_winner], "timers of the batch's special commits");
    let traced_runs: Vec<String> = block_on(storage.list_runs(None, 100))
        .unwrap()
        .into_iter()
        .filter_map(|r| {
            r.key
                .workflow_id
                .as_str()
                .strip_prefix("trace-")
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        traced_runs,
        vec![dup_winner],
        "runs created by the batch's special commits"
    );
    for n in 0..59 {
        assert!(
            block_on(storage.get_run(&WorkflowId::new(numbered(n)), None))
                .unwrap()
                .is_some(),
            "commit {n} of the batch is missing"
        );
    }
    assert_eq!(
        block_on(storage.get_run(&WorkflowId::new("invalid"), None)).unwrap(),
        None
    );
}
