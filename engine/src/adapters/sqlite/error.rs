//! The errors of the SQLite backend: [`Error`], why a database cannot be opened, and the
//! mapping of SQLite's errors during operation to [`StorageError`].

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "runtime adapter: the SQLite backend does file I/O on its own threads"
)]

use crate::storage::StorageError;
use rusqlite::ErrorCode;
use std::path::PathBuf;

/// Why [`SqliteStorage::open`](super::SqliteStorage::open) refused or failed to open a
/// database. Every variant names the file; none of them leaves the file changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file was written by a newer Warpflow, whose schema this build does not know.
    #[error(
        "{}: the database was written by a newer version of Warpflow: its schema version is {found}, \
         this build supports schema versions up to {supported}; upgrade Warpflow to open it",
        path.display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The schema version stored in the file (`PRAGMA user_version`).
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// The file is not a Warpflow database: not an SQLite database at all, or one written by
    /// another application.
    #[error("{}: not a Warpflow database: {reason}", path.display())]
    NotWarpflow {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The file is a Warpflow database (or claims to be an SQLite one) but its contents are
    /// damaged.
    #[error("{}: the database is corrupt: {detail}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
    },
    /// The file could not be read, written or created.
    #[error("{}: I/O error: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's or SQLite's error.
        source: std::io::Error,
    },
    /// SQLite failed in a way that is none of the above.
    #[error("{}: SQLite failed while {doing}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What the backend was doing.
        doing: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

impl Error {
    /// Classifies an SQLite error met while opening `path`: damage is `Corrupt`, failures
    /// to reach the file are `Io`, the rest is `Sqlite`.
    pub(super) fn sqlite(path: &std::path::Path, doing: &'static str, source: rusqlite::Error) -> Error {
        let path = path.to_owned();
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Error::Corrupt {
                path,
                detail: format!("{doing}: {source}"),
            },
            Some(code) if is_io(code) => Error::Io {
                path,
                source: std::io::Error::other(source),
            },
            _ => Error::Sqlite { path, doing, source },
        }
    }
}

/// SQLite's result codes that mean the file could not be reached or written.
fn is_io(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::DiskFull
            | ErrorCode::NoLargeFileSupport
            | ErrorCode::FileLockingProtocolFailed
    )
}

/// Maps an SQLite error met while `doing` something to the storage contract: damage found
/// later is `Corrupt`; everything else (I/O, a lock held too long by another process) is
/// `Unavailable`, which the engine retries.
pub(super) fn storage_error(doing: &str, error: &rusqlite::Error) -> StorageError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StorageError::Corrupt(format!("SQLite, {doing}: {error}"))
        }
        _ => StorageError::Unavailable(format!("SQLite, {doing}: {error}")),
    }
}

/// The answer when the writer thread is gone: it stopped (the storage is being dropped) or
/// died, and what it was doing is unknown.
pub(super) fn writer_gone() -> StorageError {
    StorageError::Unavailable("the SQLite writer thread has stopped".to_owned())
}
