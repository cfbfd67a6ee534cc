//! The stable JSON form of a history (`docs/history-format.md`).
//!
//! A document is first read straight into typed events, the fast path for the well-formed
//! histories replay checks load by the thousand. If that fails, it is loaded again in three
//! steps so that every error is typed and names where the problem is:
//! 1. the document's syntax and outer shape (`workflowId`, `runId`, `events`), with serde_json's
//!    line and column;
//! 2. each event on its own: its `eventId`, its `eventType`, then its attributes, so an error
//!    names the event;
//! 3. [`validate`] for the history as a whole (dense ids, references, ...), which the fast
//!    path runs too.

use super::event::EVENT_TYPES;
use super::{History, HistoryError, HistoryEvent, validate};
use crate::ids::{EventId, RunId, WorkflowId};
use crate::limits::{HISTORY_BYTES_MAX, HISTORY_EVENTS_MAX};
use serde::Deserialize;
use serde::de::{self, Deserializer as _, MapAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// The outer shape of a history document, with its events as `E`: typed events for the fast
/// path, raw JSON values to convert (and report on) one by one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHistory<E> {
    workflow_id: WorkflowId,
    run_id: RunId,
    events: Vec<E>,
}

/// Parses the document's syntax and outer shape. Only a JSON object is a history document:
/// serde's derive would also accept the array form `["wf", "run", [...]]`, which is not part of
/// the format.
fn parse_document<E: de::DeserializeOwned>(text: &str) -> Result<RawHistory<E>, serde_json::Error> {
    struct ObjectOnly<E>(std::marker::PhantomData<E>);

    impl<'de, E: de::DeserializeOwned> Visitor<'de> for ObjectOnly<E> {
        type Value = RawHistory<E>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a history document (a JSON object with workflowId, runId and events)")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawHistory<E>, A::Error> {
            RawHistory::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }

    let mut deserializer = serde_json::Deserializer::from_str(text);
    let raw = deserializer.deserialize_map(ObjectOnly(std::marker::PhantomData))?;
    deserializer.end()?;
    Ok(raw)
}

/// A well-formed document's events, read straight into their types: about twice as fast as
/// going through `serde_json::Value`. `None` when anything is off (including what typed
/// reading alone would let through, an `eventId` of 0), so that the slow path finds the
/// problem and names it.
fn parse_typed(text: &str) -> Option<RawHistory<HistoryEvent>> {
    let raw = parse_document::<HistoryEvent>(text).ok()?;
    let ids_positive = raw.events.iter().all(|e| e.event_id.0 > 0);
    (ids_positive && raw.events.len() <= HISTORY_EVENTS_MAX).then_some(raw)
}

impl History {
    /// Loads a history from its JSON form and checks that it is well formed.
    ///
    /// Unknown fields are ignored, so documents written by a later version of the format load.
    ///
    /// # Errors
    ///
    /// - [`HistoryError::TooLarge`] when `text` is over [`HISTORY_BYTES_MAX`] bytes (checked
    ///   before parsing);
    /// - [`HistoryError::Json`] when it is not JSON or not the shape of a history document;
    /// - [`HistoryError::TooManyEvents`] when it has over [`HISTORY_EVENTS_MAX`] events;
    /// - [`HistoryError::Malformed`] or [`HistoryError::UnknownEventType`] for an event that does
    ///   not convert, naming the event;
    /// - any error of [`validate`].
    pub fn from_json(text: &str) -> Result<History, HistoryError> {
        if text.len() > HISTORY_BYTES_MAX {
            return Err(HistoryError::TooLarge {
                bytes: text.len(),
                max: HISTORY_BYTES_MAX,
            });
        }
        if let Some(raw) = parse_typed(text) {
            let history = History {
                workflow_id: raw.workflow_id,
                run_id: raw.run_id,
                events: raw.events,
            };
            validate(&history)?;
            return Ok(history);
        }
        let raw = parse_document::<Value>(text).map_err(json_error)?;
        if raw.events.len() > HISTORY_EVENTS_MAX {
            return Err(HistoryError::TooManyEvents {
                events: raw.events.len(),
                max: HISTORY_EVENTS_MAX,
            });
        }
        let events = raw
            .events
            .iter()
            .enumerate()
            .map(|(index, value)| convert_event(index, value))
            .collect::<Result<Vec<_>, _>>()?;
        let history = History {
            workflow_id: raw.workflow_id,
            run_id: raw.run_id,
            events,
        };
        validate(&history)?;
        Ok(history)
    }

    /// The compact JSON form: one line, no spaces.
    pub fn to_json(&self) -> String {
        to_string_or_error_doc(serde_json::to_string(self))
    }

    /// The pretty JSON form, indented by two spaces: the form fixtures are committed in.
    pub fn to_json_pretty(&self) -> String {
        to_string_or_error_doc(serde_json::to_string_pretty(self))
    }
}

/// A syntax or shape error. serde_json's message ends with the position, which
/// [`HistoryError::Json`] already shows: it is dropped from the message.
fn json_error(e: serde_json::Error) -> HistoryError {
    let message = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    HistoryError::Json {
        line: e.line(),
        column: e.column(),
        message: message.strip_suffix(&position).unwrap_or(&message).to_owned(),
    }
}

/// Serializing a [`History`] cannot fail: serde_json only fails on maps with non-string keys
/// (every map here is a struct or a `serde_json::Map`, keyed by strings) and on `Serialize`
/// impls that return errors (ours never do; non-finite floats are written as `null`). Rather
/// than panic on the impossible, a failure becomes a small JSON document that names it and that
/// [`History::from_json`] refuses (it has no `events`), so it can never be mistaken for a history.
fn to_string_or_error_doc(result: Result<String, serde_json::Error>) -> String {
    result.unwrap_or_else(|e| {
        let mut doc = serde_json::Map::new();
        doc.insert("serializationError".to_owned(), Value::String(e.to_string()));
        Value::Object(doc).to_string()
    })
}

/// Converts the event at `index` of the `events` list.
fn convert_event(index: usize, value: &Value) -> Result<HistoryEvent, HistoryError> {
    let malformed = |event_id, event_type: Option<&str>, message: String| HistoryError::Malformed {
        event_id,
        index,
        event_type: event_type.map(str::to_owned),
        message,
    };
    let Some(object) = value.as_object() else {
        return Err(malformed(
            None,
            None,
            format!("an event must be a JSON object, found {}", kind(value)),
        ));
    };
    // Read before the id so that an error about the id can say which type of event it is on.
    let type_found = object.get("eventType").and_then(Value::as_str);
    let event_id = match object.get("eventId") {
        Some(Value::Number(n)) => n.as_u64().filter(|&id| id > 0).map(EventId),
        _ => None,
    };
    let Some(event_id) = event_id else {
        let message = match object.get("eventId") {
            None => "missing field `eventId`".to_owned(),
            Some(v) => format!("eventId must be a positive integer, found {v}"),
        };
        return Err(malformed(None, type_found, message));
    };
    let event_type = match object.get("eventType") {
        Some(Value::String(t)) => t.as_str(),
        None => {
            return Err(malformed(
                Some(event_id),
                None,
                "missing field `eventType`".to_owned(),
            ));
        }
        Some(v) => {
            let message = format!("eventType must be a string, found {v}");
            return Err(malformed(Some(event_id), None, message));
        }
    };
    if !EVENT_TYPES.contains(&event_type) {
        return Err(HistoryError::UnknownEventType {
            event_id,
            event_type: event_type.to_owned(),
        });
    }
    serde_path_to_error::deserialize::<_, HistoryEvent>(value).map_err(|e| {
        // The attributes are flattened into an internally tagged enum, which serde buffers
        // before deserializing: the path is only known for `eventId` and `eventTime`. Errors in
        // the attributes name the field themselves ("missing field `activityType`") or the
        // offending value.
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path.is_empty() || path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        malformed(Some(event_id), Some(event_type), message)
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
