//! Campaign throughput: a fault campaign whose workload starts [`K`] W1 order workflows
//! (BENCHMARKS.md: reserve → charge → wait up to 24 h for an `approve` signal that never comes
//! → refund and release through a `Saga`), under the default fault mix (activity faults
//! included) with every oracle on: history, replay, crash equivalence (outcomes and the
//! world of effects), saga pairs reserve → release and charge → refund, liveness, and the
//! same seed twice on the first seed.
//!
//! One iteration is one `Campaign::run` over [`SEEDS`] seeds. Throughput is reported as
//! **faulted W1 workflows per second**: `K × SEEDS` = 40 elements per iteration. Each iteration
//! simulates more than that: the fault-free baseline (`K` workflows; the seeds share it, as
//! their workloads are the same), and the first seed's faulted run a second time for the
//! same-seed-twice oracle (`K` more), so `K × (SEEDS + 2)` = 60 workflows are simulated per
//! iteration in all; only the 40 faulted ones are counted.
//!
//! `cargo bench -p warpflow-testkit --bench campaign`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use std::time::Duration;
use warpflow_testkit::Campaign;

/// Order workflows per run.
const K: u64 = 10;

/// Seeds per campaign (one iteration).
const SEEDS: u64 = 4;

#[path = "../tests/support/w1.rs"]
mod w1;
use w1::{Order, World};

fn campaign() -> Campaign {
    let world = World::default();
    let registry = w1::registry(&world);
    let reset = world.clone();
    Campaign::new("w1 orders", registry)
        .workload(|w| {
            for i in 0..K {
                w.start::<Order>(format!("order-{i}"), &(format!("o-{i}"), 24));
            }
        })
        .world(
            move || {
                if let Ok(mut world) = reset.lock() {
                    world.clear();
                }
            },
            move || json!(world.lock().map(|w| w.clone()).unwrap_or_default()),
        )
        .saga([
            ("reserve_inventory", "release_inventory"),
            ("charge_payment", "refund_payment"),
        ])
        .seeds(SEEDS)
        // The 24-hour wait, then the compensations, after the last fault.
        .liveness_budget(Duration::from_secs(48 * 3600))
}

fn campaign_throughput(c: &mut Criterion) {
    let campaign = campaign();
    // Once outside the measurement: what one iteration injects and checks.
    eprintln!("{}", campaign.run_or_panic());
    let mut group = c.benchmark_group("campaign");
    group.sample_size(10);
    group.throughput(Throughput::Elements(K * SEEDS));
    group.bench_function("w1_x10_default_faults_4_seeds", |b| {
        b.iter(|| {
            let report = campaign.run();
            assert!(report.failures.is_empty(), "{report}");
            report.workflows_run
        })
    });
    group.finish();
}

criterion_group!(benches, campaign_throughput);
criterion_main!(benches);
