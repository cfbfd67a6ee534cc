//! The database file: its schema, the schema versions and their migrations, and the checks
//! made before a file is opened for writing.
//!
//! A Warpflow database carries [`APPLICATION_ID`] in its header (`PRAGMA application_id`) and
//! its schema version in `PRAGMA user_version`. [`MIGRATIONS`]`[v]` takes a database from
//! schema version `v` to `v + 1`; a new file is "version 0" and runs them all, so a new
//! database and a migrated one are built by the same statements.
//!
//! Opening an existing file is two steps. [`check_existing`] looks at it without writing:
//! the SQLite header, the application id, the schema version, and `PRAGMA quick_check`, on a
//! read-only connection; a file that fails is refused with its bytes untouched. Only then
//! does [`open_writer`] open it for writing, migrate it and switch it to WAL. A file is
//! created only when the path does not exist; an existing file of zero bytes (what a
//! creation that crashed before its first transaction leaves) is initialised like a new one.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "runtime adapter: the SQLite backend does file I/O on its own threads"
)]

use super::SqliteConfig;
use super::error::Error;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::io::Read;
use std::path::Path;

/// `PRAGMA application_id` of a Warpflow database: "WFLW".
pub const APPLICATION_ID: i32 = 0x5746_4C57;

/// The schema version this build writes, and the newest it opens.
pub const SCHEMA_VERSION: i64 = 1;

/// `MIGRATIONS[v]` takes the schema from version `v` to `v + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [V1];

/// Version 1.
///
/// - `runs`: `seq` is the creation order (runs are never deleted, so SQLite's rowid only
///   grows): a workflow id's current run is its largest `seq`. The partial index on running
///   runs serves the workflow-id uniqueness check.
/// - `events`: by run and event id.
/// - `tasks`: keyed like `TaskKey`. As in `MemoryStorage`, unclaimed tasks are indexed in
///   leasing order and claimed tasks by when they become claimable again
///   (`claimable_at = max(visible_at, lease_expires_at)`), so leasing never walks past held
///   tasks.
/// - `timers`: keyed like `TimerKey`, indexed by `(due, key)`.
/// - `requests`: responses by request id.
const V1: &str = "
CREATE TABLE runs (
    seq INTEGER PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    task_queue TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time INTEGER NOT NULL,
    close_time INTEGER,
    next_event_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    UNIQUE (workflow_id, run_id)
) STRICT;
CREATE INDEX runs_by_workflow ON runs (workflow_id, seq);
CREATE INDEX runs_by_start ON runs (start_time, workflow_id, run_id);
CREATE INDEX runs_running ON runs (workflow_id, run_id) WHERE status = 'Running';

CREATE TABLE events (
    run_seq INTEGER NOT NULL REFERENCES runs (seq),
    event_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (run_seq, event_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE tasks (
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    scheduled_event_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    queue TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires_at INTEGER,
    claimable_at INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, run_id, kind, scheduled_event_id, attempt)
) STRICT, WITHOUT ROWID;
CREATE INDEX tasks_unclaimed ON tasks
    (queue, kind, visible_at, workflow_id, run_id, scheduled_event_id, attempt)
    WHERE lease_owner IS NULL;
CREATE INDEX tasks_claimed ON tasks (queue, kind, claimable_at) WHERE lease_owner IS NOT NULL;

CREATE TABLE timers (
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    timer_id TEXT NOT NULL,
    scheduled_event_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    timeout INTEGER NOT NULL,
    due INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, run_id, kind, timer_id, scheduled_event_id, attempt, timeout)
) STRICT, WITHOUT ROWID;
CREATE INDEX timers_by_due ON timers
    (due, workflow_id, run_id, kind, timer_id, scheduled_event_id, attempt, timeout);

CREATE TABLE requests (
    request_id TEXT PRIMARY KEY,
    response TEXT NOT NULL
) STRICT, WITHOUT ROWID;
";

/// How many prepared statements a connection keeps. More than the writer's distinct
/// statements (about twenty: transaction control, the commit's writes, the lease): with
/// rusqlite's default of 16 the cache evicted statements in a cycle and SQLite parsed them
/// again on every use.
const STATEMENT_CACHE: usize = 64;

/// Makes a connection's cached statements stay prepared: a cache of [`STATEMENT_CACHE`], and
/// SQLite's query planner stability guarantee (QPSG). Without it SQLite (3.54) marks a
/// statement whose plan may depend on a bound value (`LIMIT ?`, an equality on a parameter
/// that may be 0 or 1, as `kind = ?2`) to be prepared again whenever that value changes, and
/// rusqlite clears the bindings of every statement it returns to its cache: each use of
/// those statements was a full parse and plan (a sixth of the writer's time, a fifth of the
/// readers'). The queries are indexed lookups whose plan does not depend on the values.
fn keep_statements_prepared(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map(|_| ())
}

/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Opens the database at `path` for writing: creates it if the path does not exist, or
/// checks it ([`check_existing`]) and migrates it; then WAL mode, `synchronous=FULL`.
pub(super) fn open_writer(path: &Path, config: &SqliteConfig) -> Result<Connection, Error> {
    let create = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
        Ok(meta) if meta.is_file() && meta.len() == 0 => false,
        Ok(_) => {
            check_existing(path, config)?;
            false
        }
    };
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| Error::sqlite(path, "opening for writing", e))?;
    let sqlite = |doing| move |e| Error::sqlite(path, doing, e);
    conn.busy_timeout(config.busy_timeout)
        .map_err(sqlite("setting the busy timeout"))?;
    keep_statements_prepared(&conn).map_err(sqlite("configuring the statement cache"))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite("setting synchronous=FULL"))?;
    migrate(&conn, path)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(sqlite("switching to WAL mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // WAL needs shared memory between processes, which some file systems (network
        // ones) do not offer: the file is where it cannot be used as required.
        return Err(Error::Io {
            path: path.to_owned(),
            source: std::io::Error::other(format!(
                "SQLite cannot use WAL mode for this file (it kept journal mode {mode:?})"
            )),
        });
    }
    if create {
        sync_parent(path)?;
    }
    Ok(conn)
}

/// Opens a read-only connection on the database, which [`open_writer`] opened before.
pub(super) fn open_reader(path: &Path, config: &SqliteConfig) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(config.busy_timeout)?;
    keep_statements_prepared(&conn)?;
    Ok(conn)
}

/// Checks an existing file without writing to it: an SQLite database, Warpflow's, of a
/// schema version this build knows, that passes `PRAGMA quick_check` (if configured).
fn check_existing(path: &Path, config: &SqliteConfig) -> Result<(), Error> {
    let mut header = Vec::with_capacity(SQLITE_MAGIC.len());
    std::fs::File::open(path)
        .and_then(|file| file.take(SQLITE_MAGIC.len() as u64).read_to_end(&mut header))
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
    if header != SQLITE_MAGIC {
        return Err(Error::NotWarpflow {
            path: path.to_owned(),
            reason: "the file is not an SQLite database (it does not start with the SQLite header)"
                .to_owned(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::sqlite(path, "opening to check it", e))?;
    conn.busy_timeout(config.busy_timeout)
        .map_err(|e| Error::sqlite(path, "setting the busy timeout", e))?;
    let (application_id, version) = identity(&conn, path)?;
    check_identity(path, application_id, version)?;
    if config.quick_check_on_open {
        quick_check(&conn, path)?;
    }
    Ok(())
}

/// The file's `application_id` and `user_version`.
fn identity(conn: &Connection, path: &Path) -> Result<(i32, i64), Error> {
    let application_id = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(|e| Error::sqlite(path, "reading the application id", e))?;
    let version = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| Error::sqlite(path, "reading the schema version", e))?;
    Ok((application_id, version))
}

/// Refuses another application's database and a schema newer than this build's.
fn check_identity(path: &Path, application_id: i32, version: i64) -> Result<(), Error> {
    if application_id != APPLICATION_ID {
        return Err(Error::NotWarpflow {
            path: path.to_owned(),
            reason: format!(
                "it is an SQLite database of another application (application_id {application_id:#010x}, \
                 Warpflow's is {APPLICATION_ID:#010x})"
            ),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(Error::TooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 0 {
        return Err(Error::Corrupt {
            path: path.to_owned(),
            detail: format!("its schema version is {version}"),
        });
    }
    Ok(())
}

/// `PRAGMA quick_check`: anything but a single `ok` is corruption.
fn quick_check(conn: &Connection, path: &Path) -> Result<(), Error> {
    let mut problems: Vec<String> = Vec::new();
    conn.pragma_query(None, "quick_check", |row| {
        problems.push(row.get(0)?);
        Ok(())
    })
    .map_err(|e| Error::sqlite(path, "checking the database (quick_check)", e))?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    // One row may hold several lines; the "*** in database main ***" headers say nothing.
    let lines: Vec<&str> = problems
        .iter()
        .flat_map(|p| p.lines())
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("***"))
        .collect();
    // The first few lines say enough; a badly damaged file can report thousands.
    Err(Error::Corrupt {
        path: path.to_owned(),
        detail: format!(
            "PRAGMA quick_check found {} problem(s): {}",
            lines.len(),
            lines.iter().take(3).copied().collect::<Vec<_>>().join("; ")
        ),
    })
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction, from an empty database or an
/// older version. Checks the identity again inside the transaction, in case another process
/// created or migrated the file since [`check_existing`].
fn migrate(conn: &Connection, path: &Path) -> Result<(), Error> {
    let sqlite = |doing| move |e| Error::sqlite(path, doing, e);
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(sqlite("starting the schema transaction"))?;
    let result = (|| {
        let (application_id, version) = identity(conn, path)?;
        let empty: bool = conn
            .query_row("SELECT count(*) = 0 FROM sqlite_schema", [], |row| row.get(0))
            .map_err(sqlite("reading the schema"))?;
        if !(empty && application_id == 0 && version == 0) {
            check_identity(path, application_id, version)?;
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        let from = usize::try_from(version).unwrap_or(0);
        for migration in MIGRATIONS.get(from..).unwrap_or_default() {
            conn.execute_batch(migration)
                .map_err(sqlite("migrating the schema"))?;
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(sqlite("setting the application id"))?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sqlite("setting the schema version"))?;
        Ok(())
    })();
    match result {
        Ok(()) => conn
            .execute_batch("COMMIT")
            .map_err(sqlite("committing the schema")),
        Err(e) => {
            // Nothing was written that must survive: the error is the answer.
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Makes a new file's directory entry durable, so that a crash right after the first
/// commit cannot lose the whole file.
fn sync_parent(path: &Path) -> Result<(), Error> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| Error::Io {
            path: parent.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// A cached statement of the shape of the lease and timer queries (an equality on a
    /// parameter bound to 0 or 1, a `LIMIT ?`) runs with other values without being prepared
    /// again, on the writer's connection and on a reader's.
    #[test]
    fn cached_statements_are_not_prepared_again_when_their_values_change() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("engine.db");
        let config = SqliteConfig::default();
        let writer = open_writer(&path, &config).expect("the writer opens");
        let reader = open_reader(&path, &config).expect("a reader opens");
        let sql = "SELECT count(*) FROM (SELECT 1 FROM tasks WHERE queue = ?1 AND kind = ?2 LIMIT ?3)";
        for conn in [&writer, &reader] {
            for (kind, limit) in [(0, 1), (1, 5), (0, 2), (1, 1)] {
                let mut statement = conn.prepare_cached(sql).expect("the query prepares");
                let count: i64 = statement
                    .query_row(rusqlite::params!["q", kind, limit], |row| row.get(0))
                    .expect("the query runs");
                assert_eq!(count, 0);
                assert_eq!(statement.get_status(StatementStatus::RePrepare), 0);
            }
        }
    }
}
