//! [`Dice`]: the fault-decision source of the simulated components, a seeded ChaCha8 stream
//! with the few draws they need (a chance, a latency), and [`LatencyRange`].
//!
//! Every random decision of the simulated storage and network comes from a `Dice` built from
//! a [`ChaCha8Rng`] the caller passes in, so a run is a function of its seeds. The draws are
//! defined here, bit by bit, rather than borrowed from `rand`'s distributions, so that they
//! cannot change under a dependency upgrade:
//! - [`Dice::chance`]`(p)` takes the top 53 bits of one `u64` as a uniform `u` in `[0, 1)`
//!   and answers `u < p`: never for `p <= 0` (or NaN), always for `p >= 1`;
//! - [`Dice::below`]`(n)` is uniform in `0..n` by rejection (no modulo bias);
//! - [`Dice::latency`] is uniform over the whole milliseconds of a [`LatencyRange`] (engine
//!   time has millisecond resolution).
//!
//! Components draw a fixed number of values per opportunity (each commit, each call),
//! whether or not a fault is enabled, so changing a rate changes which faults happen but not
//! the latencies the stream produces.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A seeded source of random decisions.
#[derive(Clone, Debug)]
pub struct Dice {
    rng: ChaCha8Rng,
}

impl Dice {
    /// Dice drawing from `rng`.
    pub fn new(rng: ChaCha8Rng) -> Dice {
        Dice { rng }
    }

    /// Dice seeded with `seed` (a convenience for tests).
    pub fn from_seed(seed: u64) -> Dice {
        Dice::new(ChaCha8Rng::seed_from_u64(seed))
    }

    /// The next raw value of the stream.
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// True with probability `p` (see the module documentation). Draws one value.
    pub fn chance(&mut self, p: f64) -> bool {
        let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        u < p
    }

    /// Uniform in `0..n`; `0` when `n` is 0. Draws one value, or more on a rejection.
    pub fn below(&mut self, n: u64) -> u64 {
        match n {
            0 => 0,
            n => Below::new(n).draw(self),
        }
    }

    /// A duration drawn uniformly from `range`, in whole milliseconds.
    pub fn latency(&mut self, range: LatencyRange) -> Duration {
        let [latency] = self.latencies(range);
        latency
    }

    /// `N` durations drawn one after the other from `range`, as `N` calls of
    /// [`Dice::latency`] would draw them (the same values), with the range's bounds and
    /// rejection zone worked out once: the network draws four latencies per call.
    pub fn latencies<const N: usize>(&mut self, range: LatencyRange) -> [Duration; N] {
        let min = millis(range.min);
        let max = millis(range.max).max(min);
        let span = max - min;
        let offsets = (span < u64::MAX).then(|| Below::new(span + 1));
        std::array::from_fn(|_| {
            let offset = match &offsets {
                Some(offsets) => offsets.draw(self),
                None => self.next_u64(),
            };
            Duration::from_millis(min + offset)
        })
    }
}

/// Uniform draws in `0..n` (`n > 0`) by rejection: the top partial block of the `u64`
/// range is drawn again, so every residue is equally likely (no modulo bias).
struct Below {
    n: u64,
    /// The largest value kept.
    zone: u64,
}

impl Below {
    fn new(n: u64) -> Below {
        Below {
            n,
            zone: u64::MAX - (u64::MAX % n + 1) % n,
        }
    }

    fn draw(&self, dice: &mut Dice) -> u64 {
        loop {
            let x = dice.next_u64();
            if x <= self.zone {
                return x % self.n;
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An inclusive range of latencies (whole milliseconds; a `max` below `min` counts as `min`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyRange {
    /// The shortest latency.
    pub min: Duration,
    /// The longest latency.
    pub max: Duration,
}

impl LatencyRange {
    /// No latency at all.
    pub const ZERO: LatencyRange = LatencyRange {
        min: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// Latencies from `min` to `max` inclusive.
    pub const fn new(min: Duration, max: Duration) -> LatencyRange {
        LatencyRange { min, max }
    }

    /// Latencies from `min_ms` to `max_ms` milliseconds inclusive.
    pub const fn millis(min_ms: u64, max_ms: u64) -> LatencyRange {
        LatencyRange::new(Duration::from_millis(min_ms), Duration::from_millis(max_ms))
    }

    /// Always `d`.
    pub const fn fixed(d: Duration) -> LatencyRange {
        LatencyRange::new(d, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chance_extremes() {
        let mut dice = Dice::from_seed(1);
        for _ in 0..1000 {
            assert!(!dice.chance(0.0));
            assert!(dice.chance(1.0));
            assert!(!dice.chance(f64::NAN));
        }
    }

    #[test]
    fn chance_is_roughly_fair() {
        let mut dice = Dice::from_seed(2);
        let hits = (0..10_000).filter(|_| dice.chance(0.25)).count();
        assert!((2_200..2_800).contains(&hits), "{hits}");
    }

    #[test]
    fn latency_stays_in_range_and_covers_it() {
        let mut dice = Dice::from_seed(3);
        let mut seen = [false; 3];
        for _ in 0..200 {
            let d = dice.latency(LatencyRange::millis(0, 2));
            seen[usize::try_from(d.as_millis()).unwrap()] = true;
        }
        assert_eq!(seen, [true; 3]);
        assert_eq!(
            dice.latency(LatencyRange::fixed(Duration::from_millis(7))),
            Duration::from_millis(7)
        );
        assert_eq!(
            dice.latency(LatencyRange::millis(9, 3)),
            Duration::from_millis(9),
            "max below min counts as min"
        );
    }

    #[test]
    fn latencies_draw_what_single_draws_would() {
        for range in [
            LatencyRange::millis(0, 5),
            LatencyRange::millis(100, 5_000),
            LatencyRange::fixed(Duration::from_millis(3)),
            LatencyRange::millis(9, 3),
        ] {
            let mut one_by_one = Dice::from_seed(7);
            let mut at_once = Dice::from_seed(7);
            let singles: [Duration; 64] = std::array::from_fn(|_| one_by_one.latency(range));
            assert_eq!(at_once.latencies::<64>(range), singles, "{range:?}");
            assert_eq!(
                at_once.next_u64(),
                one_by_one.next_u64(),
                "{range:?}: as many draws"
            );
        }
    }

    #[test]
    fn same_seed_same_draws() {
        let mut a = Dice::from_seed(42);
        let mut b = Dice::from_seed(42);
        for _ in 0..100 {
            assert_eq!(a.below(1_000), b.below(1_000));
        }
        assert_eq!(Dice::from_seed(0).below(0), 0);
    }
}
