//! `warpflow worker [--server URL] [--activity-log FILE]`: a worker process for the
//! benchmark workload `three_step` (W3/W5 of `BENCHMARKS.md`) against a server, until SIGTERM
//! or SIGINT. The durability tests and benchmarks run it next to `warpflow serve`, and kill
//! either with SIGKILL.
//!
//! Prints `worker <identity> polling <queue>` once it runs. Its activities append
//! `"<key> <name>\n"` to the activity log when one is given, so that a crash test can count
//! executions.

use super::workflow::ServerArgs;
use std::io::Write;
use std::path::PathBuf;
use warpflow_engine::worker::{CancellationToken, WorkerOptions};
use warpflow_examples::three_step::{self, ActivityLog};

/// The arguments of `warpflow worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Append `"<workflow id> <activity>"` to this file each time an activity runs.
    #[arg(long, value_name = "FILE")]
    activity_log: Option<PathBuf>,
    /// How many activity attempts run at once.
    #[arg(long, value_name = "N", default_value_t = 200)]
    max_concurrent_activities: usize,
    /// How many workflow tasks run at once.
    #[arg(long, value_name = "N", default_value_t = 50)]
    max_concurrent_workflow_tasks: usize,
}

/// Runs the worker until SIGTERM or SIGINT, then stops it gracefully (attempts in flight are
/// handed back to the server).
pub fn run(args: WorkerArgs) -> Result<String, String> {
    let log = match &args.activity_log {
        None => ActivityLog::none(),
        Some(path) => ActivityLog::append_to(path)
            .map_err(|e| format!("cannot open the activity log {}: {e}", path.display()))?,
    };
    let remote = args.server.connect()?;
    // One thread: the worker's loop is not `Send` and runs on the thread that blocks on it,
    // so on a multi-thread runtime every reply from the server would cross from the I/O
    // driver's thread to this one (seen in `perf sched timehist` under W3).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    runtime.block_on(async {
        let options = WorkerOptions {
            max_concurrent_activities: args.max_concurrent_activities,
            max_concurrent_workflow_tasks: args.max_concurrent_workflow_tasks,
            ..remote.worker_options()
        };
        let worker = remote.worker_with_options(three_step::TASK_QUEUE, three_step::registry(log), options);
        let stop = super::serve::stop_signal()?;
        println!("worker {} polling {}", worker.identity(), three_step::TASK_QUEUE);
        std::io::stdout()
            .flush()
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
        let shutdown = CancellationToken::new();
        let running = worker.run(shutdown.clone());
        let mut running = std::pin::pin!(running);
        tokio::select! {
            result = running.as_mut() => result.map_err(|e| e.to_string())?,
            () = stop => {
                shutdown.cancel();
                running.await.map_err(|e| e.to_string())?;
            }
        }
        Ok(String::new())
    })
}
