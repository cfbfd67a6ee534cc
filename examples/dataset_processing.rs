//! Dataset processing, run for real.
//!
//! One long activity processes every record of a dataset and heartbeats its progress every
//! 100 records. When an attempt dies part-way (a worker crash, or here the processing host
//! failing), the engine hands the last heartbeat to the next attempt, which resumes there
//! instead of starting over; the store writes each record's result once, so the records done
//! twice change nothing.
//!
//! This processes a dataset of 500 records on the engine (tokio, in-memory storage), each
//! record taking 2 ms of real time, with the host failing once at record 250. It prints
//! where each attempt started, the result, and the timeline. (The tests crash a worker in
//! the middle of the activity on the simulator instead, and process in virtual time.)
//!
//! ```sh
//! cargo run --example dataset_processing
//! ```

use std::sync::Arc;
use std::time::Duration;
use warpflow::engine::adapters::TokioClock;
use warpflow::prelude::*;
use warpflow_examples::dataset_processing::{
    self, ProcessDataset, Scenario, World, attempt_starts, workflow_id,
};
use warpflow_examples::live::{MainResult, print_timeline, with_worker};
use warpflow_examples::services::Trouble;

#[tokio::main(flavor = "current_thread")]
async fn main() -> MainResult {
    let world = World::new();
    world.store.create("events", 500);
    world.store.script("events", 250, Trouble::Transient { calls: 1 });
    let clock = Arc::new(TokioClock::system());
    world.store.use_clock(clock.clone(), Duration::from_millis(2));

    let registry = dataset_processing::registry(&world);
    with_worker(
        Engine::builder().clock(clock),
        "datasets",
        registry,
        |client| async move {
            let id = workflow_id("events");
            let options = StartOptions::new("datasets");
            let handle = client
                .start::<ProcessDataset>(id.as_str(), &Scenario::job("events"), options)
                .await?;
            println!("result: {:?}", handle.result().await?);
            for (attempt, first) in attempt_starts(&world.store.calls()) {
                println!("attempt {attempt} started at record {first}");
            }
            println!("store: {:?}", world.store.results("events"));
            println!("timeline:");
            print_timeline(&handle.history().await?, 20);
            Ok(())
        },
    )
    .await
}
