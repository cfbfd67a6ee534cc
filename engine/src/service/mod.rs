//! The engine service: owns histories, task queues and timers, over a [`Storage`] and a
//! [`Clock`]. Sans-IO: it does no I/O of its own and spawns nothing; a transport delivers
//! [`Request`]s to [`Service::handle`], and whoever hosts it drives [`Service::run_timers`].
//!
//! Every call that changes a run is one read of the run and one atomic commit, with an
//! optimistic check on the run's next event id; on conflict the call is retried from a fresh
//! read, so concurrent calls on one run serialize without locks.

pub mod api;
mod error;
mod state;
mod transport;

pub use api::{Request, Response};
pub use error::{ServiceError, ServiceResult};
pub use transport::{InProcess, Transport};

use crate::env::SharedClock;
use crate::storage::Storage;
use std::sync::Arc;
use std::time::Duration;

/// Tunables of the service, with Temporal-like defaults.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// How long a poll waits for a task before returning empty.
    pub poll_timeout: Duration,
    /// How long a poller's claim on a task lasts before another poller may take it.
    pub task_lease: Duration,
    /// How long a query waits for a worker's answer.
    pub query_timeout: Duration,
    /// How long `WaitOutcome` waits before returning `None`.
    pub outcome_wait: Duration,
    /// Seeds run ids and workflow randomness seeds (see `Entropy` in the adapters).
    pub seed: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            poll_timeout: Duration::from_secs(60),
            task_lease: Duration::from_secs(30),
            query_timeout: Duration::from_secs(10),
            outcome_wait: Duration::from_secs(60),
            seed: 0,
        }
    }
}

/// The engine service.
pub struct Service {
    #[allow(dead_code)]
    storage: Arc<dyn Storage>,
    #[allow(dead_code)]
    clock: SharedClock,
    #[allow(dead_code)]
    config: ServiceConfig,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service over `storage`, on `clock`.
    pub fn new(storage: Arc<dyn Storage>, clock: SharedClock, config: ServiceConfig) -> Service {
        Service {
            storage,
            clock,
            config,
        }
    }

    /// Handles one request.
    pub async fn handle(&self, request: Request) -> ServiceResult<Response> {
        let _ = request;
        Err(ServiceError::Unavailable("service not implemented yet".into()))
    }

    /// Fires timers as they come due, forever. Hosts run it in the background.
    pub async fn run_timers(self: Arc<Self>) {}
}
