//! Data survives closing and reopening the file, and closing is clean.

use crate::support::{Dir, FAR, append, at, new_run, open, request, run_key, task, timer};
use futures::executor::block_on;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use warpflow_engine::Payload;
use warpflow_engine::adapters::sqlite::SqliteStorage;
use warpflow_engine::ids::{EventId, TaskQueue, WorkflowId};
use warpflow_engine::storage::{
    Commit, Lease, RunStatus, Storage, StorageResult, Task, TaskKind, TimeoutTypeKey, TimerKey, TimerKind,
    TimerRecord,
};
use warpflow_engine::time::Timestamp;

/// Leases the workflow task of the queue `keep` for a minute.
fn lease_workflow_task(storage: &SqliteStorage, now: Timestamp, owner: &str) -> StorageResult<Option<Task>> {
    block_on(storage.lease_task(
        &TaskQueue::new("keep"),
        TaskKind::Workflow,
        now,
        owner,
        Duration::from_secs(60),
    ))
}

fn wal(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", path.display()))
}

/// Runs (with a continue-as-new), events, tasks (one leased), timers of every kind and
/// request ids written by one handle are read back, unchanged, by the next.
#[test]
fn data_survives_close_and_reopen() {
    let dir = Dir::new();
    let path = dir.fresh_path();
    let a = run_key("keep-a", "run-1");
    let b1 = run_key("keep-b", "run-1");
    let b2 = run_key("keep-b", "run-2");
    let queue = TaskQueue::new("keep");

    let a_new = new_run(&a, 2);
    let b1_new = new_run(&b1, 3);
    let b1_closed = append(&b1_new.record, 1, RunStatus::ContinuedAsNew);
    let b2_new = new_run(&b2, 2);
    let mut activity = task(&b2, "keep", at(5_000));
    activity.key.kind = TaskKind::Activity;
    activity.key.scheduled_event_id = EventId(5);
    let timers = vec![
        timer(&a, "1", at(100)),
        TimerRecord {
            key: TimerKey {
                run: b2.clone(),
                kind: TimerKind::Activity {
                    scheduled_event_id: EventId(5),
                    attempt: 2,
                    timeout: TimeoutTypeKey::Heartbeat,
                },
            },
            due: at(200),
        },
        TimerRecord {
            key: TimerKey {
                run: a.clone(),
                kind: TimerKind::WorkflowTask {
                    scheduled_event_id: EventId(2),
                    attempt: 1,
                },
            },
            due: at(100),
        },
    ];

    let storage = open(&path);
    block_on(storage.commit(Commit {
        runs: vec![a_new.clone(), b1_new.clone()],
        create_tasks: vec![task(&a, "keep", at(0))],
        create_timers: timers.clone(),
        requests: vec![(request("start-a"), Payload::from(json!({"runId": "run-1"})))],
        ..Commit::default()
    }))
    .unwrap();
    block_on(storage.commit(Commit {
        runs: vec![b1_closed.clone(), b2_new.clone()],
        create_tasks: vec![activity.clone()],
        requests: vec![(request("continue-b"), Payload::from(json!(2)))],
        ..Commit::default()
    }))
    .unwrap();
    let leased = lease_workflow_task(&storage, at(10), "worker-1")
        .unwrap()
        .expect("the workflow task is leased");
    let stats = storage.stats();
    assert_eq!((stats.commits, stats.leases), (2, 1), "{stats:?}");
    drop(storage);
    assert!(
        !wal(&path).exists(),
        "closing the last handle did not checkpoint and remove the write-ahead log: the writer \
         did not close its connection"
    );

    let storage = open(&path);
    assert_eq!(
        block_on(storage.list_runs(None, 10)).unwrap(),
        vec![
            a_new.record.clone(),
            b1_closed.record.clone(),
            b2_new.record.clone()
        ],
        "the runs"
    );
    assert_eq!(
        block_on(storage.get_run(&WorkflowId::new("keep-b"), None)).unwrap(),
        Some(b2_new.record.clone()),
        "the current run of keep-b is the run it continued as"
    );
    assert_eq!(
        block_on(storage.read_events(&a, EventId(1))).unwrap(),
        a_new.events
    );
    let mut b1_history = b1_new.events.clone();
    b1_history.extend(b1_closed.events.clone());
    assert_eq!(
        block_on(storage.read_events(&b1, EventId(1))).unwrap(),
        b1_history
    );

    assert_eq!(
        lease_workflow_task(&storage, at(20), "worker-2").unwrap(),
        None,
        "the lease taken before closing is still held"
    );
    let released = lease_workflow_task(&storage, at(60_010), "worker-2").unwrap();
    assert_eq!(
        released,
        Some(Task {
            lease: Some(Lease {
                owner: "worker-2".to_owned(),
                expires_at: at(120_010),
            }),
            ..leased
        }),
        "the task once its lease expired"
    );
    assert_eq!(
        block_on(storage.next_task_time(&queue, TaskKind::Activity, at(0))).unwrap(),
        Some(at(5_000)),
        "the activity task's visibility"
    );
    let mut sorted = timers;
    sorted.sort_by(|x, y| (x.due, &x.key).cmp(&(y.due, &y.key)));
    assert_eq!(
        block_on(storage.due_timers(FAR, 10)).unwrap(),
        sorted,
        "the timers"
    );
    assert_eq!(
        block_on(storage.get_request(&request("start-a"))).unwrap(),
        Some(Payload::from(json!({"runId": "run-1"})))
    );
    assert_eq!(
        block_on(storage.get_request(&request("continue-b"))).unwrap(),
        Some(Payload::from(json!(2)))
    );

    // The reopened file takes new commits where the old handle left off.
    block_on(storage.commit(Commit {
        runs: vec![append(&a_new.record, 2, RunStatus::Completed)],
        complete_tasks: vec![activity.key.clone()],
        ..Commit::default()
    }))
    .unwrap();
    assert_eq!(
        block_on(storage.get_run(&a.workflow_id, None))
            .unwrap()
            .map(|r| r.next_event_id),
        Some(EventId(5))
    );
}
