//! Workflow tasks: handing one to a worker (poll), and taking back its commands (complete)
//! or its failure (fail).

use super::api::{ActivityTask, WorkflowPoll, WorkflowTask, WorkflowTaskToken};
use super::commands::check_commands;
use super::liveness::Held;
use super::state::Sticky;
use super::txn::{Batch, RunTxn};
use super::waiting_polls::MatchedPoll;
use super::{Service, ServiceError, ServiceResult};
use crate::command::Command;
use crate::failure::{Failure, TimeoutType};
use crate::history::{EventAttributes as E, WorkflowTaskFailedCause};
use crate::ids::{EventId, TaskQueue};
use crate::payload::{self, Payload};
use crate::storage::{RunKey, TaskKey, TaskKind, TimerKind};
use futures::future::{Either, select};
use std::pin::pin;
use std::sync::Arc;

impl Service {
    /// Long-polls `queue` for a workflow task or a query.
    pub(super) async fn poll_workflow_task(
        &self,
        queue: TaskQueue,
        identity: String,
    ) -> ServiceResult<WorkflowPoll> {
        let deadline = self.now().plus(self.config.poll_timeout);
        let notify = self.queue_notify(&queue, TaskKind::Workflow);
        loop {
            // Registered before looking, so a task enqueued meanwhile is not missed.
            let mut notified = pin!(notify.notified());
            notified.as_mut().enable();
            if self.poller_taken_for_dead(&identity) {
                // The wake-up that brought this poll here was meant for a poller that can
                // take the task: pass it on rather than lose it.
                notify.notify_last();
                return Ok(WorkflowPoll::Empty);
            }
            if let Some(query) = self.queries.take_for(&queue) {
                return Ok(WorkflowPoll::Query(Box::new(query)));
            }
            let now = self.now();
            let leased = self
                .storage
                .lease_task(
                    &queue,
                    TaskKind::Workflow,
                    now,
                    &identity,
                    self.poll_lease(&identity),
                )
                .await?;
            if let Some(task) = leased {
                if let Some(task) = self.start_workflow_task(task.key, &identity).await? {
                    return Ok(WorkflowPoll::Task(Box::new(task)));
                }
                continue;
            }
            if now >= deadline {
                return Ok(WorkflowPoll::Empty);
            }
            let next = self
                .storage
                .next_task_time(&queue, TaskKind::Workflow, now)
                .await?;
            let wake_at = next.map_or(deadline, |t| t.min(deadline));
            // While it waits, a commit that schedules a task may start it for this poll.
            let mut waiting = self.waiting_polls.wait(&queue, &identity);
            let matched = {
                let woken = select(notified, self.clock.sleep_until(wake_at));
                match select(pin!(waiting.matched()), woken).await {
                    Either::Left((matched, _)) => Some(matched),
                    Either::Right(_) => None,
                }
            };
            let matched = match matched {
                Some(matched) => matched,
                None => waiting.stop().await,
            };
            if let Some(started) = matched {
                let task = self.workflow_task_of(started).await?;
                return Ok(WorkflowPoll::Task(Box::new(task)));
            }
        }
    }

    /// Records that `identity` started the task `key`, if it is still the run's current task.
    async fn start_workflow_task(&self, key: TaskKey, identity: &str) -> ServiceResult<Option<WorkflowTask>> {
        let started = update!(self, |batch| {
            let Some(i) = self.load_or_forget_task(batch, &key).await? else {
                return Ok(None);
            };
            let run = &mut batch.runs[i];
            run.complete_task(key.clone());
            Ok(self.begin_workflow_task(run, &key, identity))
        })?;
        match started {
            Some(started) => self.workflow_task_of(started).await.map(Some),
            None => Ok(None),
        }
    }

    /// Starts the run's workflow task `key` for `identity` in `run`'s commit, if it is the
    /// run's current task and not started yet: `WorkflowTaskStarted`, its timeout, the sticky
    /// worker, and the handout noted for liveness. The caller has taken care of the task's
    /// row (completed it, or never wrote it).
    pub(super) fn begin_workflow_task(
        &self,
        run: &mut RunTxn,
        key: &TaskKey,
        identity: &str,
    ) -> Option<StartedWorkflowTask> {
        let current = run.state.workflow_task.as_ref().filter(|t| {
            t.scheduled_event_id == key.scheduled_event_id
                && t.attempt == key.attempt
                && t.started_event_id.is_none()
        });
        if !run.is_running() || current.is_none() {
            return None;
        }
        let started_event_id = run.append(E::WorkflowTaskStarted {
            scheduled_event_id: key.scheduled_event_id,
            identity: identity.to_owned(),
        });
        // The sticky worker's name is shared with the task it starts: most tasks go to the
        // run's sticky worker, whose name is then not copied again.
        let (first_event_id, shared_identity) = match &run.state.sticky {
            Some(sticky) if *sticky.identity == *identity => {
                (sticky.next_event_id, Arc::clone(&sticky.identity))
            }
            _ => (EventId::FIRST, Arc::from(identity)),
        };
        let state = &mut *run.state;
        if let Some(task) = state.workflow_task.as_mut() {
            task.started_event_id = Some(started_event_id);
            task.identity = Some(Arc::clone(&shared_identity));
        }
        state.sticky = Some(Sticky {
            identity: shared_identity,
            next_event_id: started_event_id.next(),
        });
        let timeout = state.workflow_task_timeout;
        run.set_timer(
            TimerKind::WorkflowTask {
                scheduled_event_id: key.scheduled_event_id,
                attempt: key.attempt,
            },
            run.now().plus(timeout),
        );
        let token = WorkflowTaskToken {
            run: key.run.clone(),
            scheduled_event_id: key.scheduled_event_id,
            started_event_id,
            attempt: key.attempt,
        };
        self.note_handed(identity, || Held::WorkflowTask(token.clone()));
        Some(StartedWorkflowTask {
            token,
            first_event_id,
            workflow_type: run.record.workflow_type.to_string(),
        })
    }

    /// Starts, in `run`'s commit, the workflow task that commit scheduled, for `identity`,
    /// when `identity` is the run's sticky worker (it has the run cached) and the task is due
    /// now (not a retry after a failure's backoff): the task row is never written, and the
    /// task goes back in the reply of the call that caused it. An activity completion does
    /// this for the worker that asked (`eager_workflow_task`), as a workflow task's
    /// completion starts activities eagerly.
    pub(super) fn start_workflow_task_eagerly(
        &self,
        run: &mut RunTxn,
        identity: &str,
    ) -> Option<StartedWorkflowTask> {
        let sticky = run
            .state
            .sticky
            .as_ref()
            .is_some_and(|s| *s.identity == *identity);
        let task = run.state.workflow_task.as_ref()?;
        if !sticky || task.started_event_id.is_some() {
            return None;
        }
        let key = run.task_key(TaskKind::Workflow, task.scheduled_event_id, task.attempt);
        let now = run.now();
        if !run.forget_created_task_due(&key, now) {
            return None;
        }
        self.begin_workflow_task(run, &key, identity)
    }

    /// Starts, in `batch`'s commit, each workflow task the batch scheduled that is due now
    /// for a poll waiting on its queue; each poll is answered once the commit is decided.
    pub(super) fn start_for_waiting_polls(
        &self,
        batch: &mut Batch,
    ) -> Vec<(MatchedPoll, StartedWorkflowTask)> {
        let mut matched = Vec::new();
        for run in &mut batch.runs {
            let now = run.now();
            if !run.is_running() {
                continue;
            }
            let Some((key, queue)) = run.created_workflow_task_due(now) else {
                continue;
            };
            let sticky = run.state.sticky.as_ref().map(|s| &*s.identity);
            let Some(poll) = self
                .waiting_polls
                .take(queue, sticky, |identity| self.poller_taken_for_dead(identity))
            else {
                continue;
            };
            // The row goes only once the task is started: a task that did not start (and the
            // poll, which then looks again) must stay in the queue.
            if let Some(started) = self.begin_workflow_task(run, &key, &poll.identity) {
                run.forget_created_task_due(&key, now);
                matched.push((poll, started));
            }
        }
        matched
    }

    /// The task a worker gets for a started workflow task: its events from where the worker
    /// is believed to be (read after the start's commit).
    pub(super) async fn workflow_task_of(&self, started: StartedWorkflowTask) -> ServiceResult<WorkflowTask> {
        let StartedWorkflowTask {
            token,
            first_event_id,
            workflow_type,
        } = started;
        let mut events = self.storage.read_events(&token.run, first_event_id).await?;
        events.retain(|e| e.event_id <= token.started_event_id);
        Ok(WorkflowTask {
            token,
            workflow_type,
            events,
            first_event_id,
        })
    }

    /// A worker's commands for a workflow task. `eager` lists the `ScheduleActivity`
    /// commands (by index) whose first attempt the worker will run at once, each with a free
    /// activity slot (Temporal's eager activity execution): those it schedules on the run's
    /// own task queue start in this same commit, and come back as the answer instead of
    /// waiting in the queue for a poll.
    pub(super) async fn complete_workflow_task(
        &self,
        token: WorkflowTaskToken,
        commands: Arc<[Command]>,
        eager: Vec<usize>,
        identity: String,
    ) -> ServiceResult<Vec<ActivityTask>> {
        // Checked once, out of the redo loop; an oversized payload fails the task like a bad
        // command, so that a worker sending it again backs off.
        let oversized = commands.iter().try_for_each(check_command_payloads).err();
        update!(self, |batch| {
            let i = self.current_task_run(batch, &token).await?;
            if let Some(error) = &oversized {
                let cause = WorkflowTaskFailedCause::BadPayload;
                fail_task(
                    &mut batch.runs[i],
                    &token,
                    cause,
                    Failure::new("BadPayload", error.to_string()),
                );
                return Ok(Err(error.clone()));
            }
            if let Err((cause, message)) = check_commands(&batch.runs[i], &commands) {
                fail_task(
                    &mut batch.runs[i],
                    &token,
                    cause,
                    Failure::new(format!("{cause:?}"), message.clone()),
                );
                return Ok(Err(ServiceError::InvalidRequest(message)));
            }
            self.apply_completion(batch, i, &token, &commands, &identity)
                .await?;
            Ok(Ok(self.start_eagerly(
                &mut batch.runs[i],
                &commands,
                &eager,
                &identity,
            )))
        })?
    }

    /// Starts the first attempt of each activity that `commands[eager]` scheduled on the
    /// run's task queue, in place of its task row.
    fn start_eagerly(
        &self,
        run: &mut RunTxn,
        commands: &[Command],
        eager: &[usize],
        identity: &str,
    ) -> Vec<ActivityTask> {
        let mut started = Vec::new();
        if !run.is_running() {
            return started;
        }
        for command in eager.iter().filter_map(|&index| commands.get(index)) {
            let Command::ScheduleActivity { activity_id, .. } = command else {
                continue;
            };
            let scheduled = run.state.activities.iter().find_map(|(scheduled, activity)| {
                let eligible = activity.activity_id == *activity_id
                    && activity.attempt == 1
                    && activity.started.is_none()
                    && activity.task_queue == run.record.task_queue;
                eligible.then_some(*scheduled)
            });
            let Some(scheduled) = scheduled else {
                continue;
            };
            let now = run.now();
            if !run.forget_created_task_due(&run.task_key(TaskKind::Activity, scheduled, 1), now) {
                continue;
            }
            started.extend(self.start_attempt(run, scheduled, 1, identity));
        }
        started
    }

    async fn apply_completion(
        &self,
        batch: &mut Batch,
        i: usize,
        token: &WorkflowTaskToken,
        commands: &[Command],
        identity: &str,
    ) -> ServiceResult<()> {
        let run = &mut batch.runs[i];
        let closes = commands.iter().any(is_terminal);
        if closes && !run.state.buffered.is_empty() {
            // New events arrived while the task ran: the workflow sees them before it may close.
            let message = "new events arrived while the workflow task ran; the workflow must see them first";
            fail_task(
                run,
                token,
                WorkflowTaskFailedCause::UnhandledCommand,
                Failure::new("UnhandledCommand", message),
            );
            return Ok(());
        }
        run.drop_timer(TimerKind::WorkflowTask {
            scheduled_event_id: token.scheduled_event_id,
            attempt: token.attempt,
        });
        run.state.failed_workflow_tasks = 0;
        let completed = run.append(E::WorkflowTaskCompleted {
            scheduled_event_id: token.scheduled_event_id,
            started_event_id: token.started_event_id,
            identity: identity.to_owned(),
        });
        if let Some(sticky) = run.state.sticky.as_mut() {
            sticky.next_event_id = completed;
        }
        // The task stays "started" while its commands apply, so what they cause (a child
        // starting) is buffered and written after all of the task's command events.
        for command in commands {
            self.apply_command(batch, i, completed, command.clone()).await?;
            if !batch.runs[i].is_running() {
                return Ok(());
            }
        }
        let run = &mut batch.runs[i];
        run.state.workflow_task = None;
        if run.flush_buffered() {
            run.schedule_workflow_task();
        }
        Ok(())
    }

    /// A worker could not run a workflow task: record why and schedule another attempt.
    pub(super) async fn fail_workflow_task(
        &self,
        token: WorkflowTaskToken,
        cause: WorkflowTaskFailedCause,
        failure: Failure,
        _identity: String,
    ) -> ServiceResult<()> {
        check_failure(&failure, "workflow task failure")?;
        update!(self, |batch| {
            let i = self.current_task_run(batch, &token).await?;
            fail_task(&mut batch.runs[i], &token, cause, failure.clone());
            Ok(())
        })
    }

    /// Loads the run of `token` and checks the token names its running workflow task.
    async fn current_task_run(&self, batch: &mut Batch, token: &WorkflowTaskToken) -> ServiceResult<usize> {
        let i = self
            .load(batch, &token.run.workflow_id, Some(&token.run.run_id))
            .await?;
        let run = &batch.runs[i];
        let current = run.state.workflow_task.as_ref().is_some_and(|t| {
            t.scheduled_event_id == token.scheduled_event_id
                && t.attempt == token.attempt
                && t.started_event_id == Some(token.started_event_id)
        });
        if !run.is_running() || !current {
            return Err(ServiceError::StaleTask(format!(
                "workflow task {} (attempt {}) of {} is no longer current",
                token.scheduled_event_id,
                token.attempt,
                RunKey::clone(&token.run)
            )));
        }
        Ok(i)
    }
}

/// A workflow task started in a commit, before its events are read for the worker.
pub(super) struct StartedWorkflowTask {
    token: WorkflowTaskToken,
    first_event_id: EventId,
    workflow_type: String,
}

/// The workflow task's start-to-close time is up, or its worker was lost: record the timeout
/// and schedule the task again now, for any worker.
pub(super) fn time_out_workflow_task(
    run: &mut RunTxn,
    scheduled_event_id: EventId,
    started_event_id: EventId,
) {
    run.append(E::WorkflowTaskTimedOut {
        scheduled_event_id,
        started_event_id: Some(started_event_id),
        timeout_type: TimeoutType::StartToClose,
    });
    run.state.workflow_task = None;
    run.state.sticky = None;
    run.flush_buffered();
    run.schedule_workflow_task();
}

/// The worker `identity` was taken for dead while it ran the workflow task `token`: the task
/// times out now, as if its timeout had fired. False (nothing changed) when the token does
/// not name the run's current task as started by `identity`.
pub(super) fn workflow_task_lost(run: &mut RunTxn, token: &WorkflowTaskToken, identity: &str) -> bool {
    let held = run.state.workflow_task.as_ref().is_some_and(|t| {
        t.scheduled_event_id == token.scheduled_event_id
            && t.attempt == token.attempt
            && t.started_event_id == Some(token.started_event_id)
            && t.identity.as_deref() == Some(identity)
    });
    if !held {
        return false;
    }
    run.drop_timer(TimerKind::WorkflowTask {
        scheduled_event_id: token.scheduled_event_id,
        attempt: token.attempt,
    });
    time_out_workflow_task(run, token.scheduled_event_id, token.started_event_id);
    true
}

/// Records a failed workflow task and schedules the next attempt (with backoff).
pub(super) fn fail_task(
    run: &mut RunTxn,
    token: &WorkflowTaskToken,
    cause: WorkflowTaskFailedCause,
    failure: Failure,
) {
    run.drop_timer(TimerKind::WorkflowTask {
        scheduled_event_id: token.scheduled_event_id,
        attempt: token.attempt,
    });
    run.append(E::WorkflowTaskFailed {
        scheduled_event_id: token.scheduled_event_id,
        started_event_id: token.started_event_id,
        cause,
        failure,
    });
    run.state.workflow_task = None;
    run.state.sticky = None;
    // An unhandled command is not the code's fault: retry at once.
    if cause != WorkflowTaskFailedCause::UnhandledCommand {
        run.state.failed_workflow_tasks += 1;
    }
    run.flush_buffered();
    run.schedule_workflow_task();
}

pub(super) fn is_terminal(command: &Command) -> bool {
    matches!(
        command,
        Command::CompleteWorkflow { .. }
            | Command::FailWorkflow { .. }
            | Command::CancelWorkflow
            | Command::ContinueAsNew(_)
    )
}

/// Checks the size of a failure as it would be stored (its details are a payload).
pub(super) fn check_failure(failure: &Failure, what: &str) -> ServiceResult<()> {
    let stored = serde_json::to_value(failure).unwrap_or(serde_json::Value::Null);
    payload::check_size(&stored, || what.to_owned()).map_err(Into::into)
}

fn check_command_payloads(command: &Command) -> ServiceResult<()> {
    let check = |p: &Payload, what: &str| payload::check_size(p, || what.to_owned());
    match command {
        // The names are spelled only for an error: this runs on every command.
        Command::ScheduleActivity {
            input, activity_type, ..
        } => payload::check_size(input, || format!("input of activity `{activity_type}`"))?,
        Command::StartChildWorkflow {
            input, workflow_type, ..
        } => payload::check_size(input, || format!("input of child workflow `{workflow_type}`"))?,
        Command::CompleteWorkflow { result } => check(result, "workflow result")?,
        Command::FailWorkflow { failure } => check_failure(failure, "workflow failure")?,
        Command::ContinueAsNew(next) => check(&next.input, "continue-as-new input")?,
        Command::RecordMarker(crate::history::Marker::SideEffect { value, .. }) => {
            check(value, "side effect value")?
        }
        _ => {}
    }
    Ok(())
}
