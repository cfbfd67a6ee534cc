//! The email service: sends templated messages, and keeps every message sent.
//!
//! Scripted failure: [`Email::bounce`] makes every message to an address fail for good
//! (`EmailBounced`, not retryable).

use super::{Answered, Shared, ShopError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A message to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The recipient's address.
    pub to: String,
    /// The template (`order_confirmed`, `batch_partial_failure`, ...).
    pub template: String,
    /// What the template fills in.
    pub data: Value,
}

/// What the email service answers besides success.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// The address does not take mail.
    #[error("mail to {0} bounced")]
    Bounced(String),
}

/// The error type of [`EmailError::Bounced`].
pub const EMAIL_BOUNCED: &str = "EmailBounced";

impl ShopError for EmailError {
    fn error_type(&self) -> &'static str {
        EMAIL_BOUNCED
    }

    fn is_retryable(&self) -> bool {
        false
    }
}

#[derive(Debug, Default)]
struct State {
    sent: Answered<()>,
    /// By idempotency key: the order in which concurrent workflows sent does not show.
    outbox: BTreeMap<String, Message>,
    bouncing: BTreeSet<String>,
}

/// A handle on the email service. Clones share the state.
#[derive(Clone, Debug, Default)]
pub struct Email {
    state: Shared<State>,
}

impl Email {
    /// Forgets everything: state and scripted failures.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Bounces every message to `address` from now on.
    pub fn bounce(&self, address: &str) {
        self.state.lock().bouncing.insert(address.to_owned());
    }

    /// Sends `message`, once per `key`.
    pub fn send(&self, key: &str, message: &Message) -> Result<(), EmailError> {
        let mut state = self.state.lock();
        let State {
            sent,
            outbox,
            bouncing,
        } = &mut *state;
        sent.once(key, || {
            if bouncing.contains(&message.to) {
                return Err(EmailError::Bounced(message.to.clone()));
            }
            outbox.insert(key.to_owned(), message.clone());
            Ok(())
        })
    }

    /// The messages sent to `address`.
    pub fn sent_to(&self, address: &str) -> Vec<Message> {
        self.snapshot().into_iter().filter(|m| m.to == address).collect()
    }

    /// Every message sent, by idempotency key (workflow id, then activity id).
    pub fn snapshot(&self) -> Vec<Message> {
        self.state.lock().outbox.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(to: &str) -> Message {
        Message {
            to: to.into(),
            template: "order_confirmed".into(),
            data: json!({"orderId": "o-1"}),
        }
    }

    #[test]
    fn a_message_is_sent_once_per_key_and_bounces_fail_for_good() {
        let email = Email::default();
        email.send("wf/3", &message("ada@example.com")).unwrap();
        email.send("wf/3", &message("ada@example.com")).unwrap();
        assert_eq!(email.sent_to("ada@example.com").len(), 1);
        email.bounce("nobody@example.com");
        let bounced = email.send("wf/4", &message("nobody@example.com")).unwrap_err();
        assert!(!bounced.is_retryable());
        assert!(email.sent_to("nobody@example.com").is_empty());
    }
}
