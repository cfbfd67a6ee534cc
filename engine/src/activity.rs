//! Activities: the non-deterministic side of a workflow (payments, emails, API calls).
//!
//! An activity is a type implementing [`Activity`]; its code receives an [`ActivityCtx`] with
//! the attempt number, heartbeating, the previous attempt's last heartbeat details and a
//! cancellation signal. Workflows schedule activities with options ([`ActivityOptions`]); the
//! engine runs them at least once and records their outcome exactly once.

use crate::failure::ActivityError;
use crate::ids::{ActivityId, RunId, TaskQueue, WorkflowId};
use crate::payload::{self, Payload, PayloadError};
use crate::retry::RetryPolicy;
use crate::time::{Timestamp, opt_duration_serde};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// An activity type.
///
/// ```
/// use warpflow_engine::{Activity, ActivityCtx, ActivityError};
///
/// struct ChargePayment;
///
/// impl Activity for ChargePayment {
///     const NAME: &'static str = "charge_payment";
///     type Input = String;
///     type Output = String;
///
///     async fn run(&self, _ctx: ActivityCtx, order_id: String) -> Result<String, ActivityError> {
///         Ok(format!("chg-{order_id}"))
///     }
/// }
/// ```
pub trait Activity: Send + Sync + 'static {
    /// The activity type name recorded in history.
    const NAME: &'static str;
    /// The input.
    type Input: Serialize + DeserializeOwned + Send + 'static;
    /// The result.
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// Runs one attempt.
    fn run(
        &self,
        ctx: ActivityCtx,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ActivityError>> + Send;
}

/// How an activity is scheduled: where, with which timeouts and retry policy.
///
/// At least one of `start_to_close_timeout` and `schedule_to_close_timeout` is required.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityOptions {
    /// The task queue; the workflow's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_queue: Option<TaskQueue>,
    /// Limit on one attempt, from start to result.
    #[serde(default, with = "opt_duration_serde", skip_serializing_if = "Option::is_none")]
    pub start_to_close_timeout: Option<Duration>,
    /// Limit on all attempts together, from scheduling to final result.
    #[serde(default, with = "opt_duration_serde", skip_serializing_if = "Option::is_none")]
    pub schedule_to_close_timeout: Option<Duration>,
    /// Limit on waiting in the queue for a worker.
    #[serde(default, with = "opt_duration_serde", skip_serializing_if = "Option::is_none")]
    pub schedule_to_start_timeout: Option<Duration>,
    /// Longest silence between heartbeats of a running attempt.
    #[serde(default, with = "opt_duration_serde", skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout: Option<Duration>,
    /// Retry policy; Temporal's default when absent.
    #[serde(default)]
    pub retry_policy: RetryPolicy,
}

impl ActivityOptions {
    /// Options with a start-to-close timeout and the default retry policy.
    pub fn start_to_close(timeout: Duration) -> ActivityOptions {
        ActivityOptions {
            start_to_close_timeout: Some(timeout),
            ..ActivityOptions::default()
        }
    }

    /// Checks that the options can work: a close timeout, non-zero timeouts, a valid policy.
    pub fn validate(&self) -> Result<(), String> {
        if self.start_to_close_timeout.is_none() && self.schedule_to_close_timeout.is_none() {
            return Err("one of start_to_close_timeout and schedule_to_close_timeout is required".into());
        }
        let timeouts = [
            ("start_to_close_timeout", self.start_to_close_timeout),
            ("schedule_to_close_timeout", self.schedule_to_close_timeout),
            ("schedule_to_start_timeout", self.schedule_to_start_timeout),
            ("heartbeat_timeout", self.heartbeat_timeout),
        ];
        for (name, timeout) in timeouts {
            if timeout.is_some_and(|t| t.is_zero()) {
                return Err(format!("{name} must be positive"));
            }
        }
        self.retry_policy.validate().map_err(|e| e.to_string())
    }
}

/// What an activity attempt knows about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityInfo {
    /// The workflow that scheduled the activity.
    pub workflow_id: WorkflowId,
    /// Its run.
    pub run_id: RunId,
    /// The workflow's type.
    pub workflow_type: String,
    /// The activity's id within the run.
    pub activity_id: ActivityId,
    /// The activity's type.
    pub activity_type: String,
    /// The task queue it was dispatched on.
    pub task_queue: TaskQueue,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the activity was scheduled (engine time).
    pub scheduled_time: Timestamp,
    /// When this attempt started (engine time).
    pub started_time: Timestamp,
    /// The heartbeat timeout, if any.
    pub heartbeat_timeout: Option<Duration>,
}

/// Where heartbeats of a running attempt go: the worker forwards them to the engine; the
/// test kit's `ActivityEnv` records them.
pub trait HeartbeatSink: Send + Sync {
    /// Records a heartbeat with its details.
    fn heartbeat(&self, details: Payload);
}

/// The context of one activity attempt. Cheap to clone; `Send`, so activity code may move it
/// into spawned tasks.
#[derive(Clone)]
pub struct ActivityCtx {
    shared: Arc<ActivityShared>,
}

struct ActivityShared {
    info: ActivityInfo,
    previous_heartbeat: Option<Payload>,
    latest_heartbeat: Mutex<Option<Payload>>,
    sink: Arc<dyn HeartbeatSink>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for ActivityCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityCtx")
            .field("info", &self.shared.info)
            .field("cancelled", &self.shared.cancel.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl ActivityCtx {
    /// A context for one attempt. `previous_heartbeat` is the last heartbeat details recorded
    /// by an earlier attempt; cancelling `cancel` tells the activity code to stop.
    pub fn new(
        info: ActivityInfo,
        previous_heartbeat: Option<Payload>,
        sink: Arc<dyn HeartbeatSink>,
        cancel: CancellationToken,
    ) -> ActivityCtx {
        ActivityCtx {
            shared: Arc::new(ActivityShared {
                info,
                previous_heartbeat,
                latest_heartbeat: Mutex::new(None),
                sink,
                cancel,
            }),
        }
    }

    /// Who and where this attempt is.
    pub fn info(&self) -> &ActivityInfo {
        &self.shared.info
    }

    /// 1 for the first attempt, 2 for the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.shared.info.attempt
    }

    /// Reports progress, proving the attempt is alive. The details are handed to the next
    /// attempt if this one fails or times out.
    pub fn heartbeat<T: Serialize + ?Sized>(&self, details: &T) -> Result<(), PayloadError> {
        let payload = payload::encode(details, || self.describe("heartbeat details"))?;
        if let Ok(mut latest) = self.shared.latest_heartbeat.lock() {
            *latest = Some(payload.clone());
        }
        self.shared.sink.heartbeat(payload);
        Ok(())
    }

    /// The last heartbeat details of the previous attempt, to resume from.
    pub fn previous_heartbeat<T: DeserializeOwned>(&self) -> Result<Option<T>, PayloadError> {
        self.shared
            .previous_heartbeat
            .as_ref()
            .map(|p| payload::decode(p, || self.describe("previous heartbeat details")))
            .transpose()
    }

    /// The details of this attempt's latest heartbeat.
    pub fn latest_heartbeat(&self) -> Option<Payload> {
        self.shared.latest_heartbeat.lock().ok().and_then(|h| h.clone())
    }

    /// True once the workflow or the engine asked this attempt to stop.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancel.is_cancelled()
    }

    /// Completes when this attempt is asked to stop.
    pub async fn cancelled(&self) {
        self.shared.cancel.cancelled().await
    }

    fn describe(&self, what: &str) -> String {
        format!("{what} of activity `{}`", self.shared.info.activity_type)
    }
}
