//! W2 of BENCHMARKS.md: replay throughput with the determinism check on.
//!
//! Histories are recorded once (in memory), then replayed by a cold instance per iteration:
//! history validation, workflow code, command matching, payload decoding — everything a
//! worker does to rebuild a run, minus JSON parsing (measured separately).
//!
//! `cargo bench -p warpflow-engine --bench replay`

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use support::record;
use support::workflows::{Chain, Order, w1_script};
use warpflow_engine::Payload;
use warpflow_engine::{History, Registry, Replayer};

fn chain_replay(c: &mut Criterion) {
    let registry = Registry::new().with_workflow::<Chain>();
    let replayer = Replayer::new(registry.clone());
    let mut group = c.benchmark_group("w2_chain_replay");
    for steps in [100u64, 1000] {
        let history = record(&registry, "chain", Payload::from(json!(steps)), w1_script);
        assert_eq!(history.events.len() as u64, steps * 6 + 5);
        group.throughput(Throughput::Elements(history.events.len() as u64));
        group.bench_with_input(BenchmarkId::new("events", steps), &history, |b, h| {
            b.iter(|| replayer.replay(black_box(h)).expect("replays"))
        });
    }
    group.finish();

    let history = record(&registry, "chain", Payload::from(json!(1000)), w1_script);
    let text = history.to_json();
    let mut group = c.benchmark_group("w2_chain_json");
    group.throughput(Throughput::Elements(history.events.len() as u64));
    group.bench_function("parse_and_replay_1000", |b| {
        b.iter(|| {
            let h = History::from_json(black_box(&text)).expect("parses");
            replayer.replay(&h).expect("replays")
        })
    });
    group.finish();
}

fn order_replay(c: &mut Criterion) {
    let registry = Registry::new().with_workflow::<Order>();
    let replayer = Replayer::new(registry.clone());
    let history = record(&registry, "order", Payload::from(json!(["o-1", 24])), w1_script);
    let mut group = c.benchmark_group("w2_order_history");
    group.throughput(Throughput::Elements(1));
    group.bench_function("replay", |b| {
        b.iter(|| replayer.replay(black_box(&history)).expect("replays"))
    });
    group.bench_function("check_all_paths", |b| {
        b.iter(|| replayer.check(black_box(&history)).expect("replays"))
    });
    group.finish();
}

criterion_group!(benches, chain_replay, order_replay);
criterion_main!(benches);
