//! The order's fault campaign: a handful of orders, each meeting a different outcome
//! (approved, rejected, no verdict, out of stock, declined, bounced, refused), under the
//! default fault mix, checked by every oracle of the test kit plus the order's own: the
//! saga (a reservation is released and a charge refunded, in reverse order, whenever the
//! order is undone) and the invariants of [`WorldSnapshot`].

use super::activities::{ChargePayment, RefundPayment, ReleaseInventory, ReserveInventory};
use super::model::{FraudCheck, FraudVerdict};
use super::scenario::{Trouble, open_shop};
use super::workflow::{FRAUD_CHECK_TIMEOUT, ProcessOrder};
use super::world::{World, WorldSnapshot};
use std::time::Duration;
use warpflow_engine::{Activity, Registry};
use warpflow_testkit::{Campaign, RunReport};

/// When the workload sends the fraud-check verdicts: well after the faults stop, well
/// before the check times out.
pub const VERDICT_AFTER: Duration = Duration::from_secs(3600);

/// Each step of the order and the activity that undoes it.
pub const SAGA: [(&str, &str); 2] = [
    (ReserveInventory::NAME, ReleaseInventory::NAME),
    (ChargePayment::NAME, RefundPayment::NAME),
];

/// One order of a workload: the trouble it meets, and the verdict sent [`VERDICT_AFTER`]
/// its start (none: the check times out).
pub type OrderCase = (Trouble, Option<FraudVerdict>);

/// The default workload: one order per outcome.
pub const ORDERS: [OrderCase; 7] = [
    (Trouble::None, Some(FraudVerdict::Approved)),
    (Trouble::None, Some(FraudVerdict::Rejected)),
    (Trouble::None, None),
    (Trouble::OutOfStock, None),
    (Trouble::CardDeclined, None),
    (Trouble::EmailBounces, Some(FraudVerdict::Approved)),
    (Trouble::WarehouseRefuses, Some(FraudVerdict::Approved)),
];

/// The order workflow's campaign over [`ORDERS`].
pub fn campaign() -> Campaign {
    orders_campaign("order_processing", super::registry, &ORDERS)
}

/// A campaign named `name` processing one order per case (ids `1`, `2`, ...) with the
/// workflow and activities of `registry`, on a fresh [`World`] (see [`shop_campaign`]), each
/// order's trouble arranged as it starts.
pub fn orders_campaign(name: &str, registry: fn(&World) -> Registry, cases: &[OrderCase]) -> Campaign {
    let world = World::default();
    let arrange = world.clone();
    let cases = cases.to_vec();
    shop_campaign(name, registry(&world), &world).workload(move |w| {
        for (n, (trouble, verdict)) in cases.iter().enumerate() {
            let order = trouble.order(&(n + 1).to_string(), &arrange);
            w.start::<ProcessOrder>(order.workflow_id(), &order);
            if let Some(verdict) = verdict {
                w.signal::<FraudCheck>(VERDICT_AFTER, order.workflow_id(), verdict);
            }
        }
    })
}

/// A campaign named `name` over `registry`, whose activities act on `world`, without a
/// workload yet: the shop opened before each run, the order's saga pairs ([`SAGA`]), a
/// liveness budget that covers the fraud check, and the invariants of [`WorldSnapshot`].
pub fn shop_campaign(name: &str, registry: Registry, world: &World) -> Campaign {
    let (reset, snapshot) = (world.clone(), world.clone());
    Campaign::new(name, registry)
        .world(
            move || {
                reset.reset();
                open_shop(&reset);
            },
            move || serde_json::to_value(snapshot.snapshot()).unwrap_or_default(),
        )
        .saga(SAGA)
        // A day of fraud check, plus the retries of whatever the faults broke.
        .liveness_budget(2 * FRAUD_CHECK_TIMEOUT)
        .invariant("reservations released or shipped", |run| {
            world_of(run)?.check_reservations_settled()
        })
        .invariant("charges refunded unless shipped", |run| {
            world_of(run)?.check_charges_settled()
        })
}

/// The world a run left, read back from its snapshot.
pub fn world_of(run: &RunReport) -> Result<WorldSnapshot, String> {
    serde_json::from_value(run.world.clone()).map_err(|e| format!("unreadable world snapshot: {e}"))
}
