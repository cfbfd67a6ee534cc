//! `SqliteStorage`: the storage conformance suite on real files, and what only a durable
//! backend has — reopening, a killed process, group commit, the checks at open.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests of a runtime adapter: they run real threads and processes and wait on them"
)]

mod crash;
mod group_commit;
mod open_errors;
mod reopen;
mod support;

use futures::executor::block_on;
use support::Dir;
use warpflow_engine::adapters::sqlite::SqliteStorage;
use warpflow_engine::storage::conformance;

/// Declares one test per conformance property, each on a fresh database file.
macro_rules! properties {
    ($($property:ident),* $(,)?) => {
        $(
            #[test]
            fn $property() {
                let dir = Dir::new();
                block_on(conformance::$property(&dir.fresh()));
            }
        )*
    };
}

properties!(
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
    request_ids,
);

/// The restart opens the same file again, as a restarted process would, with nothing
/// shared with the handle in use.
#[test]
fn crash_keeps_only_committed() {
    let dir = Dir::new();
    block_on(conformance::crash_keeps_only_committed(
        || dir.fresh(),
        |storage: &SqliteStorage| support::open(storage.path()),
    ));
}

/// `run_all` runs every property (and so stays in step with the list above).
#[test]
fn run_all() {
    let dir = Dir::new();
    block_on(conformance::run_all(|| dir.fresh()));
}
