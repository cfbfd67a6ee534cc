//! Versioning the order workflow. Histories recorded by version 1 (`process_order` as it
//! shipped: approved, rejected, timed out, declined, refused, and runs still in flight) are
//! committed under `tests/histories/versioned_order/`; they replay against version 2, which
//! adds a step behind `ctx.patched(..)`; the same step added without `patched` is caught,
//! with a report that names the run, the event and what differs.
//!
//! After an intended change of version 1's behaviour, rewrite the corpus with
//! `WARPFLOW_UPDATE_FIXTURES=1 cargo test --test versioned_order` and review the diff.

use std::path::{Path, PathBuf};
use std::time::Duration;
use warpflow::engine::history::{EventAttributes as E, Marker};
use warpflow::engine::{EventId, History};
use warpflow_examples::order_processing::scenario::{Trouble, open_shop};
use warpflow_examples::order_processing::{FraudCheck, FraudVerdict, OrderResult, ProcessOrder, World};
use warpflow_examples::versioned_order::{self as versioned, FEEDBACK_PATCH, ProcessOrderV2};
use warpflow_testkit::{HistoryReplayer, TestEnv, assert_history_snapshot};

const HOUR: Duration = Duration::from_secs(3600);

/// The seed the corpus was recorded with: the ids in its files depend on it.
const CORPUS_SEED: u64 = 1;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories/versioned_order")
}

/// One path through version 1, recorded as `<name>.json` (workflow id `order-<name>`).
struct Path1 {
    name: &'static str,
    trouble: Trouble,
    verdict: Option<(Duration, FraudVerdict)>,
    /// `None`: until the run closes; `Some(d)`: the run is still in flight after `d`.
    stop_after: Option<Duration>,
    /// How many of the payment service's next calls fail (a gateway outage).
    payment_outage: u32,
}

const PATHS: [Path1; 7] = [
    Path1 {
        name: "approved",
        trouble: Trouble::None,
        verdict: Some((Duration::from_secs(2 * 3600), FraudVerdict::Approved)),
        stop_after: None,
        payment_outage: 0,
    },
    Path1 {
        name: "fraud-rejected",
        trouble: Trouble::None,
        verdict: Some((Duration::from_secs(2 * 3600), FraudVerdict::Rejected)),
        stop_after: None,
        payment_outage: 0,
    },
    Path1 {
        name: "fraud-check-timed-out",
        trouble: Trouble::None,
        verdict: None,
        stop_after: None,
        payment_outage: 0,
    },
    Path1 {
        name: "payment-declined",
        trouble: Trouble::CardDeclined,
        verdict: None,
        stop_after: None,
        payment_outage: 0,
    },
    Path1 {
        name: "shipment-refused",
        trouble: Trouble::WarehouseRefuses,
        verdict: Some((Duration::from_secs(3600), FraudVerdict::Approved)),
        stop_after: None,
        payment_outage: 0,
    },
    Path1 {
        name: "in-flight-awaiting-fraud-check",
        trouble: Trouble::None,
        verdict: None,
        stop_after: Some(Duration::from_secs(6 * 3600)),
        payment_outage: 0,
    },
    Path1 {
        name: "in-flight-retrying-the-charge",
        trouble: Trouble::None,
        verdict: None,
        stop_after: Some(Duration::from_secs(5)),
        payment_outage: 10,
    },
];

/// Runs `path` on version 1 and returns its history (closed, or in flight).
fn record(path: &Path1) -> (u64, History) {
    let world = World::default();
    open_shop(&world);
    world.payments.outage(path.payment_outage);
    let env = TestEnv::builder(versioned::registry_v1(&world))
        .seed(CORPUS_SEED)
        .build();
    let order = path.trouble.order(path.name, &world);
    let handle = env
        .start::<ProcessOrder>(order.workflow_id(), &order)
        .expect("started");
    if let Some((at, verdict)) = path.verdict {
        env.signal_after::<FraudCheck>(at, order.workflow_id(), &verdict);
    }
    match path.stop_after {
        Some(d) => env.skip(d),
        None => {
            let _ = env.result(&handle);
        }
    }
    (env.seed(), env.history(order.workflow_id()).expect("history"))
}

/// Compares the committed file with what version 1 records now (or writes it, with
/// `WARPFLOW_UPDATE_FIXTURES`).
fn check_corpus_file(path: &Path, recorded: &History) {
    let text = recorded.to_json_pretty() + "\n";
    if std::env::var_os("WARPFLOW_UPDATE_FIXTURES").is_some() {
        std::fs::create_dir_all(corpus_dir()).expect("corpus directory");
        std::fs::write(path, &text).expect("corpus file written");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (set WARPFLOW_UPDATE_FIXTURES=1 to create it)",
            path.display()
        )
    });
    assert!(
        committed == text,
        "{} is not what version 1 records now (WARPFLOW_UPDATE_FIXTURES=1 rewrites it; review the diff)",
        path.display()
    );
}

#[test]
fn the_corpus_is_what_version_1_records() {
    for path in &PATHS {
        let (seed, history) = record(path);
        if seed != CORPUS_SEED {
            eprintln!("WARPFLOW_SEED={seed} is set: the corpus (seed {CORPUS_SEED}) is not compared");
            return;
        }
        let open = history.terminal_event().is_none();
        assert_eq!(
            open,
            path.stop_after.is_some(),
            "{}: in flight or closed",
            path.name
        );
        check_corpus_file(&corpus_dir().join(format!("{}.json", path.name)), &history);
    }
    // Nothing else in the directory: a path removed here leaves no stale file replayed.
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = PATHS.iter().map(|p| format!("{}.json", p.name)).collect();
    expected.sort();
    assert_eq!(files, expected);
}

#[test]
fn version_1_histories_replay_on_version_2() {
    let report = HistoryReplayer::new(versioned::registry(&World::default())).replay_dir(corpus_dir());
    report.assert_ok();
    assert_eq!(report.len(), PATHS.len(), "{report}");
}

/// The id of the event that closed `history`.
fn terminal_event_id(history: &History) -> EventId {
    history.terminal_event().expect("a closed history").event_id
}

#[test]
fn the_step_added_without_patched_is_caught_with_a_readable_report() {
    let report =
        HistoryReplayer::new(versioned::registry_unpatched(&World::default())).replay_dir(corpus_dir());
    assert!(!report.is_ok(), "{report}");
    // Only the run that shipped had passed the point where the step goes; the others ended
    // before it, or have not reached it yet.
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1, "{report}");
    let approved = corpus_dir().join("approved.json");
    assert_eq!(failed[0].path, approved);

    let divergence = failed[0]
        .failure()
        .and_then(|f| f.nondeterminism())
        .expect("a divergence");
    let history = History::from_json(&std::fs::read_to_string(&approved).expect("readable")).expect("valid");
    assert_eq!(divergence.workflow_id.as_str(), "order-approved");
    assert_eq!(divergence.event_id, terminal_event_id(&history));
    assert!(
        divergence
            .expected
            .as_deref()
            .is_some_and(|e| e.contains("WorkflowExecutionCompleted")),
        "{divergence:?}"
    );
    assert!(
        divergence
            .actual
            .as_deref()
            .is_some_and(|a| a.contains("send_email")),
        "{divergence:?}"
    );

    // The report a CI log shows: the file, the run, the event, recorded vs current.
    let text = report.to_string();
    eprintln!("{text}");
    let event = format!("event {}", divergence.event_id);
    for part in [
        "replay check: 1 of 7 histories do not replay against the current code",
        "FAILED",
        "approved.json (workflow order-approved, type process_order)",
        "non-deterministic workflow `order-approved`",
        event.as_str(),
        "history: WorkflowExecutionCompleted",
        "code:    ActivityTaskScheduled(send_email",
        "ok     ",
    ] {
        assert!(text.contains(part), "the report lacks {part:?}:\n{text}");
    }
}

#[test]
fn a_new_run_of_version_2_asks_for_feedback_and_records_the_patch() {
    let world = World::default();
    open_shop(&world);
    let env = TestEnv::new(versioned::registry(&world));
    let order = Trouble::None.order("1", &world);
    let handle = env
        .start::<ProcessOrderV2>(order.workflow_id(), &order)
        .expect("started");
    env.signal_after::<FraudCheck>(HOUR, order.workflow_id(), &FraudVerdict::Approved);
    // The result, and the default replay check of the run against version 2.
    assert!(matches!(env.result(&handle), Ok(OrderResult::Completed { .. })));
    let templates: Vec<String> = world.email.snapshot().into_iter().map(|m| m.template).collect();
    assert_eq!(templates, ["order_confirmed", "feedback_request"]);
    let history = env.history(order.workflow_id()).expect("history");
    assert!(
        history.events.iter().any(|e| matches!(
            &e.attributes,
            E::MarkerRecorded { marker: Marker::Patch { patch_id, deprecated: false }, .. } if patch_id == FEEDBACK_PATCH
        )),
        "{}",
        history.render_timeline()
    );
    assert_history_snapshot!("version_2_approved", history);
}

#[test]
fn version_2_passes_the_order_campaign() {
    let report = versioned::campaign().seeds(2).run_or_panic();
    assert!(report.faults_injected() > 0, "{report}");
}
