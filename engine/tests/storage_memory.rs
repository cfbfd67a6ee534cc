//! The storage conformance suite against [`MemoryStorage`], one test per property.

use futures::executor::block_on;
use warpflow_engine::storage::{MemoryStorage, conformance};

/// Declares one test per conformance property, each on a fresh storage.
macro_rules! properties {
    ($($property:ident),* $(,)?) => {
        $(
            #[test]
            fn $property() {
                block_on(conformance::$property(&MemoryStorage::new()));
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

/// A clone of the handle is what a restarted engine would open: memory commits are never
/// buffered, so the clone sees exactly what was committed.
#[test]
fn crash_keeps_only_committed() {
    block_on(conformance::crash_keeps_only_committed(
        MemoryStorage::new,
        MemoryStorage::clone,
    ));
}

/// `run_all` runs every property (and so stays in step with the list above).
#[test]
fn run_all() {
    block_on(conformance::run_all(MemoryStorage::new));
}
