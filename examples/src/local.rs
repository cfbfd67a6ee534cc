//! The engine for real, in this process: what the runnable examples (`cargo run --example
//! NAME`) run their workflows on. In-memory storage, the system clock on tokio, one worker.

use std::future::Future;
use std::sync::Arc;
use warpflow_engine::Registry;
use warpflow_engine::client::Client;
use warpflow_engine::engine::Engine;
use warpflow_engine::service::ServiceError;
use warpflow_engine::storage::MemoryStorage;
use warpflow_engine::worker::CancellationToken;
use warpflow_engine::workflow::future::join;

/// The task queue of the examples' worker.
pub const TASK_QUEUE: &str = "examples";

/// Starts an engine with `MemoryStorage` and a worker for `registry` on [`TASK_QUEUE`], runs
/// `drive` with a client until it finishes, then stops the worker. Call it within a tokio
/// runtime (the engine's timers and activities run on tokio).
pub async fn run_locally<T, F, Fut>(registry: Registry, drive: F) -> Result<T, ServiceError>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = T>,
{
    let engine = Engine::builder().storage(Arc::new(MemoryStorage::new())).build();
    let worker = engine.worker(TASK_QUEUE, registry);
    let client = engine.client();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    // The worker runs on this task (it polls workflow code, which is not `Send`), next to the
    // driver; when the driver is done, the worker is told to stop.
    let (stopped, value) = join(worker.run(shutdown), async move {
        let value = drive(client).await;
        stop.cancel();
        value
    })
    .await;
    stopped?;
    Ok(value)
}
