//! What every simulated service shares: the errors it answers with, the failures a test
//! scripts on it, and the record of operations already done, by idempotency key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use warpflow_engine::{ActivityError, ActivityInfo};

/// How a simulated service turns a call down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceError {
    /// The service could not be reached or failed: worth retrying.
    Unavailable {
        /// What was unavailable.
        what: String,
    },
    /// The service refused the request for a business reason: retrying cannot help.
    Refused {
        /// The error type a workflow or retry policy matches (`"InsufficientFunds"`).
        error_type: String,
        /// Why.
        message: String,
    },
}

impl ServiceError {
    /// A refusal of type `error_type`.
    pub fn refused(error_type: impl Into<String>, message: impl Into<String>) -> ServiceError {
        ServiceError::Refused {
            error_type: error_type.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Unavailable { what } => write!(f, "{what} is unavailable"),
            ServiceError::Refused { error_type, message } => write!(f, "{error_type}: {message}"),
        }
    }
}

impl std::error::Error for ServiceError {}

/// The error type of [`ServiceError::Unavailable`] as an activity error.
pub const UNAVAILABLE: &str = "Unavailable";

impl From<ServiceError> for ActivityError {
    /// Unavailable is retryable; a refusal is not.
    fn from(e: ServiceError) -> ActivityError {
        match e {
            ServiceError::Unavailable { what } => {
                ActivityError::retryable(UNAVAILABLE, format!("{what} is unavailable"))
            }
            ServiceError::Refused { error_type, message } => {
                ActivityError::non_retryable(error_type, message)
            }
        }
    }
}

/// A failure a test scripts on one operation of a simulated service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Trouble {
    /// The next `calls` calls are unavailable (retryable); later calls work.
    Transient {
        /// How many calls fail.
        calls: u32,
    },
    /// Every call is unavailable: an outage longer than any retry policy waits.
    Outage,
    /// Every call is refused with this error type (non-retryable).
    Refused {
        /// The error type (`"AccountFrozen"`).
        error_type: String,
    },
}

/// The troubles scripted on a service's operations, by what they target (an account and an
/// operation, a transfer id, ...).
#[derive(Clone, Debug)]
pub struct Script<K> {
    troubles: BTreeMap<K, Trouble>,
}

impl<K> Default for Script<K> {
    fn default() -> Self {
        Script {
            troubles: BTreeMap::new(),
        }
    }
}

impl<K: Ord> Script<K> {
    /// From now on, calls targeting `target` meet `trouble`.
    pub fn set(&mut self, target: K, trouble: Trouble) {
        self.troubles.insert(target, trouble);
    }

    /// Decides a call targeting `target`: `Ok` to go ahead, or the scripted error (a
    /// transient trouble counts the call). `what` names the operation in the error.
    pub fn check(&mut self, target: &K, what: impl FnOnce() -> String) -> Result<(), ServiceError> {
        let Some(trouble) = self.troubles.get_mut(target) else {
            return Ok(());
        };
        match trouble {
            Trouble::Transient { calls: 0 } => Ok(()),
            Trouble::Transient { calls } => {
                *calls -= 1;
                Err(ServiceError::Unavailable { what: what() })
            }
            Trouble::Outage => Err(ServiceError::Unavailable { what: what() }),
            Trouble::Refused { error_type } => Err(ServiceError::refused(
                error_type.clone(),
                format!("{} refused", what()),
            )),
        }
    }
}

/// The idempotency key of an activity: the same for every attempt of it, different for every
/// activity of every run (a run continued as new counts its activities from 1 again).
pub fn key_of(info: &ActivityInfo) -> String {
    format!("{}/{}/{}", info.workflow_id, info.run_id, info.activity_id)
}

/// The results of operations already done, by idempotency key: a call with a key seen
/// before returns the first call's result and changes nothing.
#[derive(Clone, Debug)]
pub struct Idempotent<T> {
    done: BTreeMap<String, T>,
}

impl<T> Default for Idempotent<T> {
    fn default() -> Self {
        Idempotent {
            done: BTreeMap::new(),
        }
    }
}

impl<T: Clone> Idempotent<T> {
    /// The result recorded under `key`, or `op`'s, recorded if it succeeds (a refusal or an
    /// outage changes nothing, so a later call may try again).
    pub fn once<E>(&mut self, key: &str, op: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        if let Some(done) = self.done.get(key) {
            return Ok(done.clone());
        }
        let result = op()?;
        self.done.insert(key.to_owned(), result.clone());
        Ok(result)
    }

    /// How many operations were done.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// True when none was.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }
}
