//! W3 and W5 of `BENCHMARKS.md`: the durable engine for real, as separate processes.
//! `warpflow serve` keeps its state in a SQLite file (WAL, `synchronous=FULL`: every
//! acknowledged commit is on disk), `warpflow worker` runs the `three_step` workload, and this
//! program drives them over loopback HTTP.
//!
//! - W3: 20 warm-up workflows, 20 one after another (unloaded latency), then 3 batches of
//!   K = 200 started together: workflows/s (K ÷ (last result − batch start)), p50/p99
//!   start-to-result latency (nearest rank), the median over batches; the server's RSS idle
//!   and at its peak.
//! - W5: 200 workflows whose activities log each execution; when the log has 300 lines the
//!   worker (then, in a second run, the server) is SIGKILLed and a new one started at once.
//!   Lost = 600 − distinct executions, duplicates = lines − distinct, recovery = kill to the
//!   last completion, and restart to the first completion after it.
//!
//! `cargo bench --bench durable [w3|w5]`. A whole-process benchmark, so a plain binary rather
//! than criterion: each figure is one run of the workload, and medians are taken over the
//! workload's own repetitions (batches, workflows).

#[path = "../tests/support/processes.rs"]
mod processes;

use futures::future::join_all;
use processes::{TempDir, log_lines};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};
use warpflow::engine::client::{Client, StartOptions};
use warpflow_examples::three_step::{self, ThreeStep};

const WARM_UP: usize = 20;
const UNLOADED: usize = 20;
const BATCH: usize = 200;
const BATCHES: usize = 3;
const W5_WORKFLOWS: usize = 200;
const W5_KILL_AT_LINES: usize = 300;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_warpflow"))
}

/// Starts `key` and waits for its result; the latency from just before the start call.
async fn run_one(client: &Client, key: String) -> Duration {
    let start = Instant::now();
    let handle = client
        .start::<ThreeStep>(key.clone(), &key, StartOptions::new(three_step::TASK_QUEUE))
        .await
        .expect("started");
    let result = handle.result().await.expect("completed");
    assert_eq!(result, three_step::expected_result(&key));
    start.elapsed()
}

/// Nearest-rank percentile `p` of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A field of `/proc/PID/status` in kB (`VmRSS:` now, `VmHWM:` the peak), as MiB.
fn rss_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn w3() {
    let dir = TempDir::new("bench-w3");
    let (server, addr) = processes::serve(binary(), &dir.join("engine.db"), "127.0.0.1:0");
    let url = format!("http://{addr}");
    let _worker = processes::worker(binary(), &url, None);
    let rss_idle = rss_mib(server.pid(), "VmRSS:");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let client = processes::client(&url);
    runtime.block_on(async {
        for i in 0..WARM_UP {
            run_one(&client, format!("warm-{i}")).await;
        }
        let mut unloaded = Vec::new();
        for i in 0..UNLOADED {
            unloaded.push(run_one(&client, format!("unloaded-{i}")).await);
        }
        unloaded.sort();
        println!(
            "W3 unloaded latency ({UNLOADED} in sequence): p50 {:.1} ms, p99 {:.1} ms",
            ms(percentile(&unloaded, 50.0)),
            ms(percentile(&unloaded, 99.0))
        );
        let (mut rates, mut p50s, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
        for batch in 0..BATCHES {
            let start = Instant::now();
            let runs = (0..BATCH).map(|i| run_one(&client, format!("b{batch}-{i}")));
            let mut latencies = join_all(runs).await;
            let elapsed = start.elapsed();
            latencies.sort();
            let rate = BATCH as f64 / elapsed.as_secs_f64();
            let (p50, p99) = (ms(percentile(&latencies, 50.0)), ms(percentile(&latencies, 99.0)));
            println!(
                "W3 batch {}: {BATCH} started together, all done in {:.1} ms: {rate:.0} workflows/s, \
                 p50 {p50:.1} ms, p99 {p99:.1} ms",
                batch + 1,
                ms(elapsed)
            );
            rates.push(rate);
            p50s.push(p50);
            p99s.push(p99);
        }
        println!(
            "W3 median of {BATCHES} batches: {:.0} workflows/s, p50 {:.1} ms, p99 {:.1} ms",
            median(rates),
            median(p50s),
            median(p99s)
        );
    });
    println!(
        "W3 server RSS: idle {rss_idle:.1} MiB, peak {:.1} MiB (SQLite WAL, synchronous=FULL)",
        rss_mib(server.pid(), "VmHWM:")
    );
}

/// Which process W5 kills.
#[derive(Clone, Copy, Debug)]
enum Victim {
    Worker,
    Server,
}

fn w5(victim: Victim) {
    let dir = TempDir::new("bench-w5");
    let (db, log) = (dir.join("engine.db"), dir.join("activities.log"));
    let (mut server, addr) = processes::serve(binary(), &db, "127.0.0.1:0");
    let url = format!("http://{addr}");
    let mut worker = processes::worker(binary(), &url, Some(&log));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let client = processes::client(&url);
    let keys: Vec<String> = (0..W5_WORKFLOWS).map(|i| format!("w5-{i:03}")).collect();
    runtime.block_on(async {
        let starts = keys.iter().map(|key| {
            client.start::<ThreeStep>(key.clone(), key, StartOptions::new(three_step::TASK_QUEUE))
        });
        for started in join_all(starts).await {
            started.expect("started");
        }
    });
    while log_lines(&log).len() < W5_KILL_AT_LINES {
        std::thread::sleep(Duration::from_millis(1));
    }
    let killed_at = Instant::now();
    match victim {
        Victim::Worker => {
            worker.kill();
            worker = processes::worker(binary(), &url, Some(&log));
        }
        Victim::Server => {
            server.kill();
            server = processes::serve(binary(), &db, &addr).0;
        }
    }
    let restarted_at = Instant::now();
    let completions = runtime.block_on(async {
        join_all(keys.iter().map(|key| async {
            let handle = client.handle::<ThreeStep>(key.clone());
            let result = handle.result().await.expect("completed");
            assert_eq!(result, three_step::expected_result(key));
            Instant::now()
        }))
        .await
    });
    let last = completions.iter().max().copied().unwrap_or(killed_at);
    let first_after = completions.iter().filter(|t| **t > restarted_at).min().copied();
    let lines = log_lines(&log);
    let distinct: BTreeSet<&String> = lines.iter().collect();
    println!(
        "W5 {victim:?} killed at {W5_KILL_AT_LINES} of {} executions: lost {}, duplicates {}, \
         kill to last completion {:.1} ms, restart to first completion {}",
        W5_WORKFLOWS * 3,
        W5_WORKFLOWS * 3 - distinct.len(),
        lines.len() - distinct.len(),
        ms(last - killed_at),
        first_after.map_or("-".to_owned(), |t| format!("{:.1} ms", ms(t - restarted_at))),
    );
    drop((worker, server));
}

fn main() {
    // `cargo bench` passes `--bench`; a further argument picks one workload.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if wants("w3") {
        w3();
    }
    if wants("w5") {
        w5(Victim::Worker);
        w5(Victim::Server);
    }
}
