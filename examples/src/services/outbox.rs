//! The outbox: emails to users and notifications to admins, as the mail provider would
//! deliver them. Sending is idempotent by key: a retried send does not mail twice.

use super::{Idempotent, Script, ServiceError, Trouble, lock};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// What a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// "Click here to verify your address."
    Verification,
    /// "Welcome, your workspace is ready."
    Welcome,
    /// To the admins: someone joined.
    AdminNotification,
    /// To the on-call engineer: a service is unhealthy.
    Alert,
}

/// A message sent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The recipient.
    pub to: String,
    /// What it is.
    pub kind: Kind,
    /// Its text.
    pub body: String,
}

#[derive(Debug, Default)]
struct State {
    done: Idempotent<Message>,
    sent: Vec<Message>,
    troubles: Script<Kind>,
}

/// A handle on the outbox. Cheap to clone: clones share it.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    state: Arc<Mutex<State>>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Forgets every message and scripted trouble.
    pub fn reset(&self) {
        *lock(&self.state) = State::default();
    }

    /// From now on, sending messages of `kind` meets `trouble`.
    pub fn script(&self, kind: Kind, trouble: Trouble) {
        lock(&self.state).troubles.set(kind, trouble);
    }

    /// Sends `message`, once per `key`.
    pub fn send(&self, key: &str, message: Message) -> Result<Message, ServiceError> {
        let State { done, sent, troubles } = &mut *lock(&self.state);
        done.once(key, || {
            troubles.check(&message.kind, || {
                format!("sending {:?} to `{}`", message.kind, message.to)
            })?;
            sent.push(message.clone());
            Ok(message)
        })
    }

    /// Every message sent, in order.
    pub fn sent(&self) -> Vec<Message> {
        lock(&self.state).sent.clone()
    }

    /// The messages sent to `to`, in order.
    pub fn sent_to(&self, to: &str) -> Vec<Message> {
        lock(&self.state)
            .sent
            .iter()
            .filter(|m| m.to == to)
            .cloned()
            .collect()
    }

    /// Every message sent, sorted: concurrent workflows send in an order faults change, and
    /// a comparison of two runs should not see that.
    pub fn snapshot(&self) -> Vec<Message> {
        let mut sent = self.sent();
        sent.sort();
        sent
    }
}
