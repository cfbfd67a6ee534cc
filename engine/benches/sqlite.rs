//! `SqliteStorage` commit throughput: one committer (each commit waits for its own fsync)
//! against 64 concurrent committers (group commit: a batch shares one transaction and one
//! fsync). The ratio of the two is what group commit buys.
//!
//! Each commit creates a run with three events, a task, a timer and a request id, on a
//! database in a temporary directory.
//!
//! `cargo bench -p warpflow-engine --bench sqlite`

#[path = "../tests/storage_sqlite/support.rs"]
#[allow(dead_code, reason = "the bench uses a few of the tests' helpers")]
mod support;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::executor::block_on;
use futures::future::join_all;
use std::cell::Cell;
use std::time::Duration;
use support::{Dir, numbered_commit};
use warpflow_engine::storage::Storage;

fn commits(c: &mut Criterion) {
    let dir = Dir::new();
    let storage = dir.fresh();
    // Every commit creates a new run: numbers are never reused.
    let next = Cell::new(0u64);
    let number = || {
        let n = next.get();
        next.set(n + 1);
        n
    };
    let mut group = c.benchmark_group("sqlite_commit");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    for committers in [1u64, 64] {
        group.throughput(Throughput::Elements(committers));
        group.bench_function(BenchmarkId::new("committers", committers), |b| {
            b.iter(|| {
                let results = block_on(join_all(
                    (0..committers).map(|_| storage.commit(numbered_commit(number(), "bench"))),
                ));
                assert!(results.iter().all(Result::is_ok), "{results:?}");
            })
        });
    }
    group.finish();
    let stats = storage.stats();
    eprintln!(
        "sqlite_commit: {} commits in {} transactions (largest batch {})",
        stats.commits, stats.transactions, stats.largest_batch
    );
}

criterion_group!(benches, commits);
criterion_main!(benches);
