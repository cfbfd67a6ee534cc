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
