//! Simulated services the examples' activities call: in-memory, shared behind a lock, with
//! the state a test inspects. Each operation takes an idempotency key, as a real service
//! should, so an activity retried after a lost reply does not act twice.
