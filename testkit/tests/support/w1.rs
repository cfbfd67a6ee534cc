//! W1 of BENCHMARKS.md, shared by the test kit's tests and benchmarks: the order workflow
//! (reserve → charge → wait up to `hours` for an `approve` signal → on timeout refund and
//! release through a `Saga`), with activities that record their effects in a [`World`].

#![allow(dead_code)] // Each test or bench uses part of it.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warpflow_engine::workflow::{Query, Signal, Workflow, WorkflowCtx};
use warpflow_engine::{Activity, ActivityCtx, ActivityError, Registry, Saga, WorkflowResult};

/// The outside world the activities act on: the effects applied, as `activity:order`. A set,
/// so every activity is idempotent: applying an effect again changes nothing.
pub type World = Arc<Mutex<BTreeSet<String>>>;

macro_rules! effect {
    ($ty:ident, $name:literal, $prefix:literal) => {
        pub struct $ty(pub World);
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

/// The fraud check's verdict.
pub struct Approve;
impl Signal for Approve {
    const NAME: &'static str = "approve";
    type Input = bool;
}

/// Whether the order is waiting for approval.
pub struct Waiting;
impl Query for Waiting {
    const NAME: &'static str = "waiting";
    type Args = ();
    type Output = bool;
}

/// W1: `Order(order_id, approval timeout in hours)`.
pub struct Order;
impl Workflow for Order {
    const NAME: &'static str = "order";
    type Input = (String, u64);
    type Output = String;
    async fn run(ctx: WorkflowCtx, (id, hours): (String, u64)) -> WorkflowResult<String> {
        let approved = Rc::new(Cell::new(false));
        let waiting = Rc::new(Cell::new(false));
        let (flag, w) = (approved.clone(), waiting.clone());
        ctx.on_signal::<Approve>(move |ok| flag.set(ok));
        ctx.on_query::<Waiting>(move |()| w.get());
        let step = Duration::from_secs(10);
        let reservation = ctx.activity::<Reserve>(id.clone()).start_to_close(step).await?;
        let charge = ctx.activity::<Charge>(id).start_to_close(step).await?;
        waiting.set(true);
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

/// The order workflow and its four activities, acting on `world`.
pub fn registry(world: &World) -> Registry {
    Registry::new()
        .with_workflow::<Order>()
        .with_activity(Reserve(world.clone()))
        .with_activity(Charge(world.clone()))
        .with_activity(Refund(world.clone()))
        .with_activity(Release(world.clone()))
}
