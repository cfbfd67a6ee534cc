//! A builder for hand-written histories (in progress).

/// Builds histories for tests.
#[derive(Debug, Default)]
pub struct HistoryBuilder {}
