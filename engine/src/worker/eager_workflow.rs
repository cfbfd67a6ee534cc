//! Eager workflow tasks: an activity attempt's completion asks the service to start the
//! run's next workflow task in the same commit (the service does when this worker is the
//! run's sticky worker), and the task comes back in the reply instead of through a poll.
//!
//! The attempt runs on the spawner while workflow tasks run on the worker's own future, so
//! the task crosses over a channel. Each one travels with a permit of the eager slots
//! (`WorkerOptions::max_concurrent_workflow_tasks` more tasks in flight at most), taken
//! before the completion is sent: a worker with no free slot does not ask. The workflow side
//! runs what arrives until the worker stops and every permit has come back, so no task
//! handed to this worker is left unrun.

use crate::service::api::WorkflowTask;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// A started workflow task, with the slot it runs on.
pub(super) type Handed = (WorkflowTask, OwnedSemaphorePermit);

/// The activity side's end: takes slots and hands tasks over.
#[derive(Clone)]
pub(super) struct Outbox {
    slots: Arc<Semaphore>,
    sender: mpsc::UnboundedSender<Handed>,
}

/// The workflow side's end: what was handed over, and the slots to wait for at shutdown.
pub(super) struct Inbox {
    pub slots: Arc<Semaphore>,
    pub permits: u32,
    pub receiver: mpsc::UnboundedReceiver<Handed>,
}

/// The two ends, with `slots` slots.
pub(super) fn channel(slots: usize) -> (Outbox, Inbox) {
    let permits = u32::try_from(slots.min(Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
    let semaphore = Arc::new(Semaphore::new(permits as usize));
    let (sender, receiver) = mpsc::unbounded_channel();
    let outbox = Outbox {
        slots: semaphore.clone(),
        sender,
    };
    let inbox = Inbox {
        slots: semaphore,
        permits,
        receiver,
    };
    (outbox, inbox)
}

impl Outbox {
    /// A free slot, if there is one.
    pub(super) fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Hands `task` to the workflow side, on `slot`. The workflow side receives until every
    /// slot is back, so while a slot is out the receiver is there.
    pub(super) fn hand_over(&self, task: WorkflowTask, slot: OwnedSemaphorePermit) {
        // Unreachable while `slot` is out (see above); were it gone, the task would time out
        // on the service and be scheduled again.
        let _ = self.sender.send((task, slot));
    }
}
