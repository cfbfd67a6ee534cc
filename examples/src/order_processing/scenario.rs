//! Sample orders and the troubles they can meet, shared by the runnable example, the tests
//! and the fault campaign.

use super::model::{Customer, Order};
use super::world::World;
use crate::services::inventory::Item;

/// What the shop sells, with the stock [`open_shop`] puts on the shelves.
pub const CATALOG: [(&str, u32); 2] = [("mug", 1_000), ("poster", 1_000)];

/// A product the shop lists but has none of.
pub const SOLD_OUT_SKU: &str = "lamp";

/// The card the payment service declines after [`Trouble::CardDeclined`].
pub const DECLINED_CARD: &str = "4000-0000-0000-0002";

/// The card of the sample orders.
pub const GOOD_CARD: &str = "4242-4242-4242-4242";

/// Stocks the catalog; the sold-out product has none.
pub fn open_shop(world: &World) {
    for (sku, units) in CATALOG {
        world.inventory.set_stock(sku, units);
    }
    world.inventory.set_stock(SOLD_OUT_SKU, 0);
}

/// Order `id`: two mugs and a poster, €35.00, paid by card by customer `c-<id>`.
pub fn sample_order(id: &str) -> Order {
    Order {
        id: id.to_owned(),
        customer: Customer {
            id: format!("c-{id}"),
            email: format!("customer-{id}@example.com"),
            card: GOOD_CARD.to_owned(),
        },
        items: vec![item("mug", 2), item("poster", 1)],
        total_cents: 3_500,
    }
}

fn item(sku: &str, quantity: u32) -> Item {
    Item {
        sku: sku.to_owned(),
        quantity,
    }
}

/// A service that refuses an order for good, at one step of the workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// Nothing goes wrong.
    None,
    /// The inventory has none of one item (the reservation fails).
    OutOfStock,
    /// The card is declined (the charge fails).
    CardDeclined,
    /// The confirmation email bounces (after the approval).
    EmailBounces,
    /// The warehouse will not ship it (the last step).
    WarehouseRefuses,
}

impl Trouble {
    /// Every trouble, in the order the workflow meets them.
    pub const ALL: [Trouble; 5] = [
        Trouble::None,
        Trouble::OutOfStock,
        Trouble::CardDeclined,
        Trouble::EmailBounces,
        Trouble::WarehouseRefuses,
    ];

    /// [`sample_order`] `id`, with this trouble arranged in `world`.
    pub fn order(self, id: &str, world: &World) -> Order {
        let mut order = sample_order(id);
        match self {
            Trouble::None => {}
            Trouble::OutOfStock => order.items.push(item(SOLD_OUT_SKU, 1)),
            Trouble::CardDeclined => {
                order.customer.card = DECLINED_CARD.to_owned();
                world.payments.decline_card(DECLINED_CARD);
            }
            Trouble::EmailBounces => world.email.bounce(&order.customer.email),
            Trouble::WarehouseRefuses => world.warehouse.refuse(id),
        }
        order
    }
}
