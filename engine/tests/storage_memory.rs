//! The storage conformance suite against [`MemoryStorage`], one test per property.

use futures::executor::block_on;
use warpflow_engine::storage::{MemoryStorage, conformance};

warpflow_engine::storage_conformance_tests!(MemoryStorage::new);

/// A clone of the handle is what a restarted engine would open: memory commits are never
/// buffered, so the clone sees exactly what was committed.
#[test]
fn crash_keeps_only_committed() {
    block_on(conformance::crash_keeps_only_committed(
        MemoryStorage::new,
        MemoryStorage::clone,
    ));
}

/// A harness takes the histories out only from a storage nothing else shares: a handle still
/// held elsewhere keeps it whole (a campaign's oracles then copy them instead).
#[test]
fn into_histories_moves_them_out_only_of_an_unshared_storage() {
    let storage = MemoryStorage::new();
    let other = storage.clone();
    let storage = storage
        .into_histories()
        .expect_err("another handle shares the storage");
    drop(other);
    let histories = storage.into_histories().expect("the only handle");
    assert!(histories.is_empty());
}

#[test]
fn into_histories_gives_every_run_s_events_oldest_run_first() {
    block_on(conformance::histories_taken_whole(
        MemoryStorage::new(),
        |storage| storage.into_histories().expect("the only handle"),
    ));
}
