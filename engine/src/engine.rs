//! `Engine`: a service, its timer loop, and the clients and workers that talk to it in the
//! same process, assembled with production defaults that any part can replace.

use crate::adapters::{TokioClock, TokioSpawner, os_seed};
use crate::callers::{Callers, mix};
use crate::client::Client;
use crate::env::{SharedClock, SharedSpawner};
use crate::ids::TaskQueue;
use crate::registry::Registry;
use crate::service::{InProcess, Service, ServiceConfig, Transport};
use crate::storage::{MemoryStorage, Storage};
use crate::worker::{Worker, WorkerOptions};
use std::sync::Arc;

/// An engine service running in this process, with its clients and workers.
///
/// ```no_run
/// use warpflow_engine::client::StartOptions;
/// use warpflow_engine::engine::Engine;
/// use warpflow_engine::worker::CancellationToken;
/// use warpflow_engine::workflow::{Workflow, WorkflowCtx};
/// use warpflow_engine::{Registry, WorkflowResult};
///
/// struct Greet;
/// impl Workflow for Greet {
///     const NAME: &'static str = "greet";
///     type Input = String;
///     type Output = String;
///     async fn run(_ctx: WorkflowCtx, name: String) -> WorkflowResult<String> {
///         Ok(format!("hello {name}"))
///     }
/// }
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let engine = Engine::builder().build(); // in memory, on the system clock
///     let worker = engine.worker("greetings", Registry::new().with_workflow::<Greet>());
///     let client = engine.client();
///     let shutdown = CancellationToken::new();
///     let (worker_result, greeting) = tokio::join!(worker.run(shutdown.clone()), async {
///         let handle = client
///             .start::<Greet>("greet-ada", &"Ada".to_owned(), StartOptions::new("greetings"))
///             .await?;
///         let greeting = handle.result().await;
///         shutdown.cancel();
///         Ok::<_, Box<dyn std::error::Error>>(greeting?)
///     });
///     worker_result?;
///     assert_eq!(greeting?, "hello Ada");
///     Ok(())
/// }
/// ```
pub struct Engine {
    service: Arc<Service>,
    /// The clients and workers, over an in-process transport to `service`.
    callers: Callers,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A builder with production defaults: in-memory storage, the system clock on tokio,
    /// tokio tasks, and a service seeded from the OS.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The service.
    pub fn service(&self) -> Arc<Service> {
        self.service.clone()
    }

    /// A transport to the service, for clients and workers built by hand.
    pub fn transport(&self) -> Arc<dyn Transport> {
        self.callers.transport()
    }

    /// A client of the service. Each client draws request ids from its own stream, derived
    /// from the engine's seed and the client's number.
    pub fn client(&self) -> Client {
        self.callers.client()
    }

    /// A worker for `task_queue` with default options and the identity `worker-<n>`.
    pub fn worker(&self, task_queue: impl Into<TaskQueue>, registry: Registry) -> Worker {
        self.callers.worker(task_queue, registry)
    }

    /// A worker for `task_queue` with `options`.
    pub fn worker_with_options(
        &self,
        task_queue: impl Into<TaskQueue>,
        registry: Registry,
        options: WorkerOptions,
    ) -> Worker {
        self.callers.worker_with_options(task_queue, registry, options)
    }
}

/// Builds an [`Engine`]; every part not given takes its production default.
#[derive(Default)]
pub struct EngineBuilder {
    storage: Option<Arc<dyn Storage>>,
    clock: Option<SharedClock>,
    spawner: Option<SharedSpawner>,
    config: Option<ServiceConfig>,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// The storage (default: a new `MemoryStorage`).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// The clock (default: `TokioClock::system()`).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The spawner of background tasks (default: `TokioSpawner`).
    pub fn spawner(mut self, spawner: SharedSpawner) -> Self {
        self.spawner = Some(spawner);
        self
    }

    /// The service's configuration (default: `ServiceConfig::default()` seeded from the OS).
    pub fn config(mut self, config: ServiceConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Creates the service and starts its timer loop on the spawner. With the default
    /// spawner, call it from within a tokio runtime.
    pub fn build(self) -> Engine {
        let storage = self.storage.unwrap_or_else(|| Arc::new(MemoryStorage::default()));
        let clock = self.clock.unwrap_or_else(|| Arc::new(TokioClock::system()));
        let spawner = self.spawner.unwrap_or_else(|| Arc::new(TokioSpawner));
        let config = self.config.unwrap_or_else(|| ServiceConfig {
            seed: os_seed(),
            ..ServiceConfig::default()
        });
        // Client request ids come from a different stream than the service's own ids.
        let seed = mix(config.seed, u64::MAX);
        let service = Arc::new(Service::new(storage, clock.clone(), config));
        spawner.spawn("timers", Box::pin(service.clone().run_timers()));
        let transport = Arc::new(InProcess::new(service.clone()));
        Engine {
            service,
            callers: Callers::new(transport, clock, spawner, seed, "worker".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Spawner;
    use crate::time::Timestamp;
    use futures::future::BoxFuture;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recording(Mutex<Vec<&'static str>>);

    impl Spawner for Recording {
        fn spawn(&self, name: &'static str, _future: BoxFuture<'static, ()>) {
            self.0.lock().unwrap().push(name);
        }
    }

    fn engine(spawner: Arc<Recording>, seed: u64) -> Engine {
        Engine::builder()
            .clock(Arc::new(TokioClock::starting_at(Timestamp::UNIX_EPOCH)))
            .spawner(spawner)
            .config(ServiceConfig {
                seed,
                ..ServiceConfig::default()
            })
            .build()
    }

    #[test]
    fn build_starts_the_timer_loop_on_the_spawner() {
        let spawner = Arc::new(Recording::default());
        let _engine = engine(spawner.clone(), 1);
        assert_eq!(*spawner.0.lock().unwrap(), ["timers"]);
    }

    #[test]
    fn workers_are_numbered_and_clients_draw_distinct_seeded_ids() {
        let engine = engine(Arc::new(Recording::default()), 1);
        let first = engine.worker("orders", Registry::new());
        let client = engine.client();
        let second = engine.worker("orders", Registry::new());
        assert_eq!(first.identity(), "worker-1");
        assert_eq!(second.identity(), "worker-2");
        assert_eq!(second.task_queue().as_str(), "orders");
        assert_ne!(client.new_request_id(), engine.client().new_request_id());
        // The same seed makes the same ids: simulated runs repeat.
        let again = engine_ids(1);
        assert_eq!(again, engine_ids(1));
        assert_ne!(again, engine_ids(2));
    }

    fn engine_ids(seed: u64) -> Vec<String> {
        let engine = engine(Arc::new(Recording::default()), seed);
        (0..2).map(|_| engine.client().new_request_id().0).collect()
    }
}
