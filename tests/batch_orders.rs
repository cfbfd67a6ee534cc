//! The batch workflows under the test kit: one child order workflow per order, every outcome
//! collected, the admin alerted on partial failure with what failed; the bulk variant's
//! groups of ten; a snapshot of a batch's history; and the fault campaign.

use serde_json::json;
use std::time::Duration;
use warpflow::engine::History;
use warpflow::engine::history::EventAttributes as E;
use warpflow_examples::batch_orders::campaign::orders;
use warpflow_examples::batch_orders::{
    self as batches, ADMIN_EMAIL, BATCH_SIZE, BatchSummary, OrderFailure, ProcessBatchOrders,
    ProcessBulkOrders,
};
use warpflow_examples::order_processing::scenario::{DECLINED_CARD, Trouble, open_shop};
use warpflow_examples::order_processing::{FRAUD_CHECK_TIMEOUT, FraudCheck, FraudVerdict, Order, World};
use warpflow_examples::services::email::Message;
use warpflow_testkit::{TestEnv, assert_history_snapshot};

/// A shop open for business, and a test environment running the batch workflows on it.
fn shop() -> (World, TestEnv) {
    let world = World::default();
    open_shop(&world);
    let env = TestEnv::new(batches::registry(&world));
    (world, env)
}

/// Approves each order once its workflow exists, a minute of virtual time at a time, until
/// every one is approved (the bulk variant starts its groups one after another).
fn approve_as_they_start(env: &TestEnv, orders: &[Order]) {
    let mut waiting: Vec<&Order> = orders.iter().collect();
    for _ in 0..=orders.len() {
        env.skip(Duration::from_secs(60));
        waiting.retain(|order| {
            env.signal::<FraudCheck>(order.workflow_id(), &FraudVerdict::Approved)
                .is_err()
        });
        if waiting.is_empty() {
            return;
        }
    }
    panic!(
        "never started: {:?}",
        waiting.iter().map(|o| &o.id).collect::<Vec<_>>()
    );
}

/// The orders whose card is not declined (the others end before they wait for a verdict).
fn with_good_cards(orders: &[Order]) -> Vec<Order> {
    orders
        .iter()
        .filter(|o| o.customer.card != DECLINED_CARD)
        .cloned()
        .collect()
}

fn failure(order_id: &str, error: &str) -> OrderFailure {
    OrderFailure {
        order_id: order_id.into(),
        error: error.into(),
    }
}

/// The messages sent to the admin.
fn admin_mail(world: &World) -> Vec<Message> {
    world.email.sent_to(ADMIN_EMAIL)
}

#[test]
fn a_batch_with_declined_cards_reports_them_and_alerts_the_admin() {
    let (world, env) = shop();
    let declined = Trouble::CardDeclined;
    let batch = orders("b", 5, &[(2, declined), (4, declined)], &world);
    let handle = env
        .start::<ProcessBatchOrders>("batch-1", &batch)
        .expect("started");
    approve_as_they_start(&env, &with_good_cards(&batch));
    let summary = env.result(&handle).expect("batch completed");
    let failures = vec![failure("b2", "payment_failed"), failure("b4", "payment_failed")];
    assert_eq!(
        summary,
        BatchSummary {
            total: 5,
            succeeded: 3,
            failed: 2,
            failures,
        }
    );
    assert_eq!(
        admin_mail(&world),
        [Message {
            to: ADMIN_EMAIL.into(),
            template: "batch_partial_failure".into(),
            data: json!({
                "type": "batch_partial_failure",
                "batch": "batch-1",
                "total": 5,
                "failed": 2,
                "errors": [
                    {"order_id": "b2", "error": "payment_failed"},
                    {"order_id": "b4", "error": "payment_failed"},
                ],
            }),
        }]
    );
    // One child per order, under the order's own workflow id, each replaying.
    for order in &batch {
        env.check_replay(&order.workflow_id().into());
    }
    let shipped = world.warehouse.snapshot();
    assert_eq!(
        shipped.keys().collect::<Vec<_>>(),
        ["ship-b1", "ship-b3", "ship-b5"]
    );
    assert_history_snapshot!("batch_partial_failure", env.history("batch-1").expect("history"));
}

#[test]
fn a_batch_without_failures_alerts_nobody() {
    let (world, env) = shop();
    let batch = orders("b", 3, &[], &world);
    let handle = env
        .start::<ProcessBatchOrders>("batch-1", &batch)
        .expect("started");
    approve_as_they_start(&env, &batch);
    let summary = env.result(&handle).expect("batch completed");
    assert_eq!((summary.succeeded, summary.failed), (3, 0));
    assert!(admin_mail(&world).is_empty());
}

#[test]
fn a_child_workflow_that_fails_counts_as_a_failed_order() {
    let (world, env) = shop();
    let batch = orders("b", 2, &[(2, Trouble::WarehouseRefuses)], &world);
    let handle = env
        .start::<ProcessBatchOrders>("batch-1", &batch)
        .expect("started");
    approve_as_they_start(&env, &batch);
    let summary = env.result(&handle).expect("batch completed");
    assert_eq!(
        summary.failures,
        [failure(
            "b2",
            "child workflow failed: ShipmentRefused: the warehouse refused to ship order b2"
        )]
    );
    assert_eq!(admin_mail(&world).len(), 1);
}

#[test]
fn orders_nobody_approves_fail_after_a_day_of_virtual_time() {
    let (world, env) = shop();
    let batch = orders("b", 2, &[], &world);
    let handle = env
        .start::<ProcessBatchOrders>("batch-1", &batch)
        .expect("started");
    let summary = env.result(&handle).expect("batch completed");
    assert_eq!(summary.failed, 2);
    assert!(
        summary
            .failures
            .iter()
            .all(|f| f.error == "fraud_check_timed_out")
    );
    assert!(env.elapsed() >= FRAUD_CHECK_TIMEOUT);
    assert_eq!(world.payments.snapshot().captured_cents(), 0);
    assert_eq!(admin_mail(&world).len(), 1);
}

#[test]
fn an_order_id_given_twice_fails_to_start_the_second_time() {
    let (world, env) = shop();
    let mut batch = orders("b", 1, &[], &world);
    batch.push(batch[0].clone());
    let handle = env
        .start::<ProcessBatchOrders>("batch-1", &batch)
        .expect("started");
    approve_as_they_start(&env, &batch[..1]);
    let summary = env.result(&handle).expect("batch completed");
    assert_eq!(summary.succeeded, 1);
    assert_eq!(summary.failures.len(), 1, "{summary:?}");
    assert!(
        summary.failures[0]
            .error
            .starts_with("child workflow could not start"),
        "{summary:?}"
    );
}

/// How many child workflows the parent started before each point where none was open: the
/// sizes of the groups it ran one after another.
fn groups(history: &History) -> Vec<usize> {
    let (mut groups, mut open, mut started) = (Vec::new(), 0usize, 0usize);
    for event in &history.events {
        match &event.attributes {
            E::StartChildWorkflowExecutionInitiated { .. } => {
                open += 1;
                started += 1;
            }
            E::ChildWorkflowExecutionCompleted { .. } | E::ChildWorkflowExecutionFailed { .. } => {
                open -= 1;
                if open == 0 {
                    groups.push(started);
                    started = 0;
                }
            }
            _ => {}
        }
    }
    groups
}

#[test]
fn the_bulk_variant_runs_ten_orders_at_a_time() {
    let (world, env) = shop();
    let bulk = orders("k", 25, &[(12, Trouble::CardDeclined)], &world);
    let handle = env.start::<ProcessBulkOrders>("bulk-1", &bulk).expect("started");
    approve_as_they_start(&env, &with_good_cards(&bulk));
    let summary = env.result(&handle).expect("bulk completed");
    assert_eq!((summary.total, summary.succeeded, summary.failed), (25, 24, 1));
    assert_eq!(summary.failures, [failure("k12", "payment_failed")]);
    let history = env.history("bulk-1").expect("history");
    assert_eq!(groups(&history), [BATCH_SIZE, BATCH_SIZE, 5]);
    // The parallel variant, given the same orders, runs them as one group.
    let (world, env) = shop();
    let batch = orders("k", 25, &[], &world);
    let handle = env
        .start::<ProcessBatchOrders>("batch-1", &batch)
        .expect("started");
    approve_as_they_start(&env, &batch);
    env.result(&handle).expect("batch completed");
    assert_eq!(groups(&env.history("batch-1").expect("history")), [25]);
}

#[test]
fn the_campaign_passes_every_oracle_under_the_default_fault_mix() {
    let report = batches::campaign().seeds(2).run_or_panic();
    assert!(report.faults_injected() > 0, "{report}");
    assert!(
        report
            .oracle_checks
            .get("invariant:admin alerted on partial failure")
            .copied()
            == Some(report.seeds.len()),
        "{report}"
    );
}
