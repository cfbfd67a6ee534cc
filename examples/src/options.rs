//! Activity options the examples share.

use std::time::Duration;
use warpflow_engine::ActivityOptions;

/// Temporal's default retry policy (1 s, doubling, capped at 100 s) with each attempt limited
/// to `attempt` and all of them to `give_up_after`: a burst of failures is ridden out, an
/// outage that lasts fails the activity with its last failure.
pub fn retried_for(attempt: Duration, give_up_after: Duration) -> ActivityOptions {
    ActivityOptions {
        schedule_to_close_timeout: Some(give_up_after),
        ..ActivityOptions::start_to_close(attempt)
    }
}
