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

// The suite, one test per property, each on a fresh file in the test's own directory.
warpflow_engine::storage_conformance_tests!({
    let dir = Dir::new();
    move || dir.fresh()
});

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
