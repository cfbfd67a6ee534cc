//! Replay of histories written by hand with `HistoryBuilder`: the outcomes a recorder seldom
//! produces (failed and timed-out activities, cancelled and unstartable children, timed-out
//! workflow tasks, signals racing timers), malformed input fed straight to an instance, and
//! what signal, condition and query handlers may do with the context.
//!
//! Most tests build a history up to a workflow task, run that task *live* on a fresh instance
//! to see what the code decides (its commands carry the workflow's result), then close the
//! history with those commands and check that it replays.

use futures::future::{Either, select};
use serde_json::{Value, json};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;
use warpflow_engine::history::{EventAttributes as E, HistoryBuilder, Marker};
use warpflow_engine::ids::{EventId, RunId, WorkflowId};
use warpflow_engine::replay::QueryError;
use warpflow_engine::workflow::{ChildError, Query, Signal, Workflow, WorkflowCtx};
use warpflow_engine::{
    ActivationError, Activity, ActivityCtx, ActivityError, Command, Failure, History, HistoryError,
    HistoryEvent, Payload, Registry, Replayer, TimeoutType, WorkflowInstance, WorkflowResult,
};

// ---- Vocabulary ----

struct Echo;
impl Activity for Echo {
    const NAME: &'static str = "echo";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: ActivityCtx, input: String) -> Result<String, ActivityError> {
        Ok(input)
    }
}

struct Approve;
impl Signal for Approve {
    const NAME: &'static str = "approve";
    type Input = bool;
}

struct Stop;
impl Signal for Stop {
    const NAME: &'static str = "stop";
    type Input = ();
}

struct Status;
impl Query for Status {
    const NAME: &'static str = "status";
    type Args = ();
    type Output = Value;
}

struct Kid;
impl Workflow for Kid {
    const NAME: &'static str = "kid";
    type Input = String;
    type Output = String;
    async fn run(_ctx: WorkflowCtx, input: String) -> WorkflowResult<String> {
        Ok(input)
    }
}

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

fn registry<W: Workflow>() -> Registry {
    Registry::new().with_workflow::<W>()
}

fn instance<W: Workflow>() -> WorkflowInstance {
    WorkflowInstance::new(registry::<W>(), WorkflowId::new("wf-1"), RunId::new("run-1"))
}

/// The history so far plus a workflow task in flight, run live on a fresh instance: the
/// commands the code issues in that task.
fn live<W: Workflow>(b: &HistoryBuilder) -> Vec<Command> {
    let mut b = b.clone();
    b.workflow_task_started();
    let history = b.build();
    match instance::<W>().activate(&history.events) {
        Ok(Some(commands)) => commands,
        other => panic!("expected a live task, got {other:?}"),
    }
}

/// The result the code completes the run with in `commands`, which must be just that.
fn completes_with(commands: &[Command]) -> Payload {
    match commands {
        [Command::CompleteWorkflow { result }] => result.clone(),
        other => panic!("expected only CompleteWorkflow, got {other:?}"),
    }
}

/// Closes the history with a workflow task that completes the run with `result`, and checks
/// that it replays (cold, task by task, and resumed live at every task).
fn closes_and_replays<W: Workflow>(b: &HistoryBuilder, result: Payload) -> History {
    let mut b = b.clone();
    b.workflow_task();
    b.complete(result);
    let history = b.build();
    if let Err(e) = Replayer::new(registry::<W>()).check(&history) {
        panic!("{e}\n{:#?}", history.events);
    }
    history
}

fn event_at(history: &History, id: EventId) -> &HistoryEvent {
    &history.events[usize::try_from(id.0 - 1).expect("small id")]
}

// ---- Activity outcomes ----

/// Awaits one activity and returns what the workflow saw, as JSON.
struct SeesActivity;
impl Workflow for SeesActivity {
    const NAME: &'static str = "sees_activity";
    type Input = ();
    type Output = Value;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<Value> {
        let outcome = ctx
            .activity::<Echo>("payload".into())
            .start_to_close(ten_seconds())
            .await;
        Ok(match outcome {
            Ok(v) => json!({ "ok": v }),
            Err(ActivityError::Application(f)) => json!({
                "application": { "type": f.error_type, "message": f.message,
                                 "nonRetryable": f.non_retryable, "details": f.details },
            }),
            Err(ActivityError::TimedOut(t)) => json!({ "timedOut": t.to_string() }),
            Err(ActivityError::Cancelled) => json!("cancelled"),
            Err(ActivityError::InvalidOptions(m)) => json!({ "invalid": m }),
        })
    }
}

fn activity_scheduled() -> (HistoryBuilder, EventId) {
    let mut b = HistoryBuilder::new("sees_activity", Payload::null());
    b.workflow_task();
    let scheduled = b.activity_scheduled("1", "echo", Payload::from("payload"));
    (b, scheduled)
}

#[test]
fn a_failed_activity_reaches_the_workflow_as_an_application_error_with_its_type_and_message() {
    let (mut b, scheduled) = activity_scheduled();
    b.advance(Duration::from_secs(3));
    let failure = Failure {
        non_retryable: true,
        details: Some(Payload::from(json!({"code": 51}))),
        ..Failure::new("CardDeclined", "insufficient funds")
    };
    b.activity_failed(scheduled, failure);
    let result = completes_with(&live::<SeesActivity>(&b));
    assert_eq!(
        result,
        json!({ "application": { "type": "CardDeclined", "message": "insufficient funds",
                                 "nonRetryable": true, "details": {"code": 51} } })
    );
    closes_and_replays::<SeesActivity>(&b, result);
}

#[test]
fn a_timed_out_activity_reaches_the_workflow_with_its_timeout_type() {
    for (timeout, shown) in [
        (TimeoutType::StartToClose, "start-to-close"),
        (TimeoutType::ScheduleToStart, "schedule-to-start"),
        (TimeoutType::ScheduleToClose, "schedule-to-close"),
        (TimeoutType::Heartbeat, "heartbeat"),
    ] {
        let (mut b, scheduled) = activity_scheduled();
        b.advance(ten_seconds());
        b.activity_timed_out(scheduled, timeout);
        let result = completes_with(&live::<SeesActivity>(&b));
        assert_eq!(result, json!({ "timedOut": shown }), "{timeout:?}");
        closes_and_replays::<SeesActivity>(&b, result);
    }
}

#[test]
fn a_completed_activity_result_that_does_not_fit_the_declared_type_fails_the_task() {
    let (mut b, scheduled) = activity_scheduled();
    b.activity_completed(scheduled, Payload::from(json!({"not": "a string"})));
    b.workflow_task_started();
    let err = instance::<SeesActivity>()
        .activate(&b.build().events)
        .expect_err("a result of the wrong type is not made up into an error");
    assert!(
        matches!(&err, ActivationError::Payload(_)) && err.to_string().contains("result of activity `echo`"),
        "{err}"
    );
}

// ---- Child workflows ----

/// Starts a child, cancels it when signalled `stop`, and returns how the child ended.
struct CancelsChild;
impl Workflow for CancelsChild {
    const NAME: &'static str = "cancels_child";
    type Input = ();
    type Output = Value;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<Value> {
        let child = ctx.child::<Kid>("work".into()).id("kid-1").start();
        ctx.signal_channel::<Stop>().recv().await?;
        child.cancel();
        child.cancel(); // a second request is not a second command
        Ok(match child.await {
            Ok(v) => json!({ "ok": v }),
            Err(ChildError::Cancelled) => json!("cancelled"),
            Err(other) => json!({ "other": other.to_string() }),
        })
    }
}

#[test]
fn a_child_cancelled_by_its_parent_ends_with_child_error_cancelled() {
    let mut b = HistoryBuilder::new("cancels_child", Payload::null());
    b.workflow_task();
    let initiated = b.child_initiated("kid-1", "kid", Payload::from("work"));
    let started = b.child_started(initiated);
    b.workflow_task();
    b.signal("stop", Payload::null());

    // The task that sees `stop` asks, once, for the child to be cancelled.
    assert_eq!(
        live::<CancelsChild>(&b),
        [Command::RequestCancelChild {
            workflow_id: WorkflowId::new("kid-1")
        }]
    );
    let completed = b.workflow_task();
    let request = b.add(E::RequestCancelExternalWorkflowExecutionInitiated {
        workflow_id: WorkflowId::new("kid-1"),
        child_workflow_only: true,
        workflow_task_completed_event_id: completed,
    });
    b.add(E::ExternalWorkflowExecutionCancelRequested {
        initiated_event_id: request,
        workflow_id: WorkflowId::new("kid-1"),
    });
    // The request was delivered, the child has not closed yet: the parent still waits.
    assert_eq!(live::<CancelsChild>(&b), []);
    b.workflow_task();
    b.add(E::ChildWorkflowExecutionCanceled {
        initiated_event_id: initiated,
        started_event_id: started,
    });
    let result = completes_with(&live::<CancelsChild>(&b));
    assert_eq!(result, json!("cancelled"));
    closes_and_replays::<CancelsChild>(&b, result);
}

#[test]
fn a_child_cancel_that_history_does_not_have_is_non_determinism() {
    // History recorded the child completing without being cancelled; this code asks to
    // cancel it after `stop`.
    let mut b = HistoryBuilder::new("cancels_child", Payload::null());
    b.workflow_task();
    let initiated = b.child_initiated("kid-1", "kid", Payload::from("work"));
    b.workflow_task();
    b.signal("stop", Payload::null());
    b.workflow_task();
    b.child_completed(initiated, Payload::from("done"));
    b.workflow_task();
    b.complete(Payload::from(json!({"ok": "done"})));
    let err = Replayer::new(registry::<CancelsChild>())
        .replay(&b.build())
        .expect_err("the cancel request is not in history");
    let report = err
        .activation_error()
        .and_then(ActivationError::as_nondeterminism)
        .unwrap_or_else(|| panic!("expected non-determinism, got {err}"));
    assert_eq!(
        report.actual.as_deref(),
        Some("RequestCancelExternalWorkflowExecutionInitiated(kid-1)")
    );
}

/// Starts a child and returns how its start went.
struct StartsChild;
impl Workflow for StartsChild {
    const NAME: &'static str = "starts_child";
    type Input = ();
    type Output = Value;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<Value> {
        Ok(match ctx.child::<Kid>("work".into()).id("kid-1").await {
            Ok(v) => json!({ "ok": v }),
            Err(ChildError::StartFailed { cause }) => json!({ "startFailed": cause }),
            Err(other) => json!({ "other": other.to_string() }),
        })
    }
}

#[test]
fn a_child_whose_start_failed_ends_with_child_error_start_failed_and_its_cause() {
    let mut b = HistoryBuilder::new("starts_child", Payload::null());
    b.workflow_task();
    let initiated = b.child_initiated("kid-1", "kid", Payload::from("work"));
    b.add(E::StartChildWorkflowExecutionFailed {
        initiated_event_id: initiated,
        workflow_id: WorkflowId::new("kid-1"),
        workflow_type: "kid".into(),
        cause: "WorkflowExecutionAlreadyStarted".into(),
    });
    let result = completes_with(&live::<StartsChild>(&b));
    assert_eq!(
        result,
        json!({ "startFailed": "WorkflowExecutionAlreadyStarted" })
    );
    closes_and_replays::<StartsChild>(&b, result);
}

// ---- Workflow tasks that failed or timed out ----

/// Returns the time of the first workflow task it ran in, after one activity.
struct FirstTaskTime;
impl Workflow for FirstTaskTime {
    const NAME: &'static str = "first_task_time";
    type Input = ();
    type Output = String;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<String> {
        let first = ctx.now();
        ctx.activity::<Echo>("x".into())
            .start_to_close(ten_seconds())
            .await?;
        Ok(first.to_string())
    }
}

#[test]
fn a_timed_out_workflow_task_is_not_run_and_its_retry_replays() {
    let mut b = HistoryBuilder::new("first_task_time", Payload::null());
    b.workflow_task_timed_out();
    b.advance(ten_seconds());
    let retried_at = b.now();
    b.workflow_task();
    let scheduled = b.activity_scheduled("1", "echo", Payload::from("x"));
    b.activity_completed(scheduled, Payload::from("x"));

    let mut with_live = b.clone();
    with_live.workflow_task_started();
    let mut instance = instance::<FirstTaskTime>();
    let commands = instance
        .activate(&with_live.build().events)
        .expect("replays")
        .expect("live task");
    // The code ran in the retried task and the live one only: the timed-out task was skipped
    // (its time is not what the code saw first).
    assert_eq!(instance.workflow_tasks(), 2);
    let result = completes_with(&commands);
    assert_eq!(result, json!(retried_at.to_string()));
    let history = closes_and_replays::<FirstTaskTime>(&b, result);
    assert_eq!(
        Replayer::new(registry::<FirstTaskTime>())
            .replay(&history)
            .expect("replays")
            .workflow_tasks,
        2,
        "the retried task and the closing one"
    );
}

#[test]
fn a_failed_workflow_task_is_not_run_either() {
    let mut b = HistoryBuilder::new("first_task_time", Payload::null());
    b.workflow_task_failed(Failure::new("Panic", "a bug, since fixed"));
    b.advance(ten_seconds());
    let retried_at = b.now();
    b.workflow_task_timed_out();
    b.workflow_task();
    let scheduled = b.activity_scheduled("1", "echo", Payload::from("x"));
    b.activity_completed(scheduled, Payload::from("x"));
    let result = completes_with(&live::<FirstTaskTime>(&b));
    assert_eq!(result, json!(retried_at.to_string()));
    closes_and_replays::<FirstTaskTime>(&b, result);
}

// ---- Signals, conditions and timers ----

/// Waits for a signal handler to set a flag.
struct AwaitsApproval;
impl Workflow for AwaitsApproval {
    const NAME: &'static str = "awaits_approval";
    type Input = ();
    type Output = String;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<String> {
        let approved = Rc::new(Cell::new(false));
        let flag = approved.clone();
        ctx.on_signal::<Approve>(move |ok| flag.set(ok));
        ctx.condition(move || approved.get()).await;
        Ok(format!("approved at {}", ctx.now()))
    }
}

#[test]
fn a_condition_over_a_flag_set_by_a_signal_handler_completes_in_the_task_the_signal_arrives() {
    let mut b = HistoryBuilder::new("awaits_approval", Payload::null());
    b.workflow_task();
    b.advance(Duration::from_secs(60));
    // A signal that leaves the flag unset changes nothing.
    b.signal("approve", Payload::from(json!(false)));
    assert_eq!(live::<AwaitsApproval>(&b), []);
    b.workflow_task();
    b.advance(Duration::from_secs(60));
    b.signal("approve", Payload::from(json!(true)));
    let at = b.now();
    let result = completes_with(&live::<AwaitsApproval>(&b));
    assert_eq!(result, json!(format!("approved at {at}")));
    closes_and_replays::<AwaitsApproval>(&b, result);
}

#[test]
fn a_signal_sent_before_the_handler_is_registered_is_delivered_to_it() {
    // Signal-with-start: the signal is in history before the first workflow task.
    let mut b = HistoryBuilder::new("awaits_approval", Payload::null());
    b.signal("approve", Payload::from(json!(true)));
    let result = completes_with(&live::<AwaitsApproval>(&b));
    assert_eq!(
        result,
        json!(format!(
            "approved at {}",
            HistoryBuilder::new("x", Payload::null()).now()
        ))
    );
    closes_and_replays::<AwaitsApproval>(&b, result);
}

#[test]
fn a_signal_whose_payload_does_not_fit_fails_the_task_naming_the_signal() {
    let mut b = HistoryBuilder::new("awaits_approval", Payload::null());
    b.workflow_task();
    b.signal("approve", Payload::from("yes please"));
    b.workflow_task_started();
    let err = instance::<AwaitsApproval>()
        .activate(&b.build().events)
        .expect_err("bad signal payload");
    assert!(
        matches!(err, ActivationError::Payload(_)) && err.to_string().contains("signal `approve`"),
        "{err}"
    );
}

/// `condition_timeout` on a flag set by a signal handler: returns whether the signal won.
struct ApprovalOrTimeout;
impl Workflow for ApprovalOrTimeout {
    const NAME: &'static str = "approval_or_timeout";
    type Input = ();
    type Output = bool;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<bool> {
        let approved = Rc::new(Cell::new(false));
        let flag = approved.clone();
        ctx.on_signal::<Approve>(move |ok| flag.set(ok));
        Ok(ctx
            .condition_timeout(move || approved.get(), Duration::from_secs(60))
            .await)
    }
}

fn timer_started() -> (HistoryBuilder, EventId) {
    let mut b = HistoryBuilder::new("approval_or_timeout", Payload::null());
    b.workflow_task();
    let timer = b.timer_started("1", Duration::from_secs(60));
    (b, timer)
}

#[test]
fn condition_timeout_signal_and_timer_in_the_same_task_the_signal_wins() {
    for signal_first in [true, false] {
        let (mut b, timer) = timer_started();
        if signal_first {
            b.signal("approve", Payload::from(json!(true)));
            b.timer_fired(timer);
        } else {
            b.timer_fired(timer);
            b.signal("approve", Payload::from(json!(true)));
        }
        // The signal wins, and the timer that already fired is not cancelled.
        let commands = live::<ApprovalOrTimeout>(&b);
        assert_eq!(
            completes_with(&commands),
            json!(true),
            "signal first: {signal_first}"
        );
        closes_and_replays::<ApprovalOrTimeout>(&b, Payload::from(json!(true)));
    }
}

#[test]
fn condition_timeout_the_condition_alone_cancels_the_timer_and_the_timer_alone_times_out() {
    let (mut b, timer) = timer_started();
    b.signal("approve", Payload::from(json!(true)));
    assert_eq!(
        live::<ApprovalOrTimeout>(&b),
        [
            Command::CancelTimer { timer_id: "1".into() },
            Command::CompleteWorkflow {
                result: Payload::from(json!(true))
            }
        ]
    );
    let completed = b.workflow_task();
    b.add(E::TimerCanceled {
        timer_id: "1".into(),
        started_event_id: timer,
        workflow_task_completed_event_id: completed,
    });
    b.complete(Payload::from(json!(true)));
    Replayer::new(registry::<ApprovalOrTimeout>())
        .check(&b.build())
        .expect("replays");

    let (mut b, timer) = timer_started();
    b.timer_fired(timer);
    assert_eq!(completes_with(&live::<ApprovalOrTimeout>(&b)), json!(false));
    closes_and_replays::<ApprovalOrTimeout>(&b, Payload::from(json!(false)));
}

/// Races a condition against a timer, then, the timer having won, does other work and only
/// then awaits the condition it kept.
struct KeepsACondition;
impl Workflow for KeepsACondition {
    const NAME: &'static str = "keeps_a_condition";
    type Input = ();
    type Output = String;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<String> {
        let approved = Rc::new(Cell::new(false));
        let flag = approved.clone();
        ctx.on_signal::<Approve>(move |ok| flag.set(ok));
        let condition = ctx.condition(move || approved.get());
        let condition = match select(condition, ctx.sleep(ten_seconds())).await {
            Either::Left(((), _)) => return Ok("approved early".into()),
            Either::Right(((), condition)) => condition,
        };
        ctx.activity::<Echo>("meanwhile".into())
            .start_to_close(ten_seconds())
            .await?;
        condition.await;
        Ok("approved later".into())
    }
}

#[test]
fn a_condition_that_holds_while_nobody_polls_it_is_not_a_livelock() {
    let mut b = HistoryBuilder::new("keeps_a_condition", Payload::null());
    b.workflow_task();
    let timer = b.timer_started("1", ten_seconds());
    b.timer_fired(timer);
    b.workflow_task();
    let scheduled = b.activity_scheduled("1", "echo", Payload::from("meanwhile"));
    // The flag is set while the workflow awaits the activity, not the condition.
    b.signal("approve", Payload::from(json!(true)));
    assert_eq!(live::<KeepsACondition>(&b), [], "still waiting for the activity");
    b.workflow_task();
    b.activity_completed(scheduled, Payload::from("meanwhile"));
    let result = completes_with(&live::<KeepsACondition>(&b));
    assert_eq!(result, json!("approved later"));
    closes_and_replays::<KeepsACondition>(&b, result);
}

/// Signal handlers that panic on `false`.
struct FragileHandler;
impl Workflow for FragileHandler {
    const NAME: &'static str = "fragile_handler";
    type Input = ();
    type Output = ();
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<()> {
        let approved = Rc::new(Cell::new(false));
        let flag = approved.clone();
        ctx.on_signal::<Approve>(move |ok| {
            assert!(ok, "approval handler got a refusal");
            flag.set(ok);
        });
        ctx.condition(move || approved.get()).await;
        Ok(())
    }
}

#[test]
fn a_panicking_signal_handler_fails_the_activation_with_a_panic_error() {
    let mut b = HistoryBuilder::new("fragile_handler", Payload::null());
    b.workflow_task();
    b.signal("approve", Payload::from(json!(false)));
    b.workflow_task_started();
    let events = b.build().events;
    let mut instance = instance::<FragileHandler>();
    let outcome = catch_unwind(AssertUnwindSafe(|| instance.activate(&events)));
    let Ok(result) = outcome else {
        panic!("a panic in a signal handler escaped WorkflowInstance::activate")
    };
    let err = result.expect_err("the handler panicked");
    assert!(
        matches!(&err, ActivationError::Panic { message, .. } if message.contains("approval handler got a refusal")),
        "{err:?}"
    );
    assert!(
        matches!(instance.activate(&[]), Err(ActivationError::Poisoned { .. })),
        "the instance must be rebuilt"
    );
}

/// A condition whose predicate panics once a signal handler has run.
struct FragilePredicate;
impl Workflow for FragilePredicate {
    const NAME: &'static str = "fragile_predicate";
    type Input = ();
    type Output = ();
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<()> {
        let approved = Rc::new(Cell::new(false));
        let flag = approved.clone();
        let waiting = ctx.condition(move || {
            assert!(!flag.get(), "predicate cannot cope");
            false
        });
        // The predicate is registered; the workflow then sets the flag in the same poll.
        let work = async {
            approved.set(true);
            ctx.sleep(ten_seconds()).await;
        };
        futures::future::join(waiting, work).await;
        Ok(())
    }
}

#[test]
fn a_panicking_condition_predicate_fails_the_activation_with_a_panic_error() {
    let mut b = HistoryBuilder::new("fragile_predicate", Payload::null());
    b.workflow_task_started();
    let events = b.build().events;
    let mut instance = instance::<FragilePredicate>();
    let outcome = catch_unwind(AssertUnwindSafe(|| instance.activate(&events)));
    let Ok(result) = outcome else {
        panic!("a panic in a condition predicate escaped WorkflowInstance::activate")
    };
    let err = result.expect_err("the predicate panicked");
    assert!(
        matches!(&err, ActivationError::Panic { message, .. } if message.contains("predicate cannot cope")),
        "{err:?}"
    );
}

/// A signal handler that asks for a patch decision.
struct PatchInHandler;
impl Workflow for PatchInHandler {
    const NAME: &'static str = "patch_in_handler";
    type Input = ();
    type Output = bool;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<bool> {
        let decided = Rc::new(Cell::new(None));
        let (flag, c) = (decided.clone(), ctx.clone());
        ctx.on_signal::<Stop>(move |()| flag.set(Some(c.patched("handler-v2"))));
        let seen = decided.clone();
        ctx.condition(move || seen.get().is_some()).await;
        Ok(decided.get() == Some(true))
    }
}

#[test]
fn a_patch_decided_in_a_signal_handler_replays_as_it_ran_live() {
    // Run the workflow the way a sticky worker does: task 1 live, then task 2 live.
    let mut b = HistoryBuilder::new("patch_in_handler", Payload::null());
    b.workflow_task_started();
    let mut instance = instance::<PatchInHandler>();
    let first = b.clone().build().events;
    assert_eq!(instance.activate(&first).expect("task 1"), Some(vec![]));
    let mut b = HistoryBuilder::new("patch_in_handler", Payload::null());
    b.workflow_task();
    b.signal("stop", Payload::null());
    b.workflow_task_started();
    let history = b.clone().build();
    let commands = instance
        .activate(&history.events[first.len()..])
        .expect("task 2")
        .expect("live task");
    // Live, the handler took the new path and recorded the marker.
    let patch = Marker::Patch {
        patch_id: "handler-v2".into(),
        deprecated: false,
    };
    assert_eq!(
        commands,
        [
            Command::RecordMarker(patch.clone()),
            Command::CompleteWorkflow {
                result: Payload::from(json!(true))
            }
        ]
    );
    // Recorded as it ran, the history must replay.
    let mut b = HistoryBuilder::new("patch_in_handler", Payload::null());
    b.workflow_task();
    b.signal("stop", Payload::null());
    b.workflow_task();
    b.marker(patch);
    b.complete(Payload::from(json!(true)));
    Replayer::new(registry::<PatchInHandler>())
        .check(&b.build())
        .expect("a history recorded live replays");
}

// ---- Queries ----

/// Counts `approve` signals; its query handler reads through the context.
struct Observable;
impl Workflow for Observable {
    const NAME: &'static str = "observable";
    type Input = ();
    type Output = ();
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<()> {
        let signals = Rc::new(Cell::new(0u32));
        let counter = signals.clone();
        ctx.on_signal::<Approve>(move |_| counter.set(counter.get() + 1));
        let c = ctx.clone();
        let count = signals.clone();
        ctx.on_query::<Status>(move |()| {
            json!({
                "workflowId": c.info().workflow_id.as_str(),
                "now": c.now().to_string(),
                "replaying": c.is_replaying(),
                "cancelRequested": c.is_cancel_requested(),
                "signals": count.get(),
            })
        });
        ctx.cancelled().await;
        Ok(())
    }
}

#[test]
fn a_query_handler_may_read_through_the_context() {
    let mut b = HistoryBuilder::new("observable", Payload::null());
    b.workflow_task();
    b.advance(Duration::from_secs(5));
    b.signal("approve", Payload::from(json!(true)));
    b.signal("approve", Payload::from(json!(false)));
    b.cancel_requested();
    let cancel_seen_at = b.now();
    b.workflow_task_started();
    let history = b.build();
    let mut instance = instance::<Observable>();
    assert_eq!(
        instance.query("status", &Payload::null()),
        Err(QueryError::NotStarted)
    );
    instance.activate(&history.events[..4]).expect("task 1 replays");
    let answer = instance.query("status", &Payload::null()).expect("answers");
    assert_eq!(answer["signals"], json!(0));
    assert_eq!(answer["cancelRequested"], json!(false));
    assert_eq!(answer["workflowId"], json!("wf-1"));

    let commands = instance.activate(&history.events[4..]).expect("live task");
    assert_eq!(
        commands,
        Some(vec![Command::CompleteWorkflow {
            result: Payload::null()
        }])
    );
    // The run's code has returned; its handlers still answer from its last state.
    let answer = instance.query("status", &Payload::null()).expect("answers");
    assert_eq!(
        answer,
        json!({ "workflowId": "wf-1", "now": cancel_seen_at.to_string(), "replaying": false,
                "cancelRequested": true, "signals": 2 })
    );
    // Arguments that do not fit are a typed error naming the query.
    let err = instance
        .query("status", &Payload::from("unexpected"))
        .expect_err("bad args");
    assert!(err.to_string().contains("arguments of query `status`"), "{err}");
}

/// Waits for `stop`, then returns a random number; its query handler (wrongly) draws random
/// numbers and starts a timer.
struct MutatingQuery;
impl Workflow for MutatingQuery {
    const NAME: &'static str = "mutating_query";
    type Input = ();
    type Output = u64;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<u64> {
        let c = ctx.clone();
        ctx.on_query::<Status>(move |()| {
            let timer = c.sleep(ten_seconds());
            drop(timer);
            json!(c.random())
        });
        ctx.signal_channel::<Stop>().recv().await?;
        Ok(ctx.random())
    }
}

#[test]
fn a_query_cannot_change_what_the_workflow_does_next() {
    let mut b = HistoryBuilder::new("mutating_query", Payload::null());
    b.workflow_task();
    b.signal("stop", Payload::null());
    b.workflow_task_started();
    let history = b.build();
    let run = |query: bool| {
        let mut instance = instance::<MutatingQuery>();
        instance.activate(&history.events[..3]).expect("task 1 live");
        if query {
            // Whatever the handler does, a query is a read: history never sees it.
            let _ = instance.query("status", &Payload::null());
        }
        instance.activate(&history.events[3..]).expect("task 2 live")
    };
    assert_eq!(
        run(true),
        run(false),
        "a queried run issues other commands than one never queried, so its history will not replay"
    );
}

// ---- Malformed input fed straight to an instance: typed errors, never panics ----

fn completed_activity_history() -> History {
    let (mut b, scheduled) = activity_scheduled();
    b.activity_completed(scheduled, Payload::from("payload"));
    b.workflow_task();
    b.complete(Payload::from(json!({"ok": "payload"})));
    b.build()
}

/// Activates a fresh `SeesActivity` instance with `events`, turning a panic into a test failure.
fn activate_untrusted(events: &[HistoryEvent]) -> Result<(), ActivationError> {
    let mut instance = instance::<SeesActivity>();
    match catch_unwind(AssertUnwindSafe(|| {
        instance.activate(events)?;
        instance.finish_replay()
    })) {
        Ok(result) => result,
        Err(_) => panic!("activation panicked on {events:#?}"),
    }
}

#[test]
fn an_event_id_gap_is_a_typed_error() {
    let history = completed_activity_history();
    let mut events = history.events.clone();
    events.remove(5);
    let err = activate_untrusted(&events).expect_err("gap");
    assert_eq!(
        err,
        ActivationError::History(HistoryError::EventIdGap {
            index: 5,
            expected: EventId(6),
            found: EventId(7),
        })
    );
    // The same across activations: an instance expects the event after the last it saw.
    let mut instance = instance::<SeesActivity>();
    instance.activate(&history.events[..4]).expect("task 1");
    let err = instance.activate(&history.events[5..]).expect_err("gap");
    assert!(
        matches!(
            err,
            ActivationError::History(HistoryError::EventIdGap {
                index: 0,
                expected: EventId(5),
                found: EventId(6)
            })
        ),
        "{err:?}"
    );
}

#[test]
fn an_activity_result_for_an_unknown_scheduled_event_is_a_typed_error() {
    let history = completed_activity_history();
    for bogus in [EventId(99), EventId(4), EventId(0)] {
        let mut events = history.events.clone();
        let completed = events
            .iter_mut()
            .find(|e| matches!(e.attributes, E::ActivityTaskCompleted { .. }))
            .expect("completed");
        let E::ActivityTaskCompleted {
            scheduled_event_id, ..
        } = &mut completed.attributes
        else {
            unreachable!()
        };
        *scheduled_event_id = bogus;
        let err = activate_untrusted(&events).expect_err("dangling");
        assert!(
            matches!(
                &err,
                ActivationError::History(HistoryError::DanglingReference {
                    event_id: EventId(7),
                    field: "scheduledEventId",
                    ..
                })
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(&format!("scheduledEventId {bogus}")),
            "{err}"
        );
    }
}

#[test]
fn child_events_for_an_unknown_initiated_event_are_typed_errors() {
    let mut b = HistoryBuilder::new("awaits_approval", Payload::null());
    b.workflow_task();
    b.add(E::ChildWorkflowExecutionStarted {
        initiated_event_id: EventId(3),
        workflow_id: WorkflowId::new("kid-1"),
        run_id: RunId::new("r"),
        workflow_type: "kid".into(),
    });
    let events = b.build().events;
    let mut instance = instance::<AwaitsApproval>();
    let err = instance.activate(&events).expect_err("dangling");
    assert!(
        matches!(
            &err,
            ActivationError::History(HistoryError::DanglingReference {
                field: "initiatedEventId",
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn events_before_the_run_started_or_after_it_closed_are_typed_errors() {
    let history = completed_activity_history();
    // No WorkflowExecutionStarted: every event kind, renumbered from 1.
    for event in &history.events[1..] {
        let mut orphan = event.clone();
        orphan.event_id = EventId::FIRST;
        let _ = activate_untrusted(&[orphan]);
    }
    // After the close.
    let mut events = history.events.clone();
    let mut extra = events[events.len() - 2].clone();
    extra.event_id = EventId(events.len() as u64 + 1);
    events.push(extra);
    let err = activate_untrusted(&events).expect_err("after close");
    assert!(
        matches!(
            err,
            ActivationError::History(HistoryError::EventAfterClose { .. })
        ),
        "{err:?}"
    );
}

/// Every history made from a valid one by deleting, duplicating or swapping one event is either
/// replayed or refused with an error: never a panic.
#[test]
fn single_event_mutations_of_valid_histories_never_panic() {
    let mut histories = vec![completed_activity_history()];
    let (mut b, timer) = timer_started();
    b.signal("approve", Payload::from(json!(true)));
    b.timer_fired(timer);
    b.workflow_task();
    b.complete(Payload::from(json!(true)));
    histories.push(b.build());
    let mut b = HistoryBuilder::new("cancels_child", Payload::null());
    b.workflow_task();
    let initiated = b.child_initiated("kid-1", "kid", Payload::from("work"));
    b.child_started(initiated);
    b.signal("stop", Payload::null());
    let completed = b.workflow_task();
    b.add(E::RequestCancelExternalWorkflowExecutionInitiated {
        workflow_id: WorkflowId::new("kid-1"),
        child_workflow_only: true,
        workflow_task_completed_event_id: completed,
    });
    histories.push(b.build());

    let registry = Registry::new()
        .with_workflow::<SeesActivity>()
        .with_workflow::<ApprovalOrTimeout>()
        .with_workflow::<CancelsChild>();
    let renumber = |events: &mut Vec<HistoryEvent>| {
        for (i, e) in events.iter_mut().enumerate() {
            e.event_id = EventId(i as u64 + 1);
        }
    };
    let mut mutants = 0;
    for history in &histories {
        let n = history.events.len();
        for i in 0..n {
            let mut variants = Vec::new();
            let mut deleted = history.events.clone();
            deleted.remove(i);
            variants.push(deleted);
            let mut duplicated = history.events.clone();
            duplicated.insert(i, history.events[i].clone());
            variants.push(duplicated);
            if i + 1 < n {
                let mut swapped = history.events.clone();
                swapped.swap(i, i + 1);
                variants.push(swapped);
            }
            for mut events in variants {
                renumber(&mut events);
                mutants += 1;
                // Fed whole, and split at every position (as a sticky worker would feed it).
                for split in [events.len(), i] {
                    let mut instance =
                        WorkflowInstance::new(registry.clone(), WorkflowId::new("wf-1"), RunId::new("run-1"));
                    let outcome = catch_unwind(AssertUnwindSafe(|| {
                        instance.activate(&events[..split])?;
                        instance.activate(&events[split..])?;
                        instance.finish_replay()
                    }));
                    assert!(outcome.is_ok(), "panicked on mutant {events:#?}");
                }
            }
        }
    }
    assert!(mutants > 50, "{mutants}");
}

#[test]
fn the_largest_durations_in_history_json_load_and_replay_and_larger_ones_are_typed_errors() {
    let (b, _) = timer_started();
    let json = b.build().to_json();
    let field = r#""startToFireTimeout":"60s""#;
    assert!(json.contains(field), "{json}");
    let with = |d: &str| json.replace(field, &format!(r#""startToFireTimeout":"{d}""#));
    let largest = History::from_json(&with("18446744073709551615.999s")).expect("fits a Duration");
    Replayer::new(registry::<ApprovalOrTimeout>())
        .check(&largest)
        .expect("replays: timers match by id");
    for too_large in ["18446744073709551616s", "99999999999999999999999.5s"] {
        let err = History::from_json(&with(too_large)).expect_err("out of range");
        assert!(
            matches!(
                &err,
                HistoryError::Malformed {
                    event_id: Some(EventId(5)),
                    ..
                }
            ) && err.to_string().contains(too_large),
            "{err}"
        );
    }
}

#[test]
fn hand_built_histories_name_their_events_as_the_tests_expect() {
    // Guards the helpers above: ids the tests hard-code.
    let history = completed_activity_history();
    assert!(matches!(
        event_at(&history, EventId(5)).attributes,
        E::ActivityTaskScheduled { .. }
    ));
    assert!(matches!(
        event_at(&history, EventId(7)).attributes,
        E::ActivityTaskCompleted { .. }
    ));
}

/// A child type whose input cannot be encoded when it has entries (JSON keys must be strings).
struct PickyKid;
impl Workflow for PickyKid {
    const NAME: &'static str = "picky_kid";
    type Input = std::collections::BTreeMap<Vec<u8>, u8>;
    type Output = String;
    async fn run(_ctx: WorkflowCtx, _: Self::Input) -> WorkflowResult<String> {
        Ok(String::new())
    }
}

/// Starts a child whose input does not encode, then retries under the same id with a good one.
struct RetriesChild;
impl Workflow for RetriesChild {
    const NAME: &'static str = "retries_child";
    type Input = ();
    type Output = Value;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<Value> {
        let bad = ctx.child::<PickyKid>([(vec![1], 1)].into()).id("kid-1").start();
        let good = ctx.child::<Kid>("work".into()).id("kid-1").start();
        let good = good.await;
        let bad = bad.await;
        Ok(json!({
            "good": good.map_err(|e| e.to_string()),
            "bad": matches!(bad, Err(ChildError::StartFailed { .. })),
        }))
    }
}

#[test]
fn a_child_that_never_started_does_not_take_the_events_of_a_later_child_with_its_id() {
    let mut b = HistoryBuilder::new("retries_child", Payload::null());
    assert_eq!(
        live::<RetriesChild>(&b),
        [Command::StartChildWorkflow {
            workflow_id: WorkflowId::new("kid-1"),
            workflow_type: "kid".into(),
            input: Payload::from("work"),
            task_queue: "default".into(),
            parent_close_policy: Default::default(),
        }],
        "only the child whose input encodes is started"
    );
    b.workflow_task();
    let initiated = b.child_initiated("kid-1", "kid", Payload::from("work"));
    b.child_completed(initiated, Payload::from("done"));
    let result = completes_with(&live::<RetriesChild>(&b));
    assert_eq!(result, json!({ "good": { "Ok": "done" }, "bad": true }));
    closes_and_replays::<RetriesChild>(&b, result);
}

/// Its query handler panics.
struct FragileQuery;
impl Workflow for FragileQuery {
    const NAME: &'static str = "fragile_query";
    type Input = ();
    type Output = ();
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<()> {
        ctx.on_query::<Status>(|()| panic!("status handler bug"));
        ctx.cancelled().await;
        Ok(())
    }
}

#[test]
fn a_panicking_query_handler_is_a_query_error_and_the_run_carries_on() {
    let mut b = HistoryBuilder::new("fragile_query", Payload::null());
    b.workflow_task();
    let mut instance = instance::<FragileQuery>();
    instance.activate(&b.clone().build().events).expect("task 1");
    let answered = catch_unwind(AssertUnwindSafe(|| instance.query("status", &Payload::null())));
    let Ok(answer) = answered else {
        panic!("a panic in a query handler escaped WorkflowInstance::query")
    };
    let err = answer.expect_err("the handler panicked");
    assert!(err.to_string().contains("status handler bug"), "{err}");
    // A query is a read: the run goes on.
    b.cancel_requested();
    b.workflow_task_started();
    let events = b.build().events;
    assert_eq!(
        instance.activate(&events[4..]).expect("task 2"),
        Some(vec![Command::CompleteWorkflow {
            result: Payload::null()
        }])
    );
}
