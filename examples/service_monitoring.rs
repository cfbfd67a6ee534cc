//! Service monitoring, run for real.
//!
//! The monitor checks a service's health, alerts the on-call engineer when it is unhealthy,
//! sleeps (a durable timer), and checks again; after a bounded number of checks it continues
//! as new with its counts, so that the history of each run stays small however long the
//! monitor runs.
//!
//! This runs a monitor of `api` on the engine (tokio, in-memory storage) for 12 checks, 5 a
//! run, with the service unhealthy at checks 4 and 9. The guide checks every five minutes;
//! here the interval is 100 ms so that the run takes about a second (the tests run days of
//! five-minute checks in virtual time). It prints the alerts, each run's length and the
//! counts it started with, and the first run's timeline.
//!
//! ```sh
//! cargo run --example service_monitoring
//! ```

use std::time::Duration;
use warpflow::engine::history::EventAttributes;
use warpflow::prelude::*;
use warpflow_examples::live::{MainResult, print_timeline, with_worker};
use warpflow_examples::service_monitoring::{self, Monitor, MonitorService, World, workflow_id};

/// Stands in for the guide's five minutes, so that the run takes a second.
const INTERVAL: Duration = Duration::from_millis(100);

#[tokio::main(flavor = "current_thread")]
async fn main() -> MainResult {
    let world = World::new();
    world.endpoints.unhealthy_at("api", [4, 9]);
    let monitor = Monitor {
        interval: INTERVAL,
        checks_per_run: 5,
        stop_after: Some(12),
        ..Monitor::new("api")
    };
    let registry = service_monitoring::registry(&world);
    with_worker(Engine::builder(), "monitoring", registry, |client| async move {
        let id = workflow_id("api");
        let options = StartOptions::new("monitoring");
        let handle = client
            .start::<MonitorService>(id.as_str(), &monitor, options)
            .await?;
        println!("result: {:?}", handle.result().await?);
        for alert in world.outbox.sent() {
            println!("alert to {}: {}", alert.to, alert.body);
        }
        let runs = client.list_runs(Some(&id.as_str().into())).await?;
        println!(
            "{} runs (at most {} events each):",
            runs.len(),
            monitor.history_events_max()
        );
        let mut first = None;
        for run in runs {
            let history = client.history(&id.as_str().into(), Some(&run.run.run_id)).await?;
            if let Some(EventAttributes::WorkflowExecutionStarted { input, .. }) =
                history.events.first().map(|e| &e.attributes)
            {
                println!(
                    "  {} events, started with {}",
                    history.events.len(),
                    input["state"]
                );
            }
            first.get_or_insert(history);
        }
        if let Some(history) = first {
            println!("timeline of the first run:");
            print_timeline(&history, 24);
        }
        Ok(())
    })
    .await
}
