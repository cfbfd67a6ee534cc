//! `process_order`: the guide's order workflow.
//!
//! Reserve the items, charge the card, then wait up to 24 hours for the fraud check's
//! verdict. Approved: email the confirmation and ask the warehouse to ship. Rejected, or no
//! verdict in time: refund the charge and release the items. Out of stock or a declined card
//! ends the order early, undoing what was done; any other failure (an activity that fails
//! for good) undoes everything done so far and fails the run.
//!
//! Two departures from the guide's TypeScript, both deliberate:
//! - activities retry transient failures until they pass (Temporal's default policy) instead
//!   of giving up after 3 attempts: giving up on a flaky network would refund a good order.
//!   What must not be retried (a declined card, an unknown address) fails non-retryably;
//! - a failure after the charge refunds it as well as releasing the items: the guide's
//!   `catch` only releases, which would keep the money of an order that never ships.

use super::activities::{
    ChargePayment, NotifyWarehouse, RefundPayment, ReleaseInventory, ReserveInventory, ReserveRequest,
    SendEmail,
};
use super::model::{
    FailureReason, FraudCheck, FraudVerdict, GetStatus, Order, OrderResult, OrderStatus, Stage,
};
use crate::services::email::Message;
use crate::services::inventory::OUT_OF_STOCK;
use crate::services::payments::{CARD_DECLINED, ChargeRequest};
use crate::services::warehouse::ShipmentRequest;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use warpflow_engine::workflow::{Workflow, WorkflowCtx};
use warpflow_engine::{
    Activity, ActivityError, ActivityOptions, RetryPolicy, Saga, WorkflowError, WorkflowResult,
};

/// How long the fraud check may take before the order is undone.
pub const FRAUD_CHECK_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// How long one attempt of an activity may take (the guide's `startToCloseTimeout`).
pub const ACTIVITY_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The options of every activity of the order: five minutes per attempt, retried with
/// Temporal's default backoff (1 s, doubling, at most 100 s apart) until it passes or fails
/// for good.
pub fn activity_options() -> ActivityOptions {
    ActivityOptions {
        retry_policy: RetryPolicy::default(),
        ..ActivityOptions::start_to_close(ACTIVITY_ATTEMPT_TIMEOUT)
    }
}

/// The order workflow. See the module documentation.
#[derive(Debug)]
pub struct ProcessOrder;

impl Workflow for ProcessOrder {
    const NAME: &'static str = "process_order";
    type Input = Order;
    type Output = OrderResult;

    async fn run(ctx: WorkflowCtx, order: Order) -> WorkflowResult<OrderResult> {
        let status = StatusBoard::publish(&ctx);
        let verdict = listen_for_verdict(&ctx);

        let reserve = ReserveRequest {
            order_id: order.id.clone(),
            items: order.items.clone(),
        };
        let reservation = match ctx
            .activity_with::<ReserveInventory>(reserve, activity_options())
            .await
        {
            Ok(id) => id,
            Err(e) if is(&e, OUT_OF_STOCK) => return Ok(status.failed(FailureReason::OutOfStock)),
            Err(e) => return Err(status.broke(e.into())),
        };
        status.update(|s| s.reservation_id = Some(reservation.clone()));
        let mut saga = Saga::new();
        let (c, r) = (ctx.clone(), reservation.clone());
        saga.add(ReleaseInventory::NAME, move || {
            c.activity_with::<ReleaseInventory>(r, activity_options()).start()
        });

        match fulfil(&ctx, &order, &reservation, &mut saga, &status, &verdict).await {
            Ok(Fulfilment::Shipped(shipment_id)) => {
                status.update(|s| s.stage = Stage::Completed);
                Ok(OrderResult::Completed {
                    order_id: order.id,
                    shipment_id,
                })
            }
            Ok(Fulfilment::Undo(reason)) => {
                undo(saga, &status).await?;
                Ok(status.failed(reason))
            }
            Err(e) => {
                undo(saga, &status).await?;
                Err(status.broke(e))
            }
        }
    }
}

/// What the steps after the reservation came to.
enum Fulfilment {
    /// The warehouse took the shipment (its id).
    Shipped(String),
    /// The order is not going ahead: undo what was done.
    Undo(FailureReason),
}

/// Charge, wait for the fraud check, confirm, ship; each step that succeeds registers its
/// compensation with `saga`.
async fn fulfil(
    ctx: &WorkflowCtx,
    order: &Order,
    reservation: &str,
    saga: &mut Saga,
    status: &StatusBoard,
    verdict: &Rc<Cell<Option<FraudVerdict>>>,
) -> WorkflowResult<Fulfilment> {
    status.update(|s| s.stage = Stage::Charging);
    let charge = ChargeRequest {
        order_id: order.id.clone(),
        customer_id: order.customer.id.clone(),
        card: order.customer.card.clone(),
        amount_cents: order.total_cents,
    };
    let charge_id = match ctx
        .activity_with::<ChargePayment>(charge, activity_options())
        .await
    {
        Ok(id) => id,
        Err(e) if is(&e, CARD_DECLINED) => return Ok(Fulfilment::Undo(FailureReason::PaymentFailed)),
        Err(e) => return Err(e.into()),
    };
    status.update(|s| s.charge_id = Some(charge_id.clone()));
    let c = ctx.clone();
    saga.add(RefundPayment::NAME, move || {
        c.activity_with::<RefundPayment>(charge_id, activity_options())
            .start()
    });

    // The fraud check is done elsewhere (a person, a scoring service); its verdict arrives as
    // a signal, or not at all.
    status.update(|s| s.stage = Stage::AwaitingFraudCheck);
    let arrived = verdict.clone();
    ctx.condition_timeout(move || arrived.get().is_some(), FRAUD_CHECK_TIMEOUT)
        .await;
    match verdict.get() {
        None => return Ok(Fulfilment::Undo(FailureReason::FraudCheckTimedOut)),
        Some(FraudVerdict::Rejected) => return Ok(Fulfilment::Undo(FailureReason::FraudRejected)),
        Some(FraudVerdict::Approved) => {}
    }

    status.update(|s| s.stage = Stage::Confirming);
    let confirmation = Message {
        to: order.customer.email.clone(),
        template: "order_confirmed".into(),
        data: json!({ "order_id": order.id, "total_cents": order.total_cents }),
    };
    ctx.activity_with::<SendEmail>(confirmation, activity_options())
        .await?;

    status.update(|s| s.stage = Stage::NotifyingWarehouse);
    let shipment = ShipmentRequest {
        order_id: order.id.clone(),
        reservation_id: reservation.to_owned(),
        items: order.items.clone(),
    };
    let shipment_id = ctx
        .activity_with::<NotifyWarehouse>(shipment, activity_options())
        .await?;
    Ok(Fulfilment::Shipped(shipment_id))
}

/// Runs the compensations, last step first. One that fails for good fails the run: a person
/// has to look at an order whose money or stock is stuck.
async fn undo(saga: Saga, status: &StatusBoard) -> WorkflowResult<()> {
    status.update(|s| s.stage = Stage::Compensating);
    let report = saga.compensate().await;
    if report.all_succeeded() {
        return Ok(());
    }
    let failed: Vec<String> = report
        .outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|e| format!("{}: {e}", o.name)))
        .collect();
    Err(status.broke(WorkflowError::fail(
        "CompensationFailed",
        format!("could not undo the order: {}", failed.join("; ")),
    )))
}

/// Whether `e` is an application failure of type `error_type`.
fn is(e: &ActivityError, error_type: &str) -> bool {
    e.error_type() == Some(error_type)
}

/// The first fraud-check verdict, once it arrives.
fn listen_for_verdict(ctx: &WorkflowCtx) -> Rc<Cell<Option<FraudVerdict>>> {
    let verdict = Rc::new(Cell::new(None));
    let first = verdict.clone();
    ctx.on_signal::<FraudCheck>(move |v| {
        if first.get().is_none() {
            first.set(Some(v));
        }
    });
    verdict
}

/// The order's status, published to the status query.
struct StatusBoard(Rc<RefCell<OrderStatus>>);

impl StatusBoard {
    fn publish(ctx: &WorkflowCtx) -> StatusBoard {
        let status = Rc::new(RefCell::new(OrderStatus {
            stage: Stage::Reserving,
            reservation_id: None,
            charge_id: None,
        }));
        let read = status.clone();
        ctx.on_query::<GetStatus>(move |()| read.borrow().clone());
        StatusBoard(status)
    }

    fn update(&self, change: impl FnOnce(&mut OrderStatus)) {
        change(&mut self.0.borrow_mut());
    }

    /// Marks the order failed for `reason`: the result to return.
    fn failed(&self, reason: FailureReason) -> OrderResult {
        self.update(|s| s.stage = Stage::Failed);
        OrderResult::Failed { reason }
    }

    /// Marks the order failed by error `e`: the error to return.
    fn broke(&self, e: WorkflowError) -> WorkflowError {
        self.update(|s| s.stage = Stage::Failed);
        e
    }
}
