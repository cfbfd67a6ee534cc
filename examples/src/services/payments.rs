//! The payment service: charges a card, refunds a charge.
//!
//! Scripted failures: [`Payments::decline_card`] makes every charge of a card fail for good
//! (`CardDeclined`, not retryable); [`Payments::outage`] makes the next calls fail as a
//! gateway that is down does (`GatewayUnavailable`, retryable).

use super::{Answered, Outage, Shared, ShopError, unused_id};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A charge to make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeRequest {
    /// The order it pays for.
    pub order_id: String,
    /// The customer.
    pub customer_id: String,
    /// The card to charge.
    pub card: String,
    /// How much, in cents.
    pub amount_cents: u64,
}

/// A charge made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// What was asked.
    pub request: ChargeRequest,
    /// True once refunded.
    pub refunded: bool,
}

/// What the payment service answers besides success.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The card issuer said no.
    #[error("card {0} was declined")]
    Declined(String),
    /// The gateway is down; try again later.
    #[error("the payment gateway is unavailable")]
    Unavailable,
    /// No charge has this id.
    #[error("no charge {0}")]
    UnknownCharge(String),
}

/// The error type of [`PaymentError::Declined`].
pub const CARD_DECLINED: &str = "CardDeclined";

impl ShopError for PaymentError {
    fn error_type(&self) -> &'static str {
        match self {
            PaymentError::Declined(_) => CARD_DECLINED,
            PaymentError::Unavailable => "GatewayUnavailable",
            PaymentError::UnknownCharge(_) => "UnknownCharge",
        }
    }

    fn is_retryable(&self) -> bool {
        matches!(self, PaymentError::Unavailable)
    }
}

/// The payment service's books, as a test or a campaign sees them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentsSnapshot {
    /// Every charge by id.
    pub charges: BTreeMap<String, Charge>,
}

impl PaymentsSnapshot {
    /// Cents charged and not refunded.
    pub fn captured_cents(&self) -> u64 {
        self.charges
            .values()
            .filter(|c| !c.refunded)
            .map(|c| c.request.amount_cents)
            .sum()
    }
}

#[derive(Debug, Default)]
struct State {
    books: PaymentsSnapshot,
    charged: Answered<String>,
    declined: BTreeSet<String>,
    outage: Outage,
}

/// A handle on the payment service. Clones share the state.
#[derive(Clone, Debug, Default)]
pub struct Payments {
    state: Shared<State>,
}

impl Payments {
    /// Forgets everything: state and scripted failures.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Declines every charge of `card` from now on.
    pub fn decline_card(&self, card: &str) {
        self.state.lock().declined.insert(card.to_owned());
    }

    /// Fails the next `calls` calls (charges and refunds) as unavailable.
    pub fn outage(&self, calls: u32) {
        self.state.lock().outage.set(calls);
    }

    /// Charges the card, once per `key`: the id of the charge (`chg-<order id>`).
    pub fn charge(&self, key: &str, request: &ChargeRequest) -> Result<String, PaymentError> {
        let mut state = self.state.lock();
        if state.outage.take() {
            return Err(PaymentError::Unavailable);
        }
        let State {
            books,
            charged,
            declined,
            ..
        } = &mut *state;
        charged.once(key, || {
            if declined.contains(&request.card) {
                return Err(PaymentError::Declined(request.card.clone()));
            }
            let id = unused_id(&books.charges, &format!("chg-{}", request.order_id));
            let charge = Charge {
                request: request.clone(),
                refunded: false,
            };
            books.charges.insert(id.clone(), charge);
            Ok(id)
        })
    }

    /// Refunds `charge_id` in full: the refund's id (`refund-<charge id>`). Refunding a
    /// refunded charge changes nothing, so the operation is idempotent by itself.
    pub fn refund(&self, charge_id: &str) -> Result<String, PaymentError> {
        let mut state = self.state.lock();
        if state.outage.take() {
            return Err(PaymentError::Unavailable);
        }
        let charge = state
            .books
            .charges
            .get_mut(charge_id)
            .ok_or_else(|| PaymentError::UnknownCharge(charge_id.to_owned()))?;
        charge.refunded = true;
        Ok(format!("refund-{charge_id}"))
    }

    /// The charge `id`.
    pub fn charge_of(&self, id: &str) -> Option<Charge> {
        self.state.lock().books.charges.get(id).cloned()
    }

    /// Every charge.
    pub fn snapshot(&self) -> PaymentsSnapshot {
        self.state.lock().books.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(card: &str) -> ChargeRequest {
        ChargeRequest {
            order_id: "o-1".into(),
            customer_id: "c-1".into(),
            card: card.into(),
            amount_cents: 1250,
        }
    }

    #[test]
    fn a_charge_is_made_once_per_key_and_refunded_once() {
        let payments = Payments::default();
        let id = payments.charge("wf/2", &request("4242")).unwrap();
        assert_eq!(payments.charge("wf/2", &request("4242")), Ok(id.clone()));
        assert_eq!(payments.snapshot().captured_cents(), 1250);
        payments.refund(&id).unwrap();
        payments.refund(&id).unwrap();
        assert_eq!(payments.snapshot().captured_cents(), 0);
        assert_eq!(payments.snapshot().charges.len(), 1);
    }

    #[test]
    fn declined_cards_fail_for_good_and_outages_for_a_while() {
        let payments = Payments::default();
        payments.decline_card("0002");
        let declined = payments.charge("wf/2", &request("0002")).unwrap_err();
        assert!(!declined.is_retryable());
        payments.outage(1);
        assert!(
            payments
                .charge("wf/3", &request("4242"))
                .unwrap_err()
                .is_retryable()
        );
        assert!(payments.charge("wf/3", &request("4242")).is_ok());
    }
}
