//! Payloads: the JSON values that carry workflow and activity inputs and results, signals,
//! query answers and markers. Encoding and decoding go through here so that every failure
//! names what was being decoded and where in it the problem is.

use crate::limits::PAYLOAD_BYTES_MAX;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A payload as recorded in history: a JSON value, shared.
///
/// One payload travels from the code that encodes it through requests, commands, events, run
/// state and every copy of a history; cloning any of those clones each payload it carries,
/// so a payload is shared (`Arc`) rather than deep-copied. It reads as the [`Value`] it holds
/// (`Deref`), serializes as that value (the wire format, the SQLite encoding and the history
/// JSON are the value's), and prints as it (`Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct Payload(Arc<Value>);

impl Payload {
    /// The JSON `null` payload (what `()` encodes to).
    pub fn null() -> Self {
        Self::from(Value::Null)
    }

    /// The value, moved out when this is its only holder and copied otherwise.
    pub fn into_value(self) -> Value {
        Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone())
    }
}

impl Default for Payload {
    fn default() -> Self {
        Self::null()
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Self(Arc::new(value))
    }
}

/// Scalars as payloads, as [`Value`] has them (`Payload::from("x")`, `true.into()`).
macro_rules! payload_from_scalar {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Payload {
            fn from(scalar: $ty) -> Self {
                Self::from(Value::from(scalar))
            }
        }
    )*};
}
payload_from_scalar!(&str, String, bool, u64, i64, u32, i32);

impl From<Payload> for Value {
    fn from(payload: Payload) -> Self {
        payload.into_value()
    }
}

impl Deref for Payload {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl AsRef<Value> for Payload {
    fn as_ref(&self) -> &Value {
        &self.0
    }
}

impl PartialEq<Value> for Payload {
    fn eq(&self, other: &Value) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<Payload> for Value {
    fn eq(&self, other: &Payload) -> bool {
        *self == *other.0
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Self::from)
    }
}

/// A payload could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum PayloadError {
    /// The JSON does not fit the declared type.
    #[error("{what}: payload does not deserialize at `{path}`: {message}")]
    Decode {
        /// What the payload is, e.g. "input of workflow `order`".
        what: String,
        /// The path of the offending field inside the payload (`.` for the root).
        path: String,
        /// serde's description of the mismatch.
        message: String,
    },
    /// The value could not be turned into JSON (a map with non-string keys, for instance).
    #[error("{what}: value does not serialize to JSON: {message}")]
    Encode {
        /// What the payload is.
        what: String,
        /// serde's description of the problem.
        message: String,
    },
    /// The encoded payload is larger than [`PAYLOAD_BYTES_MAX`].
    #[error("{what}: payload is {size} bytes, over the limit of {max} bytes")]
    TooLarge {
        /// What the payload is.
        what: String,
        /// Its encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// Encodes `value` as a payload, enforcing the payload size limit.
///
/// `what` names the payload in errors ("input of activity `charge_payment`").
pub fn encode<T: Serialize + ?Sized>(value: &T, what: impl Fn() -> String) -> Result<Payload, PayloadError> {
    let value = serde_json::to_value(value).map_err(|e| PayloadError::Encode {
        what: what(),
        message: e.to_string(),
    })?;
    check_size(&value, what)?;
    Ok(Payload::from(value))
}

/// Decodes a payload into `T`, naming the offending field on failure.
pub fn decode<T: DeserializeOwned>(payload: &Value, what: impl Fn() -> String) -> Result<T, PayloadError> {
    // Straight from the value first: tracking the path costs on every field, and it is only
    // needed to report a failure, which the second pass below reproduces with its path.
    if let Ok(decoded) = T::deserialize(payload) {
        return Ok(decoded);
    }
    serde_path_to_error::deserialize(payload).map_err(|e| decode_error(e, what))
}

/// [`decode`] of a payload the caller no longer needs: when it is the payload's only holder,
/// strings move from the payload into the value instead of being copied (an activity's
/// result, a signal's input); a payload still shared (by the history it came from, say) is
/// read in place as `decode` does. The move is one pass, with the path tracked: a second
/// would need the payload the first one consumed. A scalar has no string to move, so it
/// takes `decode`'s untracked pass.
pub fn decode_owned<T: DeserializeOwned>(
    payload: Payload,
    what: impl Fn() -> String,
) -> Result<T, PayloadError> {
    if matches!(*payload, Value::Null | Value::Bool(_) | Value::Number(_)) {
        return decode(&payload, what);
    }
    match Arc::try_unwrap(payload.0) {
        Ok(value) => serde_path_to_error::deserialize(value).map_err(|e| decode_error(e, what)),
        Err(shared) => decode(&shared, what),
    }
}

/// A failed tracked decode as a [`PayloadError::Decode`] naming `what` and the path.
fn decode_error(e: serde_path_to_error::Error<serde_json::Error>, what: impl Fn() -> String) -> PayloadError {
    PayloadError::Decode {
        what: what(),
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    }
}

/// Fails with [`PayloadError::TooLarge`] when `payload` encodes to more than the limit.
///
/// Small scalars are accepted without measuring: only strings, arrays and objects can be large.
pub fn check_size(payload: &Value, what: impl Fn() -> String) -> Result<(), PayloadError> {
    if matches!(payload, Value::Null | Value::Bool(_) | Value::Number(_)) {
        return Ok(());
    }
    if let Value::String(s) = payload
        && s.len() < PAYLOAD_BYTES_MAX / 2
    {
        return Ok(());
    }
    let size = encoded_len(payload);
    if size > PAYLOAD_BYTES_MAX {
        return Err(PayloadError::TooLarge {
            what: what(),
            size,
            max: PAYLOAD_BYTES_MAX,
        });
    }
    Ok(())
}

fn encoded_len(payload: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` to an in-memory sink cannot fail.
    let _ = serde_json::to_writer(&mut counter, payload);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Order {
        id: String,
        items: Vec<Item>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        qty: u32,
    }

    #[test]
    fn decode_errors_name_the_payload_and_the_field() {
        let payload = Payload::from(serde_json::json!({"id": "o-1", "items": [{"qty": 1}, {"qty": "two"}]}));
        let err = decode::<Order>(&payload, || "input of workflow `order`".into()).unwrap_err();
        let PayloadError::Decode { what, path, .. } = &err else {
            panic!("expected a decode error, got {err:?}")
        };
        assert_eq!(what, "input of workflow `order`");
        assert_eq!(path, "items[1].qty");
        assert!(err.to_string().contains("items[1].qty"), "{err}");
        let shared =
            decode_owned::<Order>(payload.clone(), || "input of workflow `order`".into()).unwrap_err();
        assert_eq!(shared, err, "a shared payload fails in the same words");
        let owned = decode_owned::<Order>(payload, || "input of workflow `order`".into()).unwrap_err();
        assert_eq!(owned, err, "an owned payload fails in the same words");
    }

    #[test]
    fn decode_owned_reads_what_decode_reads() {
        let payload = Payload::from(serde_json::json!(["o-1", 24]));
        let borrowed: (String, u64) = decode(&payload, || "x".into()).unwrap();
        let kept = payload.clone();
        let shared: (String, u64) = decode_owned(payload, || "x".into()).unwrap();
        assert_eq!(shared, borrowed);
        assert_eq!(
            kept,
            serde_json::json!(["o-1", 24]),
            "the other holder's payload is intact"
        );
        let owned: (String, u64) = decode_owned(kept, || "x".into()).unwrap();
        assert_eq!(owned, borrowed);
    }

    #[test]
    fn a_payload_serializes_and_prints_as_its_value() {
        let value = serde_json::json!({"id": "o-1", "qty": [1, 2], "note": null});
        let payload = Payload::from(value.clone());
        assert_eq!(
            serde_json::to_string(&payload).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        assert_eq!(format!("{payload:?}"), format!("{value:?}"));
        assert_eq!(format!("{payload:#?}"), format!("{value:#?}"));
        assert_eq!(payload.to_string(), value.to_string());
        let read: Payload = serde_json::from_str(&value.to_string()).unwrap();
        assert_eq!(read, payload);
        assert_eq!(read.into_value(), value);
    }

    #[test]
    fn oversized_payloads_are_refused() {
        let big = "x".repeat(PAYLOAD_BYTES_MAX + 1);
        let err = encode(&vec![big], || "result of activity `a`".into()).unwrap_err();
        assert!(matches!(err, PayloadError::TooLarge { size, .. } if size > PAYLOAD_BYTES_MAX));
        assert!(encode(&"small", || "x".into()).is_ok());
    }
}
