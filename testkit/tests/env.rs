//! `TestEnv`: time skipping, acting mid-wait, seeds, and replay by default.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use warpflow_engine::client::WorkflowFailure;
use warpflow_engine::workflow::{Workflow, WorkflowCtx};
use warpflow_engine::{Registry, WorkflowError, WorkflowResult};
use warpflow_testkit::TestEnv;

mod support;
use support::w1::{self, Approve, Order, Reserve, Waiting};

fn registry() -> Registry {
    w1::registry(&w1::World::default())
}

#[test]
fn a_24_hour_and_a_30_day_wait_take_no_wall_time() {
    for (hours, label) in [(24, "24 h"), (30 * 24, "30 days")] {
        let env = TestEnv::new(registry());
        let order = env
            .start::<Order>("order-1", &("o-1".into(), hours))
            .expect("started");
        assert_eq!(env.result(&order).expect("result"), "fraud_timeout", "{label}");
        let elapsed = env.elapsed();
        let wait = Duration::from_secs(hours * 3600);
        assert!(
            elapsed >= wait && elapsed < wait + Duration::from_secs(60),
            "{label}: {elapsed:?}"
        );
        let history = env.history("order-1").expect("history");
        let activities = history.render_timeline().matches("ActivityTaskScheduled").count();
        assert_eq!(activities, 4, "reserve, charge, refund, release");
    }
}

#[test]
fn a_bounded_skip_lets_the_test_signal_mid_wait_and_query() {
    let env = TestEnv::new(registry());
    let order = env
        .start::<Order>("order-2", &("o-2".into(), 24))
        .expect("started");
    env.skip(Duration::from_secs(3600));
    assert_eq!(env.elapsed(), Duration::from_secs(3600));
    assert!(
        env.query::<Waiting>("order-2", &()).expect("answered"),
        "waiting for approval"
    );
    env.signal::<Approve>("order-2", &true).expect("signalled");
    assert_eq!(env.result(&order).expect("result"), "approved");
    assert!(
        env.elapsed() < Duration::from_secs(3700),
        "no need to wait out the 24 h: {:?}",
        env.elapsed()
    );
}

#[test]
fn a_signal_scheduled_at_a_virtual_time_arrives_then() {
    let env = TestEnv::new(registry());
    let order = env
        .start::<Order>("order-3", &("o-3".into(), 24))
        .expect("started");
    env.signal_after::<Approve>(Duration::from_secs(6 * 3600), "order-3", &true);
    assert_eq!(env.result(&order).expect("result"), "approved");
    let elapsed = env.elapsed();
    assert!(
        elapsed >= Duration::from_secs(6 * 3600) && elapsed < Duration::from_secs(6 * 3600 + 60),
        "{elapsed:?}"
    );
}

#[test]
fn cancel_and_terminate_reach_the_run() {
    let env = TestEnv::new(registry());
    let a = env
        .start::<Order>("order-4", &("o-4".into(), 24))
        .expect("started");
    let b = env
        .start::<Order>("order-5", &("o-5".into(), 24))
        .expect("started");
    env.skip(Duration::from_secs(60));
    env.terminate("order-4", "test says so").expect("terminated");
    assert_eq!(
        env.result(&a),
        Err(WorkflowFailure::Terminated("test says so".into()))
    );
    env.cancel("order-5").expect("cancel requested");
    // Order ignores cancellation requests: it still waits out its timeout.
    assert_eq!(env.result(&b).expect("result"), "fraud_timeout");
}

#[test]
fn the_same_seed_gives_byte_identical_histories() {
    let run = |seed| {
        let env = TestEnv::builder(registry()).seed(seed).build();
        let order = env
            .start::<Order>("order-6", &("o-6".into(), 24))
            .expect("started");
        env.result(&order).expect("result");
        env.history("order-6").expect("history").to_json()
    };
    assert_eq!(run(11), run(11));
    assert_ne!(
        run(11),
        run(12),
        "run ids and randomness seeds come from the seed"
    );
}

static CALLS: AtomicU32 = AtomicU32::new(0);

/// Decides its path from a global counter: different on replay.
struct Fickle;
impl Workflow for Fickle {
    const NAME: &'static str = "fickle";
    type Input = ();
    type Output = ();
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<()> {
        if CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
            ctx.sleep(Duration::from_secs(60)).await;
        }
        Err(WorkflowError::fail("Done", "done"))
    }
}

#[test]
fn replay_by_default_fails_a_non_deterministic_workflow_with_the_report_and_the_seed() {
    let env = TestEnv::builder(Registry::new().with_workflow::<Fickle>())
        .seed(5)
        .build();
    let handle = env.start::<Fickle>("fickle-1", &()).expect("started");
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| env.result(&handle)))
        .expect_err("the replay check fails the test");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("non-deterministic workflow `fickle-1`"),
        "{message}"
    );
    assert!(message.contains("TimerStarted(1m)"), "{message}");
    assert!(message.contains("WARPFLOW_SEED=5 cargo test"), "{message}");

    CALLS.store(0, Ordering::SeqCst);
    let env = TestEnv::builder(Registry::new().with_workflow::<Fickle>())
        .replay_check(false)
        .build();
    let handle = env.start::<Fickle>("fickle-2", &()).expect("started");
    assert!(
        matches!(env.result(&handle), Err(WorkflowFailure::Failed(_))),
        "no check when turned off"
    );
}

/// Waits for an `approve` signal, with no timeout.
struct Patient;
impl Workflow for Patient {
    const NAME: &'static str = "patient";
    type Input = ();
    type Output = String;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<String> {
        let approved = Rc::new(Cell::new(false));
        let flag = approved.clone();
        ctx.on_signal::<Approve>(move |ok| flag.set(ok));
        ctx.activity::<Reserve>("p".into())
            .start_to_close(Duration::from_secs(10))
            .await?;
        ctx.sleep(Duration::from_secs(3600)).await;
        ctx.condition(move || approved.get()).await;
        Ok("approved".into())
    }
}

#[test]
fn run_until_idle_skips_timers_and_stops_where_only_a_signal_can_help() {
    let env = TestEnv::new(registry().with_workflow::<Patient>());
    let handle = env.start::<Patient>("patient-1", &()).expect("started");
    env.run_until_idle();
    assert_eq!(
        env.elapsed(),
        Duration::from_secs(3600),
        "skipped the hour, then stopped"
    );
    let description = env.describe("patient-1").expect("described");
    assert_eq!(description.status, warpflow_engine::storage::RunStatus::Running);
    env.signal::<Approve>("patient-1", &true).expect("signalled");
    env.run_until_idle();
    assert_eq!(
        env.describe("patient-1").expect("described").status,
        warpflow_engine::storage::RunStatus::Completed
    );
    assert_eq!(env.result(&handle).expect("result"), "approved");
}

#[test]
fn a_start_can_be_scheduled_at_a_virtual_time() {
    let env = TestEnv::new(registry());
    env.start_after::<Order>(Duration::from_secs(9 * 3600), "order-7", &("o-7".into(), 1));
    env.run_until_idle();
    let handle = env.handle::<Order>("order-7");
    assert_eq!(env.result(&handle).expect("result"), "fraud_timeout");
    let history = env.history("order-7").expect("history");
    let started_at = history.events[0].event_time;
    assert_eq!(
        started_at.since(warpflow_sim::SIM_EPOCH),
        Duration::from_secs(9 * 3600)
    );
    assert_eq!(
        env.elapsed(),
        Duration::from_secs(10 * 3600),
        "started at 9 h, timed out an hour later"
    );
}

/// The clock an activity sleeps on: set once the environment that owns it exists.
type ClockSlot = std::sync::Arc<std::sync::Mutex<Option<warpflow_engine::env::SharedClock>>>;

/// Sleeps an hour on the clock in its slot.
struct Nap(ClockSlot);
impl warpflow_engine::Activity for Nap {
    const NAME: &'static str = "nap";
    type Input = ();
    type Output = ();
    async fn run(
        &self,
        _: warpflow_engine::ActivityCtx,
        (): (),
    ) -> Result<(), warpflow_engine::ActivityError> {
        let clock = self.0.lock().unwrap().clone().expect("the test set the clock");
        clock
            .sleep_until(clock.now().plus(Duration::from_secs(3600)))
            .await;
        Ok(())
    }
}

struct CallNap;
impl Workflow for CallNap {
    const NAME: &'static str = "call_nap";
    type Input = ();
    type Output = ();
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<()> {
        Ok(ctx
            .activity::<Nap>(())
            .start_to_close(Duration::from_secs(7200))
            .await?)
    }
}

#[test]
fn an_activity_sleeps_on_the_environment_clock_in_virtual_time() {
    let slot = ClockSlot::default();
    let env = TestEnv::new(
        Registry::new()
            .with_workflow::<CallNap>()
            .with_activity(Nap(slot.clone())),
    );
    *slot.lock().unwrap() = Some(env.clock());
    assert_eq!(env.clock().now(), env.now());
    let handle = env.start::<CallNap>("nap-1", &()).unwrap();
    env.result(&handle).unwrap();
    assert!(env.elapsed() >= Duration::from_secs(3600), "{:?}", env.elapsed());
}
