//! `Replayer`: replays recorded histories against the current code and reports divergence.
//!
//! [`Replayer::replay`] is the check a worker makes when it rebuilds a run from history.
//! [`Replayer::check`] is stricter, for tests of code against its own histories: it also
//! resumes a cold instance at every workflow-task boundary (as a worker that lost its cache
//! would) and feeds one instance task by task (as a sticky worker would), and requires every
//! path to issue the recorded commands and reach the same state.

use super::error::ActivationError;
use super::instance::{InstanceSummary, Spare, WorkflowInstance};
use crate::history::{EventAttributes as E, History, HistoryError, validate};
use crate::registry::Registry;

/// Which way of replaying found a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayMode {
    /// One cold instance, the whole history in one activation.
    Cold,
    /// A cold instance given the history up to the start of this workflow task (1-based),
    /// which it runs live; its commands are then matched against the recorded ones.
    ResumedAtTask(u32),
    /// One instance fed one workflow task at a time.
    TaskByTask,
}

impl std::fmt::Display for ReplayMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayMode::Cold => f.write_str("cold replay"),
            ReplayMode::ResumedAtTask(n) => write!(f, "replay resumed live at workflow task {n}"),
            ReplayMode::TaskByTask => f.write_str("task-by-task replay"),
        }
    }
}

/// A history that does not replay.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ReplayError {
    /// The history itself is not well formed.
    #[error("{0}")]
    History(#[from] HistoryError),
    /// Replay failed (non-determinism, panic, payload error, ...).
    #[error("{mode}: {error}")]
    Failed {
        /// How it was being replayed.
        mode: ReplayMode,
        /// What went wrong.
        error: ActivationError,
    },
    /// Two ways of replaying the same history ended in different states.
    #[error("{mode} ends in a different state than cold replay:\n  cold:    {cold:?}\n  {mode}: {other:?}")]
    StateDiverged {
        /// The path that disagreed with cold replay.
        mode: ReplayMode,
        /// The state after cold replay.
        cold: Box<InstanceSummary>,
        /// The state after the other path.
        other: Box<InstanceSummary>,
    },
}

impl ReplayError {
    /// The activation error, when replay failed rather than the history being malformed.
    pub fn activation_error(&self) -> Option<&ActivationError> {
        match self {
            ReplayError::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// What a successful replay saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// Events replayed.
    pub events: usize,
    /// Workflow tasks the code ran.
    pub workflow_tasks: u32,
    /// The state at the end of the history.
    pub summary: InstanceSummary,
}

/// The buffers of a finished replay, for the next [`Replayer::check_in`] to build its
/// executions in: a caller that checks many histories (a campaign checks every run of every
/// seed) allocates and frees a run's state, its maps and its command queues once, not once
/// per history. Empty by default; keeps the last execution's state (its ids, handlers and
/// payloads included) until the next check writes over it. `!Send`, like the executions.
#[derive(Default)]
pub struct ReplayBuffers(Spare);

impl std::fmt::Debug for ReplayBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayBuffers").finish_non_exhaustive()
    }
}

/// Replays histories against the workflow types of a registry.
#[derive(Clone, Debug)]
pub struct Replayer {
    registry: Registry,
}

impl Replayer {
    /// A replayer for the workflow types of `registry`.
    pub fn new(registry: Registry) -> Replayer {
        Replayer { registry }
    }

    /// Replays `history` with one cold instance.
    pub fn replay(&self, history: &History) -> Result<ReplayOutcome, ReplayError> {
        self.replay_in(history, &mut Spare::default())
    }

    /// [`replay`](Self::replay), its execution built in `spare`'s buffers and leaving its own
    /// there.
    fn replay_in(&self, history: &History, spare: &mut Spare) -> Result<ReplayOutcome, ReplayError> {
        validate(history)?;
        let summary = self.run(history, &[history.events.len()], ReplayMode::Cold, spare)?;
        Ok(ReplayOutcome {
            events: history.events.len(),
            workflow_tasks: summary.workflow_tasks,
            summary,
        })
    }

    /// Replays `history` cold and task by task (as a sticky worker would); both must match
    /// the recorded commands and end in the same state. This is the check for histories
    /// recorded by older code (versioning): it never runs a task live.
    pub fn check_compatibility(&self, history: &History) -> Result<ReplayOutcome, ReplayError> {
        self.check_compatibility_at(history, &task_boundaries(history), &mut Spare::default())
    }

    /// [`check_compatibility`](Self::check_compatibility) with the history's task boundaries
    /// found once for every path that needs them, each path's execution built in the
    /// buffers the one before it left in `spare`.
    fn check_compatibility_at(
        &self,
        history: &History,
        boundaries: &[TaskBoundary],
        spare: &mut Spare,
    ) -> Result<ReplayOutcome, ReplayError> {
        let outcome = self.replay_in(history, spare)?;
        let mut task_ends = Vec::with_capacity(boundaries.len() + 1);
        task_ends.extend(boundaries.iter().map(|b| b.after_commands));
        task_ends.push(history.events.len());
        self.compare(
            &outcome.summary,
            history,
            &task_ends,
            ReplayMode::TaskByTask,
            spare,
        )?;
        Ok(outcome)
    }

    /// [`check_compatibility`](Self::check_compatibility), plus: a cold instance resumed
    /// *live* at every workflow-task boundary (as a worker that lost its cache would run the
    /// next task) must issue exactly the recorded commands. This is the determinism check for
    /// histories recorded by the same code; on older histories a patched change would
    /// rightly take its new path when run live.
    pub fn check(&self, history: &History) -> Result<ReplayOutcome, ReplayError> {
        self.check_in(history, &mut ReplayBuffers::default())
    }

    /// [`check`](Self::check), its executions built in `buffers` (left by an earlier check)
    /// and leaving theirs there for the next. The same check, as strong: only allocations
    /// are saved.
    pub fn check_in(
        &self,
        history: &History,
        buffers: &mut ReplayBuffers,
    ) -> Result<ReplayOutcome, ReplayError> {
        let spare = &mut buffers.0;
        let boundaries = task_boundaries(history);
        let outcome = self.check_compatibility_at(history, &boundaries, spare)?;
        for (n, boundary) in boundaries.iter().enumerate() {
            let mode = ReplayMode::ResumedAtTask(u32::try_from(n + 1).unwrap_or(u32::MAX));
            let splits = [boundary.started + 1, history.events.len()];
            self.compare(&outcome.summary, history, &splits, mode, spare)?;
        }
        Ok(outcome)
    }

    fn compare(
        &self,
        cold: &InstanceSummary,
        history: &History,
        splits: &[usize],
        mode: ReplayMode,
        spare: &mut Spare,
    ) -> Result<(), ReplayError> {
        let other = self.run(history, splits, mode, spare)?;
        if other != *cold {
            return Err(ReplayError::StateDiverged {
                mode,
                cold: Box::new(cold.clone()),
                other: Box::new(other),
            });
        }
        Ok(())
    }

    /// Feeds one new instance the history in activations ending at each of `splits`. The
    /// instance is built in `spare`'s buffers and, when it ends without an error, leaves its
    /// own there for the next path.
    fn run(
        &self,
        history: &History,
        splits: &[usize],
        mode: ReplayMode,
        spare: &mut Spare,
    ) -> Result<InstanceSummary, ReplayError> {
        let failed = |error| ReplayError::Failed { mode, error };
        let mut instance = WorkflowInstance::reusing(
            self.registry.clone(),
            history.workflow_id.clone(),
            history.run_id.clone(),
            std::mem::take(spare),
        );
        let mut from = 0;
        for &to in splits {
            instance
                .activate_unanswered(&history.events[from..to])
                .map_err(failed)?;
            from = to;
        }
        instance.finish_replay().map_err(failed)?;
        let summary = instance.summary();
        *spare = instance.into_spare();
        Ok(summary)
    }
}

/// Where a completed workflow task sits in the event list.
struct TaskBoundary {
    /// Index of its `WorkflowTaskStarted`.
    started: usize,
    /// Index just past its command events.
    after_commands: usize,
}

fn task_boundaries(history: &History) -> Vec<TaskBoundary> {
    let events = &history.events;
    let mut boundaries = Vec::new();
    for (i, pair) in events.windows(2).enumerate() {
        if let (E::WorkflowTaskStarted { .. }, E::WorkflowTaskCompleted { .. }) =
            (&pair[0].attributes, &pair[1].attributes)
        {
            let commands = events[i + 2..]
                .iter()
                .take_while(|e| e.attributes.is_command_event())
                .count();
            boundaries.push(TaskBoundary {
                started: i,
                after_commands: i + 2 + commands,
            });
        }
    }
    boundaries
}
