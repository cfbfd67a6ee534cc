//! The JSON form of a history (TODO: typed per-event errors; in progress).
