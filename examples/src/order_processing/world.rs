//! The world an order acts on: the shop's four services, its snapshot for fault campaigns,
//! and the invariants every finished order must leave true.

use crate::services::email::Message;
use crate::services::inventory::{InventorySnapshot, ReservationStatus};
use crate::services::payments::PaymentsSnapshot;
use crate::services::warehouse::ShipmentRequest;
use crate::services::{Email, Inventory, Payments, Warehouse};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The shop's services. Cheap to clone: clones share the services' state.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// Stock and reservations.
    pub inventory: Inventory,
    /// Charges and refunds.
    pub payments: Payments,
    /// Confirmations and alerts sent.
    pub email: Email,
    /// Shipments.
    pub warehouse: Warehouse,
}

impl World {
    /// Empties every service (scripted failures included).
    pub fn reset(&self) {
        self.inventory.reset();
        self.payments.reset();
        self.email.reset();
        self.warehouse.reset();
    }

    /// What every service holds.
    pub fn snapshot(&self) -> WorldSnapshot {
        WorldSnapshot {
            inventory: self.inventory.snapshot(),
            payments: self.payments.snapshot(),
            emails: self.email.snapshot(),
            shipments: self.warehouse.snapshot(),
        }
    }
}

/// What every service of a [`World`] holds: comparable, and serializable for a campaign's
/// crash-equivalence oracle (which reads it back to check the invariants).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldSnapshot {
    /// Stock and reservations.
    pub inventory: InventorySnapshot,
    /// Charges.
    pub payments: PaymentsSnapshot,
    /// Messages sent, by workflow and activity.
    pub emails: Vec<Message>,
    /// Shipments by id.
    pub shipments: BTreeMap<String, ShipmentRequest>,
}

impl WorldSnapshot {
    /// Once every order is finished: each reservation was either released or shipped, never
    /// both and never neither (no stock stuck, none sold twice).
    pub fn check_reservations_settled(&self) -> Result<(), String> {
        let shipped: BTreeSet<&str> = self
            .shipments
            .values()
            .map(|s| s.reservation_id.as_str())
            .collect();
        for (id, reservation) in &self.inventory.reservations {
            let released = reservation.status == ReservationStatus::Released;
            match (released, shipped.contains(id.as_str())) {
                (true, false) | (false, true) => {}
                (true, true) => return Err(format!("reservation {id} was both released and shipped")),
                (false, false) => return Err(format!("reservation {id} is still held, and not shipped")),
            }
        }
        Ok(())
    }

    /// Once every order is finished: the money kept is exactly that of the orders shipped
    /// (every other charge was refunded).
    pub fn check_charges_settled(&self) -> Result<(), String> {
        let shipped: BTreeSet<&str> = self.shipments.values().map(|s| s.order_id.as_str()).collect();
        for (id, charge) in &self.payments.charges {
            let kept = !charge.refunded;
            if kept != shipped.contains(charge.request.order_id.as_str()) {
                let what = if kept {
                    "kept, but the order did not ship"
                } else {
                    "refunded, but the order shipped"
                };
                return Err(format!(
                    "charge {id} of order {} was {what}",
                    charge.request.order_id
                ));
            }
        }
        Ok(())
    }
}
