//! The inventory service: stock per SKU and the reservations held against it.
//!
//! A reservation takes every item of an order from stock at once, or none of them (out of
//! stock); releasing it puts the items back. Reservations are never forgotten: the state a
//! test inspects says which are still held and which were released.

use super::{Answered, Shared, ShopError, unused_id};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An item of an order: a quantity of one SKU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

/// Where a reservation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// The items are out of stock, set aside for the order.
    Held,
    /// The items went back to stock.
    Released,
}

/// Items set aside for an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The order.
    pub order_id: String,
    /// What it holds.
    pub items: Vec<Item>,
    /// Held or released.
    pub status: ReservationStatus,
}

/// What the inventory service answers besides success.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// Not enough of `sku` in stock.
    #[error("out of stock: {sku} (wanted {wanted}, have {available})")]
    OutOfStock {
        /// The SKU that ran short.
        sku: String,
        /// How many the order wanted.
        wanted: u32,
        /// How many were left.
        available: u32,
    },
    /// No reservation has this id.
    #[error("no reservation {0}")]
    UnknownReservation(String),
}

/// The error type of [`InventoryError::OutOfStock`].
pub const OUT_OF_STOCK: &str = "OutOfStock";

impl ShopError for InventoryError {
    fn error_type(&self) -> &'static str {
        match self {
            InventoryError::OutOfStock { .. } => OUT_OF_STOCK,
            InventoryError::UnknownReservation(_) => "UnknownReservation",
        }
    }

    fn is_retryable(&self) -> bool {
        false
    }
}

/// The inventory's state, as a test or a campaign sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventorySnapshot {
    /// Units in stock by SKU.
    pub stock: BTreeMap<String, u32>,
    /// Every reservation by id.
    pub reservations: BTreeMap<String, Reservation>,
}

#[derive(Debug, Default)]
struct State {
    books: InventorySnapshot,
    reserved: Answered<String>,
}

/// A handle on the inventory service. Clones share the state.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    state: Shared<State>,
}

impl Inventory {
    /// Forgets everything: state and scripted failures.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Sets the stock of `sku` to `units`.
    pub fn set_stock(&self, sku: &str, units: u32) {
        self.state.lock().books.stock.insert(sku.to_owned(), units);
    }

    /// Units of `sku` in stock.
    pub fn stock(&self, sku: &str) -> u32 {
        self.state.lock().books.stock.get(sku).copied().unwrap_or(0)
    }

    /// Reserves every item of `order_id` (all or nothing), once per `key`: the id of the
    /// reservation (`res-<order id>`).
    pub fn reserve(&self, key: &str, order_id: &str, items: &[Item]) -> Result<String, InventoryError> {
        let mut state = self.state.lock();
        let State { books, reserved } = &mut *state;
        reserved.once(key, || {
            for item in items {
                let available = books.stock.get(&item.sku).copied().unwrap_or(0);
                if available < item.quantity {
                    return Err(InventoryError::OutOfStock {
                        sku: item.sku.clone(),
                        wanted: item.quantity,
                        available,
                    });
                }
            }
            for item in items {
                if let Some(units) = books.stock.get_mut(&item.sku) {
                    *units -= item.quantity;
                }
            }
            let id = unused_id(&books.reservations, &format!("res-{order_id}"));
            books.reservations.insert(
                id.clone(),
                Reservation {
                    order_id: order_id.to_owned(),
                    items: items.to_vec(),
                    status: ReservationStatus::Held,
                },
            );
            Ok(id)
        })
    }

    /// Puts the items of `reservation_id` back in stock. Releasing a released reservation
    /// changes nothing, so the operation is idempotent by itself.
    pub fn release(&self, reservation_id: &str) -> Result<(), InventoryError> {
        let mut state = self.state.lock();
        let books = &mut state.books;
        let reservation = books
            .reservations
            .get_mut(reservation_id)
            .ok_or_else(|| InventoryError::UnknownReservation(reservation_id.to_owned()))?;
        if reservation.status == ReservationStatus::Released {
            return Ok(());
        }
        reservation.status = ReservationStatus::Released;
        for item in &reservation.items {
            *books.stock.entry(item.sku.clone()).or_default() += item.quantity;
        }
        Ok(())
    }

    /// The reservation `id`.
    pub fn reservation(&self, id: &str) -> Option<Reservation> {
        self.state.lock().books.reservations.get(id).cloned()
    }

    /// Stock and reservations.
    pub fn snapshot(&self) -> InventorySnapshot {
        self.state.lock().books.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: u32) -> Vec<Item> {
        vec![Item {
            sku: "mug".into(),
            quantity: n,
        }]
    }

    #[test]
    fn a_reservation_is_all_or_nothing_and_once_per_key() {
        let inventory = Inventory::default();
        inventory.set_stock("mug", 3);
        assert_eq!(inventory.reserve("wf/1", "o-1", &items(2)), Ok("res-o-1".into()));
        assert_eq!(inventory.reserve("wf/1", "o-1", &items(2)), Ok("res-o-1".into()));
        assert_eq!(inventory.stock("mug"), 1);
        let short = inventory.reserve("wf2/1", "o-2", &items(2));
        assert!(matches!(
            short,
            Err(InventoryError::OutOfStock { available: 1, .. })
        ));
        assert_eq!(inventory.stock("mug"), 1);
    }

    #[test]
    fn releasing_twice_restores_stock_once() {
        let inventory = Inventory::default();
        inventory.set_stock("mug", 3);
        let id = inventory.reserve("wf/1", "o-1", &items(2)).unwrap();
        inventory.release(&id).unwrap();
        inventory.release(&id).unwrap();
        assert_eq!(inventory.stock("mug"), 3);
        assert_eq!(
            inventory.reservation(&id).map(|r| r.status),
            Some(ReservationStatus::Released)
        );
        assert!(inventory.release("res-nope").is_err());
    }
}
