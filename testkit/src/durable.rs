//! Reads of a simulation's in-memory storage, made at once rather than through a client:
//! `MemoryStorage` answers every call within its first poll, so the test kit reads runs and
//! histories between simulation steps without spending simulated time or scheduling tasks
//! (a campaign's liveness look, and its oracles' histories when it cannot move them out with
//! `MemoryStorage::into_histories`; `TestEnv`'s replay check borrows them instead, through
//! `MemoryStorage::with_histories`).

use futures::FutureExt;
use std::collections::{BTreeMap, BTreeSet};
use warpflow_engine::storage::{MemoryStorage, Storage, StorageError};
use warpflow_engine::{EventId, History, WorkflowId};

/// Whether every run of each of `ids` is closed (and each has one).
pub(crate) fn all_closed(storage: &MemoryStorage, ids: &[WorkflowId]) -> bool {
    ids.iter().all(
        |id| match storage.list_runs(Some(id), usize::MAX).now_or_never() {
            Some(Ok(runs)) => !runs.is_empty() && runs.iter().all(|r| r.status.is_closed()),
            _ => false,
        },
    )
}

/// Every run's history by workflow id, oldest run first, copied out of `storage` (a campaign
/// moves them out with `MemoryStorage::into_histories` instead, once nothing else holds the
/// storage; this is for when something does). A storage that fails to answer gives nothing.
pub(crate) fn read_all_histories(storage: &MemoryStorage) -> BTreeMap<WorkflowId, Vec<History>> {
    let runs = at_once(storage.list_runs(None, usize::MAX).now_or_never()).unwrap_or_default();
    let ids: BTreeSet<WorkflowId> = runs.into_iter().map(|run| run.key.workflow_id).collect();
    ids.into_iter()
        .map(|id| {
            let histories = read_histories(storage, &id).unwrap_or_default();
            (id, histories)
        })
        .collect()
}

/// Every run of `id`, oldest first, with its history.
fn read_histories(storage: &MemoryStorage, id: &WorkflowId) -> Result<Vec<History>, StorageError> {
    let runs = at_once(storage.list_runs(Some(id), usize::MAX).now_or_never())?;
    let mut histories = Vec::with_capacity(runs.len());
    for run in runs {
        let events = at_once(storage.read_events(&run.key, EventId::FIRST).now_or_never())?;
        histories.push(History {
            workflow_id: run.key.workflow_id,
            run_id: run.key.run_id,
            events,
        });
    }
    Ok(histories)
}

/// The answer of a storage call polled once; one that did not answer at once is reported
/// as unavailable (in-memory storage always answers).
fn at_once<T>(answer: Option<Result<T, StorageError>>) -> Result<T, StorageError> {
    answer.unwrap_or_else(|| {
        Err(StorageError::Unavailable(
            "in-memory storage did not answer within one poll".to_owned(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warpflow_engine::storage::conformance;

    /// The copy a campaign falls back to when the storage is still shared gives what moving
    /// the histories out gives.
    #[test]
    fn read_all_histories_copies_every_run_s_events_oldest_run_first() {
        futures::executor::block_on(conformance::histories_taken_whole(
            MemoryStorage::new(),
            |storage| read_all_histories(&storage),
        ));
    }
}
