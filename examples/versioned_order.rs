//! # versioned_order
//!
//! Changing a workflow while runs of it are in flight (`cargo run --example versioned_order`).
//!
//! Version 2 of the order workflow asks the customer for feedback once an order has shipped,
//! behind `ctx.patched("ask-for-feedback")`. The run shows both sides of that change:
//!
//! 1. an order placed on version 2, for real (an engine in this process): its history
//!    records the patch marker before the new `send_email`;
//! 2. the replay check CI runs: the histories version 1 recorded, committed under
//!    `tests/histories/versioned_order/` (completed runs and runs still in flight), replayed
//!    against version 2 (they all replay), then against the same change made without
//!    `patched` (the run that had shipped no longer replays, and the report says where).

use std::path::Path;
use warpflow::prelude::*;
use warpflow_examples::local::{TASK_QUEUE, run_locally};
use warpflow_examples::order_processing::scenario::{open_shop, sample_order};
use warpflow_examples::order_processing::{FraudCheck, FraudVerdict, World};
use warpflow_examples::versioned_order::{self as versioned, ProcessOrderV2};
use warpflow_testkit::HistoryReplayer;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let world = World::default();
    open_shop(&world);
    run_locally(versioned::registry(&world), |client| async move {
        let order = sample_order("2001");
        let handle = client
            .start::<ProcessOrderV2>(order.workflow_id(), &order, StartOptions::new(TASK_QUEUE))
            .await?;
        // The fraud check's verdict at once (a reviewer would take hours; the order would
        // wait up to 24 of them).
        handle.signal::<FraudCheck>(&FraudVerdict::Approved).await?;
        println!("order 2001 on version 2: {:?}", handle.result().await?);
        let timeline = handle.history().await?.render_timeline();
        println!("the end of its history:");
        for line in timeline.lines().skip_while(|l| !l.contains("notify_warehouse")) {
            println!("{line}");
        }
        anyhow::Ok(())
    })
    .await??;
    for email in world.email.snapshot() {
        println!("email to {}: {}", email.to, email.template);
    }

    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories/versioned_order");
    let nowhere = World::default();
    println!();
    println!("version 1's histories against version 2:");
    print!(
        "{}",
        HistoryReplayer::new(versioned::registry(&nowhere)).replay_dir(&corpus)
    );
    println!();
    println!("version 1's histories against the change made without `patched`:");
    print!(
        "{}",
        HistoryReplayer::new(versioned::registry_unpatched(&nowhere)).replay_dir(&corpus)
    );
    Ok(())
}
