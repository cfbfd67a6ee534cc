//! `order_processing`: the guide's order workflow (see [`workflow`] for what it does).
//!
//! - [`model`]: the order, its result, the `fraud_check` signal and the `get_status` query;
//! - [`mod@activities`]: one activity per service call, idempotent by the activity's key;
//! - [`workflow`]: the workflow, [`ProcessOrder`];
//! - [`world`]: the shop's services ([`World`]) and the invariants a finished order leaves;
//! - [`scenario`]: sample orders and the troubles they can meet;
//! - [`mod@campaign`]: the fault campaign.

pub mod activities;
pub mod campaign;
pub mod model;
pub mod scenario;
pub mod workflow;
pub mod world;

pub use activities::{
    ChargePayment, NotifyWarehouse, RefundPayment, ReleaseInventory, ReserveInventory, SendEmail,
};
pub use campaign::campaign;
pub use model::{
    Customer, FailureReason, FraudCheck, FraudVerdict, GetStatus, Order, OrderResult, OrderStatus, Stage,
};
pub use workflow::{FRAUD_CHECK_TIMEOUT, ProcessOrder};
pub use world::{World, WorldSnapshot};

use warpflow_engine::Registry;

/// The order's activities, bound to `world`'s services (no workflow: for registries that
/// bring their own version of the order workflow).
pub fn activities(world: &World) -> Registry {
    Registry::new()
        .with_activity(ReserveInventory(world.inventory.clone()))
        .with_activity(ReleaseInventory(world.inventory.clone()))
        .with_activity(ChargePayment(world.payments.clone()))
        .with_activity(RefundPayment(world.payments.clone()))
        .with_activity(SendEmail(world.email.clone()))
        .with_activity(NotifyWarehouse(world.warehouse.clone()))
}

/// [`ProcessOrder`] and its activities, bound to `world`'s services.
pub fn registry(world: &World) -> Registry {
    activities(world).with_workflow::<ProcessOrder>()
}
