//! # warpflow-sim
//!
//! Deterministic simulation of the Warpflow engine: a seeded single-threaded executor, virtual
//! clock, simulated storage and network, and fault injection. Built in the simulator issue;
//! this crate is a placeholder so the workspace layout is fixed from the start.
