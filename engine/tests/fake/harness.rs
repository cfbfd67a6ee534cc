//! What the worker tests share: a `greet` workflow (it echoes its input through an activity),
//! its history, a worker over a fake transport, and a way to run the worker until the fake
//! has seen enough.

use super::FakeTransport;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::LocalSet;
use warpflow_engine::Payload;
use warpflow_engine::adapters::{TokioClock, TokioSpawner};
use warpflow_engine::history::HistoryBuilder;
use warpflow_engine::service::{Request, ServiceError};
use warpflow_engine::storage::RunKey;
use warpflow_engine::worker::CancellationToken;
use warpflow_engine::workflow::{Query, Workflow, WorkflowCtx};
use warpflow_engine::{
    Activity, ActivityCtx, ActivityError, History, Registry, Timestamp, Worker, WorkerOptions, WorkflowResult,
};

/// 2026-01-01T00:00:00Z, the start of built histories.
pub const EPOCH: Timestamp = Timestamp::from_millis(1_767_225_600_000);

pub struct Echo;
impl Activity for Echo {
    const NAME: &'static str = "echo";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: ActivityCtx, input: String) -> Result<String, ActivityError> {
        Ok(input)
    }
}

pub struct Status;
impl Query for Status {
    const NAME: &'static str = "status";
    type Args = ();
    type Output = String;
}

/// Echoes its input through an activity and greets the result.
pub struct Greet;
impl Workflow for Greet {
    const NAME: &'static str = "greet";
    type Input = String;
    type Output = String;
    async fn run(ctx: WorkflowCtx, name: String) -> WorkflowResult<String> {
        ctx.on_query::<Status>(|()| "waiting for echo".to_owned());
        let echoed = ctx
            .activity::<Echo>(name)
            .start_to_close(Duration::from_secs(10))
            .await?;
        Ok(format!("hello {echoed}"))
    }
}

pub fn worker(transport: Arc<FakeTransport>, registry: Registry, slots: usize) -> Worker {
    let options = WorkerOptions {
        identity: "test-worker".into(),
        max_concurrent_workflow_tasks: slots,
        ..WorkerOptions::default()
    };
    Worker::new(
        transport,
        "default",
        registry,
        options,
        Arc::new(TokioSpawner),
        Arc::new(TokioClock::starting_at(EPOCH)),
    )
}

pub fn run_key(workflow_id: &str) -> RunKey {
    RunKey {
        workflow_id: workflow_id.into(),
        run_id: "run-1".into(),
    }
}

/// The whole history of a `greet` run of `workflow_id`: task 1 scheduled the echo, which
/// completed, and task 2 (events 8-9) is in flight.
pub fn greet_history(workflow_id: &str) -> History {
    let mut b = HistoryBuilder::new("greet", Payload::from("Ada")).with_ids(workflow_id, "run-1");
    b.workflow_task(); // 2-4
    let echo = b.activity_scheduled("1", "echo", Payload::from("Ada")); // 5
    b.activity_completed(echo, Payload::from("Ada")); // 6-7
    b.workflow_task_started(); // 8-9
    b.build()
}

/// Runs `worker` on a `LocalSet` (its future is not `Send`) until `done` holds for the
/// requests it made, then shuts it down and checks that it stopped cleanly.
pub async fn run_until(
    worker: Worker,
    fake: &FakeTransport,
    what: &str,
    done: impl Fn(&[Request]) -> bool,
) -> Result<(), ServiceError> {
    let shutdown = CancellationToken::new();
    let local = LocalSet::new();
    local
        .run_until(async {
            let running = tokio::task::spawn_local(worker.run(shutdown.clone()));
            fake.wait_until(what, done).await;
            shutdown.cancel();
            running.await.unwrap()
        })
        .await
}

pub fn count(requests: &[Request], pick: fn(&Request) -> bool) -> usize {
    requests.iter().filter(|r| pick(r)).count()
}
