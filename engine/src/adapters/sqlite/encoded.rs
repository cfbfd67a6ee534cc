//! A [`Commit`] encoded as the writer binds it: ids as text, times and counters as
//! integers, the run state, events and responses as JSON. `SqliteStorage::commit` encodes
//! on the caller's task, so the one writer thread, which every commit waits for, only binds
//! and steps statements.
//!
//! A value that cannot be stored (an integer past `i64::MAX`) keeps its error in place of
//! its encoding: the writer meets it where it would have met it encoding, after the checks
//! that come before, so a bad commit gets the same error as from every other backend
//! (`storage::check`).

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "runtime adapter: the SQLite backend does file I/O on its own threads"
)]

use super::rows::{RunValues, TaskKeyValues, TimerKeyValues, int, time, to_json};
use crate::storage::{Commit, RunWrite, StorageResult, Task, TimerRecord};

/// A commit, encoded; in the order [`Commit`] lists its parts.
#[derive(Debug)]
pub(super) struct EncodedCommit {
    pub runs: Vec<EncodedRunWrite>,
    pub create_tasks: Vec<StorageResult<TaskValues>>,
    pub complete_tasks: Vec<StorageResult<TaskKeyValues>>,
    pub create_timers: Vec<StorageResult<TimerValues>>,
    pub delete_timers: Vec<StorageResult<TimerKeyValues>>,
    /// `(request id, response as JSON)`.
    pub requests: Vec<StorageResult<(String, String)>>,
}

/// A run write: the write itself, for the checks, and its columns.
#[derive(Debug)]
pub(super) struct EncodedRunWrite {
    pub write: RunWrite,
    pub values: StorageResult<RunValues>,
    /// `(event id, event as JSON)`, or the first event's error.
    pub events: StorageResult<Vec<(i64, String)>>,
}

/// A task's columns after its key.
#[derive(Debug)]
pub(super) struct TaskValues {
    pub key: TaskKeyValues,
    pub queue: String,
    pub visible_at: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    /// `max(visible_at, lease_expires_at)`: when the task may be claimed.
    pub claimable_at: i64,
}

/// A timer's key columns and due time.
#[derive(Debug)]
pub(super) struct TimerValues {
    pub key: TimerKeyValues,
    pub due: i64,
}

impl EncodedCommit {
    pub(super) fn encode(commit: Commit) -> EncodedCommit {
        let Commit {
            runs,
            create_tasks,
            complete_tasks,
            create_timers,
            delete_timers,
            requests,
        } = commit;
        EncodedCommit {
            runs: runs.into_iter().map(EncodedRunWrite::encode).collect(),
            create_tasks: create_tasks.iter().map(TaskValues::encode).collect(),
            complete_tasks: complete_tasks.iter().map(TaskKeyValues::encode).collect(),
            create_timers: create_timers.iter().map(TimerValues::encode).collect(),
            delete_timers: delete_timers.iter().map(TimerKeyValues::encode).collect(),
            requests: requests
                .iter()
                .map(|(request_id, response)| {
                    let json = to_json(response, || format!("response of request {:?}", request_id.0))?;
                    Ok((request_id.0.clone(), json))
                })
                .collect(),
        }
    }
}

impl EncodedRunWrite {
    fn encode(write: RunWrite) -> EncodedRunWrite {
        let key = &write.record.key;
        let events = write
            .events
            .iter()
            .map(|event| {
                let id = int(event.event_id.0, || format!("run {key}: event id"))?;
                let body = to_json(event, || format!("run {key}: event {}", event.event_id))?;
                Ok((id, body))
            })
            .collect();
        EncodedRunWrite {
            values: RunValues::encode(&write.record),
            events,
            write,
        }
    }
}

impl TaskValues {
    fn encode(task: &Task) -> StorageResult<TaskValues> {
        let key = TaskKeyValues::encode(&task.key)?;
        let what = || format!("task of run {}", task.key.run);
        let visible_at = time(task.visible_at, || format!("{}: visibility time", what()))?;
        let (lease_owner, lease_expires_at) = match &task.lease {
            Some(lease) => (
                Some(lease.owner.clone()),
                Some(time(lease.expires_at, || format!("{}: lease expiry", what()))?),
            ),
            None => (None, None),
        };
        Ok(TaskValues {
            key,
            queue: task.queue.as_str().to_owned(),
            visible_at,
            claimable_at: lease_expires_at.map_or(visible_at, |e| e.max(visible_at)),
            lease_owner,
            lease_expires_at,
        })
    }
}

impl TimerValues {
    fn encode(timer: &TimerRecord) -> StorageResult<TimerValues> {
        Ok(TimerValues {
            key: TimerKeyValues::encode(&timer.key)?,
            due: time(timer.due, || format!("timer of run {}: due time", timer.key.run))?,
        })
    }
}
