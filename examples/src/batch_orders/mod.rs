//! `batch_orders`: the guide's batch of orders, one child `process_order` workflow per order
//! (see [`workflow`] for what it does).
//!
//! - [`model`]: the batch's summary and the admin's alert;
//! - [`mod@activities`]: the `notify_admin` activity;
//! - [`workflow`]: [`ProcessBatchOrders`] (all at once) and [`ProcessBulkOrders`] (in groups
//!   of [`BATCH_SIZE`]);
//! - [`mod@campaign`]: the fault campaign.

pub mod activities;
pub mod campaign;
pub mod model;
pub mod workflow;

pub use activities::NotifyAdmin;
pub use campaign::campaign;
pub use model::{ADMIN_EMAIL, AdminAlert, BATCH_PARTIAL_FAILURE, BatchSummary, OrderFailure};
pub use workflow::{BATCH_SIZE, ProcessBatchOrders, ProcessBulkOrders};

use crate::order_processing::{self, World};
use warpflow_engine::Registry;

/// The batch workflows, the order workflow they run as children, and every activity, bound
/// to `world`'s services.
pub fn registry(world: &World) -> Registry {
    order_processing::registry(world)
        .with_workflow::<ProcessBatchOrders>()
        .with_workflow::<ProcessBulkOrders>()
        .with_activity(NotifyAdmin(world.email.clone()))
}
