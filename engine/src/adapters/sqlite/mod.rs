//! [`SqliteStorage`]: the embedded, durable [`Storage`] backend, on one SQLite file.
//!
//! - `schema.rs`: the schema, its versions and migrations, and the checks made at open.
//! - `writer.rs`: the one writer thread, with group commit: concurrent commits share a
//!   transaction and its fsync, each in its own savepoint so that a refused one fails alone.
//! - `encoded.rs`: a commit encoded as the writer binds it, on the caller's task.
//! - `apply.rs`: the SQL of one commit and of one lease, with the checks every backend makes.
//! - `read.rs`: the read-only connection pool and the read queries.
//! - `rows.rs`: the encoding of the storage types as columns and JSON.
//! - `error.rs`: [`Error`], why a file cannot be opened, and the mapping of SQLite's errors.
//!
//! Semantics are `MemoryStorage`'s, checked by the same conformance suite; durability is
//! SQLite's WAL with `synchronous=FULL`: when `commit` returns `Ok`, the commit is on disk.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "runtime adapter: the SQLite backend does file I/O on its own threads"
)]

mod apply;
mod encoded;
mod error;
mod read;
mod rows;
mod schema;
mod writer;

pub use error::Error;
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};

use crate::history::HistoryEvent;
use crate::ids::{EventId, RunId, TaskQueue, WorkflowId};
use crate::payload::Payload;
use crate::storage::{
    Commit, RequestId, RunKey, RunRecord, Storage, StorageResult, Task, TaskKind, TimerRecord,
};
use crate::time::Timestamp;
use apply::LeaseRequest;
use encoded::EncodedCommit;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use read::Readers;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc;
use writer::{Counters, Request};

/// How a [`SqliteStorage`] runs. The defaults suit a server.
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    /// The most requests the writer applies in one transaction.
    pub max_batch: usize,
    /// How many requests may wait for the writer; callers past that wait for room.
    pub queue_capacity: usize,
    /// How many idle read-only connections are kept.
    pub read_connections: usize,
    /// How long a connection waits for a lock another process holds before failing
    /// (`Unavailable`).
    pub busy_timeout: Duration,
    /// Whether `open` runs `PRAGMA quick_check` on an existing file (it reads the whole file).
    pub quick_check_on_open: bool,
}

impl Default for SqliteConfig {
    fn default() -> SqliteConfig {
        SqliteConfig {
            max_batch: 256,
            queue_capacity: 1024,
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
            quick_check_on_open: true,
        }
    }
}

/// What the writer has done since the storage was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SqliteStats {
    /// Batches the writer has taken from its queue: each becomes one transaction (counted
    /// as soon as the writer starts on it).
    pub batches: u64,
    /// SQLite transactions committed: each holds a batch of requests.
    pub transactions: u64,
    /// Commits applied.
    pub commits: u64,
    /// Commits refused by their checks (conflicts, invalid commits).
    pub refused: u64,
    /// Lease requests answered (whether a task was found or not).
    pub leases: u64,
    /// Transactions abandoned because SQLite failed; their requests got the error.
    pub failed_transactions: u64,
    /// The most requests one transaction held.
    pub largest_batch: u64,
}

/// The embedded durable storage: one SQLite file in WAL mode, one writer thread with group
/// commit, concurrent readers.
///
/// Cheap to clone: clones share the file, the writer and the readers. Dropping the last
/// handle stops the writer thread and closes the file; the drop waits for the writer to
/// finish the batch it is writing (one transaction).
#[derive(Clone, Debug)]
pub struct SqliteStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// `None` once dropping has begun, so the writer sees its channel close.
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    readers: Readers,
}

impl SqliteStorage {
    /// Opens the database at `path`, creating it if the path does not exist.
    ///
    /// An existing file is checked before anything is written to it: it must be a Warpflow
    /// database ([`APPLICATION_ID`]) of a schema version this build knows (older ones are
    /// migrated) that passes `PRAGMA quick_check`. A file that fails is left as it was.
    pub fn open(path: impl AsRef<Path>, config: SqliteConfig) -> Result<SqliteStorage, Error> {
        let path = path.as_ref().to_owned();
        let conn = schema::open_writer(&path, &config)?;
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let writer =
            writer::spawn(conn, receiver, Arc::clone(&counters), config.max_batch).map_err(|source| {
                Error::Io {
                    path: path.clone(),
                    source,
                }
            })?;
        Ok(SqliteStorage {
            inner: Arc::new(Inner {
                readers: Readers::new(path.clone(), config),
                path,
                requests: Some(sender),
                writer: Some(writer),
                counters,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> SqliteStats {
        let c = &self.inner.counters;
        SqliteStats {
            batches: c.batches.load(Ordering::Relaxed),
            transactions: c.transactions.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            leases: c.leases.load(Ordering::Relaxed),
            failed_transactions: c.failed_transactions.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// Hands `request` to the writer and waits for its answer.
    async fn write<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<StorageResult<T>>) -> Request,
    ) -> StorageResult<T> {
        let (reply, answer) = oneshot::channel();
        let sender = self.inner.requests.as_ref().ok_or_else(error::writer_gone)?;
        sender
            .send(request(reply))
            .await
            .map_err(|_| error::writer_gone())?;
        // Dropped unanswered only if the writer thread died.
        answer.await.unwrap_or_else(|_| Err(error::writer_gone()))
    }

    /// Runs a read on a pooled connection.
    fn read<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> StorageResult<T>) -> StorageResult<T> {
        self.inner.readers.with(f)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Readers first, so that the writer's connection is the last one and checkpoints
        // the WAL into the database file as it closes.
        self.readers.close();
        self.requests = None;
        if let Some(writer) = self.writer.take() {
            // The writer answers its current batch and returns; a panic there has already
            // answered its callers (their replies were dropped), so there is nothing to add.
            let _ = writer.join();
        }
    }
}

impl Storage for SqliteStorage {
    fn commit(&self, commit: Commit) -> BoxFuture<'_, StorageResult<()>> {
        // Encoded here, on the caller's task: the writer thread only binds.
        let commit = EncodedCommit::encode(commit);
        Box::pin(self.write(|reply| Request::Commit { commit, reply }))
    }

    fn get_run<'a>(
        &'a self,
        workflow_id: &'a WorkflowId,
        run_id: Option<&'a RunId>,
    ) -> BoxFuture<'a, StorageResult<Option<RunRecord>>> {
        Box::pin(async move { self.read(|c| read::get_run(c, workflow_id, run_id)) })
    }

    fn read_events<'a>(
        &'a self,
        run: &'a RunKey,
        from: EventId,
    ) -> BoxFuture<'a, StorageResult<Vec<HistoryEvent>>> {
        Box::pin(async move { self.read(|c| read::read_events(c, run, from)) })
    }

    fn list_runs<'a>(
        &'a self,
        workflow_id: Option<&'a WorkflowId>,
        limit: usize,
    ) -> BoxFuture<'a, StorageResult<Vec<RunRecord>>> {
        Box::pin(async move { self.read(|c| read::list_runs(c, workflow_id, limit)) })
    }

    fn list_open_runs(&self, limit: usize) -> BoxFuture<'_, StorageResult<Vec<RunRecord>>> {
        Box::pin(async move { self.read(|c| read::list_open_runs(c, limit)) })
    }

    fn lease_task<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
        owner: &'a str,
        lease_for: Duration,
    ) -> BoxFuture<'a, StorageResult<Option<Task>>> {
        let request = LeaseRequest {
            queue: queue.clone(),
            kind,
            now,
            owner: owner.to_owned(),
            lease_for,
        };
        Box::pin(self.write(|reply| Request::Lease { request, reply }))
    }

    fn next_task_time<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
    ) -> BoxFuture<'a, StorageResult<Option<Timestamp>>> {
        Box::pin(async move { self.read(|c| read::next_task_time(c, queue, kind, now)) })
    }

    fn due_timers(&self, now: Timestamp, limit: usize) -> BoxFuture<'_, StorageResult<Vec<TimerRecord>>> {
        Box::pin(async move { self.read(|c| read::due_timers(c, now, limit)) })
    }

    fn next_timer_due(&self) -> BoxFuture<'_, StorageResult<Option<Timestamp>>> {
        Box::pin(async move { self.read(read::next_timer_due) })
    }

    fn get_request<'a>(&'a self, request_id: &'a RequestId) -> BoxFuture<'a, StorageResult<Option<Payload>>> {
        Box::pin(async move { self.read(|c| read::get_request(c, request_id)) })
    }
}
