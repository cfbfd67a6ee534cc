//! What can be wrong with a history: each variant names the event and the problem, so a user
//! holding a broken fixture knows where to look.

use crate::ids::EventId;

/// A history that cannot be loaded or is not well formed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The text is not JSON, or not the shape of a history document.
    #[error("history JSON is malformed at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// The document is larger than the limit.
    #[error("history is {bytes} bytes, over the limit of {max} bytes")]
    TooLarge {
        /// Size of the document.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The history has more events than the limit.
    #[error("history has {events} events, over the limit of {max}")]
    TooManyEvents {
        /// Number of events.
        events: usize,
        /// The limit.
        max: usize,
    },
    /// The history has no events.
    #[error("history has no events: it must start with WorkflowExecutionStarted")]
    Empty,
    /// An event's `eventType` is not one of the format's types.
    #[error("event {event_id}: unknown eventType {event_type:?}")]
    UnknownEventType {
        /// The event.
        event_id: EventId,
        /// The type found.
        event_type: String,
    },
    /// An event is missing an attribute, or an attribute has the wrong type.
    #[error("event {} (#{index} in the list){}: {message}", fmt_opt_id(.event_id), fmt_opt_type(.event_type))]
    Malformed {
        /// The event's id, when it could be read.
        event_id: Option<EventId>,
        /// 0-based position of the event in the `events` list.
        index: usize,
        /// The event's type, when it could be read.
        event_type: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The first event is not `WorkflowExecutionStarted`.
    #[error("event {event_id} is {event_type}: a history must start with WorkflowExecutionStarted")]
    FirstEventNotStarted {
        /// The first event.
        event_id: EventId,
        /// Its type.
        event_type: String,
    },
    /// Event ids are not dense from 1.
    #[error("event #{index} in the list has eventId {found}, expected {expected} (ids are dense from 1)")]
    EventIdGap {
        /// 0-based position in the list.
        index: usize,
        /// The id it should have.
        expected: EventId,
        /// The id it has.
        found: EventId,
    },
    /// An event's time is earlier than the previous event's.
    #[error("event {event_id}: eventTime {time} is before the previous event's {previous}")]
    TimeWentBackwards {
        /// The event.
        event_id: EventId,
        /// Its time.
        time: String,
        /// The previous event's time.
        previous: String,
    },
    /// An event follows the event that closed the run.
    #[error("event {event_id} ({event_type}) follows event {closed_by}, which closed the run")]
    EventAfterClose {
        /// The event after the close.
        event_id: EventId,
        /// Its type.
        event_type: String,
        /// The terminal event.
        closed_by: EventId,
    },
    /// An event refers to an event or id that does not exist or has the wrong type.
    #[error("event {event_id} ({event_type}): {field} {referenced} does not name {expected}")]
    DanglingReference {
        /// The referring event.
        event_id: EventId,
        /// Its type.
        event_type: String,
        /// The attribute that refers (`scheduledEventId`, `timerId`, ...).
        field: &'static str,
        /// The value of that attribute.
        referenced: String,
        /// What it should name ("an earlier ActivityTaskScheduled event").
        expected: &'static str,
    },
    /// A second outcome for something that already had one (a second completion of an
    /// activity, a timer fired twice).
    #[error("event {event_id} ({event_type}): {what} was already closed by event {closed_by}")]
    AlreadyClosed {
        /// The duplicate outcome.
        event_id: EventId,
        /// Its type.
        event_type: String,
        /// The activity, timer or child it closes.
        what: String,
        /// The event that closed it first.
        closed_by: EventId,
    },
    /// An id that must be unique is already in use: an `activityId` or `timerId` of an activity
    /// or timer that is still open, or a second start of the same activity or child workflow.
    #[error("event {event_id} ({event_type}): {field} {value} is already used by event {used_by}")]
    DuplicateId {
        /// The event that reuses the id.
        event_id: EventId,
        /// Its type.
        event_type: String,
        /// The attribute holding the id (`activityId`, `timerId`, `scheduledEventId`, ...).
        field: &'static str,
        /// The id.
        value: String,
        /// The earlier event that holds it.
        used_by: EventId,
    },
    /// A command event (`ActivityTaskScheduled`, `TimerStarted`, ...) that does not directly
    /// follow a `WorkflowTaskCompleted` and its other commands.
    #[error("event {event_id} ({event_type}) is a command event but does not follow a WorkflowTaskCompleted")]
    CommandOutsideWorkflowTask {
        /// The event.
        event_id: EventId,
        /// Its type.
        event_type: String,
    },
    /// Workflow-task events out of their Scheduled → Started → Completed/Failed/TimedOut order.
    #[error("event {event_id} ({event_type}): {problem}")]
    WorkflowTaskOrder {
        /// The event.
        event_id: EventId,
        /// Its type.
        event_type: String,
        /// What is out of order.
        problem: String,
    },
}

fn fmt_opt_id(id: &Option<EventId>) -> String {
    id.map_or_else(|| "?".to_owned(), |id| id.to_string())
}

fn fmt_opt_type(t: &Option<String>) -> String {
    t.as_ref().map_or_else(String::new, |t| format!(" ({t})"))
}
