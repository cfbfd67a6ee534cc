//! Fault campaigns: a ledger workload passes every oracle under faults; each fault kind
//! recovers; each oracle catches a deliberately broken case; shrinking shrinks; seeds repeat.

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warpflow_engine::history::EventAttributes;
use warpflow_engine::workflow::{Workflow, WorkflowCtx};
use warpflow_engine::{Activity, ActivityCtx, ActivityError, Registry, WorkflowResult};
use warpflow_sim::{Fault, FaultPlan, FaultRates, When};
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
            .entries()
            .iter()
            .filter(|(_, f)| matches!(f, Fault::FailActivity { attempts: 1 }))
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

struct Approve;
impl warpflow_engine::workflow::Signal for Approve {
    const NAME: &'static str = "approve";
    type Input = String;
}

/// Waits up to half a day for an approval; says who approved, or that nobody did.
struct AwaitApproval;
impl Workflow for AwaitApproval {
    const NAME: &'static str = "await_approval";
    type Input = ();
    type Output = String;
    async fn run(ctx: WorkflowCtx, (): ()) -> WorkflowResult<String> {
        let approvals = ctx.signal_channel::<Approve>();
        let half_day = ctx.sleep(Duration::from_secs(12 * 3600));
        match futures::future::select(Box::pin(approvals.recv()), Box::pin(half_day)).await {
            futures::future::Either::Left((Ok(by), _)) => Ok(format!("approved by {by}")),
            _ => Ok("nobody approved".into()),
        }
    }
}

#[test]
fn a_workload_signals_its_workflows_mid_wait_under_faults() {
    let campaign = Campaign::new("signals", Registry::new().with_workflow::<AwaitApproval>())
        .workload(|w| {
            w.start::<AwaitApproval>("approved", &());
            w.start::<AwaitApproval>("forgotten", &());
            w.signal::<Approve>(Duration::from_secs(3600), "approved", &"ada".to_owned());
        })
        .seeds(3);
    let baseline = campaign.run_one(1, &FaultMode::None);
    assert_eq!(
        baseline.outcomes[&"approved".into()],
        json!({"completed": "approved by ada"}),
        "{:?}",
        baseline.outcomes
    );
    assert_eq!(
        baseline.outcomes[&"forgotten".into()],
        json!({"completed": "nobody approved"})
    );
    // The signal arrived after its hour, not at the start.
    let history = &baseline.histories[&"approved".into()][0];
    let signalled = history
        .events
        .iter()
        .find(|e| matches!(e.attributes, EventAttributes::WorkflowExecutionSignaled { .. }))
        .expect("signalled");
    assert!(signalled.event_time >= warpflow_sim::SIM_EPOCH.plus(Duration::from_secs(3600)));
    campaign.run_or_panic();
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
