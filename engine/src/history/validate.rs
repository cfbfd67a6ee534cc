//! Well-formedness checks (in progress).
use super::{History, HistoryError};

/// Checks that a history is well formed.
pub fn validate(_history: &History) -> Result<(), HistoryError> {
    Ok(())
}
