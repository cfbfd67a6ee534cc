//! Version 2 of the order workflow, and the same change made wrongly.
//!
//! Version 1 is [`ProcessOrder`] as it shipped. Version 2 adds one step: once an order has
//! shipped, email the customer asking for feedback. Runs that version 1 started are still in
//! flight when version 2 is deployed, and a worker running version 2 replays their
//! histories; a completed run's history goes from shipping straight to
//! `WorkflowExecutionCompleted`, with no feedback email in between.
//!
//! [`ProcessOrderV2`] puts the step behind `ctx.patched(FEEDBACK_PATCH)`: a run that reaches
//! that point for the first time takes the new path and records a marker; a replay takes it
//! only if the history has the marker. [`ProcessOrderUnpatched`] adds the step without it:
//! replaying a completed version-1 history, it schedules an activity where the history
//! completed the run, and replay stops with a non-determinism report.
//!
//! Once no run without the marker is left, the call becomes `ctx.deprecate_patch(..)` and the
//! old path goes; once no run with the marker is left, the call goes too.

use crate::order_processing::workflow::activity_options;
use crate::order_processing::{Order, OrderResult, ProcessOrder, SendEmail};
use crate::services::email::Message;
use serde_json::json;
use warpflow_engine::WorkflowResult;
use warpflow_engine::workflow::{Workflow, WorkflowCtx};

/// The patch that introduced the feedback email.
pub const FEEDBACK_PATCH: &str = "ask-for-feedback";

/// The order workflow, version 2: version 1, then a feedback request for a shipped order.
#[derive(Debug)]
pub struct ProcessOrderV2;

impl Workflow for ProcessOrderV2 {
    // The same workflow type: a worker running this code replays version 1's runs.
    const NAME: &'static str = ProcessOrder::NAME;
    type Input = Order;
    type Output = OrderResult;

    async fn run(ctx: WorkflowCtx, order: Order) -> WorkflowResult<OrderResult> {
        process_then_ask_for_feedback(ctx, order, |ctx| ctx.patched(FEEDBACK_PATCH)).await
    }
}

/// Version 2 done wrongly: the same new step, without `patched`. Version 1's completed runs
/// no longer replay on it.
#[derive(Debug)]
pub struct ProcessOrderUnpatched;

impl Workflow for ProcessOrderUnpatched {
    const NAME: &'static str = ProcessOrder::NAME;
    type Input = Order;
    type Output = OrderResult;

    async fn run(ctx: WorkflowCtx, order: Order) -> WorkflowResult<OrderResult> {
        // The mistake: nothing tells a replay of an older run to skip the new step.
        process_then_ask_for_feedback(ctx, order, |_| true).await
    }
}

/// Version 1, then, for an order that shipped, the new step if `take_new_step` says so.
async fn process_then_ask_for_feedback(
    ctx: WorkflowCtx,
    order: Order,
    take_new_step: fn(&WorkflowCtx) -> bool,
) -> WorkflowResult<OrderResult> {
    let email = order.customer.email.clone();
    let result = ProcessOrder::run(ctx.clone(), order).await?;
    if let OrderResult::Completed { order_id, .. } = &result
        && take_new_step(&ctx)
    {
        ask_for_feedback(&ctx, email, order_id).await?;
    }
    Ok(result)
}

/// The new step: a `feedback_request` email to the customer.
async fn ask_for_feedback(ctx: &WorkflowCtx, to: String, order_id: &str) -> WorkflowResult<()> {
    let message = Message {
        to,
        template: "feedback_request".into(),
        data: json!({ "order_id": order_id }),
    };
    ctx.activity_with::<SendEmail>(message, activity_options())
        .await?;
    Ok(())
}
