//! `warpflow serve [--db FILE] [--listen ADDR] [--token T]`: the engine as a server. A
//! service over its storage, its timer loop and the HTTP server, on tokio, until SIGTERM or
//! SIGINT; then a graceful shutdown (calls in flight answer, long polls end at once).
//!
//! Prints `listening on ADDR` on stdout once bound, so that a script or a test that asked
//! for port 0 learns the port.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use warpflow_engine::adapters::http::{HttpServer, ServerOptions};
use warpflow_engine::adapters::{SqliteConfig, SqliteStorage};
use warpflow_engine::engine::Engine;
use warpflow_engine::storage::{MemoryStorage, Storage};
use warpflow_engine::worker::CancellationToken;

/// The arguments of `warpflow serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The SQLite file that keeps the engine's state [default: in memory, lost at exit].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// The address to listen on (port 0 picks a free port, printed at start).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7233")]
    listen: String,
    /// Require `Authorization: Bearer <T>` on every request.
    #[arg(long, value_name = "T", env = "WARPFLOW_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Serves until SIGTERM or SIGINT. Output: nothing more than the `listening on` line,
/// printed as soon as the server is bound.
pub fn run(args: ServeArgs) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    runtime.block_on(serve(args))?;
    Ok(String::new())
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let storage = open_storage(args.db.as_deref())?;
    let token = args.token.filter(|token| !token.is_empty());
    let engine = Engine::builder().storage(storage).build();
    let options = ServerOptions {
        token: token.clone(),
        ..ServerOptions::default()
    };
    let server = HttpServer::bind(&args.listen, engine.service(), options)
        .await
        .map_err(|e| e.to_string())?;
    let addr = server.local_addr().map_err(|e| e.to_string())?;
    // Handlers first: a signal sent as soon as the address is known must stop us gracefully.
    let stop = stop_signal()?;
    if token.is_none() && !addr.ip().is_loopback() {
        eprintln!(
            "warning: listening on {addr} without a token: anyone who reaches it can start and stop \
             workflows (set --token or WARPFLOW_TOKEN)"
        );
    }
    println!("listening on {addr}");
    std::io::stdout()
        .flush()
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    let shutdown = CancellationToken::new();
    let serving = server.run(shutdown.clone());
    let mut serving = std::pin::pin!(serving);
    tokio::select! {
        () = serving.as_mut() => {}
        () = stop => {
            shutdown.cancel();
            serving.await;
        }
    }
    Ok(())
}

/// The storage the service keeps its state in: a SQLite file (created if missing; a file
/// that is not a Warpflow database, or is newer or damaged, is refused untouched), or memory.
fn open_storage(db: Option<&Path>) -> Result<Arc<dyn Storage>, String> {
    match db {
        None => Ok(Arc::new(MemoryStorage::default())),
        Some(path) => SqliteStorage::open(path, SqliteConfig::default())
            .map(|storage| Arc::new(storage) as Arc<dyn Storage>)
            .map_err(|e| e.to_string()),
    }
}

/// Completes at the first SIGTERM or SIGINT (Ctrl-C where there are no Unix signals).
#[cfg(unix)]
pub(super) fn stop_signal() -> Result<impl Future<Output = ()>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind| signal(kind).map_err(|e| format!("cannot listen for signals: {e}"));
    let mut terminate = listen(SignalKind::terminate())?;
    let mut interrupt = listen(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Completes at the first SIGTERM or SIGINT (Ctrl-C where there are no Unix signals).
#[cfg(not(unix))]
pub(super) fn stop_signal() -> Result<impl Future<Output = ()>, String> {
    Ok(async {
        // Without a handler there is no graceful stop: serve until the process is killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
