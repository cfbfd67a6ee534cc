//! The activity side: what an attempt sees through `ActivityCtx` (attempt number, heartbeats,
//! the previous attempt's progress, cancellation), and how the `Registry` runs an activity
//! from payloads.

use futures::FutureExt;
use futures::executor::block_on;
use futures::task::ArcWake;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Context;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warpflow_engine::ids::{ActivityId, RunId, TaskQueue, WorkflowId};
use warpflow_engine::{
    Activity, ActivityCtx, ActivityError, ActivityInfo, HeartbeatSink, Payload, PayloadError, Registry,
    Timestamp,
};

/// Records every heartbeat it is given.
#[derive(Default)]
struct RecordingSink {
    beats: Mutex<Vec<Payload>>,
}

impl RecordingSink {
    fn beats(&self) -> Vec<Payload> {
        self.beats.lock().expect("not poisoned").clone()
    }
}

impl HeartbeatSink for RecordingSink {
    fn heartbeat(&self, details: Payload) {
        self.beats.lock().expect("not poisoned").push(details);
    }
}

fn info(activity_type: &str, attempt: u32) -> ActivityInfo {
    ActivityInfo {
        workflow_id: WorkflowId::new("wf-1"),
        run_id: RunId::new("run-1"),
        workflow_type: "order".into(),
        activity_id: ActivityId::new("3"),
        activity_type: activity_type.into(),
        task_queue: TaskQueue::new("default"),
        attempt,
        scheduled_time: Timestamp::from_millis(1_767_225_600_000),
        started_time: Timestamp::from_millis(1_767_225_605_000),
        heartbeat_timeout: Some(Duration::from_secs(30)),
    }
}

struct Attempt {
    ctx: ActivityCtx,
    sink: Arc<RecordingSink>,
    cancel: CancellationToken,
}

fn attempt(activity_type: &str, attempt: u32, previous: Option<Payload>) -> Attempt {
    let sink = Arc::new(RecordingSink::default());
    let cancel = CancellationToken::new();
    let ctx = ActivityCtx::new(
        info(activity_type, attempt),
        previous,
        sink.clone(),
        cancel.clone(),
    );
    Attempt { ctx, sink, cancel }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Progress {
    offset: u64,
}

#[test]
fn the_attempt_number_and_info_are_those_the_attempt_was_started_with() {
    let first = attempt("upload", 1, None);
    assert_eq!(first.ctx.attempt(), 1);
    let retry = attempt("upload", 4, None);
    assert_eq!(retry.ctx.attempt(), 4);
    assert_eq!(retry.ctx.info(), &info("upload", 4));
    assert_eq!(retry.ctx.clone().attempt(), 4, "clones see the same attempt");
}

#[test]
fn heartbeats_reach_the_sink_in_order_and_the_latest_is_kept() {
    let a = attempt("upload", 1, None);
    assert_eq!(a.ctx.latest_heartbeat(), None);
    a.ctx.heartbeat(&Progress { offset: 10 }).expect("encodes");
    a.ctx.heartbeat(&Progress { offset: 20 }).expect("encodes");
    // A clone (moved into a spawned task, say) heartbeats for the same attempt.
    let clone = a.ctx.clone();
    clone.heartbeat("almost done").expect("encodes");
    assert_eq!(
        a.sink.beats(),
        [json!({"offset": 10}), json!({"offset": 20}), json!("almost done")]
    );
    assert_eq!(a.ctx.latest_heartbeat(), Some(Payload::from("almost done")));
    assert_eq!(clone.latest_heartbeat(), Some(Payload::from("almost done")));
}

#[test]
fn heartbeat_details_that_do_not_encode_are_an_error_naming_the_activity_and_are_not_sent() {
    let a = attempt("upload", 1, None);
    a.ctx.heartbeat(&1).expect("encodes");
    // JSON object keys must be strings.
    let bad: BTreeMap<Vec<u8>, u8> = BTreeMap::from([(vec![1, 2], 3)]);
    let err = a.ctx.heartbeat(&bad).expect_err("does not encode");
    let PayloadError::Encode { what, .. } = &err else {
        panic!("expected an encode error, got {err:?}")
    };
    assert_eq!(what, "heartbeat details of activity `upload`");
    assert_eq!(a.sink.beats(), [json!(1)], "nothing sent");
    assert_eq!(
        a.ctx.latest_heartbeat(),
        Some(Payload::from(json!(1))),
        "the latest is unchanged"
    );
}

#[test]
fn the_previous_attempts_heartbeat_decodes_into_the_type_asked_for() {
    let first = attempt("upload", 1, None);
    assert_eq!(first.ctx.previous_heartbeat::<Progress>(), Ok(None));

    let retry = attempt("upload", 2, Some(Payload::from(json!({"offset": 40}))));
    assert_eq!(
        retry.ctx.previous_heartbeat::<Progress>(),
        Ok(Some(Progress { offset: 40 }))
    );
    // It stays the previous attempt's, whatever this attempt reports.
    retry.ctx.heartbeat(&Progress { offset: 50 }).expect("encodes");
    assert_eq!(
        retry.ctx.previous_heartbeat::<Progress>(),
        Ok(Some(Progress { offset: 40 }))
    );
}

#[test]
fn a_previous_heartbeat_of_another_shape_is_a_decode_error_naming_the_activity_and_field() {
    let retry = attempt("upload", 2, Some(Payload::from(json!({"offset": "forty"}))));
    let err = retry
        .ctx
        .previous_heartbeat::<Progress>()
        .expect_err("wrong shape");
    let PayloadError::Decode { what, path, .. } = &err else {
        panic!("expected a decode error, got {err:?}")
    };
    assert_eq!(what, "previous heartbeat details of activity `upload`");
    assert_eq!(path, "offset");
    assert!(err.to_string().contains("`upload`"), "{err}");
}

#[test]
fn cancelling_the_token_is_seen_by_the_attempt_and_its_clones() {
    let a = attempt("upload", 1, None);
    assert!(!a.ctx.is_cancelled());
    assert_eq!(a.ctx.cancelled().now_or_never(), None, "not cancelled yet");
    a.cancel.cancel();
    assert!(a.ctx.is_cancelled());
    assert!(a.ctx.clone().is_cancelled());
    block_on(a.ctx.cancelled());
    assert!(format!("{:?}", a.ctx).contains("cancelled: true"));
}

/// Records that it was woken.
struct WokenFlag(AtomicBool);
impl ArcWake for WokenFlag {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn an_attempt_waiting_for_cancellation_is_woken_when_it_is_cancelled() {
    let a = attempt("upload", 1, None);
    let flag = Arc::new(WokenFlag(AtomicBool::new(false)));
    let waker = futures::task::waker(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut waiting = Box::pin(a.ctx.cancelled());
    assert!(waiting.as_mut().poll(&mut cx).is_pending());
    assert!(!flag.0.load(Ordering::SeqCst));
    a.cancel.cancel();
    assert!(
        flag.0.load(Ordering::SeqCst),
        "cancelling wakes the waiting attempt"
    );
    assert!(waiting.as_mut().poll(&mut cx).is_ready());
}

// ---- The registry runs activities from payloads ----

#[derive(Debug, Serialize, Deserialize)]
struct UploadRequest {
    path: String,
    size: u64,
}

struct Upload;
impl Activity for Upload {
    const NAME: &'static str = "upload";
    type Input = UploadRequest;
    type Output = String;
    async fn run(&self, ctx: ActivityCtx, input: UploadRequest) -> Result<String, ActivityError> {
        let from = ctx
            .previous_heartbeat::<Progress>()
            .ok()
            .flatten()
            .map_or(0, |p| p.offset);
        ctx.heartbeat(&Progress { offset: input.size })
            .map_err(|e| ActivityError::non_retryable("Heartbeat", e.to_string()))?;
        if input.path.is_empty() {
            return Err(ActivityError::retryable("EmptyPath", "no path"));
        }
        Ok(format!(
            "{} from {from} to {} (attempt {})",
            input.path,
            input.size,
            ctx.attempt()
        ))
    }
}

fn registry() -> Registry {
    Registry::new().with_activity(Upload)
}

#[test]
fn the_registry_runs_an_activity_from_a_payload_with_its_context() {
    let a = attempt("upload", 2, Some(Payload::from(json!({"offset": 5}))));
    let definition = registry().activity("upload").expect("registered");
    assert_eq!(definition.activity_type(), "upload");
    let result = block_on(definition.run(a.ctx.clone(), Payload::from(json!({"path": "/a", "size": 9}))));
    assert_eq!(result, Ok(Payload::from("/a from 5 to 9 (attempt 2)")));
    assert_eq!(a.sink.beats(), [json!({"offset": 9})]);
}

#[test]
fn an_activity_input_that_does_not_fit_is_a_non_retryable_payload_error_naming_the_field() {
    let a = attempt("upload", 1, None);
    let definition = registry().activity("upload").expect("registered");
    let result = block_on(definition.run(a.ctx.clone(), Payload::from(json!({"path": "/a", "size": "big"}))));
    let Err(ActivityError::Application(failure)) = result else {
        panic!("expected an application failure, got {result:?}")
    };
    assert_eq!(failure.error_type, "PayloadError");
    assert!(
        failure.non_retryable,
        "a payload that does not fit will not fit on a retry"
    );
    assert!(
        failure.message.contains("input of activity `upload`") && failure.message.contains("size"),
        "{}",
        failure.message
    );
    assert!(a.sink.beats().is_empty(), "the activity's code did not run");
}

#[test]
fn an_activity_error_comes_back_as_the_activity_returned_it() {
    let a = attempt("upload", 1, None);
    let definition = registry().activity("upload").expect("registered");
    let result = block_on(definition.run(a.ctx, Payload::from(json!({"path": "", "size": 1}))));
    assert_eq!(result, Err(ActivityError::retryable("EmptyPath", "no path")));
}

#[test]
fn an_unknown_activity_type_lists_the_registered_ones() {
    let Err(err) = registry().activity("uplod") else {
        panic!("uplod is not registered")
    };
    assert_eq!(
        err.to_string(),
        "unknown activity type `uplod` (registered: upload)"
    );
}
