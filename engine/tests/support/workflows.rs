//! Workflows and activity stubs shared by the engine core's tests.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use warpflow_engine::workflow::{Saga, Signal, Workflow, WorkflowCtx};
use warpflow_engine::{ActivityError, Failure, Payload, WorkflowResult};

/// Declares activity types whose results the recorder's script provides.
#[macro_export]
macro_rules! activities {
    ($($ty:ident = $name:literal : $input:ty => $output:ty;)*) => {$(
        pub struct $ty;
        impl warpflow_engine::Activity for $ty {
            const NAME: &'static str = $name;
            type Input = $input;
            type Output = $output;
            async fn run(
                &self,
                _ctx: warpflow_engine::ActivityCtx,
                _input: $input,
            ) -> Result<$output, warpflow_engine::ActivityError> {
                unreachable!("activities are answered by the test's script")
            }
        }
    )*};
}

activities! {
    Reserve = "reserve_inventory": String => String;
    Charge = "charge_payment": String => String;
    Refund = "refund_payment": String => String;
    Release = "release_inventory": String => String;
    Step = "step": u64 => u64;
    Echo = "echo": String => String;
}

pub fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

/// The script of W1's activities: `reserve_inventory(id)` → `res-id`, and so on; `step(i)` →
/// `i + 1`; anything else echoes its input.
pub fn w1_script(activity_type: &str, input: &Payload) -> Result<Payload, Failure> {
    let s = input.as_str().unwrap_or_default();
    Ok(match activity_type {
        "reserve_inventory" => Payload::from(json!(format!("res-{s}"))),
        "charge_payment" => Payload::from(json!(format!("chg-{s}"))),
        "refund_payment" => Payload::from(json!(format!("refund-{s}"))),
        "release_inventory" => Payload::from(json!(format!("released-{s}"))),
        "step" => Payload::from(json!(input.as_u64().unwrap_or_default() + 1)),
        _ => input.clone(),
    })
}

pub struct Approve;
impl Signal for Approve {
    const NAME: &'static str = "approve";
    type Input = bool;
}

/// W1: reserve, charge, wait 24 h for approval, else compensate in reverse.
pub struct Order;
impl Workflow for Order {
    const NAME: &'static str = "order";
    type Input = (String, u64);
    type Output = String;

    async fn run(ctx: WorkflowCtx, (order_id, timeout_hours): (String, u64)) -> WorkflowResult<String> {
        let approved = Rc::new(Cell::new(false));
        let flag = approved.clone();
        ctx.on_signal::<Approve>(move |ok| flag.set(ok));
        let reservation = ctx
            .activity::<Reserve>(order_id.clone())
            .start_to_close(ten_seconds())
            .await?;
        let charge = ctx
            .activity::<Charge>(order_id)
            .start_to_close(ten_seconds())
            .await?;
        let timeout = Duration::from_secs(timeout_hours * 3600);
        if ctx.condition_timeout(move || approved.get(), timeout).await {
            return Ok("approved".into());
        }
        let mut saga = Saga::new();
        let c = ctx.clone();
        saga.add("release", move || {
            c.activity::<Release>(reservation)
                .start_to_close(ten_seconds())
                .start()
        });
        let c = ctx.clone();
        saga.add("refund", move || {
            c.activity::<Refund>(charge).start_to_close(ten_seconds()).start()
        });
        let report = saga.compensate().await;
        if !report.all_succeeded() {
            return Err(warpflow_engine::WorkflowError::fail(
                "CompensationFailed",
                format!("{:?}", report.failed()),
            ));
        }
        Ok("fraud_timeout".into())
    }
}

/// W2: `n` steps in sequence; returns n(n+1)/2.
pub struct Chain;
impl Workflow for Chain {
    const NAME: &'static str = "chain";
    type Input = u64;
    type Output = u64;

    async fn run(ctx: WorkflowCtx, n: u64) -> WorkflowResult<u64> {
        let mut sum = 0;
        for i in 0..n {
            sum += ctx.activity::<Step>(i).start_to_close(ten_seconds()).await?;
        }
        Ok(sum)
    }
}

pub fn script_value(v: Value) -> impl FnMut(&str, &Payload) -> Result<Payload, Failure> {
    let v = Payload::from(v);
    move |_, _| Ok(v.clone())
}

pub fn fail_activity(kind: &str) -> impl FnMut(&str, &Payload) -> Result<Payload, Failure> + use<> {
    let kind = kind.to_owned();
    move |ty, input| {
        if ty == kind {
            Err(Failure::new("Boom", format!("{ty} failed")))
        } else {
            w1_script(ty, input)
        }
    }
}

pub fn activity_error(e: ActivityError) -> ActivityError {
    e
}
