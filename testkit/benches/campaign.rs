//! Campaign throughput: a fault campaign whose workload starts [`K`] W1 order workflows
//! (BENCHMARKS.md: reserve → charge → wait up to 24 h for an `approve` signal that never comes
//! → refund and release through a `Saga`), under the default fault mix (activity faults
//! included) with every oracle on: history, replay, crash equivalence (outcomes and the
//! world of effects), saga pairs reserve → release and charge → refund, liveness, and the
//! same seed twice on the first seed.
//!
//! One iteration is one `Campaign::run` over [`SEEDS`] seeds. Throughput is reported as
//! **faulted W1 workflows per second**: `K × SEEDS` = 40 elements per iteration. Each iteration
//! simulates more than that: every seed also runs a fault-free baseline (`K` workflows), and
//! the first seed's faulted run is run a second time for the same-seed-twice oracle (`K`
//! more), so `K × (2 × SEEDS + 1)` = 90 workflows are simulated per iteration in all; only the
//! 40 faulted ones are counted.
//!
//! `cargo bench -p warpflow-testkit --bench campaign`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warpflow_engine::workflow::{Signal, Workflow, WorkflowCtx};
use warpflow_engine::{Activity, ActivityCtx, ActivityError, Registry, Saga, WorkflowResult};
use warpflow_testkit::Campaign;

/// Order workflows per run.
const K: u64 = 10;

/// Seeds per campaign (one iteration).
const SEEDS: u64 = 4;

/// The external world: the effects applied, as `activity:order`. A set, so every activity
/// is idempotent: applying an effect again changes nothing.
type World = Arc<Mutex<BTreeSet<String>>>;

macro_rules! effect {
    ($ty:ident, $name:literal, $prefix:literal) => {
        struct $ty(World);
        impl Activity for $ty {
            const NAME: &'static str = $name;
            type Input = String;
            type Output = String;
            async fn run(&self, _ctx: ActivityCtx, id: String) -> Result<String, ActivityError> {
                if let Ok(mut world) = self.0.lock() {
                    world.insert(format!("{}:{id}", $name));
                }
                Ok(format!("{}{id}", $prefix))
            }
        }
    };
}
effect!(Reserve, "reserve_inventory", "res-");
effect!(Charge, "charge_payment", "chg-");
effect!(Refund, "refund_payment", "refund-");
effect!(Release, "release_inventory", "released-");

struct Approve;
impl Signal for Approve {
    const NAME: &'static str = "approve";
    type Input = bool;
}

/// W1: the order workflow of BENCHMARKS.md.
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

fn campaign() -> Campaign {
    let world = World::default();
    let registry = Registry::new()
        .with_workflow::<Order>()
        .with_activity(Reserve(world.clone()))
        .with_activity(Charge(world.clone()))
        .with_activity(Refund(world.clone()))
        .with_activity(Release(world.clone()));
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
