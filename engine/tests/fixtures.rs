//! The committed history fixtures under `tests/histories/`: they are what the current code
//! records (so the files never rot), and they replay against the current code (so a change
//! that would break runs in flight fails here first).
//!
//! After an intended change of behaviour, rewrite them with
//! `WARPFLOW_UPDATE_FIXTURES=1 cargo test -p warpflow-engine --test fixtures` and review the diff.

mod support;

use serde_json::json;
use std::path::PathBuf;
use support::record;
use support::workflows::{Order, w1_script};
use warpflow_engine::Payload;
use warpflow_engine::{History, Registry, Replayer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/histories")
        .join(name)
}

fn check_fixture(name: &str, recorded: &History) {
    let path = fixture(name);
    let text = recorded.to_json_pretty() + "\n";
    if std::env::var_os("WARPFLOW_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &text).expect("fixture written");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (set WARPFLOW_UPDATE_FIXTURES=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        committed,
        text,
        "{} is not what the code records now",
        path.display()
    );
}

#[test]
fn order_fraud_timeout_fixture_is_current_and_replays() {
    let registry = Registry::new().with_workflow::<Order>();
    let recorded = record(&registry, "order", Payload::from(json!(["o-1", 24])), w1_script);
    check_fixture("order-fraud-timeout.json", &recorded);

    let text = std::fs::read_to_string(fixture("order-fraud-timeout.json")).expect("fixture readable");
    let loaded = History::from_json(&text).expect("fixture is a valid history");
    Replayer::new(registry)
        .check_compatibility(&loaded)
        .expect("fixture replays on current code");
}
