//! The money transfer saga, run for real.
//!
//! A transfer debits the source account, credits the destination and records the transfer,
//! registering the compensation of each step once it succeeded. If a step fails for good, the
//! compensations run in reverse order, so the transfer is either done in full or undone in
//! full, and the bank's total never changes.
//!
//! This runs four transfers of the demo scenario on the engine (tokio, in-memory storage):
//! one that completes, one to a frozen account (the debit is reversed), one without the
//! funds (nothing to undo), and one whose record compliance refuses (the credit, then the
//! debit, reversed). It prints each result, the balances, and the timeline of the last one.
//!
//! ```sh
//! cargo run --example money_transfer
//! ```

use warpflow::prelude::*;
use warpflow_examples::campaigns::ExampleScenario;
use warpflow_examples::live::{MainResult, print_timeline, with_worker};
use warpflow_examples::money_transfer::{self, Scenario, TransferMoney, World};

#[tokio::main(flavor = "current_thread")]
async fn main() -> MainResult {
    let world = World::new();
    let scenario = Scenario::demo();
    scenario.prepare(&world);
    let total = world.bank.total();
    println!("balances before: {:?}", world.bank.balances());

    let registry = money_transfer::registry(&world);
    with_worker(Engine::builder(), "transfers", registry, |client| async move {
        let mut last = None;
        for id in ["transfer-1", "transfer-2", "transfer-3", "transfer-4"] {
            let transfer = scenario.transfer(id).ok_or("no such demo transfer")?;
            let handle = client
                .start::<TransferMoney>(id, transfer, StartOptions::new("transfers"))
                .await?;
            let result = handle.result().await?;
            println!(
                "{id} {} -> {} {}: {result:?}",
                transfer.from, transfer.to, transfer.amount
            );
            last = Some(handle);
        }
        println!("balances after:  {:?}", world.bank.balances());
        assert_eq!(world.bank.total(), total, "money is conserved");
        if let Some(handle) = last {
            println!("timeline of {}:", handle.workflow_id());
            print_timeline(&handle.history().await?, 40);
        }
        Ok(())
    })
    .await
}
