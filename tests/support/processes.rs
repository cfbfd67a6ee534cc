//! `warpflow serve` and `warpflow worker` as child processes, for the tests and benchmarks
//! that need real processes, real files and `kill -9`. Each process says on its first stdout
//! line that it is ready (`listening on ADDR`, `worker ID polling QUEUE`); a spawn waits for
//! that line, with a deadline, instead of sleeping.

#![allow(dead_code, reason = "each test crate that includes this uses part of it")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a process may take to say it is ready.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A child process, killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct Process {
    child: Child,
    /// Its first stdout line, the readiness line, without the newline.
    pub ready_line: String,
}

impl Process {
    /// Starts `binary` with `args` and waits for its first stdout line.
    pub fn spawn(binary: &Path, args: &[&str]) -> Process {
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // A thread, so that the wait has a deadline; it keeps draining stdout afterwards so
        // the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
            for _ in lines {}
        });
        let ready_line = match rx.recv_timeout(READY_DEADLINE) {
            Ok(line) if !line.is_empty() => line,
            other => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "{} {args:?} did not get ready ({other:?}, exit {status:?})",
                    binary.display()
                )
            }
        };
        Process { child, ready_line }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`, and reap it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (a `kill` signal name: `STOP`, `CONT`, `TERM`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits for it to exit on its own, up to `deadline`; its exit code.
    pub fn wait_exit(mut self, deadline: Duration) -> Option<i32> {
        let start = std::time::Instant::now();
        while start.elapsed() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `warpflow serve` on `listen` (e.g. `127.0.0.1:0`) with its state in `db`.
pub fn serve(binary: &Path, db: &Path, listen: &str) -> (Process, String) {
    let db = db.to_str().expect("a UTF-8 path");
    let process = Process::spawn(binary, &["serve", "--db", db, "--listen", listen]);
    let addr = process
        .ready_line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {:?}", process.ready_line))
        .to_owned();
    (process, addr)
}

/// `warpflow worker` for the `three_step` workload against `url`, logging activities to `log`
/// if given.
pub fn worker(binary: &Path, url: &str, log: Option<&Path>) -> Process {
    let mut args = vec!["worker", "--server", url];
    if let Some(log) = log {
        args.extend(["--activity-log", log.to_str().expect("a UTF-8 path")]);
    }
    Process::spawn(binary, &args)
}

/// A client of the server at `url` whose calls retry long enough to ride out a restart of
/// the server (about a minute of backoff).
pub fn client(url: &str) -> warpflow::engine::client::Client {
    warpflow::remote::Remote::connect(url, None)
        .expect("a valid url")
        .client()
        .with_retry(warpflow::engine::client::CallRetry {
            max_attempts: 60,
            ..Default::default()
        })
}

/// A fresh directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `<tmp>/warpflow-<name>-<pid>-<n>`.
    pub fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("warpflow-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir");
        TempDir(dir)
    }

    /// `name` inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lines of the activity log at `path` (empty when it does not exist yet).
pub fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}
