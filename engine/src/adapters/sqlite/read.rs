//! The reads: a small pool of read-only connections, and one query per `Storage` read.
//!
//! In WAL mode readers never wait for the writer, and each statement reads the last
//! committed state, so a read that follows a commit's `Ok` sees it. A read runs on the
//! caller's thread with a connection taken from the pool (a new one is opened when every
//! pooled connection is in use, and kept if the pool has room): the queries are short and
//! indexed, so handing them to another thread would cost more than it saves.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "runtime adapter: the SQLite backend does file I/O on its own threads"
)]

use super::SqliteConfig;
use super::error::storage_error;
use super::rows::{RUN_COLUMNS, RunRow, TIMER_KEY_COLUMNS, TimerRow, bound, from_json, kind_code, uint};
use super::schema;
use crate::history::HistoryEvent;
use crate::ids::{EventId, RunId, TaskQueue, WorkflowId};
use crate::payload::Payload;
use crate::storage::{RequestId, RunKey, RunRecord, StorageResult, TaskKind, TimerRecord};
use crate::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex, PoisonError};

/// Read-only connections to the database, kept between reads.
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    config: SqliteConfig,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: PathBuf, config: SqliteConfig) -> Readers {
        Readers {
            path,
            config,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a pooled connection.
    pub(super) fn with<T>(&self, f: impl FnOnce(&Connection) -> StorageResult<T>) -> StorageResult<T> {
        // The pool is only a cache of connections: one left by a panicking reader is as good
        // as any, so a poisoned lock is used as it is.
        let pooled = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => schema::open_reader(&self.path, &self.config)
                .map_err(|e| storage_error("opening a read connection", &e))?,
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.config.read_connections {
            idle.push(conn);
        }
        result
    }

    /// Closes the pooled connections.
    pub(super) fn close(&self) {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// Maps the error of a query made while `doing` something.
fn query<T>(doing: &'static str, result: rusqlite::Result<T>) -> StorageResult<T> {
    result.map_err(|e| storage_error(doing, &e))
}

/// The statements read on every call, whose text is built from the shared column lists
/// once.
static RUN_BY_KEY: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {RUN_COLUMNS} FROM runs WHERE workflow_id = ?1 AND run_id = ?2"));
static CURRENT_RUN: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {RUN_COLUMNS} FROM runs WHERE workflow_id = ?1 ORDER BY seq DESC LIMIT 1")
});
static DUE_TIMERS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {TIMER_KEY_COLUMNS}, due FROM timers WHERE due <= ?1 \
         ORDER BY due, {TIMER_KEY_COLUMNS} LIMIT ?2"
    )
});

pub(super) fn get_run(
    conn: &Connection,
    workflow_id: &WorkflowId,
    run_id: Option<&RunId>,
) -> StorageResult<Option<RunRecord>> {
    let row = match run_id {
        Some(run_id) => conn.prepare_cached(&RUN_BY_KEY).and_then(|mut s| {
            s.query_row(params![workflow_id.as_str(), run_id.as_str()], RunRow::read)
                .optional()
        }),
        None => conn.prepare_cached(&CURRENT_RUN).and_then(|mut s| {
            s.query_row(params![workflow_id.as_str()], RunRow::read)
                .optional()
        }),
    };
    query("reading a run", row)?.map(RunRow::decode).transpose()
}

pub(super) fn read_events(
    conn: &Connection,
    run: &RunKey,
    from: EventId,
) -> StorageResult<Vec<HistoryEvent>> {
    let bodies: Vec<String> = query(
        "reading events",
        conn.prepare_cached(
            "SELECT e.event FROM events e JOIN runs r ON e.run_seq = r.seq \
             WHERE r.workflow_id = ?1 AND r.run_id = ?2 AND e.event_id >= ?3 ORDER BY e.event_id",
        )
        .and_then(|mut s| {
            s.query_map(
                params![run.workflow_id.as_str(), run.run_id.as_str(), bound(from.0)],
                |row| row.get(0),
            )?
            .collect()
        }),
    )?;
    bodies
        .iter()
        .map(|body| from_json(body, &format!("event of run {run}")))
        .collect()
}

pub(super) fn list_runs(
    conn: &Connection,
    workflow_id: Option<&WorkflowId>,
    limit: usize,
) -> StorageResult<Vec<RunRecord>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<RunRow> = query(
        "listing runs",
        match workflow_id {
            Some(workflow_id) => conn
                .prepare_cached(&format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE workflow_id = ?1 ORDER BY seq LIMIT ?2"
                ))
                .and_then(|mut s| {
                    s.query_map(params![workflow_id.as_str(), limit], RunRow::read)?
                        .collect()
                }),
            None => conn
                .prepare_cached(&format!(
                    "SELECT {RUN_COLUMNS} FROM runs ORDER BY start_time, workflow_id, run_id LIMIT ?1"
                ))
                .and_then(|mut s| s.query_map(params![limit], RunRow::read)?.collect()),
        },
    )?;
    rows.into_iter().map(RunRow::decode).collect()
}

/// Open runs by key, at most `limit`, from the partial index on running runs.
pub(super) fn list_open_runs(conn: &Connection, limit: usize) -> StorageResult<Vec<RunRecord>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<RunRow> = query(
        "listing open runs",
        conn.prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE status = 'Running' \
             ORDER BY workflow_id, run_id LIMIT ?1"
        ))
        .and_then(|mut s| s.query_map(params![limit], RunRow::read)?.collect()),
    )?;
    rows.into_iter().map(RunRow::decode).collect()
}

/// The earliest time a task of the queue becomes claimable (an unclaimed task's
/// `visible_at`, a claimed one's `claimable_at`), or `now` if that has passed.
pub(super) fn next_task_time(
    conn: &Connection,
    queue: &TaskQueue,
    kind: TaskKind,
    now: Timestamp,
) -> StorageResult<Option<Timestamp>> {
    let earliest: Option<i64> = query(
        "reading the next task time",
        conn.prepare_cached(
            "SELECT min(t) FROM (\
                 SELECT min(visible_at) AS t FROM tasks \
                 WHERE queue = ?1 AND kind = ?2 AND lease_owner IS NULL \
                 UNION ALL \
                 SELECT min(claimable_at) FROM tasks \
                 WHERE queue = ?1 AND kind = ?2 AND lease_owner IS NOT NULL)",
        )
        .and_then(|mut s| s.query_row(params![queue.as_str(), kind_code(kind)], |row| row.get(0))),
    )?;
    earliest
        .map(|t| Ok(Timestamp::from_millis(uint(t, "task time")?).max(now)))
        .transpose()
}

pub(super) fn due_timers(conn: &Connection, now: Timestamp, limit: usize) -> StorageResult<Vec<TimerRecord>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<TimerRow> = query(
        "reading due timers",
        conn.prepare_cached(&DUE_TIMERS).and_then(|mut s| {
            s.query_map(params![bound(now.as_millis()), limit], TimerRow::read)?
                .collect()
        }),
    )?;
    rows.into_iter().map(TimerRow::decode).collect()
}

pub(super) fn next_timer_due(conn: &Connection) -> StorageResult<Option<Timestamp>> {
    let due: Option<i64> = query(
        "reading the next timer",
        conn.prepare_cached("SELECT min(due) FROM timers")
            .and_then(|mut s| s.query_row([], |row| row.get(0))),
    )?;
    due.map(|t| Ok(Timestamp::from_millis(uint(t, "timer due time")?)))
        .transpose()
}

pub(super) fn get_request(conn: &Connection, request_id: &RequestId) -> StorageResult<Option<Payload>> {
    let response: Option<String> = query(
        "reading a request",
        conn.prepare_cached("SELECT response FROM requests WHERE request_id = ?1")
            .and_then(|mut s| s.query_row(params![request_id.0], |row| row.get(0)).optional()),
    )?;
    response
        .map(|r| from_json(&r, &format!("response of request {:?}", request_id.0)))
        .transpose()
}
