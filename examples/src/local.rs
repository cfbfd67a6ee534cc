//! The runner of the order examples: their workflows on [`TASK_QUEUE`], on the deployment
//! [`Deployment::from_env`](crate::live::Deployment::from_env) picks (an engine in this process
//! on a SQLite file, or a server).

use crate::live::{Deployment, run_with_worker};
use std::future::Future;
use warpflow_engine::Registry;
use warpflow_engine::client::Client;
use warpflow_engine::engine::Engine;
use warpflow_engine::service::ServiceError;

/// The task queue of the examples' worker.
pub const TASK_QUEUE: &str = "examples";

/// Runs a worker for `registry` on [`TASK_QUEUE`] and `drive` with a client until it finishes,
/// then stops the worker. Call it within a tokio runtime.
pub async fn run_locally<T, F, Fut>(registry: Registry, drive: F) -> Result<T, ServiceError>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = T>,
{
    let deployment = Deployment::from_env(Engine::builder())?;
    run_with_worker(&deployment, TASK_QUEUE, registry, drive).await
}
