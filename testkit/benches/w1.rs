//! W1 of BENCHMARKS.md: a time-skipping test of the order workflow — building a fresh
//! `TestEnv`, one execution to result, and a whole test (fresh env, run, assert, the default
//! replay check) for a 24-hour and a 30-day approval timeout.
//!
//! `cargo bench -p warpflow-testkit --bench w1`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use warpflow_engine::Registry;
use warpflow_testkit::TestEnv;

#[path = "../tests/support/w1.rs"]
mod w1;
use w1::Order;

fn registry() -> Registry {
    w1::registry(&w1::World::default())
}

fn w1(c: &mut Criterion) {
    let registry = registry();
    let mut group = c.benchmark_group("w1");
    group.bench_function("fresh_env", |b| {
        b.iter(|| black_box(TestEnv::new(registry.clone())))
    });
    for (label, hours) in [("24h", 24u64), ("30d", 30 * 24)] {
        group.bench_function(format!("one_execution_{label}"), |b| {
            // Many executions share one env here: give it room for centuries of virtual time.
            let env = TestEnv::builder(registry.clone())
                .replay_check(false)
                .max_virtual_time(Duration::from_secs(100_000 * 366 * 24 * 3600))
                .build();
            let mut n = 0u64;
            b.iter(|| {
                n += 1;
                let order = env
                    .start::<Order>(format!("order-{n}"), &("o-1".into(), hours))
                    .expect("started");
                env.result(&order).expect("result")
            })
        });
        group.bench_function(format!("whole_test_{label}"), |b| {
            b.iter(|| {
                let env = TestEnv::new(registry.clone());
                let order = env
                    .start::<Order>("order-1", &("o-1".into(), hours))
                    .expect("started");
                assert_eq!(env.result(&order).expect("result"), "fraud_timeout");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, w1);
criterion_main!(benches);
