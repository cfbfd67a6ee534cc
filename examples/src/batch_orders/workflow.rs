//! The guide's batch workflows: one child `process_order` workflow per order (workflow id
//! `order-<id>`), every result collected whether it succeeded or not (the guide's
//! `Promise.allSettled`), and an alert to the admin when any order failed.
//!
//! - [`ProcessBatchOrders`] starts every child at once;
//! - [`ProcessBulkOrders`] starts them [`BATCH_SIZE`] at a time, each group settled before the
//!   next starts, so downstream services see at most that many orders in flight.
//!
//! An order counts as failed when its workflow failed *or* it returned a failed result (out
//! of stock, declined, rejected): the guide's batch counts only thrown errors, which would
//! report a declined card as a success.

use super::activities::NotifyAdmin;
use super::model::{AdminAlert, BATCH_PARTIAL_FAILURE, BatchSummary, OrderFailure};
use crate::order_processing::workflow::activity_options;
use crate::order_processing::{Order, OrderResult, ProcessOrder};
use warpflow_engine::WorkflowResult;
use warpflow_engine::workflow::future::join_all;
use warpflow_engine::workflow::{ChildError, Workflow, WorkflowCtx};

/// How many orders [`ProcessBulkOrders`] runs at a time.
pub const BATCH_SIZE: usize = 10;

/// Processes every order in parallel; see the module documentation.
#[derive(Debug)]
pub struct ProcessBatchOrders;

impl Workflow for ProcessBatchOrders {
    const NAME: &'static str = "process_batch_orders";
    type Input = Vec<Order>;
    type Output = BatchSummary;

    async fn run(ctx: WorkflowCtx, orders: Vec<Order>) -> WorkflowResult<BatchSummary> {
        let results = process_all(&ctx, &orders).await;
        report(&ctx, &orders, results).await
    }
}

/// Processes the orders [`BATCH_SIZE`] at a time; see the module documentation.
#[derive(Debug)]
pub struct ProcessBulkOrders;

impl Workflow for ProcessBulkOrders {
    const NAME: &'static str = "process_bulk_orders";
    type Input = Vec<Order>;
    type Output = BatchSummary;

    async fn run(ctx: WorkflowCtx, orders: Vec<Order>) -> WorkflowResult<BatchSummary> {
        let mut results = Vec::with_capacity(orders.len());
        for batch in orders.chunks(BATCH_SIZE) {
            results.extend(process_all(&ctx, batch).await);
        }
        report(&ctx, &orders, results).await
    }
}

/// Starts one child workflow per order, all at once, and waits until every one has closed.
async fn process_all(ctx: &WorkflowCtx, orders: &[Order]) -> Vec<Result<OrderResult, ChildError>> {
    let children = orders.iter().map(|order| {
        ctx.child::<ProcessOrder>(order.clone())
            .id(order.workflow_id())
            .start()
    });
    join_all(children).await
}

/// Sums up the results, alerts the admin if any order failed, and returns the summary.
async fn report(
    ctx: &WorkflowCtx,
    orders: &[Order],
    results: Vec<Result<OrderResult, ChildError>>,
) -> WorkflowResult<BatchSummary> {
    let summary = summarize(orders, results);
    if summary.failed > 0 {
        let alert = AdminAlert {
            kind: BATCH_PARTIAL_FAILURE.to_owned(),
            batch: ctx.info().workflow_id.to_string(),
            total: summary.total,
            failed: summary.failed,
            errors: summary.failures.clone(),
        };
        ctx.activity_with::<NotifyAdmin>(alert, activity_options())
            .await?;
    }
    Ok(summary)
}

/// The summary of each order's result, in the batch's order.
pub fn summarize(orders: &[Order], results: Vec<Result<OrderResult, ChildError>>) -> BatchSummary {
    let mut failures = Vec::new();
    for (order, result) in orders.iter().zip(results) {
        let error = match result {
            Ok(OrderResult::Completed { .. }) => continue,
            Ok(OrderResult::Failed { reason }) => reason.to_string(),
            Err(e) => e.to_string(),
        };
        failures.push(OrderFailure {
            order_id: order.id.clone(),
            error,
        });
    }
    BatchSummary {
        total: orders.len(),
        succeeded: orders.len() - failures.len(),
        failed: failures.len(),
        failures,
    }
}
