//! The tokio adapters: engine time from tokio's clock, background tasks on tokio's scheduler,
//! and an OS-derived seed.
//!
//! Engine time is a fixed base [`Timestamp`] plus the time tokio says has elapsed since the
//! clock was created. In production the base is the wall clock at creation
//! ([`TokioClock::system`]); in tests under `#[tokio::test(start_paused = true)]` tokio's
//! clock is virtual, so a [`TokioClock::starting_at`] clock skips waits instantly and
//! reads the same times on every run.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "runtime adapter: the one place that reads real time, spawns tasks and asks the OS for entropy"
)]

use crate::env::{Clock, Sleep, Spawner};
use crate::time::Timestamp;
use ::tokio::time::Instant;
use futures::future::BoxFuture;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A [`Clock`] on tokio's time: a base timestamp plus tokio's elapsed time.
///
/// ```
/// use std::time::Duration;
/// use warpflow_engine::Timestamp;
/// use warpflow_engine::adapters::TokioClock;
/// use warpflow_engine::env::Clock;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let clock = TokioClock::starting_at(Timestamp::from_millis(1_000));
/// clock.sleep_until(Timestamp::from_millis(61_000)).await; // instant: tokio's time is paused
/// assert_eq!(clock.now(), Timestamp::from_millis(61_000));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TokioClock {
    base: Timestamp,
    origin: Instant,
}

impl TokioClock {
    /// A clock that reads `base` now and advances with tokio's time.
    pub fn starting_at(base: Timestamp) -> TokioClock {
        TokioClock {
            base,
            origin: Instant::now(),
        }
    }

    /// A clock that reads the wall clock now and then advances with tokio's (monotonic) time,
    /// so engine time never goes backwards when the system clock is adjusted.
    pub fn system() -> TokioClock {
        // A system clock set before 1970 reads as the epoch rather than failing.
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let millis = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
        TokioClock::starting_at(Timestamp::from_millis(millis))
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.base.plus(self.origin.elapsed())
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        // Measured from the origin rather than from `now()`, so that repeated sleeps do not
        // accumulate the millisecond rounding of `now()`.
        let target = self.origin.checked_add(deadline.since(self.base));
        Sleep::boxed(async move {
            match target {
                Some(target) => ::tokio::time::sleep_until(target).await,
                // Beyond what an `Instant` can represent: never in this process's lifetime.
                None => std::future::pending().await,
            }
        })
    }
}

/// A [`Spawner`] that runs futures as tokio tasks. `spawn` must be called from within a
/// tokio runtime (it panics otherwise, as `tokio::spawn` does).
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSpawner;

impl Spawner for TokioSpawner {
    fn spawn(&self, name: &'static str, future: BoxFuture<'static, ()>) {
        // The name is for tracing, once the engine has it; tasks are detached, so the join
        // handle is dropped.
        let _ = name;
        drop(::tokio::spawn(future));
    }
}

/// A seed for production: the wall clock's nanoseconds and the process id, mixed by the
/// standard library's randomly keyed hasher. Seeds only need to differ between processes
/// and runs (they make request and run ids unique); they are not secrets.
pub fn os_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos();
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn engine_time_follows_paused_tokio_time() {
        let clock = TokioClock::starting_at(Timestamp::from_millis(5_000));
        assert_eq!(clock.now(), Timestamp::from_millis(5_000));
        ::tokio::time::advance(Duration::from_millis(1_500)).await;
        assert_eq!(clock.now(), Timestamp::from_millis(6_500));
        clock.sleep_until(Timestamp::from_millis(10_000)).await;
        assert_eq!(clock.now(), Timestamp::from_millis(10_000));
        // A deadline in the past completes at once.
        clock.sleep_until(Timestamp::from_millis(0)).await;
        assert_eq!(clock.now(), Timestamp::from_millis(10_000));
    }

    #[tokio::test(start_paused = true)]
    async fn spawned_tasks_run() {
        let (tx, rx) = ::tokio::sync::oneshot::channel();
        TokioSpawner.spawn(
            "test",
            Box::pin(async move {
                let _ = tx.send(7);
            }),
        );
        assert_eq!(rx.await, Ok(7));
    }

    #[test]
    fn system_clock_reads_a_plausible_wall_time_and_seeds_differ() {
        // After 2020-01-01.
        assert!(TokioClock::system().now() > Timestamp::from_millis(1_577_836_800_000));
        assert_ne!(os_seed(), os_seed());
    }
}
