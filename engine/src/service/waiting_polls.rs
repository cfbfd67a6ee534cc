//! Workflow-task polls waiting in the service, so that a commit which schedules a workflow
//! task can start it for one of them at once (Temporal's "sync match"): the task row is
//! never written, and the poll needs neither a lease nor a start commit of its own. On a
//! quiet queue this takes one commit off the path of every polled workflow task, the first
//! one of each run above all.
//!
//! In memory only, never durable: a poll is a connection, and a restarted service has none.
//! A poll registers only while it waits, after its last look at the queue found nothing,
//! so it never holds a matched task and a leased one at once. Deterministic: ordered maps,
//! ids from a counter.
//!
//! A match is a promise made before the commit: the commit's result decides it. After a
//! durable commit the poll gets the task; after a failed one the poll hears nothing and looks
//! at the queue again (a commit whose outcome is unknown may have started the task, which
//! its timeout then brings back, as for any poll whose reply was lost).

use super::workflow_task::StartedWorkflowTask;
use crate::ids::TaskQueue;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::oneshot;

/// One waiting poll.
struct Waiting {
    id: u64,
    identity: String,
    reply: oneshot::Sender<StartedWorkflowTask>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    queues: BTreeMap<TaskQueue, VecDeque<Waiting>>,
}

/// The waiting workflow-task polls, per queue, oldest first.
#[derive(Default)]
pub(super) struct WaitingPolls {
    table: Mutex<Table>,
}

impl WaitingPolls {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a poll of `identity` on `queue` until the returned guard is dropped or
    /// [`WaitingPoll::stop`]ped.
    pub fn wait(&self, queue: &TaskQueue, identity: &str) -> WaitingPoll<'_> {
        let (reply, receiver) = oneshot::channel();
        let mut table = self.lock();
        let id = table.next_id;
        table.next_id += 1;
        table.queues.entry(queue.clone()).or_default().push_back(Waiting {
            id,
            identity: identity.to_owned(),
            reply,
        });
        WaitingPoll {
            polls: self,
            queue: queue.clone(),
            id,
            receiver: Some(receiver),
        }
    }

    /// Takes a poll waiting on `queue` for a task of a run whose worker `sticky` has it
    /// cached: that worker's poll if it waits (its replay starts where it left off), else the
    /// most recent one (the oldest are the likeliest to be a dead worker's, whose
    /// connection the server has not found closed yet). Polls for which `skip` holds (their
    /// worker is taken for dead) are left to time out.
    pub fn take(
        &self,
        queue: &TaskQueue,
        sticky: Option<&str>,
        skip: impl Fn(&str) -> bool,
    ) -> Option<MatchedPoll> {
        let mut table = self.lock();
        let waiting = table.queues.get(queue)?;
        let index = waiting
            .iter()
            .position(|w| Some(w.identity.as_str()) == sticky && !skip(&w.identity))
            .or_else(|| waiting.iter().rposition(|w| !skip(&w.identity)))?;
        let taken = table.remove_at(queue, index)?;
        Some(MatchedPoll {
            identity: taken.identity,
            reply: taken.reply,
        })
    }

    /// Removes poll `id`; false if a commit took it meanwhile.
    fn remove(&self, queue: &TaskQueue, id: u64) -> bool {
        let mut table = self.lock();
        let index = table
            .queues
            .get(queue)
            .and_then(|waiting| waiting.iter().position(|w| w.id == id));
        index.and_then(|index| table.remove_at(queue, index)).is_some()
    }
}

impl Table {
    /// Removes the poll at `index` of `queue`, and the queue's entry once none waits.
    fn remove_at(&mut self, queue: &TaskQueue, index: usize) -> Option<Waiting> {
        let waiting = self.queues.get_mut(queue)?;
        let removed = waiting.remove(index);
        if waiting.is_empty() {
            self.queues.remove(queue);
        }
        removed
    }
}

/// A poll a commit took, to be answered once the commit's result is known.
pub(super) struct MatchedPoll {
    /// The worker the poll is from.
    pub identity: String,
    reply: oneshot::Sender<StartedWorkflowTask>,
}

impl MatchedPoll {
    /// Hands `task` to the poll after its commit is durable. A poll that gave up meanwhile
    /// (its connection closed) leaves the task started with nobody on it: its timeout, or
    /// its worker's liveness, brings it back.
    pub fn answer(self, task: StartedWorkflowTask) {
        let _ = self.reply.send(task);
    }
}

/// A registered poll, on the poller's side.
pub(super) struct WaitingPoll<'a> {
    polls: &'a WaitingPolls,
    queue: TaskQueue,
    id: u64,
    receiver: Option<oneshot::Receiver<StartedWorkflowTask>>,
}

impl WaitingPoll<'_> {
    /// Resolves when a commit that took this poll is decided: the started task, or `None`
    /// when the commit failed.
    pub async fn matched(&mut self) -> Option<StartedWorkflowTask> {
        let receiver = self.receiver.as_mut()?;
        let task = receiver.await.ok();
        self.receiver = None;
        task
    }

    /// Stops waiting. If a commit took the poll meanwhile, waits for that commit's answer
    /// rather than dropping a task that is being started for this poll.
    pub async fn stop(mut self) -> Option<StartedWorkflowTask> {
        if self.polls.remove(&self.queue, self.id) {
            self.receiver = None;
            return None;
        }
        self.matched().await
    }
}

impl Drop for WaitingPoll<'_> {
    fn drop(&mut self) {
        if self.receiver.is_some() {
            self.polls.remove(&self.queue, self.id);
        }
    }
}
