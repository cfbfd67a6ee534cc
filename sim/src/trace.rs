//! [`Trace`]: what happened in a simulated run, line by line, with a running hash.
//!
//! Every simulated component (storage, network, and later the executor and the test kit)
//! appends `(virtual time, node, event)` lines to one shared trace. Two runs of the same seed
//! must produce the same lines, so they must produce the same [`Trace::hash`]: comparing
//! hashes is the cheap determinism check, and diffing [`Trace::render`]s shows where two runs
//! went apart.
//!
//! Recording is cheap and reading is not: recording happens on every simulated message and
//! commit, reading only when a test or a person looks. A line's text pieces go end to end
//! into one buffer and its numbers (message and commit numbers, latencies) into another, as
//! numbers: no line, digit or string of its own is made while recording. The text of a line
//! (and its RFC 3339 time) is only spelled by [`Trace::lines`] and [`Trace::render`].
//!
//! The hash folds each line into a 64-bit state a word at a time ([`fold_word`]): the
//! virtual time (Unix milliseconds); the node's index among the trace's nodes with the length
//! of the line's text pieces (and a flag when the line has numbers); those pieces' UTF-8
//! bytes in little-endian 8-byte words (the last one zero-padded); then, for a line with
//! numbers, their count and each number's place in the text and value. A node's name is
//! folded in the same way, once, where it first appears. The indices number the nodes in
//! order of first appearance, so the hash is a function of the lines as recorded: the same
//! code recording the same run hashes the same (a number recorded as a number hashes apart
//! from its digits recorded as text, which no comparison of two runs mixes). Each word goes
//! in through one folded 128-bit multiply, a fraction of a byte-at-a-time hash's cost. The
//! function has no platform-dependent parts (no word size, no seeding), so the same trace
//! hashes the same everywhere.

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
        // Byte by byte: a copy of at most 7 bytes into a buffer would be a call to `memcpy`.
        let word = rest
            .iter()
            .rev()
            .fold(0u64, |word, &byte| (word << 8) | u64::from(byte));
        state = fold_word(state, word);
    }
    state
}

/// Folds a node's name into `state` where the node first appears (see the module
/// documentation); the tag keeps it apart from a line's words.
fn fold_node_name(state: u64, name: &str) -> u64 {
    const NODE_TAG: u64 = 1 << 63;
    fold_bytes(fold_word(state, NODE_TAG | name.len() as u64), name.as_bytes())
}

/// Spells a trace event from pieces of text and numbers, without the formatting machinery
/// or a string of its own: the components write a few such lines for every simulated
/// message and commit. Into a trace it appends the text pieces to the trace's text buffer and
/// the numbers, unspelled, to its number buffer; into a plain string it writes the text
/// `format!` would make of the same pieces.
#[derive(Debug)]
pub(crate) struct EventText<'a>(Sink<'a>);

#[derive(Debug)]
enum Sink<'a> {
    /// A plain string: numbers are spelled in decimal.
    Text(&'a mut String),
    /// A trace's buffers: numbers are kept as numbers, at their place in the text.
    Trace {
        text: &'a mut String,
        numbers: &'a mut Vec<Number>,
    },
}

impl<'a> EventText<'a> {
    /// Writes at the end of `buffer`.
    pub(crate) fn new(buffer: &'a mut String) -> EventText<'a> {
        EventText(Sink::Text(buffer))
    }

    /// Appends `text`.
    pub(crate) fn text(mut self, text: &str) -> EventText<'a> {
        match &mut self.0 {
            Sink::Text(buffer) | Sink::Trace { text: buffer, .. } => buffer.push_str(text),
        }
        self
    }

    /// Appends `n` in decimal.
    pub(crate) fn number(mut self, n: u64) -> EventText<'a> {
        match &mut self.0 {
            Sink::Text(buffer) => push_decimal(buffer, n),
            Sink::Trace { text, numbers } => numbers.push(Number {
                at: text.len(),
                value: n,
            }),
        }
        self
    }
}

/// Appends `n` in decimal to `buffer`.
fn push_decimal(buffer: &mut String, n: u64) {
    // Most are one digit (the counts of a commit line).
    if n < 10 {
        buffer.push(char::from(b'0' + n as u8));
    } else {
        buffer.push_str(Decimal::new(n).as_str());
    }
}

/// A number of a trace line, kept unspelled: `value` goes before the byte at `at` in the
/// trace's text buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Number {
    at: usize,
    value: u64,
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
    /// The line as rendered: `<RFC 3339 time> <node> <event>`, with newlines in the node or
    /// event escaped as `\n` so that one line stays one line.
    pub fn text(&self) -> String {
        line_text(self.at, &self.node, &self.event)
    }
}

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Continues `state` over one line (see the module documentation): its text pieces `text`,
/// which start at `text_start` in the trace's text buffer, and its `numbers`, placed in that
/// buffer (a number's place is hashed relative to the line's start).
fn hash_line(
    state: u64,
    at: Timestamp,
    node: usize,
    text: &str,
    numbers: &[Number],
    text_start: usize,
) -> u64 {
    const HAS_NUMBERS: u64 = 1 << 62;
    let flag = if numbers.is_empty() { 0 } else { HAS_NUMBERS };
    let state = fold_word(state, at.as_millis());
    let state = fold_word(state, flag ^ ((node as u64) << 32) ^ text.len() as u64);
    let mut state = fold_bytes(state, text.as_bytes());
    if !numbers.is_empty() {
        state = fold_word(state, numbers.len() as u64);
        for number in numbers {
            let place = (number.at - text_start) as u64;
            state = fold_word(fold_word(state, place), number.value);
        }
    }
    state
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
/// names), the end of its text pieces in the trace's text and the end of its numbers in the
/// trace's numbers (each starts where the previous line's ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    at: Timestamp,
    node: usize,
    end: usize,
    numbers_end: usize,
}

/// An append-only log of a run with a running hash. See the module documentation.
///
/// The lines' text pieces are kept end to end in one buffer and their numbers in another,
/// so that a run's thousands of lines are a few allocations to make and to free, not one
/// each, and no number is spelled unless someone reads the trace.
#[derive(Clone, Debug)]
pub struct Trace {
    text: String,
    numbers: Vec<Number>,
    marks: Vec<Mark>,
    hash: u64,
    /// The node names recorded so far, each allocated once.
    nodes: Vec<Arc<str>>,
    /// The index of the node of the last line: looked at first, since a node often records
    /// a few lines in a row.
    last_node: usize,
}

impl PartialEq for Trace {
    fn eq(&self, other: &Trace) -> bool {
        // The same lines give the same node names in the same order.
        self.hash == other.hash
            && self.marks == other.marks
            && self.text == other.text
            && self.numbers == other.numbers
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
            numbers: Vec::new(),
            marks: Vec::new(),
            hash: TRACE_HASH_START,
            nodes: Vec::new(),
            last_node: 0,
        }
    }

    /// Appends a line and folds it into the hash.
    pub fn record(&mut self, at: Timestamp, node: &str, event: impl AsRef<str>) {
        self.record_with(at, node, |text| text.text(event.as_ref()));
    }

    /// Appends a line whose event `write` spells into the trace's buffers.
    pub(crate) fn record_with(
        &mut self,
        at: Timestamp,
        node: &str,
        write: impl for<'a> FnOnce(EventText<'a>) -> EventText<'a>,
    ) {
        if self.marks.capacity() == 0 {
            self.reserve_for_a_run();
        }
        let start = self.text.len();
        let numbers_start = self.numbers.len();
        write(EventText(Sink::Trace {
            text: &mut self.text,
            numbers: &mut self.numbers,
        }));
        let node = self.node(node);
        let end = self.text.len();
        let numbers_end = self.numbers.len();
        self.hash = hash_line(
            self.hash,
            at,
            node,
            &self.text[start..end],
            &self.numbers[numbers_start..numbers_end],
            start,
        );
        self.marks.push(Mark {
            at,
            node,
            end,
            numbers_end,
        });
    }

    /// Room for the lines of a typical simulated run, made when the first line comes (not
    /// in [`Trace::new`]: [`SharedTrace::take`] leaves a new, unused trace behind): growing
    /// from nothing costs a dozen reallocations and copies of each buffer.
    #[cold]
    fn reserve_for_a_run(&mut self) {
        self.text.reserve(32 * 1024);
        self.numbers.reserve(1024);
        self.marks.reserve(1024);
    }

    /// The index of `node`'s name (a scan: a run has a handful of nodes), folding a new
    /// name into the hash.
    fn node(&mut self, node: &str) -> usize {
        if self.nodes.get(self.last_node).is_some_and(|n| **n == *node) {
            return self.last_node;
        }
        self.last_node = match self.nodes.iter().position(|n| **n == *node) {
            Some(known) => known,
            None => {
                self.hash = fold_node_name(self.hash, node);
                self.nodes.push(Arc::from(node));
                self.nodes.len() - 1
            }
        };
        self.last_node
    }

    /// The running hash of every line so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The lines, oldest first (spelled on demand from the trace's buffers).
    pub fn lines(&self) -> Vec<TraceLine> {
        let mut lines = Vec::with_capacity(self.marks.len());
        self.for_each_event(|mark, event| {
            lines.push(TraceLine {
                at: mark.at,
                node: self.nodes[mark.node].clone(),
                event: event.to_owned(),
            });
        });
        lines
    }

    /// Calls `f` with each line's mark and its event spelled out, oldest first (one string
    /// reused for every line).
    fn for_each_event(&self, mut f: impl FnMut(&Mark, &str)) {
        let mut event = String::new();
        let (mut start, mut numbers_start) = (0, 0);
        for mark in &self.marks {
            event.clear();
            let mut from = start;
            for number in &self.numbers[numbers_start..mark.numbers_end] {
                event.push_str(&self.text[from..number.at]);
                push_decimal(&mut event, number.value);
                from = number.at;
            }
            event.push_str(&self.text[from..mark.end]);
            f(mark, &event);
            (start, numbers_start) = (mark.end, mark.numbers_end);
        }
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
        self.for_each_event(|mark, event| {
            out.push_str(&line_text(mark.at, &self.nodes[mark.node], event));
            out.push('\n');
        });
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
    fn event_text_into_a_string_spells_as_format_does() {
        let mut text = String::from("x ");
        EventText::new(&mut text)
            .text("commit #")
            .number(7)
            .text(" of ")
            .number(12_345)
            .number(0);
        assert_eq!(text, "x commit #7 of 123450");
    }

    #[test]
    fn numbers_render_in_their_places() {
        let mut trace = Trace::new();
        trace.record_with(t(0), "n", |e| e.number(1).text("a").number(22).number(3));
        trace.record(t(1), "n", "plain");
        trace.record_with(t(2), "m", |e| e.text("b").number(4).text("c"));
        let events: Vec<String> = trace.lines().into_iter().map(|l| l.event).collect();
        assert_eq!(events, ["1a223", "plain", "b4c"]);
        assert_eq!(
            trace.render(),
            "1970-01-01T00:00:00.000Z n 1a223\n\
             1970-01-01T00:00:00.001Z n plain\n\
             1970-01-01T00:00:00.002Z m b4c\n"
        );
    }

    #[test]
    fn the_hash_covers_the_numbers_and_their_places() {
        let hash = |write: fn(EventText<'_>) -> EventText<'_>| {
            let mut trace = Trace::new();
            trace.record_with(t(0), "n", write);
            trace.hash()
        };
        let base = hash(|e| e.text("send #").number(12).text(" Poll"));
        assert_eq!(base, hash(|e| e.text("send #").number(12).text(" Poll")));
        assert_ne!(base, hash(|e| e.text("send #").number(13).text(" Poll")));
        assert_ne!(base, hash(|e| e.text("send ").number(12).text("# Poll")));
        assert_ne!(base, hash(|e| e.text("send # Poll")));
        assert_ne!(
            hash(|e| e.text("a").number(1).number(2)),
            hash(|e| e.text("a").number(12))
        );
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
