//! [`Trace`]: what happened in a simulated run, line by line, with a running hash.
//!
//! Every simulated component (storage, network, and later the executor and the test kit)
//! appends `(virtual time, node, event)` lines to one shared trace. Two runs of the same seed
//! must produce the same lines, so they must produce the same [`Trace::hash`]: comparing
//! hashes is the cheap determinism check, and diffing [`Trace::render`]s shows where two runs
//! went apart.
//!
//! The hash folds each line into a 64-bit state a word at a time ([`TraceLine::hash_into`]):
//! the virtual time (Unix milliseconds), the node's index among the trace's nodes with the
//! event's length, then the event's UTF-8 bytes in little-endian 8-byte words (the last one
//! zero-padded); a node's name is folded in the same way, once, where it first appears. The
//! indices number the nodes in order of first appearance, so the hash is still a function of
//! the lines alone. Each word goes in through one folded 128-bit multiply ([`fold_word`]):
//! recording happens on every simulated message and commit, and hashing whole words costs a
//! fraction of a byte-at-a-time hash (and the RFC 3339 time is not formatted at all: the text
//! is only made when someone reads the trace). The function has no platform-dependent parts
//! (no word size, no seeding), so the same trace hashes the same everywhere.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use warpflow_engine::ids::Decimal;
use warpflow_engine::time::Timestamp;

/// The hash of an empty trace.
pub const TRACE_HASH_START: u64 = 0xcbf2_9ce4_8422_2325;

/// The odd constant every word is multiplied with (the fractional part of the golden ratio).
const FOLD_KEY: u64 = 0x9e37_79b9_7f4a_7c15;

/// Folds one word into the hash `state`: the 128-bit product of `state ^ word` and a fixed odd
/// constant, its high half xored onto its low half (every input bit reaches every output bit).
pub fn fold_word(state: u64, word: u64) -> u64 {
    let product = u128::from(state ^ word) * u128::from(FOLD_KEY);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Folds `bytes` into `state` in little-endian 8-byte words, the last one zero-padded (the
/// caller folds the length in first, so padding is unambiguous).
fn fold_bytes(mut state: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(word);
        state = fold_word(state, u64::from_le_bytes(buf));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        state = fold_word(state, u64::from_le_bytes(buf));
    }
    state
}

/// Folds a node's name into `state` where the node first appears (see the module
/// documentation); the tag keeps it apart from a line's words.
fn fold_node_name(state: u64, name: &str) -> u64 {
    const NODE_TAG: u64 = 1 << 63;
    fold_bytes(fold_word(state, NODE_TAG | name.len() as u64), name.as_bytes())
}

/// Writes the text of a trace event from pieces of text and numbers straight into the
/// trace's buffer, without the formatting machinery or a string of its own: the components
/// write a few such lines for every simulated message and commit. The result is the text
/// `format!` would make of the same pieces.
#[derive(Debug)]
pub(crate) struct EventText<'a>(&'a mut String);

impl<'a> EventText<'a> {
    /// Writes at the end of `buffer`.
    pub(crate) fn new(buffer: &'a mut String) -> EventText<'a> {
        EventText(buffer)
    }

    /// Appends `text`.
    pub(crate) fn text(self, text: &str) -> EventText<'a> {
        self.0.push_str(text);
        self
    }

    /// Appends `n` in decimal.
    pub(crate) fn number(self, n: u64) -> EventText<'a> {
        // Most are one digit (the counts of a commit line).
        if n < 10 {
            self.0.push(char::from(b'0' + n as u8));
            return self;
        }
        self.0.push_str(Decimal::new(n).as_str());
        self
    }
}

/// One line of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    /// Virtual time.
    pub at: Timestamp,
    /// The node it happened on (`engine`, `storage`, `worker-1`...), shared by the lines of
    /// that node: a run has a handful of nodes and thousands of lines.
    pub node: Arc<str>,
    /// What happened.
    pub event: String,
}

impl TraceLine {
    /// Continues the hash `state` over this line as the `node_index`-th node of its trace
    /// (see the module documentation; the node's name is folded in where it first appears).
    pub fn hash_into(&self, state: u64, node_index: usize) -> u64 {
        hash_line(state, self.at, node_index, &self.event)
    }

    /// The line as rendered and hashed: `<RFC 3339 time> <node> <event>`, with newlines in
    /// the node or event escaped as `\n` so that one line stays one line.
    pub fn text(&self) -> String {
        line_text(self.at, &self.node, &self.event)
    }
}

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Continues `state` over one line (see the module documentation).
fn hash_line(state: u64, at: Timestamp, node: usize, event: &str) -> u64 {
    let state = fold_word(state, at.as_millis());
    let state = fold_word(state, ((node as u64) << 32) ^ event.len() as u64);
    fold_bytes(state, event.as_bytes())
}

fn line_text(at: Timestamp, node: &str, event: &str) -> String {
    format!(
        "{} {} {}",
        at,
        node.replace('\n', "\\n"),
        event.replace('\n', "\\n")
    )
}

/// Where a line is in a [`Trace`]: its time, its node (an index into the trace's node
/// names) and the end of its event in the trace's text (it starts where the previous ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    at: Timestamp,
    node: usize,
    end: usize,
}

/// An append-only log of a run with a running hash. See the module documentation.
///
/// The events' texts are kept end to end in one buffer, so that a run's thousands of lines
/// are a few allocations to make and to free, not one each.
#[derive(Clone, Debug)]
pub struct Trace {
    text: String,
    marks: Vec<Mark>,
    hash: u64,
    /// The node names recorded so far, each allocated once.
    nodes: Vec<Arc<str>>,
}

impl PartialEq for Trace {
    fn eq(&self, other: &Trace) -> bool {
        // The same lines give the same node names in the same order.
        self.hash == other.hash
            && self.marks == other.marks
            && self.text == other.text
            && self.nodes == other.nodes
    }
}

impl Eq for Trace {}

impl Default for Trace {
    fn default() -> Trace {
        Trace::new()
    }
}

impl Trace {
    /// An empty trace; its hash is [`TRACE_HASH_START`].
    pub fn new() -> Trace {
        Trace {
            text: String::new(),
            marks: Vec::new(),
            hash: TRACE_HASH_START,
            nodes: Vec::new(),
        }
    }

    /// Appends a line and folds it into the hash.
    pub fn record(&mut self, at: Timestamp, node: &str, event: impl AsRef<str>) {
        self.record_with(at, node, |text| text.text(event.as_ref()));
    }

    /// Appends a line whose event `write` spells into the trace's buffer.
    pub(crate) fn record_with(
        &mut self,
        at: Timestamp,
        node: &str,
        write: impl for<'a> FnOnce(EventText<'a>) -> EventText<'a>,
    ) {
        let start = self.text.len();
        write(EventText(&mut self.text));
        let node = self.node(node);
        let end = self.text.len();
        self.hash = hash_line(self.hash, at, node, &self.text[start..end]);
        self.marks.push(Mark { at, node, end });
    }

    /// The index of `node`'s name (a scan: a run has a handful of nodes), folding a new
    /// name into the hash.
    fn node(&mut self, node: &str) -> usize {
        if let Some(known) = self.nodes.iter().position(|n| **n == *node) {
            return known;
        }
        self.hash = fold_node_name(self.hash, node);
        self.nodes.push(Arc::from(node));
        self.nodes.len() - 1
    }

    /// The running hash of every line so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The lines, oldest first (made on demand from the trace's buffer).
    pub fn lines(&self) -> Vec<TraceLine> {
        self.spans()
            .map(|(mark, event)| TraceLine {
                at: mark.at,
                node: self.nodes[mark.node].clone(),
                event: event.to_owned(),
            })
            .collect()
    }

    /// Each line's mark with its event text.
    fn spans(&self) -> impl Iterator<Item = (&Mark, &str)> {
        let mut start = 0;
        self.marks.iter().map(move |mark| {
            let event = &self.text[start..mark.end];
            start = mark.end;
            (mark, event)
        })
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.marks.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    /// Every line as [`TraceLine::text`], each followed by `\n`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (mark, event) in self.spans() {
            out.push_str(&line_text(mark.at, &self.nodes[mark.node], event));
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
    pub fn record(&self, at: Timestamp, node: &str, event: impl AsRef<str>) {
        self.lock().record(at, node, event);
    }

    /// Appends a line whose event `write` spells into the trace's buffer.
    pub(crate) fn record_with(
        &self,
        at: Timestamp,
        node: &str,
        write: impl for<'a> FnOnce(EventText<'a>) -> EventText<'a>,
    ) {
        self.lock().record_with(at, node, write);
    }

    /// The running hash.
    pub fn hash(&self) -> u64 {
        self.lock().hash()
    }

    /// A copy of the trace as it is now.
    pub fn snapshot(&self) -> Trace {
        self.lock().clone()
    }

    /// The trace as it is now, leaving this shared trace empty: for the end of a run, when
    /// nothing records any more and a copy would be waste.
    pub fn take(&self) -> Trace {
        std::mem::take(&mut *self.lock())
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
    fn event_text_spells_as_format_does() {
        for n in [0u64, 7, 10, 12_345, u64::MAX] {
            let mut trace = Trace::new();
            trace.record_with(t(0), "engine", |e| e.text("send #").number(n).text(" Poll"));
            assert_eq!(trace.lines()[0].event, format!("send #{n} Poll"));
        }
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
    fn the_hash_covers_every_part_of_every_line() {
        let base = sample("commit #1 applied").hash();
        let mut renamed = Trace::new();
        renamed.record(t(0), "engine", "start");
        renamed.record(t(5), "storage-1", "commit #1 applied");
        renamed.record(t(7), "worker-0", "poll");
        assert_ne!(renamed.hash(), base, "a node's name");
        let mut moved = Trace::new();
        moved.record(t(0), "engine", "start");
        moved.record(t(5), "worker-0", "commit #1 applied");
        moved.record(t(7), "worker-0", "poll");
        assert_ne!(moved.hash(), base, "which node a line is on");
        // The same bytes cut into other events: the lengths keep them apart, as they keep an
        // event apart from the same event with zero bytes after it.
        let mut one = Trace::new();
        one.record(t(0), "n", "abcdefghij");
        let mut two = Trace::new();
        two.record(t(0), "n", "abcdefgh");
        two.record(t(0), "n", "ij");
        assert_ne!(one.hash(), two.hash());
        let mut padded = Trace::new();
        padded.record(t(0), "n", "abcdefghij\0");
        assert_ne!(one.hash(), padded.hash());
        assert_eq!(Trace::new().hash(), TRACE_HASH_START);
    }

    #[test]
    fn a_known_trace_has_a_known_hash() {
        let mut trace = Trace::new();
        trace.record(t(1_767_225_600_000), "engine", "start");
        assert_eq!(trace.render(), "2026-01-01T00:00:00.000Z engine start\n");
        // The fold of the module documentation, computed independently of this code (with
        // Python's integers): the name `engine`, then the time, node 0 with length 5, `start`.
        assert_eq!(trace.hash(), KNOWN_HASH);
    }

    const KNOWN_HASH: u64 = 0x87aa_2c86_1944_7ad4;

    #[test]
    fn newlines_are_escaped() {
        let mut trace = Trace::new();
        trace.record(t(0), "n", "a\nb");
        assert_eq!(trace.render(), "1970-01-01T00:00:00.000Z n a\\nb\n");
        assert_eq!(trace.len(), 1);
    }

    #[test]
    fn take_empties_the_shared_trace() {
        let shared = SharedTrace::new();
        shared.record(t(0), "a", "b");
        let taken = shared.take();
        assert_eq!(taken.len(), 1);
        assert!(shared.snapshot().is_empty());
    }

    #[test]
    fn shared_trace_clones_share() {
        let shared = SharedTrace::new();
        shared.clone().record(t(0), "a", "b");
        assert_eq!(shared.snapshot().lines().len(), 1);
        assert_eq!(shared.hash(), shared.snapshot().hash());
    }
}
