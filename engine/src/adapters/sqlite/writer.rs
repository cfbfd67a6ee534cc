//! The writer thread and its group commit.
//!
//! Every operation that writes goes through one thread that owns the only read-write
//! connection. It takes every request waiting in its channel (at most `max_batch`) and
//! applies them in ONE SQLite transaction: a commit refused by its checks writes nothing
//! (or, with several run writes, is applied inside its own SAVEPOINT and rolled back alone)
//! and is answered with its error, while the others go on.
//! Every caller is answered only after the transaction's COMMIT returned, so with
//! `synchronous=FULL` an `Ok` means the commit is on disk (a batch of leases alone is not
//! synced: see `Writer::sync_for`); the fsync of one transaction is
//! shared by the whole batch, which is where the throughput of concurrent committers comes
//! from.
//!
//! If SQLite itself fails during a batch (I/O, corruption, a lock held by another process
//! past the busy timeout), the transaction is rolled back and every request of the batch is
//! answered with that error: none of them was applied.
//!
//! The thread stops when the last sender is dropped (the storage's last handle), after
//! answering the batch it is working on.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "runtime adapter: the SQLite backend does file I/O on its own threads"
)]

use super::apply::{self, LeaseRequest, OpError};
use super::encoded::EncodedCommit;
use super::error::storage_error;
use crate::storage::{StorageError, StorageResult, Task};
use futures::channel::oneshot;
use rusqlite::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// What a caller asks the writer, with where to send the answer.
#[derive(Debug)]
pub(super) enum Request {
    /// `Storage::commit`.
    Commit {
        commit: EncodedCommit,
        reply: oneshot::Sender<StorageResult<()>>,
    },
    /// `Storage::lease_task`.
    Lease {
        request: LeaseRequest,
        reply: oneshot::Sender<StorageResult<Option<Task>>>,
    },
}

/// The writer's counters, shared with the storage handle for `stats()`.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub batches: AtomicU64,
    pub transactions: AtomicU64,
    pub commits: AtomicU64,
    pub refused: AtomicU64,
    pub leases: AtomicU64,
    pub failed_transactions: AtomicU64,
    pub largest_batch: AtomicU64,
}

/// Starts the writer thread on `conn`, whose `synchronous` setting is FULL.
pub(super) fn spawn(
    conn: Connection,
    requests: mpsc::Receiver<Request>,
    counters: Arc<Counters>,
    max_batch: usize,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("warpflow-sqlite-writer".to_owned())
        .spawn(move || {
            let mut writer = Writer {
                conn,
                counters,
                full_sync: true,
            };
            writer.run(requests, max_batch.max(1));
        })
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    counters: Arc<Counters>,
    /// Whether the connection's `synchronous` setting is FULL (else NORMAL).
    full_sync: bool,
}

impl Writer {
    /// The thread's loop: wait for a request, take what else is waiting, write the batch.
    fn run(&mut self, mut requests: mpsc::Receiver<Request>, max_batch: usize) {
        let mut batch = Vec::with_capacity(max_batch);
        while let Some(first) = requests.blocking_recv() {
            batch.push(first);
            while batch.len() < max_batch {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            let batch = std::mem::take(&mut batch);
            let failure = self.sync_for(&batch).err();
            write_batch(&self.conn, &self.counters, batch, failure);
        }
    }

    /// Sets `synchronous` for `batch`: FULL when it holds a commit. A batch of leases only is
    /// written without waiting for the disk (NORMAL): a lease is only a claim, made durable
    /// by the commit that records the task's start (WAL keeps the order, and the commit's
    /// sync covers the frames before it). A killed process loses nothing either way (the
    /// write is in the operating system's cache); a power cut can lose a lease that no
    /// commit followed, and then the task is offered again, as after a lease expiry.
    fn sync_for(&mut self, batch: &[Request]) -> StorageResult<()> {
        let full = batch.iter().any(|r| matches!(r, Request::Commit { .. }));
        if full != self.full_sync {
            let sql = if full {
                "PRAGMA synchronous = FULL"
            } else {
                "PRAGMA synchronous = NORMAL"
            };
            execute(&self.conn, sql, "setting synchronous")?;
            self.full_sync = full;
        }
        Ok(())
    }
}

/// An answer not sent yet: it waits for the transaction's outcome.
enum Answer {
    Commit(oneshot::Sender<StorageResult<()>>, StorageResult<()>),
    Lease(
        oneshot::Sender<StorageResult<Option<Task>>>,
        StorageResult<Option<Task>>,
    ),
}

impl Answer {
    /// Replaces the answer by `error`: the transaction did not commit.
    fn fail(self, error: StorageError) -> Answer {
        match self {
            Answer::Commit(reply, _) => Answer::Commit(reply, Err(error)),
            Answer::Lease(reply, _) => Answer::Lease(reply, Err(error)),
        }
    }

    fn send(self) {
        // A caller that stopped waiting (its future was dropped) needs no answer.
        match self {
            Answer::Commit(reply, result) => {
                let _ = reply.send(result);
            }
            Answer::Lease(reply, result) => {
                let _ = reply.send(result);
            }
        }
    }
}

/// Applies `batch` in one transaction, each request in its own savepoint, and answers every
/// request once the transaction's outcome is known. With `failure`, the batch cannot be
/// written: every request gets that error.
fn write_batch(conn: &Connection, counters: &Counters, batch: Vec<Request>, failure: Option<StorageError>) {
    counters.batches.fetch_add(1, Ordering::Relaxed);
    counters
        .largest_batch
        .fetch_max(batch.len() as u64, Ordering::Relaxed);
    let mut answers = Vec::with_capacity(batch.len());
    let mut failure = failure.or_else(|| execute(conn, "BEGIN IMMEDIATE", "starting a transaction").err());
    for request in batch {
        let answer = match &failure {
            Some(error) => fail(request, error.clone()),
            None => {
                let (answer, error) = in_savepoint(conn, request);
                failure = error;
                answer
            }
        };
        answers.push(answer);
    }
    if failure.is_none() {
        failure = execute(conn, "COMMIT", "committing").err();
    }
    match failure {
        None => {
            counters.transactions.fetch_add(1, Ordering::Relaxed);
            for answer in &answers {
                let counter = match answer {
                    Answer::Commit(_, Ok(())) => &counters.commits,
                    Answer::Commit(_, Err(_)) => &counters.refused,
                    Answer::Lease(..) => &counters.leases,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            answers.into_iter().for_each(Answer::send);
        }
        Some(error) => {
            // Nothing of the batch is kept. The rollback fails if SQLite already rolled the
            // transaction back (it does after some I/O errors) or never began it: either way
            // there is nothing left to undo.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            counters.failed_transactions.fetch_add(1, Ordering::Relaxed);
            for answer in answers {
                answer.fail(error.clone()).send();
            }
        }
    }
}

/// Applies one request inside a savepoint: released when it is applied, rolled back when it
/// is refused. Returns the request's answer and, on an SQLite failure, the error that ends
/// the transaction.
///
/// A request that is refused only before it writes anything (a lease; a commit of at most
/// one run write, see `apply::needs_savepoint`) is applied without one: the savepoint's
/// statements and the copies of the pages it journals were a tenth of the writer's time.
fn in_savepoint(conn: &Connection, request: Request) -> (Answer, Option<StorageError>) {
    let savepoint = match &request {
        Request::Commit { commit, .. } => apply::needs_savepoint(commit),
        Request::Lease { .. } => false,
    };
    if savepoint && let Err(error) = execute(conn, "SAVEPOINT op", "starting a savepoint") {
        return (fail(request, error.clone()), Some(error));
    }
    let (answer, outcome) = match request {
        Request::Commit { commit, reply } => {
            let (result, outcome) = split(apply::commit(conn, &commit));
            (Answer::Commit(reply, result), outcome)
        }
        Request::Lease { request, reply } => {
            let (result, outcome) = split(apply::lease(conn, &request));
            (Answer::Lease(reply, result), outcome)
        }
    };
    let end: &[&str] = match outcome {
        // The whole transaction goes: no need to end the savepoint.
        Outcome::Failed(error) => return (answer, Some(error)),
        // Refused before it wrote anything.
        _ if !savepoint => &[],
        Outcome::Applied => &["RELEASE op"],
        Outcome::Refused => &["ROLLBACK TO op", "RELEASE op"],
    };
    let error = end
        .iter()
        .find_map(|sql| execute(conn, sql, "ending a savepoint").err());
    (answer, error)
}

/// What became of one request in its savepoint.
enum Outcome {
    Applied,
    Refused,
    Failed(StorageError),
}

/// A request's result for its caller, and what it means for the savepoint.
fn split<T>(result: Result<T, OpError>) -> (StorageResult<T>, Outcome) {
    match result {
        Ok(value) => (Ok(value), Outcome::Applied),
        Err(OpError::Refused(e)) => (Err(e), Outcome::Refused),
        Err(OpError::Failed(e)) => (Err(e.clone()), Outcome::Failed(e)),
    }
}

/// The answer `error` to `request`.
fn fail(request: Request, error: StorageError) -> Answer {
    match request {
        Request::Commit { reply, .. } => Answer::Commit(reply, Err(error)),
        Request::Lease { reply, .. } => Answer::Lease(reply, Err(error)),
    }
}

/// Runs a statement that returns nothing (transaction control), through the statement
/// cache.
fn execute(conn: &Connection, sql: &str, doing: &str) -> StorageResult<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(|e| storage_error(doing, &e))
}
