//! What an order is, what its workflow returns, and the signal and query it answers.

use crate::services::inventory::Item;
use serde::{Deserialize, Serialize};
use warpflow_engine::workflow::{Query, Signal};

/// An order to process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order's id (its workflow id is `order-<id>`).
    pub id: String,
    /// Who ordered.
    pub customer: Customer,
    /// What.
    pub items: Vec<Item>,
    /// What it costs, in cents.
    pub total_cents: u64,
}

/// The customer of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// The customer's id.
    pub id: String,
    /// Where confirmations go.
    pub email: String,
    /// The card to charge.
    pub card: String,
}

impl Order {
    /// The workflow id an order is processed under: `order-<id>`.
    pub fn workflow_id(&self) -> String {
        workflow_id(&self.id)
    }
}

/// The workflow id of order `order_id`: `order-<id>`.
pub fn workflow_id(order_id: &str) -> String {
    format!("order-{order_id}")
}

/// How an order ended when nothing went wrong with the services themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OrderResult {
    /// Paid, approved, confirmed to the customer, and on its way.
    Completed {
        /// The order.
        order_id: String,
        /// The warehouse's shipment.
        shipment_id: String,
    },
    /// Not processed; whatever was done was undone.
    Failed {
        /// Why.
        reason: FailureReason,
    },
}

impl OrderResult {
    /// True for a completed order.
    pub fn is_completed(&self) -> bool {
        matches!(self, OrderResult::Completed { .. })
    }
}

/// Why an order was not processed (a business outcome, not a breakdown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The inventory could not reserve the items.
    OutOfStock,
    /// The card was declined.
    PaymentFailed,
    /// The fraud check rejected the order.
    FraudRejected,
    /// No fraud-check verdict came within the time allowed.
    FraudCheckTimedOut,
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            FailureReason::OutOfStock => "out_of_stock",
            FailureReason::PaymentFailed => "payment_failed",
            FailureReason::FraudRejected => "fraud_rejected",
            FailureReason::FraudCheckTimedOut => "fraud_check_timed_out",
        };
        f.write_str(s)
    }
}

/// The fraud check's verdict on an order, sent by the reviewer (a person or a service).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FraudVerdict {
    /// Go ahead.
    Approved,
    /// Do not ship; refund.
    Rejected,
}

/// The signal that completes the fraud check. The first verdict counts.
#[derive(Debug)]
pub struct FraudCheck;
impl Signal for FraudCheck {
    const NAME: &'static str = "fraud_check";
    type Input = FraudVerdict;
}

/// Where an order's processing stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reserving the items.
    Reserving,
    /// Charging the card.
    Charging,
    /// Waiting for the fraud check's verdict.
    AwaitingFraudCheck,
    /// Emailing the confirmation.
    Confirming,
    /// Asking the warehouse to ship.
    NotifyingWarehouse,
    /// Undoing what was done.
    Compensating,
    /// Done and shipped.
    Completed,
    /// Not processed.
    Failed,
}

/// What the status query answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatus {
    /// The current stage.
    pub stage: Stage,
    /// The inventory reservation, once made.
    pub reservation_id: Option<String>,
    /// The payment, once charged.
    pub charge_id: Option<String>,
}

/// The status query.
#[derive(Debug)]
pub struct GetStatus;
impl Query for GetStatus {
    const NAME: &'static str = "get_status";
    type Args = ();
    type Output = OrderStatus;
}
