//! What the SQLite tests share: temporary databases and small commits.

use serde_json::json;
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use warpflow_engine::Payload;
use warpflow_engine::adapters::sqlite::{SqliteConfig, SqliteStorage};
use warpflow_engine::history::{EventAttributes, HistoryEvent};
use warpflow_engine::ids::{EventId, RunId, TaskQueue, TimerId, WorkflowId};
use warpflow_engine::service::ExecutionState;
use warpflow_engine::storage::{
    Commit, RequestId, RunKey, RunRecord, RunStatus, RunWrite, Task, TaskKey, TaskKind, TimerKey, TimerKind,
    TimerRecord,
};
use warpflow_engine::time::Timestamp;

/// 2026-01-01T00:00:00Z.
pub const T0_MS: u64 = 1_767_225_600_000;

/// After every time the tests use.
pub const FAR: Timestamp = Timestamp::from_millis(T0_MS + 1_000_000_000);

pub fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(T0_MS + ms)
}

/// A temporary directory handing out fresh database paths; removed when dropped.
#[derive(Debug)]
pub struct Dir {
    dir: TempDir,
    next: Cell<u32>,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().expect("creating a temporary directory"),
            next: Cell::new(0),
        }
    }

    /// A path in the directory where no file exists yet.
    pub fn fresh_path(&self) -> PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        self.dir.path().join(format!("db-{n}.sqlite"))
    }

    /// A new, empty database.
    pub fn fresh(&self) -> SqliteStorage {
        open(&self.fresh_path())
    }
}

pub fn open(path: &std::path::Path) -> SqliteStorage {
    SqliteStorage::open(path, SqliteConfig::default())
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

pub fn run_key(workflow_id: &str, run_id: &str) -> RunKey {
    RunKey {
        workflow_id: WorkflowId::new(workflow_id),
        run_id: RunId::new(run_id),
    }
}

/// A run record whose state changes with its next event id, so that records of different
/// writes differ.
pub fn record(key: &RunKey, status: RunStatus, next_event_id: u64, version: u64) -> RunRecord {
    RunRecord {
        key: key.clone(),
        workflow_type: "sqlite-test".into(),
        task_queue: TaskQueue::new("sqlite-test"),
        status,
        start_time: at(0),
        close_time: status.is_closed().then(|| at(next_event_id)),
        next_event_id: EventId(next_event_id),
        version,
        state: Arc::new(ExecutionState::new(
            Duration::from_millis(next_event_id * 10),
            None,
        )),
    }
}

/// Event `id`: the start, then signals carrying `id`.
pub fn event(id: u64) -> HistoryEvent {
    let attributes = match id {
        1 => EventAttributes::WorkflowExecutionStarted {
            workflow_type: "sqlite-test".to_owned(),
            task_queue: TaskQueue::new("sqlite-test"),
            input: Payload::from(json!({"n": 1})),
            workflow_task_timeout: Duration::from_secs(10),
            randomness_seed: 7,
            parent: None,
            continued_from_run_id: None,
        },
        _ => EventAttributes::WorkflowExecutionSignaled {
            signal_name: format!("signal-{id}"),
            input: Payload::from(json!(id)),
            identity: "sqlite-test".to_owned(),
        },
    };
    HistoryEvent {
        event_id: EventId(id),
        event_time: at(id),
        attributes,
    }
}

/// Creates a running run with events `1..=events`.
pub fn new_run(key: &RunKey, events: u64) -> RunWrite {
    RunWrite {
        record: record(key, RunStatus::Running, events + 1, 1),
        expected_next_event_id: None,
        events: (1..=events).map(event).collect(),
    }
}

/// Appends `events` events to the run `prev` describes.
pub fn append(prev: &RunRecord, events: u64, status: RunStatus) -> RunWrite {
    let from = prev.next_event_id.0;
    RunWrite {
        record: record(&prev.key, status, from + events, prev.version + 1),
        expected_next_event_id: Some(prev.next_event_id),
        events: (from..from + events).map(event).collect(),
    }
}

pub fn task(run: &RunKey, queue: &str, visible_at: Timestamp) -> Task {
    Task {
        key: TaskKey {
            run: run.clone(),
            kind: TaskKind::Workflow,
            scheduled_event_id: EventId(2),
            attempt: 1,
        },
        queue: TaskQueue::new(queue),
        visible_at,
        lease: None,
    }
}

pub fn timer(run: &RunKey, timer_id: &str, due: Timestamp) -> TimerRecord {
    TimerRecord {
        key: TimerKey {
            run: run.clone(),
            kind: TimerKind::User {
                timer_id: TimerId::new(timer_id),
            },
        },
        due,
    }
}

pub fn request(id: &str) -> RequestId {
    RequestId(id.to_owned())
}

/// The name of numbered commit `n`'s workflow id and request id.
pub fn numbered(n: u64) -> String {
    format!("n-{n:06}")
}

/// Commit number `n`: something in every table, so that a partly applied commit shows: a
/// run `n-<n>/run-1` with three events, a workflow task in `queue`, a timer due at `n` ms
/// and a request `n-<n>`.
pub fn numbered_commit(n: u64, queue: &str) -> Commit {
    let key = run_key(&numbered(n), "run-1");
    Commit {
        runs: vec![new_run(&key, 3)],
        create_tasks: vec![task(&key, queue, at(0))],
        create_timers: vec![timer(&key, "1", at(n))],
        requests: vec![(request(&numbered(n)), Payload::from(json!(n)))],
        ..Commit::default()
    }
}
