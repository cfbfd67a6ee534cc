//! Runtime adapters: the [`Clock`](crate::env::Clock) and [`Spawner`](crate::env::Spawner)
//! of a real runtime, the seeds production draws from the operating system, and (feature
//! `http`) the network transport between the service and its remote clients and workers, and
//! (feature `sqlite`) the embedded durable storage, [`SqliteStorage`]; both are on by default.
//!
//! These are the only modules of the engine allowed to read real time, spawn tasks or
//! threads, touch files or ask the OS for entropy. Each adapter module opts out of the determinism lints explicitly, at
//! its top, with `#![allow(clippy::disallowed_methods, clippy::disallowed_types, reason =
//! "...")]`, so that the exemption is visible where it applies and nowhere else. Everything
//! else in the engine reaches time and spawning through the environment traits, which the
//! simulator replaces with virtual versions.

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod tokio;

#[cfg(feature = "sqlite")]
pub use self::sqlite::{SqliteConfig, SqliteStats, SqliteStorage};
pub use self::tokio::{TokioClock, TokioSpawner, os_seed};
