//! History snapshots for [`insta`]: a stable, readable rendering of a history, so that a
//! change in a workflow's behaviour shows up as a reviewed diff.
//!
//! [`history_snapshot`] renders a history with `History::render_timeline` (one line per
//! event, times relative to the start of the run, grouped by workflow task) and replaces the
//! identifiers the engine generates, which differ from one run to the next, with placeholders
//! numbered by first appearance: run ids become `<run-1>`, `<run-2>`, ..., and other
//! UUID-shaped tokens (`ctx.uuid()` values in payloads, say) become `<uuid-1>`, .... An id
//! the timeline cut short at the end of a long payload (`"5f0c1b7e-9a43-4d…`) gets the
//! placeholder of the id it starts (`"<uuid-1>…`) when at least its first 8 characters are
//! left. Two histories that differ only in those ids render identically.
//!
//! [`assert_history_snapshot!`](crate::assert_history_snapshot) compares that rendering with
//! the snapshot file, as `insta::assert_snapshot!` does: the file lives next to the test, in
//! `snapshots/<test file>__<name>.snap`; a new or changed rendering fails the test and is
//! written as a `.snap.new` to review with `cargo insta review` (or accepted with
//! `INSTA_UPDATE=always`). Commit the accepted `.snap` files; CI (`CI=true`) never writes them.
//!
//! ```
//! use serde_json::json;
//! use warpflow_engine::history::HistoryBuilder;
//! use warpflow_testkit::history_snapshot;
//!
//! let mut b = HistoryBuilder::new("order", json!("o-1").into())
//!     .with_ids("order-1", "5f0c1b7e-9a43-4d2e-8f61-0b7c2d9e4a13");
//! b.workflow_task();
//! b.complete(json!("done").into());
//! let rendering = history_snapshot(&b.build());
//! assert!(rendering.starts_with("workflow order-1, run <run-1>, type order: 5 events\n"));
//! ```

use std::collections::BTreeMap;
use warpflow_engine::history::{EventAttributes as E, History};

/// The timeline of `history` with engine-generated ids replaced by stable placeholders (see
/// the [module docs](self)).
pub fn history_snapshot(history: &History) -> String {
    normalize_ids(&history.render_timeline(), &run_ids(history))
}

/// Asserts that a history's [snapshot rendering](crate::snapshot::history_snapshot) matches
/// its `insta` snapshot: `assert_history_snapshot!(history)` names the snapshot after the test
/// function, `assert_history_snapshot!("name", history)` names it explicitly. The history may
/// be given by value or by reference.
///
/// Snapshot files live next to the test under `snapshots/`, as with
/// `insta::assert_snapshot!` (see the [`snapshot`](crate::snapshot) module).
///
/// ```no_run
/// use serde_json::json;
/// use warpflow_engine::history::HistoryBuilder;
/// use warpflow_testkit::assert_history_snapshot;
///
/// let mut b = HistoryBuilder::new("order", json!("o-1").into());
/// b.workflow_task();
/// b.complete(json!("done").into());
/// assert_history_snapshot!("order_completes", b.build());
/// ```
#[macro_export]
macro_rules! assert_history_snapshot {
    ($history:expr $(,)?) => {{
        let rendering = $crate::snapshot::history_snapshot(&$history);
        $crate::__insta::assert_snapshot!(
            ::core::option::Option::None::<&str>,
            rendering,
            stringify!($history)
        )
    }};
    ($name:expr, $history:expr $(,)?) => {{
        let rendering = $crate::snapshot::history_snapshot(&$history);
        $crate::__insta::assert_snapshot!($name, rendering, stringify!($history))
    }};
}

/// Every run id `history` names: its own, the run it continued from, its parent's, its
/// children's and the run it continued as.
fn run_ids(history: &History) -> Vec<String> {
    let mut ids = vec![history.run_id.as_str().to_owned()];
    for event in &history.events {
        match &event.attributes {
            E::WorkflowExecutionStarted {
                continued_from_run_id,
                parent,
                ..
            } => {
                ids.extend(continued_from_run_id.iter().map(|r| r.as_str().to_owned()));
                ids.extend(parent.iter().map(|p| p.run_id.as_str().to_owned()));
            }
            E::ChildWorkflowExecutionStarted { run_id, .. } => ids.push(run_id.as_str().to_owned()),
            E::WorkflowExecutionContinuedAsNew {
                new_execution_run_id, ..
            } => ids.push(new_execution_run_id.as_str().to_owned()),
            _ => {}
        }
    }
    ids.retain(|id| !id.is_empty());
    // Longest first, so that a run id that extends another is matched whole.
    ids.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    ids.dedup();
    ids
}

/// A character that can be part of an id token.
fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Replaces, in `text`, each of `run_ids` (where it stands as a whole token), each token
/// starting with `run-`, and each UUID-shaped token with a placeholder numbered by first
/// appearance.
fn normalize_ids(text: &str, run_ids: &[String]) -> String {
    let mut placeholders = Placeholders::default();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut after_id_char = false;
    while let Some(c) = rest.chars().next() {
        if !after_id_char && is_id_char(c) {
            let known = run_ids
                .iter()
                .find(|id| rest.starts_with(id.as_str()) && !rest[id.len()..].starts_with(is_id_char));
            let token = match known {
                Some(id) => id.as_str(),
                None => {
                    let end = rest.find(|c: char| !is_id_char(c)).unwrap_or(rest.len());
                    &rest[..end]
                }
            };
            let cut = rest[token.len()..].starts_with(TRUNCATED);
            if known.is_some() || token.starts_with("run-") {
                out.push_str(&placeholders.get("run", token));
            } else if is_uuid(token) {
                out.push_str(&placeholders.get("uuid", token));
            } else if let Some(id) = run_ids.iter().find(|id| cut && id.starts_with(token)) {
                out.push_str(&placeholders.get("run", id));
            } else if cut && token.len() >= UUID_PREFIX_MIN && is_uuid_prefix(token) {
                out.push_str(&placeholders.get_prefix("uuid", token));
            } else {
                out.push_str(token);
            }
            rest = &rest[token.len()..];
            after_id_char = true;
            continue;
        }
        out.push(c);
        after_id_char = is_id_char(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// What the timeline puts where it cuts a long payload.
const TRUNCATED: char = '…';

/// The shortest start of a UUID cut by the timeline that is still taken for one (its first
/// group): shorter hexadecimal tails of a cut payload are too likely to be something else.
const UUID_PREFIX_MIN: usize = 8;

/// The length of a UUID in its `8-4-4-4-12` form.
const UUID_LEN: usize = 36;

/// Whether position `i` of a UUID's text form is a dash.
fn uuid_dash_at(i: usize) -> bool {
    matches!(i, 8 | 13 | 18 | 23)
}

/// `8-4-4-4-12` hexadecimal digits, as `Uuid::to_string` writes them.
fn is_uuid(token: &str) -> bool {
    token.len() == UUID_LEN && is_uuid_prefix(token)
}

/// The start of a UUID's text form (or all of it).
fn is_uuid_prefix(token: &str) -> bool {
    token.len() <= UUID_LEN
        && token.char_indices().all(|(i, c)| {
            if uuid_dash_at(i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Placeholders by kind, numbered from 1 in order of first appearance.
#[derive(Default)]
struct Placeholders {
    seen: BTreeMap<(&'static str, String), String>,
    counts: BTreeMap<&'static str, usize>,
}

impl Placeholders {
    fn get(&mut self, kind: &'static str, token: &str) -> String {
        if let Some(p) = self.seen.get(&(kind, token.to_owned())) {
            return p.clone();
        }
        let n = self.counts.entry(kind).or_default();
        *n += 1;
        let placeholder = format!("<{kind}-{n}>");
        self.seen.insert((kind, token.to_owned()), placeholder.clone());
        placeholder
    }

    /// The placeholder of an id seen earlier that starts with `prefix` (the start of an id
    /// cut by the timeline), or a new one.
    fn get_prefix(&mut self, kind: &'static str, prefix: &str) -> String {
        let earlier = self
            .seen
            .iter()
            .find(|((k, token), _)| *k == kind && token.starts_with(prefix))
            .map(|(_, placeholder)| placeholder.clone());
        earlier.unwrap_or_else(|| self.get(kind, prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ids_run_prefixed_and_uuid_tokens_are_numbered_by_first_appearance() {
        let text = "workflow wf-1, run abc, child run-9 of abc, uuid 5f0c1b7e-9a43-4d2e-8f61-0b7c2d9e4a13, \
                    not xabc nor abc-d nor my-run-1, again run-9 and 5F0C1B7E-9A43-4D2E-8F61-0B7C2D9E4A13";
        let out = normalize_ids(text, &["abc".to_owned()]);
        assert_eq!(
            out,
            "workflow wf-1, run <run-1>, child <run-2> of <run-1>, uuid <uuid-1>, \
             not xabc nor abc-d nor my-run-1, again <run-2> and <uuid-2>"
        );
    }

    #[test]
    fn ids_cut_by_the_timeline_keep_their_placeholder() {
        let uuid = "5f0c1b7e-9a43-4d2e-8f61-0b7c2d9e4a13";
        let text = format!(
            "{uuid} then {}… and 9e2f7a1c-3b4d-4c5e-8f60-1a… and 3f1e4a52-8c… \
             and cafe… and 123… and abc-d…",
            &uuid[..20]
        );
        let out = normalize_ids(&text, &["abc-def".to_owned(), "3f1e4a52-8c0d".to_owned()]);
        assert_eq!(
            out,
            "<uuid-1> then <uuid-1>… and <uuid-2>… and <run-1>… \
             and cafe… and 123… and <run-2>…"
        );
    }

    #[test]
    fn a_longer_known_id_wins_over_its_prefix() {
        let ids = vec!["run-1-child".to_owned(), "run-1".to_owned()];
        assert_eq!(normalize_ids("run-1 run-1-child", &ids), "<run-1> <run-2>");
    }
}
