//! Activity tasks: handing an attempt to a worker, its heartbeats, its outcome, and the
//! retry policy deciding between another attempt and a final event. Attempts are not history
//! events: only the final attempt's `ActivityTaskStarted` is written, with the outcome.

use super::api::{ActivityTask, ActivityTaskToken, WorkflowTask};
use super::close::{drop_activity_work, drop_attempt_timers};
use super::commands::activity_timer;
use super::liveness::{Held, LostBecause};
use super::state::{ActivityFinal, Incoming};
use super::txn::{Batch, RunTxn};
use super::{Service, ServiceError, ServiceResult};
use crate::failure::{ActivityError, Failure, TimeoutType};
use crate::history::RetryState;
use crate::ids::{EventId, TaskQueue};
use crate::payload::{self, Payload};
use crate::storage::{TaskKey, TaskKind, TimeoutTypeKey};
use futures::future::select;
use std::pin::pin;
use std::sync::Arc;

/// The error type of an attempt lost with its worker (retryable; a retry policy may list it
/// as non-retryable).
pub const WORKER_LOST: &str = "WorkerLost";

impl Service {
    /// Long-polls `queue` for an activity attempt.
    pub(super) async fn poll_activity_task(
        &self,
        queue: TaskQueue,
        identity: String,
    ) -> ServiceResult<Option<ActivityTask>> {
        let deadline = self.now().plus(self.config.poll_timeout);
        let notify = self.queue_notify(&queue, TaskKind::Activity);
        loop {
            let mut notified = pin!(notify.notified());
            notified.as_mut().enable();
            if self.poller_taken_for_dead(&identity) {
                // The wake-up that brought this poll here was meant for a poller that can
                // take the task: pass it on rather than lose it.
                notify.notify_last();
                return Ok(None);
            }
            let now = self.now();
            let leased = self
                .storage
                .lease_task(
                    &queue,
                    TaskKind::Activity,
                    now,
                    &identity,
                    self.poll_lease(&identity),
                )
                .await?;
            if let Some(task) = leased {
                if let Some(task) = self.start_activity_task(task.key, &identity).await? {
                    return Ok(Some(task));
                }
                continue;
            }
            if now >= deadline {
                return Ok(None);
            }
            let next = self
                .storage
                .next_task_time(&queue, TaskKind::Activity, now)
                .await?;
            let wake_at = next.map_or(deadline, |t| t.min(deadline));
            let _ = select(notified, self.clock.sleep_until(wake_at)).await;
        }
    }

    async fn start_activity_task(&self, key: TaskKey, identity: &str) -> ServiceResult<Option<ActivityTask>> {
        update!(self, |batch| {
            let Some(i) = self.load_or_forget_task(batch, &key).await? else {
                return Ok(None);
            };
            let run = &mut batch.runs[i];
            run.complete_task(key.clone());
            Ok(self.start_attempt(run, key.scheduled_event_id, key.attempt, identity))
        })
    }

    /// Starts `attempt` of the activity scheduled by `scheduled_event_id` for `identity`, if
    /// it is the activity's current attempt and not started yet: its start-to-close and
    /// heartbeat timers are set and the handout is noted for liveness. The caller has taken
    /// care of the attempt's task row (completed it, or never wrote it).
    pub(super) fn start_attempt(
        &self,
        run: &mut RunTxn,
        scheduled_event_id: EventId,
        attempt: u32,
        identity: &str,
    ) -> Option<ActivityTask> {
        let now = run.now();
        let running = run.is_running();
        let activity = run.state.activities.get_mut(&scheduled_event_id)?;
        if !running || activity.attempt != attempt || activity.started.is_some() {
            return None;
        }
        activity.started = Some((now, identity.to_owned()));
        let task = ActivityTask {
            token: ActivityTaskToken {
                run: run.record.key.clone(),
                scheduled_event_id,
                attempt,
            },
            workflow_type: run.record.workflow_type.to_string(),
            activity_id: activity.activity_id.clone(),
            activity_type: activity.activity_type.to_string(),
            input: Payload::clone(&activity.input),
            task_queue: activity.task_queue.clone(),
            scheduled_time: activity.scheduled_time,
            started_time: now,
            heartbeat_timeout: activity.options.heartbeat_timeout,
            previous_heartbeat: activity.heartbeat_details.clone(),
        };
        let (start_to_close, heartbeat, schedule_to_start) = (
            activity.options.start_to_close_timeout,
            activity.options.heartbeat_timeout,
            activity.options.schedule_to_start_timeout,
        );
        // Only a timer the options set is looked for: each removal is a storage search.
        if schedule_to_start.is_some() {
            run.drop_timer(activity_timer(
                scheduled_event_id,
                attempt,
                TimeoutTypeKey::ScheduleToStart,
            ));
        }
        if let Some(timeout) = start_to_close {
            run.set_timer(
                activity_timer(scheduled_event_id, attempt, TimeoutTypeKey::StartToClose),
                now.plus(timeout),
            );
        }
        if let Some(timeout) = heartbeat {
            run.set_timer(
                activity_timer(scheduled_event_id, attempt, TimeoutTypeKey::Heartbeat),
                now.plus(timeout),
            );
        }
        self.note_handed(identity, || Held::Activity(task.token.clone()));
        Some(task)
    }

    /// Loads the run of a task; a task whose run is gone is removed.
    pub(super) async fn load_or_forget_task(
        &self,
        batch: &mut Batch,
        key: &TaskKey,
    ) -> ServiceResult<Option<usize>> {
        match self
            .load(batch, &key.run.workflow_id, Some(&key.run.run_id))
            .await
        {
            Ok(i) => Ok(Some(i)),
            Err(ServiceError::WorkflowNotFound { .. }) => {
                batch.orphan_tasks.push(key.clone());
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Records a heartbeat; answers whether the workflow asked the activity to stop.
    pub(super) async fn heartbeat(&self, token: ActivityTaskToken, details: Payload) -> ServiceResult<bool> {
        payload::check_size(&details, || "heartbeat details".to_owned())?;
        update!(self, |batch| {
            let i = self.current_attempt(batch, &token).await?;
            let run = &mut batch.runs[i];
            let now = run.now();
            let Some(activity) = run.state.activities.get_mut(&token.scheduled_event_id) else {
                return Err(stale(&token));
            };
            activity.heartbeat_details = Some(details.clone());
            let cancel_requested = activity.cancel_requested;
            if let Some(timeout) = activity.options.heartbeat_timeout {
                let kind = activity_timer(token.scheduled_event_id, token.attempt, TimeoutTypeKey::Heartbeat);
                run.set_timer(kind, now.plus(timeout));
            }
            Ok(cancel_requested)
        })
    }

    /// Records an attempt's outcome: the final result, or a retry per the policy. With
    /// `eager_workflow_task` (the worker has a free workflow-task slot), the workflow task
    /// the outcome schedules starts in the same commit if `identity` is the run's sticky
    /// worker, and is the answer.
    pub(super) async fn complete_activity_task(
        &self,
        token: ActivityTaskToken,
        outcome: Result<Payload, ActivityError>,
        eager_workflow_task: bool,
        identity: String,
    ) -> ServiceResult<Option<WorkflowTask>> {
        match &outcome {
            Ok(result) => payload::check_size(result, || "activity result".to_owned())?,
            Err(ActivityError::Application(failure)) => {
                super::workflow_task::check_failure(failure, "activity failure")?
            }
            Err(ActivityError::InvalidOptions(message)) => {
                payload::check_size(&serde_json::Value::String(message.clone()), || {
                    "activity failure".to_owned()
                })?
            }
            Err(ActivityError::TimedOut(_) | ActivityError::Cancelled) => {}
        }
        let started = update!(self, |batch| {
            let i = self.current_attempt(batch, &token).await?;
            let run = &mut batch.runs[i];
            let scheduled = token.scheduled_event_id;
            let cancel_requested = run
                .state
                .activities
                .get(&scheduled)
                .is_some_and(|a| a.cancel_requested);
            match outcome.clone() {
                Ok(result) => finish(run, scheduled, &identity, true, ActivityFinal::Completed(result)),
                Err(_) if cancel_requested => {
                    finish(run, scheduled, &identity, true, ActivityFinal::Canceled)
                }
                Err(ActivityError::Cancelled) => {
                    finish(run, scheduled, &identity, true, ActivityFinal::Canceled)
                }
                Err(error) => retry_or_finish(run, scheduled, &identity, error),
            }
            Ok(eager_workflow_task
                .then(|| self.start_workflow_task_eagerly(run, &identity))
                .flatten())
        })?;
        match started {
            Some(started) => self.workflow_task_of(started).await.map(Some),
            None => Ok(None),
        }
    }

    /// Loads the run of `token` and checks the token names the activity's running attempt.
    async fn current_attempt(&self, batch: &mut Batch, token: &ActivityTaskToken) -> ServiceResult<usize> {
        let i = self
            .load(batch, &token.run.workflow_id, Some(&token.run.run_id))
            .await?;
        let run = &batch.runs[i];
        let current = run
            .state
            .activities
            .get(&token.scheduled_event_id)
            .is_some_and(|a| a.attempt == token.attempt && a.started.is_some());
        if !run.is_running() || !current {
            return Err(stale(token));
        }
        Ok(i)
    }
}

fn stale(token: &ActivityTaskToken) -> ServiceError {
    ServiceError::StaleTask(format!(
        "activity {} attempt {} of {} is no longer running",
        token.scheduled_event_id, token.attempt, token.run
    ))
}

/// The activity is done: its state and timers go, its outcome reaches the workflow.
pub(super) fn finish(
    run: &mut RunTxn,
    scheduled_event_id: EventId,
    identity: &str,
    started: bool,
    outcome: ActivityFinal,
) {
    let Some(activity) = run.state.activities.remove(&scheduled_event_id) else {
        return;
    };
    drop_activity_work(run, scheduled_event_id, &activity);
    let identity = activity
        .started
        .map(|(_, who)| who)
        .unwrap_or_else(|| identity.to_owned());
    run.add_incoming(Incoming::Activity {
        scheduled_event_id,
        activity_id: Some(activity.activity_id),
        attempt: activity.attempt,
        identity,
        started,
        outcome,
    });
}

/// When the next attempt of an activity may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NextAttempt {
    /// After the retry policy's backoff: the attempt failed.
    AfterBackoff,
    /// At once: the attempt's worker was lost, the activity itself did not fail.
    Now,
}

/// An attempt failed or timed out: schedule the next attempt after the policy's backoff, or
/// finish the activity when the policy, the error or the schedule-to-close budget says so.
pub(super) fn retry_or_finish(
    run: &mut RunTxn,
    scheduled_event_id: EventId,
    identity: &str,
    error: ActivityError,
) {
    end_attempt(
        run,
        scheduled_event_id,
        identity,
        error,
        NextAttempt::AfterBackoff,
    );
}

/// The worker `identity` was taken for dead while it ran the attempt `token`: the attempt
/// fails with `WorkerLost` and, if the policy allows another, the next one is scheduled at
/// once. It counts as an attempt. False (nothing changed) when the token does not name the
/// activity's current attempt as started by `identity`.
pub(super) fn attempt_lost(
    run: &mut RunTxn,
    token: &ActivityTaskToken,
    identity: &str,
    because: LostBecause,
) -> bool {
    let held = run
        .state
        .activities
        .get(&token.scheduled_event_id)
        .is_some_and(|a| {
            a.attempt == token.attempt && a.started.as_ref().is_some_and(|(_, who)| who == identity)
        });
    if !held {
        return false;
    }
    let failure = Failure::new(
        WORKER_LOST,
        format!(
            "attempt {} of activity {} in {} was lost with worker `{identity}`: {}",
            token.attempt,
            token.scheduled_event_id,
            token.run,
            because.describe()
        ),
    );
    end_attempt(
        run,
        token.scheduled_event_id,
        identity,
        ActivityError::Application(failure),
        NextAttempt::Now,
    );
    true
}

fn end_attempt(
    run: &mut RunTxn,
    scheduled_event_id: EventId,
    identity: &str,
    error: ActivityError,
    next: NextAttempt,
) {
    let now = run.now();
    let Some(activity) = run.state.activities.get(&scheduled_event_id) else {
        return;
    };
    let policy = &activity.options.retry_policy;
    let attempt = activity.attempt;
    let delay = match next {
        NextAttempt::AfterBackoff => policy.delay_after_attempt(attempt),
        NextAttempt::Now => std::time::Duration::ZERO,
    };
    let next_start = now.plus(delay);
    let in_budget = activity
        .options
        .schedule_to_close_timeout
        .is_none_or(|budget| next_start < activity.scheduled_time.plus(budget));
    let started = activity.started.is_some();
    // An activity the workflow asked to cancel is not tried again (Temporal's rule).
    let cancel_requested = activity.cancel_requested;
    if policy.allows_retry(attempt, &error) && in_budget && !cancel_requested {
        let queue = activity.task_queue.clone();
        let schedule_to_start = activity.options.schedule_to_start_timeout;
        let options = Arc::clone(&activity.options);
        drop_attempt_timers(run, scheduled_event_id, attempt, &options);
        if let Some(activity) = run.state.activities.get_mut(&scheduled_event_id) {
            activity.attempt += 1;
            activity.started = None;
            activity.last_failure = Some(failure_of(&error));
        }
        run.create_task(
            TaskKind::Activity,
            scheduled_event_id,
            attempt + 1,
            queue,
            next_start,
        );
        if let Some(timeout) = schedule_to_start {
            let kind = activity_timer(scheduled_event_id, attempt + 1, TimeoutTypeKey::ScheduleToStart);
            run.set_timer(kind, next_start.plus(timeout));
        }
        return;
    }
    // Temporal's order: cancellation, a non-retryable error, attempts, then the budget.
    let retry_state = match &error {
        _ if cancel_requested => RetryState::CancelRequested,
        ActivityError::Application(f)
            if f.non_retryable || policy.non_retryable_error_types.contains(&f.error_type) =>
        {
            RetryState::NonRetryableFailure
        }
        ActivityError::InvalidOptions(_) | ActivityError::Cancelled => RetryState::NonRetryableFailure,
        _ if policy.maximum_attempts != 0 && attempt >= policy.maximum_attempts => {
            RetryState::MaximumAttemptsReached
        }
        _ if !in_budget => RetryState::Timeout,
        _ => RetryState::MaximumAttemptsReached,
    };
    let outcome = match error {
        ActivityError::TimedOut(timeout) => ActivityFinal::TimedOut(timeout, retry_state),
        other => ActivityFinal::Failed(failure_of(&other), retry_state),
    };
    finish(run, scheduled_event_id, identity, started, outcome);
}

fn failure_of(error: &ActivityError) -> Failure {
    match error {
        ActivityError::Application(f) => f.clone(),
        ActivityError::TimedOut(t) => Failure::new("ActivityTimeout", format!("activity timed out ({t})")),
        ActivityError::Cancelled => Failure::new("Cancelled", "activity was cancelled"),
        ActivityError::InvalidOptions(m) => Failure {
            non_retryable: true,
            ..Failure::new("InvalidOptions", m.clone())
        },
    }
}

/// The timeout of an activity attempt fired (see `timers.rs`).
pub(super) fn attempt_timed_out(
    run: &mut RunTxn,
    scheduled_event_id: EventId,
    attempt: u32,
    timeout: TimeoutTypeKey,
) {
    let Some(activity) = run.state.activities.get(&scheduled_event_id) else {
        return;
    };
    let started = activity.started.is_some();
    match timeout {
        TimeoutTypeKey::ScheduleToClose => {
            let outcome = ActivityFinal::TimedOut(TimeoutType::ScheduleToClose, RetryState::Timeout);
            finish(run, scheduled_event_id, "", started, outcome);
        }
        // Not retried, as in Temporal: no worker is taking tasks from the queue.
        TimeoutTypeKey::ScheduleToStart if activity.attempt == attempt && !started => {
            let outcome = ActivityFinal::TimedOut(TimeoutType::ScheduleToStart, RetryState::Timeout);
            finish(run, scheduled_event_id, "", false, outcome);
        }
        TimeoutTypeKey::StartToClose | TimeoutTypeKey::Heartbeat
            if activity.attempt == attempt && started =>
        {
            retry_or_finish(
                run,
                scheduled_event_id,
                "",
                ActivityError::TimedOut(timeout.into()),
            );
        }
        _ => {}
    }
}
