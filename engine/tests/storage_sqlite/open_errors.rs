//! What `SqliteStorage::open` refuses, with which message, and that a refused file is left
//! byte for byte as it was; corruption found after opening is `StorageError::Corrupt`.

use crate::support::{Dir, new_run, open, run_key};
use futures::executor::block_on;
use rusqlite::Connection;
use std::path::Path;
use warpflow_engine::adapters::sqlite::{Error, SCHEMA_VERSION, SqliteConfig, SqliteStorage};
use warpflow_engine::ids::WorkflowId;
use warpflow_engine::storage::{Commit, Storage, StorageError};

/// Opens `path`, expecting a refusal; checks the file did not change and returns the error
/// and its message.
fn refused(path: &Path) -> (Error, String) {
    let before = std::fs::read(path).ok();
    let error = match SqliteStorage::open(path, SqliteConfig::default()) {
        Ok(_) => panic!("{} was opened", path.display()),
        Err(e) => e,
    };
    assert!(
        std::fs::read(path).ok() == before,
        "the refused open of {} changed the file",
        path.display()
    );
    let message = error.to_string();
    (error, message)
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{message:?} does not mention {part:?}");
    }
}

/// A Warpflow database with a few runs, closed.
fn warpflow_db(dir: &Dir, runs: usize) -> std::path::PathBuf {
    let path = dir.fresh_path();
    let storage = open(&path);
    for i in 0..runs {
        let commit = Commit {
            runs: vec![new_run(&run_key(&format!("wf-{i}"), "run-1"), 3)],
            ..Commit::default()
        };
        block_on(storage.commit(commit)).unwrap();
    }
    drop(storage);
    path
}

#[test]
fn a_file_of_a_newer_schema_is_refused() {
    let dir = Dir::new();
    let path = warpflow_db(&dir, 1);
    let newer = SCHEMA_VERSION + 1;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();

    let (error, message) = refused(&path);
    assert!(
        matches!(error, Error::TooNew { found, supported, .. } if found == newer && supported == SCHEMA_VERSION),
        "{error:?}"
    );
    assert_mentions(
        &message,
        &[
            &path.display().to_string(),
            "newer version of Warpflow",
            &format!("schema version is {newer}"),
            &format!("up to {SCHEMA_VERSION}"),
        ],
    );
}

#[test]
fn another_application_s_database_is_refused() {
    let dir = Dir::new();
    let path = dir.fresh_path();
    let other = Connection::open(&path).unwrap();
    other
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hello');")
        .unwrap();
    drop(other);

    let (error, message) = refused(&path);
    assert!(matches!(error, Error::NotWarpflow { .. }), "{error:?}");
    assert_mentions(
        &message,
        &[
            "not a Warpflow database",
            "another application",
            "application_id 0x00000000",
        ],
    );
}

#[test]
fn a_text_file_is_refused() {
    let dir = Dir::new();
    let path = dir.fresh_path();
    std::fs::write(&path, "name,amount\nalice,42\n").unwrap();

    let (error, message) = refused(&path);
    assert!(matches!(error, Error::NotWarpflow { .. }), "{error:?}");
    assert_mentions(&message, &["not a Warpflow database", "not an SQLite database"]);
}

/// A page of table data overwritten with garbage: the header is fine, `quick_check` is not.
#[test]
fn a_damaged_page_is_found_at_open() {
    let dir = Dir::new();
    let path = warpflow_db(&dir, 50);
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() >= 4 * page, "the database has {} bytes", bytes.len());
    bytes[2 * page..3 * page].fill(0xA5);
    std::fs::write(&path, &bytes).unwrap();

    let (error, message) = refused(&path);
    assert!(matches!(error, Error::Corrupt { .. }), "{error:?}");
    assert_mentions(&message, &["the database is corrupt", "quick_check found"]);
}

/// The SQLite header is there but the rest of the file header is garbage: SQLite says it
/// is not a database, which for a file that starts like one means damage.
#[test]
fn a_damaged_header_is_corruption() {
    let dir = Dir::new();
    let path = warpflow_db(&dir, 1);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[16..100].fill(0xFF);
    std::fs::write(&path, &bytes).unwrap();

    let (error, message) = refused(&path);
    assert!(matches!(error, Error::Corrupt { .. }), "{error:?}");
    assert_mentions(&message, &["the database is corrupt"]);
}

#[test]
fn an_unreachable_path_is_an_io_error() {
    let dir = Dir::new();
    let missing_dir = dir.fresh_path().join("no-such-directory").join("db.sqlite");
    let (error, message) = refused(&missing_dir);
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    assert_mentions(&message, &["I/O error", "no-such-directory"]);
    assert!(!missing_dir.exists(), "a file was created");

    let a_directory = dir.fresh_path();
    std::fs::create_dir(&a_directory).unwrap();
    let (error, message) = refused(&a_directory);
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    assert_mentions(&message, &["I/O error"]);
}

/// What a creation that crashed before its first transaction leaves is initialised, not
/// refused.
#[test]
fn an_empty_file_is_initialised() {
    let dir = Dir::new();
    let path = dir.fresh_path();
    std::fs::write(&path, b"").unwrap();
    let storage = open(&path);
    block_on(storage.commit(Commit {
        runs: vec![new_run(&run_key("empty", "run-1"), 2)],
        ..Commit::default()
    }))
    .unwrap();
    assert!(
        block_on(storage.get_run(&WorkflowId::new("empty"), None))
            .unwrap()
            .is_some()
    );
}

/// A row damaged after the file was opened: the read that meets it is `Corrupt`, naming
/// what did not decode.
#[test]
fn corruption_found_later_is_storage_corrupt() {
    let dir = Dir::new();
    let path = dir.fresh_path();
    let storage = open(&path);
    block_on(storage.commit(Commit {
        runs: vec![new_run(&run_key("damaged", "run-1"), 2)],
        ..Commit::default()
    }))
    .unwrap();
    Connection::open(&path)
        .unwrap()
        .execute("UPDATE runs SET state = '{\"not\": \"a state\"}'", [])
        .unwrap();

    let result = block_on(storage.get_run(&WorkflowId::new("damaged"), None));
    match result {
        Err(StorageError::Corrupt(message)) => assert_mentions(&message, &["run state", "does not decode"]),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
