//! Each scripted behaviour of `MockActivity`, one attempt at a time through `ActivityEnv`;
//! delays and stalls on the simulator's virtual clock.

use futures::FutureExt;
use futures::executor::block_on;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use warpflow_engine::env::{Clock, SharedClock};
use warpflow_engine::ids::{ActivityId, RunId, TaskQueue, WorkflowId};
use warpflow_engine::registry::ActivityDefinition;
use warpflow_engine::{Activity, ActivityCtx, ActivityError, ActivityInfo, Failure, Payload, Registry};
use warpflow_sim::{SIM_EPOCH, Sim, SimConfig};
use warpflow_testkit::{ActivityEnv, MockActivity, MockOutcome};

/// Runs attempt `attempt` of `mock` with `input` to completion (it must not wait).
fn attempt(mock: &MockActivity, attempt: u32, input: Payload) -> Result<Payload, ActivityError> {
    block_on(ActivityEnv::new().attempt(attempt).run_definition(mock, input))
}

fn failure(outcome: Result<Payload, ActivityError>) -> Failure {
    match outcome {
        Err(ActivityError::Application(f)) => f,
        other => panic!("expected an application failure, got {other:?}"),
    }
}

#[test]
fn returns_answers_every_attempt_and_calls_are_recorded() {
    let mock = MockActivity::new("charge_payment").returns(json!({"chargeId": "chg-1"}));
    let calls = mock.calls();
    for n in 1..=3 {
        assert_eq!(
            attempt(&mock, n, Payload::from(json!(format!("o-{n}")))),
            Ok(Payload::from(json!({"chargeId": "chg-1"})))
        );
    }
    assert_eq!(calls.count(), 3);
    assert_eq!(calls.attempts(), [1, 2, 3]);
    assert_eq!(
        calls.inputs::<String>(),
        Ok(vec!["o-1".into(), "o-2".into(), "o-3".into()])
    );
    let first = &calls.calls()[0];
    assert_eq!(first.workflow_id, WorkflowId::new("test-workflow"));
    assert_eq!(first.activity_id, ActivityId::new("1"));
    // Inputs of another type are a typed error, naming the call.
    let err = calls.inputs::<u64>().unwrap_err();
    assert!(err.to_string().contains("mock call 1"), "{err}");
}

#[test]
fn a_mock_returns_null_until_told_otherwise() {
    assert_eq!(
        attempt(&MockActivity::new("noop"), 1, Payload::null()),
        Ok(Payload::null())
    );
}

#[test]
fn returns_with_computes_the_result_from_input_and_context() {
    let mock = MockActivity::new("greet").returns_with(|input, ctx| {
        let name = input
            .as_str()
            .ok_or_else(|| ActivityError::non_retryable("BadInput", "not a string"))?;
        Ok(Payload::from(json!(format!(
            "hello {name} (attempt {})",
            ctx.attempt()
        ))))
    });
    assert_eq!(
        attempt(&mock, 2, Payload::from("ada")),
        Ok(Payload::from("hello ada (attempt 2)"))
    );
    assert_eq!(
        failure(attempt(&mock, 1, Payload::from(json!(7)))).error_type,
        "BadInput"
    );
}

#[test]
fn fails_times_fails_the_first_attempts_then_succeeds_with_the_return_value() {
    let mock = MockActivity::new("charge_payment")
        .fails_times(2, "GatewayDown", "the gateway is down")
        .returns("chg-1");
    for n in [1, 2] {
        let f = failure(attempt(&mock, n, Payload::from("o-1")));
        assert_eq!(
            (f.error_type.as_str(), f.message.as_str(), f.non_retryable),
            ("GatewayDown", "the gateway is down", false)
        );
    }
    assert_eq!(
        attempt(&mock, 3, Payload::from("o-1")),
        Ok(Payload::from("chg-1"))
    );
    assert_eq!(
        attempt(&mock, 4, Payload::from("o-1")),
        Ok(Payload::from("chg-1"))
    );
    // The script follows the attempt number, not the number of calls: a second activity
    // scheduled by the workflow fails its first attempts too.
    assert!(attempt(&mock, 1, Payload::from("o-2")).is_err());
    assert_eq!(mock.calls().attempts(), [1, 2, 3, 4, 1]);
}

#[test]
fn fails_non_retryable_fails_for_good() {
    let mock = MockActivity::new("charge_payment")
        .fails_non_retryable("CardDeclined", "insufficient funds")
        .returns("chg-1");
    let f = failure(attempt(&mock, 1, Payload::from("o-1")));
    assert_eq!(
        (f.error_type.as_str(), f.message.as_str(), f.non_retryable),
        ("CardDeclined", "insufficient funds", true)
    );
    assert_eq!(
        attempt(&mock, 2, Payload::from("o-1")),
        Ok(Payload::from("chg-1"))
    );
}

#[test]
fn times_out_waits_until_cancelled_then_returns_cancelled() {
    let sim = Sim::new(SimConfig::new(1));
    let mock = MockActivity::new("slow").times_out().returns("done");
    let env = ActivityEnv::new();

    // Nothing happens however long it waits.
    let waiting = env.clone();
    let stalled = mock.clone();
    let mut attempt_1 = Box::pin(async move { waiting.run_definition(&stalled, json!(null)).await });
    assert!((&mut attempt_1).now_or_never().is_none());

    let canceller = env.cancel_handle();
    let clock = sim.clock();
    sim.spawn("cancel after 10 minutes", async move {
        clock.sleep_until(SIM_EPOCH.plus(Duration::from_secs(600))).await;
        canceller.cancel();
    });
    let outcome = sim.run_until(attempt_1).expect("the simulation runs");
    assert_eq!(outcome, Err(ActivityError::Cancelled));
    assert_eq!(sim.elapsed(), Duration::from_secs(600));
    assert!(env.is_cancelled());
    // The next attempt is past the script: it succeeds.
    assert_eq!(
        block_on(env.next_attempt().run_definition(&mock, json!(null))),
        Ok(Payload::from("done"))
    );
}

#[test]
fn otherwise_times_out_times_out_every_attempt() {
    let mock = MockActivity::new("slow").otherwise(MockOutcome::TimeOut);
    for n in 1..=3 {
        let env = ActivityEnv::new().attempt(n);
        let mut running = Box::pin(env.run_definition(&mock, json!(null)));
        assert!((&mut running).now_or_never().is_none(), "attempt {n}");
        env.cancel();
        assert_eq!(block_on(running), Err(ActivityError::Cancelled));
    }
}

#[test]
fn completes_after_sleeps_on_the_given_clock() {
    let sim = Sim::new(SimConfig::new(7));
    let clock: SharedClock = sim.clock();
    let mock = MockActivity::new("ship")
        .completes_after(Duration::from_secs(90 * 60), clock)
        .returns("shipped");
    let env = ActivityEnv::new();
    let outcome = sim
        .run_until(async move { env.run_definition(&mock, json!("o-1")).await })
        .expect("the simulation runs");
    assert_eq!(outcome, Ok(Payload::from("shipped")));
    assert_eq!(sim.elapsed(), Duration::from_secs(90 * 60));
}

#[test]
fn completes_after_stops_when_cancelled_during_the_delay() {
    let sim = Sim::new(SimConfig::new(7));
    let mock = MockActivity::new("ship").completes_after(Duration::from_secs(3600), sim.clock());
    let env = ActivityEnv::new();
    let canceller = env.clone();
    let clock = sim.clock();
    sim.spawn("cancel", async move {
        clock.sleep_until(SIM_EPOCH.plus(Duration::from_secs(60))).await;
        canceller.cancel();
    });
    let outcome = sim
        .run_until(async move { env.run_definition(&mock, json!("o-1")).await })
        .expect("the simulation runs");
    assert_eq!(outcome, Err(ActivityError::Cancelled));
    assert_eq!(sim.elapsed(), Duration::from_secs(60));
}

#[test]
fn a_delay_without_a_clock_is_a_typed_error() {
    let mock = MockActivity::from_script("ship", vec![MockOutcome::CompleteAfter(Duration::from_secs(1))]);
    let f = failure(attempt(&mock, 1, Payload::null()));
    assert_eq!(f.error_type, "MockWithoutClock");
    assert!(f.non_retryable);
    assert!(f.message.contains("with_clock"), "{}", f.message);
}

#[test]
fn heartbeats_then_stalls_records_the_heartbeats_and_waits_for_cancellation() {
    let mock = MockActivity::new("upload").heartbeats_then_stalls(vec![
        Payload::from(json!({"chunk": 1})),
        Payload::from(json!({"chunk": 2})),
    ]);
    let env = ActivityEnv::new().heartbeat_timeout(Duration::from_secs(30));
    let mut running = Box::pin(env.run_definition(&mock, json!("file.bin")));
    assert!((&mut running).now_or_never().is_none());
    assert_eq!(env.heartbeats(), [json!({"chunk": 1}), json!({"chunk": 2})]);
    env.cancel();
    assert_eq!(block_on(running), Err(ActivityError::Cancelled));

    // The next attempt resumes from the last heartbeat, and is past the script.
    let next = env.next_attempt();
    let ctx = next.context("upload").expect("a context");
    assert_eq!(
        ctx.previous_heartbeat::<Payload>(),
        Ok(Some(Payload::from(json!({"chunk": 2}))))
    );
    assert_eq!(
        block_on(next.run_definition(&mock, json!("file.bin"))),
        Ok(Payload::null())
    );
}

#[test]
fn panics_is_reported_as_the_worker_reports_a_panic() {
    let mock = MockActivity::new("flaky")
        .panics("boom: unexpected response")
        .returns(1);
    let f = failure(attempt(&mock, 1, Payload::null()));
    assert_eq!(
        (f.error_type.as_str(), f.message.as_str(), f.non_retryable),
        ("ActivityPanic", "boom: unexpected response", false)
    );
    assert_eq!(attempt(&mock, 2, Payload::null()), Ok(Payload::from(json!(1))));
    // The panic poisons nothing: the calls are all there.
    assert_eq!(mock.calls().attempts(), [1, 2]);
}

#[test]
fn a_return_value_that_does_not_encode_fails_each_success() {
    let not_json: BTreeMap<(u8, u8), u8> = BTreeMap::from([((1, 2), 3)]);
    let mock = MockActivity::new("weird").returns(not_json);
    let f = failure(attempt(&mock, 1, Payload::null()));
    assert_eq!((f.error_type.as_str(), f.non_retryable), ("PayloadError", true));
    assert!(f.message.contains("mock activity `weird`"), "{}", f.message);
}

#[test]
fn then_and_from_script_play_outcomes_in_attempt_order() {
    let script = vec![
        MockOutcome::fail("Transient", "1"),
        MockOutcome::Succeed,
        MockOutcome::fail_non_retryable("Fatal", "3"),
    ];
    let mock = MockActivity::from_script("step", script.clone()).returns("ok");
    assert_eq!(mock.script(), &script[..]);
    assert_eq!(
        MockActivity::new("step").then(script[0].clone()).script(),
        &script[..1]
    );
    assert_eq!(
        failure(attempt(&mock, 1, Payload::null())).error_type,
        "Transient"
    );
    assert_eq!(attempt(&mock, 2, Payload::null()), Ok(Payload::from("ok")));
    assert_eq!(failure(attempt(&mock, 3, Payload::null())).error_type, "Fatal");
    assert_eq!(attempt(&mock, 4, Payload::null()), Ok(Payload::from("ok")));
    assert_eq!(mock.outcome_for(0), &script[0]);
    assert_eq!(mock.outcome_for(9), &MockOutcome::Succeed);
}

struct ChargePayment;
impl Activity for ChargePayment {
    const NAME: &'static str = "charge_payment";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: ActivityCtx, order: String) -> Result<String, ActivityError> {
        Ok(format!("real-{order}"))
    }
}

#[test]
fn a_registered_mock_replaces_the_activity_of_its_name() {
    let mut registry = Registry::new().with_activity(ChargePayment);
    let calls = MockActivity::of::<ChargePayment>()
        .returns("mocked")
        .register(&mut registry);
    assert_eq!(registry.activity_types(), ["charge_payment"]);
    let definition: Arc<dyn ActivityDefinition> = registry.activity("charge_payment").expect("registered");
    let info = ActivityInfo {
        workflow_id: WorkflowId::new("order-7"),
        run_id: RunId::new("run-1"),
        workflow_type: "order".into(),
        activity_id: ActivityId::new("3"),
        activity_type: "charge_payment".into(),
        task_queue: TaskQueue::new("default"),
        attempt: 2,
        scheduled_time: SIM_EPOCH,
        started_time: SIM_EPOCH,
        heartbeat_timeout: None,
    };
    let env = ActivityEnv::new().info(info);
    assert_eq!(
        block_on(env.run_definition(definition.as_ref(), "o-7")),
        Ok(Payload::from("mocked"))
    );
    let call = &calls.calls()[0];
    assert_eq!(
        (call.attempt, call.workflow_id.as_str(), call.activity_id.as_str()),
        (2, "order-7", "3")
    );
    assert_eq!(calls.count(), 1);
}
