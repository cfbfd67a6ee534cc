//! What a batch returns, and what the admin is told when part of it fails.

use serde::{Deserialize, Serialize};

/// How a batch went: every order settled, succeeded or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// Orders in the batch.
    pub total: usize,
    /// Orders completed (paid, approved, shipped).
    pub succeeded: usize,
    /// Orders that were not: undone, or whose workflow failed.
    pub failed: usize,
    /// Why each failed order failed, in the batch's order.
    pub failures: Vec<OrderFailure>,
}

/// One order of a batch that did not complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFailure {
    /// The order.
    pub order_id: String,
    /// Why: the order's failure reason (`payment_failed`), or how its workflow failed.
    pub error: String,
}

/// The alert an admin gets when part of a batch failed (the guide's `notifyAdmin` call).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAlert {
    /// What happened: [`BATCH_PARTIAL_FAILURE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The batch's workflow id.
    pub batch: String,
    /// Orders in the batch.
    pub total: usize,
    /// Orders that failed.
    pub failed: usize,
    /// Why each failed.
    pub errors: Vec<OrderFailure>,
}

/// The kind of alert sent when part of a batch failed.
pub const BATCH_PARTIAL_FAILURE: &str = "batch_partial_failure";

/// Where admin alerts go.
pub const ADMIN_EMAIL: &str = "ops@shop.example";
