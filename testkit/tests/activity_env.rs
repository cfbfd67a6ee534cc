//! `ActivityEnv` with real activities: attempt numbers, previous heartbeats, recorded
//! heartbeats, cancellation from another task or thread, panics, and the defaults.

use futures::FutureExt;
use futures::executor::block_on;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use warpflow_engine::ids::{ActivityId, RunId, TaskQueue, WorkflowId};
use warpflow_engine::{Activity, ActivityCtx, ActivityError, ActivityInfo, Timestamp};
use warpflow_sim::{SIM_EPOCH, Sim, SimConfig};
use warpflow_testkit::ActivityEnv;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Progress {
    chunk: u32,
}

/// Uploads `chunks` chunks, resuming after the last chunk a previous attempt reported, and
/// heartbeating after each; stops between chunks when cancelled.
struct Upload;
impl Activity for Upload {
    const NAME: &'static str = "upload";
    type Input = u32;
    type Output = String;
    async fn run(&self, ctx: ActivityCtx, chunks: u32) -> Result<String, ActivityError> {
        let resumed = ctx
            .previous_heartbeat::<Progress>()
            .map_err(|e| ActivityError::non_retryable("BadProgress", e.to_string()))?;
        let from = resumed.map_or(0, |p| p.chunk);
        for chunk in from + 1..=chunks {
            if ctx.is_cancelled() {
                return Err(ActivityError::Cancelled);
            }
            let _ = ctx.heartbeat(&Progress { chunk });
        }
        Ok(format!(
            "attempt {} uploaded {}..={chunks}",
            ctx.attempt(),
            from + 1
        ))
    }
}

/// Reports what it knows about itself.
struct WhoAmI;
impl Activity for WhoAmI {
    const NAME: &'static str = "who_am_i";
    type Input = ();
    type Output = serde_json::Value;
    async fn run(&self, ctx: ActivityCtx, (): ()) -> Result<serde_json::Value, ActivityError> {
        let info = ctx.info();
        Ok(json!({
            "workflowId": info.workflow_id,
            "runId": info.run_id,
            "workflowType": info.workflow_type,
            "activityId": info.activity_id,
            "activityType": info.activity_type,
            "taskQueue": info.task_queue,
            "attempt": info.attempt,
            "scheduled": info.scheduled_time.to_string(),
            "started": info.started_time.to_string(),
            "heartbeatTimeout": info.heartbeat_timeout.map(|d| d.as_secs()),
        }))
    }
}

/// Heartbeats once, then waits to be cancelled.
struct AwaitCancel;
impl Activity for AwaitCancel {
    const NAME: &'static str = "await_cancel";
    type Input = ();
    type Output = ();
    async fn run(&self, ctx: ActivityCtx, (): ()) -> Result<(), ActivityError> {
        let _ = ctx.heartbeat("waiting");
        ctx.cancelled().await;
        let _ = ctx.heartbeat("stopping");
        Err(ActivityError::Cancelled)
    }
}

struct Panics;
impl Activity for Panics {
    const NAME: &'static str = "panics";
    type Input = u32;
    type Output = u32;
    async fn run(&self, _ctx: ActivityCtx, n: u32) -> Result<u32, ActivityError> {
        if n > 0 {
            panic!("unexpected n = {n}");
        }
        Ok(n)
    }
}

#[test]
fn the_defaults_are_a_first_attempt_at_the_simulation_epoch() {
    let who = block_on(ActivityEnv::new().run(&WhoAmI, ())).expect("runs");
    assert_eq!(
        who,
        json!({
            "workflowId": "test-workflow",
            "runId": "test-run",
            "workflowType": "TestWorkflow",
            "activityId": "1",
            "activityType": "who_am_i",
            "taskQueue": "test",
            "attempt": 1,
            "scheduled": "2026-01-01T00:00:00.000Z",
            "started": "2026-01-01T00:00:00.000Z",
            "heartbeatTimeout": null,
        })
    );
}

#[test]
fn info_replaces_the_defaults() {
    let info = ActivityInfo {
        workflow_id: WorkflowId::new("order-9"),
        run_id: RunId::new("r-9"),
        workflow_type: "order".into(),
        activity_id: ActivityId::new("4"),
        activity_type: "custom".into(),
        task_queue: TaskQueue::new("payments"),
        attempt: 5,
        scheduled_time: SIM_EPOCH,
        started_time: Timestamp::from_millis(SIM_EPOCH.as_millis() + 2_000),
        heartbeat_timeout: Some(Duration::from_secs(30)),
    };
    let env = ActivityEnv::new().info(info.clone());
    assert_eq!(env.activity_info(), &info);
    let who = block_on(env.run(&WhoAmI, ())).expect("runs");
    assert_eq!(who["workflowId"], "order-9");
    assert_eq!(who["activityType"], "custom");
    assert_eq!(who["attempt"], 5);
    assert_eq!(who["started"], "2026-01-01T00:00:02.000Z");
    assert_eq!(who["heartbeatTimeout"], 30);
}

#[test]
fn heartbeats_are_recorded_in_order_and_typed() {
    let env = ActivityEnv::new();
    assert_eq!(
        block_on(env.run(&Upload, 3)),
        Ok("attempt 1 uploaded 1..=3".to_owned())
    );
    assert_eq!(
        env.heartbeats(),
        [json!({"chunk": 1}), json!({"chunk": 2}), json!({"chunk": 3})]
    );
    assert_eq!(
        env.heartbeats_as::<Progress>(),
        Ok(vec![
            Progress { chunk: 1 },
            Progress { chunk: 2 },
            Progress { chunk: 3 }
        ])
    );
    let err = env.heartbeats_as::<String>().unwrap_err();
    assert!(err.to_string().contains("heartbeat 1"), "{err}");
}

#[test]
fn the_attempt_resumes_from_the_previous_heartbeat() {
    let env = ActivityEnv::new()
        .attempt(3)
        .previous_heartbeat(Progress { chunk: 4 });
    assert_eq!(
        block_on(env.run(&Upload, 6)),
        Ok("attempt 3 uploaded 5..=6".to_owned())
    );
    assert_eq!(
        env.heartbeats_as::<Progress>(),
        Ok(vec![Progress { chunk: 5 }, Progress { chunk: 6 }])
    );

    // next_attempt carries the last heartbeat over.
    let next = env.next_attempt();
    assert_eq!(next.activity_info().attempt, 4);
    assert_eq!(
        block_on(next.run(&Upload, 6)),
        Ok("attempt 4 uploaded 7..=6".to_owned())
    );
    assert!(next.heartbeats().is_empty());
}

#[test]
fn a_previous_heartbeat_that_does_not_encode_is_a_setup_error() {
    let not_json: BTreeMap<(u8, u8), u8> = BTreeMap::from([((1, 2), 3)]);
    let env = ActivityEnv::new().previous_heartbeat(not_json);
    let outcome = block_on(env.run(&Upload, 1));
    assert!(matches!(&outcome, Err(ActivityError::InvalidOptions(m)) if m.contains("previous heartbeat")));
    assert!(env.heartbeats().is_empty(), "the activity did not run");
}

#[test]
fn a_previous_heartbeat_of_the_wrong_shape_is_the_activity_s_business() {
    let env = ActivityEnv::new().previous_heartbeat("not progress");
    let outcome = block_on(env.run(&Upload, 1));
    assert!(
        matches!(&outcome, Err(ActivityError::Application(f)) if f.error_type == "BadProgress"),
        "{outcome:?}"
    );
}

#[test]
fn cancel_from_another_task_while_run_awaits() {
    let sim = Sim::new(SimConfig::new(3));
    let env = ActivityEnv::new();
    let canceller = env.clone();
    let clock = sim.clock();
    sim.spawn("cancel", async move {
        use warpflow_engine::env::Clock as _;
        clock.sleep_until(SIM_EPOCH.plus(Duration::from_secs(5))).await;
        canceller.cancel();
    });
    let running = env.clone();
    let outcome = sim
        .run_until(async move { running.run(&AwaitCancel, ()).await })
        .expect("the simulation runs");
    assert_eq!(outcome, Err(ActivityError::Cancelled));
    assert_eq!(sim.elapsed(), Duration::from_secs(5));
    assert_eq!(env.heartbeats(), [json!("waiting"), json!("stopping")]);
    assert!(env.is_cancelled());
}

#[test]
fn cancel_from_another_thread_through_a_handle() {
    let env = ActivityEnv::new();
    let handle = env.cancel_handle();
    let mut running = Box::pin(env.run(&AwaitCancel, ()));
    assert!((&mut running).now_or_never().is_none(), "waits for cancellation");
    let canceller = std::thread::spawn(move || handle.cancel());
    assert_eq!(block_on(running), Err(ActivityError::Cancelled));
    canceller.join().expect("the canceller thread ends");
}

#[test]
fn an_activity_cancelled_before_it_starts_sees_it_at_once() {
    let env = ActivityEnv::new();
    env.cancel();
    assert_eq!(block_on(env.run(&Upload, 3)), Err(ActivityError::Cancelled));
    assert!(env.heartbeats().is_empty());
    // A fresh attempt has a fresh token.
    assert!(!env.next_attempt().is_cancelled());
}

#[test]
fn a_panic_is_a_retryable_activity_panic_as_on_a_worker() {
    let env = ActivityEnv::new();
    assert_eq!(block_on(env.run(&Panics, 0)), Ok(0));
    match block_on(env.run(&Panics, 7)) {
        Err(ActivityError::Application(f)) => {
            assert_eq!(f.error_type, "ActivityPanic");
            assert_eq!(f.message, "unexpected n = 7");
            assert!(!f.non_retryable);
        }
        other => panic!("expected a panic failure, got {other:?}"),
    }
}
