//! The `warpflow` binary, run as a user runs it (the README's main command among them).

use std::path::Path;
use std::process::{Command, Output};

fn warpflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warpflow"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the warpflow binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn history_show_prints_the_timeline_grouped_by_workflow_task() {
    let out = warpflow(&["history", "show", "tests/histories/order-fraud-timeout.json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("workflow wf-1, run run-1, type order: 34 events\n"),
        "{stdout}"
    );
    assert!(stdout.contains("workflow task 6\n"), "{stdout}");
    assert!(stdout.contains("+1day    18  TimerFired  #1"), "{stdout}");
    assert!(
        stdout.contains("WorkflowExecutionCompleted  -> \"fraud_timeout\""),
        "{stdout}"
    );
}

#[test]
fn history_show_json_prints_the_normalised_history() {
    let path = "tests/histories/order-fraud-timeout.json";
    let out = warpflow(&["history", "show", "--json", path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect("fixture");
    assert_eq!(text(&out.stdout), committed, "the fixture is already normalised");
}

fn assert_one_line_error(out: &Output, expected: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line, no backtrace: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(expected),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_file_is_one_clear_line() {
    let out = warpflow(&["history", "show", "no/such/file.json"]);
    assert_one_line_error(&out, "cannot read no/such/file.json");
}

#[test]
fn malformed_histories_are_one_clear_line_naming_the_problem() {
    let dir = std::env::temp_dir().join(format!("warpflow-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases = [
        ("not-json.json", "{ nope", "line 1, column 3"),
        (
            "gap.json",
            r#"{"workflowId":"w","runId":"r","events":[
              {"eventId":1,"eventTime":"2026-01-01T00:00:00.000Z","eventType":"WorkflowExecutionStarted",
               "workflowType":"t","taskQueue":"q","input":null,"workflowTaskTimeout":"10s","randomnessSeed":1},
              {"eventId":3,"eventTime":"2026-01-01T00:00:00.000Z","eventType":"WorkflowTaskScheduled",
               "taskQueue":"q","startToCloseTimeout":"10s","attempt":1}]}"#,
            "eventId 3, expected 2",
        ),
    ];
    for (name, body, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, body).expect("written");
        let out = warpflow(&["history", "show", path.to_str().expect("utf-8 path")]);
        assert_one_line_error(&out, expected);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_usage_exits_with_2() {
    let out = warpflow(&["history", "shw"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn simulate_runs_the_bundled_examples_and_reports_what_it_checked() {
    let out = warpflow(&["simulate", "--seeds", "2"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let stdout = text(&out.stdout);
    for example in warpflow_examples::all() {
        assert!(stdout.contains(example.name), "{} is run: {stdout}", example.name);
    }
    for line in [
        "seeds run:         14",
        "faults injected:",
        "oracles checked:",
        "crash-equivalence",
        "saga",
        "throughput:",
        "every oracle held",
    ] {
        assert!(stdout.contains(line), "`{line}` in: {stdout}");
    }
}

#[test]
fn simulate_one_seed_of_one_workflow() {
    let out = warpflow(&[
        "simulate",
        "--workflow",
        "money_transfer",
        "--seed",
        "7",
        "--faults",
        "storage",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("money_transfer") && stdout.contains("seeds run:         1"),
        "{stdout}"
    );
    assert!(!stdout.contains("order_processing"), "{stdout}");
}

#[test]
fn simulate_bad_flags_are_one_clear_line() {
    let out = warpflow(&["simulate", "--workflow", "nope"]);
    assert_one_line_error(&out, "unknown workflow `nope`; known workflows: order_processing");
    let out = warpflow(&["simulate", "--faults", "stormy"]);
    assert_one_line_error(&out, "unknown fault mix `stormy`");
    let out = warpflow(&["simulate", "--seeds", "many"]);
    assert_eq!(out.status.code(), Some(2), "a usage error: {}", text(&out.stderr));
}
