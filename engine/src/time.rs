//! Engine time: timestamps in milliseconds since the Unix epoch, and the duration format used
//! in history JSON.
//!
//! The engine never reads a clock itself; timestamps come from the `Clock` of the environment
//! (system time in production, virtual time in the simulator) and are recorded in history, so a
//! workflow's `ctx.now()` is the same on every replay.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

/// A point in engine time, in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// A timestamp `ms` milliseconds after the Unix epoch.
    pub const fn from_millis(ms: u64) -> Timestamp {
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This timestamp moved forward by `d` (saturating; sub-millisecond parts are dropped).
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_millis(d)))
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Parses an RFC 3339 timestamp such as `2026-01-01T00:00:00.000Z`.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
        let t = humantime::parse_rfc3339(s).map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))?;
        let since = t
            .duration_since(UNIX_EPOCH)
            .map_err(|_| format!("{s:?} is before 1970"))?;
        Ok(Timestamp(duration_millis(since)))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 with milliseconds, in UTC: `2026-01-01T00:00:00.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = UNIX_EPOCH + Duration::from_millis(self.0);
        write!(f, "{}", humantime::format_rfc3339_millis(t))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Formats a duration the way history JSON stores it: seconds with up to three decimals and
/// an `s` suffix (`"10s"`, `"0.250s"`, `"86400s"`), as in protobuf's JSON mapping.
pub fn format_duration(d: Duration) -> String {
    let ms = duration_millis(d);
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}.{:03}s", ms / 1000, ms % 1000)
    }
}

/// Parses the history JSON duration format (see [`format_duration`]).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like \"10s\" or \"0.250s\"");
    let digits = s.strip_suffix('s').ok_or_else(bad)?;
    let (whole, frac) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    if whole.is_empty() || frac.len() > 3 || !(whole.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let secs: u64 = whole.parse().map_err(|_| bad())?;
    let millis: u64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
    Ok(Duration::from_secs(secs) + Duration::from_millis(millis))
}

/// Readable rendering for reports: `24h`, `30d`, `1m 30s`, `250ms`.
pub fn human_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(duration_millis(d))).to_string()
}

/// serde adapter for `Duration` fields in history JSON.
pub(crate) mod duration_serde {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// serde adapter for `Option<Duration>` fields in history JSON.
pub(crate) mod opt_duration_serde {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_through_their_json_form() {
        for ms in [0u64, 1, 250, 1000, 1500, 86_400_000, 2_592_000_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{ms} ms");
        }
        assert_eq!(format_duration(Duration::from_millis(250)), "0.250s");
        assert_eq!(format_duration(Duration::from_secs(86_400)), "86400s");
    }

    #[test]
    fn malformed_durations_are_rejected() {
        for s in ["", "s", "10", "1.2345s", "-1s", "1e3s", "ten s", ".5s"] {
            assert!(parse_duration(s).is_err(), "{s:?} should not parse");
        }
    }

    #[test]
    fn timestamps_render_as_rfc3339_and_parse_back() {
        let t = Timestamp::from_millis(1_767_225_600_123);
        assert_eq!(t.to_string(), "2026-01-01T00:00:00.123Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_string()), Ok(t));
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }
}
