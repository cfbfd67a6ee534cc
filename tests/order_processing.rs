//! The order workflow under the test kit: every path through it in virtual time (the 24-hour
//! fraud check included), the status query mid-wait, snapshots of the main paths' histories,
//! its fault campaign, and a property test of its saga under generated faults.

use proptest::prelude::*;
use std::time::Duration;
use warpflow::engine::client::WorkflowFailure;
use warpflow::engine::history::EventAttributes as E;
use warpflow::engine::{Activity, History};
use warpflow_examples::order_processing::campaign::{SAGA, orders_campaign};
use warpflow_examples::order_processing::scenario::{DECLINED_CARD, Trouble, open_shop};
use warpflow_examples::order_processing::{
    self as orders, FRAUD_CHECK_TIMEOUT, FailureReason, FraudCheck, FraudVerdict, GetStatus, OrderResult,
    ProcessOrder, RefundPayment, ReleaseInventory, Stage, World, WorldSnapshot,
};
use warpflow_testkit::strategy::fault_plan;
use warpflow_testkit::{TestEnv, assert_history_snapshot};

const HOUR: Duration = Duration::from_secs(3600);

/// What one order did.
struct Run {
    result: Result<OrderResult, WorkflowFailure>,
    world: WorldSnapshot,
    history: History,
    elapsed: Duration,
}

/// Processes order `1` meeting `trouble` in a fresh shop, sending `verdict` at its time if
/// given, until the workflow closes.
fn process(trouble: Trouble, verdict: Option<(Duration, FraudVerdict)>) -> Run {
    let world = World::default();
    open_shop(&world);
    let env = TestEnv::new(orders::registry(&world));
    let order = trouble.order("1", &world);
    let handle = env
        .start::<ProcessOrder>(order.workflow_id(), &order)
        .expect("started");
    if let Some((at, verdict)) = verdict {
        env.signal_after::<FraudCheck>(at, order.workflow_id(), &verdict);
    }
    let result = env.result(&handle);
    Run {
        result,
        world: world.snapshot(),
        history: env.history(order.workflow_id()).expect("history"),
        elapsed: env.elapsed(),
    }
}

/// The activity types the run scheduled, in order.
fn activities(history: &History) -> Vec<String> {
    history
        .events
        .iter()
        .filter_map(|e| match &e.attributes {
            E::ActivityTaskScheduled { activity_type, .. } => Some(activity_type.to_string()),
            _ => None,
        })
        .collect()
}

fn failed(reason: FailureReason) -> Result<OrderResult, WorkflowFailure> {
    Ok(OrderResult::Failed { reason })
}

/// Asserts that the order left nothing behind: its reservation released, its charge (if
/// any) refunded, nothing shipped.
fn assert_undone(run: &Run) {
    assert!(run.world.shipments.is_empty(), "{:?}", run.world.shipments);
    assert_eq!(run.world.payments.captured_cents(), 0, "{:?}", run.world.payments);
    assert_eq!(run.world.check_reservations_settled(), Ok(()));
    assert_eq!(run.world.check_charges_settled(), Ok(()));
}

#[test]
fn an_approved_order_is_confirmed_and_shipped() {
    let run = process(Trouble::None, Some((3 * HOUR, FraudVerdict::Approved)));
    assert_eq!(
        run.result,
        Ok(OrderResult::Completed {
            order_id: "1".into(),
            shipment_id: "ship-1".into(),
        })
    );
    assert_eq!(
        activities(&run.history),
        [
            "reserve_inventory",
            "charge_payment",
            "send_email",
            "notify_warehouse"
        ]
    );
    assert_eq!(run.world.payments.captured_cents(), 3_500);
    assert_eq!(run.world.emails.len(), 1);
    assert_eq!(run.world.emails[0].template, "order_confirmed");
    assert_eq!(run.world.emails[0].to, "customer-1@example.com");
    assert_eq!(run.world.check_reservations_settled(), Ok(()));
    assert_eq!(run.world.check_charges_settled(), Ok(()));
    // It waited for the verdict, and not a moment longer.
    assert!(run.elapsed >= 3 * HOUR && run.elapsed < 3 * HOUR + Duration::from_secs(1));
    assert_history_snapshot!("order_approved", run.history);
}

#[test]
fn a_rejected_order_is_refunded_then_released() {
    let run = process(Trouble::None, Some((5 * HOUR, FraudVerdict::Rejected)));
    assert_eq!(run.result, failed(FailureReason::FraudRejected));
    assert_eq!(
        activities(&run.history),
        [
            "reserve_inventory",
            "charge_payment",
            "refund_payment",
            "release_inventory"
        ]
    );
    assert_undone(&run);
    assert!(run.world.emails.is_empty());
    assert_history_snapshot!("order_fraud_rejected", run.history);
}

#[test]
fn an_order_without_a_verdict_is_undone_after_24_hours_of_virtual_time() {
    let run = process(Trouble::None, None);
    assert_eq!(run.result, failed(FailureReason::FraudCheckTimedOut));
    assert_undone(&run);
    assert!(
        run.elapsed >= FRAUD_CHECK_TIMEOUT && run.elapsed < FRAUD_CHECK_TIMEOUT + Duration::from_secs(1),
        "{:?}",
        run.elapsed
    );
    assert_history_snapshot!("order_fraud_check_timed_out", run.history);
}

#[test]
fn a_verdict_after_the_timeout_changes_nothing() {
    let run = process(
        Trouble::None,
        Some((FRAUD_CHECK_TIMEOUT + HOUR, FraudVerdict::Approved)),
    );
    assert_eq!(run.result, failed(FailureReason::FraudCheckTimedOut));
    assert_undone(&run);
}

#[test]
fn an_order_out_of_stock_charges_nothing() {
    let run = process(Trouble::OutOfStock, None);
    assert_eq!(run.result, failed(FailureReason::OutOfStock));
    assert_eq!(activities(&run.history), ["reserve_inventory"]);
    assert!(run.world.inventory.reservations.is_empty());
    assert!(run.world.payments.charges.is_empty());
}

#[test]
fn a_declined_card_releases_the_reservation() {
    let run = process(Trouble::CardDeclined, Some((HOUR, FraudVerdict::Approved)));
    assert_eq!(run.result, failed(FailureReason::PaymentFailed));
    assert_eq!(
        activities(&run.history),
        ["reserve_inventory", "charge_payment", "release_inventory"]
    );
    assert_undone(&run);
    assert!(run.world.payments.charges.is_empty());
    assert_eq!(run.world.inventory.stock["mug"], 1_000);
    assert_history_snapshot!("order_payment_declined", run.history);
}

/// Asserts that `run` failed with `error_type` after undoing the charge and the reservation.
fn assert_failed_and_undone(run: &Run, error_type: &str) {
    match &run.result {
        Err(WorkflowFailure::Failed(f)) => assert_eq!(f.error_type, error_type, "{f}"),
        other => panic!("expected a failed run, got {other:?}"),
    }
    let scheduled = activities(&run.history);
    assert_eq!(
        scheduled[scheduled.len() - 2..],
        [RefundPayment::NAME, ReleaseInventory::NAME],
        "compensations run last, in reverse order: {scheduled:?}"
    );
    assert_undone(run);
}

#[test]
fn a_bounced_confirmation_fails_the_order_after_undoing_it() {
    let run = process(Trouble::EmailBounces, Some((HOUR, FraudVerdict::Approved)));
    assert_failed_and_undone(&run, "EmailBounced");
    assert!(run.world.emails.is_empty());
}

#[test]
fn a_refused_shipment_fails_the_order_after_undoing_it() {
    let run = process(Trouble::WarehouseRefuses, Some((HOUR, FraudVerdict::Approved)));
    assert_failed_and_undone(&run, "ShipmentRefused");
    // The confirmation went out before the warehouse said no: it is not unsent.
    assert_eq!(run.world.emails.len(), 1);
}

#[test]
fn a_payment_gateway_outage_is_retried_with_backoff_and_charges_once() {
    let world = World::default();
    open_shop(&world);
    world.payments.outage(3);
    let env = TestEnv::new(orders::registry(&world));
    let order = Trouble::None.order("1", &world);
    let handle = env
        .start::<ProcessOrder>(order.workflow_id(), &order)
        .expect("started");
    env.signal_after::<FraudCheck>(HOUR, order.workflow_id(), &FraudVerdict::Approved);
    assert!(env.result(&handle).expect("completed").is_completed());
    assert_eq!(world.payments.snapshot().charges.len(), 1);
    let history = env.history(order.workflow_id()).expect("history");
    let attempts: Vec<u32> = history
        .events
        .iter()
        .filter_map(|e| match &e.attributes {
            E::ActivityTaskStarted { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    // The charge's fourth attempt went through, 1 + 2 + 4 seconds after the first.
    assert_eq!(attempts, [1, 4, 1, 1]);
}

#[test]
fn the_status_query_follows_the_order_through_the_fraud_check() {
    let world = World::default();
    open_shop(&world);
    let env = TestEnv::new(orders::registry(&world));
    let order = Trouble::None.order("1", &world);
    let id = order.workflow_id();
    let handle = env.start::<ProcessOrder>(id.clone(), &order).expect("started");
    env.skip(12 * HOUR);
    let waiting = env.query::<GetStatus>(id.clone(), &()).expect("status");
    assert_eq!(waiting.stage, Stage::AwaitingFraudCheck);
    assert_eq!(waiting.reservation_id.as_deref(), Some("res-1"));
    assert_eq!(waiting.charge_id.as_deref(), Some("chg-1"));
    env.signal::<FraudCheck>(id.clone(), &FraudVerdict::Approved)
        .expect("signalled");
    // A second verdict does not overturn the first.
    env.signal::<FraudCheck>(id.clone(), &FraudVerdict::Rejected)
        .expect("signalled");
    assert!(env.result(&handle).expect("completed").is_completed());
    assert_eq!(
        env.query::<GetStatus>(id, &()).expect("status").stage,
        Stage::Completed
    );
    assert_eq!(env.elapsed(), 12 * HOUR);
}

#[test]
fn the_declined_card_of_the_scenario_is_the_only_one_declined() {
    let world = World::default();
    open_shop(&world);
    let order = Trouble::CardDeclined.order("1", &world);
    assert_eq!(order.customer.card, DECLINED_CARD);
    assert_ne!(Trouble::None.order("2", &world).customer.card, DECLINED_CARD);
}

#[test]
fn the_campaign_passes_every_oracle_under_the_default_fault_mix() {
    let report = orders::campaign().seeds(4).run_or_panic();
    assert_eq!(report.workflows_run, report.seeds.len() * 7, "{report}");
    assert!(report.faults_injected() > 0, "{report}");
    for oracle in [
        "saga",
        "crash-equivalence",
        "invariant:reservations released or shipped",
    ] {
        assert!(
            report.oracle_checks.get(oracle).copied().unwrap_or(0) > 0,
            "{oracle}: {report}"
        );
    }
}

/// Any verdict: approved, rejected, or none (the check times out).
fn verdict() -> impl Strategy<Value = Option<FraudVerdict>> {
    proptest::option::of(prop_oneof![
        Just(FraudVerdict::Approved),
        Just(FraudVerdict::Rejected)
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// For any step at which a service refuses the order for good, any verdict, and any plan
    /// of crashes, storage, network and activity faults: the saga oracle holds (what was done
    /// is undone exactly once, in reverse order), every reservation is released or shipped,
    /// and the result and the world equal the fault-free run's.
    #[test]
    fn the_saga_holds_for_any_failure_point_and_fault_plan(
        trouble in proptest::sample::select(Trouble::ALL.to_vec()),
        verdict in verdict(),
        plan in fault_plan(6, Duration::from_secs(20)),
    ) {
        let report = orders_campaign("order saga", orders::registry, &[(trouble, verdict)])
            .fault_plan(plan)
            .seeds(1)
            .check_twice(0)
            .max_shrink_runs(0)
            .run();
        prop_assert!(report.failures.is_empty(), "{}", report);
        prop_assert_eq!(report.oracle_checks.get("saga").copied(), Some(1));
    }
}

#[test]
fn the_saga_pairs_name_the_workflow_activities() {
    let world = World::default();
    let registry = orders::registry(&world);
    for (step, compensation) in SAGA {
        assert!(registry.activity(step).is_ok(), "{step}");
        assert!(registry.activity(compensation).is_ok(), "{compensation}");
    }
}
