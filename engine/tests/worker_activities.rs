//! The worker's activity side against a scripted fake transport: results, unknown types,
//! panics, heartbeats with cancellation, graceful shutdown; and how polls handle errors.

mod fake;

use fake::harness::{EPOCH, Echo, Greet, count, run_key, run_until, worker};
use fake::{FakeTransport, LONG_POLL, Reply, Script};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::task::LocalSet;
use warpflow_engine::Payload;
use warpflow_engine::service::api::{ActivityTask, ActivityTaskToken, WorkflowPoll};
use warpflow_engine::service::{Request, Response, ServiceError};
use warpflow_engine::worker::CancellationToken;
use warpflow_engine::{Activity, ActivityCtx, ActivityError, EventId, Registry};

struct Panicky;
impl Activity for Panicky {
    const NAME: &'static str = "panicky";
    type Input = ();
    type Output = ();
    async fn run(&self, _ctx: ActivityCtx, _input: ()) -> Result<(), ActivityError> {
        panic!("the card reader caught fire")
    }
}

/// Heartbeats once, then waits to be cancelled.
struct Heartbeater;
impl Activity for Heartbeater {
    const NAME: &'static str = "heartbeater";
    type Input = ();
    type Output = String;
    async fn run(&self, ctx: ActivityCtx, _input: ()) -> Result<String, ActivityError> {
        ctx.heartbeat(&json!({"done": 3}))
            .map_err(|e| ActivityError::retryable("Payload", e.to_string()))?;
        ctx.cancelled().await;
        if ctx.is_cancelled() {
            Err(ActivityError::Cancelled)
        } else {
            Ok("not cancelled".into())
        }
    }
}

/// Takes a minute (of tokio's paused time), and says when it started.
/// Takes a minute; with `.1` set it stops early when asked to.
struct Slow(Arc<AtomicBool>, bool);
impl Activity for Slow {
    const NAME: &'static str = "slow";
    type Input = ();
    type Output = String;
    async fn run(&self, ctx: ActivityCtx, _input: ()) -> Result<String, ActivityError> {
        self.0.store(true, Ordering::SeqCst);
        let minute = tokio::time::sleep(Duration::from_secs(60));
        if self.1 {
            tokio::select! {
                () = minute => {}
                () = ctx.cancelled() => return Err(ActivityError::Cancelled),
            }
        } else {
            minute.await;
        }
        Ok("finally".into())
    }
}

fn registry() -> Registry {
    Registry::new()
        .with_workflow::<Greet>()
        .with_activity(Echo)
        .with_activity(Panicky)
        .with_activity(Heartbeater)
}

fn activity_task(activity_type: &str, input: serde_json::Value) -> ActivityTask {
    let input = Payload::from(input);
    ActivityTask {
        token: ActivityTaskToken {
            run: run_key("wf-1"),
            scheduled_event_id: EventId(5),
            attempt: 2,
        },
        workflow_type: "greet".into(),
        activity_id: "1".into(),
        activity_type: activity_type.into(),
        input,
        task_queue: "default".into(),
        scheduled_time: EPOCH,
        started_time: EPOCH,
        heartbeat_timeout: None,
        previous_heartbeat: None,
    }
}

fn outcomes(request: &Request) -> Option<Result<Payload, ActivityError>> {
    match request {
        Request::CompleteActivityTask { outcome, .. } => Some(outcome.clone()),
        _ => None,
    }
}

async fn run_one_activity(task: ActivityTask, cancel_on_heartbeat: bool) -> Arc<FakeTransport> {
    let mut script = Script {
        cancel_on_heartbeat,
        ..Script::default()
    };
    script.activity_tasks.push_back(task);
    let fake = FakeTransport::scripted(script);
    let result = run_until(
        worker(fake.clone(), registry(), 10),
        &fake,
        "the attempt completed",
        |r| count(r, |r| matches!(r, Request::CompleteActivityTask { .. })) == 1,
    )
    .await;
    assert_eq!(result, Ok(()));
    fake
}

#[tokio::test(start_paused = true)]
async fn an_activity_attempt_reports_its_result() {
    let fake = run_one_activity(activity_task("echo", json!("Ada")), false).await;
    assert_eq!(fake.picked(outcomes), [Ok(Payload::from("Ada"))]);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_activity_type_fails_for_good() {
    let fake = run_one_activity(activity_task("no_such_activity", json!(null)), false).await;
    let outcome = fake.picked(outcomes).remove(0);
    let Err(ActivityError::Application(failure)) = outcome else {
        panic!("expected an application failure, got {outcome:?}");
    };
    assert_eq!(failure.error_type, "UnknownActivityType");
    assert!(failure.non_retryable);
    assert!(
        failure.message.contains("no_such_activity"),
        "{}",
        failure.message
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_activity_fails_the_attempt_retryably() {
    let fake = run_one_activity(activity_task("panicky", json!(null)), false).await;
    let outcome = fake.picked(outcomes).remove(0);
    let Err(ActivityError::Application(failure)) = outcome else {
        panic!("expected an application failure, got {outcome:?}");
    };
    assert_eq!(failure.error_type, "ActivityPanic");
    assert!(!failure.non_retryable);
    assert_eq!(failure.message, "the card reader caught fire");
}

#[tokio::test(start_paused = true)]
async fn heartbeats_are_forwarded_and_a_cancel_request_reaches_the_activity() {
    let fake = run_one_activity(activity_task("heartbeater", json!(null)), true).await;
    let heartbeats = fake.picked(|r| match r {
        Request::Heartbeat { token, details } => Some((token.attempt, details.clone())),
        _ => None,
    });
    assert_eq!(heartbeats, [(2, Payload::from(json!({"done": 3})))]);
    assert_eq!(fake.picked(outcomes), [Err(ActivityError::Cancelled)]);
}

/// Starts one "slow" attempt, shuts the worker down once it runs, and returns what was
/// reported and how long `run` took.
async fn shut_down_during_a_slow_attempt(stops_when_asked: bool) -> (Arc<FakeTransport>, Duration) {
    let started = Arc::new(AtomicBool::new(false));
    let mut script = Script::default();
    script
        .activity_tasks
        .push_back(activity_task("slow", json!(null)));
    let fake = FakeTransport::scripted(script);
    let registry = Registry::new().with_activity(Slow(started.clone(), stops_when_asked));
    let worker = worker(fake.clone(), registry, 10);
    let shutdown = CancellationToken::new();
    let begun = tokio::time::Instant::now();
    LocalSet::new()
        .run_until(async {
            let running = tokio::task::spawn_local(worker.run(shutdown.clone()));
            while !started.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            shutdown.cancel();
            assert_eq!(running.await.unwrap(), Ok(()));
        })
        .await;
    // A workflow-less registry never polls for workflow tasks.
    assert!(
        fake.picked(|r| matches!(r, Request::PollWorkflowTask { .. }).then_some(()))
            .is_empty()
    );
    (fake, begun.elapsed())
}

#[tokio::test(start_paused = true)]
async fn shutdown_hands_back_attempts_that_stop_when_asked_for_another_worker_to_retry() {
    let (fake, took) = shut_down_during_a_slow_attempt(true).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    let reported = fake.picked(outcomes);
    let [Err(ActivityError::Application(failure))] = reported.as_slice() else {
        panic!("{reported:?}")
    };
    assert_eq!(failure.error_type, "WorkerShutdown");
    assert!(!failure.non_retryable, "handed back to be retried, not cancelled");
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_waiting_for_an_attempt_that_ignores_it_after_the_grace_period() {
    let (fake, took) = shut_down_during_a_slow_attempt(false).await;
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(60),
        "{took:?}"
    );
    assert!(
        fake.picked(outcomes).is_empty(),
        "the abandoned attempt had not reported yet"
    );
}

#[tokio::test(start_paused = true)]
async fn a_poll_the_service_refuses_stops_the_worker_with_the_error() {
    let refusal = ServiceError::InvalidRequest("no such queue".into());
    let expected = refusal.clone();
    let fake = FakeTransport::new(move |request| match request {
        Request::PollWorkflowTask { .. } => Reply::Now(Err(refusal.clone())),
        _ => Reply::After(LONG_POLL, Response::ActivityTask(None)),
    });
    let shutdown = CancellationToken::new();
    let result = LocalSet::new()
        .run_until(worker(fake.clone(), registry(), 3).run(shutdown.clone()))
        .await;
    assert_eq!(result, Err(expected));
    assert!(!shutdown.is_cancelled(), "the caller's token is left alone");
}

#[tokio::test(start_paused = true)]
async fn an_unavailable_service_is_retried_with_backoff() {
    let mut failures_left = 3;
    let fake = FakeTransport::new(move |request| match request {
        Request::PollWorkflowTask { .. } if failures_left > 0 => {
            failures_left -= 1;
            Reply::Now(Err(ServiceError::Unavailable("restarting".into())))
        }
        Request::PollWorkflowTask { .. } => {
            Reply::After(LONG_POLL, Response::WorkflowPoll(WorkflowPoll::Empty))
        }
        _ => Reply::After(LONG_POLL, Response::ActivityTask(None)),
    });
    let begun = tokio::time::Instant::now();
    let result = run_until(worker(fake.clone(), registry(), 1), &fake, "a fourth poll", |r| {
        count(r, |r| matches!(r, Request::PollWorkflowTask { .. })) == 4
    })
    .await;
    assert_eq!(result, Ok(()));
    // 100 ms, 200 ms, 400 ms of backoff, measured on tokio's paused clock.
    assert!(
        begun.elapsed() >= Duration::from_millis(700),
        "{:?}",
        begun.elapsed()
    );
}
