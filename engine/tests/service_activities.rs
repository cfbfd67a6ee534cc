//! Activity timeouts and heartbeats, cancellation of a running attempt, queries, limits, and
//! crashes of the worker and of the engine — through the service, on a manual clock.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::engine_harness::{Harness, ManualClock, assert_replays, count};
use support::workflows::{Chain, Echo, Step, ten_seconds, w1_script};
use warpflow_engine::history::{EventAttributes as E, validate};
use warpflow_engine::limits::{HISTORY_EVENTS_MAX, PAYLOAD_BYTES_MAX};
use warpflow_engine::service::api::RunOutcome;
use warpflow_engine::service::{Request, Response, ServiceError};
use warpflow_engine::storage::RunStatus;
use warpflow_engine::workflow::{Query, Workflow, WorkflowCtx};
use warpflow_engine::{ActivityError, Payload, Registry, RetryPolicy, WorkflowId, WorkflowResult};

fn heartbeat(
    h: &Harness,
    token: &warpflow_engine::service::api::ActivityTaskToken,
    details: Payload,
) -> Result<bool, ServiceError> {
    match h.call(Request::Heartbeat {
        token: token.clone(),
        details,
    })? {
        Response::HeartbeatAck { cancel_requested } => Ok(cancel_requested),
        other => panic!("{other:?}"),
    }
}

/// One long activity with a heartbeat timeout, retried up to three times.
struct Dataset;
impl Workflow for Dataset {
    const NAME: &'static str = "dataset";
    type Input = ();
    type Output = String;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<String> {
        let policy = RetryPolicy::default().with_maximum_attempts(3);
        let call = ctx
            .activity::<Echo>("records".into())
            .start_to_close(Duration::from_secs(3600))
            .heartbeat_timeout(Duration::from_secs(5))
            .retry(policy);
        Ok(call.await?)
    }
}

#[test]
fn a_silent_attempt_times_out_on_heartbeat_and_the_next_attempt_gets_its_last_details() {
    let registry = Registry::new().with_workflow::<Dataset>();
    let mut h = Harness::new(registry.clone());
    h.start("dataset", "ds-1", Payload::null()).expect("started");
    h.run_workflow_tasks();
    let first = h.next_activity().expect("attempt 1");
    assert_eq!(first.previous_heartbeat, None);
    for progress in [100, 200] {
        h.advance(Duration::from_secs(4));
        assert!(
            !heartbeat(&h, &first.token, Payload::from(json!({ "done": progress })))
                .expect("heartbeat accepted")
        );
    }
    // The worker dies: no heartbeat for 5 s.
    h.advance(Duration::from_secs(5));
    assert!(matches!(
        heartbeat(&h, &first.token, Payload::from(json!({}))),
        Err(ServiceError::StaleTask(_))
    ));
    h.advance(Duration::from_secs(1));
    let second = h
        .next_activity()
        .expect("attempt 2 after the heartbeat timeout and 1 s backoff");
    assert_eq!(second.token.attempt, 2);
    assert_eq!(
        second.previous_heartbeat,
        Some(Payload::from(json!({ "done": 200 }))),
        "resumes from the last heartbeat"
    );
    h.complete_activity(&second, Ok(Payload::from("resumed at 200")))
        .expect("accepted");
    h.run_workflow_tasks();
    assert_eq!(
        h.outcome("ds-1"),
        Some(RunOutcome::Completed(Payload::from("resumed at 200")))
    );
    assert_replays(&registry, &h.history("ds-1", None));
}

/// Starts an activity, and cancels it after ten seconds.
struct Impatient;
impl Workflow for Impatient {
    const NAME: &'static str = "impatient";
    type Input = ();
    type Output = String;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<String> {
        let work = ctx
            .activity::<Echo>("slow".into())
            .start_to_close(Duration::from_secs(3600))
            .start();
        ctx.sleep(Duration::from_secs(10)).await;
        work.cancel();
        Ok(format!("{:?}", work.await))
    }
}

#[test]
fn cancelling_a_running_activity_reaches_its_attempt_through_heartbeats() {
    let registry = Registry::new().with_workflow::<Impatient>();
    let mut h = Harness::new(registry.clone());
    h.start("impatient", "imp-1", Payload::null()).expect("started");
    h.run_workflow_tasks();
    let attempt = h.next_activity().expect("attempt 1");
    assert!(!heartbeat(&h, &attempt.token, Payload::from(json!(1))).expect("accepted"));
    h.advance(Duration::from_secs(10));
    h.run_workflow_tasks();
    assert_eq!(
        h.outcome("imp-1"),
        Some(RunOutcome::Completed(Payload::from("Err(Cancelled)")))
    );
    let history = h.history("imp-1", None);
    assert_eq!(count(&history, "ActivityTaskCancelRequested"), 1);
    assert_replays(&registry, &history);
}

#[test]
fn a_cancel_request_reaches_a_running_attempt_that_then_acknowledges_it() {
    struct Waits;
    impl Workflow for Waits {
        const NAME: &'static str = "waits";
        type Input = ();
        type Output = String;
        async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<String> {
            let work = ctx
                .activity::<Echo>("slow".into())
                .start_to_close(Duration::from_secs(3600))
                .start();
            ctx.sleep(Duration::from_secs(10)).await;
            work.cancel();
            // Keep the run open so the attempt's acknowledgement lands in its history.
            ctx.sleep(Duration::from_secs(60)).await;
            Ok(format!("{:?}", work.await))
        }
    }
    let registry = Registry::new().with_workflow::<Waits>();
    let mut h = Harness::new(registry.clone());
    h.start("waits", "w-1", Payload::null()).expect("started");
    h.run_workflow_tasks();
    let attempt = h.next_activity().expect("attempt 1");
    h.advance(Duration::from_secs(10));
    h.run_workflow_tasks();
    assert!(
        heartbeat(&h, &attempt.token, Payload::from(json!(2))).expect("accepted"),
        "the attempt hears of the cancellation"
    );
    h.complete_activity(&attempt, Err(ActivityError::Cancelled))
        .expect("accepted");
    h.run_workflow_tasks();
    h.advance(Duration::from_secs(60));
    h.run_workflow_tasks();
    let history = h.history("w-1", None);
    assert_eq!(
        count(&history, "ActivityTaskCanceled"),
        1,
        "{}",
        history.render_timeline()
    );
    assert_eq!(
        h.outcome("w-1"),
        Some(RunOutcome::Completed(Payload::from("Err(Cancelled)")))
    );
    assert_replays(&registry, &history);
}

/// An activity with schedule-to-start and schedule-to-close timeouts.
struct Budgeted;
impl Workflow for Budgeted {
    const NAME: &'static str = "budgeted";
    type Input = (u64, u64);
    type Output = String;
    async fn run(ctx: WorkflowCtx, (to_start, to_close): (u64, u64)) -> WorkflowResult<String> {
        let mut call = ctx.activity::<Step>(1).start_to_close(ten_seconds());
        if to_start > 0 {
            call = call.schedule_to_start(Duration::from_secs(to_start));
        }
        if to_close > 0 {
            call = call.schedule_to_close(Duration::from_secs(to_close));
        }
        Ok(format!("{:?}", call.await))
    }
}

#[test]
fn schedule_to_start_times_out_when_no_worker_takes_the_task() {
    let registry = Registry::new().with_workflow::<Budgeted>();
    let mut h = Harness::new(registry.clone());
    h.start("budgeted", "b-1", Payload::from(json!([5, 0])))
        .expect("started");
    h.run_workflow_tasks();
    h.advance(Duration::from_secs(5));
    h.run_workflow_tasks();
    assert_eq!(
        h.outcome("b-1"),
        Some(RunOutcome::Completed(Payload::from(json!(
            "Err(TimedOut(ScheduleToStart))"
        ))))
    );
    assert!(
        h.next_activity().is_none(),
        "the timed-out task is gone from the queue"
    );
    assert_replays(&registry, &h.history("b-1", None));
}

#[test]
fn schedule_to_close_bounds_all_attempts_together() {
    let registry = Registry::new().with_workflow::<Budgeted>();
    let mut h = Harness::new(registry.clone());
    h.start("budgeted", "b-2", Payload::from(json!([0, 25])))
        .expect("started");
    h.run_workflow_tasks();
    // Attempts time out at 10 s; retries after 1 s and 2 s; the budget ends at 25 s.
    let mut attempts = 0;
    for _ in 0..10 {
        if let Some(task) = h.next_activity() {
            attempts = task.token.attempt;
        }
        h.advance(Duration::from_secs(1));
    }
    for _ in 0..20 {
        if let Some(task) = h.next_activity() {
            attempts = task.token.attempt;
        }
        h.advance(Duration::from_secs(1));
    }
    h.run_workflow_tasks();
    assert_eq!(attempts, 3);
    let Some(RunOutcome::Completed(result)) = h.outcome("b-2") else {
        panic!("{:?}", h.outcome("b-2"))
    };
    assert!(
        result.as_str().is_some_and(|r| r.contains("TimedOut")),
        "{result}"
    );
    assert_replays(&registry, &h.history("b-2", None));
}

struct Progress;
impl Query for Progress {
    const NAME: &'static str = "progress";
    type Args = String;
    type Output = String;
}

struct Reports;
impl Workflow for Reports {
    const NAME: &'static str = "reports";
    type Input = u64;
    type Output = u64;
    async fn run(ctx: WorkflowCtx, n: u64) -> WorkflowResult<u64> {
        let done = std::rc::Rc::new(std::cell::Cell::new(0));
        let d = done.clone();
        ctx.on_query::<Progress>(move |prefix| format!("{prefix}{}", d.get()));
        for i in 0..n {
            ctx.activity::<Step>(i).start_to_close(ten_seconds()).await?;
            done.set(i + 1);
        }
        Ok(done.get())
    }
}

#[test]
fn queries_are_answered_from_the_workflows_state_cached_or_replayed() {
    let registry = Registry::new().with_workflow::<Reports>();
    let mut h = Harness::new(registry.clone());
    h.start("reports", "r-1", Payload::from(json!(3)))
        .expect("started");
    h.run_workflow_tasks();
    let task = h.next_activity().expect("step 0");
    h.complete_activity(&task, Ok(Payload::from(json!(1))))
        .expect("accepted");
    h.run_workflow_tasks();
    assert_eq!(
        h.query("r-1", "progress", Payload::from("done: ")),
        Ok(Payload::from("done: 1"))
    );
    h.evict_all();
    assert_eq!(
        h.query("r-1", "progress", Payload::from("after a restart: ")),
        Ok(Payload::from("after a restart: 1"))
    );
    let err = h
        .query("r-1", "nope", Payload::null())
        .expect_err("unknown query");
    assert!(err.to_string().contains("unknown query `nope`"), "{err}");
    let before = h.history("r-1", None);
    h.query("r-1", "progress", Payload::from("")).expect("answered");
    assert_eq!(h.history("r-1", None), before, "queries change nothing");
}

#[test]
fn oversized_payloads_are_refused_with_a_typed_error() {
    let registry = Registry::new().with_workflow::<Chain>();
    let mut h = Harness::new(registry);
    let big = Payload::from(json!("x".repeat(PAYLOAD_BYTES_MAX + 1)));
    assert!(matches!(
        h.start("chain", "big-1", big.clone()),
        Err(ServiceError::Payload(_))
    ));
    assert!(
        matches!(
            h.call(Request::Describe {
                workflow_id: WorkflowId::new("big-1"),
                run_id: None
            }),
            Err(ServiceError::WorkflowNotFound { .. })
        ),
        "nothing was created"
    );
    h.start("chain", "big-2", Payload::from(json!(1)))
        .expect("started");
    let err = h.signal("big-2", "s", big).expect_err("oversized signal");
    assert!(err.to_string().contains("over the limit"), "{err}");
}

/// Schedules `n` activities at once.
struct Fanout;
impl Workflow for Fanout {
    const NAME: &'static str = "fanout";
    type Input = u64;
    type Output = u64;
    async fn run(ctx: WorkflowCtx, n: u64) -> WorkflowResult<u64> {
        let calls = (0..n).map(|i| ctx.activity::<Step>(i).start_to_close(ten_seconds()).start());
        let results = warpflow_engine::workflow::future::join_all(calls).await;
        Ok(results.into_iter().filter(Result::is_ok).count() as u64)
    }
}

#[test]
fn too_many_pending_activities_fail_the_workflow_task_with_the_limit() {
    let registry = Registry::new().with_workflow::<Fanout>();
    let mut h = Harness::new(registry);
    h.start("fanout", "fan-1", Payload::from(json!(2001)))
        .expect("started");
    let (token, commands) = h.take_workflow_task().expect("first task");
    let err = h
        .finish_workflow_task(token, commands)
        .expect_err("over the limit");
    assert!(err.to_string().contains("2000 pending activities"), "{err}");
    let history = h.history("fan-1", None);
    assert!(
        matches!(
            history.events.last().map(|e| &e.attributes),
            Some(E::WorkflowTaskScheduled { attempt: 2, .. })
        ),
        "the failed task is recorded and retried: {}",
        history.render_timeline()
    );
    assert_eq!(count(&history, "ActivityTaskScheduled"), 0);
}

/// Sleeps one second, forever.
struct Forever;
impl Workflow for Forever {
    const NAME: &'static str = "forever";
    type Input = ();
    type Output = ();
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<()> {
        loop {
            ctx.sleep(Duration::from_secs(1)).await;
        }
    }
}

#[test]
fn a_run_whose_history_reaches_the_limit_is_terminated() {
    let registry = Registry::new().with_workflow::<Forever>();
    let mut h = Harness::new(registry);
    h.start("forever", "f-1", Payload::null()).expect("started");
    loop {
        h.run_workflow_tasks();
        if h.outcome("f-1").is_some() {
            break;
        }
        h.advance(Duration::from_secs(1));
    }
    let Some(RunOutcome::Terminated(reason)) = h.outcome("f-1") else {
        panic!("{:?}", h.outcome("f-1"))
    };
    assert!(reason.contains("history length limit"), "{reason}");
    let history = h.history("f-1", None);
    assert!(history.events.len() >= HISTORY_EVENTS_MAX && history.events.len() < HISTORY_EVENTS_MAX + 10);
    validate(&history).expect("well formed");
}

#[test]
fn a_worker_dying_with_a_workflow_task_and_an_activity_in_flight_loses_nothing() {
    let registry = Registry::new().with_workflow::<Chain>();
    let mut h = Harness::new(registry.clone());
    h.start("chain", "c-1", Payload::from(json!(2))).expect("started");
    // The first worker takes the workflow task and dies.
    let _lost = h.take_workflow_task().expect("task taken");
    h.evict_all();
    h.advance(Duration::from_secs(10));
    h.run_workflow_tasks();
    // The next worker takes the activity and dies too.
    let _lost = h.next_activity().expect("attempt 1 taken");
    h.advance(Duration::from_secs(10));
    h.advance(Duration::from_secs(1));
    h.run_until_quiet(|t| w1_script(&t.activity_type, &t.input).map_err(ActivityError::Application));
    assert_eq!(
        h.outcome("c-1"),
        Some(RunOutcome::Completed(Payload::from(json!(3))))
    );
    let history = h.history("c-1", None);
    assert_eq!(count(&history, "ActivityTaskScheduled"), 2);
    assert_eq!(
        count(&history, "ActivityTaskCompleted"),
        2,
        "each step recorded once"
    );
    let attempts: Vec<_> = history
        .events
        .iter()
        .filter_map(|e| match e.attributes {
            E::ActivityTaskStarted { attempt, .. } => Some(attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [2, 1], "the first step was retried once");
    assert_replays(&registry, &history);
}

#[test]
fn an_engine_restarted_on_its_storage_carries_the_run_to_completion() {
    let registry = Registry::new().with_workflow::<Chain>();
    let clock = Arc::new(ManualClock::default());
    let storage = warpflow_engine::storage::MemoryStorage::new();
    let mut h = Harness::on(storage.clone(), registry.clone(), clock.clone());
    h.start("chain", "c-2", Payload::from(json!(3))).expect("started");
    h.run_workflow_tasks();
    let task = h.next_activity().expect("attempt 1");
    h.complete_activity(&task, Ok(Payload::from(json!(1))))
        .expect("accepted");
    drop(h); // The engine and its worker crash; storage keeps what was committed.
    let mut h = Harness::on(storage, registry.clone(), clock);
    h.run_until_quiet(|t| w1_script(&t.activity_type, &t.input).map_err(ActivityError::Application));
    assert_eq!(
        h.outcome("c-2"),
        Some(RunOutcome::Completed(Payload::from(json!(6))))
    );
    let history = h.history("c-2", None);
    assert_eq!(count(&history, "ActivityTaskCompleted"), 3);
    assert_replays(&registry, &history);
    let status = match h.call(Request::ListRuns { workflow_id: None }) {
        Ok(Response::Runs(runs)) => runs.iter().map(|r| r.status).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(status, [RunStatus::Completed]);
}
