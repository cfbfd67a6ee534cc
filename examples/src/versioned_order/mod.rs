//! `versioned_order`: changing a workflow while runs of it are in flight (see [`workflow`]).
//!
//! Version 1 is `order_processing`'s [`ProcessOrder`](crate::order_processing::ProcessOrder).
//! Histories it recorded are committed under `tests/histories/versioned_order/`, and a test
//! replays them against version 2, [`ProcessOrderV2`], which introduces a step behind
//! `ctx.patched(..)`; another shows that [`ProcessOrderUnpatched`], the same step without
//! the patch, fails that check with a report naming the run, the event and what differs.

pub mod workflow;

pub use workflow::{FEEDBACK_PATCH, ProcessOrderUnpatched, ProcessOrderV2};

use crate::order_processing::campaign::{ORDERS, orders_campaign};
use crate::order_processing::{self, World};
use warpflow_engine::Registry;
use warpflow_testkit::Campaign;

/// Version 1: the order workflow as it shipped, and its activities.
pub fn registry_v1(world: &World) -> Registry {
    order_processing::registry(world)
}

/// Version 2 ([`ProcessOrderV2`]) and the order's activities, bound to `world`'s services.
pub fn registry(world: &World) -> Registry {
    order_processing::activities(world).with_workflow::<ProcessOrderV2>()
}

/// The unpatched change ([`ProcessOrderUnpatched`]) and the order's activities.
pub fn registry_unpatched(world: &World) -> Registry {
    order_processing::activities(world).with_workflow::<ProcessOrderUnpatched>()
}

/// Version 2 under the order's fault campaign: every outcome, the default fault mix, the
/// saga and the shop's invariants.
pub fn campaign() -> Campaign {
    orders_campaign("versioned_order", registry, &ORDERS)
}
