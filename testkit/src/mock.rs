//! Activity mocks with scripted outcomes.
//!
//! A [`MockActivity`] stands in for an activity type in a [`Registry`]: it is an erased
//! [`ActivityDefinition`], so a workflow that calls `ctx.activity::<ChargePayment>(..)` runs
//! against the mock when the mock is registered under `"charge_payment"`. Its behaviour is a
//! script of [`MockOutcome`]s, one per **attempt number** (`ActivityCtx::attempt()`): attempt 1
//! plays the first step, attempt 2 the second, and attempts past the end of the script play the
//! fallback (by default: succeed). Keying on the attempt number rather than on a call counter
//! means every execution of the activity type follows the same script: with
//! `.fails_times(2, ..)` each activity the workflow schedules fails twice and then succeeds,
//! however many the workflow schedules, in whatever order.
//!
//! Every call is recorded in a [`MockCalls`] handle (attempt, input, workflow and activity id)
//! that the test keeps and inspects after the run.
//!
//! ```
//! use std::sync::Arc;
//! use warpflow_engine::Registry;
//! use warpflow_testkit::MockActivity;
//!
//! let mock = MockActivity::new("charge_payment")
//!     .fails_times(2, "GatewayDown", "the payment gateway is down")
//!     .returns("chg-42");
//! let calls = mock.calls();
//!
//! let mut registry = Registry::new();
//! registry.register_activity_definition(Arc::new(mock));
//! assert_eq!(registry.activity_types(), ["charge_payment"]);
//! assert_eq!(calls.count(), 0);
//! ```

use futures::future::{BoxFuture, Either, select};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use warpflow_engine::env::SharedClock;
use warpflow_engine::ids::{ActivityId, WorkflowId};
use warpflow_engine::payload::{self, Payload, PayloadError};
use warpflow_engine::registry::ActivityDefinition;
use warpflow_engine::{Activity, ActivityCtx, ActivityError, Registry};

/// What one attempt of a [`MockActivity`] does.
#[derive(Clone, Debug, PartialEq)]
pub enum MockOutcome {
    /// Returns the mock's result (see [`MockActivity::returns`]; `null` unless set).
    Succeed,
    /// Fails with a retryable application error.
    Fail {
        /// The error type a retry policy matches.
        error_type: String,
        /// The message.
        message: String,
    },
    /// Fails with a non-retryable application error.
    FailNonRetryable {
        /// The error type.
        error_type: String,
        /// The message.
        message: String,
    },
    /// Never returns: awaits the attempt's cancellation, so the engine's start-to-close or
    /// heartbeat timeout fires; once cancelled, returns [`ActivityError::Cancelled`]. A
    /// worker cancels such an attempt only when it shuts down (an attempt that does not
    /// heartbeat never learns that it timed out), so until then it holds one of the worker's
    /// activity slots.
    TimeOut,
    /// Sleeps this long on the mock's clock (see [`MockActivity::with_clock`]), then succeeds
    /// as [`MockOutcome::Succeed`]. Cancelled during the sleep, it returns
    /// [`ActivityError::Cancelled`].
    CompleteAfter(Duration),
    /// Heartbeats each of these details in order, then behaves as [`MockOutcome::TimeOut`].
    HeartbeatThenStall(Vec<Payload>),
    /// Panics with this message (the worker reports a panic as a retryable `ActivityPanic`).
    Panic(String),
}

impl MockOutcome {
    /// A retryable failure.
    pub fn fail(error_type: impl Into<String>, message: impl Into<String>) -> MockOutcome {
        MockOutcome::Fail {
            error_type: error_type.into(),
            message: message.into(),
        }
    }

    /// A non-retryable failure.
    pub fn fail_non_retryable(error_type: impl Into<String>, message: impl Into<String>) -> MockOutcome {
        MockOutcome::FailNonRetryable {
            error_type: error_type.into(),
            message: message.into(),
        }
    }
}

/// A function computing a mock's result from the attempt's input and context.
pub type MockResponder = dyn Fn(&Payload, &ActivityCtx) -> Result<Payload, ActivityError> + Send + Sync;

/// What [`MockOutcome::Succeed`] returns.
#[derive(Clone)]
enum MockResult {
    Value(Payload),
    /// `returns` was given a value that does not encode: every success reports it.
    Invalid(PayloadError),
    With(Arc<MockResponder>),
}

impl fmt::Debug for MockResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MockResult::Value(v) => f.debug_tuple("Value").field(v).finish(),
            MockResult::Invalid(e) => f.debug_tuple("Invalid").field(e).finish(),
            MockResult::With(_) => f.write_str("With(<fn>)"),
        }
    }
}

/// One call of a mock: one attempt of one activity.
#[derive(Clone, Debug, PartialEq)]
pub struct MockCall {
    /// The attempt number (1 for the first).
    pub attempt: u32,
    /// The input payload.
    pub input: Payload,
    /// The workflow that scheduled the activity.
    pub workflow_id: WorkflowId,
    /// The activity's id within its run.
    pub activity_id: ActivityId,
}

/// The calls a [`MockActivity`] received, in the order they started. Cheap to clone: clones
/// share the record, so a test keeps one while the registry owns the mock.
#[derive(Clone, Debug, Default)]
pub struct MockCalls {
    calls: Arc<Mutex<Vec<MockCall>>>,
}

impl MockCalls {
    /// An empty record.
    pub fn new() -> MockCalls {
        MockCalls::default()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<MockCall> {
        self.lock().clone()
    }

    /// How many calls so far.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// The attempt number of every call, in order.
    pub fn attempts(&self) -> Vec<u32> {
        self.lock().iter().map(|c| c.attempt).collect()
    }

    /// The input of every call, decoded as `T`.
    pub fn inputs<T: DeserializeOwned>(&self) -> Result<Vec<T>, PayloadError> {
        self.lock()
            .iter()
            .enumerate()
            .map(|(i, call)| payload::decode(&call.input, || format!("input of mock call {}", i + 1)))
            .collect()
    }

    fn record(&self, call: MockCall) {
        self.lock().push(call);
    }

    /// A mock that panics (on purpose) never holds the lock while it does, but a poisoned
    /// lock still holds a consistent list: use it.
    fn lock(&self) -> MutexGuard<'_, Vec<MockCall>> {
        self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An activity type played by a script of outcomes (see the [module docs](self)).
///
/// Built with chained calls: [`returns`](Self::returns) and [`returns_with`](Self::returns_with)
/// set what a successful attempt returns; [`fails_times`](Self::fails_times),
/// [`fails_non_retryable`](Self::fails_non_retryable), [`times_out`](Self::times_out),
/// [`completes_after`](Self::completes_after),
/// [`heartbeats_then_stalls`](Self::heartbeats_then_stalls), [`panics`](Self::panics) and
/// [`then`](Self::then) append steps for the next attempt numbers; [`otherwise`](Self::otherwise)
/// sets what attempts past the script do.
///
/// Cloning shares the call record.
#[derive(Clone)]
pub struct MockActivity {
    activity_type: &'static str,
    script: Vec<MockOutcome>,
    otherwise: MockOutcome,
    result: MockResult,
    clock: Option<SharedClock>,
    calls: MockCalls,
}

impl fmt::Debug for MockActivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockActivity")
            .field("activity_type", &self.activity_type)
            .field("script", &self.script)
            .field("otherwise", &self.otherwise)
            .field("result", &self.result)
            .field("has_clock", &self.clock.is_some())
            .field("calls", &self.calls.count())
            .finish()
    }
}

impl MockActivity {
    /// A mock of the activity type named `activity_type`, which succeeds with `null` on every
    /// attempt until told otherwise.
    ///
    /// The name is `&'static str` because the [`Registry`] keys activities by the type's
    /// `NAME` constant. A name built at run time must be made `'static` by the caller (for
    /// instance `Box::leak(name.into_boxed_str())`, once per name): the mock does not leak
    /// memory behind the caller's back.
    pub fn new(activity_type: &'static str) -> MockActivity {
        MockActivity {
            activity_type,
            script: Vec::new(),
            otherwise: MockOutcome::Succeed,
            result: MockResult::Value(Payload::null()),
            clock: None,
            calls: MockCalls::new(),
        }
    }

    /// A mock of activity type `A` (named `A::NAME`).
    pub fn of<A: Activity>() -> MockActivity {
        MockActivity::new(A::NAME)
    }

    /// A mock playing `script`, one outcome per attempt, then succeeding.
    pub fn from_script(activity_type: &'static str, script: Vec<MockOutcome>) -> MockActivity {
        MockActivity {
            script,
            ..MockActivity::new(activity_type)
        }
    }

    /// Successful attempts return `value`. When `value` does not encode as a payload, every
    /// successful attempt fails instead with a non-retryable `PayloadError` (as a real
    /// activity whose result does not encode would).
    pub fn returns(mut self, value: impl Serialize) -> MockActivity {
        let what = || format!("result of mock activity `{}`", self.activity_type);
        self.result = match payload::encode(&value, what) {
            Ok(payload) => MockResult::Value(payload),
            Err(e) => MockResult::Invalid(e),
        };
        self
    }

    /// Successful attempts return what `f` computes from the input and the attempt's context
    /// (an error it returns is the attempt's error).
    pub fn returns_with(
        mut self,
        f: impl Fn(&Payload, &ActivityCtx) -> Result<Payload, ActivityError> + Send + Sync + 'static,
    ) -> MockActivity {
        self.result = MockResult::With(Arc::new(f));
        self
    }

    /// The next `n` attempts fail with a retryable error of type `error_type`.
    pub fn fails_times(mut self, n: u32, error_type: &str, message: &str) -> MockActivity {
        for _ in 0..n {
            self.script.push(MockOutcome::fail(error_type, message));
        }
        self
    }

    /// The next attempt fails with a non-retryable error of type `error_type`.
    pub fn fails_non_retryable(self, error_type: &str, message: &str) -> MockActivity {
        self.then(MockOutcome::fail_non_retryable(error_type, message))
    }

    /// The next attempt never returns (see [`MockOutcome::TimeOut`]). For every attempt to
    /// time out, use `.otherwise(MockOutcome::TimeOut)`.
    pub fn times_out(self) -> MockActivity {
        self.then(MockOutcome::TimeOut)
    }

    /// The next attempt sleeps `d` on `clock` (virtual time under the simulator), then
    /// succeeds. `clock` becomes the mock's clock (see [`with_clock`](Self::with_clock)).
    pub fn completes_after(mut self, d: Duration, clock: SharedClock) -> MockActivity {
        self.clock = Some(clock);
        self.then(MockOutcome::CompleteAfter(d))
    }

    /// The next attempt heartbeats each of `details`, then never returns (see
    /// [`MockOutcome::HeartbeatThenStall`]).
    pub fn heartbeats_then_stalls(self, details: Vec<Payload>) -> MockActivity {
        self.then(MockOutcome::HeartbeatThenStall(details))
    }

    /// The next attempt panics with `message`.
    pub fn panics(self, message: &str) -> MockActivity {
        self.then(MockOutcome::Panic(message.to_owned()))
    }

    /// The next attempt plays `outcome`.
    pub fn then(mut self, outcome: MockOutcome) -> MockActivity {
        self.script.push(outcome);
        self
    }

    /// Attempts past the end of the script play `outcome` (by default they succeed).
    pub fn otherwise(mut self, outcome: MockOutcome) -> MockActivity {
        self.otherwise = outcome;
        self
    }

    /// The clock [`MockOutcome::CompleteAfter`] sleeps on. Without one, such an attempt fails
    /// with a non-retryable `MockWithoutClock` error.
    pub fn with_clock(mut self, clock: SharedClock) -> MockActivity {
        self.clock = Some(clock);
        self
    }

    /// The handle to the calls this mock receives (shared with every clone of the mock).
    pub fn calls(&self) -> MockCalls {
        self.calls.clone()
    }

    /// The activity type name.
    pub fn activity_type(&self) -> &'static str {
        self.activity_type
    }

    /// The per-attempt script.
    pub fn script(&self) -> &[MockOutcome] {
        &self.script
    }

    /// What attempt `attempt` (1-based) plays.
    pub fn outcome_for(&self, attempt: u32) -> &MockOutcome {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.script.get(index).unwrap_or(&self.otherwise)
    }

    /// Registers this mock in `registry` (replacing any activity of the same name) and
    /// returns its call record.
    pub fn register(self, registry: &mut Registry) -> MockCalls {
        let calls = self.calls();
        registry.register_activity_definition(Arc::new(self));
        calls
    }
}

impl ActivityDefinition for MockActivity {
    fn activity_type(&self) -> &'static str {
        self.activity_type
    }

    fn run(&self, ctx: ActivityCtx, input: Payload) -> BoxFuture<'static, Result<Payload, ActivityError>> {
        self.calls.record(MockCall {
            attempt: ctx.attempt(),
            input: input.clone(),
            workflow_id: ctx.info().workflow_id.clone(),
            activity_id: ctx.info().activity_id.clone(),
        });
        let outcome = self.outcome_for(ctx.attempt()).clone();
        let result = self.result.clone();
        let clock = self.clock.clone();
        let activity_type = self.activity_type;
        Box::pin(async move {
            match outcome {
                MockOutcome::Succeed => succeed(&result, &input, &ctx),
                MockOutcome::Fail { error_type, message } => {
                    Err(ActivityError::retryable(error_type, message))
                }
                MockOutcome::FailNonRetryable { error_type, message } => {
                    Err(ActivityError::non_retryable(error_type, message))
                }
                MockOutcome::TimeOut => stall(&ctx).await,
                MockOutcome::CompleteAfter(d) => {
                    let Some(clock) = clock else {
                        return Err(ActivityError::non_retryable(
                            "MockWithoutClock",
                            format!(
                                "mock activity `{activity_type}` completes after a delay but has no \
                                 clock: use `completes_after(d, clock)` or `with_clock(clock)`"
                            ),
                        ));
                    };
                    let sleep = clock.sleep_until(clock.now().plus(d));
                    match select(sleep, pin!(ctx.cancelled())).await {
                        Either::Left(((), _)) => succeed(&result, &input, &ctx),
                        Either::Right(((), _)) => Err(ActivityError::Cancelled),
                    }
                }
                MockOutcome::HeartbeatThenStall(details) => {
                    for detail in &details {
                        ctx.heartbeat(detail)
                            .map_err(|e| ActivityError::non_retryable("PayloadError", e.to_string()))?;
                    }
                    stall(&ctx).await
                }
                MockOutcome::Panic(message) => panic!("{message}"),
            }
        })
    }
}

fn succeed(result: &MockResult, input: &Payload, ctx: &ActivityCtx) -> Result<Payload, ActivityError> {
    match result {
        MockResult::Value(v) => Ok(v.clone()),
        MockResult::Invalid(e) => Err(ActivityError::non_retryable("PayloadError", e.to_string())),
        MockResult::With(f) => f(input, ctx),
    }
}

/// Waits for the attempt to be cancelled, as an activity that hangs would until the engine
/// gives up on it.
async fn stall(ctx: &ActivityCtx) -> Result<Payload, ActivityError> {
    ctx.cancelled().await;
    Err(ActivityError::Cancelled)
}
