//! Helpers shared by the integration tests (and, through `#[path]`, the benchmarks).

pub mod processes;
