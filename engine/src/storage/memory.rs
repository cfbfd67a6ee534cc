//! [`MemoryStorage`]: the deterministic reference implementation of [`Storage`].
//!
//! Everything lives in ordered maps behind one mutex, so every read and every iteration is
//! deterministic: the same sequence of calls gives the same answers on every run, which is
//! what the simulator and the conformance suite need. The handle is an `Arc`, so clones share
//! one state: a test can drop an engine ("crash") and build a new one on a clone, and the new
//! engine sees exactly what was committed, because nothing is ever buffered outside the state.
//!
//! Indexes kept next to the data, so that no operation scans a whole table:
//! - runs by workflow id in creation order (the last one is the current run), by
//!   `(start_time, key)` for listing, and the set of running runs for the uniqueness check;
//! - per `(queue, kind)`, unclaimed tasks by `(visible_at, key)` and claimed tasks by
//!   `(claimable_at, key)`, where `claimable_at = max(visible_at, lease expiry)`;
//! - timers by `(due, key)`.
//!
//! Every method does its work on the future's first poll, which completes at once: a future
//! dropped unpolled does nothing, as with a backend that really waits for I/O.

use super::check::{StoredHead, check_run_write};
use super::{
    Commit, Lease, RequestId, RunKey, RunRecord, RunStatus, RunWrite, Storage, StorageError, StorageResult,
    Task, TaskKey, TaskKind, TimerKey, TimerRecord,
};
use crate::history::{History, HistoryEvent};
use crate::ids::{EventId, RunId, TaskQueue, WorkflowId};
use crate::payload::Payload;
use crate::time::Timestamp;
use futures::future::BoxFuture;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The deterministic reference storage: ordered in-memory maps behind a mutex.
///
/// Cloning is cheap and shares the state, so the storage can outlive an engine built on it.
#[derive(Clone, Debug, Default)]
pub struct MemoryStorage {
    // A std mutex rather than an async one: it is only ever held inside a synchronous block
    // that never awaits (each method locks, does its work and unlocks within one poll), so a
    // task can never be suspended while holding it and no other task can wait on it across
    // an await point.
    state: Arc<Mutex<State>>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    /// Calls `f` with the history of each run of `workflow_id`, oldest first, lent rather
    /// than copied: a test kit's replay check reads whole histories and only needs to look.
    /// `f` runs with the storage locked, so it must not call the storage.
    pub fn with_histories<T>(
        &self,
        workflow_id: &WorkflowId,
        mut f: impl FnMut(&History) -> T,
    ) -> StorageResult<Vec<T>> {
        self.with_state(|s| {
            let Some(run_ids) = s.runs_by_workflow.get(workflow_id) else {
                return Ok(Vec::new());
            };
            Ok(run_ids
                .iter()
                .filter_map(|run_id| {
                    let key = RunKey {
                        workflow_id: workflow_id.clone(),
                        run_id: run_id.clone(),
                    };
                    s.runs.get(&key).map(|r| f(&r.history))
                })
                .collect())
        })
    }

    /// Every run's history by workflow id, oldest run first, moved out of a storage that no
    /// other handle shares; `Err(self)` when another does. For a test harness that is done
    /// with the storage and keeps its histories (a campaign's oracles): nothing is copied.
    pub fn into_histories(self) -> Result<BTreeMap<WorkflowId, Vec<History>>, MemoryStorage> {
        let state = Arc::try_unwrap(self.state).map_err(|state| MemoryStorage { state })?;
        let mut state = state
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut histories = BTreeMap::new();
        for (workflow_id, run_ids) in std::mem::take(&mut state.runs_by_workflow) {
            let runs = run_ids
                .into_iter()
                .filter_map(|run_id| {
                    let key = RunKey {
                        workflow_id: workflow_id.clone(),
                        run_id,
                    };
                    state.runs.remove(&key).map(|run| run.history)
                })
                .collect();
            histories.insert(workflow_id, runs);
        }
        Ok(histories)
    }

    /// Applies `commit` at once, as [`Storage::commit`] does on its first poll, without a
    /// future to allocate: for a wrapper that applies the commit under a lock of its own (the
    /// simulator's storage, which must not let a crash fall between its check and the apply).
    pub fn commit_now(&self, commit: Commit) -> StorageResult<()> {
        self.with_state(|s| s.commit(commit))
    }

    /// Runs `f` on the locked state.
    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> StorageResult<T>) -> StorageResult<T> {
        let mut guard: MutexGuard<'_, State> = self.state.lock().map_err(|_| {
            // Nothing in this module panics while holding the lock, so a poisoned lock means
            // the state may be half-updated: refuse to serve it rather than guess.
            StorageError::Corrupt("the in-memory state was left inconsistent by a panic".to_owned())
        })?;
        f(&mut guard)
    }
}

/// The whole durable state, plus the indexes over it.
#[derive(Debug, Default)]
struct State {
    runs: BTreeMap<RunKey, StoredRun>,
    /// Each workflow id's run ids in creation order: the last is the current run.
    runs_by_workflow: BTreeMap<WorkflowId, Vec<RunId>>,
    /// Every run by `(start_time, key)`, the order of `list_runs(None, _)`.
    runs_by_start: BTreeSet<(Timestamp, RunKey)>,
    /// The runs whose status is `Running`; `RunKey` sorts by workflow id first, so one
    /// workflow id's running runs are a contiguous range.
    running: BTreeSet<RunKey>,
    tasks: BTreeMap<TaskKey, Task>,
    queues: BTreeMap<(TaskQueue, TaskKind), QueueIndex>,
    timers: BTreeMap<TimerKey, Timestamp>,
    timers_by_due: BTreeSet<(Timestamp, TimerKey)>,
    requests: BTreeMap<RequestId, Payload>,
}

/// A run's record and its history.
#[derive(Debug)]
struct StoredRun {
    record: RunRecord,
    /// Kept as a whole `History` (ids and events) so that it can be lent as one
    /// ([`MemoryStorage::with_histories`]). Its events are dense from 1: the event with id
    /// `n` is at index `n - 1` (checked on every commit).
    history: History,
}

/// The tasks of one `(queue, kind)`, split by whether they carry a lease.
///
/// Split so that leasing does not walk past every task currently held by a worker: unclaimed
/// tasks are ordered as leasing wants them, and claimed ones by when they become claimable
/// again, so only claims that have already lapsed are looked at.
#[derive(Debug, Default)]
struct QueueIndex {
    /// Tasks without a lease, by `(visible_at, key)`.
    unclaimed: BTreeSet<(Timestamp, TaskKey)>,
    /// Tasks with a lease, by `(max(visible_at, expires_at), key)`.
    claimed: BTreeSet<(Timestamp, TaskKey)>,
}

impl QueueIndex {
    fn is_empty(&self) -> bool {
        self.unclaimed.is_empty() && self.claimed.is_empty()
    }
}

/// When a task can next be handed out, ignoring `now`.
fn claimable_at(task: &Task) -> Timestamp {
    match &task.lease {
        None => task.visible_at,
        Some(lease) => task.visible_at.max(lease.expires_at),
    }
}

/// The writes of the commit being validated that come before the one being checked: what
/// they did to a run (its status, next id and version) counts as stored. A commit writes one
/// or two runs, so a scan beats building a map (and allocates nothing).
struct Staged<'c>(&'c [RunWrite]);

impl<'c> Staged<'c> {
    /// What the last earlier write of `key` left: status, next event id, version.
    fn get(&self, key: &RunKey) -> Option<(RunStatus, EventId, u64)> {
        self.0
            .iter()
            .rev()
            .find(|w| w.record.key == *key)
            .map(|w| (w.record.status, w.record.next_event_id, w.record.version))
    }

    /// Each run written so far with the status its last earlier write left.
    fn latest(&self) -> impl Iterator<Item = (&'c RunKey, RunStatus)> + '_ {
        self.0.iter().enumerate().filter_map(|(i, w)| {
            let key = &w.record.key;
            let overwritten = self.0[i + 1..].iter().any(|later| later.record.key == *key);
            (!overwritten).then_some((key, w.record.status))
        })
    }
}

impl State {
    // ---- commit ----

    fn commit(&mut self, commit: Commit) -> StorageResult<()> {
        // Validate everything before touching anything, so that a refused commit leaves no
        // trace: the apply step below cannot fail.
        self.validate(&commit)?;
        let Commit {
            runs,
            create_tasks,
            complete_tasks,
            create_timers,
            delete_timers,
            requests,
        } = commit;
        for write in runs {
            self.apply_run(write);
        }
        // Creations before removals: a commit that creates and completes the same task (or
        // sets and deletes the same timer) ends without it.
        for task in create_tasks {
            self.insert_task(task);
        }
        for key in &complete_tasks {
            self.remove_task(key);
        }
        for timer in create_timers {
            // One search of `timers` whether or not the timer was set: a timer set again
            // only has its old due entry to drop (most timers are new, and were searched
            // for and missed twice when removed first).
            let entry = (timer.due, timer.key.clone());
            if let Some(was_due) = self.timers.insert(timer.key, timer.due) {
                self.timers_by_due.remove(&(was_due, entry.1.clone()));
            }
            self.timers_by_due.insert(entry);
        }
        for key in &delete_timers {
            self.remove_timer(key);
        }
        self.requests.extend(requests);
        Ok(())
    }

    fn validate(&self, commit: &Commit) -> StorageResult<()> {
        for (i, write) in commit.runs.iter().enumerate() {
            let staged = Staged(&commit.runs[..i]);
            let key = &write.record.key;
            let stored = staged
                .get(key)
                .map(|(_, next_event_id, version)| StoredHead {
                    next_event_id,
                    version,
                })
                .or_else(|| {
                    self.runs.get(key).map(|r| StoredHead {
                        next_event_id: r.record.next_event_id,
                        version: r.record.version,
                    })
                });
            check_run_write(write, stored, || self.running_run(&key.workflow_id, &staged))?;
        }
        Ok(())
    }

    /// A running run of `workflow_id` as the commit being validated would leave it so far:
    /// stored runs count unless an earlier write closed them, and earlier writes count when
    /// they leave a run running. The smallest run id, so the error is deterministic.
    fn running_run(&self, workflow_id: &WorkflowId, staged: &Staged<'_>) -> Option<RunId> {
        let from = RunKey {
            workflow_id: workflow_id.clone(),
            run_id: RunId::new(""),
        };
        let stored = self
            .running
            .range(from..)
            .take_while(|k| k.workflow_id == *workflow_id)
            .filter(|k| {
                staged
                    .get(k)
                    .is_none_or(|(status, _, _)| status == RunStatus::Running)
            });
        let written = staged
            .latest()
            .filter(|(k, status)| k.workflow_id == *workflow_id && *status == RunStatus::Running)
            .map(|(k, _)| k);
        stored.chain(written).min().map(|k| k.run_id.clone())
    }

    fn apply_run(&mut self, write: RunWrite) {
        let RunWrite { record, events, .. } = write;
        let key = record.key.clone();
        // Index first, so the record itself moves into the map without a copy.
        let (start_time, running) = (record.start_time, record.status == RunStatus::Running);
        match self.runs.get_mut(&key) {
            Some(stored) => {
                // Most writes leave the start time and the running status as they were: the
                // indexes are only touched when they change.
                let (was_started, was_running) = (
                    stored.record.start_time,
                    stored.record.status == RunStatus::Running,
                );
                stored.history.events.extend(events);
                stored.record = record;
                if was_started != start_time {
                    self.runs_by_start.remove(&(was_started, key.clone()));
                    self.runs_by_start.insert((start_time, key.clone()));
                }
                match (was_running, running) {
                    (true, false) => {
                        self.running.remove(&key);
                    }
                    (false, true) => {
                        self.running.insert(key);
                    }
                    _ => {}
                }
            }
            None => {
                self.runs_by_workflow
                    .entry(key.workflow_id.clone())
                    .or_default()
                    .push(key.run_id.clone());
                let history = History {
                    workflow_id: key.workflow_id.clone(),
                    run_id: key.run_id.clone(),
                    events,
                };
                self.runs.insert(key.clone(), StoredRun { record, history });
                self.runs_by_start.insert((start_time, key.clone()));
                if running {
                    self.running.insert(key);
                }
            }
        }
    }

    /// Enqueues `task`, replacing a task with the same key. One search of `tasks` whether or
    /// not there was one: most tasks are new, and were searched for and missed when removed
    /// first.
    fn insert_task(&mut self, task: Task) {
        // Without a lease, `claimable_at` is `visible_at`: one entry shape for both sets.
        let entry = (claimable_at(&task), task.key.clone());
        let (queue, leased) = ((task.queue.clone(), task.key.kind), task.lease.is_some());
        if let Some(replaced) = self.tasks.insert(task.key.clone(), task) {
            self.unindex_task(&replaced);
        }
        let index = self.queues.entry(queue).or_default();
        if leased {
            index.claimed.insert(entry);
        } else {
            index.unclaimed.insert(entry);
        }
    }

    fn remove_task(&mut self, key: &TaskKey) -> Option<Task> {
        let task = self.tasks.remove(key)?;
        self.unindex_task(&task);
        Some(task)
    }

    /// Takes `task`, no longer in `tasks`, out of its queue's index.
    fn unindex_task(&mut self, task: &Task) {
        let queue = (task.queue.clone(), task.key.kind);
        if let Some(index) = self.queues.get_mut(&queue) {
            let entry = (claimable_at(task), task.key.clone());
            if task.lease.is_some() {
                index.claimed.remove(&entry);
            } else {
                index.unclaimed.remove(&entry);
            }
            // Drop empty queues so that a long-lived storage does not accumulate them.
            if index.is_empty() {
                self.queues.remove(&queue);
            }
        }
    }

    fn remove_timer(&mut self, key: &TimerKey) {
        if let Some(due) = self.timers.remove(key) {
            self.timers_by_due.remove(&(due, key.clone()));
        }
    }

    // ---- reads ----

    fn get_run(&self, workflow_id: &WorkflowId, run_id: Option<&RunId>) -> Option<RunRecord> {
        let run_id = match run_id {
            Some(run_id) => run_id,
            None => self.runs_by_workflow.get(workflow_id)?.last()?,
        };
        let key = RunKey {
            workflow_id: workflow_id.clone(),
            run_id: run_id.clone(),
        };
        self.runs.get(&key).map(|r| r.record.clone())
    }

    fn read_events(&self, run: &RunKey, from: EventId) -> Vec<HistoryEvent> {
        let Some(stored) = self.runs.get(run) else {
            return Vec::new();
        };
        // Ids are dense from 1, so the event `from` is at index `from - 1`; ids 0 and 1 both
        // mean the whole history.
        let start = usize::try_from(from.0.saturating_sub(1)).unwrap_or(usize::MAX);
        stored
            .history
            .events
            .get(start..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    fn list_runs(&self, workflow_id: Option<&WorkflowId>, limit: usize) -> Vec<RunRecord> {
        match workflow_id {
            Some(workflow_id) => {
                let Some(run_ids) = self.runs_by_workflow.get(workflow_id) else {
                    return Vec::new();
                };
                run_ids
                    .iter()
                    .filter_map(|run_id| {
                        let key = RunKey {
                            workflow_id: workflow_id.clone(),
                            run_id: run_id.clone(),
                        };
                        self.runs.get(&key).map(|r| r.record.clone())
                    })
                    .take(limit)
                    .collect()
            }
            None => self
                .runs_by_start
                .iter()
                .filter_map(|(_, key)| self.runs.get(key).map(|r| r.record.clone()))
                .take(limit)
                .collect(),
        }
    }

    fn list_open_runs(&self, limit: usize) -> Vec<RunRecord> {
        self.running
            .iter()
            .filter_map(|key| self.runs.get(key).map(|r| r.record.clone()))
            .take(limit)
            .collect()
    }

    // ---- tasks ----

    /// Cost: `O(log n)` plus the number of tasks of the queue whose lease has lapsed at
    /// `now` (they have to be compared by `visible_at`, not by when their lease lapsed).
    fn lease_task(
        &mut self,
        queue: &TaskQueue,
        kind: TaskKind,
        now: Timestamp,
        owner: &str,
        lease_for: Duration,
    ) -> Option<Task> {
        let index = self.queues.get_mut(&(queue.clone(), kind))?;
        let unclaimed = index
            .unclaimed
            .first()
            .filter(|(visible_at, _)| *visible_at <= now)
            .map(|(visible_at, key)| (*visible_at, key, None));
        // `claimable_at <= now` implies `visible_at <= now` and an expired lease.
        let tasks = &self.tasks;
        let lapsed = index
            .claimed
            .iter()
            .take_while(|(claimable, _)| *claimable <= now)
            .filter_map(|(claimable, key)| tasks.get(key).map(|t| (t.visible_at, key, Some(*claimable))))
            .min();
        let (_, key, claimed_at) = match (unclaimed, lapsed) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        let key = key.clone();
        // The lease is set in place: the task stays in its queue, moved from one set to the
        // other, so the queue's index is not dropped and rebuilt when it held only this task.
        let task = self.tasks.get_mut(&key)?;
        let entry = match claimed_at {
            None => index.unclaimed.pop_first(),
            Some(claimable) => index.claimed.take(&(claimable, key)),
        }?;
        task.lease = Some(Lease {
            owner: owner.to_owned(),
            expires_at: now.plus(lease_for),
        });
        index.claimed.insert((claimable_at(task), entry.1));
        Some(task.clone())
    }

    fn next_task_time(&self, queue: &TaskQueue, kind: TaskKind, now: Timestamp) -> Option<Timestamp> {
        let index = self.queues.get(&(queue.clone(), kind))?;
        let unclaimed = index.unclaimed.first().map(|(t, _)| *t);
        let claimed = index.claimed.first().map(|(t, _)| *t);
        let earliest = match (unclaimed, claimed) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        // A task claimable already is claimable `now`, as the trait documents.
        Some(earliest.max(now))
    }

    // ---- timers ----

    fn due_timers(&self, now: Timestamp, limit: usize) -> Vec<TimerRecord> {
        self.timers_by_due
            .iter()
            .take_while(|(due, _)| *due <= now)
            .take(limit)
            .map(|(due, key)| TimerRecord {
                key: key.clone(),
                due: *due,
            })
            .collect()
    }

    fn next_timer_due(&self) -> Option<Timestamp> {
        self.timers_by_due.first().map(|(due, _)| *due)
    }
}

impl Storage for MemoryStorage {
    fn commit(&self, commit: Commit) -> BoxFuture<'_, StorageResult<()>> {
        Box::pin(async move { self.commit_now(commit) })
    }

    fn get_run<'a>(
        &'a self,
        workflow_id: &'a WorkflowId,
        run_id: Option<&'a RunId>,
    ) -> BoxFuture<'a, StorageResult<Option<RunRecord>>> {
        Box::pin(async move { self.with_state(|s| Ok(s.get_run(workflow_id, run_id))) })
    }

    fn read_events<'a>(
        &'a self,
        run: &'a RunKey,
        from: EventId,
    ) -> BoxFuture<'a, StorageResult<Vec<HistoryEvent>>> {
        Box::pin(async move { self.with_state(|s| Ok(s.read_events(run, from))) })
    }

    fn list_runs<'a>(
        &'a self,
        workflow_id: Option<&'a WorkflowId>,
        limit: usize,
    ) -> BoxFuture<'a, StorageResult<Vec<RunRecord>>> {
        Box::pin(async move { self.with_state(|s| Ok(s.list_runs(workflow_id, limit))) })
    }

    fn list_open_runs(&self, limit: usize) -> BoxFuture<'_, StorageResult<Vec<RunRecord>>> {
        Box::pin(async move { self.with_state(|s| Ok(s.list_open_runs(limit))) })
    }

    fn lease_task<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
        owner: &'a str,
        lease_for: Duration,
    ) -> BoxFuture<'a, StorageResult<Option<Task>>> {
        Box::pin(async move { self.with_state(|s| Ok(s.lease_task(queue, kind, now, owner, lease_for))) })
    }

    fn next_task_time<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
    ) -> BoxFuture<'a, StorageResult<Option<Timestamp>>> {
        Box::pin(async move { self.with_state(|s| Ok(s.next_task_time(queue, kind, now))) })
    }

    fn due_timers(&self, now: Timestamp, limit: usize) -> BoxFuture<'_, StorageResult<Vec<TimerRecord>>> {
        Box::pin(async move { self.with_state(|s| Ok(s.due_timers(now, limit))) })
    }

    fn next_timer_due(&self) -> BoxFuture<'_, StorageResult<Option<Timestamp>>> {
        Box::pin(async move { self.with_state(|s| Ok(s.next_timer_due())) })
    }

    fn get_request<'a>(&'a self, request_id: &'a RequestId) -> BoxFuture<'a, StorageResult<Option<Payload>>> {
        Box::pin(async move { self.with_state(|s| Ok(s.requests.get(request_id).cloned())) })
    }
}
