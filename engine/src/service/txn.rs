//! Building one commit: [`Batch`] collects the runs a call touches ([`RunTxn`] each: loaded
//! record and state, appended events) and the tasks, timers and request ids it creates or
//! removes; the service then writes it as one `Storage::commit`.

use super::api::RunOutcome;
use super::state::{ActivityFinal, ExecutionState, Incoming, WorkflowTaskState};
use crate::history::{EventAttributes as E, HistoryEvent};
use crate::ids::{EventId, TaskQueue, WorkflowId};
use crate::payload::Payload;
use crate::storage::{
    Commit, RequestId, RunKey, RunRecord, RunWrite, Task, TaskKey, TaskKind, TimerKey, TimerKind, TimerRecord,
};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// Longest delay before a repeatedly failing workflow task is retried.
const WORKFLOW_TASK_BACKOFF_MAX: Duration = Duration::from_secs(600);

/// One run within a batch.
#[derive(Debug)]
pub(crate) struct RunTxn {
    /// The run as it will be written; its `state` is replaced from `state` at commit.
    pub record: RunRecord,
    /// The run's mutable state: the stored one, shared until the batch first changes it.
    pub state: CowState,
    /// `next_event_id` as read; `None` for a run this batch creates.
    expected: Option<EventId>,
    /// The run as read, to tell whether the batch changed it.
    original: Option<RunRecord>,
    pub events: Vec<HistoryEvent>,
    now: Timestamp,
    tasks: Vec<Task>,
    done_tasks: Vec<TaskKey>,
    timers: Vec<TimerRecord>,
    dropped_timers: Vec<TimerKey>,
}

impl RunTxn {
    /// A run read from storage. The stored state is shared, not decoded, and copied only
    /// when the batch first changes it: a call that only reads the run copies nothing.
    pub fn existing(record: RunRecord, now: Timestamp) -> RunTxn {
        RunTxn {
            expected: Some(record.next_event_id),
            original: Some(record.clone()),
            ..RunTxn::created(record, now)
        }
    }

    /// A run this batch creates; `record.state` is its initial state.
    pub fn created(record: RunRecord, now: Timestamp) -> RunTxn {
        RunTxn {
            state: CowState(Arc::clone(&record.state)),
            record,
            expected: None,
            original: None,
            events: Vec::new(),
            now,
            tasks: Vec::new(),
            done_tasks: Vec::new(),
            timers: Vec::new(),
            dropped_timers: Vec::new(),
        }
    }

    pub fn key(&self) -> &RunKey {
        &self.record.key
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// True for a run this batch creates.
    pub fn is_created(&self) -> bool {
        self.expected.is_none()
    }

    pub fn is_running(&self) -> bool {
        !self.record.status.is_closed()
    }

    /// Appends an event to the history now.
    pub fn append(&mut self, attributes: E) -> EventId {
        let event_id = self.record.next_event_id;
        self.events.push(HistoryEvent {
            event_id,
            event_time: self.now,
            attributes,
        });
        self.record.next_event_id = event_id.next();
        event_id
    }

    /// Something happened to the run from outside: written now and a workflow task
    /// scheduled, or buffered while a workflow task runs.
    pub fn add_incoming(&mut self, incoming: Incoming) {
        if !self.is_running() {
            return;
        }
        if self.state.workflow_task_started() {
            self.state.buffered.push(incoming);
        } else {
            self.write_incoming(incoming);
            self.schedule_workflow_task();
        }
    }

    /// Writes what was buffered during a workflow task; true if there was anything.
    pub fn flush_buffered(&mut self) -> bool {
        let buffered = std::mem::take(&mut self.state.buffered);
        let any = !buffered.is_empty();
        for incoming in buffered {
            self.write_incoming(incoming);
        }
        any
    }

    fn write_incoming(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Event(attributes) => {
                self.append(attributes);
            }
            Incoming::Activity {
                scheduled_event_id,
                attempt,
                identity,
                started,
                outcome,
                ..
            } => self.write_activity_end(scheduled_event_id, attempt, identity, started, outcome),
            Incoming::ChildStarted {
                initiated_event_id,
                workflow_id,
                run_id,
                workflow_type,
            } => {
                let started = self.append(E::ChildWorkflowExecutionStarted {
                    initiated_event_id,
                    workflow_id,
                    run_id: run_id.clone(),
                    workflow_type,
                });
                if let Some(child) = self.state.children.get_mut(&initiated_event_id) {
                    child.started_event_id = Some(started);
                    child.run_id = Some(run_id);
                }
            }
            Incoming::ChildClosed {
                initiated_event_id,
                outcome,
            } => self.write_child_end(initiated_event_id, outcome),
        }
    }

    fn write_activity_end(
        &mut self,
        scheduled_event_id: EventId,
        attempt: u32,
        identity: String,
        started: bool,
        outcome: ActivityFinal,
    ) {
        let started_event_id = started.then(|| {
            self.append(E::ActivityTaskStarted {
                scheduled_event_id,
                attempt,
                identity,
            })
        });
        let attributes = match outcome {
            ActivityFinal::Completed(result) => E::ActivityTaskCompleted {
                scheduled_event_id,
                started_event_id: started_event_id.unwrap_or_default(),
                result,
            },
            ActivityFinal::Failed(failure, retry_state) => E::ActivityTaskFailed {
                scheduled_event_id,
                started_event_id: started_event_id.unwrap_or_default(),
                failure,
                retry_state,
            },
            ActivityFinal::TimedOut(timeout_type, retry_state) => E::ActivityTaskTimedOut {
                scheduled_event_id,
                started_event_id,
                timeout_type,
                retry_state,
            },
            ActivityFinal::Canceled => E::ActivityTaskCanceled {
                scheduled_event_id,
                started_event_id,
                details: None,
            },
        };
        self.append(attributes);
    }

    fn write_child_end(&mut self, initiated_event_id: EventId, outcome: RunOutcome) {
        let Some(child) = self.state.children.remove(&initiated_event_id) else {
            return;
        };
        let started_event_id = child.started_event_id.unwrap_or_default();
        let attributes = match outcome {
            RunOutcome::Completed(result) => E::ChildWorkflowExecutionCompleted {
                initiated_event_id,
                started_event_id,
                result,
            },
            RunOutcome::Failed(failure) => E::ChildWorkflowExecutionFailed {
                initiated_event_id,
                started_event_id,
                failure,
            },
            RunOutcome::Canceled => E::ChildWorkflowExecutionCanceled {
                initiated_event_id,
                started_event_id,
            },
            RunOutcome::TimedOut => E::ChildWorkflowExecutionTimedOut {
                initiated_event_id,
                started_event_id,
            },
            // A child that continued as new is still running; its last run reports.
            RunOutcome::Terminated(_) | RunOutcome::ContinuedAsNew(_) => {
                E::ChildWorkflowExecutionTerminated {
                    initiated_event_id,
                    started_event_id,
                }
            }
        };
        self.append(attributes);
    }

    /// Schedules a workflow task unless one is scheduled or running. A run whose tasks keep
    /// failing gets its next one later and later, so a broken deployment does not spin.
    pub fn schedule_workflow_task(&mut self) {
        if self.state.workflow_task.is_some() || !self.is_running() {
            return;
        }
        let attempt = self.state.failed_workflow_tasks + 1;
        let scheduled_event_id = self.append(E::WorkflowTaskScheduled {
            task_queue: self.record.task_queue.clone(),
            start_to_close_timeout: self.state.workflow_task_timeout,
            attempt,
        });
        self.state.workflow_task = Some(WorkflowTaskState {
            scheduled_event_id,
            started_event_id: None,
            attempt,
            identity: None,
        });
        let backoff = match self.state.failed_workflow_tasks {
            0 => Duration::ZERO,
            n => Duration::from_secs(1u64 << n.min(10)).min(WORKFLOW_TASK_BACKOFF_MAX),
        };
        let queue = self.record.task_queue.clone();
        self.create_task(
            TaskKind::Workflow,
            scheduled_event_id,
            attempt,
            queue,
            self.now.plus(backoff),
        );
    }

    pub fn create_task(
        &mut self,
        kind: TaskKind,
        scheduled_event_id: EventId,
        attempt: u32,
        queue: TaskQueue,
        visible_at: Timestamp,
    ) {
        self.tasks.push(Task {
            key: self.task_key(kind, scheduled_event_id, attempt),
            queue,
            visible_at,
            lease: None,
        });
    }

    pub fn task_key(&self, kind: TaskKind, scheduled_event_id: EventId, attempt: u32) -> TaskKey {
        TaskKey {
            run: self.record.key.clone(),
            kind,
            scheduled_event_id,
            attempt,
        }
    }

    /// Takes back a task this batch created and that is due at `now`, before it is ever
    /// written (a task started eagerly, in the commit that created it, needs no queue row);
    /// false, and the task stays, if the batch created no such task or it is due later (a
    /// retry after a backoff waits in the queue).
    pub fn forget_created_task_due(&mut self, key: &TaskKey, now: Timestamp) -> bool {
        let Some(index) = self.created_task_due(key, now) else {
            return false;
        };
        self.tasks.remove(index);
        true
    }

    /// Where `key` is among the tasks this batch created, if it is due at `now`.
    fn created_task_due(&self, key: &TaskKey, now: Timestamp) -> Option<usize> {
        self.tasks
            .iter()
            .position(|task| task.key == *key && task.visible_at <= now)
    }

    /// The queue of the run's scheduled workflow task, if this batch created it, it is due
    /// at `now` and no worker has started it yet.
    pub fn created_workflow_task_due(&self, now: Timestamp) -> Option<(TaskKey, &TaskQueue)> {
        let task = self.state.workflow_task.as_ref()?;
        if task.started_event_id.is_some() {
            return None;
        }
        let key = self.task_key(TaskKind::Workflow, task.scheduled_event_id, task.attempt);
        let index = self.created_task_due(&key, now)?;
        Some((key, &self.tasks[index].queue))
    }

    pub fn complete_task(&mut self, key: TaskKey) {
        self.done_tasks.push(key);
    }

    pub fn set_timer(&mut self, kind: TimerKind, due: Timestamp) {
        self.timers.push(TimerRecord {
            key: TimerKey {
                run: self.record.key.clone(),
                kind,
            },
            due,
        });
    }

    pub fn drop_timer(&mut self, kind: TimerKind) {
        self.dropped_timers.push(TimerKey {
            run: self.record.key.clone(),
            kind,
        });
    }

    fn is_dirty(&self) -> bool {
        match &self.original {
            None => true,
            Some(original) => {
                !self.events.is_empty()
                    || !self.tasks.is_empty()
                    || !self.done_tasks.is_empty()
                    || !self.timers.is_empty()
                    || !self.dropped_timers.is_empty()
                    || indexed_fields_changed(original, &self.record)
                    || !self.state.same_as(&original.state)
            }
        }
    }
}

/// A run's state in a batch: the stored `Arc`, copied by the first mutable access
/// (`Arc::make_mut`), so calls that read the state or change nothing share it. Derefs to
/// [`ExecutionState`], so the service reads and writes its fields as if it owned a copy.
#[derive(Debug)]
pub(crate) struct CowState(Arc<ExecutionState>);

impl CowState {
    /// True when the state equals `stored`: trivially if it was never copied.
    fn same_as(&self, stored: &Arc<ExecutionState>) -> bool {
        Arc::ptr_eq(&self.0, stored) || *self.0 == **stored
    }
}

impl std::ops::Deref for CowState {
    type Target = ExecutionState;
    fn deref(&self) -> &ExecutionState {
        &self.0
    }
}

impl std::ops::DerefMut for CowState {
    fn deref_mut(&mut self) -> &mut ExecutionState {
        Arc::make_mut(&mut self.0)
    }
}

/// True when a run's fields other than its state differ. Destructured so that a new field
/// cannot be forgotten here.
fn indexed_fields_changed(before: &RunRecord, after: &RunRecord) -> bool {
    let RunRecord {
        key,
        workflow_type,
        task_queue,
        status,
        start_time,
        close_time,
        next_event_id,
        version,
        state: _,
    } = before;
    *key != after.key
        || *workflow_type != after.workflow_type
        || *task_queue != after.task_queue
        || *status != after.status
        || *start_time != after.start_time
        || *close_time != after.close_time
        || *next_event_id != after.next_event_id
        || *version != after.version
}

/// What to wake once a batch is durable.
#[derive(Debug, Default)]
pub(crate) struct Wakeups {
    /// Per queue, how many tasks created can be taken at once.
    pub ready_tasks: BTreeMap<(TaskQueue, TaskKind), usize>,
    /// Queues with a task created that is not visible yet, or created leased.
    pub later_tasks: BTreeSet<(TaskQueue, TaskKind)>,
    /// The earliest due time of the timers the batch sets, if it sets any.
    pub earliest_timer: Option<Timestamp>,
    /// Workflow ids of the runs the batch closes.
    pub closed: BTreeSet<WorkflowId>,
}

/// The runs and records one call changes, committed together.
#[derive(Debug)]
pub(crate) struct Batch {
    pub now: Timestamp,
    pub runs: Vec<RunTxn>,
    pub requests: Vec<(RequestId, Payload)>,
    /// Tasks and timers whose run no longer exists: removed so they stop coming back.
    pub orphan_tasks: Vec<TaskKey>,
    pub orphan_timers: Vec<TimerKey>,
}

impl Batch {
    pub fn new(now: Timestamp) -> Batch {
        Batch {
            now,
            runs: Vec::new(),
            requests: Vec::new(),
            orphan_tasks: Vec::new(),
            orphan_timers: Vec::new(),
        }
    }

    /// Adds a run to the batch and returns its index. The vector grows one run at a time: a
    /// run is several hundred bytes and a batch rarely holds more than one or two, so the
    /// usual room for four would be a needless large allocation.
    pub fn push_run(&mut self, run: RunTxn) -> usize {
        self.runs.reserve_exact(1);
        self.runs.push(run);
        self.runs.len() - 1
    }

    /// The index of `key` among the batch's runs, if it is loaded.
    pub fn position(&self, key: &RunKey) -> Option<usize> {
        self.runs.iter().position(|r| r.record.key == *key)
    }

    /// Turns the batch into a storage commit and what to wake after it.
    pub fn into_commit(self) -> (Commit, Wakeups) {
        let mut commit = Commit {
            requests: self.requests,
            complete_tasks: self.orphan_tasks,
            delete_timers: self.orphan_timers,
            ..Commit::default()
        };
        let mut wake = Wakeups::default();
        let now = self.now;
        for mut run in self.runs.into_iter().filter(RunTxn::is_dirty) {
            if run.original.as_ref().is_some_and(|r| !r.status.is_closed()) && !run.is_running() {
                wake.closed.insert(run.record.key.workflow_id.clone());
            }
            run.record.state = run.state.0;
            if run.original.is_some() {
                // The optimistic check on the version catches a concurrent write that changed
                // the run's state alone, which the check on `next_event_id` cannot see.
                run.record.version += 1;
            }
            let earliest = wake
                .earliest_timer
                .into_iter()
                .chain(run.timers.iter().map(|t| t.due));
            wake.earliest_timer = earliest.min();
            for task in &run.tasks {
                let queue = (task.queue.clone(), task.key.kind);
                if task.visible_at <= now && task.lease.is_none() {
                    *wake.ready_tasks.entry(queue).or_default() += 1;
                } else {
                    wake.later_tasks.insert(queue);
                }
            }
            move_all(&mut commit.create_tasks, &mut run.tasks);
            move_all(&mut commit.complete_tasks, &mut run.done_tasks);
            move_all(&mut commit.create_timers, &mut run.timers);
            move_all(&mut commit.delete_timers, &mut run.dropped_timers);
            commit.runs.push(RunWrite {
                record: run.record,
                expected_next_event_id: run.expected,
                events: run.events,
            });
        }
        (commit, wake)
    }
}

/// Moves `from`'s items to the end of `into`: by taking the vector when `into` is empty (a
/// batch usually writes one run), so that the commit does not allocate a copy of it.
fn move_all<T>(into: &mut Vec<T>, from: &mut Vec<T>) {
    if into.is_empty() {
        std::mem::swap(into, from);
    } else {
        into.append(from);
    }
}
