//! A builder for hand-written histories, for tests and fixtures.

use super::{
    EventAttributes, History, HistoryEvent, Marker, ParentClosePolicy, RetryState, WorkflowTaskFailedCause,
};
use crate::activity::ActivityOptions;
use crate::failure::{Failure, TimeoutType};
use crate::ids::{EventId, RunId, TaskQueue, TimerId, WorkflowId};
use crate::payload::Payload;
use crate::time::Timestamp;
use std::time::Duration;

/// The time of the first event of a built history: 2026-01-01T00:00:00.000Z.
const START_TIME: Timestamp = Timestamp::from_millis(1_767_225_600_000);
/// The task queue of everything the builder schedules.
const TASK_QUEUE: &str = "default";
/// The identity recorded on events that carry one.
const IDENTITY: &str = "history-builder";

/// Builds histories for tests: each method appends events at the builder's clock, with the next
/// event ids, and returns the id of the event a test most likely refers to next.
///
/// The builder writes what it is told: [`build`](HistoryBuilder::build) does not validate, so
/// tests can also build broken histories. Call [`validate`](super::validate) (or round-trip
/// through [`History::from_json`]) to check one.
///
/// Command events (`activity_scheduled`, `timer_started`, `marker`, `complete`, ...) name the
/// last workflow task completed with [`workflow_task`](HistoryBuilder::workflow_task) in their
/// `workflowTaskCompletedEventId` (event id 0 before any), so a well-formed history calls
/// `workflow_task()` right before its commands.
///
/// ```
/// use serde_json::json;
/// use std::time::Duration;
/// use warpflow_engine::History;
/// use warpflow_engine::history::{HistoryBuilder, validate};
///
/// let mut b = HistoryBuilder::new("order", json!({"orderId": 42}).into()); // event 1
/// b.workflow_task(); // events 2-4
/// let charge = b.activity_scheduled("1", "charge_payment", json!("o-42").into()); // event 5
/// b.advance(Duration::from_secs(2));
/// b.activity_completed(charge, json!("chg-42").into()); // events 6-7
/// b.workflow_task(); // events 8-10
/// b.complete(json!("done").into()); // event 11
/// let history = b.build();
///
/// assert_eq!(history.events.len(), 11);
/// assert!(validate(&history).is_ok());
/// assert_eq!(History::from_json(&history.to_json_pretty()), Ok(history));
/// ```
#[derive(Debug, Clone)]
pub struct HistoryBuilder {
    history: History,
    now: Timestamp,
    /// The `WorkflowTaskCompleted` that command events name.
    workflow_task_completed: EventId,
}

impl HistoryBuilder {
    /// A history whose event 1 is `WorkflowExecutionStarted` at 2026-01-01T00:00:00.000Z, for
    /// workflow id `wf-1`, run id `run-1`, task queue `default`, with a 10 s workflow task
    /// timeout and randomness seed 0.
    pub fn new(workflow_type: &str, input: Payload) -> Self {
        let started = HistoryEvent {
            event_id: EventId::FIRST,
            event_time: START_TIME,
            attributes: EventAttributes::WorkflowExecutionStarted {
                workflow_type: workflow_type.to_owned(),
                task_queue: TaskQueue::new(TASK_QUEUE),
                input,
                workflow_task_timeout: Duration::from_secs(10),
                randomness_seed: 0,
                parent: None,
                continued_from_run_id: None,
            },
        };
        HistoryBuilder {
            history: History {
                workflow_id: WorkflowId::new("wf-1"),
                run_id: RunId::new("run-1"),
                events: vec![started],
            },
            now: START_TIME,
            workflow_task_completed: EventId(0),
        }
    }

    /// This builder with other workflow and run ids.
    pub fn with_ids(mut self, workflow_id: impl Into<WorkflowId>, run_id: impl Into<RunId>) -> Self {
        self.history.workflow_id = workflow_id.into();
        self.history.run_id = run_id.into();
        self
    }

    /// This builder with another randomness seed in event 1.
    pub fn with_randomness_seed(mut self, seed: u64) -> Self {
        if let Some(HistoryEvent {
            attributes: EventAttributes::WorkflowExecutionStarted { randomness_seed, .. },
            ..
        }) = self.history.events.first_mut()
        {
            *randomness_seed = seed;
        }
        self
    }

    /// The builder's clock: the time of the next event.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Moves the builder's clock forward.
    pub fn advance(&mut self, d: Duration) -> &mut Self {
        self.now = self.now.plus(d);
        self
    }

    /// Appends an event with the next id at the current time and returns its id.
    pub fn add(&mut self, attributes: EventAttributes) -> EventId {
        let event_id = self.next_id();
        self.history.events.push(HistoryEvent {
            event_id,
            event_time: self.now,
            attributes,
        });
        event_id
    }

    /// A workflow task that ran to completion: `WorkflowTaskScheduled`, `WorkflowTaskStarted`,
    /// `WorkflowTaskCompleted`. Returns the Completed id, which later command events name.
    pub fn workflow_task(&mut self) -> EventId {
        let (scheduled, started) = self.scheduled_and_started();
        let completed = self.add(EventAttributes::WorkflowTaskCompleted {
            scheduled_event_id: scheduled,
            started_event_id: started,
            identity: IDENTITY.to_owned(),
        });
        self.workflow_task_completed = completed;
        completed
    }

    /// A workflow task in flight: `WorkflowTaskScheduled` and `WorkflowTaskStarted`. Returns the
    /// Started id.
    pub fn workflow_task_started(&mut self) -> EventId {
        self.scheduled_and_started().1
    }

    /// A workflow task that timed out: Scheduled, Started, `WorkflowTaskTimedOut`
    /// (start-to-close). Returns the TimedOut id.
    pub fn workflow_task_timed_out(&mut self) -> EventId {
        let (scheduled, started) = self.scheduled_and_started();
        self.add(EventAttributes::WorkflowTaskTimedOut {
            scheduled_event_id: scheduled,
            started_event_id: Some(started),
            timeout_type: TimeoutType::StartToClose,
        })
    }

    /// A workflow task whose code panicked: Scheduled, Started, `WorkflowTaskFailed` with cause
    /// `WorkflowPanic`. Returns the Failed id.
    pub fn workflow_task_failed(&mut self, failure: Failure) -> EventId {
        let (scheduled, started) = self.scheduled_and_started();
        self.add(EventAttributes::WorkflowTaskFailed {
            scheduled_event_id: scheduled,
            started_event_id: started,
            cause: WorkflowTaskFailedCause::WorkflowPanic,
            failure,
        })
    }

    /// `ActivityTaskScheduled` with a 10 s start-to-close timeout on task queue `default`, as a
    /// command of the current workflow task. Returns its id.
    pub fn activity_scheduled(&mut self, activity_id: &str, activity_type: &str, input: Payload) -> EventId {
        let options = ActivityOptions {
            task_queue: Some(TaskQueue::new(TASK_QUEUE)),
            ..ActivityOptions::start_to_close(Duration::from_secs(10))
        };
        self.add(EventAttributes::ActivityTaskScheduled {
            activity_id: activity_id.into(),
            activity_type: activity_type.to_owned().into(),
            input,
            options,
            workflow_task_completed_event_id: self.workflow_task_completed,
        })
    }

    /// `ActivityTaskStarted` (attempt 1), unless the activity has started already, then
    /// `ActivityTaskCompleted`. Returns the Completed id.
    ///
    /// # Panics
    ///
    /// If `scheduled` is not an `ActivityTaskScheduled` event of this history.
    pub fn activity_completed(&mut self, scheduled: EventId, result: Payload) -> EventId {
        let started = self.activity_start(scheduled);
        self.add(EventAttributes::ActivityTaskCompleted {
            scheduled_event_id: scheduled,
            started_event_id: started,
            result,
        })
    }

    /// `ActivityTaskStarted` (attempt 1), unless the activity has started already, then
    /// `ActivityTaskFailed` with retry state `MaximumAttemptsReached`. Returns the Failed id.
    ///
    /// # Panics
    ///
    /// If `scheduled` is not an `ActivityTaskScheduled` event of this history.
    pub fn activity_failed(&mut self, scheduled: EventId, failure: Failure) -> EventId {
        let started = self.activity_start(scheduled);
        self.add(EventAttributes::ActivityTaskFailed {
            scheduled_event_id: scheduled,
            started_event_id: started,
            failure,
            retry_state: RetryState::MaximumAttemptsReached,
        })
    }

    /// `ActivityTaskTimedOut`. For a schedule-to-start timeout the activity never started;
    /// for the other timeouts `ActivityTaskStarted` is added first unless the activity has
    /// started already. The retry state is `Timeout` for schedule-to-close, else
    /// `MaximumAttemptsReached`. Returns the TimedOut id.
    ///
    /// # Panics
    ///
    /// If `scheduled` is not an `ActivityTaskScheduled` event of this history.
    pub fn activity_timed_out(&mut self, scheduled: EventId, timeout: TimeoutType) -> EventId {
        let started = match timeout {
            TimeoutType::ScheduleToStart => {
                self.expect_activity(scheduled);
                None
            }
            _ => Some(self.activity_start(scheduled)),
        };
        let retry_state = match timeout {
            TimeoutType::ScheduleToClose => RetryState::Timeout,
            _ => RetryState::MaximumAttemptsReached,
        };
        self.add(EventAttributes::ActivityTaskTimedOut {
            scheduled_event_id: scheduled,
            started_event_id: started,
            timeout_type: timeout,
            retry_state,
        })
    }

    /// `ActivityTaskCancelRequested`, as a command of the current workflow task. Returns its id.
    ///
    /// # Panics
    ///
    /// If `scheduled` is not an `ActivityTaskScheduled` event of this history.
    pub fn activity_cancel_requested(&mut self, scheduled: EventId) -> EventId {
        self.expect_activity(scheduled);
        self.add(EventAttributes::ActivityTaskCancelRequested {
            scheduled_event_id: scheduled,
            workflow_task_completed_event_id: self.workflow_task_completed,
        })
    }

    /// `ActivityTaskCanceled`, naming the activity's `ActivityTaskStarted` if it started.
    /// Returns its id.
    ///
    /// # Panics
    ///
    /// If `scheduled` is not an `ActivityTaskScheduled` event of this history.
    pub fn activity_canceled(&mut self, scheduled: EventId) -> EventId {
        self.expect_activity(scheduled);
        let started = self.activity_started_event(scheduled);
        self.add(EventAttributes::ActivityTaskCanceled {
            scheduled_event_id: scheduled,
            started_event_id: started,
            details: None,
        })
    }

    /// `TimerStarted`, as a command of the current workflow task. Returns its id.
    pub fn timer_started(&mut self, timer_id: &str, d: Duration) -> EventId {
        self.add(EventAttributes::TimerStarted {
            timer_id: timer_id.into(),
            start_to_fire_timeout: d,
            workflow_task_completed_event_id: self.workflow_task_completed,
        })
    }

    /// `TimerFired` for the timer started by `started`, moving the clock to the fire time if
    /// that is later. Returns its id.
    ///
    /// # Panics
    ///
    /// If `started` is not a `TimerStarted` event of this history.
    pub fn timer_fired(&mut self, started: EventId) -> EventId {
        let (timer_id, fire_time) = self.expect_timer(started);
        self.now = self.now.max(fire_time);
        self.add(EventAttributes::TimerFired {
            timer_id,
            started_event_id: started,
        })
    }

    /// `TimerCanceled` for the timer started by `started`, as a command of the current workflow
    /// task. Returns its id.
    ///
    /// # Panics
    ///
    /// If `started` is not a `TimerStarted` event of this history.
    pub fn timer_canceled(&mut self, started: EventId) -> EventId {
        let (timer_id, _) = self.expect_timer(started);
        self.add(EventAttributes::TimerCanceled {
            timer_id,
            started_event_id: started,
            workflow_task_completed_event_id: self.workflow_task_completed,
        })
    }

    /// `MarkerRecorded`, as a command of the current workflow task. Returns its id.
    pub fn marker(&mut self, marker: Marker) -> EventId {
        self.add(EventAttributes::MarkerRecorded {
            marker,
            workflow_task_completed_event_id: self.workflow_task_completed,
        })
    }

    /// `WorkflowExecutionSignaled`. Returns its id.
    pub fn signal(&mut self, name: &str, input: Payload) -> EventId {
        self.add(EventAttributes::WorkflowExecutionSignaled {
            signal_name: name.to_owned(),
            input,
            identity: IDENTITY.to_owned(),
        })
    }

    /// `WorkflowExecutionCancelRequested`. Returns its id.
    pub fn cancel_requested(&mut self) -> EventId {
        self.add(EventAttributes::WorkflowExecutionCancelRequested {
            cause: "cancellation requested".to_owned(),
            identity: IDENTITY.to_owned(),
        })
    }

    /// `StartChildWorkflowExecutionInitiated` on task queue `default`, parent close policy
    /// `Terminate`, as a command of the current workflow task. Returns its id.
    pub fn child_initiated(&mut self, workflow_id: &str, workflow_type: &str, input: Payload) -> EventId {
        self.add(EventAttributes::StartChildWorkflowExecutionInitiated {
            workflow_id: workflow_id.into(),
            workflow_type: workflow_type.to_owned(),
            task_queue: TaskQueue::new(TASK_QUEUE),
            input,
            parent_close_policy: ParentClosePolicy::Terminate,
            workflow_task_completed_event_id: self.workflow_task_completed,
        })
    }

    /// `ChildWorkflowExecutionStarted` with run id `child-run-<initiated>`. Returns its id.
    ///
    /// # Panics
    ///
    /// If `initiated` is not a `StartChildWorkflowExecutionInitiated` event of this history.
    pub fn child_started(&mut self, initiated: EventId) -> EventId {
        let (workflow_id, workflow_type) = self.expect_child(initiated);
        self.add(EventAttributes::ChildWorkflowExecutionStarted {
            initiated_event_id: initiated,
            workflow_id,
            run_id: RunId::new(format!("child-run-{initiated}")),
            workflow_type,
        })
    }

    /// `ChildWorkflowExecutionStarted`, unless the child has started already, then
    /// `ChildWorkflowExecutionCompleted`. Returns the Completed id.
    ///
    /// # Panics
    ///
    /// If `initiated` is not a `StartChildWorkflowExecutionInitiated` event of this history.
    pub fn child_completed(&mut self, initiated: EventId, result: Payload) -> EventId {
        let started = match self.child_started_event(initiated) {
            Some(started) => started,
            None => self.child_started(initiated),
        };
        self.add(EventAttributes::ChildWorkflowExecutionCompleted {
            initiated_event_id: initiated,
            started_event_id: started,
            result,
        })
    }

    /// `WorkflowExecutionCompleted`, as a command of the current workflow task. Returns its id.
    pub fn complete(&mut self, result: Payload) -> EventId {
        self.add(EventAttributes::WorkflowExecutionCompleted {
            result,
            workflow_task_completed_event_id: self.workflow_task_completed,
        })
    }

    /// `WorkflowExecutionFailed`, as a command of the current workflow task. Returns its id.
    pub fn fail(&mut self, failure: Failure) -> EventId {
        self.add(EventAttributes::WorkflowExecutionFailed {
            failure,
            workflow_task_completed_event_id: self.workflow_task_completed,
        })
    }

    /// The history, as written (not validated).
    pub fn build(self) -> History {
        self.history
    }

    fn next_id(&self) -> EventId {
        self.history
            .events
            .last()
            .map_or(EventId::FIRST, |e| e.event_id.next())
    }

    fn scheduled_and_started(&mut self) -> (EventId, EventId) {
        let scheduled = self.add(EventAttributes::WorkflowTaskScheduled {
            task_queue: TaskQueue::new(TASK_QUEUE),
            start_to_close_timeout: Duration::from_secs(10),
            attempt: 1,
        });
        let started = self.add(EventAttributes::WorkflowTaskStarted {
            scheduled_event_id: scheduled,
            identity: IDENTITY.to_owned(),
        });
        (scheduled, started)
    }

    /// The event with this id.
    fn event(&self, id: EventId, expected: &str) -> &HistoryEvent {
        let found = self.history.events.iter().find(|e| e.event_id == id);
        match found {
            Some(event) => event,
            None => panic!("HistoryBuilder: there is no event {id} (expected {expected})"),
        }
    }

    fn wrong_kind(id: EventId, found: &EventAttributes, expected: &str) -> ! {
        panic!(
            "HistoryBuilder: event {id} is {}, not {expected}",
            found.event_type()
        )
    }

    fn expect_activity(&self, scheduled: EventId) {
        let expected = "ActivityTaskScheduled";
        match &self.event(scheduled, expected).attributes {
            EventAttributes::ActivityTaskScheduled { .. } => {}
            other => Self::wrong_kind(scheduled, other, expected),
        }
    }

    /// The activity's `ActivityTaskStarted`, if it has one.
    fn activity_started_event(&self, scheduled: EventId) -> Option<EventId> {
        self.history.events.iter().find_map(|e| match e.attributes {
            EventAttributes::ActivityTaskStarted {
                scheduled_event_id, ..
            } if scheduled_event_id == scheduled => Some(e.event_id),
            _ => None,
        })
    }

    /// The activity's `ActivityTaskStarted`, added (attempt 1) if it has none.
    fn activity_start(&mut self, scheduled: EventId) -> EventId {
        self.expect_activity(scheduled);
        match self.activity_started_event(scheduled) {
            Some(started) => started,
            None => self.add(EventAttributes::ActivityTaskStarted {
                scheduled_event_id: scheduled,
                attempt: 1,
                identity: IDENTITY.to_owned(),
            }),
        }
    }

    /// The timer id and fire time of the timer started by `started`.
    fn expect_timer(&self, started: EventId) -> (TimerId, Timestamp) {
        let expected = "TimerStarted";
        let event = self.event(started, expected);
        match &event.attributes {
            EventAttributes::TimerStarted {
                timer_id,
                start_to_fire_timeout,
                ..
            } => (timer_id.clone(), event.event_time.plus(*start_to_fire_timeout)),
            other => Self::wrong_kind(started, other, expected),
        }
    }

    /// The workflow id and type of the child initiated by `initiated`.
    fn expect_child(&self, initiated: EventId) -> (WorkflowId, String) {
        let expected = "StartChildWorkflowExecutionInitiated";
        match &self.event(initiated, expected).attributes {
            EventAttributes::StartChildWorkflowExecutionInitiated {
                workflow_id,
                workflow_type,
                ..
            } => (workflow_id.clone(), workflow_type.clone()),
            other => Self::wrong_kind(initiated, other, expected),
        }
    }

    /// The child's `ChildWorkflowExecutionStarted`, if it has one.
    fn child_started_event(&self, initiated: EventId) -> Option<EventId> {
        self.expect_child(initiated);
        self.history.events.iter().find_map(|e| match e.attributes {
            EventAttributes::ChildWorkflowExecutionStarted {
                initiated_event_id, ..
            } if initiated_event_id == initiated => Some(e.event_id),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::validate;
    use serde_json::json;

    fn types(history: &History) -> Vec<&'static str> {
        history.events.iter().map(|e| e.attributes.event_type()).collect()
    }

    #[test]
    fn a_new_builder_starts_the_workflow_at_the_fixed_time() {
        let b = HistoryBuilder::new("order", Payload::from(json!(7)))
            .with_ids("wf-9", "run-9")
            .with_randomness_seed(42);
        assert_eq!(b.now(), Timestamp::from_millis(1_767_225_600_000));
        let history = b.build();
        assert_eq!(
            (history.workflow_id.as_str(), history.run_id.as_str()),
            ("wf-9", "run-9")
        );
        assert_eq!(history.workflow_type(), Some("order"));
        let expected = EventAttributes::WorkflowExecutionStarted {
            workflow_type: "order".into(),
            task_queue: TaskQueue::new("default"),
            input: Payload::from(json!(7)),
            workflow_task_timeout: Duration::from_secs(10),
            randomness_seed: 42,
            parent: None,
            continued_from_run_id: None,
        };
        assert_eq!(history.events[0].attributes, expected);
        assert_eq!(
            history.events[0].event_time.to_string(),
            "2026-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn events_get_dense_ids_and_the_current_time() {
        let mut b = HistoryBuilder::new("w", Payload::null());
        assert_eq!(b.workflow_task(), EventId(4));
        b.advance(Duration::from_millis(1500))
            .advance(Duration::from_millis(500));
        let signal = b.signal("s", Payload::from(json!(1)));
        assert_eq!(signal, EventId(5));
        let history = b.build();
        let ids: Vec<u64> = history.events.iter().map(|e| e.event_id.0).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert_eq!(
            history.events[4].event_time,
            START_TIME.plus(Duration::from_secs(2))
        );
    }

    #[test]
    fn commands_name_the_latest_completed_workflow_task() {
        let mut b = HistoryBuilder::new("w", Payload::null());
        b.workflow_task();
        b.signal("s", Payload::null());
        let completed = b.workflow_task();
        let timer = b.timer_started("1", Duration::from_secs(1));
        let history = b.build();
        let EventAttributes::TimerStarted {
            workflow_task_completed_event_id,
            ..
        } = &history.events[timer.0 as usize - 1].attributes
        else {
            panic!("expected TimerStarted")
        };
        assert_eq!(*workflow_task_completed_event_id, completed);
        assert_eq!(validate(&history), Ok(()));
    }

    #[test]
    fn workflow_task_outcomes() {
        let mut b = HistoryBuilder::new("w", Payload::null());
        assert_eq!(b.workflow_task_timed_out(), EventId(4));
        assert_eq!(b.workflow_task_failed(Failure::new("Panic", "x")), EventId(7));
        assert_eq!(b.workflow_task_started(), EventId(9));
        let history = b.build();
        assert_eq!(
            types(&history)[1..],
            [
                "WorkflowTaskScheduled",
                "WorkflowTaskStarted",
                "WorkflowTaskTimedOut",
                "WorkflowTaskScheduled",
                "WorkflowTaskStarted",
                "WorkflowTaskFailed",
                "WorkflowTaskScheduled",
                "WorkflowTaskStarted",
            ]
        );
        assert_eq!(validate(&history), Ok(()));
    }

    #[test]
    fn activity_outcomes_add_a_start_only_when_there_is_none() {
        let mut b = HistoryBuilder::new("w", Payload::null());
        b.workflow_task();
        let a = b.activity_scheduled("1", "a", Payload::null());
        let t = b.activity_scheduled("2", "t", Payload::null());
        let c = b.activity_scheduled("3", "c", Payload::null());
        b.activity_cancel_requested(c);
        b.activity_completed(a, Payload::from(json!(1)));
        b.activity_timed_out(t, TimeoutType::ScheduleToStart);
        b.activity_canceled(c);
        let history = b.build();
        assert_eq!(
            types(&history)[8..],
            [
                "ActivityTaskStarted",
                "ActivityTaskCompleted",
                "ActivityTaskTimedOut",
                "ActivityTaskCanceled"
            ]
        );
        assert_eq!(validate(&history), Ok(()));

        let mut b = HistoryBuilder::new("w", Payload::null());
        b.workflow_task();
        let a = b.activity_scheduled("1", "a", Payload::null());
        b.activity_completed(a, Payload::from(json!(1)));
        let again = b.activity_failed(a, Failure::new("X", "x"));
        let history = b.build();
        let EventAttributes::ActivityTaskFailed { started_event_id, .. } =
            history.events[again.0 as usize - 1].attributes
        else {
            panic!("expected ActivityTaskFailed")
        };
        assert_eq!(started_event_id, EventId(6), "the existing start is reused");
    }

    #[test]
    fn a_fired_timer_moves_the_clock_to_its_fire_time_if_later() {
        let mut b = HistoryBuilder::new("w", Payload::null());
        b.workflow_task();
        let t = b.timer_started("1", Duration::from_secs(60));
        let short = b.timer_started("2", Duration::from_secs(1));
        b.advance(Duration::from_secs(10));
        b.timer_fired(short);
        assert_eq!(
            b.now(),
            START_TIME.plus(Duration::from_secs(10)),
            "fire time already passed"
        );
        b.timer_fired(t);
        assert_eq!(b.now(), START_TIME.plus(Duration::from_secs(60)));
        assert_eq!(validate(&b.build()), Ok(()));
    }

    #[test]
    fn children_start_with_a_derived_run_id() {
        let mut b = HistoryBuilder::new("w", Payload::null());
        b.workflow_task();
        let child = b.child_initiated("c-1", "child", Payload::null());
        let completed = b.child_completed(child, Payload::from("ok"));
        let history = b.build();
        let EventAttributes::ChildWorkflowExecutionStarted {
            run_id, workflow_id, ..
        } = &history.events[completed.0 as usize - 2].attributes
        else {
            panic!("expected ChildWorkflowExecutionStarted")
        };
        assert_eq!((workflow_id.as_str(), run_id.as_str()), ("c-1", "child-run-5"));
        assert_eq!(validate(&history), Ok(()));
    }

    #[test]
    #[should_panic(expected = "event 4 is WorkflowTaskCompleted, not ActivityTaskScheduled")]
    fn an_event_of_the_wrong_kind_is_a_programmer_error() {
        let mut b = HistoryBuilder::new("w", Payload::null());
        let completed = b.workflow_task();
        b.activity_completed(completed, Payload::null());
    }

    #[test]
    #[should_panic(expected = "there is no event 9")]
    fn a_missing_event_is_a_programmer_error() {
        let mut b = HistoryBuilder::new("w", Payload::null());
        b.timer_fired(EventId(9));
    }
}
