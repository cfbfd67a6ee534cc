//! Identifier newtypes, so that a workflow id can never be passed where a run id is expected.
//!
//! Ids are shared strings (`Arc<str>`): the service copies them into every task, timer and
//! event it writes, and a copy of a shared string is a counter increment, not an allocation.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a string as this identifier.
            pub fn new(id: impl Into<String>) -> Self {
                Self(Arc::from(id.into()))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The identifier spelled as the decimal number `n` (`"1"`, `"2"`, ...). The first
            /// [`SEQ_IDS_SHARED`] numbers are spelled once per process and shared: every
            /// execution of a workflow (a replay check runs it eight times) numbers its
            /// activities and timers from 1, and a shared id costs a counter increment where
            /// a fresh one costs an allocation.
            #[allow(dead_code, reason = "only the ids numbered in a run use it")]
            pub(crate) fn from_seq(n: u32) -> Self {
                static SHARED: std::sync::LazyLock<Vec<Arc<str>>> =
                    std::sync::LazyLock::new(|| (0..SEQ_IDS_SHARED).map(seq_str).collect());
                match SHARED.get(n as usize) {
                    Some(id) => Self(id.clone()),
                    None => Self(seq_str(n)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(Arc::from(id))
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(Arc::from(id))
            }
        }
    };
}

/// How many sequence-numbered ids ([`ActivityId`], [`TimerId`]) are shared rather than
/// allocated per use: more than a typical run numbers.
const SEQ_IDS_SHARED: u32 = 64;

/// `n` in decimal, as a shared string: one allocation, where `n.to_string().into()` makes two.
fn seq_str(n: u32) -> Arc<str> {
    Arc::from(Decimal::new(u64::from(n)).as_str())
}

/// A number spelled in decimal in a buffer on the stack: for text written often enough that
/// `to_string` and the formatting machinery show (numbered ids, simulation trace lines).
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    /// `n` in decimal.
    #[inline]
    pub fn new(mut n: u64) -> Decimal {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return Decimal { digits, start };
            }
        }
    }

    /// The digits, as ASCII bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }

    /// The digits.
    #[inline]
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are written, so this never fails.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

string_id!(
    /// The user-chosen, business-level id of a workflow (`order-42`). Unique among running
    /// executions; a workflow id may have many runs over time.
    WorkflowId
);
string_id!(
    /// The engine-chosen id of one run of a workflow. Continue-as-new starts a new run.
    RunId
);
string_id!(
    /// The name of a task queue that workers poll.
    TaskQueue
);
string_id!(
    /// The id of an activity within one run (`"1"`, `"2"`, ... in scheduling order).
    ActivityId
);
string_id!(
    /// The id of a timer within one run (`"1"`, `"2"`, ... in start order).
    TimerId
);

/// The id of an event in a history: dense, starting at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct EventId(pub u64);

impl EventId {
    /// The first event of every history.
    pub const FIRST: EventId = EventId(1);

    /// The id of the event after this one.
    pub fn next(self) -> EventId {
        EventId(self.0 + 1)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_spells_numbers_as_to_string_does() {
        for n in [0, 7, 10, 12_345, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(Decimal::new(n).as_str(), n.to_string());
        }
    }

    #[test]
    fn from_seq_spells_the_number_as_to_string_does() {
        for n in [0, 1, 9, 10, 42, 63, 64, 65, 99_999, u32::MAX] {
            assert_eq!(TimerId::from_seq(n), TimerId::new(n.to_string()));
            assert_eq!(ActivityId::from_seq(n).as_str(), n.to_string());
        }
    }
}
