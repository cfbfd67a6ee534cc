//! Eager workflow tasks: an activity completion that asks for it starts the run's next
//! workflow task in the same commit when the completing worker is the run's sticky worker,
//! and answers with it; otherwise the task waits in the queue. Through the service on a
//! manual clock, and with a real worker on tokio's paused clock.

mod support;

use futures::future::BoxFuture;
use serde_json::json;
use std::sync::{Arc, Mutex};
use support::engine_harness::{Harness, assert_replays};
use support::workflows::Chain;
use tokio::task::LocalSet;
use warpflow_engine::Payload;
use warpflow_engine::adapters::{TokioClock, TokioSpawner};
use warpflow_engine::client::StartOptions;
use warpflow_engine::engine::Engine;
use warpflow_engine::history::EventAttributes as E;
use warpflow_engine::service::api::{ActivityTask, RunOutcome, WorkflowPoll};
use warpflow_engine::service::{InProcess, Request, Response, ServiceError, Transport};
use warpflow_engine::worker::{CancellationToken, Worker, WorkerOptions};
use warpflow_engine::{Activity, ActivityCtx, ActivityError, Registry, Timestamp};

fn complete(h: &Harness, task: &ActivityTask, eager: bool, identity: &str) -> Result<Response, ServiceError> {
    h.call(Request::CompleteActivityTask {
        token: task.token.clone(),
        outcome: Ok(Payload::from(json!(task.input.as_u64().unwrap_or_default() + 1))),
        eager_workflow_task: eager,
        identity: identity.to_owned(),
    })
}

fn poll_workflow(h: &Harness) -> Response {
    h.call(Request::PollWorkflowTask {
        task_queue: h.queue.clone(),
        identity: h.identity.clone(),
        workflow_types: Vec::new(),
    })
    .expect("poll answered")
}

/// Starts a two-step chain and runs its first workflow task as the harness's worker.
fn chain_at_first_activity() -> (Harness, ActivityTask) {
    let mut h = Harness::new(Registry::new().with_workflow::<Chain>());
    h.start("chain", "chain-1", Payload::from(json!(2)))
        .expect("started");
    assert_eq!(h.run_workflow_tasks(), 1);
    let activity = h.next_activity().expect("the first step is ready");
    (h, activity)
}

#[test]
fn the_sticky_worker_s_completion_carries_the_next_workflow_task_and_the_run_completes() {
    let (mut h, first) = chain_at_first_activity();
    let identity = h.identity.clone();
    let task = match complete(&h, &first, true, &identity).expect("completed") {
        Response::EagerWorkflowTask(task) => task,
        other => panic!("expected the next workflow task, got {other:?}"),
    };
    // As for a polled task of the sticky worker: from the last task's completion on.
    let kinds: Vec<&str> = task.events.iter().map(|e| e.attributes.event_type()).collect();
    assert_eq!(
        kinds,
        [
            "WorkflowTaskCompleted",
            "ActivityTaskScheduled",
            "ActivityTaskStarted",
            "ActivityTaskCompleted",
            "WorkflowTaskScheduled",
            "WorkflowTaskStarted"
        ]
    );
    assert_eq!(task.first_event_id, task.events[0].event_id);
    assert!(task.first_event_id > warpflow_engine::EventId::FIRST);
    // The task was never queued: a poll finds nothing.
    assert!(matches!(
        poll_workflow(&h),
        Response::WorkflowPoll(WorkflowPoll::Empty)
    ));
    let (token, commands) = h.run_task(&task);
    h.finish_workflow_task(token, commands).expect("accepted");
    let second = h.next_activity().expect("the second step is ready");
    let task = match complete(&h, &second, true, &identity).expect("completed") {
        Response::EagerWorkflowTask(task) => task,
        other => panic!("expected the last workflow task, got {other:?}"),
    };
    let (token, commands) = h.run_task(&task);
    h.finish_workflow_task(token, commands).expect("accepted");
    assert_eq!(
        h.outcome("chain-1"),
        Some(RunOutcome::Completed(Payload::from(json!(3))))
    );
    let history = h.history("chain-1", None);
    assert_replays(&Registry::new().with_workflow::<Chain>(), &history);
    let started = history
        .events
        .iter()
        .filter(|e| matches!(e.attributes, E::WorkflowTaskStarted { .. }))
        .count();
    assert_eq!(started, 3, "one polled task, two eager ones");
}

#[test]
fn another_worker_s_completion_leaves_the_workflow_task_in_the_queue() {
    let (mut h, first) = chain_at_first_activity();
    assert_eq!(
        complete(&h, &first, true, "another-worker").expect("completed"),
        Response::Ack
    );
    assert_eq!(h.run_workflow_tasks(), 1, "the task is polled");
}

#[test]
fn a_completion_that_does_not_ask_leaves_the_workflow_task_in_the_queue() {
    let (mut h, first) = chain_at_first_activity();
    let identity = h.identity.clone();
    assert_eq!(
        complete(&h, &first, false, &identity).expect("completed"),
        Response::Ack
    );
    assert_eq!(h.run_workflow_tasks(), 1, "the task is polled");
    let second = h.next_activity().expect("the second step is ready");
    complete(&h, &second, false, &identity).expect("completed");
    h.run_workflow_tasks();
    assert_eq!(
        h.outcome("chain-1"),
        Some(RunOutcome::Completed(Payload::from(json!(3))))
    );
}

/// The service behind a transport that counts how workflow tasks reach the worker.
struct Counting {
    inner: InProcess,
    counts: Arc<Mutex<(usize, usize)>>,
}

impl Transport for Counting {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, ServiceError>> {
        let answer = self.inner.call(request);
        let counts = self.counts.clone();
        Box::pin(async move {
            let answer = answer.await;
            let mut counts = counts.lock().expect("counts");
            match &answer {
                Ok(Response::WorkflowPoll(WorkflowPoll::Task(_))) => counts.0 += 1,
                Ok(Response::EagerWorkflowTask(_)) => counts.1 += 1,
                _ => {}
            }
            answer
        })
    }
}

/// The `step` activity for real: `i` → `i + 1`.
struct AddOne;
impl Activity for AddOne {
    const NAME: &'static str = "step";
    type Input = u64;
    type Output = u64;
    async fn run(&self, _ctx: ActivityCtx, i: u64) -> Result<u64, ActivityError> {
        Ok(i + 1)
    }
}

/// Runs a three-step chain on a real worker; (polled, eager) workflow tasks.
async fn run_chain(options: WorkerOptions) -> (usize, usize) {
    let local = LocalSet::new();
    local
        .run_until(async move {
            let clock = Arc::new(TokioClock::starting_at(Timestamp::from_millis(1_767_225_600_000)));
            let engine = Engine::builder().clock(clock.clone()).build();
            let counts = Arc::new(Mutex::new((0, 0)));
            let transport = Counting {
                inner: InProcess::new(engine.service()),
                counts: counts.clone(),
            };
            let registry = Registry::new().with_workflow::<Chain>().with_activity(AddOne);
            let worker = Worker::new(
                Arc::new(transport),
                "default",
                registry,
                options,
                Arc::new(TokioSpawner),
                clock,
            );
            let shutdown = CancellationToken::new();
            let running = tokio::task::spawn_local(worker.run(shutdown.clone()));
            let handle = engine
                .client()
                .start::<Chain>("chain-1", &3, StartOptions::new("default"))
                .await
                .expect("started");
            assert_eq!(handle.result().await.expect("completed"), 6);
            shutdown.cancel();
            running
                .await
                .expect("worker task")
                .expect("worker stopped cleanly");
            *counts.lock().expect("counts")
        })
        .await
}

#[tokio::test(start_paused = true)]
async fn a_worker_runs_the_workflow_tasks_its_activity_completions_start() {
    assert_eq!(run_chain(WorkerOptions::default()).await, (1, 3));
    let off = WorkerOptions {
        eager_workflow_tasks: false,
        ..WorkerOptions::default()
    };
    assert_eq!(run_chain(off).await, (4, 0));
}
