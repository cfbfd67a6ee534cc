//! Worker liveness end to end, on tokio's paused clock: the real service with its timer
//! loop, real workers heartbeating every 200 ms, and kills that behave like SIGKILL (a
//! killed process sends nothing more, and the calls it had in flight get no answer).
//!
//! Issue #6's target: after a worker is killed and another started at once, or after the
//! engine is killed and restarted on its storage, every workflow completes within 2 s, and
//! no more activities run twice than were in flight at the kill.

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::LocalSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use warpflow_engine::Payload;
use warpflow_engine::adapters::{TokioClock, TokioSpawner};
use warpflow_engine::client::{Client, StartOptions};
use warpflow_engine::env::{SharedClock, Spawner};
use warpflow_engine::service::api::{RunOutcome, WorkflowPoll};
use warpflow_engine::service::{Request, Response, Service, ServiceConfig, ServiceError, Transport};
use warpflow_engine::storage::{MemoryStorage, RunStatus};
use warpflow_engine::workflow::{Workflow, WorkflowCtx};
use warpflow_engine::{
    Activity, ActivityCtx, ActivityError, Registry, Timestamp, Worker, WorkerOptions, WorkflowResult,
};

const EPOCH: Timestamp = Timestamp::from_millis(1_767_225_600_000);
const QUEUE: &str = "orders";
const WORKFLOWS: usize = 20;

/// How many times each activity started and finished: the world the activities act on.
#[derive(Clone, Default)]
struct Ledger(Arc<Mutex<BTreeMap<String, (u32, u32)>>>);

impl Ledger {
    fn note(&self, key: &str, finished: bool) {
        let mut entries = self.0.lock().unwrap();
        let entry = entries.entry(key.to_owned()).or_default();
        if finished {
            entry.1 += 1;
        } else {
            entry.0 += 1;
        }
    }

    /// Activities started and not finished.
    fn in_flight(&self) -> usize {
        self.0.lock().unwrap().values().filter(|(s, f)| s > f).count()
    }

    /// Executions beyond the first, over all activities.
    fn repeated(&self) -> u32 {
        self.0
            .lock()
            .unwrap()
            .values()
            .map(|(s, _)| s.saturating_sub(1))
            .sum()
    }
}

/// Takes 100 ms.
struct Work(Ledger);
impl Activity for Work {
    const NAME: &'static str = "work";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: ActivityCtx, key: String) -> Result<String, ActivityError> {
        self.0.note(&key, false);
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.0.note(&key, true);
        Ok(key)
    }
}

/// Three pieces of work in sequence, each with a 10 s start-to-close timeout.
struct ThreeSteps;
impl Workflow for ThreeSteps {
    const NAME: &'static str = "three_steps";
    type Input = String;
    type Output = String;
    async fn run(ctx: WorkflowCtx, id: String) -> WorkflowResult<String> {
        let mut done = Vec::new();
        for step in ["a", "b", "c"] {
            let call = ctx.activity::<Work>(format!("{id}/{step}"));
            done.push(call.start_to_close(Duration::from_secs(10)).await?);
        }
        Ok(done.join("+"))
    }
}

/// The engine process: a service and its timer loop over storage that survives it. Also its
/// transport: calls to a killed engine fail as unavailable, the calls it had in flight too.
struct EngineProcess {
    /// The machine's clock, shared by every process.
    clock: SharedClock,
    storage: MemoryStorage,
    current: Mutex<Option<(Arc<Service>, CancellationToken)>>,
    /// Kill and restart the engine as the next poll that hands out work is answered: the
    /// work is recorded as started, but its worker never hears of it.
    crash_on_handout: AtomicBool,
    restarted_at: Mutex<Option<Instant>>,
}

impl EngineProcess {
    fn start() -> Arc<EngineProcess> {
        let engine = Arc::new(EngineProcess {
            clock: Arc::new(TokioClock::starting_at(EPOCH)),
            storage: MemoryStorage::new(),
            current: Mutex::new(None),
            crash_on_handout: AtomicBool::new(false),
            restarted_at: Mutex::new(None),
        });
        engine.boot();
        engine
    }

    fn boot(&self) {
        let config = ServiceConfig {
            seed: 7,
            ..ServiceConfig::default()
        };
        let service = Arc::new(Service::new(
            Arc::new(self.storage.clone()),
            self.clock.clone(),
            config,
        ));
        let alive = CancellationToken::new();
        let (timers, stop) = (service.clone(), alive.clone());
        TokioSpawner.spawn(
            "timers",
            Box::pin(async move {
                let _ = stop.run_until_cancelled(timers.run_timers()).await;
            }),
        );
        let previous = self.current.lock().unwrap().replace((service, alive));
        if let Some((_, alive)) = previous {
            alive.cancel();
        }
    }

    /// SIGKILL, then a new process on the same storage.
    fn restart(&self) {
        self.boot();
        *self.restarted_at.lock().unwrap() = Some(Instant::now());
    }
}

fn hands_out_work(response: &Result<Response, ServiceError>) -> bool {
    matches!(
        response,
        Ok(Response::ActivityTask(Some(_)) | Response::WorkflowPoll(WorkflowPoll::Task(_)))
    )
}

/// The transport to whichever engine process runs now.
struct ToEngine(Arc<EngineProcess>);

impl Transport for ToEngine {
    fn call(&self, request: Request) -> futures::future::BoxFuture<'static, Result<Response, ServiceError>> {
        let engine = self.0.clone();
        let current = engine.current.lock().unwrap().clone();
        Box::pin(async move {
            let Some((service, alive)) = current else {
                return Err(ServiceError::Unavailable("no engine".into()));
            };
            let killed = || ServiceError::Unavailable("the engine was killed".into());
            let response = alive
                .run_until_cancelled(service.handle(request))
                .await
                .unwrap_or_else(|| Err(killed()));
            if hands_out_work(&response) && engine.crash_on_handout.swap(false, Ordering::SeqCst) {
                engine.restart();
                return Err(killed());
            }
            response
        })
    }
}

/// Spawns a worker process's activity attempts so that killing the process stops them.
struct ProcessSpawner(CancellationToken);

impl Spawner for ProcessSpawner {
    fn spawn(&self, name: &'static str, future: futures::future::BoxFuture<'static, ()>) {
        let alive = self.0.clone();
        TokioSpawner.spawn(
            name,
            Box::pin(async move {
                let _ = alive.run_until_cancelled(future).await;
            }),
        );
    }
}

/// A worker process heartbeating every 200 ms; cancel the token to kill it.
fn start_worker(engine: &Arc<EngineProcess>, identity: &str, ledger: &Ledger) -> CancellationToken {
    let alive = CancellationToken::new();
    let options = WorkerOptions {
        identity: identity.into(),
        liveness_interval: Some(Duration::from_millis(200)),
        ..WorkerOptions::default()
    };
    let registry = Registry::new()
        .with_workflow::<ThreeSteps>()
        .with_activity(Work(ledger.clone()));
    let worker = Worker::new(
        Arc::new(ToEngine(engine.clone())),
        QUEUE,
        registry,
        options,
        Arc::new(ProcessSpawner(alive.clone())),
        engine.clock.clone(),
    );
    let process = alive.clone();
    tokio::task::spawn_local(async move {
        let _ = process
            .run_until_cancelled(worker.run(CancellationToken::new()))
            .await;
    });
    alive
}

async fn start_workflows(engine: &Arc<EngineProcess>) {
    let client = Client::new(Arc::new(ToEngine(engine.clone())), engine.clock.clone(), 1);
    for n in 0..WORKFLOWS {
        let id = format!("order-{n}");
        client
            .start::<ThreeSteps>(id.as_str(), &id, StartOptions::new(QUEUE))
            .await
            .expect("started");
    }
}

/// Waits (up to a minute) until every run is closed; returns when that was.
async fn all_closed(engine: &Arc<EngineProcess>) -> Instant {
    let transport = ToEngine(engine.clone());
    for _ in 0..6_000 {
        let runs = match transport.call(Request::ListRuns { workflow_id: None }).await {
            Ok(Response::Runs(runs)) => runs,
            _ => Vec::new(), // The engine is down for a moment.
        };
        if runs.len() == WORKFLOWS && runs.iter().all(|r| r.status.is_closed()) {
            for run in &runs {
                assert_eq!(run.status, RunStatus::Completed, "{run:?}");
                let id = run.run.workflow_id.to_string();
                let result = Payload::from(json!(format!("{id}/a+{id}/b+{id}/c")));
                assert_eq!(run.outcome, Some(RunOutcome::Completed(result)));
            }
            return Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the workflows did not complete within a minute");
}

/// The workload, mid-way: an engine, worker-a, and every workflow running its second step.
struct MidWay {
    engine: Arc<EngineProcess>,
    ledger: Ledger,
    worker: CancellationToken,
    /// Activities running at this point.
    in_flight: usize,
}

async fn mid_way() -> MidWay {
    let engine = EngineProcess::start();
    let ledger = Ledger::default();
    let worker = start_worker(&engine, "worker-a", &ledger);
    start_workflows(&engine).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let in_flight = ledger.in_flight();
    assert!(in_flight > 0, "the workflows run their second step");
    MidWay {
        engine,
        ledger,
        worker,
        in_flight,
    }
}

/// Every workflow completed within 2 s of `since`, and no more activities ran twice than
/// were in flight; returns how many ran twice.
async fn completed_soon_after(run: &MidWay, since: impl FnOnce() -> Instant) -> usize {
    let closed = all_closed(&run.engine).await;
    let took = closed - since();
    assert!(took <= Duration::from_secs(2), "{took:?}");
    let repeated = run.ledger.repeated() as usize;
    assert!(
        repeated <= run.in_flight,
        "{repeated} repeated, {} in flight",
        run.in_flight
    );
    repeated
}

#[tokio::test(start_paused = true)]
async fn after_a_worker_is_killed_every_workflow_completes_within_two_seconds() {
    LocalSet::new()
        .run_until(async {
            let run = mid_way().await;
            run.worker.cancel(); // SIGKILL
            let killed_at = Instant::now();
            let _second = start_worker(&run.engine, "worker-b", &run.ledger);
            let repeated = completed_soon_after(&run, || killed_at).await;
            assert!(repeated > 0, "the attempts in flight ran again");
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn after_the_engine_is_killed_and_restarted_every_workflow_completes_within_two_seconds() {
    LocalSet::new()
        .run_until(async {
            let run = mid_way().await;
            // The engine dies as it hands out work: that work is started in storage, but
            // the worker never receives it.
            run.engine.crash_on_handout.store(true, Ordering::SeqCst);
            let restarted_at = || {
                run.engine
                    .restarted_at
                    .lock()
                    .unwrap()
                    .expect("the engine restarted")
            };
            completed_soon_after(&run, restarted_at).await;
        })
        .await;
}
