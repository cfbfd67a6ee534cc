//! Child workflows, parent-close policies, continue-as-new and the signal that races it,
//! cancellation and termination — through the service, step by step.

mod support;

use futures::future::{Either, select};
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use support::engine_harness::Harness;
use warpflow_engine::Payload;
use warpflow_engine::history::{EventAttributes as E, ParentClosePolicy, validate};
use warpflow_engine::service::api::RunOutcome;
use warpflow_engine::service::{Request, Response, ServiceError};
use warpflow_engine::storage::RunStatus;
use warpflow_engine::workflow::{Signal, Workflow, WorkflowCtx};
use warpflow_engine::{History, Registry, Replayer, WorkflowError, WorkflowId, WorkflowResult};

fn describe(h: &Harness, workflow_id: &str) -> warpflow_engine::service::api::RunDescription {
    match h.call(Request::Describe {
        workflow_id: WorkflowId::new(workflow_id),
        run_id: None,
    }) {
        Ok(Response::Description(d)) => *d,
        other => panic!("{other:?}"),
    }
}

fn types(history: &History) -> Vec<&'static str> {
    history.events.iter().map(|e| e.attributes.event_type()).collect()
}

fn assert_replays(registry: &Registry, history: &History) {
    validate(history).unwrap_or_else(|e| panic!("invalid history: {e}\n{}", history.render_timeline()));
    Replayer::new(registry.clone())
        .check(history)
        .unwrap_or_else(|e| panic!("does not replay: {e}\n{}", history.render_timeline()));
}

/// Sleeps an hour, unless asked to cancel first.
struct Sleeper;
impl Workflow for Sleeper {
    const NAME: &'static str = "sleeper";
    type Input = String;
    type Output = String;
    async fn run(ctx: WorkflowCtx, name: String) -> WorkflowResult<String> {
        match select(ctx.sleep(Duration::from_secs(3600)), ctx.cancelled()).await {
            Either::Left(_) => Ok(format!("{name} woke")),
            Either::Right(_) => Err(WorkflowError::Cancelled),
        }
    }
}

/// Runs a child and returns its result, or (with `wait` false) starts it and returns.
struct Parent;
impl Workflow for Parent {
    const NAME: &'static str = "parent";
    type Input = (bool, ParentClosePolicy);
    type Output = String;
    async fn run(ctx: WorkflowCtx, (wait, policy): (bool, ParentClosePolicy)) -> WorkflowResult<String> {
        let child = ctx
            .child::<Sleeper>("kid".into())
            .id("kid-1")
            .parent_close_policy(policy)
            .start();
        if wait {
            return Ok(child.await?);
        }
        // Let the child start, then leave.
        ctx.sleep(Duration::from_secs(1)).await;
        Ok("left".into())
    }
}

fn registry() -> Registry {
    Registry::new()
        .with_workflow::<Parent>()
        .with_workflow::<Sleeper>()
        .with_workflow::<Counter>()
}

#[test]
fn a_parent_awaits_its_childs_result() {
    let registry = registry();
    let mut h = Harness::new(registry.clone());
    h.start("parent", "p-1", Payload::from(json!([true, "Terminate"])))
        .expect("started");
    h.run_workflow_tasks();
    assert_eq!(
        describe(&h, "kid-1").status,
        RunStatus::Running,
        "the child runs under its own id"
    );
    h.advance(Duration::from_secs(3600));
    h.run_workflow_tasks();
    assert_eq!(
        describe(&h, "p-1").outcome,
        Some(RunOutcome::Completed(Payload::from("kid woke")))
    );
    let parent = h.history("p-1", None);
    let t = types(&parent);
    for expected in [
        "StartChildWorkflowExecutionInitiated",
        "ChildWorkflowExecutionStarted",
        "ChildWorkflowExecutionCompleted",
    ] {
        assert!(t.contains(&expected), "{expected} missing: {t:?}");
    }
    let child = h.history("kid-1", None);
    assert!(
        matches!(&child.events[0].attributes, E::WorkflowExecutionStarted { parent: Some(p), .. } if p.workflow_id.as_str() == "p-1")
    );
    assert_replays(&registry, &parent);
    assert_replays(&registry, &child);
}

fn close_parent_with(policy: &str) -> (Harness, Registry) {
    let registry = registry();
    let mut h = Harness::new(registry.clone());
    h.start("parent", "p-2", Payload::from(json!([false, policy])))
        .expect("started");
    h.run_workflow_tasks();
    h.advance(Duration::from_secs(1));
    h.run_workflow_tasks();
    assert_eq!(
        describe(&h, "p-2").outcome,
        Some(RunOutcome::Completed(Payload::from("left")))
    );
    (h, registry)
}

#[test]
fn parent_close_policy_terminate_terminates_the_child() {
    let (h, registry) = close_parent_with("Terminate");
    let child = describe(&h, "kid-1");
    assert_eq!(child.status, RunStatus::Terminated);
    assert!(
        matches!(child.outcome, Some(RunOutcome::Terminated(reason)) if reason.contains("parent-close policy"))
    );
    assert_replays(&registry, &h.history("p-2", None));
}

#[test]
fn parent_close_policy_request_cancel_lets_the_child_cancel_itself() {
    let (mut h, registry) = close_parent_with("RequestCancel");
    h.run_workflow_tasks();
    assert_eq!(describe(&h, "kid-1").status, RunStatus::Canceled);
    let child = h.history("kid-1", None);
    assert!(types(&child).contains(&"WorkflowExecutionCancelRequested"));
    assert_replays(&registry, &child);
}

#[test]
fn parent_close_policy_abandon_leaves_the_child_running() {
    let (mut h, _) = close_parent_with("Abandon");
    h.run_workflow_tasks();
    assert_eq!(describe(&h, "kid-1").status, RunStatus::Running);
    h.advance(Duration::from_secs(3600));
    h.run_workflow_tasks();
    assert_eq!(
        describe(&h, "kid-1").outcome,
        Some(RunOutcome::Completed(Payload::from("kid woke")))
    );
}

#[test]
fn a_child_whose_id_is_taken_fails_to_start_and_the_parent_hears_why() {
    let registry = registry();
    let mut h = Harness::new(registry.clone());
    h.start("sleeper", "kid-1", Payload::from("squatter"))
        .expect("started");
    h.start("parent", "p-3", Payload::from(json!([true, "Terminate"])))
        .expect("started");
    h.run_workflow_tasks();
    let Some(RunOutcome::Failed(failure)) = describe(&h, "p-3").outcome else {
        panic!("{:?}", describe(&h, "p-3"))
    };
    assert!(failure.message.contains("WorkflowAlreadyRunning"), "{failure:?}");
    assert_replays(&registry, &h.history("p-3", None));
}

struct Bump;
impl Signal for Bump {
    const NAME: &'static str = "bump";
    type Input = u32;
}

/// Adds up signals for 5 minutes, then continues as new with the total.
struct Counter;
impl Workflow for Counter {
    const NAME: &'static str = "counter";
    type Input = u32;
    type Output = u32;
    async fn run(ctx: WorkflowCtx, total: u32) -> WorkflowResult<u32> {
        let sum = Rc::new(Cell::new(total));
        let s = sum.clone();
        ctx.on_signal::<Bump>(move |n| s.set(s.get() + n));
        ctx.sleep(Duration::from_secs(300)).await;
        if sum.get() >= 100 {
            return Ok(sum.get());
        }
        Err(ctx.continue_as_new::<Counter>(&sum.get()))
    }
}

#[test]
fn continue_as_new_starts_a_fresh_run_and_a_signal_racing_the_switch_is_not_lost() {
    let registry = registry();
    let mut h = Harness::new(registry.clone());
    let first_run = h
        .start("counter", "counter-1", Payload::from(json!(0)))
        .expect("started");
    h.run_workflow_tasks();
    h.advance(Duration::from_secs(300));
    // The task that decides to continue as new is running when a signal arrives.
    let (token, commands) = h.take_workflow_task().expect("the task after the timer");
    assert!(matches!(
        commands.last(),
        Some(warpflow_engine::Command::ContinueAsNew(_))
    ));
    h.signal("counter-1", "bump", Payload::from(json!(7)))
        .expect("signal accepted");
    h.finish_workflow_task(token, commands)
        .expect("completion answered");
    h.run_workflow_tasks();
    let old = h.history("counter-1", Some(&first_run));
    let t = types(&old);
    assert!(
        t.contains(&"WorkflowTaskFailed"),
        "the close was refused while a signal waited: {t:?}"
    );
    let Some(E::WorkflowExecutionContinuedAsNew {
        input,
        new_execution_run_id,
        ..
    }) = old.events.last().map(|e| &e.attributes)
    else {
        panic!("{}", old.render_timeline())
    };
    assert_eq!(
        input,
        &json!(7),
        "the racing signal was counted before the switch"
    );
    assert_replays(&registry, &old);
    let new = describe(&h, "counter-1");
    assert_eq!(&new.run.run_id, new_execution_run_id);
    assert_eq!(new.status, RunStatus::Running);
    let fresh = h.history("counter-1", None);
    assert!(
        matches!(&fresh.events[0].attributes, E::WorkflowExecutionStarted { input, continued_from_run_id: Some(_), .. } if *input == json!(7))
    );
    assert!(
        fresh.events.len() < 6,
        "a fresh history: {}",
        fresh.render_timeline()
    );
    // A signal to the workflow id now reaches the new run.
    h.signal("counter-1", "bump", Payload::from(json!(100)))
        .expect("signal accepted");
    h.advance(Duration::from_secs(300));
    h.run_workflow_tasks();
    assert_eq!(
        describe(&h, "counter-1").outcome,
        Some(RunOutcome::Completed(Payload::from(json!(107))))
    );
}

#[test]
fn cancel_and_terminate_requests() {
    let registry = registry();
    let mut h = Harness::new(registry.clone());
    h.start("sleeper", "s-1", Payload::from("a")).expect("started");
    h.start("sleeper", "s-2", Payload::from("b")).expect("started");
    h.run_workflow_tasks();
    let cancel = |h: &mut Harness, id: &str| {
        let request_id = h.request_id();
        h.call(Request::RequestCancel {
            request_id,
            workflow_id: WorkflowId::new(id),
            run_id: None,
            reason: "changed my mind".into(),
        })
    };
    cancel(&mut h, "s-1").expect("cancel accepted");
    cancel(&mut h, "s-1").expect("a second request is accepted and changes nothing");
    h.run_workflow_tasks();
    assert_eq!(describe(&h, "s-1").status, RunStatus::Canceled);
    let requests = types(&h.history("s-1", None))
        .iter()
        .filter(|t| **t == "WorkflowExecutionCancelRequested")
        .count();
    assert_eq!(requests, 1);
    assert!(matches!(
        cancel(&mut h, "s-1"),
        Err(ServiceError::NotRunning { .. })
    ));

    let request_id = h.request_id();
    let terminate = Request::Terminate {
        request_id,
        workflow_id: WorkflowId::new("s-2"),
        run_id: None,
        reason: "stuck".into(),
    };
    h.call(terminate.clone()).expect("terminated");
    h.call(terminate).expect("a retried terminate is acknowledged");
    assert_eq!(
        describe(&h, "s-2").outcome,
        Some(RunOutcome::Terminated("stuck".into()))
    );
    assert_eq!(
        h.advance(Duration::from_secs(7200)),
        0,
        "a terminated run's timers are gone"
    );
    assert!(matches!(
        h.call(Request::Describe {
            workflow_id: WorkflowId::new("nope"),
            run_id: None
        }),
        Err(ServiceError::WorkflowNotFound { .. })
    ));
}
