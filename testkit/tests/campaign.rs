//! Fault campaigns: a ledger workload passes every oracle under faults; each fault kind
//! recovers; each oracle catches a deliberately broken case; a random run's log replays it
//! exactly, so a failing random run shrinks; seeds repeat.

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warpflow_engine::history::EventAttributes;
use warpflow_engine::workflow::{Workflow, WorkflowCtx};
use warpflow_engine::{Activity, ActivityCtx, ActivityError, Registry, WorkflowResult};
use warpflow_sim::{Fault, FaultPlan, FaultRates, Op, When};
use warpflow_testkit::{Campaign, FaultMode, RunReport};

/// The external world: account balances, and the applied operations by key.
#[derive(Debug, Default)]
struct Ledger {
    balances: BTreeMap<String, i64>,
    applied: BTreeMap<String, i64>,
}

type SharedLedger = Arc<Mutex<Ledger>>;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Posting {
    account: String,
    amount: i64,
}

/// Posts an amount, once per (workflow id, activity id) when idempotent.
struct Post {
    ledger: SharedLedger,
    idempotent: bool,
}

impl Activity for Post {
    const NAME: &'static str = "post";
    type Input = Posting;
    type Output = i64;
    async fn run(&self, ctx: ActivityCtx, p: Posting) -> Result<i64, ActivityError> {
        let key = format!("{}/{}", ctx.info().workflow_id, ctx.info().activity_id);
        let mut ledger = self.ledger.lock().unwrap();
        if self.idempotent && ledger.applied.contains_key(&key) {
            return Ok(ledger.balances[&p.account]);
        }
        ledger.applied.insert(key, p.amount);
        let balance = ledger.balances.entry(p.account).or_default();
        *balance += p.amount;
        Ok(*balance)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct TransferInput {
    from: String,
    to: String,
    amount: i64,
}

struct Transfer;
impl Workflow for Transfer {
    const NAME: &'static str = "transfer";
    type Input = TransferInput;
    type Output = i64;
    async fn run(ctx: WorkflowCtx, t: TransferInput) -> WorkflowResult<i64> {
        ctx.activity::<Post>(Posting {
            account: t.from,
            amount: -t.amount,
        })
        .start_to_close(Duration::from_secs(5))
        .await?;
        ctx.sleep(Duration::from_secs(2)).await;
        ctx.activity::<Post>(Posting {
            account: t.to,
            amount: t.amount,
        })
        .start_to_close(Duration::from_secs(5))
        .await?;
        Ok(t.amount)
    }
}

fn ledger_campaign(name: &str, idempotent: bool) -> Campaign {
    let ledger = SharedLedger::default();
    let registry = Registry::new().with_workflow::<Transfer>().with_activity(Post {
        ledger: ledger.clone(),
        idempotent,
    });
    let reset = ledger.clone();
    Campaign::new(name, registry)
        .workload(|w| {
            for i in 0..3 {
                w.start::<Transfer>(
                    format!("transfer-{i}"),
                    &TransferInput {
                        from: "alice".into(),
                        to: "bob".into(),
                        amount: 10 * (i + 1),
                    },
                );
            }
        })
        .world(
            move || *reset.lock().unwrap() = Ledger::default(),
            move || json!(ledger.lock().unwrap().balances),
        )
}

#[test]
fn a_ledger_workload_passes_every_oracle_under_the_default_fault_mix() {
    let report = ledger_campaign("ledger", true)
        .invariant("money is conserved", |run| {
            let total: i64 = run
                .world
                .as_object()
                .map_or(0, |m| m.values().filter_map(|v| v.as_i64()).sum());
            if total == 0 {
                Ok(())
            } else {
                Err(format!("total {total}"))
            }
        })
        .run_or_panic();
    eprintln!("{report}");
    assert!(report.faults_injected() > 0, "{report}");
}

fn at(ms: u64) -> When {
    When::At(Duration::from_millis(ms))
}

/// Runs the ledger under exactly `plan` on a few seeds; every oracle must hold, and the
/// plan's faults must have been injected.
fn recovers_from(name: &str, plan: FaultPlan, kind: &str) {
    let report = ledger_campaign(name, true)
        .fault_plan(plan)
        .seeds(3)
        .run_or_panic();
    assert!(
        report.faults_by_kind.get(kind).copied().unwrap_or(0) > 0,
        "{report}"
    );
}

#[test]
fn a_worker_crash_mid_run_is_retried_and_completes() {
    let mut plan = FaultPlan::new();
    for ms in [1, 3, 6, 10, 2_005, 2_010] {
        plan = plan.with(at(ms), Fault::CrashWorker { worker: 0 });
        plan = plan.with(at(ms + 1), Fault::CrashWorker { worker: 1 });
    }
    recovers_from("worker crash", plan, "crashWorker");
}

#[test]
fn an_engine_crash_recovers_from_storage() {
    let plan = FaultPlan::new()
        .with(at(2), Fault::CrashEngine)
        .with(at(2_600), Fault::CrashEngine)
        .with(at(5_000), Fault::CrashEngine);
    recovers_from("engine crash", plan, "crashEngine");
}

#[test]
fn failed_commits_and_lost_replies_lose_nothing_and_duplicate_nothing() {
    let mut plan = FaultPlan::new();
    for ms in [0, 1, 2, 4, 2_003, 2_006] {
        plan = plan
            .with(at(ms), Fault::FailCommit)
            .with(at(ms), Fault::LoseCommitReply)
            .with(at(ms), Fault::LoseNextReply);
    }
    recovers_from("commit failure and lost replies", plan, "loseCommitReply");
}

#[test]
fn network_loss_duplication_and_partitions_complete() {
    let plan = FaultPlan::new()
        .with(at(0), Fault::DropMessages { count: 3 })
        .with(at(0), Fault::DuplicateNextRequest)
        .with(at(1), Fault::DuplicateNextRequest)
        .with(
            at(2),
            Fault::Partition {
                node: "worker-0".into(),
            },
        )
        .with(
            at(2_000),
            Fault::Partition {
                node: "client-0".into(),
            },
        )
        .with(
            at(4_000),
            Fault::Heal {
                node: "worker-0".into(),
            },
        );
    recovers_from("network", plan, "partition");
}

/// The highest `ActivityTaskStarted` attempt over every history of `run`.
fn max_attempt(run: &RunReport) -> u32 {
    run.histories
        .values()
        .flatten()
        .flat_map(|h| &h.events)
        .filter_map(|e| match &e.attributes {
            EventAttributes::ActivityTaskStarted { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn injected_activity_failures_and_timeouts_are_retried_and_every_oracle_holds() {
    let plan = FaultPlan::new()
        .with(at(0), Fault::FailActivity { attempts: 3 })
        .with(at(1), Fault::TimeOutActivity)
        .with(at(2_001), Fault::TimeOutActivity)
        .with(at(2_003), Fault::FailActivity { attempts: 3 })
        .with(at(4_000), Fault::TimeOutActivity);
    let campaign = ledger_campaign("activity faults", true)
        .fault_plan(plan.clone())
        .seeds(3);
    let report = campaign.run_or_panic();
    assert!(
        report.faults_by_kind.get("failActivity").copied().unwrap_or(0) > 0,
        "{report}"
    );
    assert!(
        report.faults_by_kind.get("timeOutActivity").copied().unwrap_or(0) > 0,
        "{report}"
    );
    for seed in campaign.seed_list() {
        let run = campaign.run_one(seed, &FaultMode::Plan(plan.clone()));
        assert!(
            max_attempt(&run) > 1,
            "seed {seed}: no activity was retried\n{}",
            run.faults
        );
        // Each failed attempt is logged once, as it starts.
        let failed = run
            .faults
            .faults()
            .filter(|f| matches!(f, Fault::FailActivity { attempts: 1 }))
            .count();
        assert!(
            failed <= 6,
            "seed {seed}: {failed} failed attempts logged\n{}",
            run.faults
        );
    }
}

#[test]
fn the_default_fault_mix_fails_and_times_out_activities() {
    let rates = FaultRates::default();
    assert!(rates.activity_failure > 0.0 && rates.activity_timeout > 0.0);
    // Over the default seeds.
    let report = ledger_campaign("default mix with activity faults", true).run_or_panic();
    for kind in ["failActivity", "timeOutActivity"] {
        assert!(
            report.faults_by_kind.get(kind).copied().unwrap_or(0) > 0,
            "{kind}: {report}"
        );
    }
}

thread_local! {
    static CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Reads state outside its context: its first execution and its replay take different paths.
struct Fickle;
impl Workflow for Fickle {
    const NAME: &'static str = "fickle";
    type Input = ();
    type Output = i64;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<i64> {
        let n = CALLS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        if n % 2 == 1 {
            ctx.sleep(Duration::from_secs(1)).await;
        }
        Ok(1)
    }
}

#[test]
fn the_replay_oracle_catches_a_nondeterministic_workflow() {
    let report = Campaign::new("fickle", Registry::new().with_workflow::<Fickle>())
        .workload(|w| w.start::<Fickle>("fickle-1", &()))
        .fault_mode(FaultMode::None)
        .seeds(1)
        .run();
    assert!(!report.failures_of("replay").is_empty(), "{report}");
}

/// The booking saga's steps and compensations: each records its name in the world.
struct Step {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

macro_rules! step {
    ($ty:ident, $name:literal, $fail:literal) => {
        struct $ty(Step);
        impl Activity for $ty {
            const NAME: &'static str = $name;
            type Input = ();
            type Output = ();
            async fn run(&self, _ctx: ActivityCtx, (): ()) -> Result<(), ActivityError> {
                if $fail {
                    return Err(ActivityError::non_retryable("Unavailable", "no ship"));
                }
                self.0.log.lock().unwrap().push(self.0.name.to_owned());
                Ok(())
            }
        }
    };
}
step!(Reserve, "reserve", false);
step!(Charge, "charge", false);
step!(Ship, "ship", true);
step!(Release, "release", false);
step!(Refund, "refund", false);

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum Compensate {
    Right,
    WrongOrder,
    Forget,
}

struct Booking;
impl Workflow for Booking {
    const NAME: &'static str = "booking";
    type Input = Compensate;
    type Output = ();
    async fn run(ctx: WorkflowCtx, how: Compensate) -> WorkflowResult<()> {
        let t = Duration::from_secs(5);
        ctx.activity::<Reserve>(()).start_to_close(t).await?;
        ctx.activity::<Charge>(()).start_to_close(t).await?;
        if let Err(e) = ctx.activity::<Ship>(()).start_to_close(t).await {
            let order: &[&str] = match how {
                Compensate::Right => &["refund", "release"],
                Compensate::WrongOrder => &["release", "refund"],
                Compensate::Forget => &["refund"],
            };
            for c in order {
                match *c {
                    "refund" => ctx.activity::<Refund>(()).start_to_close(t).await?,
                    _ => ctx.activity::<Release>(()).start_to_close(t).await?,
                }
            }
            return Err(e.into());
        }
        Ok(())
    }
}

fn saga_campaign(how: Compensate) -> warpflow_testkit::CampaignReport {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let step = |name| Step {
        name,
        log: log.clone(),
    };
    let registry = Registry::new()
        .with_workflow::<Booking>()
        .with_activity(Reserve(step("reserve")))
        .with_activity(Charge(step("charge")))
        .with_activity(Ship(step("ship")))
        .with_activity(Release(step("release")))
        .with_activity(Refund(step("refund")));
    Campaign::new("saga", registry)
        .workload(move |w| w.start::<Booking>("booking-1", &how))
        .saga([("reserve", "release"), ("charge", "refund")])
        .seeds(2)
        .run()
}

#[test]
fn the_saga_oracle_passes_a_right_saga_and_catches_wrong_order_and_forgotten_compensations() {
    let right = saga_campaign(Compensate::Right);
    assert!(right.failures.is_empty(), "{right}");
    let wrong = saga_campaign(Compensate::WrongOrder);
    assert!(!wrong.failures_of("saga").is_empty(), "{wrong}");
    let forgot = saga_campaign(Compensate::Forget);
    assert!(!forgot.failures_of("saga").is_empty(), "{forgot}");
}

/// Faults that make a completion's report fail again and again, so the attempt times out
/// and the activity runs again.
fn lossy() -> FaultRates {
    FaultRates {
        drop_message: 0.7,
        lose_reply: 0.1,
        duplicate_request: 0.1,
        ..FaultRates::none()
    }
}

#[test]
fn the_crash_equivalence_oracle_catches_an_activity_that_is_not_idempotent() {
    let campaign = ledger_campaign("non-idempotent", false)
        .faults(lossy())
        .fault_horizon(Duration::from_secs(20))
        .seeds(6)
        .check_twice(0);
    let report = campaign.run();
    let failures = report.failures_of("crash-equivalence");
    assert!(!failures.is_empty(), "{report}");
    eprintln!("{}", failures[0]);

    // And the same faults do not break the idempotent ledger.
    ledger_campaign("idempotent under the same faults", true)
        .faults(lossy())
        .fault_horizon(Duration::from_secs(20))
        .seeds(6)
        .check_twice(0)
        .run_or_panic();
}

#[test]
fn the_same_seed_gives_the_same_trace_hash_over_many_seeds() {
    let campaign = ledger_campaign("twice", true);
    let mode = FaultMode::Random {
        rates: FaultRates::default(),
        horizon: Duration::from_secs(30),
    };
    for seed in 1..=20 {
        let first = campaign.run_one(seed, &mode);
        let second = campaign.run_one(seed, &mode);
        assert_eq!(first.trace_hash, second.trace_hash, "seed {seed}");
        assert_eq!(first.faults, second.faults, "seed {seed}");
    }
}

#[test]
fn shrinking_removes_the_faults_a_failure_does_not_need() {
    let mut plan = FaultPlan::new();
    for ms in [1, 2, 3, 5, 8] {
        plan = plan.with(at(ms), Fault::DuplicateNextRequest);
    }
    plan = plan.with(at(4), Fault::CrashWorker { worker: 1 });
    let fickle = |plan: FaultPlan| {
        Campaign::new("fickle", Registry::new().with_workflow::<Fickle>())
            .workload(|w| w.start::<Fickle>("fickle-1", &()))
            .fault_plan(plan)
            .seeds(1)
            .check_twice(0)
    };
    let report = fickle(plan.clone()).run();
    let failure = report.failures_of("replay")[0];
    let shrunk = failure.shrunk.clone().expect("shrunk");
    assert!(shrunk.len() < plan.len(), "{failure}");
    let again = fickle(shrunk).max_shrink_runs(0).run();
    assert!(!again.failures_of("replay").is_empty(), "{again}");
}

#[test]
fn faults_planned_at_operations_hit_those_operations() {
    let plan = FaultPlan::new()
        .with(Op::Commit(5).into(), Fault::FailCommit)
        .with(Op::Commit(9).into(), Fault::LoseCommitReply)
        .with(Op::Message(10).into(), Fault::LoseNextReply)
        .with(Op::Message(14).into(), Fault::DuplicateNextRequest)
        .with(Op::Attempt(2).into(), Fault::TimeOutActivity)
        .with(Op::Attempt(3).into(), Fault::FailActivity { attempts: 2 });
    let campaign = ledger_campaign("operations", true)
        .fault_plan(plan.clone())
        .seeds(3);
    campaign.run_or_panic();
    let mut expected = vec![
        (Some(Op::Commit(5)), Fault::FailCommit),
        (Some(Op::Commit(9)), Fault::LoseCommitReply),
        (Some(Op::Message(10)), Fault::LoseNextReply),
        (Some(Op::Message(14)), Fault::DuplicateNextRequest),
        (Some(Op::Attempt(2)), Fault::TimeOutActivity),
        // Two attempts fail from the third on, each logged as it starts.
        (Some(Op::Attempt(3)), Fault::FailActivity { attempts: 1 }),
        (Some(Op::Attempt(4)), Fault::FailActivity { attempts: 1 }),
    ];
    expected.sort();
    for seed in campaign.seed_list() {
        let run = campaign.run_one(seed, &FaultMode::Plan(plan.clone()));
        let mut hits: Vec<(Option<Op>, Fault)> = run
            .faults
            .entries()
            .iter()
            .map(|e| (e.op, e.fault.clone()))
            .collect();
        hits.sort();
        assert_eq!(hits, expected, "seed {seed}:\n{}", run.faults);
    }
}

#[test]
fn faults_planned_at_executor_steps_are_applied_and_recovered_from() {
    let plan = FaultPlan::new()
        .with(When::Step(20), Fault::CrashEngine)
        .with(When::Step(100), Fault::CrashWorker { worker: 0 })
        .with(When::Step(101), Fault::CrashWorker { worker: 1 });
    recovers_from("steps", plan.clone(), "crashEngine");
    let campaign = ledger_campaign("steps", true);
    let run = campaign.run_one(1, &FaultMode::Plan(plan));
    let crashes: Vec<&Fault> = run.faults.faults().collect();
    assert_eq!(
        crashes,
        [
            &Fault::CrashEngine,
            &Fault::CrashWorker { worker: 0 },
            &Fault::CrashWorker { worker: 1 }
        ],
        "{}",
        run.faults
    );
}

#[test]
fn a_plan_with_a_fault_at_an_operation_that_cannot_take_it_is_reported_and_not_run() {
    let plan = FaultPlan::new()
        .with(at(5), Fault::CrashEngine)
        .with(Op::Commit(3).into(), Fault::CrashWorker { worker: 0 });
    let report = ledger_campaign("misplaced", true).fault_plan(plan).seeds(2).run();
    assert_eq!(report.workflows_run, 0, "{report}");
    let failures = report.failures_of("plan");
    assert_eq!(failures.len(), 1, "{report}");
    assert!(
        failures[0]
            .message
            .contains("fault 1 of the plan (`crash worker 0`) is planned at commit #3"),
        "{report}"
    );
}

/// A run of the ledger in random mode with `rates`, and the same seed run again with the
/// first run's faults as a plan.
fn random_then_replayed(seed: u64, rates: FaultRates) -> (RunReport, RunReport) {
    let campaign = ledger_campaign("replay", true);
    let random = campaign.run_one(
        seed,
        &FaultMode::Random {
            rates,
            horizon: Duration::from_secs(30),
        },
    );
    let replayed = campaign.run_one(seed, &FaultMode::Plan(random.plan.clone()));
    (random, replayed)
}

#[test]
fn a_random_run_s_faults_as_a_plan_replay_the_run_exactly() {
    // Where the replayed faults were planned, over every seed: commits, messages, attempts,
    // and times (crashes, and heals when faults stop).
    let mut planned_at = BTreeMap::new();
    for seed in 1..=50 {
        let (random, replayed) = random_then_replayed(seed, FaultRates::default());
        assert_eq!(replayed.faults, random.faults, "seed {seed}: the same faults");
        assert_eq!(
            replayed.trace_hash, random.trace_hash,
            "seed {seed}: the same trace (the plan was\n{})",
            random.plan
        );
        assert_eq!(replayed.world, random.world, "seed {seed}");
        assert_eq!(
            replayed.plan, random.plan,
            "seed {seed}: a replay exports its own plan"
        );
        assert_eq!(random.plan.horizon, Some(Duration::from_secs(30)));
        for (when, _) in &random.plan.faults {
            let kind = match when {
                When::Op(Op::Commit(_)) => "commit",
                When::Op(Op::Message(_)) => "message",
                When::Op(Op::Attempt(_)) => "attempt",
                When::At(_) => "time",
                When::Step(_) => "step",
            };
            *planned_at.entry(kind).or_insert(0) += 1;
        }
    }
    for kind in ["commit", "message", "attempt", "time"] {
        assert!(
            planned_at.contains_key(kind),
            "no fault at a {kind}: {planned_at:?}"
        );
    }
}

#[test]
fn a_random_run_whose_crashes_find_their_node_down_replays_from_its_plan() {
    // Crashes rolled so often that many hit a node still down from the last one: the plan
    // does not list those (nothing happened), and the replay must not miss them either.
    let rates = FaultRates {
        crash_worker: 0.3,
        crash_engine: 0.2,
        ..FaultRates::none()
    };
    for seed in 1..=10 {
        let (random, replayed) = random_then_replayed(seed, rates);
        assert_eq!(replayed.faults, random.faults, "seed {seed}: the same faults");
        assert_eq!(
            replayed.trace_hash, random.trace_hash,
            "seed {seed}: the same trace (the plan was\n{})",
            random.plan
        );
    }
}

/// Partitions only: a worker cut off after running an attempt cannot report it, so the
/// attempt times out and runs again.
fn partitions() -> FaultRates {
    FaultRates {
        partition: 0.02,
        ..FaultRates::none()
    }
}

#[test]
fn a_failing_random_run_is_reported_with_a_smaller_plan_that_still_fails() {
    // Enough seeds that some partition strands an attempt: with eager activity dispatch an
    // attempt starts in the reply to its workflow task, and 12 seeds no longer cut one off.
    const SEEDS: u64 = 24;
    let campaign = || {
        ledger_campaign("non-idempotent under partitions", false)
            .faults(partitions())
            .fault_horizon(Duration::from_secs(20))
            .check_twice(0)
    };
    let report = campaign().seeds(SEEDS).run();
    let failures = report.failures_of("crash-equivalence");
    assert!(!failures.is_empty(), "{report}");
    for failure in &failures {
        let shrunk = failure
            .shrunk
            .clone()
            .unwrap_or_else(|| panic!("not shrunk:\n{failure}"));
        assert!(shrunk.len() <= failure.faults.len(), "{failure}");
        // The report says it all: the seed and the command that reruns it, the faults
        // injected, and the shrunk plan.
        let text = failure.to_string();
        let command = format!(
            "reproduce: WARPFLOW_SEED={} cargo test a_failing_random_run_is_reported_with_a_smaller_plan_that_still_fails -- --exact",
            failure.seed
        );
        assert!(text.contains(&command), "{text}");
        assert!(
            text.contains(&format!("injected faults ({})", failure.faults.len())),
            "{text}"
        );
        let shrunk_lines = format!(
            "shrunk fault plan ({} of {} faults):",
            shrunk.len(),
            failure.faults.len()
        );
        assert!(text.contains(&shrunk_lines), "{text}");
        for line in shrunk.to_string().lines() {
            assert!(text.contains(&format!("\n    {line}\n")), "{line}: {text}");
        }

        // The seed alone (what `WARPFLOW_SEED` runs) fails again with the same faults.
        let rerun = campaign()
            .first_seed(failure.seed)
            .seeds(1)
            .max_shrink_runs(0)
            .run();
        let again = rerun.failures_of("crash-equivalence");
        assert!(!again.is_empty(), "{rerun}");
        assert_eq!(again[0].faults, failure.faults);
        // The shrunk plan alone fails the same oracle.
        let planned = campaign()
            .fault_plan(shrunk)
            .first_seed(failure.seed)
            .seeds(1)
            .max_shrink_runs(0)
            .run();
        assert!(
            !planned.failures_of("crash-equivalence").is_empty(),
            "{failure}\n{planned}"
        );
    }
    // Down to the one or two faults that matter, from more.
    let smallest = failures
        .iter()
        .filter_map(|f| Some((f.shrunk.as_ref()?.len(), f.faults.len())))
        .min();
    assert!(
        matches!(smallest, Some((shrunk, injected)) if shrunk <= 2 && shrunk < injected),
        "{report}"
    );
}

/// The verdict the `Review` workflow waits for.
struct Decide;
impl warpflow_engine::workflow::Signal for Decide {
    const NAME: &'static str = "decide";
    type Input = bool;
}

/// Waits up to 12 hours for a `decide` signal (within the campaign's liveness budget).
struct Review;
impl Workflow for Review {
    const NAME: &'static str = "review";
    type Input = ();
    type Output = String;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<String> {
        let decisions = ctx.signal_channel::<Decide>();
        let timeout = ctx.sleep(Duration::from_secs(12 * 3600));
        match futures::future::select(std::pin::pin!(decisions.recv()), timeout).await {
            futures::future::Either::Left((Ok(true), _)) => Ok("approved".into()),
            futures::future::Either::Left((_, _)) => Ok("rejected".into()),
            futures::future::Either::Right(_) => Ok("timed out".into()),
        }
    }
}

#[test]
fn a_workload_signals_its_workflows_at_a_virtual_time_under_faults() {
    let campaign = Campaign::new("review", Registry::new().with_workflow::<Review>())
        .workload(|w| {
            for i in 1..=3 {
                w.start::<Review>(format!("review-{i}"), &());
            }
            // During the faults and well after them; review-3 hears nothing.
            w.signal::<Decide>(Duration::from_secs(2), "review-1", &true);
            w.signal::<Decide>(Duration::from_secs(3600), "review-2", &false);
        })
        .seeds(3);
    let report = campaign.run_or_panic();
    assert_eq!(report.workflows_run, 9, "{report}");
    let run = campaign.run_one(1, &FaultMode::None);
    let outcome = |id: &str| run.outcomes[&warpflow_engine::WorkflowId::new(id)].clone();
    assert_eq!(outcome("review-1"), json!({"completed": "approved"}));
    assert_eq!(outcome("review-2"), json!({"completed": "rejected"}));
    assert_eq!(outcome("review-3"), json!({"completed": "timed out"}));
    assert!(
        run.trace.render().contains("signal `decide` to review-2: sent"),
        "{}",
        run.trace.render()
    );
}

/// Runs a `Fickle` child and returns its result.
struct Delegate;
impl Workflow for Delegate {
    const NAME: &'static str = "delegate";
    type Input = ();
    type Output = i64;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<i64> {
        Ok(ctx.child::<Fickle>(()).await?)
    }
}

#[test]
fn the_oracles_check_the_children_of_the_workflows_started() {
    let registry = Registry::new()
        .with_workflow::<Delegate>()
        .with_workflow::<Fickle>();
    let campaign = Campaign::new("delegate", registry)
        .workload(|w| w.start::<Delegate>("delegate-1", &()))
        .fault_mode(FaultMode::None)
        .seeds(1);
    let run = campaign.run_one(1, &FaultMode::None);
    let child = warpflow_engine::WorkflowId::new("delegate-1-child-1");
    assert_eq!(run.workflows, [warpflow_engine::WorkflowId::new("delegate-1")]);
    assert_eq!(run.histories[&child].len(), 1, "{:?}", run.histories.keys());
    assert_eq!(run.outcomes[&child], json!({"completed": 1}));
    let report = campaign.run();
    let replay = report.failures_of("replay");
    assert!(!replay.is_empty(), "{report}");
    assert!(replay[0].message.contains("delegate-1-child-1"), "{}", replay[0]);
}

/// Takes a minute of the clock the world gives it.
struct Slow(Arc<Mutex<Option<warpflow_engine::env::SharedClock>>>);
impl Activity for Slow {
    const NAME: &'static str = "slow";
    type Input = ();
    type Output = ();
    async fn run(&self, _ctx: ActivityCtx, (): ()) -> Result<(), ActivityError> {
        let clock = self
            .0
            .lock()
            .unwrap()
            .clone()
            .expect("the workload bound the clock");
        clock.sleep_until(clock.now().plus(Duration::from_secs(60))).await;
        Ok(())
    }
}

struct CallSlow;
impl Workflow for CallSlow {
    const NAME: &'static str = "call_slow";
    type Input = ();
    type Output = ();
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<()> {
        Ok(ctx
            .activity::<Slow>(())
            .start_to_close(Duration::from_secs(600))
            .await?)
    }
}

#[test]
fn a_workload_gives_its_simulated_services_the_run_clock() {
    let slot: Arc<Mutex<Option<warpflow_engine::env::SharedClock>>> = Arc::default();
    let registry = Registry::new()
        .with_workflow::<CallSlow>()
        .with_activity(Slow(slot.clone()));
    let campaign = Campaign::new("clock", registry).workload(move |w| {
        assert_eq!(w.clock().now(), warpflow_sim::SIM_EPOCH);
        *slot.lock().unwrap() = Some(w.clock());
        w.start::<CallSlow>("slow-1", &());
    });
    let run = campaign.run_one(1, &FaultMode::None);
    assert_eq!(run.outcomes[&"slow-1".into()], json!({"completed": null}));
    assert!(run.elapsed >= Duration::from_secs(60), "{:?}", run.elapsed);
}
