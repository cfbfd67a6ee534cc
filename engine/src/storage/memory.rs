//! In-memory storage (in progress).
/// The deterministic reference storage.
#[derive(Debug, Default)]
pub struct MemoryStorage {}
