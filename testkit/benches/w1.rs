//! W1 of BENCHMARKS.md: a time-skipping test of the order workflow — building a fresh
//! `TestEnv`, one execution to result, and a whole test (fresh env, run, assert, the default
//! replay check) for a 24-hour and a 30-day approval timeout.
//!
//! `cargo bench -p warpflow-testkit --bench w1`

use criterion::{Criterion, criterion_group, criterion_main};
use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;
use warpflow_engine::workflow::{Signal, Workflow, WorkflowCtx};
use warpflow_engine::{Activity, ActivityCtx, ActivityError, Registry, Saga, WorkflowResult};
use warpflow_testkit::TestEnv;

macro_rules! prefixing {
    ($ty:ident, $name:literal, $prefix:literal) => {
        struct $ty;
        impl Activity for $ty {
            const NAME: &'static str = $name;
            type Input = String;
            type Output = String;
            async fn run(&self, _ctx: ActivityCtx, id: String) -> Result<String, ActivityError> {
                Ok(format!("{}{id}", $prefix))
            }
        }
    };
}
prefixing!(Reserve, "reserve_inventory", "res-");
prefixing!(Charge, "charge_payment", "chg-");
prefixing!(Refund, "refund_payment", "refund-");
prefixing!(Release, "release_inventory", "released-");

struct Approve;
impl Signal for Approve {
    const NAME: &'static str = "approve";
    type Input = bool;
}

struct Order;
impl Workflow for Order {
    const NAME: &'static str = "order";
    type Input = (String, u64);
    type Output = String;
    async fn run(ctx: WorkflowCtx, (id, hours): (String, u64)) -> WorkflowResult<String> {
        let approved = Rc::new(Cell::new(false));
        let flag = approved.clone();
        ctx.on_signal::<Approve>(move |ok| flag.set(ok));
        let step = Duration::from_secs(10);
        let reservation = ctx.activity::<Reserve>(id.clone()).start_to_close(step).await?;
        let charge = ctx.activity::<Charge>(id).start_to_close(step).await?;
        if ctx
            .condition_timeout(move || approved.get(), Duration::from_secs(hours * 3600))
            .await
        {
            return Ok("approved".into());
        }
        let mut saga = Saga::new();
        let c = ctx.clone();
        saga.add("release", move || {
            c.activity::<Release>(reservation).start_to_close(step).start()
        });
        let c = ctx.clone();
        saga.add("refund", move || {
            c.activity::<Refund>(charge).start_to_close(step).start()
        });
        saga.compensate().await;
        Ok("fraud_timeout".into())
    }
}

fn registry() -> Registry {
    Registry::new()
        .with_workflow::<Order>()
        .with_activity(Reserve)
        .with_activity(Charge)
        .with_activity(Refund)
        .with_activity(Release)
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
