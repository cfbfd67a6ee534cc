//! [`Trace`]: what happened in a simulated run, line by line, with a running hash.
//!
//! Every simulated component (storage, network, and later the executor and the test kit)
//! appends `(virtual time, node, event)` lines to one shared trace. Two runs of the same seed
//! must produce the same lines, so they must produce the same [`Trace::hash`]: comparing
//! hashes is the cheap determinism check, and diffing [`Trace::render`]s shows where two runs
//! went apart.
//!
//! The hash is FNV-1a 64 ([`fnv1a64`]), fed with the bytes of each line as
//! [`TraceLine::text`] renders it followed by `\n`, continuing across lines (the hash of a
//! trace is the FNV-1a 64 of its [`render`](Trace::render)ed text). FNV-1a is tiny, has no
//! platform-dependent parts (no word size, no endianness, no seeding), and is stable by
//! definition: the same trace hashes the same everywhere, forever.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use warpflow_engine::time::Timestamp;

/// The FNV-1a 64 offset basis: the hash of the empty input.
pub const FNV1A64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The FNV-1a 64 prime.
pub const FNV1A64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Continues an FNV-1a 64 hash `state` over `bytes`. Start from [`FNV1A64_OFFSET`].
pub fn fnv1a64_update(mut state: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        state ^= u64::from(byte);
        state = state.wrapping_mul(FNV1A64_PRIME);
    }
    state
}

/// The FNV-1a 64 hash of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_update(FNV1A64_OFFSET, bytes)
}

/// One line of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    /// Virtual time.
    pub at: Timestamp,
    /// The node it happened on (`engine`, `storage`, `worker-1`...).
    pub node: String,
    /// What happened.
    pub event: String,
}

impl TraceLine {
    /// The line as rendered and hashed: `<RFC 3339 time> <node> <event>`, with newlines in
    /// the node or event escaped as `\n` so that one line stays one line.
    pub fn text(&self) -> String {
        format!(
            "{} {} {}",
            self.at,
            self.node.replace('\n', "\\n"),
            self.event.replace('\n', "\\n")
        )
    }
}

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// An append-only log of a run with a running hash. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    lines: Vec<TraceLine>,
    hash: u64,
}

impl Default for Trace {
    fn default() -> Trace {
        Trace::new()
    }
}

impl Trace {
    /// An empty trace; its hash is [`FNV1A64_OFFSET`].
    pub fn new() -> Trace {
        Trace {
            lines: Vec::new(),
            hash: FNV1A64_OFFSET,
        }
    }

    /// Appends a line and folds it into the hash.
    pub fn record(&mut self, at: Timestamp, node: impl Into<String>, event: impl Into<String>) {
        let line = TraceLine {
            at,
            node: node.into(),
            event: event.into(),
        };
        self.hash = fnv1a64_update(self.hash, line.text().as_bytes());
        self.hash = fnv1a64_update(self.hash, b"\n");
        self.lines.push(line);
    }

    /// The running hash of every line so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The lines, oldest first.
    pub fn lines(&self) -> &[TraceLine] {
        &self.lines
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Every line, each followed by `\n`: exactly the bytes the hash covers.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(&line.text());
            out.push('\n');
        }
        out
    }
}

/// A [`Trace`] shared by the components of one simulation; clones share the trace.
#[derive(Clone, Debug, Default)]
pub struct SharedTrace {
    // A std mutex: every method locks, does its work and unlocks without awaiting.
    inner: Arc<Mutex<Trace>>,
}

impl SharedTrace {
    /// A new, empty shared trace.
    pub fn new() -> SharedTrace {
        SharedTrace::default()
    }

    fn lock(&self) -> MutexGuard<'_, Trace> {
        // Nothing panics while holding the lock; if something did, the trace is still a
        // valid prefix of lines, so keep using it.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends a line (see [`Trace::record`]).
    pub fn record(&self, at: Timestamp, node: impl Into<String>, event: impl Into<String>) {
        self.lock().record(at, node, event);
    }

    /// The running hash.
    pub fn hash(&self) -> u64 {
        self.lock().hash()
    }

    /// A copy of the trace as it is now.
    pub fn snapshot(&self) -> Trace {
        self.lock().clone()
    }

    /// The rendered trace (see [`Trace::render`]).
    pub fn render(&self) -> String {
        self.lock().render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn sample(event_2: &str) -> Trace {
        let mut trace = Trace::new();
        trace.record(t(0), "engine", "start");
        trace.record(t(5), "storage", event_2);
        trace.record(t(7), "worker-0", "poll");
        trace
    }

    #[test]
    fn fnv1a64_known_vectors() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn same_lines_same_hash() {
        assert_eq!(
            sample("commit #1 applied").hash(),
            sample("commit #1 applied").hash()
        );
        assert_eq!(sample("commit #1 applied"), sample("commit #1 applied"));
    }

    #[test]
    fn one_changed_line_changes_the_hash() {
        assert_ne!(
            sample("commit #1 applied").hash(),
            sample("commit #1 failed").hash()
        );
        let mut later = Trace::new();
        later.record(t(1), "engine", "start");
        let mut earlier = Trace::new();
        earlier.record(t(0), "engine", "start");
        assert_ne!(later.hash(), earlier.hash());
    }

    #[test]
    fn the_hash_covers_exactly_the_rendered_text() {
        let trace = sample("commit #1 applied");
        assert_eq!(trace.hash(), fnv1a64(trace.render().as_bytes()));
        assert_eq!(Trace::new().hash(), FNV1A64_OFFSET);
    }

    #[test]
    fn a_known_trace_has_a_known_hash() {
        let mut trace = Trace::new();
        trace.record(t(1_767_225_600_000), "engine", "start");
        assert_eq!(trace.render(), "2026-01-01T00:00:00.000Z engine start\n");
        // FNV-1a 64 of the line above, computed independently of this code.
        assert_eq!(trace.hash(), KNOWN_HASH);
    }

    const KNOWN_HASH: u64 = 0x3988_b9d3_bc7e_0457;

    #[test]
    fn newlines_are_escaped() {
        let mut trace = Trace::new();
        trace.record(t(0), "n", "a\nb");
        assert_eq!(trace.render(), "1970-01-01T00:00:00.000Z n a\\nb\n");
        assert_eq!(trace.len(), 1);
    }

    #[test]
    fn shared_trace_clones_share() {
        let shared = SharedTrace::new();
        shared.clone().record(t(0), "a", "b");
        assert_eq!(shared.snapshot().lines().len(), 1);
        assert_eq!(shared.hash(), shared.snapshot().hash());
    }
}
