//! The order's activities: each one call of a simulated service, with the activity's
//! idempotency key, so a retried attempt does not reserve, charge, email or ship twice.

use crate::services::email::Message;
use crate::services::inventory::Item;
use crate::services::payments::ChargeRequest;
use crate::services::warehouse::ShipmentRequest;
use crate::services::{Email, Inventory, Payments, ShopError, Warehouse, idempotency_key};
use serde::{Deserialize, Serialize};
use warpflow_engine::{Activity, ActivityCtx, ActivityError};

/// What to reserve for an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveRequest {
    /// The order.
    pub order_id: String,
    /// Its items.
    pub items: Vec<Item>,
}

/// Reserves an order's items: the reservation id. Fails for good with `OutOfStock`.
#[derive(Debug)]
pub struct ReserveInventory(pub Inventory);
impl Activity for ReserveInventory {
    const NAME: &'static str = "reserve_inventory";
    type Input = ReserveRequest;
    type Output = String;
    async fn run(&self, ctx: ActivityCtx, request: ReserveRequest) -> Result<String, ActivityError> {
        self.0
            .reserve(&idempotency_key(&ctx), &request.order_id, &request.items)
            .map_err(ShopError::into_activity_error)
    }
}

/// Puts a reservation's items back in stock: the compensation of [`ReserveInventory`].
#[derive(Debug)]
pub struct ReleaseInventory(pub Inventory);
impl Activity for ReleaseInventory {
    const NAME: &'static str = "release_inventory";
    type Input = String;
    type Output = ();
    async fn run(&self, _ctx: ActivityCtx, reservation_id: String) -> Result<(), ActivityError> {
        self.0
            .release(&reservation_id)
            .map_err(ShopError::into_activity_error)
    }
}

/// Charges the customer's card: the charge id. Fails for good with `CardDeclined`.
#[derive(Debug)]
pub struct ChargePayment(pub Payments);
impl Activity for ChargePayment {
    const NAME: &'static str = "charge_payment";
    type Input = ChargeRequest;
    type Output = String;
    async fn run(&self, ctx: ActivityCtx, request: ChargeRequest) -> Result<String, ActivityError> {
        self.0
            .charge(&idempotency_key(&ctx), &request)
            .map_err(ShopError::into_activity_error)
    }
}

/// Refunds a charge: the refund id. The compensation of [`ChargePayment`].
#[derive(Debug)]
pub struct RefundPayment(pub Payments);
impl Activity for RefundPayment {
    const NAME: &'static str = "refund_payment";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: ActivityCtx, charge_id: String) -> Result<String, ActivityError> {
        self.0.refund(&charge_id).map_err(ShopError::into_activity_error)
    }
}

/// Sends an email. Fails for good with `EmailBounced`.
#[derive(Debug)]
pub struct SendEmail(pub Email);
impl Activity for SendEmail {
    const NAME: &'static str = "send_email";
    type Input = Message;
    type Output = ();
    async fn run(&self, ctx: ActivityCtx, message: Message) -> Result<(), ActivityError> {
        self.0
            .send(&idempotency_key(&ctx), &message)
            .map_err(ShopError::into_activity_error)
    }
}

/// Asks the warehouse to ship an order: the shipment id. Fails for good with
/// `ShipmentRefused`.
#[derive(Debug)]
pub struct NotifyWarehouse(pub Warehouse);
impl Activity for NotifyWarehouse {
    const NAME: &'static str = "notify_warehouse";
    type Input = ShipmentRequest;
    type Output = String;
    async fn run(&self, ctx: ActivityCtx, request: ShipmentRequest) -> Result<String, ActivityError> {
        self.0
            .request_shipment(&idempotency_key(&ctx), &request)
            .map_err(ShopError::into_activity_error)
    }
}
