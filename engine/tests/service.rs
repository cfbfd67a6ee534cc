//! The engine service end to end, step by step on a manual clock: the harness plays the
//! worker, so each test controls exactly when tasks run, time passes and things fail.

mod support;

use serde_json::json;
use std::time::Duration;
use support::engine_harness::Harness;
use support::workflows::{Chain, Order, Step, ten_seconds};
use warpflow_engine::history::{EventAttributes as E, validate};
use warpflow_engine::service::api::{IdReusePolicy, RunOutcome, StartWorkflow};
use warpflow_engine::service::{Request, Response, ServiceError};
use warpflow_engine::storage::RequestId;
use warpflow_engine::workflow::{Workflow, WorkflowCtx};
use warpflow_engine::{
    ActivityError, History, Payload, Registry, Replayer, RetryPolicy, WorkflowId, WorkflowResult,
};

fn w1(task: &warpflow_engine::service::api::ActivityTask) -> Result<Payload, ActivityError> {
    support::workflows::w1_script(&task.activity_type, &task.input).map_err(ActivityError::Application)
}

fn outcome(h: &Harness, workflow_id: &str) -> Option<RunOutcome> {
    match h.call(Request::Describe {
        workflow_id: WorkflowId::new(workflow_id),
        run_id: None,
    }) {
        Ok(Response::Description(d)) => d.outcome,
        other => panic!("{other:?}"),
    }
}

fn types(history: &History) -> Vec<&'static str> {
    history.events.iter().map(|e| e.attributes.event_type()).collect()
}

fn assert_replays(registry: Registry, history: &History) {
    validate(history).unwrap_or_else(|e| panic!("invalid history: {e}\n{}", history.render_timeline()));
    Replayer::new(registry)
        .check(history)
        .unwrap_or_else(|e| panic!("does not replay: {e}\n{}", history.render_timeline()));
}

#[test]
fn an_order_waits_24_hours_then_compensates() {
    let registry = Registry::new().with_workflow::<Order>();
    let mut h = Harness::new(registry.clone());
    h.start("order", "order-1", Payload::from(json!(["o-1", 24])))
        .expect("started");
    h.run_until_quiet(w1);
    assert_eq!(outcome(&h, "order-1"), None, "waiting for approval");
    assert_eq!(
        h.advance(Duration::from_secs(24 * 3600 - 1)),
        0,
        "nothing due before 24 h"
    );
    assert_eq!(
        h.advance(Duration::from_secs(1)),
        1,
        "the approval timer fires at 24 h"
    );
    h.run_until_quiet(w1);
    assert_eq!(
        outcome(&h, "order-1"),
        Some(RunOutcome::Completed(Payload::from("fraud_timeout")))
    );
    assert_replays(registry, &h.history("order-1", None));
}

#[test]
fn a_signal_approves_the_order_and_cancels_its_timer() {
    let registry = Registry::new().with_workflow::<Order>();
    let mut h = Harness::new(registry.clone());
    h.start("order", "order-2", Payload::from(json!(["o-2", 24])))
        .expect("started");
    h.run_until_quiet(w1);
    h.advance(Duration::from_secs(3600));
    let request_id = h.request_id();
    let signal = Request::Signal {
        request_id: request_id.clone(),
        workflow_id: WorkflowId::new("order-2"),
        run_id: None,
        name: "approve".into(),
        input: Payload::from(json!(true)),
    };
    h.call(signal.clone()).expect("signalled");
    h.call(signal).expect("a retried signal is acknowledged");
    h.run_until_quiet(w1);
    assert_eq!(
        outcome(&h, "order-2"),
        Some(RunOutcome::Completed(Payload::from("approved")))
    );
    let history = h.history("order-2", None);
    let signals = types(&history)
        .iter()
        .filter(|t| **t == "WorkflowExecutionSignaled")
        .count();
    assert_eq!(signals, 1, "the retried signal was delivered once");
    assert!(types(&history).contains(&"TimerCanceled"));
    assert_eq!(
        h.advance(Duration::from_secs(48 * 3600)),
        0,
        "the cancelled timer never fires"
    );
    assert_replays(registry, &history);
}

struct Flaky;
impl Workflow for Flaky {
    const NAME: &'static str = "flaky";
    type Input = u32;
    type Output = u64;
    async fn run(ctx: WorkflowCtx, attempts: u32) -> WorkflowResult<u64> {
        let policy = RetryPolicy::default().with_maximum_attempts(attempts);
        Ok(ctx
            .activity::<Step>(1)
            .start_to_close(ten_seconds())
            .retry(policy)
            .await?)
    }
}

#[test]
fn retries_follow_the_backoff_exactly_and_only_the_last_attempt_is_recorded() {
    let registry = Registry::new().with_workflow::<Flaky>();
    let mut h = Harness::new(registry.clone());
    h.start("flaky", "flaky-1", Payload::from(json!(5)))
        .expect("started");
    h.run_workflow_tasks();
    let started = h.now();
    let mut attempts = Vec::new();
    for delay_s in [0u64, 1, 2, 4] {
        if delay_s > 0 {
            h.advance(Duration::from_millis(delay_s * 1000 - 1));
            assert!(
                h.next_activity().is_none(),
                "attempt not visible before its backoff of {delay_s}s"
            );
            h.advance(Duration::from_millis(1));
        }
        let task = h.next_activity().expect("attempt available after its backoff");
        attempts.push((task.token.attempt, task.started_time.since(started)));
        let outcome = if task.token.attempt < 4 {
            Err(ActivityError::retryable(
                "Flaky",
                format!("attempt {}", task.token.attempt),
            ))
        } else {
            Ok(Payload::from(json!(2)))
        };
        h.complete_activity(&task, outcome).expect("accepted");
    }
    assert_eq!(
        attempts,
        [
            (1, Duration::ZERO),
            (2, Duration::from_secs(1)),
            (3, Duration::from_secs(3)),
            (4, Duration::from_secs(7))
        ]
    );
    h.run_workflow_tasks();
    assert_eq!(
        outcome(&h, "flaky-1"),
        Some(RunOutcome::Completed(Payload::from(json!(2))))
    );
    let history = h.history("flaky-1", None);
    let started: Vec<_> = history
        .events
        .iter()
        .filter_map(|e| match e.attributes {
            E::ActivityTaskStarted { attempt, .. } => Some(attempt),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        [4],
        "attempts are not history events; the final one carries its number"
    );
    assert_replays(registry, &history);
}

#[test]
fn a_non_retryable_error_and_exhausted_attempts_fail_the_activity() {
    let registry = Registry::new().with_workflow::<Flaky>();
    let mut h = Harness::new(registry.clone());
    h.start("flaky", "flaky-2", Payload::from(json!(2)))
        .expect("started");
    h.run_workflow_tasks();
    let task = h.next_activity().expect("attempt 1");
    h.complete_activity(&task, Err(ActivityError::retryable("Flaky", "1")))
        .expect("accepted");
    h.advance(Duration::from_secs(1));
    let task = h.next_activity().expect("attempt 2");
    h.complete_activity(&task, Err(ActivityError::retryable("Flaky", "2")))
        .expect("accepted");
    h.run_workflow_tasks();
    let Some(RunOutcome::Failed(failure)) = outcome(&h, "flaky-2") else {
        panic!("{:?}", outcome(&h, "flaky-2"))
    };
    assert_eq!(
        (failure.error_type.as_str(), failure.message.as_str()),
        ("Flaky", "2")
    );
    assert_replays(registry.clone(), &h.history("flaky-2", None));

    h.start("flaky", "flaky-3", Payload::from(json!(10)))
        .expect("started");
    h.run_workflow_tasks();
    let task = h.next_activity().expect("attempt 1");
    h.complete_activity(&task, Err(ActivityError::non_retryable("CardDeclined", "no")))
        .expect("accepted");
    h.run_workflow_tasks();
    assert!(matches!(outcome(&h, "flaky-3"), Some(RunOutcome::Failed(f)) if f.error_type == "CardDeclined"));
}

#[test]
fn a_start_to_close_timeout_retries_and_the_late_result_is_rejected_without_changing_history() {
    let registry = Registry::new().with_workflow::<Flaky>();
    let mut h = Harness::new(registry.clone());
    h.start("flaky", "slow-1", Payload::from(json!(0)))
        .expect("started");
    h.run_workflow_tasks();
    let first = h.next_activity().expect("attempt 1");
    h.advance(Duration::from_secs(10));
    let before = h.history("slow-1", None);
    let late = h.complete_activity(&first, Ok(Payload::from(json!(99))));
    assert!(matches!(late, Err(ServiceError::StaleTask(_))), "{late:?}");
    assert_eq!(
        h.history("slow-1", None),
        before,
        "a late completion changes nothing"
    );
    h.advance(Duration::from_secs(1));
    let second = h
        .next_activity()
        .expect("attempt 2 after the timeout and 1 s backoff");
    assert_eq!(second.token.attempt, 2);
    h.complete_activity(&second, Ok(Payload::from(json!(2))))
        .expect("accepted");
    assert!(
        matches!(
            h.complete_activity(&second, Ok(Payload::from(json!(3)))),
            Err(ServiceError::StaleTask(_))
        ),
        "duplicate"
    );
    h.run_workflow_tasks();
    assert_eq!(
        outcome(&h, "slow-1"),
        Some(RunOutcome::Completed(Payload::from(json!(2))))
    );
    assert_replays(registry, &h.history("slow-1", None));
}

#[test]
fn starts_are_deduplicated_by_request_id_and_ids_are_unique_among_running_runs() {
    let registry = Registry::new().with_workflow::<Chain>();
    let mut h = Harness::new(registry);
    let queue = h.queue.clone();
    let start = |request: &str, policy| StartWorkflow {
        request_id: RequestId(request.into()),
        workflow_id: WorkflowId::new("chain-1"),
        workflow_type: "chain".into(),
        task_queue: queue.clone(),
        input: Payload::from(json!(1)),
        id_reuse_policy: policy,
        workflow_task_timeout: None,
        signal: None,
    };
    let first = start("a", IdReusePolicy::AllowDuplicate);
    let rejected = start("b", IdReusePolicy::AllowDuplicate);
    let terminate = start("c", IdReusePolicy::TerminateIfRunning);
    let run = h.start_with(first.clone()).expect("started");
    assert_eq!(
        h.start_with(first).expect("retried start"),
        run,
        "same request id, same run"
    );
    assert!(matches!(
        h.start_with(rejected),
        Err(ServiceError::AlreadyStarted { .. })
    ));
    let replacement = h
        .start_with(terminate)
        .expect("terminate-if-running starts a new run");
    assert_ne!(replacement, run);
    let old = h.history("chain-1", Some(&run));
    assert!(matches!(
        old.events.last().map(|e| &e.attributes),
        Some(E::WorkflowExecutionTerminated { .. })
    ));
    h.run_until_quiet(w1);
    assert_eq!(
        outcome(&h, "chain-1"),
        Some(RunOutcome::Completed(Payload::from(json!(1))))
    );
    let again = |policy, id: &str| StartWorkflow {
        request_id: RequestId(id.into()),
        ..start("x", policy)
    };
    assert!(matches!(
        h.start_with(again(IdReusePolicy::RejectDuplicate, "d")),
        Err(ServiceError::AlreadyStarted { .. })
    ));
    assert!(matches!(
        h.start_with(again(IdReusePolicy::AllowDuplicateFailedOnly, "e")),
        Err(ServiceError::AlreadyStarted { .. })
    ));
    assert!(h.start_with(again(IdReusePolicy::AllowDuplicate, "f")).is_ok());
}

#[test]
fn a_workflow_task_that_times_out_is_dispatched_again() {
    let registry = Registry::new().with_workflow::<Chain>();
    let mut h = Harness::new(registry.clone());
    h.start("chain", "chain-2", Payload::from(json!(2)))
        .expect("started");
    // A worker takes the task and dies.
    let taken = h.call(Request::PollWorkflowTask {
        task_queue: h.queue.clone(),
        identity: "doomed".into(),
        workflow_types: Vec::new(),
    });
    assert!(matches!(
        taken,
        Ok(Response::WorkflowPoll(
            warpflow_engine::service::api::WorkflowPoll::Task(_)
        ))
    ));
    assert_eq!(h.run_workflow_tasks(), 0, "the task is taken");
    h.advance(Duration::from_secs(10));
    h.run_until_quiet(w1);
    assert_eq!(
        outcome(&h, "chain-2"),
        Some(RunOutcome::Completed(Payload::from(json!(3))))
    );
    let history = h.history("chain-2", None);
    assert!(types(&history).contains(&"WorkflowTaskTimedOut"));
    assert_replays(registry, &history);
}
