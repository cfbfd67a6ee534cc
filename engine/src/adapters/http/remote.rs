//! `Remote`: clients and workers of an engine server in another process. The workers run
//! the workflows and activities registered with them here, in this process; the server only
//! keeps histories, queues and timers.

use super::{HttpError, HttpTransport, TransportOptions};
use crate::adapters::{TokioClock, TokioSpawner, os_seed};
use crate::callers::Callers;
use crate::client::Client;
use crate::ids::TaskQueue;
use crate::registry::Registry;
use crate::service::Transport;
use crate::worker::{Worker, WorkerOptions};
use std::sync::Arc;
use std::time::Duration;

/// How often a remote worker sends `WorkerHeartbeat`: well inside the server's default
/// `worker_liveness_timeout` (1 s), so that a few lost heartbeats do not make a live worker
/// look dead.
pub const LIVENESS_INTERVAL: Duration = Duration::from_millis(200);

/// How many activity-task polls a remote worker keeps in flight: with one, a worker handed
/// out one attempt per HTTP round trip and lease (W3 of `BENCHMARKS.md` was bound by it).
pub const ACTIVITY_POLLS: usize = 8;

/// A connection to a Warpflow server, for making clients and workers. Connects lazily.
///
/// ```no_run
/// use warpflow_engine::adapters::http::Remote;
/// use warpflow_engine::client::StartOptions;
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
///     let remote = Remote::connect("http://127.0.0.1:7233", std::env::var("WARPFLOW_TOKEN").ok())?;
///     let worker = remote.worker("greetings", Registry::new().with_workflow::<Greet>());
///     let client = remote.client();
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
///     println!("{}", greeting?);
///     Ok(())
/// }
/// ```
pub struct Remote {
    transport: HttpTransport,
    callers: Callers,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// The server at `url` (`http://host:port`), with its token if it has one.
    pub fn connect(url: &str, token: Option<String>) -> Result<Remote, HttpError> {
        Remote::connect_with(
            url,
            TransportOptions {
                token,
                ..TransportOptions::default()
            },
        )
    }

    /// The server at `url`, with transport `options` (timeouts, token).
    pub fn connect_with(url: &str, options: TransportOptions) -> Result<Remote, HttpError> {
        let transport = HttpTransport::new(url, options)?;
        let seed = os_seed();
        let callers = Callers::new(
            Arc::new(transport.clone()),
            Arc::new(TokioClock::system()),
            Arc::new(TokioSpawner),
            seed,
            identity_prefix(seed),
        );
        Ok(Remote { transport, callers })
    }

    /// The transport, for clients and workers built by hand.
    pub fn transport(&self) -> Arc<dyn Transport> {
        self.callers.transport()
    }

    /// The server URL, as given.
    pub fn url(&self) -> &str {
        self.transport.url()
    }

    /// A client of the server. Request ids are seeded from the OS, so they differ between
    /// processes.
    pub fn client(&self) -> Client {
        self.callers.client()
    }

    /// A worker for `task_queue` with default options and an identity unique to this
    /// process: `<host>-<pid>-<random>-<n>`. (The server routes a run's next workflow tasks
    /// to the worker that has it cached, by identity: two processes must not share one.)
    pub fn worker(&self, task_queue: impl Into<TaskQueue>, registry: Registry) -> Worker {
        self.callers
            .worker_with_options(task_queue, registry, self.worker_options())
    }

    /// The options [`Remote::worker`] uses, with the next identity unique to this process:
    /// a starting point for a worker with other limits. Remote workers tell the server they
    /// are alive every [`LIVENESS_INTERVAL`], so that the work of a killed worker process goes
    /// to another within about a second instead of waiting out its timeouts, and keep
    /// [`ACTIVITY_POLLS`] activity polls in flight.
    pub fn worker_options(&self) -> WorkerOptions {
        WorkerOptions {
            liveness_interval: Some(LIVENESS_INTERVAL),
            max_concurrent_activity_polls: ACTIVITY_POLLS,
            ..self.callers.worker_options()
        }
    }

    /// A worker for `task_queue` with `options`, identity included.
    pub fn worker_with_options(
        &self,
        task_queue: impl Into<TaskQueue>,
        registry: Registry,
        options: WorkerOptions,
    ) -> Worker {
        self.callers.worker_with_options(task_queue, registry, options)
    }
}

/// `<host>-<pid>-<8 hex digits of seed>`: the host and process tell operators where a
/// worker runs; the random part keeps a restarted process that got the same pid apart.
fn identity_prefix(seed: u64) -> String {
    format!(
        "{}-{}-{:08x}",
        host_name(),
        std::process::id(),
        seed & 0xffff_ffff
    )
}

/// The machine's name, or `host` when it cannot be read.
fn host_name() -> String {
    let name = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        "host".to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_identities_name_this_process_and_differ_between_connections() {
        let first = Remote::connect("http://127.0.0.1:1", None).unwrap();
        let second = Remote::connect("http://127.0.0.1:1", None).unwrap();
        let a = first.worker("q", Registry::new());
        let b = first.worker("q", Registry::new());
        let c = second.worker("q", Registry::new());
        let pid = format!("-{}-", std::process::id());
        assert!(
            a.identity().contains(&pid) && a.identity().ends_with("-1"),
            "{}",
            a.identity()
        );
        assert!(b.identity().ends_with("-2"), "{}", b.identity());
        assert_ne!(a.identity(), "worker");
        assert_ne!(
            a.identity(),
            c.identity(),
            "another connection, another random part"
        );
        assert_eq!(first.url(), "http://127.0.0.1:1");
    }
}
