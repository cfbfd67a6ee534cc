//! Running an example for real, as the runnable examples (`cargo run --example NAME`) do: a
//! worker and a client on tokio, against either an engine in this process that keeps its
//! state in a SQLite file, or a server in another process (`warpflow serve`) named by
//! `--server URL` or `WARPFLOW_SERVER` (with `WARPFLOW_TOKEN` if it has a token). Then the
//! timeline of what happened.

use std::error::Error;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use warpflow_engine::adapters::http::Remote;
use warpflow_engine::adapters::{SqliteConfig, SqliteStorage};
use warpflow_engine::client::Client;
use warpflow_engine::engine::{Engine, EngineBuilder};
use warpflow_engine::service::ServiceError;
use warpflow_engine::worker::{CancellationToken, Worker};
use warpflow_engine::{History, Registry};

/// What a runnable example's `main` returns.
pub type MainResult<T = ()> = Result<T, Box<dyn Error>>;

/// Where an example's workflows run.
#[derive(Debug)]
pub enum Deployment {
    /// An engine in this process, its state in a SQLite file in a directory of its own, which
    /// is removed when the deployment is dropped.
    Local {
        /// The engine (taken out when dropped, so the database closes before its removal).
        engine: Option<Engine>,
        /// The directory of the database file.
        dir: PathBuf,
    },
    /// A server in another process.
    Remote(Remote),
}

impl Deployment {
    /// A server if the command line has `--server URL` or `WARPFLOW_SERVER` is set, else an
    /// engine built by `engine` over a fresh SQLite file.
    pub fn from_env(engine: EngineBuilder) -> Result<Deployment, ServiceError> {
        let mut args = std::env::args().skip_while(|arg| arg != "--server");
        let server = args.nth(1).or_else(|| std::env::var("WARPFLOW_SERVER").ok());
        if let Some(url) = server {
            let token = std::env::var("WARPFLOW_TOKEN").ok().filter(|t| !t.is_empty());
            let remote = Remote::connect(&url, token)
                .map_err(|e| ServiceError::InvalidRequest(format!("--server {url}: {e}")))?;
            println!("running on the server at {url}");
            return Ok(Deployment::Remote(remote));
        }
        let dir = std::env::temp_dir().join(format!("warpflow-example-{}", std::process::id()));
        let unavailable = |e: &dyn std::fmt::Display| ServiceError::Unavailable(e.to_string());
        std::fs::create_dir_all(&dir).map_err(|e| unavailable(&e))?;
        let db = dir.join("engine.db");
        let storage = SqliteStorage::open(&db, SqliteConfig::default()).map_err(|e| unavailable(&e))?;
        println!("running on an engine in this process, state in {}", db.display());
        let engine = engine.storage(Arc::new(storage)).build();
        Ok(Deployment::Local {
            engine: Some(engine),
            dir,
        })
    }

    /// A worker for `task_queue`.
    pub fn worker(&self, task_queue: &str, registry: Registry) -> Worker {
        match self {
            Deployment::Local { engine, .. } => engine
                .as_ref()
                .expect("engine is alive")
                .worker(task_queue, registry),
            Deployment::Remote(remote) => remote.worker(task_queue, registry),
        }
    }

    /// A client.
    pub fn client(&self) -> Client {
        match self {
            Deployment::Local { engine, .. } => engine.as_ref().expect("engine is alive").client(),
            Deployment::Remote(remote) => remote.client(),
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if let Deployment::Local { engine, dir } = self {
            drop(engine.take());
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Runs `body` with a client while a worker polls `task_queue` with `registry`, then stops the
/// worker (its attempts in flight finish first) and returns what `body` returned.
///
/// The worker runs on the caller's task, not a spawned one: it runs workflow code, which is
/// not `Send`.
pub async fn run_with_worker<F, Fut, T>(
    deployment: &Deployment,
    task_queue: &str,
    registry: Registry,
    body: F,
) -> Result<T, ServiceError>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = T>,
{
    let shutdown = CancellationToken::new();
    let worker = deployment.worker(task_queue, registry);
    let client = deployment.client();
    let stop = shutdown.clone();
    let (worker_result, output) = futures::join!(worker.run(shutdown), async move {
        let output = body(client).await;
        stop.cancel();
        output
    });
    worker_result?;
    Ok(output)
}

/// [`run_with_worker`] on the deployment [`Deployment::from_env`] picks, for a `main`.
pub async fn with_worker<F, Fut, T>(
    engine: EngineBuilder,
    task_queue: &str,
    registry: Registry,
    body: F,
) -> MainResult<T>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = MainResult<T>>,
{
    let deployment = Deployment::from_env(engine)?;
    run_with_worker(&deployment, task_queue, registry, body).await?
}

/// Prints the first `lines` lines of `history`'s timeline, and how many it left out.
pub fn print_timeline(history: &History, lines: usize) {
    let timeline = history.render_timeline();
    let total = timeline.lines().count();
    for line in timeline.lines().take(lines) {
        println!("  {line}");
    }
    if total > lines {
        println!("  ... ({} more lines)", total - lines);
    }
}
