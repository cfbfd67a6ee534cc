//! Worker liveness through the service, on a manual clock: the work of a worker that stops
//! heartbeating goes to other workers after `worker_liveness_timeout` (1 s) rather than
//! after its own timeouts (10 s here), late answers from the dead worker are stale, live
//! workers are left alone, and after a restart of the service the work the previous
//! instance handed out is judged by the workers' first heartbeats.

mod support;

use serde_json::json;
use std::time::Duration;
use support::engine_harness::{Harness, assert_replays, count, started_attempts};
use support::workflows::{Chain, Step, ten_seconds};
use warpflow_engine::Payload;
use warpflow_engine::history::{EventAttributes as E, RetryState};
use warpflow_engine::limits::WORKER_HEARTBEAT_TASKS_MAX;
use warpflow_engine::service::api::{ActivityTask, ActivityTaskToken, RunOutcome, WorkflowTaskToken};
use warpflow_engine::service::{Request, Response, ServiceError, WORKER_LOST};
use warpflow_engine::workflow::{Workflow, WorkflowCtx, future::join};
use warpflow_engine::{EventId, Registry, RetryPolicy, WorkflowResult};

const TIMEOUT: Duration = Duration::from_secs(1);

/// Two steps at once, each with a 10 s start-to-close timeout.
struct Pair;
impl Workflow for Pair {
    const NAME: &'static str = "pair";
    type Input = ();
    type Output = u64;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<u64> {
        let a = ctx.activity::<Step>(10).start_to_close(ten_seconds());
        let b = ctx.activity::<Step>(20).start_to_close(ten_seconds());
        let (a, b) = join(a.start(), b.start()).await;
        Ok(a? + b?)
    }
}

/// One step that may be tried only once.
struct OneShot;
impl Workflow for OneShot {
    const NAME: &'static str = "one_shot";
    type Input = ();
    type Output = u64;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<u64> {
        let once = RetryPolicy::default().with_maximum_attempts(1);
        Ok(ctx
            .activity::<Step>(1)
            .start_to_close(ten_seconds())
            .retry(once)
            .await?)
    }
}

fn registry() -> Registry {
    Registry::new()
        .with_workflow::<Chain>()
        .with_workflow::<Pair>()
        .with_workflow::<OneShot>()
}

fn beat(
    h: &Harness,
    identity: &str,
    activities: &[&ActivityTask],
    workflow_tasks: &[&WorkflowTaskToken],
) -> Result<Response, ServiceError> {
    h.call(Request::WorkerHeartbeat {
        identity: identity.into(),
        task_queue: h.queue.clone(),
        running_activities: activities.iter().map(|t| t.token.clone()).collect(),
        running_workflow_tasks: workflow_tasks.iter().map(|t| (*t).clone()).collect(),
    })
}

fn complete_as(h: &Harness, identity: &str, task: &ActivityTask) -> Result<Response, ServiceError> {
    h.call(Request::CompleteActivityTask {
        token: task.token.clone(),
        outcome: Ok(Payload::from(json!(1))),
        eager_workflow_task: false,
        identity: identity.into(),
    })
}

/// Polls as `identity`.
fn poll_as(h: &mut Harness, identity: &str) -> Option<ActivityTask> {
    h.identity = identity.into();
    h.next_activity()
}

#[test]
fn a_silent_worker_s_attempt_is_retried_after_the_liveness_timeout_and_its_late_completion_is_stale() {
    let mut h = Harness::new(registry());
    h.start("chain", "c-1", Payload::from(json!(1))).expect("started");
    h.run_workflow_tasks();
    beat(&h, "w1", &[], &[]).expect("heartbeat accepted");
    let first = poll_as(&mut h, "w1").expect("attempt 1");
    h.advance(Duration::from_millis(500));
    beat(&h, "w1", &[&first], &[]).expect("heartbeat accepted");
    // w1 is killed here.
    h.advance(Duration::from_millis(999));
    assert!(poll_as(&mut h, "w2").is_none(), "w1 was heard from 999 ms ago");
    h.advance(Duration::from_millis(1));
    let second = poll_as(&mut h, "w2").expect("attempt 2 at once: no backoff");
    assert_eq!(second.token.attempt, 2);
    assert_eq!(second.token.scheduled_event_id, first.token.scheduled_event_id);
    assert_eq!(
        second.started_time.since(first.started_time),
        Duration::from_millis(1_500),
        "retried 1.5 s after it started, not after its 10 s start-to-close timeout"
    );
    assert!(matches!(
        complete_as(&h, "w1", &first),
        Err(ServiceError::StaleTask(_))
    ));
    complete_as(&h, "w2", &second).expect("attempt 2 completes");
    h.run_workflow_tasks();
    assert_eq!(
        h.outcome("c-1"),
        Some(RunOutcome::Completed(Payload::from(json!(1))))
    );
    let history = h.history("c-1", None);
    assert_eq!(count(&history, "ActivityTaskCompleted"), 1, "one outcome");
    assert_eq!(started_attempts(&history), [(2, "w2".to_owned())]);
    assert_replays(&registry(), &history);
}

#[test]
fn a_silent_worker_s_workflow_task_times_out_and_is_redispatched_at_once() {
    let mut h = Harness::new(registry());
    h.start("chain", "c-1", Payload::from(json!(1))).expect("started");
    beat(&h, "w1", &[], &[]).expect("heartbeat accepted");
    h.identity = "w1".into();
    let (token, commands) = h.take_workflow_task().expect("w1 takes the first task");
    h.evict_all(); // w1 is killed with its cache.
    h.advance(TIMEOUT);
    h.identity = "w2".into();
    assert_eq!(h.run_workflow_tasks(), 1, "redispatched 1 s after it started");
    let late = h.call(Request::CompleteWorkflowTask {
        token,
        commands: commands.into(),
        eager_activities: Vec::new(),
        identity: "w1".into(),
    });
    assert!(matches!(late, Err(ServiceError::StaleTask(_))), "{late:?}");
    h.run_until_quiet(|task| Ok(Payload::from(json!(task.input.as_u64().unwrap_or_default() + 1))));
    assert_eq!(
        h.outcome("c-1"),
        Some(RunOutcome::Completed(Payload::from(json!(1))))
    );
    let history = h.history("c-1", None);
    assert_eq!(count(&history, "WorkflowTaskTimedOut"), 1);
    assert_eq!(
        count(&history, "ActivityTaskScheduled"),
        1,
        "the late commands left no trace"
    );
    assert_replays(&registry(), &history);
}

#[test]
fn a_live_worker_running_a_long_activity_is_left_alone() {
    let mut h = Harness::new(registry());
    h.start("chain", "c-1", Payload::from(json!(1))).expect("started");
    h.run_workflow_tasks();
    beat(&h, "w1", &[], &[]).expect("heartbeat accepted");
    let attempt = poll_as(&mut h, "w1").expect("attempt 1");
    for _ in 0..45 {
        h.advance(Duration::from_millis(200));
        beat(&h, "w1", &[&attempt], &[]).expect("heartbeat accepted");
        assert!(poll_as(&mut h, "w2").is_none(), "w1 is alive");
    }
    complete_as(&h, "w1", &attempt).expect("completed after 9 s");
    h.run_workflow_tasks();
    assert_eq!(
        h.outcome("c-1"),
        Some(RunOutcome::Completed(Payload::from(json!(1))))
    );
    assert_eq!(started_attempts(&h.history("c-1", None)), [(1, "w1".to_owned())]);
}

#[test]
fn an_attempt_lost_with_its_worker_counts_against_maximum_attempts() {
    let mut h = Harness::new(registry());
    h.start("one_shot", "o-1", Payload::null()).expect("started");
    h.run_workflow_tasks();
    beat(&h, "w1", &[], &[]).expect("heartbeat accepted");
    poll_as(&mut h, "w1").expect("the only attempt");
    h.advance(TIMEOUT);
    h.identity = "harness".into();
    h.run_workflow_tasks();
    let Some(RunOutcome::Failed(_)) = h.outcome("o-1") else {
        panic!("{:?}", h.outcome("o-1"))
    };
    let history = h.history("o-1", None);
    let failed = history.events.iter().find_map(|e| match &e.attributes {
        E::ActivityTaskFailed {
            failure, retry_state, ..
        } => Some((failure.clone(), *retry_state)),
        _ => None,
    });
    let (failure, retry_state) = failed.expect("ActivityTaskFailed");
    assert_eq!(failure.error_type, WORKER_LOST);
    assert!(failure.message.contains("worker `w1`"), "{}", failure.message);
    assert_eq!(retry_state, RetryState::MaximumAttemptsReached);
    assert_eq!(started_attempts(&history), [(1, "w1".to_owned())]);
    assert_replays(&registry(), &history);
}

#[test]
fn after_a_restart_an_attempt_the_worker_never_received_is_redispatched_and_the_ones_it_runs_finish() {
    let mut h = Harness::new(registry());
    h.start("pair", "p-1", Payload::null()).expect("started");
    h.run_workflow_tasks();
    beat(&h, "w1", &[], &[]).expect("heartbeat accepted");
    let received = poll_as(&mut h, "w1").expect("first attempt");
    let lost_reply = poll_as(&mut h, "w1").expect("second attempt, whose reply dies with the engine");
    h.advance(Duration::from_millis(100));
    let mut h = h.restart(); // The engine crashes; w1 lives on, running `received`.
    assert!(
        poll_as(&mut h, "w2").is_none(),
        "both attempts still count as started"
    );
    beat(&h, "w1", &[&received], &[]).expect("heartbeat accepted");
    let retried = poll_as(&mut h, "w2").expect("the attempt w1 does not list, at once");
    assert_eq!(
        retried.token.scheduled_event_id,
        lost_reply.token.scheduled_event_id
    );
    assert_eq!(retried.token.attempt, 2);
    assert!(
        poll_as(&mut h, "w2").is_none(),
        "the attempt w1 runs is left to it"
    );
    for _ in 0..25 {
        h.advance(Duration::from_millis(200));
        beat(&h, "w1", &[&received], &[]).expect("heartbeat accepted");
    }
    complete_as(&h, "w1", &received).expect("w1 finishes its attempt");
    complete_as(&h, "w2", &retried).expect("w2 finishes the retried one");
    h.identity = "harness".into();
    h.run_workflow_tasks();
    assert_eq!(
        h.outcome("p-1"),
        Some(RunOutcome::Completed(Payload::from(json!(2))))
    );
    let history = h.history("p-1", None);
    assert_eq!(count(&history, "ActivityTaskCompleted"), 2);
    assert_eq!(
        started_attempts(&history),
        [(1, "w1".to_owned()), (2, "w2".to_owned())]
    );
    assert_replays(&registry(), &history);
}

#[test]
fn after_a_restart_the_work_of_a_worker_not_heard_from_within_the_timeout_is_taken_back() {
    let mut h = Harness::new(registry());
    h.start("chain", "c-1", Payload::from(json!(1))).expect("started");
    h.run_workflow_tasks();
    let attempt = poll_as(&mut h, "w1").expect("w1 takes c-1's attempt");
    h.start("chain", "c-2", Payload::from(json!(1))).expect("started");
    let (task, _) = h.take_workflow_task().expect("w1 takes c-2's workflow task");
    h.advance(Duration::from_millis(100));
    let mut h = h.restart(); // The engine and w1 die together.
    beat(&h, "w2", &[], &[]).expect("w2 heartbeats");
    h.advance(TIMEOUT - Duration::from_millis(1));
    assert!(poll_as(&mut h, "w2").is_none(), "w1 may still speak up");
    assert_eq!(h.run_workflow_tasks(), 0);
    beat(&h, "w2", &[], &[]).expect("w2 heartbeats");
    h.advance(Duration::from_millis(1));
    let retried = poll_as(&mut h, "w2").expect("c-1's attempt, 1 s after the restart");
    assert_eq!(retried.token.scheduled_event_id, attempt.token.scheduled_event_id);
    assert_eq!(retried.token.attempt, 2);
    complete_as(&h, "w2", &retried).expect("accepted");
    h.run_until_quiet(|task| Ok(Payload::from(json!(task.input.as_u64().unwrap_or_default() + 1))));
    for id in ["c-1", "c-2"] {
        assert_eq!(
            h.outcome(id),
            Some(RunOutcome::Completed(Payload::from(json!(1)))),
            "{id}"
        );
        assert_replays(&registry(), &h.history(id, None));
    }
    let timed_out = h.history("c-2", None).events.iter().any(|e| {
        matches!(e.attributes, E::WorkflowTaskTimedOut { started_event_id, .. }
            if started_event_id == Some(task.started_event_id))
    });
    assert!(timed_out, "w1's workflow task timed out");
}

#[test]
fn without_worker_heartbeats_nothing_changes() {
    let mut h = Harness::new(registry());
    h.start("chain", "c-1", Payload::from(json!(1))).expect("started");
    h.run_workflow_tasks();
    poll_as(&mut h, "w1").expect("attempt 1");
    // Other workers heartbeat, w1 does not: its attempt waits for its own timeout.
    beat(&h, "w2", &[], &[]).expect("heartbeat accepted");
    h.advance(Duration::from_millis(9_999));
    assert!(poll_as(&mut h, "w2").is_none());
    h.advance(Duration::from_millis(1));
    assert!(
        poll_as(&mut h, "w2").is_none(),
        "timed out, retried after the policy's 1 s backoff"
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(poll_as(&mut h, "w2").expect("attempt 2").token.attempt, 2);
}

#[test]
fn a_heartbeat_listing_more_than_the_limit_is_refused() {
    let h = Harness::new(registry());
    let tokens = (0..=WORKER_HEARTBEAT_TASKS_MAX as u64)
        .map(|n| ActivityTaskToken {
            run: warpflow_engine::storage::RunKey {
                workflow_id: "wf".into(),
                run_id: "run".into(),
            },
            scheduled_event_id: EventId(n),
            attempt: 1,
        })
        .collect();
    let refused = h.call(Request::WorkerHeartbeat {
        identity: "w1".into(),
        task_queue: h.queue.clone(),
        running_activities: tokens,
        running_workflow_tasks: Vec::new(),
    });
    let Err(ServiceError::LimitExceeded { what, limit }) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(limit, WORKER_HEARTBEAT_TASKS_MAX);
    assert!(what.contains("worker `w1`"), "{what}");
}
