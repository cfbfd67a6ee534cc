//! Mocks under the real engine on the simulator: the worker runs the scripted attempts, the
//! engine's retry policy and start-to-close timeout act on them, in virtual time.

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use warpflow_engine::client::StartOptions;
use warpflow_engine::engine::Engine;
use warpflow_engine::service::ServiceConfig;
use warpflow_engine::storage::MemoryStorage;
use warpflow_engine::worker::CancellationToken;
use warpflow_engine::workflow::{Workflow, WorkflowCtx};
use warpflow_engine::{Activity, ActivityCtx, ActivityError, History, Registry, WorkflowResult};
use warpflow_sim::{Sim, SimConfig};
use warpflow_testkit::{HistoryReplayer, MockActivity, MockCalls, history_snapshot};

struct Charge;
impl Activity for Charge {
    const NAME: &'static str = "charge_payment";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: ActivityCtx, order: String) -> Result<String, ActivityError> {
        Ok(format!("real-{order}"))
    }
}

struct Order;
impl Workflow for Order {
    const NAME: &'static str = "order";
    type Input = String;
    type Output = String;
    async fn run(ctx: WorkflowCtx, order: String) -> WorkflowResult<String> {
        let charge = ctx
            .activity::<Charge>(order)
            .start_to_close(Duration::from_secs(10))
            .await?;
        Ok(format!("charged {charge}"))
    }
}

/// Runs one order with the mock that `mock` builds on the simulation's clock; returns the
/// result, the mock's calls, the virtual time taken and the history.
fn run_order(
    seed: u64,
    mock: impl FnOnce(&Sim) -> MockActivity,
) -> (Result<String, String>, MockCalls, Duration, History) {
    let sim = Sim::new(SimConfig::new(seed));
    let engine = Engine::builder()
        .storage(Arc::new(MemoryStorage::new()))
        .clock(sim.clock())
        .spawner(sim.spawner())
        .config(ServiceConfig {
            seed,
            ..ServiceConfig::default()
        })
        .build();
    let mut registry = Registry::new().with_workflow::<Order>();
    let calls = mock(&sim).register(&mut registry);
    let shutdown = CancellationToken::new();
    let worker = engine.worker("default", registry);
    let stop = shutdown.clone();
    sim.spawn("worker", async move {
        let _ = worker.run(stop).await;
    });
    let client = engine.client();
    let (result, history) = sim
        .run_until(async move {
            let handle = client
                .start::<Order>("order-1", &"o-1".to_owned(), StartOptions::new("default"))
                .await
                .expect("started");
            let result = handle.result().await.map_err(|e| e.to_string());
            (result, handle.history().await.expect("history"))
        })
        .expect("the simulation runs");
    shutdown.cancel();
    (result, calls, sim.elapsed(), history)
}

#[test]
fn the_engine_retries_failures_and_timeouts_of_a_scripted_mock() {
    let (result, calls, elapsed, history) = run_order(1, |sim| {
        MockActivity::of::<Charge>()
            .fails_times(2, "GatewayDown", "try again")
            .times_out()
            .completes_after(Duration::from_secs(5), sim.clock())
            .returns("chg-1")
    });
    assert_eq!(result, Ok("charged chg-1".to_owned()));
    assert_eq!(calls.attempts(), [1, 2, 3, 4]);
    assert_eq!(calls.inputs::<String>(), Ok(vec!["o-1".to_owned(); 4]));
    // Backoffs of 1 s and 2 s, a 10 s start-to-close timeout, a 4 s backoff, a 5 s attempt.
    assert!(
        elapsed >= Duration::from_secs(22) && elapsed < Duration::from_secs(30),
        "{elapsed:?}"
    );
    let rendering = history_snapshot(&history);
    assert!(
        rendering.contains("ActivityTaskStarted  of 5, attempt 4"),
        "{rendering}"
    );
    assert!(rendering.contains(", run <run-1>, type order"), "{rendering}");
    // The recorded history replays against the same code.
    let replayer = HistoryReplayer::new(Registry::new().with_workflow::<Order>());
    assert!(replayer.replay_history("order-1", &history).is_ok());
}

#[test]
fn a_non_retryable_failure_fails_the_workflow_on_the_first_attempt() {
    let (result, calls, _, _) = run_order(2, |_| {
        MockActivity::of::<Charge>()
            .fails_non_retryable("CardDeclined", "insufficient funds")
            .returns("never")
    });
    let err = result.expect_err("the workflow fails");
    assert!(err.contains("CardDeclined"), "{err}");
    assert_eq!(calls.attempts(), [1]);
}

#[test]
fn histories_of_different_seeds_snapshot_alike() {
    let mock = |_: &Sim| {
        MockActivity::of::<Charge>()
            .fails_times(1, "GatewayDown", "try again")
            .returns(json!("chg"))
    };
    let (_, _, _, first) = run_order(11, mock);
    let (_, _, _, second) = run_order(12, mock);
    assert_ne!(
        first.run_id, second.run_id,
        "engine-chosen run ids differ by seed"
    );
    assert_eq!(history_snapshot(&first), history_snapshot(&second));
}
