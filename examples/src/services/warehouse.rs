//! The warehouse: takes shipment requests for reserved items.
//!
//! Scripted failure: [`Warehouse::refuse`] makes the request for an order fail for good
//! (`ShipmentRefused`, not retryable: say, an address it does not deliver to).

use super::inventory::Item;
use super::{Answered, Shared, ShopError, unused_id};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A shipment to prepare.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentRequest {
    /// The order.
    pub order_id: String,
    /// The inventory reservation holding its items.
    pub reservation_id: String,
    /// The items.
    pub items: Vec<Item>,
}

/// What the warehouse answers besides success.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WarehouseError {
    /// The warehouse will not ship this order.
    #[error("the warehouse refused to ship order {0}")]
    Refused(String),
}

/// The error type of [`WarehouseError::Refused`].
pub const SHIPMENT_REFUSED: &str = "ShipmentRefused";

impl ShopError for WarehouseError {
    fn error_type(&self) -> &'static str {
        SHIPMENT_REFUSED
    }

    fn is_retryable(&self) -> bool {
        false
    }
}

#[derive(Debug, Default)]
struct State {
    shipments: BTreeMap<String, ShipmentRequest>,
    requested: Answered<String>,
    refused: BTreeSet<String>,
}

/// A handle on the warehouse. Clones share the state.
#[derive(Clone, Debug, Default)]
pub struct Warehouse {
    state: Shared<State>,
}

impl Warehouse {
    /// Forgets everything: state and scripted failures.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Refuses to ship `order_id` from now on.
    pub fn refuse(&self, order_id: &str) {
        self.state.lock().refused.insert(order_id.to_owned());
    }

    /// Takes a shipment request, once per `key`: the shipment's id (`ship-<order id>`).
    pub fn request_shipment(&self, key: &str, request: &ShipmentRequest) -> Result<String, WarehouseError> {
        let mut state = self.state.lock();
        let State {
            shipments,
            requested,
            refused,
        } = &mut *state;
        requested.once(key, || {
            if refused.contains(&request.order_id) {
                return Err(WarehouseError::Refused(request.order_id.clone()));
            }
            let id = unused_id(shipments, &format!("ship-{}", request.order_id));
            shipments.insert(id.clone(), request.clone());
            Ok(id)
        })
    }

    /// Every shipment by id.
    pub fn snapshot(&self) -> BTreeMap<String, ShipmentRequest> {
        self.state.lock().shipments.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(order: &str) -> ShipmentRequest {
        ShipmentRequest {
            order_id: order.into(),
            reservation_id: format!("res-{order}"),
            items: Vec::new(),
        }
    }

    #[test]
    fn a_shipment_is_requested_once_per_key_and_refusals_fail_for_good() {
        let warehouse = Warehouse::default();
        assert_eq!(
            warehouse.request_shipment("wf/4", &request("o-1")),
            Ok("ship-o-1".into())
        );
        assert_eq!(
            warehouse.request_shipment("wf/4", &request("o-1")),
            Ok("ship-o-1".into())
        );
        assert_eq!(warehouse.snapshot().len(), 1);
        warehouse.refuse("o-2");
        assert!(
            !warehouse
                .request_shipment("wf2/4", &request("o-2"))
                .unwrap_err()
                .is_retryable()
        );
    }
}
