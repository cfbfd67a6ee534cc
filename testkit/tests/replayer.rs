//! `HistoryReplayer` on files and directories: histories of several workflow types replayed
//! through one registry, a history the code no longer produces, a file that is not a history,
//! and the summary `assert_ok` panics with.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;
use warpflow_engine::Payload;
use warpflow_engine::history::HistoryBuilder;
use warpflow_engine::workflow::{Workflow, WorkflowCtx};
use warpflow_engine::{Activity, ActivityCtx, ActivityError, HistoryError, Registry, WorkflowResult};
use warpflow_testkit::{HistoryReplayer, ReplayCheck, ReplayFailure, ReplayReport};

struct Charge;
impl Activity for Charge {
    const NAME: &'static str = "charge_payment";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: ActivityCtx, order: String) -> Result<String, ActivityError> {
        Ok(format!("chg-{order}"))
    }
}

/// Charges the order, then completes with the charge id.
struct Order;
impl Workflow for Order {
    const NAME: &'static str = "order";
    type Input = String;
    type Output = String;
    async fn run(ctx: WorkflowCtx, order: String) -> WorkflowResult<String> {
        let charge = ctx
            .activity::<Charge>(order)
            .start_to_close(Duration::from_secs(10))
            .await?;
        Ok(charge)
    }
}

/// Sleeps an hour, then completes.
struct Reminder;
impl Workflow for Reminder {
    const NAME: &'static str = "reminder";
    type Input = ();
    type Output = String;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<String> {
        ctx.sleep(Duration::from_secs(3600)).await;
        Ok("reminded".to_owned())
    }
}

fn registry() -> Registry {
    Registry::new()
        .with_workflow::<Order>()
        .with_workflow::<Reminder>()
        .with_activity(Charge)
}

/// An order history; `activity_type` is what the recorded code scheduled.
fn order_history(activity_type: &str) -> String {
    let mut b = HistoryBuilder::new("order", Payload::from("o-1")).with_ids("order-1", "run-order-1");
    b.workflow_task();
    let charge = b.activity_scheduled("1", activity_type, Payload::from("o-1"));
    b.advance(Duration::from_secs(2));
    b.activity_completed(charge, Payload::from("chg-o-1"));
    b.workflow_task();
    b.complete(Payload::from("chg-o-1"));
    b.build().to_json_pretty()
}

fn reminder_history() -> String {
    let mut b = HistoryBuilder::new("reminder", Payload::null()).with_ids("reminder-1", "run-reminder-1");
    b.workflow_task();
    let timer = b.timer_started("1", Duration::from_secs(3600));
    b.timer_fired(timer);
    b.workflow_task();
    b.complete(Payload::from("reminded"));
    b.build().to_json_pretty()
}

/// A fresh directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("warpflow-testkit-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a history");
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The message `report.assert_ok()` panics with.
fn assert_ok_panic(report: &ReplayReport) -> String {
    let panic = catch_unwind(AssertUnwindSafe(|| report.assert_ok())).expect_err("assert_ok panics");
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .expect("a string panic message")
}

#[test]
fn a_directory_with_good_broken_and_malformed_histories() {
    let dir = TempDir::new("replay-dir");
    // Written out of order: the report is in file-name order.
    let reminder = dir.write("d-reminder.json", &reminder_history());
    let malformed = dir.write("c-malformed.json", "{\"workflowId\": \"x\", \"runId\": ");
    let broken = dir.write("b-order-refund.json", &order_history("refund_payment"));
    let good = dir.write("a-order.json", &order_history("charge_payment"));
    dir.write("README.txt", "not a history");
    std::fs::create_dir(dir.path().join("nested.json")).expect("a directory named like a history");

    let report = HistoryReplayer::new(registry()).replay_dir(dir.path());
    let paths: Vec<&Path> = report.entries().iter().map(|e| e.path.as_path()).collect();
    assert_eq!(paths, [&good, &broken, &malformed, &reminder]);
    assert!(!report.is_ok());
    assert_eq!(report.failures().count(), 2);

    let ok = report.entry(&good).expect("the good order");
    assert!(ok.is_ok(), "{:?}", ok.result);
    assert_eq!(ok.workflow_type.as_deref(), Some("order"));
    assert_eq!(ok.result.as_ref().map(|o| o.workflow_tasks).ok(), Some(2));
    let reminded = report.entry(&reminder).expect("the reminder");
    assert!(reminded.is_ok(), "{:?}", reminded.result);
    assert_eq!(reminded.workflow_type.as_deref(), Some("reminder"));

    // The broken history: the code now schedules charge_payment where history has a refund.
    let entry = report.entry(&broken).expect("the broken order");
    assert_eq!(entry.workflow_id.as_ref().map(|w| w.as_str()), Some("order-1"));
    assert_eq!(entry.run_id.as_ref().map(|r| r.as_str()), Some("run-order-1"));
    let failure = entry.failure().expect("it fails");
    let nondeterminism = failure.nondeterminism().expect("a non-determinism error");
    assert_eq!(nondeterminism.event_id.0, 5);
    let summary = nondeterminism.summary();
    assert!(
        summary.contains("refund_payment") && summary.contains("charge_payment"),
        "{summary}"
    );
    let text = failure.report();
    assert!(
        text.starts_with("cold replay: non-deterministic workflow `order-1`"),
        "{text}"
    );
    assert!(text.contains(&nondeterminism.report()), "{text}");

    // The malformed file: a typed load error, no workflow.
    let entry = report.entry(&malformed).expect("the malformed file");
    assert!(entry.workflow_id.is_none());
    assert!(
        matches!(
            entry.failure(),
            Some(ReplayFailure::Load(HistoryError::Json { line: 1, .. }))
        ),
        "{:?}",
        entry.result
    );

    // assert_ok names each failing file with its report, and lists the ones that passed.
    let message = assert_ok_panic(&report);
    assert!(
        message.starts_with("replay check: 2 of 4 histories do not replay against the current code\n"),
        "{message}"
    );
    let broken_at = message
        .find(&format!(
            "FAILED {} (workflow order-1, type order)",
            broken.display()
        ))
        .expect("names the broken history");
    let malformed_at = message
        .find(&format!(
            "FAILED {}\n    not a valid history: history JSON is malformed",
            malformed.display()
        ))
        .expect("names the malformed file");
    assert!(broken_at < malformed_at, "{message}");
    for line in text.lines() {
        assert!(
            message.contains(&format!("    {line}")),
            "{line:?} missing from\n{message}"
        );
    }
    assert!(message.contains(&format!(
        "ok     {} (workflow order-1, type order)",
        good.display()
    )));
    assert!(message.contains(&format!(
        "ok     {} (workflow reminder-1, type reminder)",
        reminder.display()
    )));
}

#[test]
fn one_file_and_the_full_check() {
    let dir = TempDir::new("replay-file");
    let good = dir.write("order.json", &order_history("charge_payment"));
    let replayer = HistoryReplayer::new(registry());
    let report = replayer.replay_file(&good);
    assert_eq!(report.len(), 1);
    report.assert_ok();
    assert_eq!(
        report.to_string(),
        format!(
            "replay check: all 1 histories replay\nok     {} (workflow order-1, type order)\n",
            good.display()
        )
    );
    replayer
        .with_check(ReplayCheck::Full)
        .replay_file(&good)
        .assert_ok();

    let mut merged = HistoryReplayer::new(registry()).replay_file(dir.write("r.json", &reminder_history()));
    merged.merge(report);
    assert_eq!(merged.len(), 2);
    merged.assert_ok();
}

#[test]
fn a_history_of_an_unknown_workflow_type_fails_by_name() {
    let dir = TempDir::new("replay-unknown");
    let path = dir.write("reminder.json", &reminder_history());
    let report = HistoryReplayer::new(Registry::new().with_workflow::<Order>()).replay_file(&path);
    let message = assert_ok_panic(&report);
    assert!(message.contains("unknown workflow type `reminder`"), "{message}");
    assert!(
        report.entries()[0]
            .failure()
            .and_then(ReplayFailure::nondeterminism)
            .is_none()
    );
}

#[test]
fn unreadable_paths_and_empty_directories_are_reported_not_panicked() {
    let dir = TempDir::new("replay-missing");
    let missing = dir.path().join("no-such-dir");
    let report = HistoryReplayer::new(registry()).replay_dir(&missing);
    assert_eq!(report.len(), 1);
    assert!(
        matches!(
            report.entries()[0].failure(),
            Some(ReplayFailure::Read {
                kind: std::io::ErrorKind::NotFound,
                ..
            })
        ),
        "{report:?}"
    );
    assert!(assert_ok_panic(&report).contains(&format!("FAILED {}\n    cannot read it:", missing.display())));

    let report = HistoryReplayer::new(registry()).replay_file(dir.path().join("missing.json"));
    assert!(!report.is_ok());

    let empty = HistoryReplayer::new(registry()).replay_dir(dir.path());
    assert!(empty.is_empty());
    assert_eq!(
        assert_ok_panic(&empty),
        "replay check: no histories were checked\n"
    );
}
