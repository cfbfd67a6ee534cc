//! Running an example for real, as the runnable examples (`cargo run --example NAME`) do: the
//! engine on tokio with in-memory storage, one worker, a client, and the timeline of what
//! happened.

use std::error::Error;
use std::future::Future;
use warpflow_engine::client::Client;
use warpflow_engine::engine::Engine;
use warpflow_engine::worker::CancellationToken;
use warpflow_engine::{History, Registry};

/// What a runnable example's `main` returns.
pub type MainResult<T = ()> = Result<T, Box<dyn Error>>;

/// Runs `body` with a client of `engine` while a worker polls `task_queue` with `registry`,
/// then stops the worker (its attempts in flight finish first) and returns what `body` did.
///
/// The worker runs on the caller's task, not a spawned one: it runs workflow code, which is
/// not `Send`.
pub async fn with_worker<F, Fut, T>(
    engine: &Engine,
    task_queue: &str,
    registry: Registry,
    body: F,
) -> MainResult<T>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = MainResult<T>>,
{
    let shutdown = CancellationToken::new();
    let worker = engine.worker(task_queue, registry);
    let client = engine.client();
    let stop = shutdown.clone();
    let (worker_result, output) = futures::join!(worker.run(shutdown), async move {
        let output = body(client).await;
        stop.cancel();
        output
    });
    worker_result?;
    output
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
