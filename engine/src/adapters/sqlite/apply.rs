//! The writes: one [`Commit`] or one lease, applied on the writer's connection inside the
//! transaction (and the savepoint) the writer opened for it.
//!
//! A commit is checked run write by run write as it is applied, against the runs as the
//! earlier writes of the same commit left them (they are applied already, inside the
//! savepoint), with the checks every backend shares (`storage::check`). A refused commit is
//! [`OpError::Refused`]: the writer rolls its savepoint back and the rest of the batch goes
//! on. An SQLite failure is [`OpError::Failed`]: the whole transaction is abandoned.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "runtime adapter: the SQLite backend does file I/O on its own threads"
)]

use super::encoded::{EncodedCommit, EncodedRunWrite};
use super::error::storage_error;
use super::rows::{
    RUN_COLUMNS, TASK_COLUMNS, TASK_KEY_MATCH, TIMER_KEY_COLUMNS, TIMER_KEY_MATCH, TaskKeyValues, TaskRow,
    bound, kind_code, uint,
};
use crate::ids::{EventId, RunId, TaskQueue, WorkflowId};
use crate::storage::check::{StoredHead, check_run_write};
use crate::storage::{Lease, RunKey, StorageError, StorageResult, Task, TaskKind};
use crate::time::Timestamp;
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Params, params, params_from_iter};
use std::sync::LazyLock;
use std::time::Duration;

/// Why an operation was not applied.
#[derive(Debug)]
pub(super) enum OpError {
    /// Refused by a check (`Conflict`, `VersionConflict`, `AlreadyRunning`, `Invalid`): only
    /// this operation is rolled back.
    Refused(StorageError),
    /// SQLite failed: the transaction is abandoned.
    Failed(StorageError),
}

/// Whatever the caller handed in that cannot be stored refuses the operation alone.
impl From<StorageError> for OpError {
    fn from(e: StorageError) -> OpError {
        match e {
            StorageError::Unavailable(_) | StorageError::Corrupt(_) => OpError::Failed(e),
            _ => OpError::Refused(e),
        }
    }
}

/// Wraps an SQLite error met while `doing` something as a failure of the transaction.
fn failed(doing: &'static str) -> impl Fn(rusqlite::Error) -> OpError {
    move |e| OpError::Failed(storage_error(doing, &e))
}

/// Runs one statement that returns no rows, through the statement cache.
fn exec(conn: &Connection, doing: &'static str, sql: &str, params: impl Params) -> Result<(), OpError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map(|_| ())
        .map_err(failed(doing))
}

/// A claim of the first claimable task of a queue, as `Storage::lease_task` asks.
#[derive(Debug)]
pub(super) struct LeaseRequest {
    pub queue: TaskQueue,
    pub kind: TaskKind,
    pub now: Timestamp,
    pub owner: String,
    pub lease_for: Duration,
}

// ---- commits ----

/// The statements whose text is built from the shared column lists, built once.
static INSERT_RUN: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
});
static DELETE_TASK: LazyLock<String> = LazyLock::new(|| format!("DELETE FROM tasks WHERE {TASK_KEY_MATCH}"));
static INSERT_TIMER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT OR REPLACE INTO timers ({TIMER_KEY_COLUMNS}, due) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    )
});
static DELETE_TIMER: LazyLock<String> =
    LazyLock::new(|| format!("DELETE FROM timers WHERE {TIMER_KEY_MATCH}"));

/// What the caller encoded, for the writer: an error kept in place of an encoding refuses
/// the commit when it is reached.
fn encoded<T>(value: &StorageResult<T>) -> Result<&T, OpError> {
    value.as_ref().map_err(|e| OpError::from(e.clone()))
}

/// Applies `commit`: its run writes in order (each checked), then task creations and
/// completions, timer settings and deletions, requests — creations before removals, as
/// `MemoryStorage` does.
///
/// A commit of at most one run write is checked whole before anything is written (the
/// run's checks, then every encoding, in the order they were met when each came just
/// before its write), so a refused one has written nothing and needs no savepoint (see
/// [`needs_savepoint`]).
pub(super) fn commit(conn: &Connection, commit: &EncodedCommit) -> Result<(), OpError> {
    if needs_savepoint(commit) {
        for write in &commit.runs {
            let stored = check_run(conn, write)?;
            write_run(conn, write, stored)?;
        }
    } else {
        let stored: Vec<_> = commit
            .runs
            .iter()
            .map(|write| check_run(conn, write))
            .collect::<Result<_, _>>()?;
        check_encodings(commit)?;
        for (write, stored) in commit.runs.iter().zip(stored) {
            write_run(conn, write, stored)?;
        }
    }
    for task in &commit.create_tasks {
        let t = encoded(task)?;
        let rest: [&dyn ToSql; 5] = [
            &t.queue,
            &t.visible_at,
            &t.lease_owner,
            &t.lease_expires_at,
            &t.claimable_at,
        ];
        exec(
            conn,
            "creating a task",
            "INSERT OR REPLACE INTO tasks (workflow_id, run_id, kind, scheduled_event_id, attempt, queue, \
             visible_at, lease_owner, lease_expires_at, claimable_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params_from_iter(t.key.params().into_iter().chain(rest)),
        )?;
    }
    for key in &commit.complete_tasks {
        exec(conn, "completing a task", &DELETE_TASK, encoded(key)?.params())?;
    }
    for timer in &commit.create_timers {
        let t = encoded(timer)?;
        exec(
            conn,
            "setting a timer",
            &INSERT_TIMER,
            params_from_iter(t.key.params().into_iter().chain([&t.due as &dyn ToSql])),
        )?;
    }
    for key in &commit.delete_timers {
        exec(conn, "deleting a timer", &DELETE_TIMER, encoded(key)?.params())?;
    }
    for request in &commit.requests {
        let (request_id, response) = encoded(request)?;
        exec(
            conn,
            "recording a request",
            "INSERT OR REPLACE INTO requests (request_id, response) VALUES (?1, ?2)",
            params![request_id, response],
        )?;
    }
    Ok(())
}

/// Whether `commit` may be refused after it wrote something, and so must be applied in a
/// savepoint: only with several run writes, as each is checked against the runs as the
/// earlier ones left them. Everything else is checked before the first write, and a
/// failure of SQLite itself abandons the whole transaction anyway.
pub(super) fn needs_savepoint(commit: &EncodedCommit) -> bool {
    commit.runs.len() > 1
}

/// The first value of `commit` that could not be encoded, in the order the writes meet
/// them: each run's record and events, then tasks, timers and requests.
fn check_encodings(commit: &EncodedCommit) -> Result<(), OpError> {
    for write in &commit.runs {
        encoded(&write.values)?;
        encoded(&write.events)?;
    }
    commit
        .create_tasks
        .iter()
        .try_for_each(|t| encoded(t).map(drop))?;
    commit
        .complete_tasks
        .iter()
        .try_for_each(|t| encoded(t).map(drop))?;
    commit
        .create_timers
        .iter()
        .try_for_each(|t| encoded(t).map(drop))?;
    commit
        .delete_timers
        .iter()
        .try_for_each(|t| encoded(t).map(drop))?;
    commit.requests.iter().try_for_each(|r| encoded(r).map(drop))
}

/// Checks one run write against the run as stored: its row id and head, if it exists.
fn check_run(
    conn: &Connection,
    encoded_write: &EncodedRunWrite,
) -> Result<Option<(i64, StoredHead)>, OpError> {
    let write = &encoded_write.write;
    let key = &write.record.key;
    let stored = stored_head(conn, key)?;
    // The uniqueness check only matters for a creation of a run that does not exist.
    let running = match (write.expected_next_event_id, stored) {
        (None, None) => running_run(conn, &key.workflow_id)?,
        _ => None,
    };
    check_run_write(write, stored.map(|(_, head)| head), || running).map_err(OpError::Refused)?;
    Ok(stored)
}

/// Writes one checked run write: the record, then its events.
fn write_run(
    conn: &Connection,
    encoded_write: &EncodedRunWrite,
    stored: Option<(i64, StoredHead)>,
) -> Result<(), OpError> {
    let key = &encoded_write.write.record.key;
    let v = encoded(&encoded_write.values)?;
    let values: [&dyn ToSql; 8] = [
        &v.workflow_type,
        &v.task_queue,
        &v.status,
        &v.start_time,
        &v.close_time,
        &v.next_event_id,
        &v.version,
        &v.state,
    ];
    let seq = match stored {
        None => {
            let key_values: [&dyn ToSql; 2] = [&key.workflow_id.as_str(), &key.run_id.as_str()];
            exec(
                conn,
                "creating a run",
                &INSERT_RUN,
                params_from_iter(key_values.into_iter().chain(values)),
            )?;
            conn.last_insert_rowid()
        }
        Some((seq, _)) => {
            exec(
                conn,
                "updating a run",
                "UPDATE runs SET workflow_type = ?2, task_queue = ?3, status = ?4, start_time = ?5, \
                 close_time = ?6, next_event_id = ?7, version = ?8, state = ?9 WHERE seq = ?1",
                params_from_iter([&seq as &dyn ToSql].into_iter().chain(values)),
            )?;
            seq
        }
    };
    let events = encoded(&encoded_write.events)?;
    let mut insert = conn
        .prepare_cached("INSERT INTO events (run_seq, event_id, event) VALUES (?1, ?2, ?3)")
        .map_err(failed("appending events"))?;
    for (id, body) in events {
        insert
            .execute(params![seq, id, body])
            .map_err(failed("appending events"))?;
    }
    Ok(())
}

/// The run's row id and what the optimistic check needs.
fn stored_head(conn: &Connection, key: &RunKey) -> Result<Option<(i64, StoredHead)>, OpError> {
    let row: Option<(i64, i64, i64)> = conn
        .prepare_cached("SELECT seq, next_event_id, version FROM runs WHERE workflow_id = ?1 AND run_id = ?2")
        .and_then(|mut s| {
            s.query_row(params![key.workflow_id.as_str(), key.run_id.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()
        })
        .map_err(failed("reading a run"))?;
    row.map(|(seq, next_event_id, version)| {
        Ok((
            seq,
            StoredHead {
                next_event_id: EventId(uint(next_event_id, "next event id")?),
                version: uint(version, "run version")?,
            },
        ))
    })
    .transpose()
    .map_err(OpError::Failed)
}

/// The running run of a workflow id with the smallest run id (there is at most one, but the
/// choice must not depend on how SQLite walks the index).
fn running_run(conn: &Connection, workflow_id: &WorkflowId) -> Result<Option<RunId>, OpError> {
    conn.prepare_cached(
        "SELECT run_id FROM runs WHERE workflow_id = ?1 AND status = 'Running' ORDER BY run_id LIMIT 1",
    )
    .and_then(|mut s| {
        s.query_row(params![workflow_id.as_str()], |row| row.get::<_, String>(0))
            .optional()
    })
    .map(|run_id| run_id.map(RunId::new))
    .map_err(failed("checking the running run"))
}

// ---- leases ----

/// The order tasks are handed out in: `visible_at`, then the key (the queue's kind is fixed).
const LEASE_ORDER: &str = "visible_at, workflow_id, run_id, scheduled_event_id, attempt";

/// The lease's statements, built once.
static FIRST_UNCLAIMED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {TASK_COLUMNS} FROM tasks \
         WHERE queue = ?1 AND kind = ?2 AND lease_owner IS NULL AND visible_at <= ?3 \
         ORDER BY {LEASE_ORDER} LIMIT 1"
    )
});
static FIRST_LAPSED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {TASK_COLUMNS} FROM tasks \
         WHERE queue = ?1 AND kind = ?2 AND lease_owner IS NOT NULL AND claimable_at <= ?3 \
         ORDER BY {LEASE_ORDER} LIMIT 1"
    )
});
static LEASE_TASK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE tasks SET lease_owner = ?6, lease_expires_at = ?7, claimable_at = max(visible_at, ?7) \
         WHERE {TASK_KEY_MATCH}"
    )
});

/// Claims the first claimable task of the queue: the earliest `(visible_at, key)` among the
/// unclaimed tasks visible at `now` and the claimed tasks whose lease has lapsed. Each side
/// is read from its own index, as `MemoryStorage` does.
pub(super) fn lease(conn: &Connection, request: &LeaseRequest) -> Result<Option<Task>, OpError> {
    let now = bound(request.now.as_millis());
    let kind = kind_code(request.kind);
    let queue = request.queue.as_str();
    // The unclaimed side is read in the index's order. The claimed side's index is by
    // `claimable_at`, so its first task in leasing order needs a sort, which SQLite does in a
    // temporary b-tree with a page cache of its own, allocated and freed on every lease (it
    // was most of the writer's time): a cheap look for a lapsed lease comes first, and the
    // sort runs only when there is one.
    let unclaimed = first_task(conn, &FIRST_UNCLAIMED, params![queue, kind, now])?;
    let lapsed: Option<i64> = conn
        .prepare_cached(
            "SELECT min(visible_at) FROM tasks \
             WHERE queue = ?1 AND kind = ?2 AND lease_owner IS NOT NULL AND claimable_at <= ?3",
        )
        .and_then(|mut s| s.query_row(params![queue, kind, now], |row| row.get(0)))
        .map_err(failed("finding a lapsed lease"))?;
    let lapsed = match lapsed {
        Some(_) => first_task(conn, &FIRST_LAPSED, params![queue, kind, now])?,
        None => None,
    };
    // Keys never tie (a task is claimed or not); `TaskKey`'s order is the columns' order.
    let candidate = match (unclaimed, lapsed) {
        (Some(a), Some(b)) => Some(if (b.visible_at, &b.key) < (a.visible_at, &a.key) {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    };
    let Some(mut task) = candidate else {
        return Ok(None);
    };
    // A lease past what SQLite stores lapses at the end of its range instead: 292 million
    // years after the epoch.
    let expires = bound(request.now.plus(request.lease_for).as_millis());
    let expires_at = Timestamp::from_millis(expires.unsigned_abs());
    let k = TaskKeyValues::encode(&task.key).map_err(OpError::Failed)?;
    let lease: [&dyn ToSql; 2] = [&request.owner, &expires];
    exec(
        conn,
        "leasing a task",
        &LEASE_TASK,
        params_from_iter(k.params().into_iter().chain(lease)),
    )?;
    task.lease = Some(Lease {
        owner: request.owner.clone(),
        expires_at,
    });
    Ok(Some(task))
}

/// The task the query `sql` (over [`TASK_COLUMNS`], at most one row) finds.
fn first_task(conn: &Connection, sql: &str, params: impl Params) -> Result<Option<Task>, OpError> {
    let row = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.query_row(params, TaskRow::read).optional())
        .map_err(failed("finding a task to lease"))?;
    row.map(TaskRow::decode).transpose().map_err(OpError::Failed)
}
