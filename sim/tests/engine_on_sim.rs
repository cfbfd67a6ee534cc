//! The real engine — service, timer loop, worker, client — running on the simulator: one
//! thread, one seed, virtual time.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use warpflow_engine::client::StartOptions;
use warpflow_engine::engine::Engine;
use warpflow_engine::service::ServiceConfig;
use warpflow_engine::storage::MemoryStorage;
use warpflow_engine::worker::CancellationToken;
use warpflow_engine::workflow::{Signal, Workflow, WorkflowCtx};
use warpflow_engine::{Activity, ActivityCtx, ActivityError, Registry, WorkflowResult};
use warpflow_sim::{Sim, SimConfig};

struct Charge;
impl Activity for Charge {
    const NAME: &'static str = "charge_payment";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: ActivityCtx, id: String) -> Result<String, ActivityError> {
        Ok(format!("chg-{id}"))
    }
}

struct Approve;
impl Signal for Approve {
    const NAME: &'static str = "approve";
    type Input = bool;
}

struct Order;
impl Workflow for Order {
    const NAME: &'static str = "order";
    type Input = String;
    type Output = String;
    async fn run(ctx: WorkflowCtx, id: String) -> WorkflowResult<String> {
        let approved = Rc::new(Cell::new(false));
        let flag = approved.clone();
        ctx.on_signal::<Approve>(move |ok| flag.set(ok));
        let charge = ctx
            .activity::<Charge>(id)
            .start_to_close(Duration::from_secs(10))
            .await?;
        if ctx
            .condition_timeout(move || approved.get(), Duration::from_secs(24 * 3600))
            .await
        {
            return Ok(format!("approved {charge}"));
        }
        Ok(format!("timed out {charge}"))
    }
}

/// Runs one order on a fresh simulation with `seed`; returns the result, the virtual time it
/// took, and the run's history as JSON.
fn run_order(seed: u64) -> (String, Duration, String) {
    let sim = Sim::new(SimConfig::new(seed));
    let engine = Engine::builder()
        .storage(Arc::new(MemoryStorage::new()))
        .clock(sim.clock())
        .spawner(sim.spawner())
        .config(ServiceConfig {
            seed,
            ..ServiceConfig::default()
        })
        .build();
    let registry = Registry::new().with_workflow::<Order>().with_activity(Charge);
    let shutdown = CancellationToken::new();
    let worker = engine.worker("default", registry);
    let stop = shutdown.clone();
    sim.spawn("worker", async move {
        let _ = worker.run(stop).await;
    });
    let client = engine.client();
    let (result, history) = sim
        .run_until(async move {
            let handle = client
                .start::<Order>("order-1", &"o-1".to_owned(), StartOptions::new("default"))
                .await
                .expect("started");
            let result = handle.result().await.expect("result");
            (result, handle.history_json().await.expect("history"))
        })
        .expect("simulation runs");
    shutdown.cancel();
    (result, sim.elapsed(), history)
}

#[test]
fn a_24_hour_order_runs_in_virtual_time_on_one_thread() {
    let (result, elapsed, _) = run_order(1);
    assert_eq!(result, "timed out chg-o-1");
    assert!(
        elapsed >= Duration::from_secs(24 * 3600) && elapsed < Duration::from_secs(24 * 3600 + 60),
        "{elapsed:?}"
    );
}

#[test]
fn the_same_seed_gives_the_same_history_byte_for_byte() {
    for seed in [1, 2, 3] {
        let (_, _, first) = run_order(seed);
        let (_, _, second) = run_order(seed);
        assert_eq!(first, second, "seed {seed}");
    }
}
