//! # order_processing
//!
//! The guide's order workflow, run for real (`cargo run --example order_processing`): an
//! engine in this process with in-memory storage, a worker, and a client placing two orders.
//!
//! Each order reserves its items, charges the card, then waits up to 24 hours for the fraud
//! check's verdict (a `fraud_check` signal). Order 1001 is approved: the customer gets a
//! confirmation and the warehouse ships it. Order 1002 is rejected: the charge is refunded
//! and the items go back to stock, last step first (the saga's compensations).
//!
//! The run prints each order's result and status (the `get_status` query), what the
//! simulated services hold afterwards, and the history of the rejected order, one line per
//! event, grouped by workflow task.

use warpflow::prelude::*;
use warpflow_examples::local::{TASK_QUEUE, run_locally};
use warpflow_examples::order_processing::scenario::{open_shop, sample_order};
use warpflow_examples::order_processing::{
    self as orders, FraudCheck, FraudVerdict, GetStatus, ProcessOrder, World,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let world = World::default();
    open_shop(&world);
    run_locally(orders::registry(&world), |client| async move {
        place(&client, "1001", FraudVerdict::Approved).await?;
        let rejected = place(&client, "1002", FraudVerdict::Rejected).await?;
        println!();
        println!("history of order 1002:");
        print!("{}", rejected.history().await?.render_timeline());
        anyhow::Ok(())
    })
    .await??;

    let after = world.snapshot();
    println!();
    println!("payments:");
    for (id, charge) in &after.payments.charges {
        let state = if charge.refunded { "refunded" } else { "kept" };
        println!("  {id}: {} cents, {state}", charge.request.amount_cents);
    }
    println!("shipments: {:?}", after.shipments.keys().collect::<Vec<_>>());
    println!("mugs in stock: {} (1000 before)", after.inventory.stock["mug"]);
    for message in &after.emails {
        println!("email to {}: {}", message.to, message.template);
    }
    Ok(())
}

/// Places order `id` and gives it `verdict`; prints how it ended.
async fn place(
    client: &Client,
    id: &str,
    verdict: FraudVerdict,
) -> anyhow::Result<WorkflowHandle<ProcessOrder>> {
    let order = sample_order(id);
    let handle = client
        .start::<ProcessOrder>(order.workflow_id(), &order, StartOptions::new(TASK_QUEUE))
        .await?;
    // A reviewer would take hours, and the workflow would wait for up to 24 of them. Here the
    // verdict is sent at once, so the run takes milliseconds: a verdict that arrives before
    // the workflow reaches the wait is kept until it gets there.
    handle.signal::<FraudCheck>(&verdict).await?;
    let result = handle.result().await?;
    let status = handle.query::<GetStatus>(&()).await?;
    println!("order {id} ({verdict:?}): {result:?}, status {:?}", status.stage);
    Ok(handle)
}
