//! End to end through the real tokio adapters: `Engine` (service + timer loop), `Worker` and
//! `Client`, on tokio's paused clock — time skips to the next timer, so a 24-hour wait takes
//! microseconds and backoff delays are exact.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::LocalSet;
use warpflow_engine::Payload;
use warpflow_engine::adapters::TokioClock;
use warpflow_engine::client::{ClientError, StartOptions, WorkflowFailure, WorkflowHandle};
use warpflow_engine::engine::Engine;
use warpflow_engine::history::{EventAttributes as E, ParentClosePolicy, validate};
use warpflow_engine::service::ServiceError;
use warpflow_engine::service::api::IdReusePolicy;
use warpflow_engine::storage::RunStatus;
use warpflow_engine::worker::CancellationToken;
use warpflow_engine::workflow::{Query, Signal, Workflow, WorkflowCtx};
use warpflow_engine::{
    Activity, ActivityCtx, ActivityError, History, Registry, Replayer, RetryPolicy, Saga, Timestamp,
    WorkflowError, WorkflowResult,
};

const EPOCH: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// What the activities did, in order: the "external world" the tests inspect.
type Ledger = Arc<Mutex<Vec<String>>>;

fn note(ledger: &Ledger, line: String) {
    ledger.lock().expect("ledger").push(line);
}

macro_rules! ledger_activity {
    ($ty:ident, $name:literal, $prefix:literal) => {
        struct $ty(Ledger);
        impl Activity for $ty {
            const NAME: &'static str = $name;
            type Input = String;
            type Output = String;
            async fn run(&self, _ctx: ActivityCtx, id: String) -> Result<String, ActivityError> {
                note(&self.0, format!("{} {id}", $name));
                Ok(format!("{}{id}", $prefix))
            }
        }
    };
}

ledger_activity!(Reserve, "reserve_inventory", "res-");
ledger_activity!(Charge, "charge_payment", "chg-");
ledger_activity!(Refund, "refund_payment", "refund-");
ledger_activity!(Release, "release_inventory", "released-");

struct Approve;
impl Signal for Approve {
    const NAME: &'static str = "approve";
    type Input = bool;
}

struct Stage;
impl Query for Stage {
    const NAME: &'static str = "stage";
    type Args = ();
    type Output = String;
}

/// W1 of the benchmarks.
struct Order;
impl Workflow for Order {
    const NAME: &'static str = "order";
    type Input = (String, u64);
    type Output = String;

    async fn run(ctx: WorkflowCtx, (order_id, hours): (String, u64)) -> WorkflowResult<String> {
        let stage = Rc::new(std::cell::RefCell::new("reserving".to_owned()));
        let s = stage.clone();
        ctx.on_query::<Stage>(move |()| s.borrow().clone());
        let approved = Rc::new(Cell::new(false));
        let flag = approved.clone();
        ctx.on_signal::<Approve>(move |ok| flag.set(ok));
        let step = Duration::from_secs(10);
        let reservation = ctx
            .activity::<Reserve>(order_id.clone())
            .start_to_close(step)
            .await?;
        let charge = ctx.activity::<Charge>(order_id).start_to_close(step).await?;
        *stage.borrow_mut() = "awaiting approval".into();
        if ctx
            .condition_timeout(move || approved.get(), Duration::from_secs(hours * 3600))
            .await
        {
            return Ok("approved".into());
        }
        let mut saga = Saga::new();
        let c = ctx.clone();
        saga.add("release", move || {
            c.activity::<Release>(reservation).start_to_close(step).start()
        });
        let c = ctx.clone();
        saga.add("refund", move || {
            c.activity::<Refund>(charge).start_to_close(step).start()
        });
        let report = saga.compensate().await;
        if !report.all_succeeded() {
            return Err(WorkflowError::fail(
                "CompensationFailed",
                format!("{:?}", report.failed()),
            ));
        }
        Ok("fraud_timeout".into())
    }
}

fn registry(ledger: &Ledger) -> Registry {
    Registry::new()
        .with_workflow::<Order>()
        .with_workflow::<Flaky>()
        .with_workflow::<Parent>()
        .with_workflow::<Sleeper>()
        .with_workflow::<Rounds>()
        .with_workflow::<Watchful>()
        .with_activity(Reserve(ledger.clone()))
        .with_activity(Charge(ledger.clone()))
        .with_activity(Refund(ledger.clone()))
        .with_activity(Release(ledger.clone()))
        .with_activity(Unreliable(ledger.clone()))
        .with_activity(Crunch(ledger.clone()))
}

/// Runs `test` with an engine on tokio's paused clock and one worker on queue "default".
async fn with_engine<F, Fut>(test: F)
where
    F: FnOnce(Engine, Ledger) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let local = LocalSet::new();
    local
        .run_until(async move {
            let engine = Engine::builder()
                .clock(Arc::new(TokioClock::starting_at(EPOCH)))
                .build();
            let ledger = Ledger::default();
            let shutdown = CancellationToken::new();
            let worker = engine.worker("default", registry(&ledger));
            let running = tokio::task::spawn_local(worker.run(shutdown.clone()));
            test(engine, ledger).await;
            shutdown.cancel();
            running
                .await
                .expect("worker task")
                .expect("worker stopped cleanly");
        })
        .await;
}

fn now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

fn assert_replays(history: &History, ledger: &Ledger) {
    validate(history).unwrap_or_else(|e| panic!("invalid: {e}\n{}", history.render_timeline()));
    Replayer::new(registry(ledger))
        .check(history)
        .unwrap_or_else(|e| panic!("does not replay: {e}\n{}", history.render_timeline()));
}

#[tokio::test(start_paused = true)]
async fn an_order_times_out_after_24_hours_of_virtual_time_and_compensates() {
    with_engine(|engine, ledger| async move {
        let started = now();
        let handle = engine
            .client()
            .start::<Order>("order-1", &("o-1".into(), 24), StartOptions::new("default"))
            .await
            .expect("started");
        assert_eq!(handle.result().await.expect("result"), "fraud_timeout");
        let elapsed = now() - started;
        assert!(
            elapsed >= Duration::from_secs(24 * 3600) && elapsed < Duration::from_secs(24 * 3600 + 60),
            "{elapsed:?}"
        );
        assert_eq!(
            *ledger.lock().expect("ledger"),
            [
                "reserve_inventory o-1",
                "charge_payment o-1",
                "refund_payment chg-o-1",
                "release_inventory res-o-1"
            ]
        );
        assert_replays(&handle.history().await.expect("history"), &ledger);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_signal_mid_wait_approves_and_queries_read_the_stage() {
    with_engine(|engine, ledger| async move {
        let client = engine.client();
        let handle = client
            .start::<Order>("order-2", &("o-2".into(), 24), StartOptions::new("default"))
            .await
            .expect("started");
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(
            handle.query::<Stage>(&()).await.expect("answered"),
            "awaiting approval"
        );
        handle.signal::<Approve>(&true).await.expect("signalled");
        assert_eq!(handle.result().await.expect("result"), "approved");
        assert_eq!(ledger.lock().expect("ledger").len(), 2, "no compensation ran");
        let description = handle.describe().await.expect("described");
        assert_eq!(description.status, RunStatus::Completed);
        assert_replays(&handle.history().await.expect("history"), &ledger);
    })
    .await;
}

/// Fails its first two attempts; records when each attempt started.
struct Unreliable(Ledger);
impl Activity for Unreliable {
    const NAME: &'static str = "unreliable";
    type Input = ();
    type Output = u32;
    async fn run(&self, ctx: ActivityCtx, (): ()) -> Result<u32, ActivityError> {
        let at = ctx.info().started_time.since(ctx.info().scheduled_time);
        note(
            &self.0,
            format!("attempt {} at +{}ms", ctx.attempt(), at.as_millis()),
        );
        if ctx.attempt() < 3 {
            return Err(ActivityError::retryable(
                "Flaky",
                format!("attempt {}", ctx.attempt()),
            ));
        }
        Ok(ctx.attempt())
    }
}

struct Flaky;
impl Workflow for Flaky {
    const NAME: &'static str = "flaky";
    type Input = ();
    type Output = u32;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<u32> {
        Ok(ctx
            .activity::<Unreliable>(())
            .start_to_close(Duration::from_secs(10))
            .retry(RetryPolicy::default())
            .await?)
    }
}

#[tokio::test(start_paused = true)]
async fn retries_run_after_the_exact_backoff() {
    with_engine(|engine, ledger| async move {
        let handle = engine
            .client()
            .start::<Flaky>("flaky-1", &(), StartOptions::new("default"))
            .await
            .expect("started");
        assert_eq!(handle.result().await.expect("result"), 3);
        assert_eq!(
            *ledger.lock().expect("ledger"),
            [
                "attempt 1 at +0ms",
                "attempt 2 at +1000ms",
                "attempt 3 at +3000ms"
            ]
        );
        let history = handle.history().await.expect("history");
        let started: Vec<_> = history
            .events
            .iter()
            .filter_map(|e| match e.attributes {
                E::ActivityTaskStarted { attempt, .. } => Some(attempt),
                _ => None,
            })
            .collect();
        assert_eq!(started, [3]);
        assert_replays(&history, &ledger);
    })
    .await;
}

/// Counts records, heartbeating progress; the first attempt goes silent halfway; later
/// attempts resume from the last heartbeat, and stop when cancelled.
struct Crunch(Ledger);
impl Activity for Crunch {
    const NAME: &'static str = "crunch";
    type Input = u32;
    type Output = u32;
    async fn run(&self, ctx: ActivityCtx, total: u32) -> Result<u32, ActivityError> {
        let from: u32 = ctx.previous_heartbeat().ok().flatten().unwrap_or(0);
        note(&self.0, format!("attempt {} from {from}", ctx.attempt()));
        for done in from..total {
            if ctx.is_cancelled() {
                note(&self.0, format!("cancelled at {done}"));
                return Err(ActivityError::Cancelled);
            }
            if ctx.attempt() == 1 && done == total / 2 {
                // The attempt hangs: no more heartbeats. It ignores cancellation too, so the
                // worker's shutdown grace period is what finally lets the test end.
                std::future::pending::<()>().await;
            }
            ctx.heartbeat(&(done + 1))
                .map_err(|e| ActivityError::non_retryable("Payload", e.to_string()))?;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(total)
    }
}

/// Crunches; with `cancel_after` set, cancels the activity after that many seconds.
struct Watchful;
impl Workflow for Watchful {
    const NAME: &'static str = "watchful";
    type Input = (u32, u64);
    type Output = String;
    async fn run(ctx: WorkflowCtx, (total, cancel_after): (u32, u64)) -> WorkflowResult<String> {
        let work = ctx
            .activity::<Crunch>(total)
            .start_to_close(Duration::from_secs(3600))
            .heartbeat_timeout(Duration::from_secs(5))
            .start();
        if cancel_after > 0 {
            ctx.sleep(Duration::from_secs(cancel_after)).await;
            work.cancel();
            let result = format!("{:?}", work.await);
            // Give the attempt time to acknowledge before the run closes.
            ctx.sleep(Duration::from_secs(10)).await;
            return Ok(result);
        }
        Ok(format!("{:?}", work.await))
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeat_details_carry_over_to_the_next_attempt_after_a_heartbeat_timeout() {
    with_engine(|engine, ledger| async move {
        let handle = engine
            .client()
            .start::<Watchful>("w-1", &(10, 0), StartOptions::new("default"))
            .await
            .expect("started");
        assert_eq!(handle.result().await.expect("result"), "Ok(10)");
        assert_eq!(
            *ledger.lock().expect("ledger"),
            ["attempt 1 from 0", "attempt 2 from 5"]
        );
        assert_replays(&handle.history().await.expect("history"), &ledger);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelling_an_activity_reaches_the_running_attempt() {
    with_engine(|engine, ledger| async move {
        let handle = engine
            .client()
            .start::<Watchful>("w-2", &(100, 3), StartOptions::new("default"))
            .await
            .expect("started");
        // Cancelled after 3 s, long before the first attempt would hang at 50.
        assert_eq!(handle.result().await.expect("result"), "Err(Cancelled)");
        let lines = ledger.lock().expect("ledger").clone();
        assert!(lines.iter().any(|l| l.starts_with("cancelled at")), "{lines:?}");
        let history = handle.history().await.expect("history");
        assert!(
            history
                .events
                .iter()
                .any(|e| matches!(e.attributes, E::ActivityTaskCanceled { .. }))
        );
        assert_replays(&history, &ledger);
    })
    .await;
}

struct Sleeper;
impl Workflow for Sleeper {
    const NAME: &'static str = "sleeper";
    type Input = u64;
    type Output = String;
    async fn run(ctx: WorkflowCtx, hours: u64) -> WorkflowResult<String> {
        match futures::future::select(ctx.sleep(Duration::from_secs(hours * 3600)), ctx.cancelled()).await {
            futures::future::Either::Left(_) => Ok("woke".into()),
            futures::future::Either::Right(_) => Err(WorkflowError::Cancelled),
        }
    }
}

struct Parent;
impl Workflow for Parent {
    const NAME: &'static str = "parent";
    type Input = ParentClosePolicy;
    type Output = String;
    async fn run(ctx: WorkflowCtx, policy: ParentClosePolicy) -> WorkflowResult<String> {
        let _child = ctx
            .child::<Sleeper>(1)
            .id(format!("kid-{policy:?}"))
            .parent_close_policy(policy)
            .start();
        ctx.sleep(Duration::from_secs(60)).await;
        Ok("left".into())
    }
}

#[tokio::test(start_paused = true)]
async fn each_parent_close_policy() {
    with_engine(|engine, _ledger| async move {
        let client = engine.client();
        for (policy, expected) in [
            (
                ParentClosePolicy::Terminate,
                Err(WorkflowFailure::Terminated(
                    "parent closed (parent-close policy: terminate)".into(),
                )),
            ),
            (ParentClosePolicy::RequestCancel, Err(WorkflowFailure::Canceled)),
            (ParentClosePolicy::Abandon, Ok("woke".to_owned())),
        ] {
            let parent = client
                .start::<Parent>(
                    format!("parent-{policy:?}"),
                    &policy,
                    StartOptions::new("default"),
                )
                .await
                .expect("started");
            assert_eq!(parent.result().await.expect("parent result"), "left");
            let child: WorkflowHandle<Sleeper> = client.handle(format!("kid-{policy:?}"));
            assert_eq!(child.result().await, expected, "{policy:?}");
        }
    })
    .await;
}

/// Counts rounds of five minutes, continuing as new after each; a signal ends it.
struct Rounds;
struct Stop;
impl Signal for Stop {
    const NAME: &'static str = "stop";
    type Input = ();
}
impl Workflow for Rounds {
    const NAME: &'static str = "rounds";
    type Input = u32;
    type Output = u32;
    async fn run(ctx: WorkflowCtx, round: u32) -> WorkflowResult<u32> {
        let stop = Rc::new(Cell::new(false));
        let s = stop.clone();
        ctx.on_signal::<Stop>(move |()| s.set(true));
        if ctx
            .condition_timeout(move || stop.get(), Duration::from_secs(300))
            .await
        {
            return Ok(round);
        }
        Err(ctx.continue_as_new::<Rounds>(&(round + 1)))
    }
}

#[tokio::test(start_paused = true)]
async fn results_follow_continue_as_new_and_signals_reach_the_current_run() {
    with_engine(|engine, _ledger| async move {
        let client = engine.client();
        let handle = client
            .start::<Rounds>("rounds-1", &0, StartOptions::new("default"))
            .await
            .expect("started");
        tokio::time::sleep(Duration::from_secs(3 * 300 + 10)).await;
        client
            .handle::<Rounds>("rounds-1")
            .signal::<Stop>(&())
            .await
            .expect("signalled");
        assert_eq!(handle.result().await.expect("result"), 3);
        let runs = client
            .list_runs(Some(&warpflow_engine::WorkflowId::new("rounds-1")))
            .await
            .expect("runs");
        assert_eq!(runs.len(), 4);
        assert_eq!(
            runs.iter()
                .filter(|r| r.status == RunStatus::ContinuedAsNew)
                .count(),
            3
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn typed_errors_for_duplicates_unknown_ids_and_unknown_types() {
    with_engine(|engine, _ledger| async move {
        let client = engine.client();
        client.start::<Sleeper>("dup", &1, StartOptions::new("default")).await.expect("started");
        let again = client.start::<Sleeper>("dup", &1, StartOptions::new("default")).await;
        assert!(matches!(again, Err(ClientError::Service(ServiceError::AlreadyStarted { .. }))), "{again:?}");
        let options = StartOptions {
            id_reuse_policy: IdReusePolicy::TerminateIfRunning,
            ..StartOptions::new("default")
        };
        client.start::<Sleeper>("dup", &1, options).await.expect("terminate-if-running");
        let missing = client.handle::<Sleeper>("nobody").describe().await;
        assert!(matches!(missing, Err(ClientError::Service(ServiceError::WorkflowNotFound { .. }))), "{missing:?}");
        // Give the worker a poll, so the service knows which types the queue handles.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let unknown = client.start_untyped("no_such_type", "x", Payload::null(), StartOptions::new("default")).await;
        assert!(
            matches!(&unknown, Err(ClientError::Service(ServiceError::UnknownWorkflowType { known, .. })) if known.contains(&"order".to_owned())),
            "{unknown:?}"
        );
    })
    .await;
}
