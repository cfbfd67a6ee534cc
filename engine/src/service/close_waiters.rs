//! Who waits for a run to close (`WaitOutcome`), by workflow id.
//!
//! A run closing wakes only the callers waiting on its workflow id. One notification for
//! every waiting caller made each close cost a read of the run per caller waiting on any
//! workflow: with 200 clients each waiting on its own workflow, 200 reads (and decodings of
//! the run's state) per close, quadratic in the number of waiting clients.

use crate::ids::WorkflowId;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// The notifications of the workflow ids someone waits on.
#[derive(Debug, Default)]
pub(super) struct CloseWaiters {
    /// An entry lives while a [`Waiting`] holds it; the map's own `Arc` is the other count.
    by_workflow: Mutex<BTreeMap<WorkflowId, Arc<Notify>>>,
}

/// One caller's interest in a workflow id, withdrawn on drop.
#[derive(Debug)]
pub(super) struct Waiting<'a> {
    waiters: &'a CloseWaiters,
    workflow_id: WorkflowId,
    notify: Arc<Notify>,
}

impl CloseWaiters {
    /// Registers interest in the runs of `workflow_id` closing.
    pub(super) fn watch(&self, workflow_id: &WorkflowId) -> Waiting<'_> {
        let notify = self.lock().entry(workflow_id.clone()).or_default().clone();
        Waiting {
            waiters: self,
            workflow_id: workflow_id.clone(),
            notify,
        }
    }

    /// Wakes whoever waits on `workflow_id`: one of its runs closed.
    pub(super) fn closed(&self, workflow_id: &WorkflowId) {
        if let Some(notify) = self.lock().get(workflow_id) {
            notify.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<WorkflowId, Arc<Notify>>> {
        // Held for a map operation, never across an await: a poisoned map is still whole.
        self.by_workflow.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Waiting<'_> {
    /// Notified when a run of the workflow id closes (register with `enable` before looking).
    pub(super) fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut by_workflow = self.waiters.lock();
        // Clones are made and dropped under the lock, so the count is exact here: the map's
        // and this one mean nobody else waits.
        if Arc::strong_count(&self.notify) == 2 {
            by_workflow.remove(&self.workflow_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_wakes_the_waiters_of_its_workflow_only_and_entries_go_with_them() {
        let waiters = CloseWaiters::default();
        let (a, b) = (WorkflowId::new("a"), WorkflowId::new("b"));
        let on_a = waiters.watch(&a);
        let on_b = waiters.watch(&b);
        {
            let mut woken_a = std::pin::pin!(on_a.notify().notified());
            let mut woken_b = std::pin::pin!(on_b.notify().notified());
            woken_a.as_mut().enable();
            woken_b.as_mut().enable();
            waiters.closed(&a);
            let waker = futures::task::noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            assert!(woken_a.as_mut().poll(&mut cx).is_ready());
            assert!(woken_b.as_mut().poll(&mut cx).is_pending());
        }
        let second_on_a = waiters.watch(&a);
        drop(on_a);
        assert_eq!(waiters.lock().len(), 2, "a is still watched");
        drop(second_on_a);
        drop(on_b);
        assert!(waiters.lock().is_empty());
    }
}
