//! Retry policies for activities, with Temporal's defaults and validation.

use crate::failure::ActivityError;
use crate::time::{duration_serde, opt_duration_serde};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How an activity is retried after a failure or a timeout.
///
/// The defaults are Temporal's: first retry after 1 s, each next delay doubled, delays capped at
/// 100 × the initial interval, unlimited attempts.
///
/// ```
/// use std::time::Duration;
/// use warpflow_engine::RetryPolicy;
///
/// let policy = RetryPolicy::default().with_maximum_attempts(3);
/// assert_eq!(policy.delay_after_attempt(1), Duration::from_secs(1));
/// assert_eq!(policy.delay_after_attempt(2), Duration::from_secs(2));
/// assert!(policy.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Delay before the first retry.
    #[serde(with = "duration_serde")]
    pub initial_interval: Duration,
    /// Each delay is the previous one times this (≥ 1).
    pub backoff_coefficient: f64,
    /// The largest delay; 100 × `initial_interval` when absent.
    #[serde(default, with = "opt_duration_serde", skip_serializing_if = "Option::is_none")]
    pub maximum_interval: Option<Duration>,
    /// Total attempts allowed, the first included; 0 means unlimited.
    #[serde(default)]
    pub maximum_attempts: u32,
    /// Error types (`ActivityError::Application` `error_type`) that are never retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_interval: Duration::from_secs(1),
            backoff_coefficient: 2.0,
            maximum_interval: None,
            maximum_attempts: 0,
            non_retryable_error_types: Vec::new(),
        }
    }
}

/// A retry policy that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RetryPolicyError {
    /// `backoff_coefficient` is below 1 (or not a finite number).
    #[error("retry policy: backoff coefficient must be a finite number of at least 1, got {0}")]
    CoefficientBelowOne(String),
    /// `maximum_interval` is shorter than `initial_interval`.
    #[error("retry policy: maximum interval {maximum:?} is shorter than initial interval {initial:?}")]
    MaximumBelowInitial {
        /// The initial interval.
        initial: Duration,
        /// The maximum interval.
        maximum: Duration,
    },
    /// `initial_interval` is zero.
    #[error("retry policy: initial interval must be positive")]
    ZeroInitialInterval,
}

impl RetryPolicy {
    /// This policy with at most `n` attempts (the first included).
    pub fn with_maximum_attempts(mut self, n: u32) -> Self {
        self.maximum_attempts = n;
        self
    }

    /// This policy with a different first delay.
    pub fn with_initial_interval(mut self, d: Duration) -> Self {
        self.initial_interval = d;
        self
    }

    /// This policy with a cap on delays.
    pub fn with_maximum_interval(mut self, d: Duration) -> Self {
        self.maximum_interval = Some(d);
        self
    }

    /// This policy with a different backoff coefficient.
    pub fn with_backoff_coefficient(mut self, c: f64) -> Self {
        self.backoff_coefficient = c;
        self
    }

    /// This policy, never retrying errors of the given type.
    pub fn with_non_retryable_error_type(mut self, error_type: impl Into<String>) -> Self {
        self.non_retryable_error_types.push(error_type.into());
        self
    }

    /// Checks the policy's invariants.
    pub fn validate(&self) -> Result<(), RetryPolicyError> {
        if self.initial_interval.is_zero() {
            return Err(RetryPolicyError::ZeroInitialInterval);
        }
        // NaN compares as neither, so it is rejected too; infinity has no JSON form, so a
        // policy holding it could not be stored.
        if !self.backoff_coefficient.is_finite() || self.backoff_coefficient < 1.0 {
            return Err(RetryPolicyError::CoefficientBelowOne(
                self.backoff_coefficient.to_string(),
            ));
        }
        if let Some(maximum) = self.maximum_interval
            && maximum < self.initial_interval
        {
            return Err(RetryPolicyError::MaximumBelowInitial {
                initial: self.initial_interval,
                maximum,
            });
        }
        Ok(())
    }

    /// The effective cap on delays.
    pub fn effective_maximum_interval(&self) -> Duration {
        self.maximum_interval
            .unwrap_or_else(|| self.initial_interval.saturating_mul(100))
    }

    /// The delay between attempt `attempt` (1-based) failing and the next attempt starting.
    pub fn delay_after_attempt(&self, attempt: u32) -> Duration {
        let cap = self.effective_maximum_interval();
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let factor = self.backoff_coefficient.powi(exponent);
        let secs = self.initial_interval.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= cap.as_secs_f64() {
            return cap;
        }
        // Millisecond resolution: engine time is in milliseconds.
        Duration::from_millis((secs * 1000.0).round() as u64)
    }

    /// Whether an attempt that failed with `error` may be followed by attempt `attempt + 1`.
    pub fn allows_retry(&self, attempt: u32, error: &ActivityError) -> bool {
        if self.maximum_attempts != 0 && attempt >= self.maximum_attempts {
            return false;
        }
        match error {
            ActivityError::Application(f) => {
                !f.non_retryable && !self.non_retryable_error_types.contains(&f.error_type)
            }
            ActivityError::TimedOut(_) => true,
            ActivityError::Cancelled | ActivityError::InvalidOptions(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_backoff_doubles_from_one_second_up_to_one_hundred_seconds() {
        let p = RetryPolicy::default();
        let delays: Vec<u64> = (1..=9).map(|a| p.delay_after_attempt(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 100, 100]);
        assert_eq!(p.delay_after_attempt(10_000), Duration::from_secs(100));
    }

    #[test]
    fn attempts_and_error_types_limit_retries() {
        let p = RetryPolicy::default()
            .with_maximum_attempts(3)
            .with_non_retryable_error_type("CardDeclined");
        let flaky = ActivityError::retryable("Timeout", "gateway slow");
        assert!(p.allows_retry(1, &flaky));
        assert!(p.allows_retry(2, &flaky));
        assert!(!p.allows_retry(3, &flaky), "the third attempt is the last");
        assert!(!p.allows_retry(1, &ActivityError::retryable("CardDeclined", "no")));
        assert!(!p.allows_retry(1, &ActivityError::non_retryable("Other", "no")));
        assert!(
            RetryPolicy::default().allows_retry(1_000_000, &flaky),
            "unlimited by default"
        );
    }

    #[test]
    fn invalid_policies_are_rejected() {
        let p = RetryPolicy::default();
        assert!(p.clone().with_backoff_coefficient(0.5).validate().is_err());
        assert!(p.clone().with_backoff_coefficient(f64::NAN).validate().is_err());
        assert!(
            p.clone()
                .with_backoff_coefficient(f64::INFINITY)
                .validate()
                .is_err()
        );
        assert!(
            p.clone()
                .with_initial_interval(Duration::from_secs(10))
                .with_maximum_interval(Duration::from_secs(1))
                .validate()
                .is_err()
        );
        assert!(
            p.clone()
                .with_initial_interval(Duration::ZERO)
                .validate()
                .is_err()
        );
        assert!(p.validate().is_ok());
    }
}
