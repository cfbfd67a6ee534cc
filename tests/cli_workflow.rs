//! `warpflow serve` as a child process (port 0, its address read from its stdout), a remote
//! worker in this process, and `warpflow workflow ...` run as a user runs it: JSON in and
//! out, one-line errors, and a graceful stop on SIGTERM.

mod support;

use serde_json::{Value, json};
use std::cell::RefCell;
use std::path::Path;
use std::process::{Command, Output};
use std::rc::Rc;
use std::time::{Duration, Instant};
use support::processes::Process;
use warpflow::prelude::*;

const TOKEN: &str = "cli-test-token";
/// How long the test waits for the server process to do something.
const DEADLINE: Duration = Duration::from_secs(20);

struct Hello;
impl Activity for Hello {
    const NAME: &'static str = "hello";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: ActivityCtx, name: String) -> Result<String, ActivityError> {
        Ok(format!("hello {name}"))
    }
}

/// An activity, then a short timer.
struct Greet;
impl Workflow for Greet {
    const NAME: &'static str = "greet";
    type Input = String;
    type Output = String;
    async fn run(ctx: WorkflowCtx, name: String) -> WorkflowResult<String> {
        let greeting = ctx
            .activity::<Hello>(name)
            .start_to_close(Duration::from_secs(10))
            .await?;
        ctx.sleep(Duration::from_millis(100)).await;
        Ok(greeting)
    }
}

struct Approve;
impl Signal for Approve {
    const NAME: &'static str = "approve";
    type Input = String;
}

struct Stage;
impl Query for Stage {
    const NAME: &'static str = "stage";
    type Args = ();
    type Output = String;
}

/// Waits for an approval signal (or a cancellation); answers `stage` meanwhile.
struct Approval;
impl Workflow for Approval {
    const NAME: &'static str = "approval";
    type Input = ();
    type Output = String;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<String> {
        let approver = Rc::new(RefCell::new(None::<String>));
        let a = approver.clone();
        ctx.on_signal::<Approve>(move |by| *a.borrow_mut() = Some(by));
        ctx.on_query::<Stage>(|()| "waiting".to_owned());
        let (waiting, c) = (approver.clone(), ctx.clone());
        ctx.condition(move || waiting.borrow().is_some() || c.is_cancel_requested())
            .await;
        if ctx.is_cancel_requested() {
            return Err(WorkflowError::Cancelled);
        }
        let by = approver.borrow().clone().unwrap_or_default();
        Ok(format!("approved by {by}"))
    }
}

/// `warpflow serve` with a token on a free port (killed when dropped), and its URL.
fn start_server() -> (Process, String) {
    let binary = Path::new(env!("CARGO_BIN_EXE_warpflow"));
    let server = Process::spawn(binary, &["serve", "--listen", "127.0.0.1:0", "--token", TOKEN]);
    let addr = server
        .ready_line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {:?}", server.ready_line))
        .to_owned();
    (server, format!("http://{addr}"))
}

/// Runs a worker for queue `q` on its own thread until `stop` is cancelled.
fn start_worker(url: &str, stop: CancellationToken) -> std::thread::JoinHandle<()> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let registry = Registry::new()
                .with_workflow::<Greet>()
                .with_workflow::<Approval>()
                .with_activity(Hello);
            let worker = Remote::connect(&url, Some(TOKEN.to_owned()))
                .expect("url")
                .worker("q", registry);
            worker.run(stop).await.expect("worker stopped cleanly");
        });
    })
}

fn warpflow(server: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warpflow"))
        .arg("workflow")
        .args(args)
        .args(["--server", server, "--token", TOKEN])
        .env_remove("WARPFLOW_TOKEN")
        .output()
        .expect("the warpflow binary runs")
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(out: &Output) -> Value {
    let text = stdout_of(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn assert_one_line_error(out: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line, no backtrace: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(expected),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// Retries `check` until it holds: the worker acts at its own pace.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn workflow_commands_against_a_served_engine() {
    let (server, url) = start_server();
    let stop = CancellationToken::new();
    let worker = start_worker(&url, stop.clone());
    let url = url.as_str();

    // start --wait prints the result.
    let out = warpflow(
        url,
        &[
            "start", "--type", "greet", "--id", "g-1", "--queue", "q", "--input", r#""ada""#, "--wait",
        ],
    );
    assert_eq!(stdout_of(&out), "\"hello ada\"\n");

    // start prints the run id; query, signal, describe, show, list.
    let out = warpflow(
        url,
        &["start", "--type", "approval", "--id", "a-1", "--queue", "q"],
    );
    let run_id = stdout_of(&out).trim().to_owned();
    assert!(!run_id.is_empty() && !run_id.contains(' '), "{run_id}");
    eventually("the query is answered", || {
        let out = warpflow(url, &["query", "--id", "a-1", "--name", "stage"]);
        out.status.success() && json_of(&out) == json!("waiting")
    });
    let out = warpflow(
        url,
        &[
            "signal", "--id", "a-1", "--name", "approve", "--input", r#""bob""#,
        ],
    );
    assert_eq!(stdout_of(&out), "");
    eventually("the approval completes", || {
        json_of(&warpflow(url, &["describe", "--id", "a-1"]))["status"] == "Completed"
    });
    let description = json_of(&warpflow(url, &["describe", "--id", "a-1", "--run", &run_id]));
    assert_eq!(description["run"]["runId"], json!(run_id));
    assert_eq!(description["outcome"], json!({"Completed": "approved by bob"}));
    let timeline = stdout_of(&warpflow(url, &["show", "--id", "a-1"]));
    assert!(
        timeline.starts_with(&format!("workflow a-1, run {run_id}, type approval:")),
        "{timeline}"
    );
    assert!(timeline.contains("WorkflowExecutionSignaled"), "{timeline}");
    let history = json_of(&warpflow(url, &["show", "--id", "a-1", "--json"]));
    assert_eq!(history["workflowId"], "a-1");
    let runs = json_of(&warpflow(url, &["list"]));
    let mut ids: Vec<&str> = runs
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|run| run["run"]["workflowId"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a-1", "g-1"], "{runs}");
    assert_eq!(
        json_of(&warpflow(url, &["list", "--id", "g-1"]))
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // cancel and terminate.
    stdout_of(&warpflow(
        url,
        &["start", "--type", "approval", "--id", "a-2", "--queue", "q"],
    ));
    assert_eq!(stdout_of(&warpflow(url, &["cancel", "--id", "a-2"])), "");
    eventually("the cancellation is accepted", || {
        json_of(&warpflow(url, &["describe", "--id", "a-2"]))["status"] == "Canceled"
    });
    stdout_of(&warpflow(
        url,
        &["start", "--type", "approval", "--id", "a-3", "--queue", "q"],
    ));
    let out = warpflow(url, &["terminate", "--id", "a-3", "--reason", "test over"]);
    assert_eq!(stdout_of(&out), "");
    let description = json_of(&warpflow(url, &["describe", "--id", "a-3"]));
    assert_eq!(description["outcome"], json!({"Terminated": "test over"}));

    // One-line errors.
    assert_one_line_error(
        &warpflow(url, &["describe", "--id", "nope"]),
        "workflow nope not found",
    );
    assert_one_line_error(
        &warpflow(
            url,
            &["signal", "--id", "a-1", "--name", "approve", "--input", "{bad"],
        ),
        "--input is not JSON: key must be a string at line 1 column 2",
    );
    assert_one_line_error(
        &warpflow(url, &["start", "--type", "nope", "--id", "n-1", "--queue", "q"]),
        "unknown workflow type `nope` on task queue q",
    );
    assert_one_line_error(
        &warpflow(url, &["signal", "--id", "a-1", "--name", "approve"]),
        "workflow a-1 run",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_warpflow"))
        .args(["workflow", "list", "--server", url, "--token", "guess"])
        .output()
        .expect("runs");
    assert_one_line_error(&out, "unauthorized: the bearer token is wrong");

    // SIGTERM stops the server cleanly; then it is down, which is one line too.
    stop.cancel();
    worker.join().expect("worker thread");
    server.signal("TERM");
    let code = server.wait_exit(DEADLINE);
    assert_eq!(code, Some(0), "the server stops cleanly on SIGTERM");
    assert_one_line_error(
        &warpflow(url, &["list"]),
        "service unavailable: cannot connect to",
    );
}

#[test]
fn serve_refuses_what_it_cannot_do_in_one_line() {
    for (args, expected) in [
        (&["serve", "--listen", "nowhere"][..], "cannot listen on nowhere"),
        (
            &["serve", "--db", "README.md"][..],
            "README.md: not a Warpflow database",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_warpflow"))
            .args(args)
            .output()
            .expect("runs");
        assert_one_line_error(&out, expected);
    }
}
