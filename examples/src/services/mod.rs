//! Simulated services the examples' activities call: in-memory, shared behind a lock, with
//! the state a test inspects. Each operation takes an idempotency key, as a real service
//! should, so an activity retried after a lost reply does not act twice.
//!
//! Every service is a cheap-clone handle over `Arc<Mutex<..>>`: the registry's activities
//! hold one clone, the test (or the campaign's world snapshot) another. A test scripts
//! failures on a service with a [`Trouble`] (transient unavailability, an outage, a refusal);
//! services answer with a [`ServiceError`], which activities turn into retryable or
//! non-retryable activity errors.
//!
//! No service reads the wall clock: one whose operations take time sleeps on a clock it is
//! given (virtual under the simulator).

pub mod bank;
pub mod dataset;
pub mod directory;
pub mod health;
pub mod outbox;
mod script;
pub mod transfer_records;

pub use script::{Idempotent, Script, ServiceError, Trouble, key_of};

use std::sync::{Mutex, MutexGuard};

/// Locks a service's state. A panic while the lock was held (a test's assertion, say) leaves
/// state that every operation keeps consistent before it can panic, so a poisoned lock is
/// used as it is.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
