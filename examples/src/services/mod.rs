//! Simulated services the examples' activities call: in-memory, shared behind a lock, with
//! the state a test inspects. Each operation takes an idempotency key, as a real service
//! should, so an activity retried after a lost reply does not act twice.
//!
//! - [`inventory`]: stock and reservations (out of stock when stock runs short);
//! - [`payments`]: charges and refunds (declines the cards it is told to, and can be down);
//! - [`email`]: messages sent (bounces the addresses it is told to);
//! - [`warehouse`]: shipments (refuses the orders it is told to);
//! - [`bank`], [`transfer_records`]: accounts and the record of transfers (money_transfer);
//! - [`directory`], [`outbox`]: user accounts, workspaces, roles, and sent mail (user_onboarding);
//! - [`health`]: the health of monitored services (service_monitoring);
//! - [`dataset`]: records to process, each written once (dataset_processing).
//!
//! The shop's services answer with [`ShopError`]s; the others with [`ServiceError`], and are
//! scripted with a [`Trouble`] (transient unavailability, an outage, a refusal).
//!
//! Each service is a cheap-to-clone handle over `Arc<Mutex<..>>`: the activities registered
//! with a worker and the test that inspects the outcome hold the same state. A service's
//! `snapshot` is a plain value, independent of the order in which concurrent workflows
//! called it, so a fault campaign can compare a faulted run's world with a fault-free one.

pub mod bank;
pub mod dataset;
pub mod directory;
pub mod email;
pub mod health;
pub mod inventory;
pub mod outbox;
pub mod payments;
mod script;
pub mod transfer_records;
pub mod warehouse;

pub use email::Email;
pub use inventory::Inventory;
pub use payments::Payments;
pub use script::{Idempotent, Script, ServiceError, Trouble, key_of};
pub use warehouse::Warehouse;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use warpflow_engine::{ActivityCtx, ActivityError};

/// The idempotency key of an activity: the same for every attempt of one activity of one
/// workflow, different for anything else. (Activity ids are unique within a run; a workflow
/// id is reused only after its run closes.)
pub fn idempotency_key(ctx: &ActivityCtx) -> String {
    let info = ctx.info();
    format!("{}/{}", info.workflow_id, info.activity_id)
}

/// An error a service answers with, as an activity reports it.
pub trait ShopError: std::fmt::Display {
    /// The error type a workflow or a retry policy matches (`"CardDeclined"`).
    fn error_type(&self) -> &'static str;

    /// Whether trying again may help (a service that is down) or not (a declined card).
    fn is_retryable(&self) -> bool;

    /// The activity error for this answer.
    fn into_activity_error(self) -> ActivityError
    where
        Self: Sized,
    {
        if self.is_retryable() {
            ActivityError::retryable(self.error_type(), self.to_string())
        } else {
            ActivityError::non_retryable(self.error_type(), self.to_string())
        }
    }
}

/// A service's state behind its lock: the one place that decides what a poisoned lock means
/// (a test thread panicked while holding it; the state is still the best we have).
#[derive(Debug, Default)]
pub(crate) struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> Shared<T> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Back to the initial state, for every handle.
    pub(crate) fn reset(&self)
    where
        T: Default,
    {
        *self.lock() = T::default();
    }
}

/// The answers already given, by idempotency key: an operation repeated with the same key
/// gets the first answer and changes nothing.
#[derive(Debug)]
pub(crate) struct Answered<T>(BTreeMap<String, T>);

impl<T> Default for Answered<T> {
    fn default() -> Self {
        Answered(BTreeMap::new())
    }
}

impl<T: Clone> Answered<T> {
    /// The answer recorded for `key`, or `act`'s answer, recorded when it succeeds (a failed
    /// attempt changed nothing, so a retry may succeed).
    pub(crate) fn once<E>(&mut self, key: &str, act: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        if let Some(answer) = self.0.get(key) {
            return Ok(answer.clone());
        }
        let answer = act()?;
        self.0.insert(key.to_owned(), answer.clone());
        Ok(answer)
    }
}

/// How many of the next calls of a service fail as if it were down.
#[derive(Debug, Default)]
pub(crate) struct Outage(u32);

impl Outage {
    /// Sets the number of calls to fail.
    pub(crate) fn set(&mut self, calls: u32) {
        self.0 = calls;
    }

    /// Whether this call fails; counts it.
    pub(crate) fn take(&mut self) -> bool {
        if self.0 == 0 {
            return false;
        }
        self.0 -= 1;
        true
    }
}

/// `base`, or `base-2`, `base-3`, ... if taken (an order id reused by a later run).
pub(crate) fn unused_id<V>(taken: &BTreeMap<String, V>, base: &str) -> String {
    if !taken.contains_key(base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| !taken.contains_key(id))
        .unwrap_or_else(|| base.to_owned())
}

/// Locks a service's state. A panic while the lock was held (a test's assertion, say) leaves
/// state that every operation keeps consistent before it can panic, so a poisoned lock is
/// used as it is.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
