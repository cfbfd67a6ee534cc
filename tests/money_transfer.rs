//! The money transfer saga: each path under the time-skipping test environment (with
//! snapshots of the main paths' histories), the example's fault campaign, and a property
//! test: for any step failing in any way under any fault plan, the saga compensates exactly
//! what it did, in reverse order, and money is conserved.

use proptest::prelude::*;
use std::time::Duration;
use warpflow_engine::History;
use warpflow_engine::history::EventAttributes;
use warpflow_examples::campaigns::ExampleScenario;
use warpflow_examples::money_transfer::{
    self, Scenario, Step, Transfer, TransferMoney, TransferResult, World,
};
use warpflow_examples::services::Trouble;
use warpflow_testkit::strategy::fault_plan;
use warpflow_testkit::{TestEnv, assert_history_snapshot};

/// Runs transfer `id` of the demo scenario alone in a fresh environment.
fn run_demo(id: &str) -> (TransferResult, World, History, TestEnv) {
    let scenario = Scenario::demo();
    let world = World::new();
    scenario.prepare(&world);
    let env = TestEnv::new(money_transfer::registry(&world));
    let transfer = scenario.transfer(id).expect("a demo transfer").clone();
    let handle = env.start::<TransferMoney>(id, &transfer).expect("started");
    let result = env
        .result(&handle)
        .expect("the transfer workflow returns a result");
    let history = env.history(id).expect("history");
    (result, world, history, env)
}

fn failed(reason: &str, compensated: &[&str]) -> TransferResult {
    TransferResult::Failed {
        reason: reason.to_owned(),
        compensated: compensated.iter().map(|c| (*c).to_owned()).collect(),
    }
}

/// The highest attempt of each activity type that started, in order of scheduling.
fn attempts(history: &History) -> Vec<(String, u32)> {
    let mut types = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for e in &history.events {
        match &e.attributes {
            EventAttributes::ActivityTaskScheduled { activity_type, .. } => {
                types.insert(e.event_id, activity_type.to_string());
            }
            EventAttributes::ActivityTaskStarted {
                scheduled_event_id,
                attempt,
                ..
            } => out.push((types[scheduled_event_id].clone(), *attempt)),
            _ => {}
        }
    }
    out
}

#[test]
fn a_transfer_debits_credits_and_records() {
    let (result, world, history, _) = run_demo("transfer-1");
    assert_eq!(
        result,
        TransferResult::Completed {
            transfer_id: "transfer-1".into()
        }
    );
    assert_eq!(world.bank.balance("alice"), Some(900));
    assert_eq!(world.bank.balance("bob"), Some(600));
    let record = world.records.get("transfer-1").expect("recorded");
    assert_eq!(
        (record.from.as_str(), record.to.as_str(), record.amount),
        ("alice", "bob", 100)
    );
    assert_history_snapshot!("transfer_completes", history);
}

#[test]
fn a_credit_refused_reverses_the_debit() {
    let (result, world, history, _) = run_demo("transfer-2");
    assert_eq!(
        result,
        failed("AccountFrozen: credit of `dave` refused", &["reverse_debit"])
    );
    assert_eq!(world.bank.balance("alice"), Some(1000));
    assert_eq!(world.bank.balance("dave"), Some(0));
    assert_eq!(world.bank.postings().len(), 2, "the debit and its reversal");
    assert!(world.records.records().is_empty());
    assert_history_snapshot!("transfer_credit_refused", history);
}

#[test]
fn a_debit_without_the_funds_fails_with_nothing_to_undo() {
    let (result, world, history, _) = run_demo("transfer-3");
    assert_eq!(result, failed("InsufficientFunds: `erin` has 50, 80 asked", &[]));
    assert_eq!(world.bank.balance("erin"), Some(50));
    assert!(world.bank.postings().is_empty());
    // The refusal is not retried.
    assert_eq!(attempts(&history), [("debit_account".to_owned(), 1)]);
}

#[test]
fn a_record_refused_reverses_the_credit_then_the_debit() {
    let (result, world, history, _) = run_demo("transfer-4");
    assert_eq!(
        result,
        failed(
            "ComplianceHold: recording of transfer `transfer-4` refused",
            &["reverse_credit", "reverse_debit"]
        )
    );
    assert_eq!(world.bank.balance("bob"), Some(500));
    assert_eq!(world.bank.balance("carol"), Some(200));
    let reversed: Vec<_> = world
        .bank
        .postings()
        .into_iter()
        .filter(|p| p.reverses.is_some())
        .map(|p| p.account)
        .collect();
    assert_eq!(reversed, ["carol", "bob"], "the credit is reversed first");
    assert_history_snapshot!("transfer_record_refused", history);
}

#[test]
fn a_credit_that_fails_twice_is_retried_and_the_transfer_completes() {
    let (result, world, history, env) = run_demo("transfer-5");
    assert!(matches!(result, TransferResult::Completed { .. }), "{result:?}");
    assert_eq!(world.bank.balance("alice"), Some(1020));
    assert_eq!(world.bank.balance("carol"), Some(180));
    assert!(attempts(&history).contains(&("credit_account".to_owned(), 3)));
    // Backoffs of 1 s and 2 s, in virtual time.
    assert!(env.elapsed() >= Duration::from_secs(3), "{:?}", env.elapsed());
}

#[test]
fn a_record_store_down_for_an_hour_undoes_the_transfer() {
    let (result, world, history, env) = run_demo("transfer-6");
    // The step gives up with its last failure once no retry fits in the hour.
    assert_eq!(
        result,
        failed(
            "Unavailable: recording of transfer `transfer-6` is unavailable",
            &["reverse_credit", "reverse_debit"]
        )
    );
    let give_up = money_transfer::workflow::STEP_GIVE_UP_AFTER;
    let elapsed = env.elapsed();
    // Retry delays are capped at 100 s: the last attempt is less than that from the hour.
    assert!(
        elapsed > give_up - Duration::from_secs(100) && elapsed <= give_up,
        "{elapsed:?}"
    );
    assert_eq!(world.bank.balance("carol"), Some(200));
    assert_eq!(world.bank.balance("bob"), Some(500));
    assert!(
        attempts(&history)
            .iter()
            .any(|(t, n)| t == "record_transfer" && *n > 10)
    );
}

#[test]
fn the_campaign_passes_every_oracle_under_the_default_fault_mix() {
    let report = money_transfer::campaign().seeds(4).run_or_panic();
    assert_eq!(report.workflows_run, report.seeds.len() * 6, "{report}");
    assert!(report.oracle_checks.contains_key("saga"), "{report}");
    assert!(
        report
            .oracle_checks
            .contains_key("invariant:money conserved, each transfer all or nothing"),
        "{report}"
    );
}

/// Where a transfer's step fails, and how.
fn failure_point() -> impl Strategy<Value = (Step, Trouble)> {
    let step = prop_oneof![Just(Step::Debit), Just(Step::Credit), Just(Step::Record)];
    let trouble = prop_oneof![
        (1..4u32).prop_map(|calls| Trouble::Transient { calls }),
        Just(Trouble::Outage),
        Just(Trouble::Refused {
            error_type: "Refused".into()
        }),
    ];
    (step, trouble)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(16)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Two transfers share the source account (with the funds for both, so that their order,
    /// which faults change, cannot change an outcome); one of them meets the generated
    /// trouble on the generated step, and the run meets the generated faults.
    #[test]
    fn any_failing_step_under_any_faults_compensates_and_conserves_money(
        (step, trouble) in failure_point(),
        amount in 1..150i64,
        plan in fault_plan(6, Duration::from_secs(10)),
    ) {
        let transfer = |to: &str| Transfer { from: "ada".into(), to: to.into(), amount };
        let scenario = Scenario {
            accounts: vec![("ada".into(), 300), ("bea".into(), 0), ("cyd".into(), 10)],
            transfers: vec![("troubled".into(), transfer("bea")), ("plain".into(), transfer("cyd"))],
            troubles: vec![("troubled".into(), step, trouble.clone())],
        };
        let report = money_transfer::campaign_for("money_transfer property", scenario)
            .fault_plan(plan)
            .seeds(1)
            .check_twice(0)
            .run();
        prop_assert!(report.failures.is_empty(), "{}", report);
    }
}
