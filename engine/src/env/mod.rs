//! The environment the engine runs in: time and task spawning. Production uses the tokio
//! adapters (`adapters::tokio`); the simulator supplies its own virtual versions. The engine
//! core never reads a clock or spawns a task any other way (clippy enforces it).

mod sleep;

pub use sleep::{Sleep, Timers};

use crate::time::Timestamp;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Engine time.
pub trait Clock: Send + Sync + 'static {
    /// The current engine time.
    fn now(&self) -> Timestamp;

    /// Completes at or after `deadline`.
    fn sleep_until(&self, deadline: Timestamp) -> Sleep;
}

/// Runs background futures (the engine's timer loop, a worker's activity attempts).
pub trait Spawner: Send + Sync + 'static {
    /// Starts `future` in the background; it runs until it completes.
    fn spawn(&self, name: &'static str, future: BoxFuture<'static, ()>);
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;
/// A shared spawner.
pub type SharedSpawner = Arc<dyn Spawner>;
