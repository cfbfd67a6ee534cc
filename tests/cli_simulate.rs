//! `warpflow simulate` as a user's binary offers it: a catalogue of two campaigns over a
//! counter workflow, one whose activity is idempotent and one whose activity is not. The
//! report must count what ran, pass the first, and for the second name the failing seed,
//! the shrunk plan and a command that reruns exactly that seed.

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warpflow::cli::simulate::{self, SimulateArgs};
use warpflow::prelude::*;
use warpflow::testkit::{Campaign, NamedCampaign};

/// Applied increments by key (`workflow/activity`), and the counter they add up to.
#[derive(Default)]
struct Counter {
    applied: BTreeMap<String, u64>,
    total: u64,
}

/// Adds one to the counter; when `idempotent`, once per key whatever the retries.
struct Increment {
    counter: Arc<Mutex<Counter>>,
    idempotent: bool,
}

impl Activity for Increment {
    const NAME: &'static str = "increment";
    type Input = ();
    type Output = u64;
    async fn run(&self, ctx: ActivityCtx, _: ()) -> Result<u64, ActivityError> {
        let key = format!("{}/{}", ctx.info().workflow_id, ctx.info().activity_id);
        let mut counter = self.counter.lock().unwrap();
        if self.idempotent && counter.applied.contains_key(&key) {
            return Ok(counter.total);
        }
        counter.total += 1;
        let total = counter.total;
        counter.applied.insert(key, total);
        Ok(total)
    }
}

/// Increments three times.
struct Count;
impl Workflow for Count {
    const NAME: &'static str = "count";
    type Input = ();
    type Output = ();
    async fn run(ctx: WorkflowCtx, _: ()) -> WorkflowResult<()> {
        for _ in 0..3 {
            ctx.activity::<Increment>(())
                .start_to_close(Duration::from_secs(5))
                .await?;
        }
        Ok(())
    }
}

fn counting(name: &str, idempotent: bool) -> Campaign {
    let counter = Arc::new(Mutex::new(Counter::default()));
    let mut registry = Registry::new();
    registry.register_workflow::<Count>();
    registry.register_activity(Increment {
        counter: counter.clone(),
        idempotent,
    });
    let reset = counter.clone();
    Campaign::new(name, registry)
        .workload(|w| {
            for i in 0..3 {
                w.start::<Count>(format!("count-{i}"), &());
            }
        })
        .world(
            move || *reset.lock().unwrap() = Counter::default(),
            move || json!(counter.lock().unwrap().total),
        )
}

fn catalogue() -> Vec<NamedCampaign> {
    vec![
        NamedCampaign {
            name: "idempotent",
            summary: "increments applied once per key",
            campaign: || counting("idempotent", true),
        },
        NamedCampaign {
            name: "naive",
            summary: "increments applied on every attempt",
            campaign: || counting("naive", false),
        },
    ]
}

fn args(workflow: &str, faults: &str) -> SimulateArgs {
    SimulateArgs {
        seeds: Some(3),
        workflow: Some(workflow.to_owned()),
        faults: Some(faults.to_owned()),
        program: "mybin".to_owned(),
        ..SimulateArgs::default()
    }
}

#[test]
fn a_sound_workload_passes_and_the_report_counts_what_ran() {
    let outcome = simulate::run(&catalogue(), &args("idempotent", "default,lose_reply=0.3")).unwrap();
    assert!(outcome.passed, "{}", outcome.text);
    let text = &outcome.text;
    assert!(text.contains("seeds run:         3"), "{text}");
    assert!(text.contains("workflows run:     9"), "{text}");
    assert!(text.contains("loseNextReply"), "faults by kind: {text}");
    assert!(text.contains("crash-equivalence"), "oracles: {text}");
    assert!(text.contains("every oracle held"), "{text}");
}

#[test]
fn a_non_idempotent_activity_fails_with_seed_plan_and_rerun_command() {
    // Completions lost again and again, so attempts time out and run again.
    let lossy = "drop_message=0.7,lose_reply=0.1,duplicate_request=0.1";
    let mut naive = args("naive", lossy);
    naive.seeds = Some(6);
    let outcome = simulate::run(&catalogue(), &naive).unwrap();
    assert!(!outcome.passed, "{}", outcome.text);
    let text = &outcome.text;
    assert!(text.contains("crash-equivalence"), "{text}");
    assert!(text.contains("mybin simulate --workflow naive --seed "), "{text}");
    assert!(text.contains(&format!("--faults '{lossy}'")), "{text}");
    assert!(
        text.contains("drop the next"),
        "the injected faults are listed: {text}"
    );
    assert!(
        text.contains("shrunk fault plan") || text.contains("not shrunk"),
        "{text}"
    );
}

#[test]
fn one_seed_reruns_exactly_that_seed() {
    let mut one = args("idempotent", "default");
    one.seed = Some(41);
    one.seeds = None;
    let outcome = simulate::run(&catalogue(), &one).unwrap();
    assert!(outcome.text.contains("seeds run:         1"), "{}", outcome.text);
}

#[test]
fn bad_arguments_are_clear_errors() {
    let catalogue = catalogue();
    let err = simulate::run(&catalogue, &args("nope", "default")).unwrap_err();
    assert_eq!(err, "unknown workflow `nope`; known workflows: idempotent, naive");
    let err = simulate::run(&catalogue, &args("naive", "stormy")).unwrap_err();
    assert!(err.starts_with("unknown fault mix `stormy`"), "{err}");
    let mut zero = args("naive", "default");
    zero.seeds = Some(0);
    assert_eq!(
        simulate::run(&catalogue, &zero).unwrap_err(),
        "--seeds must be at least 1"
    );
    assert!(
        simulate::run(&[], &SimulateArgs::default())
            .unwrap_err()
            .contains("catalogue is empty")
    );
}

#[test]
fn list_names_every_workflow_and_fault_mix() {
    let text = simulate::list(&catalogue());
    assert!(text.contains("idempotent") && text.contains("increments applied on every attempt"));
    assert!(text.contains("heavy"));
}
