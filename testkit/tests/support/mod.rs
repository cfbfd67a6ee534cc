//! Workflows shared by the test kit's tests and benchmarks.

pub mod w1;
