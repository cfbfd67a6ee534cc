//! Replay of recorded histories: every command kind, the determinism checks, and what the
//! executor reports when workflow code escapes it.

mod support;

use serde_json::json;
use std::time::Duration;
use support::workflows::*;
use support::{Injection, Recorder, record};
use warpflow_engine::Payload;
use warpflow_engine::history::{EventAttributes as E, Marker};
use warpflow_engine::replay::{MismatchKind, ReplayBuffers, ReplayError, ViolationKind};
use warpflow_engine::workflow::{Query, Workflow, WorkflowCtx};
use warpflow_engine::{
    ActivationError, ActivityError, History, Registry, Replayer, WorkflowError, WorkflowResult,
};

/// A workflow named `versioned` with the given body: versions of one workflow type.
macro_rules! version {
    ($ty:ident, |$ctx:ident| $body:block) => {
        struct $ty;
        impl Workflow for $ty {
            const NAME: &'static str = "versioned";
            type Input = ();
            type Output = ();
            async fn run($ctx: WorkflowCtx, (): ()) -> WorkflowResult<()> $body
        }
    };
}

fn registry<W: Workflow>() -> Registry {
    Registry::new().with_workflow::<W>()
}

fn result_of(history: &History) -> &E {
    &history.events.last().expect("history is not empty").attributes
}

fn completed_with(history: &History) -> Payload {
    match result_of(history) {
        E::WorkflowExecutionCompleted { result, .. } => result.clone(),
        other => panic!("expected WorkflowExecutionCompleted, got {other:?}"),
    }
}

fn event_types(history: &History) -> Vec<&'static str> {
    history.events.iter().map(|e| e.attributes.event_type()).collect()
}

#[test]
fn order_times_out_after_24h_and_compensates_in_reverse() {
    let history = record(
        &registry::<Order>(),
        "order",
        Payload::from(json!(["o-1", 24])),
        w1_script,
    );
    assert_eq!(completed_with(&history), json!("fraud_timeout"));
    let activities: Vec<_> = history
        .events
        .iter()
        .filter_map(|e| match &e.attributes {
            E::ActivityTaskScheduled {
                activity_type, input, ..
            } => Some(format!("{activity_type}({input})")),
            _ => None,
        })
        .collect();
    assert_eq!(
        activities,
        [
            r#"reserve_inventory("o-1")"#,
            r#"charge_payment("o-1")"#,
            r#"refund_payment("chg-o-1")"#,
            r#"release_inventory("res-o-1")"#
        ]
    );
    let fired = history
        .events
        .iter()
        .find(|e| matches!(e.attributes, E::TimerFired { .. }));
    let start = history.events[0].event_time;
    assert_eq!(
        fired.map(|e| e.event_time.since(start)),
        Some(Duration::from_secs(24 * 3600))
    );
    Replayer::new(registry::<Order>())
        .check(&history)
        .expect("replays");
}

#[test]
fn order_approved_by_a_signal_cancels_its_timer() {
    let mut recorder = Recorder::new(
        registry::<Order>(),
        "order",
        Payload::from(json!(["o-2", 24])),
        Box::new(w1_script),
    );
    recorder.inject(
        4,
        Injection::Signal {
            name: "approve".into(),
            input: Payload::from(json!(true)),
        },
    );
    let history = recorder.run().expect("records");
    assert_eq!(completed_with(&history), json!("approved"));
    assert!(
        event_types(&history).contains(&"TimerCanceled"),
        "{:?}",
        event_types(&history)
    );
    Replayer::new(registry::<Order>())
        .check(&history)
        .expect("replays");
}

#[test]
fn chain_replays_cold_task_by_task_and_resumed_at_every_task() {
    let history = record(&registry::<Chain>(), "chain", Payload::from(json!(20)), w1_script);
    assert_eq!(completed_with(&history), json!(210));
    assert_eq!(
        history.events.len(),
        20 * 6 + 5,
        "Temporal's event count for a chain"
    );
    let outcome = Replayer::new(registry::<Chain>())
        .check(&history)
        .expect("replays");
    assert_eq!(outcome.workflow_tasks, 21);
}

/// A workflow that uses every other command kind once.
struct Everything;
struct Status;
impl Query for Status {
    const NAME: &'static str = "status";
    type Args = ();
    type Output = String;
}
struct Note;
impl warpflow_engine::Signal for Note {
    const NAME: &'static str = "note";
    type Input = String;
}
struct Child;
impl Workflow for Child {
    const NAME: &'static str = "child";
    type Input = String;
    type Output = String;
    async fn run(_ctx: WorkflowCtx, input: String) -> WorkflowResult<String> {
        Ok(input)
    }
}

impl Workflow for Everything {
    const NAME: &'static str = "everything";
    type Input = ();
    type Output = serde_json::Value;

    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<serde_json::Value> {
        ctx.on_query::<Status>(|()| "running".into());
        let notes = ctx.signal_channel::<Note>();
        let random = ctx.random();
        let uuid = ctx.uuid();
        let stamp = ctx.side_effect(|| 42u32)?;
        let patched = ctx.patched("v2");
        // An activity cancelled after it was recorded, and one withdrawn before.
        let long = ctx
            .activity::<Echo>("long".into())
            .start_to_close(ten_seconds())
            .start();
        let timer = ctx.sleep(Duration::from_secs(60));
        // The test signals before the activity's result is delivered.
        let note = notes.recv().await?;
        long.cancel();
        timer.cancel();
        let cancelled = long.await;
        timer.await;
        let withdrawn = ctx
            .activity::<Echo>("never".into())
            .start_to_close(ten_seconds())
            .start();
        withdrawn.cancel();
        let child = ctx
            .child::<Child>("hi".into())
            .id("kid-1")
            .await
            .map_err(WorkflowError::from)?;
        Ok(json!({
            "random": random, "uuid": uuid.to_string(), "stamp": stamp, "patched": patched,
            "cancelled": cancelled == Err(ActivityError::Cancelled),
            "withdrawn": withdrawn.await == Err(ActivityError::Cancelled),
            "child": child, "note": note, "now": ctx.now().to_string(),
        }))
    }
}

#[test]
fn every_command_kind_replays_with_the_recorded_values() {
    let registry = Registry::new().with_workflow::<Everything>();
    let mut recorder = Recorder::new(
        registry.clone(),
        "everything",
        Payload::null(),
        Box::new(w1_script),
    );
    recorder.inject(
        2,
        Injection::Signal {
            name: "note".into(),
            input: Payload::from("early"),
        },
    );
    let history = recorder.run().expect("records");
    let result = completed_with(&history);
    assert_eq!(result["stamp"], json!(42));
    assert_eq!(result["patched"], json!(true));
    assert_eq!(result["cancelled"], json!(true));
    assert_eq!(result["withdrawn"], json!(true));
    assert_eq!(result["child"], json!("hi"));
    assert_eq!(result["note"], json!("early"));
    let types = event_types(&history);
    for expected in [
        "MarkerRecorded",
        "ActivityTaskCancelRequested",
        "TimerCanceled",
        "StartChildWorkflowExecutionInitiated",
        "ChildWorkflowExecutionCompleted",
        "WorkflowExecutionSignaled",
    ] {
        assert!(types.contains(&expected), "missing {expected} in {types:?}");
    }
    let scheduled = history
        .events
        .iter()
        .filter(|e| matches!(e.attributes, E::ActivityTaskScheduled { .. }))
        .count();
    assert_eq!(scheduled, 1, "the withdrawn activity was never scheduled");
    Replayer::new(registry).check(&history).expect("replays");
}

version!(ListensLate, |ctx| {
    ctx.activity::<Echo>("first".into())
        .start_to_close(ten_seconds())
        .await?;
    let note = ctx.signal_channel::<Note>().recv().await?;
    if note != "sent early" {
        return Err(WorkflowError::fail("WrongSignal", note));
    }
    Ok(())
});

#[test]
fn signals_sent_before_the_workflow_listens_are_buffered_not_lost() {
    let mut recorder = Recorder::new(
        registry::<ListensLate>(),
        "versioned",
        Payload::null(),
        Box::new(w1_script),
    );
    recorder.inject(
        2,
        Injection::Signal {
            name: "note".into(),
            input: Payload::from("sent early"),
        },
    );
    let history = recorder.run().expect("records");
    let types = event_types(&history);
    let signaled = types
        .iter()
        .position(|t| *t == "WorkflowExecutionSignaled")
        .expect("signal recorded");
    let completed = types
        .iter()
        .position(|t| *t == "ActivityTaskCompleted")
        .expect("activity completed");
    assert!(
        signaled < completed,
        "the signal arrived while the workflow waited on the activity: {types:?}"
    );
    assert!(
        matches!(result_of(&history), E::WorkflowExecutionCompleted { .. }),
        "{types:?}"
    );
    Replayer::new(registry::<ListensLate>())
        .check(&history)
        .expect("replays");
}

#[test]
fn replay_reads_random_uuid_side_effects_and_time_from_history() {
    let registry = Registry::new().with_workflow::<Everything>();
    let mut recorder = Recorder::new(
        registry.clone(),
        "everything",
        Payload::null(),
        Box::new(w1_script),
    );
    recorder.inject(
        2,
        Injection::Signal {
            name: "note".into(),
            input: Payload::from("x"),
        },
    );
    let history = recorder.run().expect("records");
    let first = completed_with(&history);
    // Change the recorded side-effect value: replay must return the recorded one, not run
    // the closure again. The result is not compared by replay, so re-record and compare.
    let mut edited = history.clone();
    for event in &mut edited.events {
        if let E::MarkerRecorded {
            marker: Marker::SideEffect { value, .. },
            ..
        } = &mut event.attributes
        {
            *value = Payload::from(json!(7));
        }
    }
    let mut instance =
        warpflow_engine::WorkflowInstance::new(registry, history.workflow_id.clone(), history.run_id.clone());
    let without_close = &edited.events[..edited.events.len() - 1];
    let last_task = without_close
        .iter()
        .rposition(|e| matches!(e.attributes, E::WorkflowTaskCompleted { .. }))
        .unwrap();
    let commands = instance
        .activate(&without_close[..last_task])
        .expect("replays")
        .expect("live task");
    let Some(warpflow_engine::Command::CompleteWorkflow { result }) = commands.last() else {
        panic!("expected completion, got {commands:?}")
    };
    assert_eq!(result["stamp"], json!(7), "side effect read from history");
    assert_eq!(result["random"], first["random"]);
    assert_eq!(result["uuid"], first["uuid"]);
    assert_eq!(result["now"], first["now"]);
}

#[test]
fn queries_answer_from_workflow_state_and_unknown_queries_are_typed_errors() {
    let registry = Registry::new().with_workflow::<Everything>();
    let history = Recorder::new(
        registry.clone(),
        "everything",
        Payload::null(),
        Box::new(w1_script),
    )
    .run()
    .expect("records");
    let mut instance =
        warpflow_engine::WorkflowInstance::new(registry, history.workflow_id.clone(), history.run_id.clone());
    instance.activate(&history.events[..4]).expect("replays");
    assert_eq!(
        instance.query("status", &Payload::null()),
        Ok(Payload::from("running"))
    );
    let err = instance.query("nope", &Payload::null()).unwrap_err();
    assert!(
        err.to_string().contains("unknown query `nope`") && err.to_string().contains("status"),
        "{err}"
    );
}

struct Canceller;
impl Workflow for Canceller {
    const NAME: &'static str = "canceller";
    type Input = ();
    type Output = ();
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<()> {
        let step = ctx
            .activity::<Echo>("a".into())
            .start_to_close(ten_seconds())
            .await?;
        assert_eq!(step, "a");
        ctx.cancelled().await;
        let charge = ctx
            .activity::<Refund>("cleanup".into())
            .start_to_close(ten_seconds())
            .await?;
        assert_eq!(charge, "refund-cleanup");
        Err(WorkflowError::Cancelled)
    }
}

#[test]
fn a_cancel_request_is_observable_and_the_run_closes_as_canceled() {
    let mut recorder = Recorder::new(
        registry::<Canceller>(),
        "canceller",
        Payload::null(),
        Box::new(w1_script),
    );
    recorder.inject(3, Injection::CancelRequest);
    let history = recorder.run().expect("records");
    assert!(
        matches!(result_of(&history), E::WorkflowExecutionCanceled { .. }),
        "{:?}",
        event_types(&history)
    );
    Replayer::new(registry::<Canceller>())
        .check(&history)
        .expect("replays");
}

struct Looper;
impl Workflow for Looper {
    const NAME: &'static str = "looper";
    type Input = u32;
    type Output = ();
    async fn run(ctx: WorkflowCtx, round: u32) -> WorkflowResult<()> {
        ctx.sleep(Duration::from_secs(300)).await;
        Err(ctx.continue_as_new::<Looper>(&(round + 1)))
    }
}

#[test]
fn continue_as_new_closes_the_run_with_the_next_input() {
    let history = record(
        &registry::<Looper>(),
        "looper",
        Payload::from(json!(1)),
        w1_script,
    );
    let E::WorkflowExecutionContinuedAsNew {
        workflow_type, input, ..
    } = result_of(&history)
    else {
        panic!("{:?}", event_types(&history))
    };
    assert_eq!(
        (workflow_type.as_str(), input),
        ("looper", &Payload::from(json!(2)))
    );
    Replayer::new(registry::<Looper>())
        .check(&history)
        .expect("replays");
}

// ---- Non-determinism: each shape, with the structured report ----

/// Records with workflow `V1`, replays with `V2` (same name), returns the report.
fn divergence<V1: Workflow, V2: Workflow>(input: serde_json::Value) -> warpflow_engine::Nondeterminism {
    let history = record(&registry::<V1>(), V1::NAME, input.into(), w1_script);
    match Replayer::new(registry::<V2>()).replay(&history) {
        Err(ReplayError::Failed {
            error: ActivationError::Nondeterminism(report),
            ..
        }) => *report,
        other => panic!("expected non-determinism, got {other:?}"),
    }
}

version!(Base, |ctx| {
    ctx.activity::<Reserve>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.activity::<Charge>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.sleep(Duration::from_secs(86_400)).await;
    Ok(())
});
version!(ChangedType, |ctx| {
    ctx.activity::<Reserve>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.sleep(Duration::from_secs(86_400)).await;
    ctx.activity::<Charge>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    Ok(())
});
version!(Inserted, |ctx| {
    ctx.activity::<Reserve>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.activity::<Echo>("audit".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.activity::<Charge>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.sleep(Duration::from_secs(86_400)).await;
    Ok(())
});
version!(RemovedTimer, |ctx| {
    ctx.activity::<Reserve>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.activity::<Charge>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    Ok(())
});
version!(Parallel, |ctx| {
    let a = ctx.activity::<Reserve>("o".into()).start_to_close(ten_seconds());
    let b = ctx.activity::<Charge>("o".into()).start_to_close(ten_seconds());
    let (a, b) = warpflow_engine::workflow::future::join(a.into_future(), b.into_future()).await;
    a?;
    b?;
    ctx.sleep(Duration::from_secs(86_400)).await;
    Ok(())
});
version!(Reordered, |ctx| {
    let b = ctx
        .activity::<Charge>("o".into())
        .start_to_close(ten_seconds())
        .start();
    let a = ctx
        .activity::<Reserve>("o".into())
        .start_to_close(ten_seconds())
        .start();
    b.await?;
    a.await?;
    ctx.sleep(Duration::from_secs(86_400)).await;
    Ok(())
});
use std::future::IntoFuture;

#[test]
fn a_changed_activity_type_names_the_event_and_both_commands() {
    let report = divergence::<Base, ChangedType>(json!(null));
    assert_eq!(report.kind, MismatchKind::Changed);
    assert_eq!(
        report.expected.as_deref(),
        Some("ActivityTaskScheduled(charge_payment)")
    );
    assert_eq!(report.actual.as_deref(), Some("TimerStarted(1day)"));
    assert_eq!(
        (report.workflow_id.as_str(), report.run_id.as_str()),
        ("wf-1", "run-1")
    );
    assert_eq!(report.workflow_task, 2);
    assert_eq!(report.event_id.0, 11);
    assert!(
        report.summary().contains("event 11 is ActivityTaskScheduled(charge_payment) but the code now starts TimerStarted(1day) at this point"),
        "{}",
        report.summary()
    );
    assert_eq!(
        report.matched_before.last().map(|s| s.description.as_str()),
        Some("ActivityTaskScheduled(reserve_inventory)")
    );
    assert!(
        report.report().contains("replayed fine before that"),
        "{}",
        report.report()
    );
}

#[test]
fn an_inserted_activity_is_reported_where_history_had_the_next_step() {
    let report = divergence::<Base, Inserted>(json!(null));
    assert_eq!(report.kind, MismatchKind::Changed);
    assert_eq!(
        report.expected.as_deref(),
        Some("ActivityTaskScheduled(charge_payment)")
    );
    assert_eq!(report.actual.as_deref(), Some("ActivityTaskScheduled(echo)"));
}

#[test]
fn a_removed_timer_is_reported_as_missing_from_the_code() {
    let report = divergence::<Base, RemovedTimer>(json!(null));
    assert_eq!(report.expected.as_deref(), Some("TimerStarted(1day)"));
    assert_ne!(report.kind, MismatchKind::NotInHistory);
    assert_eq!(report.actual.as_deref(), Some("WorkflowExecutionCompleted"));
}

#[test]
fn commands_issued_in_parallel_are_not_in_history_when_it_ran_them_one_by_one() {
    let report = divergence::<Base, Parallel>(json!(null));
    assert_eq!(report.kind, MismatchKind::NotInHistory);
    assert_eq!(
        report.actual.as_deref(),
        Some("ActivityTaskScheduled(charge_payment)")
    );
    assert_eq!(report.workflow_task, 1);
}

#[test]
fn reordered_commands_are_caught() {
    let report = divergence::<Parallel, Reordered>(json!(null));
    assert_eq!(report.kind, MismatchKind::Changed);
    assert_eq!(
        report.expected.as_deref(),
        Some("ActivityTaskScheduled(reserve_inventory)")
    );
    assert_eq!(
        report.actual.as_deref(),
        Some("ActivityTaskScheduled(charge_payment)")
    );
}

// ---- Patches: Temporal's truth table ----

version!(PatchV1, |ctx| {
    ctx.activity::<Reserve>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.sleep(Duration::from_secs(60)).await;
    Ok(())
});
version!(PatchV2, |ctx| {
    ctx.activity::<Reserve>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    if ctx.patched("fraud-check") {
        ctx.activity::<Echo>("fraud".into())
            .start_to_close(ten_seconds())
            .await?;
    }
    ctx.sleep(Duration::from_secs(60)).await;
    Ok(())
});
version!(PatchV3, |ctx| {
    ctx.activity::<Reserve>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.deprecate_patch("fraud-check");
    ctx.activity::<Echo>("fraud".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.sleep(Duration::from_secs(60)).await;
    Ok(())
});
version!(PatchV4, |ctx| {
    ctx.activity::<Reserve>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.activity::<Echo>("fraud".into())
        .start_to_close(ten_seconds())
        .await?;
    ctx.sleep(Duration::from_secs(60)).await;
    Ok(())
});

fn replays<V1: Workflow, V2: Workflow>() -> Result<(), ReplayError> {
    let history = record(&registry::<V1>(), "versioned", Payload::null(), w1_script);
    Replayer::new(registry::<V2>())
        .check_compatibility(&history)
        .map(|_| ())
}

fn patch_markers(history: &History) -> Vec<(String, bool)> {
    history
        .events
        .iter()
        .filter_map(|e| match &e.attributes {
            E::MarkerRecorded {
                marker: Marker::Patch { patch_id, deprecated },
                ..
            } => Some((patch_id.clone(), *deprecated)),
            _ => None,
        })
        .collect()
}

#[test]
fn patch_truth_table() {
    // New runs take the new path and record the marker; deprecate_patch records it deprecated.
    let v2 = record(&registry::<PatchV2>(), "versioned", Payload::null(), w1_script);
    assert_eq!(patch_markers(&v2), [("fraud-check".to_owned(), false)]);
    let v3 = record(&registry::<PatchV3>(), "versioned", Payload::null(), w1_script);
    assert_eq!(patch_markers(&v3), [("fraud-check".to_owned(), true)]);

    // Old runs (no marker) replay on the old path under patched(); markers replay on the new.
    replays::<PatchV1, PatchV2>().expect("v1 history, v2 code: patched() is false in replay");
    replays::<PatchV2, PatchV2>().expect("v2 history, v2 code");
    // Once deprecated, histories with the marker replay; without it they replay too, as the
    // deprecated call is a no-op in replay (the code has no old path left to diverge from).
    replays::<PatchV2, PatchV3>().expect("v2 history, v3 code");
    replays::<PatchV3, PatchV3>().expect("v3 history, v3 code");
    // With the call removed, deprecated markers are skipped...
    replays::<PatchV3, PatchV4>().expect("v3 history (deprecated marker), v4 code");
    // ...but a marker recorded by patched() must still be asked for.
    let err = replays::<PatchV2, PatchV4>().expect_err("v2 history, v4 code");
    let report = err
        .activation_error()
        .and_then(ActivationError::as_nondeterminism)
        .expect("non-determinism");
    assert_eq!(
        report.expected.as_deref(),
        Some(r#"MarkerRecorded(patch "fraud-check")"#)
    );
    assert!(
        report
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("deprecate_patch")),
        "{:?}",
        report.hint
    );
    // And v1 histories do not replay on code that dropped the old path without a patch.
    assert!(replays::<PatchV1, PatchV4>().is_err());
}

// ---- Saga ----

version!(SagaFlow, |ctx| {
    let mut saga = warpflow_engine::Saga::new();
    let r = ctx
        .activity::<Reserve>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    let c = ctx.clone();
    saga.add("release", move || {
        c.activity::<Release>(r).start_to_close(ten_seconds()).start()
    });
    let ch = ctx
        .activity::<Charge>("o".into())
        .start_to_close(ten_seconds())
        .await?;
    let c = ctx.clone();
    saga.add("refund", move || {
        c.activity::<Refund>(ch).start_to_close(ten_seconds()).start()
    });
    if ctx
        .activity::<Echo>("ship".into())
        .start_to_close(ten_seconds())
        .await
        .is_err()
    {
        let report = saga.compensate().await;
        return Err(WorkflowError::fail(
            "Compensated",
            format!("{:?} failed={:?}", report.ran(), report.failed()),
        ));
    }
    Ok(())
});

#[test]
fn saga_compensates_in_reverse_and_continues_past_a_failing_compensation() {
    let script = |ty: &str, input: &Payload| match ty {
        "echo" => Err(warpflow_engine::Failure::new("Down", "shipping down")),
        "refund_payment" => Err(warpflow_engine::Failure::new("Down", "refunds down")),
        _ => w1_script(ty, input),
    };
    let history = record(&registry::<SagaFlow>(), "versioned", Payload::null(), script);
    let E::WorkflowExecutionFailed { failure, .. } = result_of(&history) else {
        panic!("{:?}", event_types(&history))
    };
    assert_eq!(failure.message, r#"["refund", "release"] failed=["refund"]"#);
    let order: Vec<_> = history
        .events
        .iter()
        .filter_map(|e| match &e.attributes {
            E::ActivityTaskScheduled { activity_type, .. } => Some(activity_type.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        [
            "reserve_inventory",
            "charge_payment",
            "echo",
            "refund_payment",
            "release_inventory"
        ]
    );
    Replayer::new(registry::<SagaFlow>())
        .check(&history)
        .expect("replays");
}

// ---- Code that escapes the engine ----

version!(AwaitsAChannel, |ctx| {
    let (_tx, rx) = futures::channel::oneshot::channel::<()>();
    ctx.activity::<Echo>("a".into())
        .start_to_close(ten_seconds())
        .await?;
    let _ = rx.await;
    Ok(())
});

#[test]
fn a_workflow_blocked_on_a_foreign_future_is_a_named_violation_not_a_hang() {
    let recorder = Recorder::new(
        registry::<AwaitsAChannel>(),
        "versioned",
        Payload::null(),
        Box::new(w1_script),
    );
    let err = recorder.run().expect_err("must not hang or succeed");
    let ActivationError::DeterminismViolation(v) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(v.kind, ViolationKind::BlockedOutsideEngine);
    assert!(err.to_string().contains("workflow `wf-1`"), "{err}");
}

version!(TokioSleeper, |ctx| {
    ctx.activity::<Echo>("a".into())
        .start_to_close(ten_seconds())
        .await?;
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
});

#[tokio::test]
async fn a_tokio_sleep_inside_a_workflow_is_detected() {
    let recorder = Recorder::new(
        registry::<TokioSleeper>(),
        "versioned",
        Payload::null(),
        Box::new(w1_script),
    );
    let err = recorder.run().expect_err("tokio sleep must be reported");
    assert!(matches!(err, ActivationError::DeterminismViolation(_)), "{err}");
    assert!(err.to_string().contains("ctx.sleep"), "{err}");
}

version!(Panics, |ctx| {
    ctx.activity::<Echo>("a".into())
        .start_to_close(ten_seconds())
        .await?;
    panic!("bug in workflow");
});

#[test]
fn a_panicking_workflow_fails_its_task_with_the_message() {
    let err = Recorder::new(
        registry::<Panics>(),
        "versioned",
        Payload::null(),
        Box::new(w1_script),
    )
    .run()
    .expect_err("panic is an error");
    assert!(
        matches!(&err, ActivationError::Panic { message, .. } if message == "bug in workflow"),
        "{err:?}"
    );
}

#[test]
fn an_input_that_does_not_deserialize_names_the_workflow_and_the_field() {
    let err = Recorder::new(
        registry::<Order>(),
        "order",
        Payload::from(json!(["o-1", "soon"])),
        Box::new(w1_script),
    )
    .run()
    .expect_err("bad input");
    let msg = err.to_string();
    assert!(
        msg.contains("input of workflow `order`") && msg.contains("[1]"),
        "{msg}"
    );
}

#[test]
fn an_unknown_workflow_type_lists_the_registered_ones() {
    let err = Recorder::new(registry::<Order>(), "ordr", Payload::null(), Box::new(w1_script))
        .run()
        .expect_err("unknown type");
    assert_eq!(
        err.to_string(),
        "unknown workflow type `ordr` (registered: order)"
    );
}

#[test]
fn an_activity_without_a_close_timeout_is_refused_without_a_command() {
    version!(NoTimeout, |ctx| {
        let err = ctx.activity::<Echo>("a".into()).await.expect_err("no timeout");
        assert!(
            matches!(&err, ActivityError::InvalidOptions(m) if m.contains("start_to_close_timeout")),
            "{err}"
        );
        Ok(())
    });
    let history = record(&registry::<NoTimeout>(), "versioned", Payload::null(), w1_script);
    assert!(!event_types(&history).contains(&"ActivityTaskScheduled"));
    assert!(matches!(
        result_of(&history),
        E::WorkflowExecutionCompleted { .. }
    ));
}

#[test]
fn an_instance_whose_live_task_timed_out_reports_itself_stale() {
    let history = record(&registry::<Chain>(), "chain", Payload::from(json!(2)), w1_script);
    let mut instance = warpflow_engine::WorkflowInstance::new(
        registry::<Chain>(),
        history.workflow_id.clone(),
        history.run_id.clone(),
    );
    // Run task 1 live, then tell the instance that task timed out.
    let started = history
        .events
        .iter()
        .position(|e| matches!(e.attributes, E::WorkflowTaskStarted { .. }))
        .unwrap();
    instance
        .activate(&history.events[..=started])
        .expect("live task")
        .expect("commands");
    let timed_out = warpflow_engine::HistoryEvent {
        event_id: history.events[started].event_id.next(),
        event_time: history.events[started].event_time,
        attributes: E::WorkflowTaskTimedOut {
            scheduled_event_id: history.events[started - 1].event_id,
            started_event_id: Some(history.events[started].event_id),
            timeout_type: warpflow_engine::TimeoutType::StartToClose,
        },
    };
    let err = instance.activate(&[timed_out]).expect_err("stale");
    assert!(matches!(err, ActivationError::StaleInstance { .. }), "{err}");
    assert!(matches!(
        instance.activate(&[]),
        Err(ActivationError::Poisoned { .. })
    ));
}

#[test]
fn histories_checked_in_shared_buffers_give_what_each_gives_checked_alone() {
    let registry = Registry::new().with_workflow::<Order>().with_workflow::<Chain>();
    let order = record(&registry, "order", Payload::from(json!(["o-1", 24])), w1_script);
    let chain = record(&registry, "chain", Payload::from(json!(5)), w1_script);
    // The same order, its first activity renamed in history: a non-determinism to report.
    let mut renamed = order.clone();
    let scheduled = renamed
        .events
        .iter_mut()
        .find_map(|e| match &mut e.attributes {
            E::ActivityTaskScheduled { activity_type, .. } => Some(activity_type),
            _ => None,
        })
        .expect("the order schedules an activity");
    *scheduled = "renamed_activity".into();
    let replayer = Replayer::new(registry);
    let mut buffers = ReplayBuffers::default();
    for history in [&order, &chain, &renamed, &chain, &order] {
        let shared = replayer.check_in(history, &mut buffers);
        assert_eq!(shared, replayer.check(history), "{}", history.workflow_id);
    }
    assert!(replayer.check_in(&renamed, &mut buffers).is_err());
    let outcome = replayer.check_in(&chain, &mut buffers).expect("replays");
    assert_eq!(outcome.workflow_tasks, 6);
}
