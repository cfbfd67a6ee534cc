//! proptest strategies for property tests of workflows (with the `proptest` feature):
//! activity outcome scripts, signal timings, seeds, and the simulator's fault plans.
//!
//! Each strategy shrinks toward the simpler case: shorter scripts and fewer signals, outcomes
//! toward [`MockOutcome::Succeed`] (the alternatives are listed simplest first), delays and
//! signal times toward zero.
//!
//! ```
//! use proptest::prelude::*;
//! use std::time::Duration;
//! use warpflow_testkit::MockActivity;
//! use warpflow_testkit::strategy::mock_script;
//!
//! proptest!(|(script in mock_script(4, Duration::from_secs(60)))| {
//!     let mock = MockActivity::from_script("charge_payment", script.clone());
//!     prop_assert_eq!(mock.script(), &script[..]);
//! });
//! ```

use crate::mock::MockOutcome;
use proptest::prelude::*;
use std::time::Duration;
use warpflow_engine::Payload;

pub use warpflow_sim::fault::strategy::{fault, fault_on, fault_plan, plan_of, when};

/// The error types scripted failures use.
pub const ERROR_TYPES: [&str; 3] = ["Transient", "Unavailable", "Declined"];

/// A duration in `0..=max` (whole milliseconds, the engine's resolution).
pub fn duration_up_to(max: Duration) -> impl Strategy<Value = Duration> {
    let max = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    (0..=max).prop_map(Duration::from_millis)
}

/// Any scripted outcome except [`MockOutcome::Panic`]: success, retryable and non-retryable
/// failures, a timeout, completion after up to `max_delay`, up to three heartbeats then a
/// stall.
pub fn mock_outcome(max_delay: Duration) -> impl Strategy<Value = MockOutcome> {
    let error_type = proptest::sample::select(ERROR_TYPES.to_vec());
    prop_oneof![
        Just(MockOutcome::Succeed),
        error_type
            .clone()
            .prop_map(|t| MockOutcome::fail(t, format!("scripted {t} failure"))),
        error_type.prop_map(|t| MockOutcome::fail_non_retryable(t, format!("scripted {t} failure"))),
        Just(MockOutcome::TimeOut),
        duration_up_to(max_delay).prop_map(MockOutcome::CompleteAfter),
        proptest::collection::vec((0..100u64).prop_map(Payload::from), 0..=3)
            .prop_map(MockOutcome::HeartbeatThenStall),
    ]
}

/// Any scripted outcome, [`MockOutcome::Panic`] included (its message is fixed).
pub fn mock_outcome_with_panics(max_delay: Duration) -> impl Strategy<Value = MockOutcome> {
    prop_oneof![
        4 => mock_outcome(max_delay),
        1 => Just(MockOutcome::Panic("scripted panic".to_owned())),
    ]
}

/// A script of at most `max_len` outcomes from [`mock_outcome`], for
/// [`MockActivity::from_script`](crate::MockActivity::from_script). Attempts past the script
/// succeed, so an activity with an unlimited retry policy completes by attempt `max_len + 1`
/// unless the script fails it non-retryably first.
pub fn mock_script(max_len: usize, max_delay: Duration) -> impl Strategy<Value = Vec<MockOutcome>> {
    proptest::collection::vec(mock_outcome(max_delay), 0..=max_len)
}

/// At most `max_len` signals at times in `0..=horizon` (from the start of the test), sorted
/// by time, with small integer payloads.
pub fn signal_timings(max_len: usize, horizon: Duration) -> impl Strategy<Value = Vec<(Duration, Payload)>> {
    signal_timings_of((0..1000u64).prop_map(Payload::from), max_len, horizon)
}

/// At most `max_len` signals at times in `0..=horizon`, sorted by time (stably: signals at
/// the same time keep their generated order), with payloads from `payloads`.
pub fn signal_timings_of(
    payloads: impl Strategy<Value = Payload>,
    max_len: usize,
    horizon: Duration,
) -> impl Strategy<Value = Vec<(Duration, Payload)>> {
    proptest::collection::vec((duration_up_to(horizon), payloads), 0..=max_len).prop_map(|mut signals| {
        signals.sort_by_key(|(at, _)| *at);
        signals
    })
}

/// Any simulation seed.
pub fn seed() -> impl Strategy<Value = u64> {
    any::<u64>()
}
