//! Encoding between the storage types and SQLite rows.
//!
//! Indexed things are columns: ids as text, times and counters as integers (milliseconds for
//! times), enums as small integer codes chosen so that SQLite's order of the columns is the
//! order of the Rust keys (`TaskKey`, `TimerKey` derive `Ord`; text compares bytewise in both).
//! What storage never queries (a run's `ExecutionState`, an event, a request's response) is
//! its serde_json encoding.
//!
//! Errors: a value the caller hands in that cannot be stored (an integer past `i64::MAX`, a
//! state that does not serialize) is `Invalid`; a stored value that does not decode is
//! `Corrupt`.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "runtime adapter: the SQLite backend does file I/O on its own threads"
)]

use crate::ids::{EventId, RunId, TaskQueue, TimerId, WorkflowId};
use crate::storage::{
    Lease, RunKey, RunRecord, RunStatus, StorageError, StorageResult, Task, TaskKey, TaskKind,
    TimeoutTypeKey, TimerKey, TimerKind, TimerRecord,
};
use crate::time::Timestamp;
use rusqlite::Row;
use rusqlite::types::ToSql;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// `u64` to SQLite's `i64`; a value past `i64::MAX` cannot be stored (`Invalid`).
/// `what` names the value for the error, built only when there is one.
pub(super) fn int(value: u64, what: impl FnOnce() -> String) -> StorageResult<i64> {
    i64::try_from(value).map_err(|_| {
        StorageError::Invalid(format!(
            "{} is {value}, past the largest integer SQLite stores ({})",
            what(),
            i64::MAX
        ))
    })
}

/// `u64` to `i64` for a bound in a query: a value past `i64::MAX` is past everything stored.
pub(super) fn bound(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored integer back to `u64`; a negative one was not written by this backend.
pub(super) fn uint(value: i64, what: &str) -> StorageResult<u64> {
    u64::try_from(value).map_err(|_| StorageError::Corrupt(format!("stored {what} is negative: {value}")))
}

/// A stored integer back to `u32`.
fn uint32(value: i64, what: &str) -> StorageResult<u32> {
    u32::try_from(value).map_err(|_| StorageError::Corrupt(format!("stored {what} is out of range: {value}")))
}

pub(super) fn time(t: Timestamp, what: impl FnOnce() -> String) -> StorageResult<i64> {
    int(t.as_millis(), what)
}

fn stored_time(ms: i64, what: &str) -> StorageResult<Timestamp> {
    uint(ms, what).map(Timestamp::from_millis)
}

/// The serde_json encoding of something storage keeps opaque; `what` names it for the error.
pub(super) fn to_json<T: Serialize>(value: &T, what: impl FnOnce() -> String) -> StorageResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StorageError::Invalid(format!("{} does not encode as JSON: {e}", what())))
}

/// Decodes what [`to_json`] stored.
pub(super) fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> StorageResult<T> {
    serde_json::from_str(text)
        .map_err(|e| StorageError::Corrupt(format!("stored {what} does not decode: {e}")))
}

// ---- enums ----

pub(super) fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "Running",
        RunStatus::Completed => "Completed",
        RunStatus::Failed => "Failed",
        RunStatus::Canceled => "Canceled",
        RunStatus::Terminated => "Terminated",
        RunStatus::TimedOut => "TimedOut",
        RunStatus::ContinuedAsNew => "ContinuedAsNew",
    }
}

fn status_from(name: &str) -> StorageResult<RunStatus> {
    Ok(match name {
        "Running" => RunStatus::Running,
        "Completed" => RunStatus::Completed,
        "Failed" => RunStatus::Failed,
        "Canceled" => RunStatus::Canceled,
        "Terminated" => RunStatus::Terminated,
        "TimedOut" => RunStatus::TimedOut,
        "ContinuedAsNew" => RunStatus::ContinuedAsNew,
        other => {
            return Err(StorageError::Corrupt(format!(
                "stored run status {other:?} is unknown"
            )));
        }
    })
}

/// In `TaskKind`'s order.
pub(super) fn kind_code(kind: TaskKind) -> i64 {
    match kind {
        TaskKind::Workflow => 0,
        TaskKind::Activity => 1,
    }
}

fn kind_from(code: i64) -> StorageResult<TaskKind> {
    match code {
        0 => Ok(TaskKind::Workflow),
        1 => Ok(TaskKind::Activity),
        other => Err(StorageError::Corrupt(format!(
            "stored task kind {other} is unknown"
        ))),
    }
}

/// In `TimeoutTypeKey`'s order.
fn timeout_code(timeout: TimeoutTypeKey) -> i64 {
    match timeout {
        TimeoutTypeKey::StartToClose => 0,
        TimeoutTypeKey::ScheduleToClose => 1,
        TimeoutTypeKey::ScheduleToStart => 2,
        TimeoutTypeKey::Heartbeat => 3,
    }
}

fn timeout_from(code: i64) -> StorageResult<TimeoutTypeKey> {
    Ok(match code {
        0 => TimeoutTypeKey::StartToClose,
        1 => TimeoutTypeKey::ScheduleToClose,
        2 => TimeoutTypeKey::ScheduleToStart,
        3 => TimeoutTypeKey::Heartbeat,
        other => {
            return Err(StorageError::Corrupt(format!(
                "stored timeout type {other} is unknown"
            )));
        }
    })
}

// ---- runs ----

/// The columns a run is read from, in [`RunRow::read`]'s order.
pub(super) const RUN_COLUMNS: &str = "workflow_id, run_id, workflow_type, task_queue, status, start_time, \
     close_time, next_event_id, version, state";

/// A `runs` row as SQLite returns it.
pub(super) struct RunRow {
    workflow_id: String,
    run_id: String,
    workflow_type: String,
    task_queue: String,
    status: String,
    start_time: i64,
    close_time: Option<i64>,
    next_event_id: i64,
    version: i64,
    state: String,
}

impl RunRow {
    /// Reads [`RUN_COLUMNS`] from `row`.
    pub(super) fn read(row: &Row<'_>) -> rusqlite::Result<RunRow> {
        Ok(RunRow {
            workflow_id: row.get(0)?,
            run_id: row.get(1)?,
            workflow_type: row.get(2)?,
            task_queue: row.get(3)?,
            status: row.get(4)?,
            start_time: row.get(5)?,
            close_time: row.get(6)?,
            next_event_id: row.get(7)?,
            version: row.get(8)?,
            state: row.get(9)?,
        })
    }

    pub(super) fn decode(self) -> StorageResult<RunRecord> {
        Ok(RunRecord {
            key: RunKey {
                workflow_id: WorkflowId::new(self.workflow_id),
                run_id: RunId::new(self.run_id),
            },
            workflow_type: self.workflow_type.into(),
            task_queue: TaskQueue::new(self.task_queue),
            status: status_from(&self.status)?,
            start_time: stored_time(self.start_time, "run start time")?,
            close_time: self
                .close_time
                .map(|t| stored_time(t, "run close time"))
                .transpose()?,
            next_event_id: EventId(uint(self.next_event_id, "next event id")?),
            version: uint(self.version, "run version")?,
            state: Arc::new(from_json(&self.state, "run state")?),
        })
    }
}

/// A run record's columns, in [`RUN_COLUMNS`]'s order after the key, for an insert or an
/// update.
#[derive(Debug)]
pub(super) struct RunValues {
    pub workflow_type: String,
    pub task_queue: String,
    pub status: &'static str,
    pub start_time: i64,
    pub close_time: Option<i64>,
    pub next_event_id: i64,
    pub version: i64,
    pub state: String,
}

impl RunValues {
    pub(super) fn encode(record: &RunRecord) -> StorageResult<RunValues> {
        let key = &record.key;
        Ok(RunValues {
            workflow_type: record.workflow_type.to_string(),
            task_queue: record.task_queue.as_str().to_owned(),
            status: status_name(record.status),
            start_time: time(record.start_time, || format!("run {key}: start time"))?,
            close_time: record
                .close_time
                .map(|t| time(t, || format!("run {key}: close time")))
                .transpose()?,
            next_event_id: int(record.next_event_id.0, || format!("run {key}: next event id"))?,
            version: int(record.version, || format!("run {key}: version"))?,
            state: to_json(&*record.state, || format!("run {key}: state"))?,
        })
    }
}

// ---- tasks ----

/// The columns a task is read from, in [`TaskRow::read`]'s order.
pub(super) const TASK_COLUMNS: &str = "workflow_id, run_id, kind, scheduled_event_id, attempt, queue, visible_at, lease_owner, lease_expires_at";

/// A task's key columns, in the key's order.
#[derive(Debug)]
pub(super) struct TaskKeyValues {
    pub workflow_id: String,
    pub run_id: String,
    pub kind: i64,
    pub scheduled_event_id: i64,
    pub attempt: i64,
}

/// Selects a task by its key, given [`TaskKeyValues::params`] as `?1` to `?5`.
pub(super) const TASK_KEY_MATCH: &str =
    "workflow_id = ?1 AND run_id = ?2 AND kind = ?3 AND scheduled_event_id = ?4 AND attempt = ?5";

impl TaskKeyValues {
    /// The key as query parameters, in the key's order.
    pub(super) fn params(&self) -> [&dyn ToSql; 5] {
        [
            &self.workflow_id,
            &self.run_id,
            &self.kind,
            &self.scheduled_event_id,
            &self.attempt,
        ]
    }

    pub(super) fn encode(key: &TaskKey) -> StorageResult<TaskKeyValues> {
        Ok(TaskKeyValues {
            workflow_id: key.run.workflow_id.as_str().to_owned(),
            run_id: key.run.run_id.as_str().to_owned(),
            kind: kind_code(key.kind),
            scheduled_event_id: int(key.scheduled_event_id.0, || {
                format!("task of run {}: scheduled event id", key.run)
            })?,
            attempt: i64::from(key.attempt),
        })
    }
}

/// A task row as SQLite returns it.
pub(super) struct TaskRow {
    workflow_id: String,
    run_id: String,
    kind: i64,
    scheduled_event_id: i64,
    attempt: i64,
    queue: String,
    visible_at: i64,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
}

impl TaskRow {
    /// Reads [`TASK_COLUMNS`] from `row`.
    pub(super) fn read(row: &Row<'_>) -> rusqlite::Result<TaskRow> {
        Ok(TaskRow {
            workflow_id: row.get(0)?,
            run_id: row.get(1)?,
            kind: row.get(2)?,
            scheduled_event_id: row.get(3)?,
            attempt: row.get(4)?,
            queue: row.get(5)?,
            visible_at: row.get(6)?,
            lease_owner: row.get(7)?,
            lease_expires_at: row.get(8)?,
        })
    }

    pub(super) fn decode(self) -> StorageResult<Task> {
        let lease = match (self.lease_owner, self.lease_expires_at) {
            (Some(owner), Some(expires_at)) => Some(Lease {
                owner,
                expires_at: stored_time(expires_at, "lease expiry")?,
            }),
            (None, None) => None,
            _ => {
                return Err(StorageError::Corrupt(
                    "a stored task has a lease owner without an expiry, or the reverse".to_owned(),
                ));
            }
        };
        Ok(Task {
            key: TaskKey {
                run: RunKey {
                    workflow_id: WorkflowId::new(self.workflow_id),
                    run_id: RunId::new(self.run_id),
                },
                kind: kind_from(self.kind)?,
                scheduled_event_id: EventId(uint(self.scheduled_event_id, "task scheduled event id")?),
                attempt: uint32(self.attempt, "task attempt")?,
            },
            queue: TaskQueue::new(self.queue),
            visible_at: stored_time(self.visible_at, "task visibility time")?,
            lease,
        })
    }
}

// ---- timers ----

/// The columns of a timer's key, in the key's order: the kind's code first, then each
/// variant's fields, with fixed values for the fields a variant lacks.
pub(super) const TIMER_KEY_COLUMNS: &str =
    "workflow_id, run_id, kind, timer_id, scheduled_event_id, attempt, timeout";

/// A timer's key columns, in [`TIMER_KEY_COLUMNS`]'s order.
#[derive(Debug)]
pub(super) struct TimerKeyValues {
    pub workflow_id: String,
    pub run_id: String,
    pub kind: i64,
    pub timer_id: String,
    pub scheduled_event_id: i64,
    pub attempt: i64,
    pub timeout: i64,
}

/// Selects a timer by its key, given [`TimerKeyValues::params`] as `?1` to `?7`.
pub(super) const TIMER_KEY_MATCH: &str = "workflow_id = ?1 AND run_id = ?2 AND kind = ?3 AND timer_id = ?4 \
     AND scheduled_event_id = ?5 AND attempt = ?6 AND timeout = ?7";

impl TimerKeyValues {
    /// The key as query parameters, in [`TIMER_KEY_COLUMNS`]'s order.
    pub(super) fn params(&self) -> [&dyn ToSql; 7] {
        [
            &self.workflow_id,
            &self.run_id,
            &self.kind,
            &self.timer_id,
            &self.scheduled_event_id,
            &self.attempt,
            &self.timeout,
        ]
    }

    pub(super) fn encode(key: &TimerKey) -> StorageResult<TimerKeyValues> {
        let event_id = |id: EventId| int(id.0, || format!("timer of run {}: scheduled event id", key.run));
        let (kind, timer_id, scheduled_event_id, attempt, timeout) = match &key.kind {
            TimerKind::User { timer_id } => (0, timer_id.as_str().to_owned(), 0, 0, 0),
            TimerKind::Activity {
                scheduled_event_id,
                attempt,
                timeout,
            } => (
                1,
                String::new(),
                event_id(*scheduled_event_id)?,
                i64::from(*attempt),
                timeout_code(*timeout),
            ),
            TimerKind::WorkflowTask {
                scheduled_event_id,
                attempt,
            } => (
                2,
                String::new(),
                event_id(*scheduled_event_id)?,
                i64::from(*attempt),
                0,
            ),
        };
        Ok(TimerKeyValues {
            workflow_id: key.run.workflow_id.as_str().to_owned(),
            run_id: key.run.run_id.as_str().to_owned(),
            kind,
            timer_id,
            scheduled_event_id,
            attempt,
            timeout,
        })
    }
}

/// A timer row as SQLite returns it: [`TIMER_KEY_COLUMNS`], then `due`.
pub(super) struct TimerRow {
    key: TimerKeyValues,
    due: i64,
}

impl TimerRow {
    pub(super) fn read(row: &Row<'_>) -> rusqlite::Result<TimerRow> {
        Ok(TimerRow {
            key: TimerKeyValues {
                workflow_id: row.get(0)?,
                run_id: row.get(1)?,
                kind: row.get(2)?,
                timer_id: row.get(3)?,
                scheduled_event_id: row.get(4)?,
                attempt: row.get(5)?,
                timeout: row.get(6)?,
            },
            due: row.get(7)?,
        })
    }

    pub(super) fn decode(self) -> StorageResult<TimerRecord> {
        let k = self.key;
        let event_id = || uint(k.scheduled_event_id, "timer scheduled event id").map(EventId);
        let attempt = || uint32(k.attempt, "timer attempt");
        let kind = match k.kind {
            0 => TimerKind::User {
                timer_id: TimerId::new(k.timer_id.as_str()),
            },
            1 => TimerKind::Activity {
                scheduled_event_id: event_id()?,
                attempt: attempt()?,
                timeout: timeout_from(k.timeout)?,
            },
            2 => TimerKind::WorkflowTask {
                scheduled_event_id: event_id()?,
                attempt: attempt()?,
            },
            other => {
                return Err(StorageError::Corrupt(format!(
                    "stored timer kind {other} is unknown"
                )));
            }
        };
        Ok(TimerRecord {
            key: TimerKey {
                run: RunKey {
                    workflow_id: WorkflowId::new(k.workflow_id.as_str()),
                    run_id: RunId::new(k.run_id.as_str()),
                },
                kind,
            },
            due: stored_time(self.due, "timer due time")?,
        })
    }
}
