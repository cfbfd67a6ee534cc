//! History snapshots: engine-generated ids do not make them unstable, and a real `insta`
//! snapshot (committed under `tests/snapshots/`).

use serde_json::json;
use std::time::Duration;
use warpflow_engine::Payload;
use warpflow_engine::history::{EventAttributes, HistoryBuilder};
use warpflow_engine::ids::RunId;
use warpflow_engine::{Failure, History};
use warpflow_testkit::{assert_history_snapshot, history_snapshot};

/// An order that charges (failing once for good), starts a child, waits for a signal or a
/// day, and completes, with the given run ids for itself and its child and a `ctx.uuid()`
/// value in its result.
fn order(run_id: &str, child_run_id: &str, uuid: &str) -> History {
    let mut b = HistoryBuilder::new("order", Payload::from(json!({"orderId": "o-42", "amount": 1250})))
        .with_ids("order-42", run_id);
    b.workflow_task();
    let charge = b.activity_scheduled("1", "charge_payment", Payload::from("o-42"));
    b.advance(Duration::from_millis(1500));
    b.activity_failed(charge, Failure::new("CardDeclined", "insufficient funds"));
    b.workflow_task();
    let child = b.child_initiated("order-42-refund", "refund", Payload::from("o-42"));
    b.advance(Duration::from_millis(20));
    b.add(EventAttributes::ChildWorkflowExecutionStarted {
        initiated_event_id: child,
        workflow_id: "order-42-refund".into(),
        run_id: RunId::new(child_run_id),
        workflow_type: "refund".into(),
    });
    b.advance(Duration::from_secs(3));
    b.child_completed(child, Payload::from(json!({"refunded": true})));
    b.workflow_task();
    let timer = b.timer_started("1", Duration::from_secs(24 * 3600));
    b.advance(Duration::from_secs(2 * 3600));
    b.signal("customer_contacted", Payload::from(json!({"by": "ada"})));
    b.workflow_task();
    b.timer_canceled(timer);
    b.complete(Payload::from(json!({"status": "refunded", "ticket": uuid})));
    b.build()
}

#[test]
fn histories_differing_only_in_run_ids_render_identically() {
    let first = order(
        "3f1e4a52-8c0d-4b7e-9a61-2d5c7b9e0f14",
        "0b8d6c2e-51f7-4e3a-b9d0-7c4a1e2f6d58",
        "9e2f7a1c-3b4d-4c5e-8f60-1a2b3c4d5e6f",
    );
    let second = order(
        "c7a90d13-2e64-4f8b-a5d1-96e0b3f72c48",
        "e41b7f09-6d2a-4c83-9b5e-08f3a6d1c27b",
        "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
    );
    assert_ne!(first.render_timeline(), second.render_timeline());
    let rendering = history_snapshot(&first);
    assert_eq!(rendering, history_snapshot(&second));
    assert!(
        rendering.starts_with("workflow order-42, run <run-1>, type order:"),
        "{rendering}"
    );
    assert!(rendering.contains("order-42-refund run <run-2>"), "{rendering}");
    // The timeline cuts the result short, in the middle of the uuid.
    assert!(rendering.contains("\"ticket\":\"<uuid-1>…\n"), "{rendering}");

    // The builder's own run ids (`run-1`, `child-run-<n>`) normalise the same way.
    assert_eq!(
        history_snapshot(&order(
            "run-1",
            "child-run-6",
            "9e2f7a1c-3b4d-4c5e-8f60-1a2b3c4d5e6f"
        )),
        rendering
    );
}

#[test]
fn order_timeline() {
    let history = order(
        "3f1e4a52-8c0d-4b7e-9a61-2d5c7b9e0f14",
        "0b8d6c2e-51f7-4e3a-b9d0-7c4a1e2f6d58",
        "9e2f7a1c-3b4d-4c5e-8f60-1a2b3c4d5e6f",
    );
    // Named after the test function.
    assert_history_snapshot!(&history);
    // Named explicitly; the same rendering for other run ids.
    let other_ids = order(
        "c7a90d13-2e64-4f8b-a5d1-96e0b3f72c48",
        "e41b7f09-6d2a-4c83-9b5e-08f3a6d1c27b",
        "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
    );
    assert_history_snapshot!("order_timeline_other_ids", other_ids);
}
