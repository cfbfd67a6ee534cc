//! In-memory storage (in progress).

// PLACEHOLDER (worker-client branch): a `Storage` impl whose every call is `Unavailable`, so
// that `Engine::builder()` can default to `MemoryStorage` before the real implementation
// lands. The memory-storage branch replaces this whole file; on merge, take its version.

use super::{Commit, RequestId, RunKey, RunRecord, Storage, StorageError, StorageResult, Task, TaskKind};
use super::{TimerRecord, WorkflowId};
use crate::history::HistoryEvent;
use crate::ids::{EventId, RunId, TaskQueue};
use crate::payload::Payload;
use crate::time::Timestamp;
use futures::future::BoxFuture;
use std::time::Duration;

/// The deterministic reference storage.
#[derive(Debug, Default)]
pub struct MemoryStorage {}

fn unavailable<'a, T: Send + 'a>() -> BoxFuture<'a, StorageResult<T>> {
    Box::pin(async {
        Err(StorageError::Unavailable(
            "memory storage not implemented yet".into(),
        ))
    })
}

impl Storage for MemoryStorage {
    fn commit(&self, _commit: Commit) -> BoxFuture<'_, StorageResult<()>> {
        unavailable()
    }

    fn get_run<'a>(
        &'a self,
        _workflow_id: &'a WorkflowId,
        _run_id: Option<&'a RunId>,
    ) -> BoxFuture<'a, StorageResult<Option<RunRecord>>> {
        unavailable()
    }

    fn read_events<'a>(
        &'a self,
        _run: &'a RunKey,
        _from: EventId,
    ) -> BoxFuture<'a, StorageResult<Vec<HistoryEvent>>> {
        unavailable()
    }

    fn list_runs<'a>(
        &'a self,
        _workflow_id: Option<&'a WorkflowId>,
        _limit: usize,
    ) -> BoxFuture<'a, StorageResult<Vec<RunRecord>>> {
        unavailable()
    }

    fn lease_task<'a>(
        &'a self,
        _queue: &'a TaskQueue,
        _kind: TaskKind,
        _now: Timestamp,
        _owner: &'a str,
        _lease_for: Duration,
    ) -> BoxFuture<'a, StorageResult<Option<Task>>> {
        unavailable()
    }

    fn next_task_time<'a>(
        &'a self,
        _queue: &'a TaskQueue,
        _kind: TaskKind,
        _now: Timestamp,
    ) -> BoxFuture<'a, StorageResult<Option<Timestamp>>> {
        unavailable()
    }

    fn due_timers(&self, _now: Timestamp, _limit: usize) -> BoxFuture<'_, StorageResult<Vec<TimerRecord>>> {
        unavailable()
    }

    fn next_timer_due(&self) -> BoxFuture<'_, StorageResult<Option<Timestamp>>> {
        unavailable()
    }

    fn get_request<'a>(
        &'a self,
        _request_id: &'a RequestId,
    ) -> BoxFuture<'a, StorageResult<Option<Payload>>> {
        unavailable()
    }
}
