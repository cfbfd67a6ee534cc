//! Replay checks of stored JSON histories against the current code, for CI.
//!
//! Commit the histories of runs recorded by earlier versions of the code (the JSON format of
//! `docs/history-format.md`, as `warpflow history export` or `History::to_json_pretty` write
//! it) and replay them in a test with a [`HistoryReplayer`]: a code change that would break
//! runs already in flight fails the test with the non-determinism report of every history it
//! breaks.
//!
//! ```no_run
//! use warpflow_engine::Registry;
//! use warpflow_testkit::HistoryReplayer;
//! # use warpflow_engine::{WorkflowCtx, WorkflowResult, workflow::Workflow};
//! # struct Order;
//! # impl Workflow for Order {
//! #     const NAME: &'static str = "order";
//! #     type Input = ();
//! #     type Output = ();
//! #     async fn run(_ctx: WorkflowCtx, (): ()) -> WorkflowResult<()> { Ok(()) }
//! # }
//!
//! // In a test of the crate that defines the workflows:
//! let registry = Registry::new().with_workflow::<Order>();
//! HistoryReplayer::new(registry).replay_dir("tests/histories").assert_ok();
//! ```
//!
//! Every problem is an entry of the [`ReplayReport`], never a panic: a file that cannot be
//! read, a document that is not a well-formed history, a history that does not replay. Only
//! [`ReplayReport::assert_ok`] panics, naming each failing file with its report.

use std::fmt::{self, Write as _};
use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use warpflow_engine::history::{History, HistoryError};
use warpflow_engine::ids::{RunId, WorkflowId};
use warpflow_engine::limits::HISTORY_BYTES_MAX;
use warpflow_engine::registry::Registry;
use warpflow_engine::replay::{Nondeterminism, ReplayError, ReplayOutcome, Replayer};

/// How thoroughly each history is replayed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplayCheck {
    /// `Replayer::check_compatibility`: cold and task by task, never running a task live.
    /// The check for histories recorded by older code (a `patched` change rightly takes its
    /// new path only when run live). The default.
    #[default]
    Compatibility,
    /// `Replayer::check`: also resumes live at every workflow-task boundary. The determinism
    /// check for histories recorded by the same code.
    Full,
}

/// Why one history failed the check.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ReplayFailure {
    /// The file (or the directory) could not be read.
    #[error("cannot read it: {message}")]
    Read {
        /// The I/O error's kind.
        kind: io::ErrorKind,
        /// The I/O error's message.
        message: String,
    },
    /// The file is not a well-formed history document.
    #[error("not a valid history: {0}")]
    Load(HistoryError),
    /// The history does not replay against the current code.
    #[error("{0}")]
    Replay(ReplayError),
}

impl ReplayFailure {
    /// The non-determinism report, when replay diverged from the recorded commands.
    pub fn nondeterminism(&self) -> Option<&Nondeterminism> {
        match self {
            ReplayFailure::Replay(e) => e.activation_error()?.as_nondeterminism(),
            _ => None,
        }
    }

    /// A readable, possibly multi-line description: for a divergence, how it was replayed
    /// followed by `Nondeterminism::report()` (the summary, the steps that matched before, the
    /// recorded and the current command, a hint).
    pub fn report(&self) -> String {
        match (self, self.nondeterminism()) {
            (ReplayFailure::Replay(ReplayError::Failed { mode, .. }), Some(n)) => {
                format!("{mode}: {}", n.report())
            }
            _ => self.to_string(),
        }
    }
}

impl From<io::Error> for ReplayFailure {
    fn from(e: io::Error) -> ReplayFailure {
        ReplayFailure::Read {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// The check of one history file.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayEntry {
    /// The file (or, for an unreadable directory, the directory).
    pub path: PathBuf,
    /// The workflow id, when the history loaded.
    pub workflow_id: Option<WorkflowId>,
    /// The run id, when the history loaded.
    pub run_id: Option<RunId>,
    /// The workflow type, when the history loaded.
    pub workflow_type: Option<String>,
    /// What replay saw, or why the history failed.
    pub result: Result<ReplayOutcome, ReplayFailure>,
}

impl ReplayEntry {
    /// True when the history replayed.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// Why the history failed, if it did.
    pub fn failure(&self) -> Option<&ReplayFailure> {
        self.result.as_ref().err()
    }

    /// The file and what it holds: `path (workflow wf-1, type order)`.
    pub fn describe(&self) -> String {
        let mut out = self.path.display().to_string();
        match (&self.workflow_id, &self.workflow_type) {
            (Some(id), Some(ty)) => {
                let _ = write!(out, " (workflow {id}, type {ty})");
            }
            (Some(id), None) => {
                let _ = write!(out, " (workflow {id})");
            }
            _ => {}
        }
        out
    }
}

/// One entry per history checked, in the order checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayReport {
    entries: Vec<ReplayEntry>,
}

impl ReplayReport {
    /// An empty report.
    pub fn new() -> ReplayReport {
        ReplayReport::default()
    }

    /// Every entry.
    pub fn entries(&self) -> &[ReplayEntry] {
        &self.entries
    }

    /// The entry for `path`, if it was checked.
    pub fn entry(&self, path: impl AsRef<Path>) -> Option<&ReplayEntry> {
        self.entries.iter().find(|e| e.path == path.as_ref())
    }

    /// The entries that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ReplayEntry> {
        self.entries.iter().filter(|e| !e.is_ok())
    }

    /// How many histories were checked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no history was checked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when every history replayed (and there was at least one).
    pub fn is_ok(&self) -> bool {
        !self.entries.is_empty() && self.entries.iter().all(ReplayEntry::is_ok)
    }

    /// Adds an entry.
    pub fn push(&mut self, entry: ReplayEntry) {
        self.entries.push(entry);
    }

    /// Adds the entries of `other` after these.
    pub fn merge(&mut self, other: ReplayReport) {
        self.entries.extend(other.entries);
    }

    /// Panics unless every history replayed, with [the summary](fmt::Display) naming each
    /// failing file and its report. An empty report also panics: a replay check that found
    /// no histories (a wrong directory, a renamed extension) checks nothing.
    #[track_caller]
    pub fn assert_ok(&self) {
        if !self.is_ok() {
            panic!("{self}");
        }
    }
}

impl fmt::Display for ReplayReport {
    /// A summary: a headline, then each failing history with its report (indented), then
    /// the histories that replayed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.failures().count();
        if self.entries.is_empty() {
            return f.write_str("replay check: no histories were checked\n");
        }
        if failed == 0 {
            writeln!(f, "replay check: all {} histories replay", self.entries.len())?;
        } else {
            writeln!(
                f,
                "replay check: {failed} of {} histories do not replay against the current code",
                self.entries.len()
            )?;
        }
        for entry in self.failures() {
            writeln!(f, "\nFAILED {}", entry.describe())?;
            if let Some(failure) = entry.failure() {
                for line in failure.report().lines() {
                    writeln!(f, "    {line}")?;
                }
            }
        }
        let passed: Vec<&ReplayEntry> = self.entries.iter().filter(|e| e.is_ok()).collect();
        if !passed.is_empty() && failed > 0 {
            writeln!(f)?;
        }
        for entry in passed {
            writeln!(f, "ok     {}", entry.describe())?;
        }
        Ok(())
    }
}

/// Replays JSON history files against the workflow types of one [`Registry`] (any number of
/// types: each history names its own).
#[derive(Clone, Debug)]
pub struct HistoryReplayer {
    replayer: Replayer,
    check: ReplayCheck,
}

impl HistoryReplayer {
    /// A replayer for the workflow types of `registry`, with [`ReplayCheck::Compatibility`].
    pub fn new(registry: Registry) -> HistoryReplayer {
        HistoryReplayer {
            replayer: Replayer::new(registry),
            check: ReplayCheck::default(),
        }
    }

    /// This replayer with another check.
    pub fn with_check(mut self, check: ReplayCheck) -> HistoryReplayer {
        self.check = check;
        self
    }

    /// Checks one history already in memory; `path` names it in the report.
    pub fn replay_history(&self, path: impl Into<PathBuf>, history: &History) -> ReplayEntry {
        let result = match self.check {
            ReplayCheck::Compatibility => self.replayer.check_compatibility(history),
            ReplayCheck::Full => self.replayer.check(history),
        };
        ReplayEntry {
            path: path.into(),
            workflow_id: Some(history.workflow_id.clone()),
            run_id: Some(history.run_id.clone()),
            workflow_type: history.workflow_type().map(str::to_owned),
            result: result.map_err(ReplayFailure::Replay),
        }
    }

    /// Checks the history in the JSON file at `path`: a report with one entry.
    pub fn replay_file(&self, path: impl AsRef<Path>) -> ReplayReport {
        ReplayReport {
            entries: vec![self.file_entry(path.as_ref())],
        }
    }

    /// Checks every `*.json` file directly in `dir` (not in subdirectories), in the order of
    /// their names. A directory that cannot be read is one failed entry.
    pub fn replay_dir(&self, dir: impl AsRef<Path>) -> ReplayReport {
        let dir = dir.as_ref();
        let mut report = ReplayReport::new();
        let files = match json_files(dir) {
            Ok(files) => files,
            Err(e) => {
                report.push(unloaded(dir.to_path_buf(), e.into()));
                return report;
            }
        };
        for file in files {
            report.push(self.file_entry(&file));
        }
        report
    }

    fn file_entry(&self, path: &Path) -> ReplayEntry {
        match read_history(path) {
            Ok(history) => self.replay_history(path, &history),
            Err(failure) => unloaded(path.to_path_buf(), failure),
        }
    }
}

fn unloaded(path: PathBuf, failure: ReplayFailure) -> ReplayEntry {
    ReplayEntry {
        path,
        workflow_id: None,
        run_id: None,
        workflow_type: None,
        result: Err(failure),
    }
}

/// The `*.json` files in `dir`, sorted by name.
fn json_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Reads and loads one history, refusing a file over the history size limit before reading
/// it whole.
fn read_history(path: &Path) -> Result<History, ReplayFailure> {
    let too_large = |bytes: u64| {
        ReplayFailure::Load(HistoryError::TooLarge {
            bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
            max: HISTORY_BYTES_MAX,
        })
    };
    let limit = u64::try_from(HISTORY_BYTES_MAX).unwrap_or(u64::MAX);
    let file = fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Err(too_large(size));
    }
    let mut text = String::new();
    // The file may grow between the size check and the read.
    file.take(limit.saturating_add(1)).read_to_string(&mut text)?;
    if text.len() > HISTORY_BYTES_MAX {
        return Err(too_large(u64::try_from(text.len()).unwrap_or(u64::MAX)));
    }
    History::from_json(&text).map_err(ReplayFailure::Load)
}
