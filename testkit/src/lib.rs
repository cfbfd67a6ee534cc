//! # warpflow-testkit
//!
//! What users call from `cargo test`. Today: replaying histories against current code
//! (re-exported from the engine). The time-skipping `TestEnv` and fault campaigns come with
//! the simulator issue.
