//! Event histories: the durable record of a run, their JSON format, validation and a builder.
//!
//! - `event`: the event types and attributes (Temporal's vocabulary).
//! - `json`: the stable JSON format of `docs/history-format.md`, with typed load errors.
//! - `validate`: well-formedness checks (dense ids, references, one terminal event, ...).
//! - `builder`: a small builder for hand-written histories in tests.
//! - `timeline`: the readable rendering used by the CLI and history snapshots.

mod builder;
mod error;
mod event;
mod json;
mod timeline;
mod validate;

pub use builder::HistoryBuilder;
pub use error::HistoryError;
pub use event::{
    EVENT_TYPES, EventAttributes, HistoryEvent, Marker, ParentClosePolicy, ParentExecution, RetryState,
    WorkflowTaskFailedCause,
};
pub use validate::validate;

use crate::ids::{RunId, WorkflowId};
use serde::{Deserialize, Serialize};

/// The history of one run: its ids and its events, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// The workflow id.
    pub workflow_id: WorkflowId,
    /// The run id.
    pub run_id: RunId,
    /// The events, dense from id 1.
    pub events: Vec<HistoryEvent>,
}

impl History {
    /// The workflow type named by the first event, if the history starts as it must.
    pub fn workflow_type(&self) -> Option<&str> {
        match self.events.first().map(|e| &e.attributes) {
            Some(EventAttributes::WorkflowExecutionStarted { workflow_type, .. }) => Some(workflow_type),
            _ => None,
        }
    }

    /// The event that closed the run, if it is closed.
    pub fn terminal_event(&self) -> Option<&HistoryEvent> {
        self.events.last().filter(|e| e.attributes.is_terminal())
    }
}
