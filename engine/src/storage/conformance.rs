//! The storage conformance suite: the properties every [`Storage`] backend must have.
//!
//! In the spirit of duroxide's provider validation: each property is a `pub async fn` that
//! drives a backend only through the [`Storage`] trait and panics, with a message naming the
//! property, when the backend misbehaves. Panicking is the report: this is a test suite that
//! lives in the library so that every backend's tests can run the same checks.
//!
//! Each property takes a storage that must be fresh and empty (as `make` returns it in
//! [`run_all`]) and is free to leave it in any state. A backend's tests either call
//! [`run_all`] or, to get one test per property, call the properties one by one:
//!
//! ```
//! use futures::executor::block_on;
//! use warpflow_engine::storage::{MemoryStorage, conformance};
//!
//! block_on(conformance::atomic_commit(&MemoryStorage::new()));
//! ```
//!
//! [`crash_keeps_only_committed`] needs a way to reopen a storage, so it is not part of
//! [`run_all`]: call it separately.
//!
//! The suite pins behaviour the trait leaves to interpretation, so that backends agree:
//! creating a run that exists is a `Conflict` with `expected: None`; a run write whose
//! `next_event_id` check passes is then checked on its version (`VersionConflict`); a run
//! write is checked
//! against the runs as the earlier writes of the same commit left them; `next_task_time` is
//! `now` when a task is claimable already; re-creating a task replaces it whole, lease
//! included.

use super::{
    Commit, Lease, RequestId, RunKey, RunRecord, RunStatus, RunWrite, Storage, StorageError, StorageResult,
    Task, TaskKey, TaskKind, TimerKey, TimerKind, TimerRecord,
};
use crate::history::{EventAttributes, History, HistoryEvent};
use crate::ids::{EventId, RunId, TaskQueue, TimerId, WorkflowId};
use crate::payload::Payload;
use crate::service::ExecutionState;
use crate::time::Timestamp;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Runs every property but [`crash_keeps_only_committed`], each on a fresh storage from
/// `make`.
pub async fn run_all<S: Storage>(make: impl Fn() -> S) {
    atomic_commit(&make()).await;
    optimistic_conflict(&make()).await;
    version_conflict(&make()).await;
    workflow_id_uniqueness(&make()).await;
    invalid_event_ids(&make()).await;
    list_runs_order(&make()).await;
    list_open_runs(&make()).await;
    task_lease_and_expiry(&make()).await;
    task_visibility(&make()).await;
    task_order(&make()).await;
    task_queue_and_kind(&make()).await;
    task_replacement(&make()).await;
    many_tasks(&make()).await;
    timers_by_due_time(&make()).await;
    timer_replace_and_delete(&make()).await;
    request_ids(&make()).await;
}

/// Declares one `#[test]` per property (but [`crash_keeps_only_committed`], which needs a
/// reopen) and a `run_all` test, each on a fresh storage from `$make`: an expression giving
/// an `Fn() -> S`, evaluated once per test, so that it may own what its storages need (a
/// temporary directory, say). For `MemoryStorage`: `storage_conformance_tests!(MemoryStorage::new);`
#[macro_export]
macro_rules! storage_conformance_tests {
    ($make:expr) => {
        $crate::storage_conformance_tests!(@each $make;
            atomic_commit,
            optimistic_conflict,
            version_conflict,
            workflow_id_uniqueness,
            invalid_event_ids,
            list_runs_order,
            task_lease_and_expiry,
            task_visibility,
            task_order,
            task_queue_and_kind,
            task_replacement,
            many_tasks,
            timers_by_due_time,
            timer_replace_and_delete,
            request_ids
        );

        /// `run_all` runs every property (and so stays in step with the list above).
        #[test]
        fn run_all() {
            let make = $make;
            $crate::storage::conformance::block_on($crate::storage::conformance::run_all(make));
        }
    };
    (@each $make:expr; $($property:ident),*) => {
        $(
            #[test]
            fn $property() {
                let make = $make;
                $crate::storage::conformance::block_on($crate::storage::conformance::$property(&make()));
            }
        )*
    };
}

/// For [`storage_conformance_tests!`](crate::storage_conformance_tests): the suite's futures
/// complete without a runtime's help, except a backend's own threads.
#[doc(hidden)]
pub use futures::executor::block_on;

// ---- runs and commits ----

/// A commit whose last run write conflicts leaves no trace of anything else it carried:
/// runs, events, tasks, timers and requests are as before it.
pub async fn atomic_commit<S: Storage>(storage: &S) {
    const P: &str = "atomic commit";
    let a = run_key("atomic-a", "run-1");
    let d = run_key("atomic-d", "run-1");
    let queue = "atomic";
    let setup = Commit {
        runs: vec![new_run(&a, at(0), 2), new_run(&d, at(0), 2)],
        create_tasks: vec![task(&a, TaskKind::Workflow, 2, queue, at(0))],
        create_timers: vec![timer(&a, "1", at(1_000)), timer(&a, "2", at(2_000))],
        requests: vec![(request("setup"), Payload::from("setup response"))],
        ..Commit::default()
    };
    let a_record = setup.runs[0].record.clone();
    let d_record = setup.runs[1].record.clone();
    let a_events = setup.runs[0].events.clone();
    ok(P, "setup commit", storage.commit(setup.clone()).await);

    let b = run_key("atomic-b", "run-1");
    let c = run_key("atomic-c", "run-1");
    // Well formed, but expecting the wrong next event id of `d`.
    let mut stale = next_write(&d_record, 1, RunStatus::Running, at(5));
    stale.expected_next_event_id = Some(EventId(7));
    stale.record.next_event_id = EventId(8);
    stale.events = vec![event(7, at(5))];
    let doomed = Commit {
        runs: vec![
            new_run(&b, at(5), 2),
            next_write(&a_record, 2, RunStatus::Running, at(5)),
            new_run(&c, at(5), 1),
            stale,
        ],
        create_tasks: vec![
            task(&b, TaskKind::Workflow, 2, queue, at(0)),
            task(&a, TaskKind::Workflow, 2, queue, at(500)),
        ],
        complete_tasks: vec![task_key(&a, TaskKind::Workflow, 2)],
        create_timers: vec![timer(&a, "1", at(1)), timer(&b, "1", at(10))],
        delete_timers: vec![timer_key(&a, "2")],
        requests: vec![
            (request("doomed"), Payload::from("doomed response")),
            (request("setup"), Payload::from("overwritten")),
        ],
    };
    assert_eq!(
        storage.commit(doomed).await,
        Err(StorageError::Conflict {
            run: d.clone(),
            expected: Some(EventId(7)),
            found: Some(EventId(3)),
        }),
        "{P}: the last run write expects a stale next event id"
    );

    assert_eq!(
        get(P, storage, &a).await,
        Some(a_record.clone()),
        "{P}: run {a} changed"
    );
    assert_eq!(
        events(P, storage, &a, EventId(1)).await,
        a_events,
        "{P}: events of {a} changed"
    );
    assert_eq!(
        get(P, storage, &b).await,
        None,
        "{P}: run {b} of the failed commit exists"
    );
    assert_eq!(
        get(P, storage, &c).await,
        None,
        "{P}: run {c} of the failed commit exists"
    );
    assert_eq!(
        ok(P, "list_runs", storage.list_runs(None, 100).await),
        vec![a_record, d_record],
        "{P}: the runs are not exactly those of the setup commit"
    );
    let tasks = drain(P, storage, queue, TaskKind::Workflow).await;
    assert_eq!(
        tasks
            .iter()
            .map(|t| (t.key.clone(), t.visible_at))
            .collect::<Vec<_>>(),
        vec![(task_key(&a, TaskKind::Workflow, 2), at(0))],
        "{P}: the tasks are not exactly those of the setup commit (created, replaced or completed)"
    );
    assert_eq!(
        ok(P, "due_timers", storage.due_timers(FAR, 100).await),
        vec![timer(&a, "1", at(1_000)), timer(&a, "2", at(2_000))],
        "{P}: the timers are not exactly those of the setup commit (set, replaced or deleted)"
    );
    assert_eq!(
        ok(P, "get_request", storage.get_request(&request("setup")).await),
        Some(Payload::from("setup response")),
        "{P}: the setup commit's request response changed"
    );
    assert_eq!(
        ok(P, "get_request", storage.get_request(&request("doomed")).await),
        None,
        "{P}: the failed commit's request was recorded"
    );
}

/// Two commits expecting the same next event id: the second gets `Conflict` naming the run
/// and what it found. Appended events read back in order, from any event on.
pub async fn optimistic_conflict<S: Storage>(storage: &S) {
    const P: &str = "optimistic conflict";
    let k = run_key("conflict", "run-1");
    let created = new_run(&k, at(0), 2);
    let record = created.record.clone();
    let mut history = created.events.clone();
    ok(P, "creating the run", storage.commit(runs(vec![created])).await);

    let first = next_write(&record, 2, RunStatus::Running, at(10));
    let second = next_write(&record, 1, RunStatus::Running, at(11));
    history.extend(first.events.clone());
    let after_first = first.record.clone();
    ok(
        P,
        "the first commit expecting event 3",
        storage.commit(runs(vec![first])).await,
    );
    assert_eq!(
        storage.commit(runs(vec![second])).await,
        Err(StorageError::Conflict {
            run: k.clone(),
            expected: Some(EventId(3)),
            found: Some(EventId(5)),
        }),
        "{P}: a second commit expecting event 3"
    );
    assert_eq!(
        get(P, storage, &k).await,
        Some(after_first),
        "{P}: the run is not as the first commit left it"
    );

    let all = events(P, storage, &k, EventId(1)).await;
    assert_eq!(
        all, history,
        "{P}: read_events from 1 is not the appended events in order"
    );
    assert_eq!(
        events(P, storage, &k, EventId(3)).await,
        history[2..].to_vec(),
        "{P}: read_events from the middle of the history"
    );
    assert_eq!(
        events(P, storage, &k, EventId(5)).await,
        Vec::<HistoryEvent>::new(),
        "{P}: read_events past the last event"
    );
    assert_eq!(
        events(P, storage, &run_key("conflict", "missing"), EventId(1)).await,
        Vec::<HistoryEvent>::new(),
        "{P}: read_events of a run that does not exist"
    );

    let missing = run_key("conflict", "run-2");
    let phantom = record_for(&missing, RunStatus::Running, at(0), None, EventId(3), 1);
    assert_eq!(
        storage
            .commit(runs(vec![next_write(&phantom, 1, RunStatus::Running, at(20))]))
            .await,
        Err(StorageError::Conflict {
            run: missing.clone(),
            expected: Some(EventId(3)),
            found: None,
        }),
        "{P}: updating a run that does not exist"
    );
    assert_eq!(
        get(P, storage, &missing).await,
        None,
        "{P}: a refused update created its run"
    );
}

/// Two commits based on the same read of a run that change its record but append no event
/// (a change of the run's state alone): the second gets `VersionConflict`, so the first's
/// change is not overwritten. Each write carries the stored version + 1.
pub async fn version_conflict<S: Storage>(storage: &S) {
    const P: &str = "version conflict";
    let k = run_key("version", "run-1");
    let created = new_run(&k, at(0), 2);
    let record = created.record.clone();
    ok(P, "creating the run", storage.commit(runs(vec![created])).await);
    assert_eq!(
        get(P, storage, &k).await.map(|r| r.version),
        Some(1),
        "{P}: a new run's version"
    );

    // Both change the state only (`record_for` makes a state per status), from version 1.
    let first = next_write(&record, 0, RunStatus::Running, at(10));
    let mut second = next_write(&record, 0, RunStatus::Running, at(11));
    second.record.state = Arc::new(ExecutionState::new(Duration::from_millis(1), None));
    let after_first = first.record.clone();
    ok(
        P,
        "the first state-only write",
        storage.commit(runs(vec![first])).await,
    );
    assert_eq!(
        storage.commit(runs(vec![second])).await,
        Err(StorageError::VersionConflict {
            run: k.clone(),
            based_on: 1,
            found: 2,
        }),
        "{P}: a second state-only write based on version 1"
    );
    assert_eq!(
        get(P, storage, &k).await,
        Some(after_first.clone()),
        "{P}: the run is not as the first commit left it"
    );
    ok(
        P,
        "a write based on the current version",
        storage
            .commit(runs(vec![next_write(
                &after_first,
                1,
                RunStatus::Running,
                at(12),
            )]))
            .await,
    );
    assert_eq!(
        get(P, storage, &k).await.map(|r| r.version),
        Some(3),
        "{P}: the version after three writes"
    );
}

/// A workflow id has at most one running run. Closing it (a status change in a run write)
/// allows a new run, also in the same commit (continue-as-new), and the newest run is the
/// current one.
pub async fn workflow_id_uniqueness<S: Storage>(storage: &S) {
    const P: &str = "workflow id uniqueness";
    let wid = WorkflowId::new("unique");
    let r1 = run_key("unique", "run-1");
    let r2 = run_key("unique", "run-2");
    let r3 = run_key("unique", "run-3");
    let r4 = run_key("unique", "run-4");

    let first = new_run(&r1, at(0), 2);
    let r1_open = first.record.clone();
    ok(
        P,
        "creating the first run",
        storage.commit(runs(vec![first])).await,
    );
    assert_eq!(
        storage.commit(runs(vec![new_run(&r2, at(10), 2)])).await,
        Err(StorageError::AlreadyRunning {
            workflow_id: wid.clone(),
            running: RunId::new("run-1"),
        }),
        "{P}: a second run while the first is running"
    );
    assert_eq!(get(P, storage, &r2).await, None, "{P}: the refused run exists");

    let close = next_write(&r1_open, 1, RunStatus::Completed, at(20));
    let r1_closed = close.record.clone();
    ok(
        P,
        "closing the first run",
        storage.commit(runs(vec![close])).await,
    );
    let second = new_run(&r2, at(30), 2);
    let r2_open = second.record.clone();
    ok(
        P,
        "creating a run after the first closed",
        storage.commit(runs(vec![second])).await,
    );
    assert_eq!(
        current(P, storage, &wid).await,
        Some(r2_open.clone()),
        "{P}: the current run after a restart"
    );
    assert_eq!(
        get(P, storage, &r1).await,
        Some(r1_closed.clone()),
        "{P}: the closed run by its run id"
    );

    // Continue-as-new: close and create in one commit, in that order.
    let continued = next_write(&r2_open, 1, RunStatus::ContinuedAsNew, at(40));
    let r2_closed = continued.record.clone();
    let third = new_run(&r3, at(40), 2);
    let r3_open = third.record.clone();
    ok(
        P,
        "closing a run and creating the next in one commit",
        storage.commit(runs(vec![continued, third])).await,
    );
    assert_eq!(
        current(P, storage, &wid).await,
        Some(r3_open.clone()),
        "{P}: the current run after continue-as-new"
    );

    // The same two writes in the other order: the creation comes while the run is open.
    assert_eq!(
        storage
            .commit(runs(vec![
                new_run(&r4, at(50), 2),
                next_write(&r3_open, 1, RunStatus::ContinuedAsNew, at(50)),
            ]))
            .await,
        Err(StorageError::AlreadyRunning {
            workflow_id: wid.clone(),
            running: RunId::new("run-3"),
        }),
        "{P}: creating a run before closing the running one, in one commit"
    );
    assert_eq!(
        get(P, storage, &r3).await,
        Some(r3_open.clone()),
        "{P}: the refused commit closed run-3"
    );
    assert_eq!(
        get(P, storage, &r4).await,
        None,
        "{P}: the refused commit created run-4"
    );

    // Two new runs of one workflow id in one commit: the first is running for the second.
    let other = WorkflowId::new("unique-pair");
    assert_eq!(
        storage
            .commit(runs(vec![
                new_run(&run_key("unique-pair", "run-1"), at(60), 2),
                new_run(&run_key("unique-pair", "run-2"), at(60), 2),
            ]))
            .await,
        Err(StorageError::AlreadyRunning {
            workflow_id: other.clone(),
            running: RunId::new("run-1"),
        }),
        "{P}: two new runs of one workflow id in one commit"
    );
    assert_eq!(
        current(P, storage, &other).await,
        None,
        "{P}: the refused commit created a run"
    );

    // Re-creating an existing (closed) run is a conflict: the run exists.
    assert_eq!(
        storage.commit(runs(vec![new_run(&r1, at(70), 2)])).await,
        Err(StorageError::Conflict {
            run: r1.clone(),
            expected: None,
            found: Some(EventId(4)),
        }),
        "{P}: creating a run that already exists"
    );

    // Another workflow id is independent.
    ok(
        P,
        "creating a run of another workflow id",
        storage
            .commit(runs(vec![new_run(&run_key("unique-other", "run-1"), at(80), 2)]))
            .await,
    );
    assert_eq!(
        ok(P, "list_runs", storage.list_runs(Some(&wid), 10).await),
        vec![r1_closed, r2_closed, r3_open],
        "{P}: the workflow id's runs, oldest first"
    );
}

/// Appended events must continue the history densely, and the record must count them.
pub async fn invalid_event_ids<S: Storage>(storage: &S) {
    const P: &str = "invalid event ids";
    let k = run_key("invalid", "run-1");

    let fresh = new_run(&k, at(0), 2);
    expect_bad_ids(P, storage, &fresh, &[1, 3], "a new run's events with a gap").await;
    expect_bad_ids(P, storage, &fresh, &[2, 3], "a new run's events starting at 2").await;
    expect_bad_ids(P, storage, &fresh, &[0, 1], "a new run's events starting at 0").await;
    expect_bad_ids(
        P,
        storage,
        &fresh,
        &[1, 2, 2],
        "a new run's events repeating an id",
    )
    .await;

    let mut miscounted = new_run(&k, at(0), 2);
    miscounted.record.next_event_id = EventId(5);
    expect_invalid(
        P,
        storage,
        runs(vec![miscounted]),
        "a new run whose record miscounts its events",
    )
    .await;

    let mut empty_miscounted = new_run(&k, at(0), 0);
    empty_miscounted.record.next_event_id = EventId(3);
    expect_invalid(
        P,
        storage,
        runs(vec![empty_miscounted]),
        "a new run with no events and next id 3",
    )
    .await;
    assert_eq!(
        get(P, storage, &k).await,
        None,
        "{P}: an invalid commit created the run"
    );

    let created = new_run(&k, at(0), 2);
    let record = created.record.clone();
    let history = created.events.clone();
    ok(P, "creating the run", storage.commit(runs(vec![created])).await);

    let append = next_write(&record, 1, RunStatus::Running, at(5));
    expect_bad_ids(P, storage, &append, &[4], "appending event 4 after event 2").await;
    expect_bad_ids(P, storage, &append, &[2], "appending event 2 again").await;
    expect_bad_ids(P, storage, &append, &[3, 5], "appending events 3 and 5").await;

    let mut uncounted = next_write(&record, 1, RunStatus::Running, at(5));
    uncounted.record.next_event_id = EventId(3);
    expect_invalid(
        P,
        storage,
        runs(vec![uncounted]),
        "appending event 3 with the record still at 3",
    )
    .await;

    let mut phantom = next_write(&record, 0, RunStatus::Running, at(5));
    phantom.record.next_event_id = EventId(4);
    expect_invalid(
        P,
        storage,
        runs(vec![phantom]),
        "appending nothing with the record at 4",
    )
    .await;

    // An invalid write after a valid one: neither is applied.
    let other = run_key("invalid-other", "run-1");
    let mut bad = next_write(&record, 1, RunStatus::Running, at(5));
    bad.events = vec![event(9, at(5))];
    bad.record.next_event_id = EventId(10);
    expect_invalid(
        P,
        storage,
        runs(vec![new_run(&other, at(5), 2), bad]),
        "a valid run creation followed by an invalid append",
    )
    .await;
    assert_eq!(
        get(P, storage, &other).await,
        None,
        "{P}: the valid half of an invalid commit was applied"
    );

    assert_eq!(
        get(P, storage, &k).await,
        Some(record),
        "{P}: an invalid commit changed the run"
    );
    assert_eq!(
        events(P, storage, &k, EventId(1)).await,
        history,
        "{P}: an invalid commit changed the events"
    );
}

/// `list_runs` lists one workflow id's runs oldest first, or all runs by start time then
/// key, at most `limit`; `get_run` of something unknown is `None`.
pub async fn list_runs_order<S: Storage>(storage: &S) {
    const P: &str = "list runs";
    let b1 = new_run(&run_key("list-b", "run-1"), at(0), 2);
    let a1 = new_run(&run_key("list-a", "run-1"), at(0), 2);
    let a1_open = a1.record.clone();
    let b1_open = b1.record.clone();
    ok(P, "creating two runs", storage.commit(runs(vec![b1, a1])).await);
    let close = next_write(&a1_open, 1, RunStatus::ContinuedAsNew, at(50));
    let a1_closed = close.record.clone();
    let a2 = new_run(&run_key("list-a", "run-2"), at(50), 2);
    let a2_open = a2.record.clone();
    ok(
        P,
        "continuing list-a as new",
        storage.commit(runs(vec![close, a2])).await,
    );
    let c1 = new_run(&run_key("list-c", "run-1"), at(20), 2);
    let c1_open = c1.record.clone();
    ok(P, "creating list-c", storage.commit(runs(vec![c1])).await);

    let all = vec![a1_closed.clone(), b1_open.clone(), c1_open, a2_open.clone()];
    assert_eq!(
        ok(P, "list_runs", storage.list_runs(None, 10).await),
        all,
        "{P}: all runs by (start time, key)"
    );
    assert_eq!(
        ok(P, "list_runs", storage.list_runs(None, 2).await),
        all[..2].to_vec(),
        "{P}: all runs, limit 2"
    );
    assert_eq!(
        ok(P, "list_runs", storage.list_runs(None, 0).await),
        Vec::<RunRecord>::new(),
        "{P}: limit 0"
    );
    let list_a = WorkflowId::new("list-a");
    assert_eq!(
        ok(P, "list_runs", storage.list_runs(Some(&list_a), 10).await),
        vec![a1_closed.clone(), a2_open.clone()],
        "{P}: one workflow id's runs, oldest first"
    );
    assert_eq!(
        ok(P, "list_runs", storage.list_runs(Some(&list_a), 1).await),
        vec![a1_closed],
        "{P}: one workflow id's runs, limit 1"
    );
    assert_eq!(
        ok(
            P,
            "list_runs",
            storage.list_runs(Some(&WorkflowId::new("list-z")), 10).await
        ),
        Vec::<RunRecord>::new(),
        "{P}: an unknown workflow id"
    );
    assert_eq!(
        current(P, storage, &list_a).await,
        Some(a2_open),
        "{P}: the current run"
    );
    assert_eq!(
        current(P, storage, &WorkflowId::new("list-z")).await,
        None,
        "{P}: the current run of an unknown workflow id"
    );
    assert_eq!(
        get(P, storage, &run_key("list-b", "run-9")).await,
        None,
        "{P}: an unknown run id of a known workflow id"
    );
    assert_eq!(
        get(P, storage, &run_key("list-b", "run-1")).await,
        Some(b1_open),
        "{P}: a run by its run id"
    );
}

/// `list_open_runs` lists the runs whose status is `Running`, by key, at most `limit`.
pub async fn list_open_runs<S: Storage>(storage: &S) {
    const P: &str = "list open runs";
    let b1 = new_run(&run_key("open-b", "run-1"), at(0), 2);
    let a1 = new_run(&run_key("open-a", "run-1"), at(10), 2);
    let a1_open = a1.record.clone();
    let b1_open = b1.record.clone();
    ok(P, "creating two runs", storage.commit(runs(vec![b1, a1])).await);
    let close = next_write(&a1_open, 1, RunStatus::Completed, at(50));
    ok(P, "closing open-a", storage.commit(runs(vec![close])).await);
    let c1 = new_run(&run_key("open-c", "run-1"), at(5), 2);
    let c1_open = c1.record.clone();
    ok(P, "creating open-c", storage.commit(runs(vec![c1])).await);
    assert_eq!(
        ok(P, "list_open_runs", storage.list_open_runs(10).await),
        vec![b1_open.clone(), c1_open],
        "{P}: the running runs by key, not the closed one"
    );
    assert_eq!(
        ok(P, "list_open_runs", storage.list_open_runs(1).await),
        vec![b1_open],
        "{P}: limit 1"
    );
}

// ---- tasks ----

/// A visible task is leased; it cannot be leased again before the lease expires, and is
/// handed to the next owner once it has. Completing a task removes it; completing a missing
/// task is not an error.
pub async fn task_lease_and_expiry<S: Storage>(storage: &S) {
    const P: &str = "task leasing and expiry";
    let run = run_key("lease", "run-1");
    let queue = TaskQueue::new("lease");
    let k = task_key(&run, TaskKind::Workflow, 2);
    ok(
        P,
        "creating a task",
        storage
            .commit(tasks(vec![task(&run, TaskKind::Workflow, 2, "lease", at(0))]))
            .await,
    );

    let leased = lease(P, storage, &queue, TaskKind::Workflow, at(0), "w1", secs(10)).await;
    assert_eq!(
        leased,
        Some(Task {
            key: k.clone(),
            queue: queue.clone(),
            visible_at: at(0),
            lease: Some(Lease {
                owner: "w1".to_owned(),
                expires_at: at(10_000),
            }),
        }),
        "{P}: leasing a visible task"
    );
    for now in [at(0), at(5_000), at(9_999)] {
        assert_eq!(
            lease(P, storage, &queue, TaskKind::Workflow, now, "w2", secs(10)).await,
            None,
            "{P}: leasing at {now}, before the lease expires at {}",
            at(10_000)
        );
    }
    assert_eq!(
        next_time(P, storage, &queue, TaskKind::Workflow, at(5_000)).await,
        Some(at(10_000)),
        "{P}: next_task_time of a leased task is its lease expiry"
    );
    let released = lease(P, storage, &queue, TaskKind::Workflow, at(10_000), "w2", secs(10)).await;
    assert_eq!(
        released.as_ref().map(|t| (&t.key, &t.lease)),
        Some((
            &k,
            &Some(Lease {
                owner: "w2".to_owned(),
                expires_at: at(20_000),
            })
        )),
        "{P}: leasing the task when its lease expires, by a new owner"
    );

    // A commit that does not touch the task keeps its lease.
    ok(
        P,
        "an unrelated commit",
        storage
            .commit(tasks(vec![task(
                &run,
                TaskKind::Workflow,
                9,
                "lease-other",
                at(0),
            )]))
            .await,
    );
    assert_eq!(
        lease(P, storage, &queue, TaskKind::Workflow, at(15_000), "w3", secs(10)).await,
        None,
        "{P}: an unrelated commit released the lease"
    );

    let done = Commit {
        complete_tasks: vec![k.clone()],
        ..Commit::default()
    };
    ok(P, "completing the task", storage.commit(done.clone()).await);
    assert_eq!(
        lease(P, storage, &queue, TaskKind::Workflow, FAR, "w3", secs(10)).await,
        None,
        "{P}: a completed task was leased"
    );
    assert_eq!(
        next_time(P, storage, &queue, TaskKind::Workflow, at(0)).await,
        None,
        "{P}: next_task_time of an empty queue"
    );
    ok(P, "completing a task that is gone", storage.commit(done).await);
}

/// A task is not leased before its `visible_at`; `next_task_time` reports that time, or `now`
/// once the task is claimable.
pub async fn task_visibility<S: Storage>(storage: &S) {
    const P: &str = "task visibility";
    let run = run_key("visibility", "run-1");
    let queue = TaskQueue::new("visibility");
    ok(
        P,
        "creating a task visible at 30s",
        storage
            .commit(tasks(vec![task(
                &run,
                TaskKind::Activity,
                5,
                "visibility",
                at(30_000),
            )]))
            .await,
    );
    for now in [at(0), at(29_999)] {
        assert_eq!(
            lease(P, storage, &queue, TaskKind::Activity, now, "w1", secs(10)).await,
            None,
            "{P}: leasing at {now}, before the task is visible"
        );
    }
    assert_eq!(
        next_time(P, storage, &queue, TaskKind::Activity, at(0)).await,
        Some(at(30_000)),
        "{P}: next_task_time of a task not yet visible"
    );
    assert_eq!(
        next_time(P, storage, &queue, TaskKind::Activity, at(40_000)).await,
        Some(at(40_000)),
        "{P}: next_task_time when a task is claimable already is `now`"
    );
    let leased = lease(P, storage, &queue, TaskKind::Activity, at(30_000), "w1", secs(10)).await;
    assert_eq!(
        leased.map(|t| t.key),
        Some(task_key(&run, TaskKind::Activity, 5)),
        "{P}: leasing when the task becomes visible"
    );
}

/// Leasing hands out tasks by `visible_at`, then by key, whether or not they carried a lease
/// that expired.
pub async fn task_order<S: Storage>(storage: &S) {
    const P: &str = "task order";
    let run = run_key("order", "run-1");
    let queue = TaskQueue::new("order");
    let kind = TaskKind::Workflow;
    // Keys differ by scheduled event id: b < c < d < a, visible d, then b and c, then a.
    let a = task(&run, kind, 10, "order", at(20));
    let b = task(&run, kind, 4, "order", at(10));
    let c = task(&run, kind, 5, "order", at(10));
    let d = task(&run, kind, 9, "order", at(0));
    ok(
        P,
        "creating four tasks",
        storage
            .commit(tasks(vec![a.clone(), c.clone(), b.clone(), d.clone()]))
            .await,
    );

    let first = lease(P, storage, &queue, kind, at(100), "w1", Duration::from_millis(5)).await;
    assert_eq!(
        first.map(|t| t.key),
        Some(d.key.clone()),
        "{P}: the earliest visible task first"
    );
    // At 200 the lease of `d` (expired at 105) no longer counts: `d` is first again.
    let mut order = Vec::new();
    while let Some(t) = lease(P, storage, &queue, kind, at(200), "w2", secs(3_600)).await {
        assert!(
            order.len() < 4,
            "{P}: more tasks leased than were created: {order:?}"
        );
        order.push(t.key);
    }
    assert_eq!(
        order,
        vec![d.key, b.key, c.key, a.key],
        "{P}: leasing order is by visible_at, then key, expired leases included"
    );
}

/// Leasing only returns tasks of the requested queue and kind.
pub async fn task_queue_and_kind<S: Storage>(storage: &S) {
    const P: &str = "task queue and kind";
    let run = run_key("queues", "run-1");
    let q1 = TaskQueue::new("q1");
    let q2 = TaskQueue::new("q2");
    let x = task(&run, TaskKind::Workflow, 2, "q1", at(0));
    let y = task(&run, TaskKind::Activity, 5, "q1", at(0));
    let z = task(&run, TaskKind::Workflow, 8, "q2", at(0));
    ok(
        P,
        "creating tasks in two queues",
        storage.commit(tasks(vec![x.clone(), y.clone(), z.clone()])).await,
    );

    let now = at(10);
    let got = lease(P, storage, &q1, TaskKind::Activity, now, "w", secs(60)).await;
    assert_eq!(
        got.map(|t| (t.key, t.queue)),
        Some((y.key, q1.clone())),
        "{P}: q1 activity"
    );
    assert_eq!(
        lease(P, storage, &q1, TaskKind::Activity, now, "w", secs(60)).await,
        None,
        "{P}: q1 has one activity task"
    );
    let got = lease(P, storage, &q2, TaskKind::Workflow, now, "w", secs(60)).await;
    assert_eq!(
        got.map(|t| (t.key, t.queue)),
        Some((z.key, q2.clone())),
        "{P}: q2 workflow"
    );
    let got = lease(P, storage, &q1, TaskKind::Workflow, now, "w", secs(60)).await;
    assert_eq!(
        got.map(|t| (t.key, t.queue)),
        Some((x.key, q1.clone())),
        "{P}: q1 workflow"
    );
    assert_eq!(
        lease(P, storage, &q2, TaskKind::Activity, now, "w", secs(60)).await,
        None,
        "{P}: q2 has no activity task"
    );
    let q3 = TaskQueue::new("q3");
    assert_eq!(
        lease(P, storage, &q3, TaskKind::Workflow, now, "w", secs(60)).await,
        None,
        "{P}: an unknown queue"
    );
    assert_eq!(
        next_time(P, storage, &q3, TaskKind::Workflow, now).await,
        None,
        "{P}: next_task_time of q3"
    );
    assert_eq!(
        next_time(P, storage, &q2, TaskKind::Activity, now).await,
        None,
        "{P}: next_task_time of q2 activities"
    );
    assert_eq!(
        next_time(P, storage, &q1, TaskKind::Activity, now).await,
        Some(at(60_010)),
        "{P}: next_task_time of q1 activities is the lease expiry"
    );
}

/// Creating a task with the key of an existing task replaces it whole: visibility, queue and
/// lease.
pub async fn task_replacement<S: Storage>(storage: &S) {
    const P: &str = "task replacement";
    let run = run_key("replace", "run-1");
    let queue = TaskQueue::new("replace");
    let kind = TaskKind::Activity;
    let k = task_key(&run, kind, 5);
    ok(
        P,
        "creating a task visible at 100",
        storage
            .commit(tasks(vec![task(&run, kind, 5, "replace", at(100))]))
            .await,
    );
    ok(
        P,
        "replacing it, visible at 0",
        storage
            .commit(tasks(vec![task(&run, kind, 5, "replace", at(0))]))
            .await,
    );
    assert_eq!(
        next_time(P, storage, &queue, kind, at(0)).await,
        Some(at(0)),
        "{P}: next_task_time after the replacement"
    );
    let leased = lease(P, storage, &queue, kind, at(0), "w1", secs(60)).await;
    assert_eq!(
        leased.map(|t| (t.key, t.visible_at)),
        Some((k.clone(), at(0))),
        "{P}: the replacement is leased"
    );
    ok(
        P,
        "replacing the leased task with an unleased one visible at 50",
        storage
            .commit(tasks(vec![task(&run, kind, 5, "replace", at(50))]))
            .await,
    );
    let leased = lease(P, storage, &queue, kind, at(50), "w2", secs(60)).await;
    assert_eq!(
        leased.map(|t| (t.key, t.lease.map(|l| l.owner))),
        Some((k.clone(), Some("w2".to_owned()))),
        "{P}: the unleased replacement of a leased task is claimable"
    );
    ok(
        P,
        "moving the task to another queue",
        storage
            .commit(tasks(vec![task(&run, kind, 5, "replace-moved", at(0))]))
            .await,
    );
    assert_eq!(
        drain(P, storage, "replace", kind).await,
        Vec::<Task>::new(),
        "{P}: the task left its old queue"
    );
    assert_eq!(
        drain(P, storage, "replace-moved", kind)
            .await
            .into_iter()
            .map(|t| t.key)
            .collect::<Vec<_>>(),
        vec![k],
        "{P}: the task is in its new queue, once"
    );
}

/// Two thousand tasks, half of them leased: leasing stays in order and skips held leases.
pub async fn many_tasks<S: Storage>(storage: &S) {
    const P: &str = "many tasks";
    const N: u64 = 2_000;
    let queue = TaskQueue::new("many");
    let kind = TaskKind::Activity;
    // Visibility times scattered over the first second, many of them shared.
    let created: Vec<Task> = (0..N)
        .map(|i| {
            let run = run_key(&format!("many-{i:05}"), "run-1");
            task(&run, kind, 5, "many", at((i * 7_919) % 1_000))
        })
        .collect();
    let mut expected: Vec<(Timestamp, TaskKey)> =
        created.iter().map(|t| (t.visible_at, t.key.clone())).collect();
    expected.sort();
    let expected: Vec<TaskKey> = expected.into_iter().map(|(_, k)| k).collect();
    let (first_half, second_half) = expected.split_at(expected.len() / 2);
    ok(P, "creating the tasks", storage.commit(tasks(created)).await);

    let mut got = Vec::new();
    for _ in 0..first_half.len() {
        match lease(P, storage, &queue, kind, at(1_000), "w1", secs(60)).await {
            Some(t) => got.push(t.key),
            None => break,
        }
    }
    assert!(
        got == first_half,
        "{P}: the first half is not leased in (visible_at, key) order"
    );
    got.clear();
    while let Some(t) = lease(P, storage, &queue, kind, at(2_000), "w2", secs(60)).await {
        assert!(
            got.len() < second_half.len(),
            "{P}: a task was leased while its lease is held"
        );
        got.push(t.key);
    }
    assert!(
        got == second_half,
        "{P}: the second half is not leased in (visible_at, key) order"
    );
    assert_eq!(
        next_time(P, storage, &queue, kind, at(3_000)).await,
        Some(at(61_000)),
        "{P}: next_task_time is the earliest lease expiry"
    );
    got.clear();
    while let Some(t) = lease(P, storage, &queue, kind, at(61_000), "w3", secs(60)).await {
        assert!(
            got.len() < first_half.len(),
            "{P}: a task was leased while its lease is held"
        );
        got.push(t.key);
    }
    assert!(
        got == first_half,
        "{P}: the expired first half is not leased again in order"
    );
}

// ---- timers and requests ----

/// `due_timers` returns the timers due at or before `now`, by due time then key, at most
/// `limit`, without removing them; `next_timer_due` is the earliest due time.
pub async fn timers_by_due_time<S: Storage>(storage: &S) {
    const P: &str = "timers by due time";
    let run = run_key("timers", "run-1");
    let wft = TimerRecord {
        key: TimerKey {
            run: run.clone(),
            kind: TimerKind::WorkflowTask {
                scheduled_event_id: EventId(2),
                attempt: 1,
            },
        },
        due: at(3),
    };
    let set = Commit {
        create_timers: vec![
            timer(&run, "c", at(1)),
            wft.clone(),
            timer(&run, "a", at(3)),
            timer(&run, "d", at(10_000)),
            timer(&run, "b", at(1)),
        ],
        ..Commit::default()
    };
    ok(P, "setting timers", storage.commit(set).await);
    assert_eq!(
        ok(P, "next_timer_due", storage.next_timer_due().await),
        Some(at(1)),
        "{P}: next_timer_due"
    );
    let due = vec![
        timer(&run, "b", at(1)),
        timer(&run, "c", at(1)),
        timer(&run, "a", at(3)),
        wft,
    ];
    assert_eq!(
        ok(P, "due_timers", storage.due_timers(at(5), 10).await),
        due,
        "{P}: due timers by (due, key)"
    );
    assert_eq!(
        ok(P, "due_timers", storage.due_timers(at(5), 10).await),
        due,
        "{P}: due_timers removed timers"
    );
    assert_eq!(
        ok(P, "due_timers", storage.due_timers(at(5), 2).await),
        due[..2].to_vec(),
        "{P}: limit 2"
    );
    assert_eq!(
        ok(P, "due_timers", storage.due_timers(at(5), 0).await),
        Vec::<TimerRecord>::new(),
        "{P}: limit 0"
    );
    assert_eq!(
        ok(P, "due_timers", storage.due_timers(at(1), 10).await),
        due[..2].to_vec(),
        "{P}: timers due exactly now are due"
    );
    assert_eq!(
        ok(P, "due_timers", storage.due_timers(at(0), 10).await),
        Vec::<TimerRecord>::new(),
        "{P}: nothing is due before the first timer"
    );
}

/// Deleting a timer removes it; setting a timer with an existing key moves its due time;
/// deleting a missing timer is not an error.
pub async fn timer_replace_and_delete<S: Storage>(storage: &S) {
    const P: &str = "timer replacement and deletion";
    let run = run_key("timer-edit", "run-1");
    let set = Commit {
        create_timers: vec![timer(&run, "a", at(1)), timer(&run, "b", at(2))],
        ..Commit::default()
    };
    ok(P, "setting timers", storage.commit(set).await);
    let delete_a = Commit {
        delete_timers: vec![timer_key(&run, "a")],
        ..Commit::default()
    };
    ok(P, "deleting a", storage.commit(delete_a.clone()).await);
    assert_eq!(
        ok(P, "due_timers", storage.due_timers(at(10), 10).await),
        vec![timer(&run, "b", at(2))],
        "{P}: after deleting a"
    );
    ok(P, "deleting a again", storage.commit(delete_a).await);
    let move_b = Commit {
        create_timers: vec![timer(&run, "b", at(20))],
        ..Commit::default()
    };
    ok(P, "moving b to 20", storage.commit(move_b).await);
    assert_eq!(
        ok(P, "due_timers", storage.due_timers(at(10), 10).await),
        Vec::<TimerRecord>::new(),
        "{P}: b moved to 20 is not due at 10"
    );
    assert_eq!(
        ok(P, "due_timers", storage.due_timers(at(20), 10).await),
        vec![timer(&run, "b", at(20))],
        "{P}: b is due at 20, once"
    );
    assert_eq!(
        ok(P, "next_timer_due", storage.next_timer_due().await),
        Some(at(20)),
        "{P}: next_timer_due after moving b"
    );
    let delete_b = Commit {
        delete_timers: vec![timer_key(&run, "b")],
        ..Commit::default()
    };
    ok(P, "deleting b", storage.commit(delete_b).await);
    assert_eq!(
        ok(P, "next_timer_due", storage.next_timer_due().await),
        None,
        "{P}: next_timer_due with no timers"
    );
}

/// Responses recorded under request ids are returned by `get_request`; unknown ids give
/// `None`.
pub async fn request_ids<S: Storage>(storage: &S) {
    const P: &str = "request ids";
    let k = run_key("requests", "run-1");
    let commit = Commit {
        runs: vec![new_run(&k, at(0), 2)],
        requests: vec![
            (request("start-1"), Payload::from(json!({"runId": "run-1"}))),
            (request("signal-1"), Payload::from(json!(42))),
        ],
        ..Commit::default()
    };
    ok(P, "recording two requests", storage.commit(commit).await);
    assert_eq!(
        ok(P, "get_request", storage.get_request(&request("start-1")).await),
        Some(Payload::from(json!({"runId": "run-1"}))),
        "{P}: start-1"
    );
    assert_eq!(
        ok(P, "get_request", storage.get_request(&request("signal-1")).await),
        Some(Payload::from(json!(42))),
        "{P}: signal-1"
    );
    assert_eq!(
        ok(P, "get_request", storage.get_request(&request("unknown")).await),
        None,
        "{P}: an unknown request id"
    );
}

// ---- crash ----

/// After a crash, exactly the committed data is visible: runs, events, tasks, timers and
/// requests of successful commits, nothing of a failed one, and the storage accepts the next
/// commit.
///
/// `make_durable` returns a fresh, empty storage whose data survives the handle (a file, a
/// database). `reopen` is the restart: given the storage in use, it returns a new handle on
/// the same durable data, opened the way a restarted process would open it, sharing no
/// in-process state that a crash would lose (for an in-memory backend, whose commits are
/// never buffered, a clone of the handle). The suite drops the original right after
/// `reopen` returns and only uses the new handle.
pub async fn crash_keeps_only_committed<S: Storage>(make_durable: impl Fn() -> S, reopen: impl Fn(&S) -> S) {
    const P: &str = "crash keeps only committed data";
    let storage = make_durable();
    let a = run_key("crash-a", "run-1");
    let b = run_key("crash-b", "run-1");
    let c = run_key("crash-c", "run-1");
    let queue = "crash";

    let first = Commit {
        runs: vec![new_run(&a, at(0), 3)],
        create_tasks: vec![task(&a, TaskKind::Workflow, 2, queue, at(0))],
        create_timers: vec![timer(&a, "1", at(1_000))],
        requests: vec![(request("r1"), Payload::from("first"))],
        ..Commit::default()
    };
    let a_created = first.runs[0].record.clone();
    let mut a_history = first.runs[0].events.clone();
    ok(P, "the first commit", storage.commit(first).await);

    let a_update = next_write(&a_created, 2, RunStatus::Running, at(10));
    let a_record = a_update.record.clone();
    a_history.extend(a_update.events.clone());
    let b_create = new_run(&b, at(10), 2);
    let b_record = b_create.record.clone();
    let b_history = b_create.events.clone();
    let activity = task(&a, TaskKind::Activity, 5, queue, at(10));
    let second = Commit {
        runs: vec![a_update, b_create],
        create_tasks: vec![activity.clone()],
        complete_tasks: vec![task_key(&a, TaskKind::Workflow, 2)],
        create_timers: vec![timer(&a, "2", at(2_000))],
        delete_timers: vec![timer_key(&a, "1")],
        requests: vec![(request("r2"), Payload::from("second"))],
    };
    ok(P, "the second commit", storage.commit(second).await);
    // A worker holds the activity task when the process dies.
    let held = lease(
        P,
        &storage,
        &TaskQueue::new(queue),
        TaskKind::Activity,
        at(20),
        "w",
        secs(60),
    )
    .await;
    assert!(held.is_some(), "{P}: leasing the activity task before the crash");

    let failed = Commit {
        runs: vec![
            new_run(&c, at(30), 2),
            next_write(&a_created, 1, RunStatus::Completed, at(30)),
        ],
        create_tasks: vec![task(&c, TaskKind::Workflow, 2, queue, at(30))],
        complete_tasks: vec![activity.key.clone()],
        create_timers: vec![timer(&c, "1", at(3_000))],
        delete_timers: vec![timer_key(&a, "2")],
        requests: vec![(request("r3"), Payload::from("third"))],
    };
    assert_eq!(
        storage.commit(failed).await,
        Err(StorageError::Conflict {
            run: a.clone(),
            expected: Some(EventId(4)),
            found: Some(EventId(6)),
        }),
        "{P}: the third commit expects a stale next event id"
    );

    let reopened = reopen(&storage);
    drop(storage);
    let storage = &reopened;

    assert_eq!(
        ok(P, "list_runs", storage.list_runs(None, 100).await),
        vec![a_record.clone(), b_record],
        "{P}: the runs after the restart"
    );
    assert_eq!(
        events(P, storage, &a, EventId(1)).await,
        a_history,
        "{P}: the events of {a}"
    );
    assert_eq!(
        events(P, storage, &b, EventId(1)).await,
        b_history,
        "{P}: the events of {b}"
    );
    assert_eq!(
        current(P, storage, &WorkflowId::new("crash-c")).await,
        None,
        "{P}: the failed commit's run"
    );
    assert_eq!(
        drain(P, storage, queue, TaskKind::Workflow).await,
        Vec::<Task>::new(),
        "{P}: workflow tasks (the only one was completed)"
    );
    assert_eq!(
        drain(P, storage, queue, TaskKind::Activity)
            .await
            .into_iter()
            .map(|t| t.key)
            .collect::<Vec<_>>(),
        vec![activity.key],
        "{P}: activity tasks"
    );
    assert_eq!(
        ok(P, "due_timers", storage.due_timers(FAR, 100).await),
        vec![timer(&a, "2", at(2_000))],
        "{P}: timers"
    );
    for (id, expected) in [
        ("r1", Some(Payload::from("first"))),
        ("r2", Some(Payload::from("second"))),
        ("r3", None),
    ] {
        assert_eq!(
            ok(P, "get_request", storage.get_request(&request(id)).await),
            expected,
            "{P}: request {id}"
        );
    }
    ok(
        P,
        "committing after the restart",
        storage
            .commit(runs(vec![next_write(&a_record, 1, RunStatus::Completed, at(40))]))
            .await,
    );
}

// ---- helpers ----

/// 2026-01-01T00:00:00Z: the suite's time origin.
const T0_MS: u64 = 1_767_225_600_000;

/// A way of taking every run's history out of a storage at once (by workflow id, oldest run
/// first) gives exactly the events committed: every run of every workflow, a run continued
/// as new included, none lost or out of order. For a backend's or a harness's bulk read
/// (`MemoryStorage::into_histories`, say); `take` gets the storage after the commits.
pub async fn histories_taken_whole<S: Storage>(
    storage: S,
    take: impl FnOnce(S) -> BTreeMap<WorkflowId, Vec<History>>,
) {
    const P: &str = "histories taken whole";
    let b1 = new_run(&run_key("whole-b", "run-1"), at(0), 3);
    let a1 = new_run(&run_key("whole-a", "run-1"), at(10), 2);
    let a1_open = a1.record.clone();
    let b1_open = b1.record.clone();
    let mut expected_b1 = b1.events.clone();
    let mut expected_a1 = a1.events.clone();
    ok(P, "creating two runs", storage.commit(runs(vec![b1, a1])).await);
    let close = next_write(&a1_open, 1, RunStatus::ContinuedAsNew, at(50));
    expected_a1.extend(close.events.iter().cloned());
    let a2 = new_run(&run_key("whole-a", "run-2"), at(50), 2);
    let expected_a2 = a2.events.clone();
    ok(
        P,
        "continuing whole-a as new",
        storage.commit(runs(vec![close, a2])).await,
    );
    let b1_more = next_write(&b1_open, 2, RunStatus::Running, at(60));
    expected_b1.extend(b1_more.events.iter().cloned());
    ok(
        P,
        "appending to whole-b",
        storage.commit(runs(vec![b1_more])).await,
    );

    let history = |workflow_id: &str, run_id: &str, events: Vec<HistoryEvent>| History {
        workflow_id: WorkflowId::new(workflow_id),
        run_id: RunId::new(run_id),
        events,
    };
    let expected = BTreeMap::from([
        (
            WorkflowId::new("whole-a"),
            vec![
                history("whole-a", "run-1", expected_a1),
                history("whole-a", "run-2", expected_a2),
            ],
        ),
        (
            WorkflowId::new("whole-b"),
            vec![history("whole-b", "run-1", expected_b1)],
        ),
    ]);
    assert_eq!(
        take(storage),
        expected,
        "{P}: every run's events, oldest run first"
    );
}

/// Far after every time the suite uses: everything is visible and every lease has expired.
const FAR: Timestamp = Timestamp::from_millis(T0_MS + 1_000_000_000);

/// `ms` milliseconds after the suite's origin.
fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(T0_MS.saturating_add(ms))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The success value of a storage call, or a panic naming the property and the call.
#[track_caller]
fn ok<T>(property: &str, what: &str, result: StorageResult<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{property}: {what} failed: {e}"),
    }
}

fn run_key(workflow_id: &str, run_id: &str) -> RunKey {
    RunKey {
        workflow_id: WorkflowId::new(workflow_id),
        run_id: RunId::new(run_id),
    }
}

fn record_for(
    key: &RunKey,
    status: RunStatus,
    start: Timestamp,
    close: Option<Timestamp>,
    next_event_id: EventId,
    version: u64,
) -> RunRecord {
    RunRecord {
        key: key.clone(),
        workflow_type: "conformance".into(),
        task_queue: TaskQueue::new("conformance"),
        status,
        start_time: start,
        close_time: close,
        next_event_id,
        version,
        // Changes with every write, so a stale record is told apart from the current one.
        state: Arc::new(ExecutionState::new(
            Duration::from_millis(next_event_id.0 * 10 + status as u64),
            None,
        )),
    }
}

/// Event `id`: the start, the first workflow task, then signals.
fn event(id: u64, time: Timestamp) -> HistoryEvent {
    let task_queue = TaskQueue::new("conformance");
    let attributes = match id {
        1 => EventAttributes::WorkflowExecutionStarted {
            workflow_type: "conformance".into(),
            task_queue,
            input: Payload::from(json!({"order": 42})),
            workflow_task_timeout: secs(10),
            randomness_seed: 7,
            parent: None,
            continued_from_run_id: None,
        },
        2 => EventAttributes::WorkflowTaskScheduled {
            task_queue,
            start_to_close_timeout: secs(10),
            attempt: 1,
        },
        _ => EventAttributes::WorkflowExecutionSignaled {
            signal_name: format!("signal-{id}"),
            input: Payload::from(json!(id)),
            identity: "conformance".to_owned(),
        },
    };
    HistoryEvent {
        event_id: EventId(id),
        event_time: time,
        attributes,
    }
}

/// Creates a running run with events `1..=events`.
fn new_run(key: &RunKey, start: Timestamp, events: u64) -> RunWrite {
    RunWrite {
        record: record_for(key, RunStatus::Running, start, None, EventId(events + 1), 1),
        expected_next_event_id: None,
        events: (1..=events).map(|id| event(id, start)).collect(),
    }
}

/// Appends `events` events to the run `prev` describes, leaving it in `status`.
fn next_write(prev: &RunRecord, events: u64, status: RunStatus, time: Timestamp) -> RunWrite {
    let from = prev.next_event_id.0;
    let close = if status.is_closed() {
        Some(time)
    } else {
        prev.close_time
    };
    RunWrite {
        record: record_for(
            &prev.key,
            status,
            prev.start_time,
            close,
            EventId(from + events),
            prev.version + 1,
        ),
        expected_next_event_id: Some(prev.next_event_id),
        events: (from..from + events).map(|id| event(id, time)).collect(),
    }
}

fn runs(runs: Vec<RunWrite>) -> Commit {
    Commit {
        runs,
        ..Commit::default()
    }
}

fn tasks(create_tasks: Vec<Task>) -> Commit {
    Commit {
        create_tasks,
        ..Commit::default()
    }
}

fn task_key(run: &RunKey, kind: TaskKind, scheduled_event_id: u64) -> TaskKey {
    TaskKey {
        run: run.clone(),
        kind,
        scheduled_event_id: EventId(scheduled_event_id),
        attempt: 1,
    }
}

fn task(run: &RunKey, kind: TaskKind, scheduled_event_id: u64, queue: &str, visible_at: Timestamp) -> Task {
    Task {
        key: task_key(run, kind, scheduled_event_id),
        queue: TaskQueue::new(queue),
        visible_at,
        lease: None,
    }
}

fn timer_key(run: &RunKey, timer_id: &str) -> TimerKey {
    TimerKey {
        run: run.clone(),
        kind: TimerKind::User {
            timer_id: TimerId::new(timer_id),
        },
    }
}

fn timer(run: &RunKey, timer_id: &str, due: Timestamp) -> TimerRecord {
    TimerRecord {
        key: timer_key(run, timer_id),
        due,
    }
}

fn request(id: &str) -> RequestId {
    RequestId(id.to_owned())
}

async fn get<S: Storage>(property: &str, storage: &S, key: &RunKey) -> Option<RunRecord> {
    ok(
        property,
        "get_run",
        storage.get_run(&key.workflow_id, Some(&key.run_id)).await,
    )
}

async fn current<S: Storage>(property: &str, storage: &S, workflow_id: &WorkflowId) -> Option<RunRecord> {
    ok(
        property,
        "get_run of the current run",
        storage.get_run(workflow_id, None).await,
    )
}

async fn events<S: Storage>(property: &str, storage: &S, key: &RunKey, from: EventId) -> Vec<HistoryEvent> {
    ok(property, "read_events", storage.read_events(key, from).await)
}

async fn lease<S: Storage>(
    property: &str,
    storage: &S,
    queue: &TaskQueue,
    kind: TaskKind,
    now: Timestamp,
    owner: &str,
    lease_for: Duration,
) -> Option<Task> {
    ok(
        property,
        "lease_task",
        storage.lease_task(queue, kind, now, owner, lease_for).await,
    )
}

async fn next_time<S: Storage>(
    property: &str,
    storage: &S,
    queue: &TaskQueue,
    kind: TaskKind,
    now: Timestamp,
) -> Option<Timestamp> {
    ok(
        property,
        "next_task_time",
        storage.next_task_time(queue, kind, now).await,
    )
}

/// Every task of `queue` and `kind`, by leasing them all far in the future (which leaves
/// them leased): the only way the trait lists tasks.
async fn drain<S: Storage>(property: &str, storage: &S, queue: &str, kind: TaskKind) -> Vec<Task> {
    let queue = TaskQueue::new(queue);
    let mut drained: Vec<Task> = Vec::new();
    while let Some(task) = lease(property, storage, &queue, kind, FAR, "drain", secs(3_600)).await {
        assert!(
            drained.iter().all(|t| t.key != task.key),
            "{property}: task {:?} was leased twice within its lease",
            task.key
        );
        drained.push(task);
    }
    drained
}

/// Expects `Invalid` for `write` with its events renumbered to `ids`, whether its record
/// counts the events or follows the last id: a backend must check every id, not only the
/// count or the last one.
async fn expect_bad_ids<S: Storage>(property: &str, storage: &S, write: &RunWrite, ids: &[u64], what: &str) {
    let first = write.expected_next_event_id.map_or(1, |n| n.0);
    let time = write.record.start_time;
    let by_count = first + ids.len() as u64;
    let by_last = ids.last().map_or(first, |last| last + 1);
    for next in [by_count, by_last] {
        let mut bad = write.clone();
        bad.events = ids.iter().map(|&id| event(id, time)).collect();
        bad.record.next_event_id = EventId(next);
        let what = format!("{what}, record.next_event_id {next}");
        expect_invalid(property, storage, runs(vec![bad]), &what).await;
    }
}

async fn expect_invalid<S: Storage>(property: &str, storage: &S, commit: Commit, what: &str) {
    let result = storage.commit(commit).await;
    assert!(
        matches!(result, Err(StorageError::Invalid(_))),
        "{property}: {what}: expected an Invalid error, got {result:?}"
    );
}
