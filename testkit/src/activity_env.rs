//! [`ActivityEnv`]: unit-test one activity without an engine.
//!
//! The environment builds the [`ActivityCtx`] an attempt sees (its [`ActivityInfo`], the
//! previous attempt's last heartbeat, a cancellation token), runs the activity's code, and
//! records every heartbeat it sends. A test can cancel the attempt while it runs, from another
//! task, through a clone of the environment or a [`CancelHandle`].
//!
//! ```
//! use warpflow_engine::{Activity, ActivityCtx, ActivityError};
//! use warpflow_testkit::ActivityEnv;
//!
//! struct Upload;
//!
//! impl Activity for Upload {
//!     const NAME: &'static str = "upload";
//!     type Input = u64;
//!     type Output = u64;
//!
//!     async fn run(&self, ctx: ActivityCtx, chunks: u64) -> Result<u64, ActivityError> {
//!         let from: u64 = ctx.previous_heartbeat().ok().flatten().unwrap_or(0);
//!         for chunk in from..chunks {
//!             let _ = ctx.heartbeat(&(chunk + 1));
//!         }
//!         Ok(chunks - from)
//!     }
//! }
//!
//! let env = ActivityEnv::new().attempt(2).previous_heartbeat(3u64);
//! let uploaded = futures::executor::block_on(env.run(&Upload, 5));
//! assert_eq!(uploaded, Ok(2));
//! assert_eq!(env.heartbeats_as::<u64>(), Ok(vec![4, 5]));
//! ```

use futures::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warpflow_engine::ids::{ActivityId, RunId, TaskQueue, WorkflowId};
use warpflow_engine::payload::{self, Payload, PayloadError};
use warpflow_engine::registry::ActivityDefinition;
use warpflow_engine::{Activity, ActivityCtx, ActivityError, ActivityInfo, HeartbeatSink};
use warpflow_sim::SIM_EPOCH;

/// The heartbeats of an environment's attempts, in order.
#[derive(Debug, Default)]
struct HeartbeatRecord {
    beats: Mutex<Vec<Payload>>,
}

impl HeartbeatRecord {
    /// An activity that panics while the lock is held cannot exist (the lock is only held to
    /// push), but a poisoned lock still holds a consistent list: use it.
    fn lock(&self) -> MutexGuard<'_, Vec<Payload>> {
        self.beats.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl HeartbeatSink for HeartbeatRecord {
    fn heartbeat(&self, details: Payload) {
        self.lock().push(details);
    }
}

/// Cancels the attempt of an [`ActivityEnv`]; usable from any task or thread.
#[derive(Clone, Debug)]
pub struct CancelHandle {
    token: CancellationToken,
}

impl CancelHandle {
    /// Asks the attempt to stop: `ctx.is_cancelled()` turns true and `ctx.cancelled()`
    /// completes.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// A stand-in for the worker that runs one activity attempt (see the [module docs](self)).
///
/// Cheap to clone; clones share the heartbeat record and the cancellation token, so a test
/// can hand a clone to another task and call [`cancel`](Self::cancel) on it while
/// [`run`](Self::run) awaits.
///
/// The defaults: workflow id `test-workflow`, run id `test-run`, workflow type
/// `TestWorkflow`, activity id `1`, task queue `test`, attempt 1, scheduled and started at
/// 2026-01-01T00:00:00Z, no heartbeat timeout, no previous heartbeat. The activity type is the
/// one being run unless set with [`info`](Self::info).
#[derive(Clone, Debug)]
pub struct ActivityEnv {
    info: ActivityInfo,
    previous_heartbeat: Option<Result<Payload, PayloadError>>,
    heartbeats: Arc<HeartbeatRecord>,
    cancel: CancellationToken,
}

impl Default for ActivityEnv {
    fn default() -> ActivityEnv {
        ActivityEnv::new()
    }
}

impl ActivityEnv {
    /// An environment with the defaults.
    pub fn new() -> ActivityEnv {
        ActivityEnv {
            info: ActivityInfo {
                workflow_id: WorkflowId::new("test-workflow"),
                run_id: RunId::new("test-run"),
                workflow_type: "TestWorkflow".to_owned(),
                activity_id: ActivityId::new("1"),
                activity_type: String::new(),
                task_queue: TaskQueue::new("test"),
                attempt: 1,
                scheduled_time: SIM_EPOCH,
                started_time: SIM_EPOCH,
                heartbeat_timeout: None,
            },
            previous_heartbeat: None,
            heartbeats: Arc::new(HeartbeatRecord::default()),
            cancel: CancellationToken::new(),
        }
    }

    /// The attempt number the activity sees (1 for the first attempt).
    pub fn attempt(mut self, attempt: u32) -> ActivityEnv {
        self.info.attempt = attempt;
        self
    }

    /// The last heartbeat details of a previous attempt, which the activity reads with
    /// `ctx.previous_heartbeat()`. A value that does not encode as a payload makes
    /// [`run`](Self::run) fail with [`ActivityError::InvalidOptions`] without running the
    /// activity.
    pub fn previous_heartbeat(mut self, details: impl Serialize) -> ActivityEnv {
        self.previous_heartbeat = Some(payload::encode(&details, || {
            "previous heartbeat details of the activity environment".to_owned()
        }));
        self
    }

    /// Everything the attempt knows about itself, replacing the defaults (including the
    /// attempt number). An empty `activity_type` is filled with the type being run.
    pub fn info(mut self, info: ActivityInfo) -> ActivityEnv {
        self.info = info;
        self
    }

    /// The heartbeat timeout the attempt sees in its info.
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> ActivityEnv {
        self.info.heartbeat_timeout = Some(timeout);
        self
    }

    /// The info the next attempt will see (`activity_type` empty unless set).
    pub fn activity_info(&self) -> &ActivityInfo {
        &self.info
    }

    /// An environment for the next attempt: attempt number plus one, this environment's last
    /// heartbeat as its previous heartbeat (or this environment's previous heartbeat when
    /// there was none), a fresh cancellation token and an empty heartbeat record.
    pub fn next_attempt(&self) -> ActivityEnv {
        let last = self.heartbeats.lock().last().cloned();
        ActivityEnv {
            info: ActivityInfo {
                attempt: self.info.attempt.saturating_add(1),
                ..self.info.clone()
            },
            previous_heartbeat: last.map(Ok).or_else(|| self.previous_heartbeat.clone()),
            heartbeats: Arc::new(HeartbeatRecord::default()),
            cancel: CancellationToken::new(),
        }
    }

    /// The context of an attempt of activity type `activity_type` in this environment, for
    /// code that takes an [`ActivityCtx`] directly. Its heartbeats are recorded here and
    /// [`cancel`](Self::cancel) cancels it.
    pub fn context(&self, activity_type: &str) -> Result<ActivityCtx, ActivityError> {
        let previous = match &self.previous_heartbeat {
            None => None,
            Some(Ok(details)) => Some(details.clone()),
            Some(Err(e)) => return Err(ActivityError::InvalidOptions(e.to_string())),
        };
        let mut info = self.info.clone();
        if info.activity_type.is_empty() {
            activity_type.clone_into(&mut info.activity_type);
        }
        Ok(ActivityCtx::new(
            info,
            previous,
            self.heartbeats.clone(),
            self.cancel.clone(),
        ))
    }

    /// Runs one attempt of `activity` with `input`.
    ///
    /// As on a worker, a panic in the activity is caught and returned as a retryable
    /// `ActivityPanic` failure carrying the panic message (the panic hook still prints it).
    pub async fn run<A: Activity>(&self, activity: &A, input: A::Input) -> Result<A::Output, ActivityError> {
        let ctx = self.context(A::NAME)?;
        catch_panic(async move { activity.run(ctx, input).await }).await
    }

    /// Runs one attempt of an erased activity (a [`MockActivity`](crate::MockActivity), or a
    /// definition from a registry) with `input` encoded as a payload. An input that does not
    /// encode fails with [`ActivityError::InvalidOptions`]; a panic is caught as in
    /// [`run`](Self::run).
    pub async fn run_definition(
        &self,
        definition: &dyn ActivityDefinition,
        input: impl Serialize,
    ) -> Result<Payload, ActivityError> {
        let activity_type = definition.activity_type();
        let input = payload::encode(&input, || format!("input of activity `{activity_type}`"))
            .map_err(|e| ActivityError::InvalidOptions(e.to_string()))?;
        let ctx = self.context(activity_type)?;
        catch_panic(async move { definition.run(ctx, input).await }).await
    }

    /// Every heartbeat recorded so far, in order (shared by clones of this environment).
    pub fn heartbeats(&self) -> Vec<Payload> {
        self.heartbeats.lock().clone()
    }

    /// Every heartbeat recorded so far, decoded as `T`.
    pub fn heartbeats_as<T: DeserializeOwned>(&self) -> Result<Vec<T>, PayloadError> {
        self.heartbeats
            .lock()
            .iter()
            .enumerate()
            .map(|(i, beat)| payload::decode(beat, || format!("heartbeat {}", i + 1)))
            .collect()
    }

    /// Cancels the attempt (see [`CancelHandle::cancel`]). Once cancelled, the environment
    /// stays cancelled: use [`next_attempt`](Self::next_attempt) or a new environment for a
    /// fresh token.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// True once the attempt was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// A handle that cancels this environment's attempt.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            token: self.cancel.clone(),
        }
    }
}

/// Runs `attempt`, turning a panic into the failure a worker reports for it.
async fn catch_panic<T>(attempt: impl Future<Output = Result<T, ActivityError>>) -> Result<T, ActivityError> {
    match AssertUnwindSafe(attempt).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(ActivityError::retryable(
            "ActivityPanic",
            panic_message(panic.as_ref()),
        )),
    }
}

/// The message of a panic payload, worded as the worker words it.
fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_owned())
}
