//! The history JSON format: exact round trips, and one typed error per kind of broken input.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use warpflow_engine::Payload;
use warpflow_engine::history::{
    EVENT_TYPES, HistoryBuilder, Marker, ParentExecution, RetryState, WorkflowTaskFailedCause, validate,
};
use warpflow_engine::limits::{HISTORY_BYTES_MAX, HISTORY_EVENTS_MAX};
use warpflow_engine::{
    ActivityOptions, EventAttributes, EventId, Failure, History, HistoryError, RetryPolicy, RunId,
    TimeoutType,
};

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A builder whose history holds every non-terminal event type, ending with command events of
/// an open workflow task so that any terminal event can follow.
fn every_non_terminal_event() -> HistoryBuilder {
    let mut b = HistoryBuilder::new(
        "everything",
        Payload::from(json!({"n": 1, "tags": ["a", "b"], "ratio": 0.5})),
    )
    .with_ids("wf-all", "run-all")
    .with_randomness_seed(u64::MAX);
    b.workflow_task_timed_out();
    let scheduled = b.add(EventAttributes::WorkflowTaskScheduled {
        task_queue: "default".into(),
        start_to_close_timeout: Duration::from_millis(250),
        attempt: 2,
    });
    b.add(EventAttributes::WorkflowTaskTimedOut {
        scheduled_event_id: scheduled,
        started_event_id: None,
        timeout_type: TimeoutType::ScheduleToStart,
    });
    b.workflow_task_failed(Failure {
        details: Some(Payload::from(json!({"backtrace": "main.rs:1"}))),
        ..Failure::new("Panic", "index out of bounds")
    });
    let completed = b.workflow_task();

    let a1 = b.activity_scheduled("1", "charge", Payload::from("o-1"));
    let a2 = b.add(EventAttributes::ActivityTaskScheduled {
        activity_id: "2".into(),
        activity_type: "ship".into(),
        input: Payload::null(),
        options: ActivityOptions {
            task_queue: None,
            start_to_close_timeout: Some(Duration::from_millis(1500)),
            schedule_to_close_timeout: Some(Duration::from_secs(86_400)),
            schedule_to_start_timeout: Some(Duration::from_secs(60)),
            heartbeat_timeout: Some(Duration::from_millis(250)),
            retry_policy: RetryPolicy::default()
                .with_maximum_attempts(5)
                .with_backoff_coefficient(1.5)
                .with_maximum_interval(Duration::from_secs(30)),
        },
        workflow_task_completed_event_id: completed,
    });
    let a3 = b.activity_scheduled("3", "email", Payload::from(json!({"to": "x@example.com"})));
    let a4 = b.activity_scheduled("4", "email", Payload::from(json!([])));
    let a5 = b.activity_scheduled("5", "slow", Payload::from(json!(-7)));
    let t1 = b.timer_started("1", Duration::from_secs(30));
    let t2 = b.timer_started("2", Duration::from_secs(3600));
    b.marker(Marker::Patch {
        patch_id: "v2-shipping".into(),
        deprecated: true,
    });
    b.marker(Marker::SideEffect {
        side_effect_id: 0,
        value: Payload::from(json!({"uuid": "0f0e"})),
    });
    let children: Vec<EventId> = (1..=6)
        .map(|i| b.child_initiated(&format!("child-{i}"), "child", Payload::from(json!(i))))
        .collect();
    let cancel_external = |b: &mut HistoryBuilder, child_only| {
        b.add(EventAttributes::RequestCancelExternalWorkflowExecutionInitiated {
            workflow_id: "other".into(),
            child_workflow_only: child_only,
            workflow_task_completed_event_id: completed,
        })
    };
    let r1 = cancel_external(&mut b, false);
    let r2 = cancel_external(&mut b, true);
    b.activity_cancel_requested(a5);

    b.advance(Duration::from_millis(1));
    b.activity_completed(a1, Payload::from(json!({"charge": "chg-1"})));
    b.activity_failed(a2, Failure::new("CardDeclined", "declined"));
    b.activity_timed_out(a3, TimeoutType::StartToClose);
    b.activity_timed_out(a4, TimeoutType::ScheduleToStart);
    let a5_started = b.add(EventAttributes::ActivityTaskStarted {
        scheduled_event_id: a5,
        attempt: 3,
        identity: "worker-2".into(),
    });
    b.add(EventAttributes::ActivityTaskCanceled {
        scheduled_event_id: a5,
        started_event_id: Some(a5_started),
        details: Some(Payload::from("stopped")),
    });
    b.timer_fired(t1);
    b.signal("approve", Payload::from(json!({"by": "ann"})));
    b.cancel_requested();
    child_outcomes(&mut b, &children);
    b.add(EventAttributes::ExternalWorkflowExecutionCancelRequested {
        initiated_event_id: r1,
        workflow_id: "other".into(),
    });
    b.add(EventAttributes::RequestCancelExternalWorkflowExecutionFailed {
        initiated_event_id: r2,
        workflow_id: "other".into(),
        cause: "not found".into(),
    });
    b.workflow_task();
    b.timer_canceled(t2);
    b
}

/// The id of the last `WorkflowTaskCompleted` added so far.
fn last_completed_task(b: &HistoryBuilder) -> EventId {
    let history = b.clone().build();
    let completed = history
        .events
        .iter()
        .rev()
        .find(|e| matches!(e.attributes, EventAttributes::WorkflowTaskCompleted { .. }));
    completed.unwrap().event_id
}

/// One of each child outcome, for the six children initiated by `children`.
fn child_outcomes(b: &mut HistoryBuilder, children: &[EventId]) {
    let &[c1, c2, c3, c4, c5, c6] = children else {
        panic!("six children expected")
    };
    b.child_completed(c1, Payload::from("child done"));
    let s2 = b.child_started(c2);
    b.add(EventAttributes::ChildWorkflowExecutionFailed {
        initiated_event_id: c2,
        started_event_id: s2,
        failure: Failure::new("ChildError", "boom"),
    });
    let s3 = b.child_started(c3);
    b.add(EventAttributes::ChildWorkflowExecutionCanceled {
        initiated_event_id: c3,
        started_event_id: s3,
    });
    let s4 = b.child_started(c4);
    b.add(EventAttributes::ChildWorkflowExecutionTimedOut {
        initiated_event_id: c4,
        started_event_id: s4,
    });
    let s5 = b.child_started(c5);
    b.add(EventAttributes::ChildWorkflowExecutionTerminated {
        initiated_event_id: c5,
        started_event_id: s5,
    });
    b.add(EventAttributes::StartChildWorkflowExecutionFailed {
        initiated_event_id: c6,
        workflow_id: "child-6".into(),
        workflow_type: "child".into(),
        cause: "WorkflowExecutionAlreadyStarted".into(),
    });
}

/// Adds the event that closes the run.
type Ending = Box<dyn Fn(&mut HistoryBuilder)>;

/// Six histories, one per terminal event, that together hold every event type.
fn every_event_type() -> Vec<History> {
    let endings: Vec<Ending> = vec![
        Box::new(|b| {
            b.complete(Payload::from(json!({"ok": true})));
        }),
        Box::new(|b| {
            b.fail(Failure::new("Failed", "gave up"));
        }),
        Box::new(|b| {
            b.add(EventAttributes::WorkflowExecutionTimedOut {});
        }),
        Box::new(|b| {
            b.add(EventAttributes::WorkflowExecutionCanceled {
                workflow_task_completed_event_id: last_completed_task(b),
            });
        }),
        Box::new(|b| {
            b.add(EventAttributes::WorkflowExecutionTerminated {
                reason: "operator".into(),
                identity: "cli".into(),
            });
        }),
        Box::new(|b| {
            b.add(EventAttributes::WorkflowExecutionContinuedAsNew {
                new_execution_run_id: RunId::new("run-all-2"),
                workflow_type: "everything".into(),
                task_queue: "default".into(),
                input: Payload::from(json!({"n": 2})),
                workflow_task_completed_event_id: last_completed_task(b),
            });
        }),
    ];
    let base = every_non_terminal_event();
    endings
        .iter()
        .map(|end| {
            let mut b = base.clone();
            b.advance(Duration::from_millis(7));
            end(&mut b);
            let mut history = b.build();
            if let EventAttributes::WorkflowExecutionStarted {
                parent,
                continued_from_run_id,
                ..
            } = &mut history.events[0].attributes
            {
                *parent = Some(ParentExecution {
                    workflow_id: "parent".into(),
                    run_id: "parent-run".into(),
                    initiated_event_id: EventId(12),
                });
                *continued_from_run_id = Some(RunId::new("run-all-0"));
            }
            history
        })
        .collect()
}

/// A small valid history: one activity, then completion.
fn one_activity() -> HistoryBuilder {
    let mut b = HistoryBuilder::new("order", Payload::from(json!({"orderId": 42})));
    b.workflow_task(); // 2, 3, 4
    let a = b.activity_scheduled("1", "charge", Payload::from("o-42")); // 5
    b.activity_completed(a, Payload::from("chg")); // 6, 7
    b.workflow_task(); // 8, 9, 10
    b
}

/// Loads `history` through its JSON form.
fn load(history: &History) -> Result<History, HistoryError> {
    History::from_json(&history.to_json_pretty())
}

/// The JSON of `history` after `edit` changed its events.
fn edited(history: &History, edit: impl FnOnce(&mut Vec<Value>)) -> String {
    let mut doc: Value = serde_json::from_str(&history.to_json()).unwrap();
    edit(doc["events"].as_array_mut().unwrap());
    doc.to_string()
}

fn assert_names(err: &HistoryError, needle: &str) {
    assert!(
        err.to_string().contains(needle),
        "{needle:?} not in the message: {err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Round trips

#[test]
fn histories_of_every_event_type_round_trip_exactly() {
    let histories = every_event_type();
    let mut seen = BTreeSet::new();
    for history in &histories {
        validate(history).unwrap();
        for text in [history.to_json_pretty(), history.to_json()] {
            let back = History::from_json(&text).unwrap();
            assert_eq!(&back, history);
            let again = if text.contains('\n') {
                back.to_json_pretty()
            } else {
                back.to_json()
            };
            assert_eq!(again, text);
        }
        seen.extend(history.events.iter().map(|e| e.attributes.event_type()));
    }
    let all: BTreeSet<&str> = EVENT_TYPES.iter().copied().collect();
    assert_eq!(seen, all, "some event types are not covered");
}

#[test]
fn pretty_json_is_indented_by_two_spaces_and_compact_json_is_one_line() {
    let history = one_activity().build();
    let pretty = history.to_json_pretty();
    assert!(
        pretty
            .starts_with("{\n  \"workflowId\": \"wf-1\",\n  \"runId\": \"run-1\",\n  \"events\": [\n    {\n")
    );
    assert!(!history.to_json().contains('\n'));
    assert!(!history.to_json().contains(": "));
}

#[test]
fn flattened_attributes_are_flat_camel_case_json() {
    let mut b = one_activity();
    b.marker(Marker::Patch {
        patch_id: "p1".into(),
        deprecated: false,
    });
    let doc: Value = serde_json::from_str(&b.build().to_json()).unwrap();
    let events = doc["events"].as_array().unwrap();
    assert_eq!(
        events[0],
        json!({
            "eventId": 1,
            "eventTime": "2026-01-01T00:00:00.000Z",
            "eventType": "WorkflowExecutionStarted",
            "workflowType": "order",
            "taskQueue": "default",
            "input": {"orderId": 42},
            "workflowTaskTimeout": "10s",
            "randomnessSeed": 0,
        })
    );
    assert_eq!(
        events[4],
        json!({
            "eventId": 5,
            "eventTime": "2026-01-01T00:00:00.000Z",
            "eventType": "ActivityTaskScheduled",
            "activityId": "1",
            "activityType": "charge",
            "input": "o-42",
            "taskQueue": "default",
            "startToCloseTimeout": "10s",
            "retryPolicy": {"initialInterval": "1s", "backoffCoefficient": 2.0, "maximumAttempts": 0},
            "workflowTaskCompletedEventId": 4,
        })
    );
    assert_eq!(
        events[10],
        json!({
            "eventId": 11,
            "eventTime": "2026-01-01T00:00:00.000Z",
            "eventType": "MarkerRecorded",
            "markerName": "Patch",
            "details": {"patchId": "p1", "deprecated": false},
            "workflowTaskCompletedEventId": 10,
        })
    );
}

#[test]
fn unknown_fields_are_ignored_on_load() {
    let history = one_activity().build();
    let mut doc: Value = serde_json::from_str(&history.to_json()).unwrap();
    doc["addedLater"] = json!({"x": 1});
    doc["events"][4]["priority"] = json!(3);
    doc["events"][4]["retryPolicy"]["jitter"] = json!(0.1);
    assert_eq!(History::from_json(&doc.to_string()), Ok(history));
}

// ---------------------------------------------------------------------------------------------
// Documents that are not history JSON

#[test]
fn text_that_is_not_json_is_a_json_error_with_its_position() {
    let err = History::from_json("{\"workflowId\": \"wf\",\n  oops}").unwrap_err();
    let HistoryError::Json { line, column, .. } = &err else {
        panic!("expected a JSON error, got {err:?}")
    };
    assert_eq!((*line, *column), (2, 3));
    assert_names(&err, "line 2, column 3");
    assert!(
        !err.to_string().contains("at line 2 column 3"),
        "position repeated: {err}"
    );
}

#[test]
fn json_that_is_not_an_object_is_a_json_error() {
    for text in ["[\"wf\", \"run\", []]", "\"history\"", "42"] {
        let err = History::from_json(text).unwrap_err();
        let HistoryError::Json { line, message, .. } = &err else {
            panic!("expected a JSON error for {text}, got {err:?}")
        };
        assert_eq!(*line, 1);
        assert!(message.contains("a history document"), "{message}");
    }
}

#[test]
fn an_object_without_events_is_a_json_error() {
    let err = History::from_json("{\"workflowId\": \"wf\", \"runId\": \"r\"}").unwrap_err();
    let HistoryError::Json { line, message, .. } = &err else {
        panic!("expected a JSON error, got {err:?}")
    };
    assert_eq!(*line, 1);
    assert!(message.contains("missing field `events`"), "{message}");
}

#[test]
fn trailing_text_after_the_document_is_a_json_error() {
    let text = format!("{}\n]", one_activity().build().to_json());
    let err = History::from_json(&text).unwrap_err();
    assert!(
        matches!(
            err,
            HistoryError::Json {
                line: 2,
                column: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn an_oversized_document_is_refused_before_parsing() {
    // Spaces are valid JSON whitespace, so only the size check can refuse this.
    let text = format!(
        "{}{}",
        " ".repeat(HISTORY_BYTES_MAX),
        one_activity().build().to_json()
    );
    let err = History::from_json(&text).unwrap_err();
    assert_eq!(
        err,
        HistoryError::TooLarge {
            bytes: text.len(),
            max: HISTORY_BYTES_MAX
        }
    );
    assert_names(&err, &HISTORY_BYTES_MAX.to_string());
}

#[test]
fn too_many_events_are_refused_before_converting_them() {
    let events = vec!["{}"; HISTORY_EVENTS_MAX + 1].join(",");
    let text = format!("{{\"workflowId\": \"wf\", \"runId\": \"r\", \"events\": [{events}]}}");
    let err = History::from_json(&text).unwrap_err();
    assert_eq!(
        err,
        HistoryError::TooManyEvents {
            events: HISTORY_EVENTS_MAX + 1,
            max: HISTORY_EVENTS_MAX
        }
    );
}

#[test]
fn a_history_without_events_is_empty() {
    let err = History::from_json("{\"workflowId\": \"wf\", \"runId\": \"r\", \"events\": []}").unwrap_err();
    assert_eq!(err, HistoryError::Empty);
}

// ---------------------------------------------------------------------------------------------
// Events that do not convert

#[test]
fn an_unknown_event_type_names_the_event() {
    let text = edited(&one_activity().build(), |events| {
        events[2]["eventType"] = json!("WorkflowTaskExploded");
    });
    let err = History::from_json(&text).unwrap_err();
    assert_eq!(
        err,
        HistoryError::UnknownEventType {
            event_id: EventId(3),
            event_type: "WorkflowTaskExploded".into()
        }
    );
    assert_names(&err, "event 3");
}

#[test]
fn a_missing_attribute_names_the_event_and_the_field() {
    let text = edited(&one_activity().build(), |events| {
        events[4].as_object_mut().unwrap().remove("activityType");
    });
    let err = History::from_json(&text).unwrap_err();
    let HistoryError::Malformed {
        event_id,
        index,
        event_type,
        message,
    } = &err
    else {
        panic!("expected Malformed, got {err:?}")
    };
    assert_eq!(*event_id, Some(EventId(5)));
    assert_eq!(*index, 4);
    assert_eq!(event_type.as_deref(), Some("ActivityTaskScheduled"));
    assert!(message.contains("missing field `activityType`"), "{message}");
    assert_names(&err, "event 5");
}

#[test]
fn a_bad_event_time_names_the_event_and_the_field() {
    let text = edited(&one_activity().build(), |events| {
        events[6]["eventTime"] = json!("yesterday");
    });
    let err = History::from_json(&text).unwrap_err();
    let HistoryError::Malformed {
        event_id,
        index,
        event_type,
        message,
    } = &err
    else {
        panic!("expected Malformed, got {err:?}")
    };
    assert_eq!((*event_id, *index), (Some(EventId(7)), 6));
    assert_eq!(event_type.as_deref(), Some("ActivityTaskCompleted"));
    assert!(
        message.starts_with("eventTime: ") && message.contains("yesterday"),
        "{message}"
    );
    assert_names(&err, "event 7");
}

#[test]
fn a_bad_duration_names_the_event_and_the_value() {
    let text = edited(&one_activity().build(), |events| {
        events[4]["startToCloseTimeout"] = json!("ten seconds");
    });
    let err = History::from_json(&text).unwrap_err();
    let HistoryError::Malformed {
        event_id,
        index,
        event_type,
        message,
    } = &err
    else {
        panic!("expected Malformed, got {err:?}")
    };
    assert_eq!((*event_id, *index), (Some(EventId(5)), 4));
    assert_eq!(event_type.as_deref(), Some("ActivityTaskScheduled"));
    assert!(message.contains("\"ten seconds\" is not a duration"), "{message}");
    assert_names(&err, "event 5");
}

#[test]
fn an_attribute_of_the_wrong_type_is_malformed() {
    let text = edited(&one_activity().build(), |events| {
        events[5]["attempt"] = json!("first");
    });
    let err = History::from_json(&text).unwrap_err();
    assert!(
        matches!(&err, HistoryError::Malformed { event_id: Some(EventId(6)), index: 5, event_type: Some(t), .. }
            if t == "ActivityTaskStarted"),
        "{err:?}"
    );
}

#[test]
fn a_missing_or_invalid_event_id_is_malformed_with_the_index() {
    for bad in [
        None,
        Some(json!(0)),
        Some(json!(-3)),
        Some(json!(2.5)),
        Some(json!("3")),
    ] {
        let text = edited(&one_activity().build(), |events| {
            let event = events[2].as_object_mut().unwrap();
            match &bad {
                None => event.remove("eventId"),
                Some(v) => event.insert("eventId".into(), v.clone()),
            };
        });
        let err = History::from_json(&text).unwrap_err();
        let HistoryError::Malformed {
            event_id,
            index,
            event_type,
            message,
        } = &err
        else {
            panic!("expected Malformed for {bad:?}, got {err:?}")
        };
        assert_eq!((*event_id, *index), (None, 2));
        assert_eq!(event_type.as_deref(), Some("WorkflowTaskStarted"));
        assert!(message.contains("eventId"), "{message}");
        assert_names(&err, "#2 in the list");
    }
}

#[test]
fn an_event_that_is_not_an_object_or_has_no_type_is_malformed() {
    let text = edited(&one_activity().build(), |events| events[1] = json!([1, 2]));
    let err = History::from_json(&text).unwrap_err();
    assert!(matches!(
        &err,
        HistoryError::Malformed {
            event_id: None,
            index: 1,
            event_type: None,
            ..
        }
    ));
    let text = edited(&one_activity().build(), |events| {
        events[1].as_object_mut().unwrap().remove("eventType");
    });
    let err = History::from_json(&text).unwrap_err();
    assert!(matches!(
        &err,
        HistoryError::Malformed {
            event_id: Some(EventId(2)),
            index: 1,
            event_type: None,
            ..
        }
    ));
    assert_names(&err, "event 2");
}

// ---------------------------------------------------------------------------------------------
// Histories that are not well formed

#[test]
fn the_first_event_must_be_workflow_execution_started() {
    let mut history = one_activity().build();
    history.events.remove(0);
    for (i, event) in history.events.iter_mut().enumerate() {
        event.event_id = EventId(i as u64 + 1);
    }
    let err = load(&history).unwrap_err();
    assert_eq!(
        err,
        HistoryError::FirstEventNotStarted {
            event_id: EventId(1),
            event_type: "WorkflowTaskScheduled".into()
        }
    );
    assert_names(&err, "event 1");
}

#[test]
fn a_gap_in_event_ids_names_the_position_and_ids() {
    let text = edited(&one_activity().build(), |events| {
        events.remove(5);
    });
    let err = History::from_json(&text).unwrap_err();
    assert_eq!(
        err,
        HistoryError::EventIdGap {
            index: 5,
            expected: EventId(6),
            found: EventId(7)
        }
    );
    assert_names(&err, "eventId 7");
}

#[test]
fn time_going_backwards_names_the_event() {
    let text = edited(&one_activity().build(), |events| {
        events[3]["eventTime"] = json!("2025-12-31T23:59:59.999Z");
    });
    let err = History::from_json(&text).unwrap_err();
    assert_eq!(
        err,
        HistoryError::TimeWentBackwards {
            event_id: EventId(4),
            time: "2025-12-31T23:59:59.999Z".into(),
            previous: "2026-01-01T00:00:00.000Z".into()
        }
    );
    assert_names(&err, "event 4");
}

#[test]
fn completing_an_activity_that_was_never_scheduled_is_a_dangling_reference() {
    let mut b = one_activity();
    let id = b.add(EventAttributes::ActivityTaskCompleted {
        scheduled_event_id: EventId(99),
        started_event_id: EventId(6),
        result: Payload::null(),
    });
    let err = load(&b.build()).unwrap_err();
    assert_eq!(
        err,
        HistoryError::DanglingReference {
            event_id: id,
            event_type: "ActivityTaskCompleted".into(),
            field: "scheduledEventId",
            referenced: "99".into(),
            expected: "an earlier ActivityTaskScheduled event"
        }
    );
    assert_names(&err, "event 11");
}

#[test]
fn a_reference_to_an_event_of_the_wrong_type_is_dangling() {
    let mut b = one_activity();
    b.add(EventAttributes::ActivityTaskStarted {
        scheduled_event_id: EventId(4),
        attempt: 1,
        identity: "w".into(),
    });
    let err = load(&b.build()).unwrap_err();
    assert!(
        matches!(&err, HistoryError::DanglingReference { event_id: EventId(11), field: "scheduledEventId", referenced, .. }
            if referenced == "4"),
        "{err:?}"
    );
}

#[test]
fn a_second_completion_of_an_activity_is_already_closed() {
    let mut b = one_activity();
    let second = b.activity_completed(EventId(5), Payload::from("again"));
    let err = load(&b.build()).unwrap_err();
    assert_eq!(
        err,
        HistoryError::AlreadyClosed {
            event_id: second,
            event_type: "ActivityTaskCompleted".into(),
            what: "activity \"1\" (scheduled by event 5)".into(),
            closed_by: EventId(7)
        }
    );
    assert_names(&err, "event 11");
}

#[test]
fn a_duplicate_activity_id_among_open_activities_is_refused() {
    let mut b = HistoryBuilder::new("order", Payload::null());
    b.workflow_task();
    let first = b.activity_scheduled("1", "a", Payload::null());
    let second = b.activity_scheduled("1", "b", Payload::null());
    let err = load(&b.build()).unwrap_err();
    assert_eq!(
        err,
        HistoryError::DuplicateId {
            event_id: second,
            event_type: "ActivityTaskScheduled".into(),
            field: "activityId",
            value: "\"1\"".into(),
            used_by: first
        }
    );
    // Once the first one is closed, its id may be reused.
    let mut b = one_activity();
    b.activity_scheduled("1", "again", Payload::null());
    assert!(load(&b.build()).is_ok());
}

#[test]
fn a_timer_fired_for_an_unknown_timer_is_a_dangling_reference() {
    let mut b = one_activity();
    let id = b.add(EventAttributes::TimerFired {
        timer_id: "never-started".into(),
        started_event_id: EventId(5),
    });
    let err = load(&b.build()).unwrap_err();
    assert_eq!(
        err,
        HistoryError::DanglingReference {
            event_id: id,
            event_type: "TimerFired".into(),
            field: "timerId",
            referenced: "\"never-started\"".into(),
            expected: "a started, still open timer"
        }
    );
    assert_names(&err, "event 11");
}

#[test]
fn a_timer_fires_once_and_names_its_started_event() {
    let mut b = HistoryBuilder::new("t", Payload::null());
    b.workflow_task();
    let t1 = b.timer_started("1", Duration::from_secs(5));
    let fired = b.timer_fired(t1);
    assert_eq!(
        b.now(),
        HistoryBuilder::new("t", Payload::null())
            .now()
            .plus(Duration::from_secs(5))
    );
    let again = b.timer_fired(t1);
    let err = load(&b.clone().build()).unwrap_err();
    assert!(
        matches!(&err, HistoryError::AlreadyClosed { event_id, closed_by, .. } if *event_id == again && *closed_by == fired),
        "{err:?}"
    );

    let mut b = HistoryBuilder::new("t", Payload::null());
    b.workflow_task();
    b.timer_started("1", Duration::from_secs(5));
    let t2 = b.timer_started("2", Duration::from_secs(5));
    b.add(EventAttributes::TimerFired {
        timer_id: "1".into(),
        started_event_id: t2,
    });
    let err = load(&b.build()).unwrap_err();
    assert!(
        matches!(
            &err,
            HistoryError::DanglingReference {
                field: "startedEventId",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_second_terminal_event_follows_the_close() {
    let mut b = one_activity();
    let first = b.complete(Payload::from(json!(1)));
    let second = b.fail(Failure::new("Late", "too late"));
    let err = load(&b.build()).unwrap_err();
    assert_eq!(
        err,
        HistoryError::EventAfterClose {
            event_id: second,
            event_type: "WorkflowExecutionFailed".into(),
            closed_by: first
        }
    );
    assert_names(&err, "event 12");
}

#[test]
fn an_event_after_the_terminal_event_is_refused() {
    let mut b = one_activity();
    let closed = b.complete(Payload::from(json!(1)));
    let signal = b.signal("late", Payload::null());
    let err = load(&b.build()).unwrap_err();
    assert_eq!(
        err,
        HistoryError::EventAfterClose {
            event_id: signal,
            event_type: "WorkflowExecutionSignaled".into(),
            closed_by: closed
        }
    );
    assert_names(&err, "event 12");
}

#[test]
fn a_command_event_outside_a_workflow_task_is_refused() {
    let mut b = one_activity();
    b.signal("interrupt", Payload::null());
    let timer = b.timer_started("1", Duration::from_secs(1));
    let err = load(&b.build()).unwrap_err();
    assert_eq!(
        err,
        HistoryError::CommandOutsideWorkflowTask {
            event_id: timer,
            event_type: "TimerStarted".into()
        }
    );
    assert_names(&err, "event 12");
}

#[test]
fn a_command_event_must_name_its_workflow_task() {
    let mut b = one_activity();
    b.add(EventAttributes::TimerStarted {
        timer_id: "1".into(),
        start_to_fire_timeout: Duration::from_secs(1),
        workflow_task_completed_event_id: EventId(4),
    });
    let err = load(&b.build()).unwrap_err();
    assert!(
        matches!(&err, HistoryError::DanglingReference {
            event_id: EventId(11), field: "workflowTaskCompletedEventId", referenced, ..
        } if referenced == "4"),
        "{err:?}"
    );
}

#[test]
fn workflow_tasks_are_one_at_a_time_and_in_order() {
    let mut b = one_activity();
    b.workflow_task_started();
    let second = b.workflow_task_started();
    let err = load(&b.build()).unwrap_err();
    let HistoryError::WorkflowTaskOrder {
        event_id, problem, ..
    } = &err
    else {
        panic!("expected WorkflowTaskOrder, got {err:?}")
    };
    assert_eq!(*event_id, EventId(second.0 - 1));
    assert!(problem.contains("already open"), "{problem}");

    let mut b = one_activity();
    b.add(EventAttributes::WorkflowTaskStarted {
        scheduled_event_id: EventId(8),
        identity: "w".into(),
    });
    let err = load(&b.build()).unwrap_err();
    assert!(
        matches!(
            &err,
            HistoryError::WorkflowTaskOrder {
                event_id: EventId(11),
                ..
            }
        ),
        "{err:?}"
    );

    let mut b = one_activity();
    b.workflow_task_started();
    b.add(EventAttributes::WorkflowTaskFailed {
        scheduled_event_id: EventId(11),
        started_event_id: EventId(3),
        cause: WorkflowTaskFailedCause::NonDeterminism,
        failure: Failure::new("NonDeterminism", "x"),
    });
    let err = load(&b.build()).unwrap_err();
    assert!(
        matches!(
            &err,
            HistoryError::WorkflowTaskOrder {
                event_id: EventId(13),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn activity_outcomes_name_the_activity_start() {
    let mut b = one_activity();
    b.add(EventAttributes::ActivityTaskFailed {
        scheduled_event_id: EventId(5),
        started_event_id: EventId(6),
        failure: Failure::new("X", "x"),
        retry_state: RetryState::NonRetryableFailure,
    });
    // Closed by event 7 already.
    assert!(matches!(
        load(&b.build()),
        Err(HistoryError::AlreadyClosed {
            closed_by: EventId(7),
            ..
        })
    ));

    let mut b = HistoryBuilder::new("order", Payload::null());
    b.workflow_task();
    let a = b.activity_scheduled("1", "a", Payload::null());
    b.add(EventAttributes::ActivityTaskCompleted {
        scheduled_event_id: a,
        started_event_id: EventId(4),
        result: Payload::null(),
    });
    let err = load(&b.build()).unwrap_err();
    assert!(
        matches!(
            &err,
            HistoryError::DanglingReference {
                field: "startedEventId",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn children_close_once_and_external_cancels_resolve_once() {
    let mut b = HistoryBuilder::new("parent", Payload::null());
    b.workflow_task();
    let child = b.child_initiated("c", "child", Payload::null());
    let completed = b.child_completed(child, Payload::from(json!(1)));
    let again = b.child_completed(child, Payload::from(json!(2)));
    let err = load(&b.build()).unwrap_err();
    assert!(
        matches!(&err, HistoryError::AlreadyClosed { event_id, closed_by, .. } if *event_id == again && *closed_by == completed),
        "{err:?}"
    );

    let mut b = HistoryBuilder::new("parent", Payload::null());
    b.workflow_task();
    b.add(EventAttributes::ExternalWorkflowExecutionCancelRequested {
        initiated_event_id: EventId(4),
        workflow_id: "other".into(),
    });
    let err = load(&b.build()).unwrap_err();
    assert!(
        matches!(
            &err,
            HistoryError::DanglingReference {
                field: "initiatedEventId",
                event_id: EventId(5),
                ..
            }
        ),
        "{err:?}"
    );

    let mut b = HistoryBuilder::new("parent", Payload::null());
    b.workflow_task();
    b.add(EventAttributes::ChildWorkflowExecutionStarted {
        initiated_event_id: EventId(2),
        workflow_id: "c".into(),
        run_id: "r".into(),
        workflow_type: "child".into(),
    });
    let err = load(&b.build()).unwrap_err();
    assert!(
        matches!(
            &err,
            HistoryError::DanglingReference {
                field: "initiatedEventId",
                event_id: EventId(5),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_second_workflow_execution_started_is_refused() {
    let mut b = one_activity();
    b.add(EventAttributes::WorkflowExecutionStarted {
        workflow_type: "again".into(),
        task_queue: "default".into(),
        input: Payload::null(),
        workflow_task_timeout: Duration::from_secs(10),
        randomness_seed: 0,
        parent: None,
        continued_from_run_id: None,
    });
    let err = load(&b.build()).unwrap_err();
    assert!(
        matches!(
            &err,
            HistoryError::Malformed {
                event_id: Some(EventId(11)),
                index: 10,
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The documented format

#[test]
fn the_example_of_the_format_document_loads_and_is_canonical() {
    let doc = include_str!("../../docs/history-format.md");
    let (_, example) = doc.split_once("## Example").unwrap();
    let (_, block) = example.split_once("```json\n").unwrap();
    let (text, _) = block.split_once("\n```").unwrap();
    let history = History::from_json(text).unwrap();
    assert_eq!(history.events.len(), 11);
    assert_eq!(history.workflow_type(), Some("order"));
    assert!(matches!(
        history.terminal_event().map(|e| &e.attributes),
        Some(EventAttributes::WorkflowExecutionCompleted { .. })
    ));
    assert_eq!(
        history.to_json_pretty(),
        text,
        "the example is not in the canonical pretty form"
    );
}
