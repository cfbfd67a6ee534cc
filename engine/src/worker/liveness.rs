//! The worker's liveness heartbeat. With [`WorkerOptions::liveness_interval`] set, the
//! worker tells the service, once before it polls and then every interval, that it is alive
//! and which activity attempts and workflow tasks it is running. If the worker dies, the
//! service hands that work to other workers after its `worker_liveness_timeout`, instead of
//! when each attempt's own timeout fires; after a restart of the service, the list tells it
//! which work the worker never received. Off by default: in-process workers die with the
//! service, and simulations keep their traces.
//!
//! [`WorkerOptions::liveness_interval`]: super::WorkerOptions::liveness_interval

use super::Worker;
use crate::service::Request;
use crate::service::api::{ActivityTaskToken, WorkflowTaskToken};
use crate::time::Timestamp;
use futures::future::select;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// The work the worker is running, as the heartbeat lists it. An item is in from the moment
/// its poll returns until its outcome has been reported (or given up on), so it is never
/// left out while the service may still be waiting for it.
#[derive(Debug, Default)]
pub(super) struct Running {
    items: Mutex<BTreeSet<Item>>,
}

/// One piece of work.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Item {
    Activity(ActivityTaskToken),
    WorkflowTask(WorkflowTaskToken),
}

/// Keeps an item listed while it lives.
#[derive(Debug)]
pub(super) struct Holding {
    running: Arc<Running>,
    item: Item,
}

impl Drop for Holding {
    fn drop(&mut self) {
        lock(&self.running).remove(&self.item);
    }
}

fn lock(running: &Running) -> std::sync::MutexGuard<'_, BTreeSet<Item>> {
    // Nothing panics while holding the lock; a poisoned set is still a set.
    running
        .items
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Worker {
    /// Lists `item` until the returned guard is dropped; `None` with liveness off.
    pub(super) fn hold(&self, item: impl FnOnce() -> Item) -> Option<Holding> {
        let running = self.running.as_ref()?;
        let item = item();
        lock(running).insert(item.clone());
        Some(Holding {
            running: running.clone(),
            item,
        })
    }

    /// The heartbeat listing what runs now.
    fn heartbeat_request(&self, running: &Running) -> Request {
        let (mut activities, mut workflow_tasks) = (Vec::new(), Vec::new());
        for item in lock(running).iter() {
            match item {
                Item::Activity(token) => activities.push(token.clone()),
                Item::WorkflowTask(token) => workflow_tasks.push(token.clone()),
            }
        }
        Request::WorkerHeartbeat {
            identity: self.options.identity.clone(),
            task_queue: self.task_queue.clone(),
            running_activities: activities,
            running_workflow_tasks: workflow_tasks,
        }
    }

    /// Sends one heartbeat, waiting for its answer until `deadline` at the latest. Not
    /// retried: the next one supersedes it.
    async fn beat(&self, running: &Running, deadline: Timestamp) {
        let call = self.transport.call(self.heartbeat_request(running));
        let _ = select(call, self.clock.sleep_until(deadline)).await;
    }
}

/// The first heartbeat, sent before the worker polls, so that the service tracks the work
/// its first polls hand out.
pub(super) async fn announce(worker: &Worker) {
    if let (Some(running), Some(interval)) = (&worker.running, worker.options.liveness_interval) {
        worker.beat(running, worker.clock.now().plus(interval)).await;
    }
}

/// Heartbeats every interval (a slow answer is not waited for beyond the next one) until
/// `done`: the worker has stopped polling and its attempts in flight have reported.
pub(super) async fn run(worker: &Worker, done: &CancellationToken) {
    let (Some(running), Some(interval)) = (&worker.running, worker.options.liveness_interval) else {
        return;
    };
    loop {
        let next = worker.clock.now().plus(interval);
        if done
            .run_until_cancelled(worker.clock.sleep_until(next))
            .await
            .is_none()
        {
            return;
        }
        worker.beat(running, worker.clock.now().plus(interval)).await;
    }
}
