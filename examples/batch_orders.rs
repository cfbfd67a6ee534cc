//! # batch_orders
//!
//! The guide's batch of orders, run for real (`cargo run --example batch_orders`): one
//! `process_batch_orders` workflow starts a child `process_order` workflow per order
//! (workflow ids `order-<id>`), all at once, waits until every child has closed, whatever
//! the outcome, and alerts the admin when any order failed.
//!
//! Five orders; order 103 pays with a card the payment service declines. The four others are
//! approved by the fraud check as soon as their workflows exist. The run prints the batch's
//! summary, the admin's alert, and the batch's history: the children it started and, one by
//! one, how each ended. Its variant `process_bulk_orders` runs the children ten at a time
//! (see `tests/batch_orders.rs`).

use std::time::Duration;
use warpflow::engine::ClientError;
use warpflow::engine::service::ServiceError;
use warpflow::prelude::*;
use warpflow_examples::batch_orders::campaign::orders;
use warpflow_examples::batch_orders::{self as batches, ADMIN_EMAIL, ProcessBatchOrders};
use warpflow_examples::local::{TASK_QUEUE, run_locally};
use warpflow_examples::order_processing::scenario::{DECLINED_CARD, Trouble, open_shop};
use warpflow_examples::order_processing::{FraudCheck, FraudVerdict, Order, ProcessOrder, World};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let world = World::default();
    open_shop(&world);
    let batch = orders("10", 5, &[(3, Trouble::CardDeclined)], &world);
    let summary = run_locally(batches::registry(&world), |client| async move {
        let handle = client
            .start::<ProcessBatchOrders>("batch-1", &batch, StartOptions::new(TASK_QUEUE))
            .await?;
        for order in batch.iter().filter(|o| o.customer.card != DECLINED_CARD) {
            approve(&client, order).await?;
        }
        let summary = handle.result().await?;
        print!("{}", handle.history().await?.render_timeline());
        anyhow::Ok(summary)
    })
    .await??;

    println!();
    println!(
        "batch: {} orders, {} succeeded, {} failed",
        summary.total, summary.succeeded, summary.failed
    );
    for failure in &summary.failures {
        println!("  order {}: {}", failure.order_id, failure.error);
    }
    for alert in world.email.sent_to(ADMIN_EMAIL) {
        println!("alert to {ADMIN_EMAIL} ({}): {}", alert.template, alert.data);
    }
    Ok(())
}

/// Approves `order` as soon as its workflow exists: the batch starts it, a moment after the
/// batch starts. (A reviewer would take hours; the order would wait up to 24 of them.)
async fn approve(client: &Client, order: &Order) -> anyhow::Result<()> {
    let handle = client.handle::<ProcessOrder>(order.workflow_id());
    for _ in 0..500 {
        match handle.signal::<FraudCheck>(&FraudVerdict::Approved).await {
            Err(ClientError::Service(ServiceError::WorkflowNotFound { .. })) => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            sent => return Ok(sent?),
        }
    }
    anyhow::bail!("order {} never started", order.id)
}
