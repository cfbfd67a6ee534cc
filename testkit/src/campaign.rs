//! Fault campaigns: run a workload over many seeds with a fault mix on a [`SimCluster`], check
//! the oracles, and report each failure with its seed, its injected faults, a one-line
//! reproduction, and a shrunk fault plan.
//!
//! A workload ([`WorkloadCtx`]) lists the workflows to start and the signals to send them at
//! given virtual times. For each seed a [`Campaign`] runs it on fresh clusters: a
//! **baseline** without faults, and the **faulted** run (random faults from [`FaultRates`]
//! until the fault horizon, or a [`FaultPlan`]). Seeds whose workloads are the same (same
//! starts, same inputs, same signals) share one baseline: crash equivalence already demands
//! that outcomes do not depend on scheduling (faults change it), so another fault-free
//! schedule would prove nothing more. After the faults stop, every started workflow must
//! close within the liveness budget. The faulted run is then checked against these oracles,
//! over the workflows started and, recursively, the child workflows they started:
//! - `history`: every history is well formed (`history::validate`);
//! - `replay`: every closed history replays against the registered code
//!   ([`Replayer::check`]: cold, task by task, resumed at every task);
//! - `crash-equivalence`: each workflow's outcome, and the snapshot of the external world the
//!   activities act on (see [`Campaign::world`]), equal the baseline's;
//! - `saga`: for the step → compensation pairs given to [`Campaign::saga`], a run that
//!   compensates (it scheduled a compensation, or it failed or was cancelled) compensates
//!   every completed step exactly once, in reverse order of completion, and never before the
//!   step succeeded;
//! - `liveness`: after the last fault every workflow reaches a terminal state within the
//!   virtual-time budget;
//! - `invariant:<name>`: the user's own checks over the [`RunReport`];
//! - `same-seed-twice`: on a sample of seeds, the faulted run is run again and must give the
//!   same trace hash;
//! - `plan`: a fault plan given to the campaign that no run can follow (a fault planned at an
//!   operation that cannot take it) fails this, once, and nothing runs.
//!
//! Seeds: `WARPFLOW_SEED` runs exactly that seed; otherwise `WARPFLOW_SEEDS` (or
//! [`Campaign::seeds`], default [`DEFAULT_SEEDS`]) seeds from [`Campaign::first_seed`].
//!
//! A failure is shrunk: the failing run's [`FaultLog`] becomes a plan that replays the run
//! exactly ([`RunReport::plan`]: each per-operation fault at the commit, message or attempt it
//! hit, each crash at its time, the same horizon), and faults are removed from it, re-running
//! the seed with the plan instead of random rates, as long as the same oracle still fails:
//! first every fault after the shortest failing prefix (found by bisection: dropping the
//! faults after some point leaves the run as it was up to that point, so this costs a few
//! runs however long the log), then single faults, first to last, pass after pass while a
//! pass removes one (within [`Campaign::max_shrink_runs`]). A plan given to the campaign is
//! shrunk as it was written.

use crate::cluster::{CLIENT_NODE, CLUSTER_TASK_QUEUE, ClusterConfig, SimCluster};
use crate::durable::{all_closed, read_all_histories};
use crate::seed::{Seed, parse_seed};
use futures::future::{Either, join_all, select};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::pin::pin;
use std::time::Duration;
use warpflow_engine::client::StartOptions;
use warpflow_engine::env::{Clock, SharedClock};
use warpflow_engine::history::{EventAttributes as E, validate};
use warpflow_engine::replay::ReplayBuffers;
use warpflow_engine::storage::Storage;
use warpflow_engine::workflow::{Signal, Workflow};
use warpflow_engine::{EventId, History, Payload, Registry, ReplayError, Replayer, WorkflowId};
use warpflow_sim::rng::{Stream, stream};
use warpflow_sim::{Fault, FaultLog, FaultPlan, FaultRates, LatencyRange, SIM_EPOCH, Sim, SimConfig, Trace};

/// Seeds a campaign runs when neither the test nor `WARPFLOW_SEEDS` says.
pub const DEFAULT_SEEDS: u64 = 8;

/// How long random faults last by default.
pub const DEFAULT_FAULT_HORIZON: Duration = Duration::from_secs(30);

/// The default liveness budget after the last fault.
pub const DEFAULT_LIVENESS_BUDGET: Duration = Duration::from_secs(24 * 3600);

/// The liveness check looks at most this often...
const LIVENESS_LOOK_MIN: Duration = Duration::from_secs(1);
/// ...and at least this often, whatever the engine's timers.
const LIVENESS_LOOK_MAX: Duration = Duration::from_secs(3600);

/// The most re-runs one shrink may make.
pub const DEFAULT_MAX_SHRINK_RUNS: usize = 64;

/// One workflow the workload starts.
#[derive(Clone, Debug, Serialize)]
struct Start {
    workflow_type: String,
    workflow_id: WorkflowId,
    input: Payload,
}

/// One signal the workload sends, `at` after the start of the run.
#[derive(Clone, Debug, Serialize)]
struct ScheduledSignal {
    at: Duration,
    workflow_id: WorkflowId,
    name: String,
    input: Payload,
}

/// What a workload sees: its seed, its random stream, the run's clock, and where it lists
/// the workflows to start (all at the start of the run, through the cluster's client) and
/// the signals to send them later (a human approving an order an hour in, say).
pub struct WorkloadCtx {
    seed: u64,
    clock: SharedClock,
    rng: ChaCha8Rng,
    starts: Vec<Start>,
    signals: Vec<ScheduledSignal>,
}

impl WorkloadCtx {
    fn new(seed: u64, clock: SharedClock) -> WorkloadCtx {
        WorkloadCtx {
            seed,
            clock,
            rng: stream(seed, Stream::Workload),
            starts: Vec::new(),
            signals: Vec::new(),
        }
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The run's virtual clock: for simulated services whose operations take time (an
    /// activity that processes records at some rate, say).
    pub fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    /// The workload's random stream (independent of scheduling and faults).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// Starts workflow `W` with id `workflow_id`. Panics if the input cannot be encoded.
    pub fn start<W: Workflow>(&mut self, workflow_id: impl Into<WorkflowId>, input: &W::Input) {
        let input = warpflow_engine::payload::encode(input, || format!("input of workflow `{}`", W::NAME))
            .unwrap_or_else(|e| panic!("{e}"));
        self.start_untyped(W::NAME, workflow_id, input);
    }

    /// Starts the workflow type named `workflow_type` with a raw input.
    pub fn start_untyped(&mut self, workflow_type: &str, workflow_id: impl Into<WorkflowId>, input: Payload) {
        self.starts.push(Start {
            workflow_type: workflow_type.to_owned(),
            workflow_id: workflow_id.into(),
            input,
        });
    }

    /// Sends signal `S` with `input` to the current run of `workflow_id` once `at` of virtual
    /// time has passed since the start of the run (at once if the workflows took longer to
    /// start), through the cluster's client and its retries. Whether it was delivered is in
    /// the run's trace; a signal that never arrives shows in the outcomes. Panics if the
    /// input cannot be encoded.
    pub fn signal<S: Signal>(&mut self, at: Duration, workflow_id: impl Into<WorkflowId>, input: &S::Input) {
        let input = warpflow_engine::payload::encode(input, || format!("input of signal `{}`", S::NAME))
            .unwrap_or_else(|e| panic!("{e}"));
        self.signal_untyped(at, workflow_id, S::NAME, input);
    }

    /// Sends the signal named `name` with a raw input (see [`signal`](Self::signal)).
    pub fn signal_untyped(
        &mut self,
        at: Duration,
        workflow_id: impl Into<WorkflowId>,
        name: &str,
        input: Payload,
    ) {
        self.signals.push(ScheduledSignal {
            at,
            workflow_id: workflow_id.into(),
            name: name.to_owned(),
            input,
        });
    }
}

/// Which faults a run meets.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultMode {
    /// None: the baseline.
    None,
    /// Random faults from `rates` until `horizon` after the start.
    Random {
        /// The probabilities.
        rates: FaultRates,
        /// When faults stop.
        horizon: Duration,
    },
    /// Exactly these faults (faults stop, and partitions heal, after the last one).
    Plan(FaultPlan),
}

impl FaultMode {
    /// When faults stop, since the start.
    fn end(&self) -> Duration {
        match self {
            FaultMode::None => Duration::ZERO,
            FaultMode::Random { horizon, .. } => *horizon,
            FaultMode::Plan(plan) => plan.end(),
        }
    }
}

/// Everything one run produced: what oracles and user invariants look at.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// The workflows the workload started, in order.
    pub workflows: Vec<WorkflowId>,
    /// Every run of each workflow, oldest first, read from durable storage: the workflows
    /// the workload started and, recursively, the child workflows they started.
    pub histories: BTreeMap<WorkflowId, Vec<History>>,
    /// How each workflow's last run ended (the same workflows as `histories`) (`{"completed": result}`, `{"failed": {...}}`,
    /// `"canceled"`, `{"terminated": reason}`, `"timedOut"`, or `"open"`).
    pub outcomes: BTreeMap<WorkflowId, Value>,
    /// The external world's snapshot at the end.
    pub world: Value,
    /// The faults injected.
    pub faults: FaultLog,
    /// The faults injected as a plan that replays this run exactly on the same seed
    /// ([`SimCluster::fault_plan`]).
    pub plan: FaultPlan,
    /// The trace's hash and length.
    pub trace_hash: u64,
    /// Lines in the trace.
    pub trace_len: usize,
    /// The trace itself (diff two runs' [`Trace::render`]s to see where they part).
    pub trace: Trace,
    /// Virtual time simulated.
    pub elapsed: Duration,
    /// `Err` if a workflow was still open when the liveness budget ran out (or the simulation
    /// failed).
    pub liveness: Result<(), String>,
}

type Invariant = Box<dyn Fn(&RunReport) -> Result<(), String>>;

/// A fault campaign. See the module documentation.
///
/// ```
/// use std::time::Duration;
/// use warpflow_engine::workflow::{Workflow, WorkflowCtx};
/// use warpflow_engine::{Activity, ActivityCtx, ActivityError, Registry, WorkflowResult};
/// use warpflow_sim::{Fault, FaultPlan, When};
/// use warpflow_testkit::Campaign;
///
/// struct Double;
/// impl Activity for Double {
///     const NAME: &'static str = "double";
///     type Input = u64;
///     type Output = u64;
///     async fn run(&self, _ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
///         Ok(2 * n)
///     }
/// }
///
/// struct Twice;
/// impl Workflow for Twice {
///     const NAME: &'static str = "twice";
///     type Input = u64;
///     type Output = u64;
///     async fn run(ctx: WorkflowCtx, n: u64) -> WorkflowResult<u64> {
///         let once = ctx.activity::<Double>(n).start_to_close(Duration::from_secs(5)).await?;
///         Ok(ctx.activity::<Double>(once).start_to_close(Duration::from_secs(5)).await?)
///     }
/// }
///
/// let registry = Registry::new().with_workflow::<Twice>().with_activity(Double);
/// let report = Campaign::new("twice", registry)
///     .workload(|w| w.start::<Twice>("twice-1", &21))
///     .fault_plan(FaultPlan::new().with(When::At(Duration::from_millis(5)), Fault::CrashEngine))
///     .seeds(2)
///     .run_or_panic();
/// assert_eq!(report.workflows_run, 2);
/// ```
pub struct Campaign {
    name: String,
    registry: Registry,
    workload: Box<dyn Fn(&mut WorkloadCtx)>,
    world_reset: Box<dyn Fn()>,
    world_snapshot: Box<dyn Fn() -> Value>,
    mode: FaultMode,
    seeds: Option<u64>,
    first_seed: u64,
    twice: usize,
    workers: u32,
    restart_delay: LatencyRange,
    liveness_budget: Duration,
    invariants: Vec<(String, Invariant)>,
    saga: BTreeMap<String, String>,
    max_shrink_runs: usize,
    /// Seeds set by [`Campaign::seed_range`], which environment variables do not override.
    explicit_seeds: Option<(u64, u64)>,
    reproduce: Box<dyn Fn(u64) -> String>,
}

/// A campaign with a name, as `warpflow simulate` lists and runs them: a program offers its
/// workloads to the command line as a list of these.
#[derive(Debug, Clone, Copy)]
pub struct NamedCampaign {
    /// The name `--workflow` selects it by.
    pub name: &'static str,
    /// One line saying what it exercises.
    pub summary: &'static str,
    /// Builds the campaign: workload, fault mix, world and oracles.
    pub campaign: fn() -> Campaign,
}

impl fmt::Debug for WorkloadCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadCtx")
            .field("seed", &self.seed)
            .field("starts", &self.starts)
            .field("signals", &self.signals)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Campaign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Campaign")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("seeds", &self.seeds)
            .finish_non_exhaustive()
    }
}

impl Campaign {
    /// A campaign named `name` over the types in `registry`: no workload yet, no world, the
    /// default fault mix ([`FaultRates::default`] for [`DEFAULT_FAULT_HORIZON`]).
    pub fn new(name: impl Into<String>, registry: Registry) -> Campaign {
        Campaign {
            name: name.into(),
            registry,
            workload: Box::new(|_| {}),
            world_reset: Box::new(|| {}),
            world_snapshot: Box::new(|| Value::Null),
            mode: FaultMode::Random {
                rates: FaultRates::default(),
                horizon: DEFAULT_FAULT_HORIZON,
            },
            seeds: None,
            first_seed: 1,
            twice: 1,
            workers: 2,
            restart_delay: LatencyRange::millis(50, 2_000),
            liveness_budget: DEFAULT_LIVENESS_BUDGET,
            invariants: Vec::new(),
            saga: BTreeMap::new(),
            max_shrink_runs: DEFAULT_MAX_SHRINK_RUNS,
            explicit_seeds: None,
            reproduce: Box::new(reproduce),
        }
    }

    /// The workload: given each run's [`WorkloadCtx`], lists the workflows to start.
    pub fn workload(mut self, workload: impl Fn(&mut WorkloadCtx) + 'static) -> Campaign {
        self.workload = Box::new(workload);
        self
    }

    /// The external world the activities act on: `reset` is called before every run,
    /// `snapshot` after it; the faulted run's snapshot must equal the baseline's.
    pub fn world(mut self, reset: impl Fn() + 'static, snapshot: impl Fn() -> Value + 'static) -> Campaign {
        self.world_reset = Box::new(reset);
        self.world_snapshot = Box::new(snapshot);
        self
    }

    /// Random faults from `rates` for the fault horizon (keeps the horizon already set).
    pub fn faults(mut self, rates: FaultRates) -> Campaign {
        let horizon = match self.mode {
            FaultMode::Random { horizon, .. } => horizon,
            _ => DEFAULT_FAULT_HORIZON,
        };
        self.mode = FaultMode::Random { rates, horizon };
        self
    }

    /// How long random faults last (default [`DEFAULT_FAULT_HORIZON`]).
    pub fn fault_horizon(mut self, horizon: Duration) -> Campaign {
        if let FaultMode::Random { rates, .. } = self.mode {
            self.mode = FaultMode::Random { rates, horizon };
        }
        self
    }

    /// Exactly the faults of `plan`, for every seed.
    pub fn fault_plan(mut self, plan: FaultPlan) -> Campaign {
        self.mode = FaultMode::Plan(plan);
        self
    }

    /// Any fault mode.
    pub fn fault_mode(mut self, mode: FaultMode) -> Campaign {
        self.mode = mode;
        self
    }

    /// How many seeds (default: `WARPFLOW_SEEDS`, else [`DEFAULT_SEEDS`]; `WARPFLOW_SEEDS`
    /// overrides this, and `WARPFLOW_SEED` runs one seed).
    pub fn seeds(mut self, n: u64) -> Campaign {
        self.seeds = Some(n);
        self
    }

    /// The first seed (default 1): seeds are `first..first + n`.
    pub fn first_seed(mut self, seed: u64) -> Campaign {
        self.first_seed = seed;
        self
    }

    /// How many seeds (the first ones) are run twice for the same-seed-twice oracle
    /// (default 1).
    pub fn check_twice(mut self, seeds: usize) -> Campaign {
        self.twice = seeds;
        self
    }

    /// How many worker nodes (default 2).
    pub fn workers(mut self, n: u32) -> Campaign {
        self.workers = n;
        self
    }

    /// How long crashed nodes stay down (default 50 ms to 2 s).
    pub fn restart_delay(mut self, delay: LatencyRange) -> Campaign {
        self.restart_delay = delay;
        self
    }

    /// The liveness budget after the last fault (default one day of virtual time).
    pub fn liveness_budget(mut self, budget: Duration) -> Campaign {
        self.liveness_budget = budget;
        self
    }

    /// A user invariant over every faulted run; failing it is a failure of oracle
    /// `invariant:<name>`.
    pub fn invariant(
        mut self,
        name: impl Into<String>,
        check: impl Fn(&RunReport) -> Result<(), String> + 'static,
    ) -> Campaign {
        self.invariants.push((name.into(), Box::new(check)));
        self
    }

    /// Saga pairs: each step activity type and the activity type that compensates it.
    pub fn saga<'a>(mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Campaign {
        self.saga
            .extend(pairs.into_iter().map(|(s, c)| (s.to_owned(), c.to_owned())));
        self
    }

    /// The most re-runs a shrink may make (default [`DEFAULT_MAX_SHRINK_RUNS`]; 0: no
    /// shrinking).
    pub fn max_shrink_runs(mut self, n: usize) -> Campaign {
        self.max_shrink_runs = n;
        self
    }

    /// Runs exactly the seeds `first..first + n`, whatever `WARPFLOW_SEED(S)` say: for a
    /// command line whose flags choose the seeds.
    pub fn seed_range(mut self, first: u64, n: u64) -> Campaign {
        self.explicit_seeds = Some((first, n));
        self
    }

    /// How a failure's report says to rerun its seed (default: the `WARPFLOW_SEED=… cargo
    /// test …` line of the current test).
    pub fn reproduce_command(mut self, command: impl Fn(u64) -> String + 'static) -> Campaign {
        self.reproduce = Box::new(command);
        self
    }

    /// The seeds this campaign runs (see [`Campaign::seeds`]).
    pub fn seed_list(&self) -> Vec<u64> {
        if let Some((first, n)) = self.explicit_seeds {
            return (first..first.saturating_add(n)).collect();
        }
        let single = Seed::resolve(None);
        if single.from_env {
            return vec![single.value];
        }
        let n = std::env::var("WARPFLOW_SEEDS")
            .ok()
            .and_then(|s| parse_seed(&s))
            .or(self.seeds)
            .unwrap_or(DEFAULT_SEEDS);
        (self.first_seed..self.first_seed.saturating_add(n)).collect()
    }

    /// Runs every seed, checks the oracles, shrinks failures, and reports.
    pub fn run(&self) -> CampaignReport {
        self.run_with_progress(|_| {})
    }

    /// [`run`](Campaign::run), calling `after_seed` with the report so far after each seed.
    pub fn run_with_progress(&self, mut after_seed: impl FnMut(&CampaignReport)) -> CampaignReport {
        let seeds = self.seed_list();
        let mut report = CampaignReport {
            name: self.name.clone(),
            seeds: seeds.clone(),
            ..CampaignReport::default()
        };
        if let FaultMode::Plan(plan) = &self.mode
            && let Err(e) = plan.check()
        {
            // Nothing to run: the plan is wrong for every seed.
            let seed = seeds.first().copied().unwrap_or(self.first_seed);
            report.failures.push(CampaignFailure {
                campaign: self.name.clone(),
                seed,
                oracle: "plan".to_owned(),
                message: e.to_string(),
                faults: FaultLog::new(),
                reproduce: (self.reproduce)(seed),
                original_plan: plan.clone(),
                shrunk: None,
            });
            return report;
        }
        // Baselines by workload (see the module documentation).
        let mut baselines: BTreeMap<String, RunReport> = BTreeMap::new();
        for (n, &seed) in seeds.iter().enumerate() {
            let baseline = baselines.entry(self.workload_key(seed)).or_insert_with(|| {
                let baseline = self.run_one(seed, &FaultMode::None);
                report.virtual_time += baseline.elapsed;
                baseline
            });
            let baseline = &*baseline;
            let faulted = self.run_one(seed, &self.mode);
            report.workflows_run += faulted.workflows.len();
            report.virtual_time += faulted.elapsed;
            for fault in faulted.faults.faults() {
                *report
                    .faults_by_kind
                    .entry(fault_kind(fault).to_owned())
                    .or_default() += 1;
            }
            let mut failures = self.check(baseline, &faulted, &mut report.oracle_checks);
            if n < self.twice {
                *report
                    .oracle_checks
                    .entry("same-seed-twice".to_owned())
                    .or_default() += 1;
                // Only the trace is compared: the rest of a report is not read back.
                let (again, _, _) = self.simulate(seed, &self.mode);
                report.virtual_time += again.sim().elapsed();
                let trace = again.trace().take();
                if trace.hash() != faulted.trace_hash {
                    failures.push((
                        "same-seed-twice".to_owned(),
                        format!(
                            "trace hashes differ: {:016x} ({} lines) then {:016x} ({} lines)",
                            faulted.trace_hash,
                            faulted.trace_len,
                            trace.hash(),
                            trace.len()
                        ),
                    ));
                }
            }
            for (i, (oracle, message)) in failures.into_iter().enumerate() {
                let original = match &self.mode {
                    FaultMode::Plan(plan) => plan.clone(),
                    _ => faulted.plan.clone(),
                };
                // Shrink the first failing oracle of a seed; the others share its plan.
                let shrunk = if i == 0 && oracle != "same-seed-twice" {
                    self.shrink(seed, baseline, &original, &oracle)
                } else {
                    None
                };
                report.failures.push(CampaignFailure {
                    campaign: self.name.clone(),
                    seed,
                    oracle,
                    message,
                    faults: faulted.faults.clone(),
                    reproduce: (self.reproduce)(seed),
                    original_plan: original,
                    shrunk,
                });
            }
            after_seed(&report);
        }
        report
    }

    /// What the workload starts for `seed`, as a key: equal keys, equal workloads.
    fn workload_key(&self, seed: u64) -> String {
        // The workload only lists what to do; a clock of its own keeps it off any run.
        let mut ctx = WorkloadCtx::new(seed, Sim::new(SimConfig::new(seed)).clock());
        (self.workload)(&mut ctx);
        serde_json::to_string(&(&ctx.starts, &ctx.signals)).unwrap_or_else(|_| format!("seed {seed}"))
    }

    /// Runs, and panics with the report if anything failed.
    pub fn run_or_panic(&self) -> CampaignReport {
        let report = self.run();
        if !report.failures.is_empty() {
            panic!("{report}");
        }
        report
    }

    /// One run of `seed` under `mode` on a fresh cluster.
    pub fn run_one(&self, seed: u64, mode: &FaultMode) -> RunReport {
        let (cluster, workflows, liveness) = self.simulate(seed, mode);
        let trace = cluster.trace().take();
        let faults = cluster.fault_log().snapshot();
        let plan = cluster.fault_plan();
        let elapsed = cluster.sim().elapsed();
        // With the cluster gone, the histories move out of its storage rather than being
        // copied (a copy only if something still holds the storage).
        let durable = cluster.durable().clone();
        drop(cluster);
        let mut stored = durable
            .into_histories()
            .unwrap_or_else(|durable| read_all_histories(&durable));
        let mut histories = BTreeMap::new();
        let mut outcomes = BTreeMap::new();
        // The workflows started, then their children, and theirs: the oracles check them all.
        let mut unread: VecDeque<WorkflowId> = workflows.iter().cloned().collect();
        while let Some(id) = unread.pop_front() {
            if histories.contains_key(&id) {
                continue;
            }
            let runs = stored.remove(&id).unwrap_or_default();
            unread.extend(runs.iter().flat_map(children));
            outcomes.insert(id.clone(), outcome(runs.last()));
            histories.insert(id, runs);
        }
        RunReport {
            seed,
            workflows,
            histories,
            outcomes,
            world: (self.world_snapshot)(),
            faults,
            plan,
            trace_hash: trace.hash(),
            trace_len: trace.len(),
            trace,
            elapsed,
            liveness,
        }
    }

    /// Runs `seed` under `mode` on a fresh cluster until every workflow closed (or the
    /// liveness budget ran out), and shuts the cluster down: the cluster, the workflows the
    /// workload started, and the liveness verdict.
    fn simulate(&self, seed: u64, mode: &FaultMode) -> (SimCluster, Vec<WorkflowId>, Result<(), String>) {
        (self.world_reset)();
        let end = mode.end();
        let cluster = SimCluster::new(
            ClusterConfig {
                seed,
                workers: self.workers,
                restart_delay: self.restart_delay,
                max_virtual_time: end + self.liveness_budget + Duration::from_secs(24 * 3600),
            },
            self.registry.clone(),
        );
        let armed = match mode {
            FaultMode::None => Ok(()),
            FaultMode::Random { rates, horizon } => {
                cluster.run_random(rates, *horizon);
                Ok(())
            }
            // Faults stop after the last one: a partition a shrink left unhealed heals.
            FaultMode::Plan(plan) => cluster.run_plan(plan),
        };
        let mut ctx = WorkloadCtx::new(seed, cluster.sim().clock());
        (self.workload)(&mut ctx);
        let workflows: Vec<WorkflowId> = ctx.starts.iter().map(|s| s.workflow_id.clone()).collect();
        let client = cluster.client();
        let starts = ctx.starts;
        let signals = ctx.signals;
        let mut liveness = match armed {
            Err(e) => Err(format!("the fault plan cannot run: {e}")),
            Ok(()) => match cluster.run(async move {
                let calls = starts.into_iter().map(|s| {
                    let client = client.clone();
                    async move {
                        client
                            .start_untyped(
                                &s.workflow_type,
                                s.workflow_id.clone(),
                                s.input,
                                StartOptions::new(CLUSTER_TASK_QUEUE),
                            )
                            .await
                            .map_err(|e| format!("start of {} failed: {e}", s.workflow_id))
                    }
                });
                join_all(calls)
                    .await
                    .into_iter()
                    .collect::<Result<Vec<_>, String>>()
            }) {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(format!("simulation failed while starting: {e}")),
            },
        };
        if liveness.is_ok() {
            send_signals(&cluster, signals);
            let deadline = SIM_EPOCH.plus(end + self.liveness_budget);
            let faults_end = SIM_EPOCH.plus(end);
            let clock = cluster.sim().clock();
            let durable = cluster.durable().clone();
            let ids = workflows.clone();
            let goal = async move {
                // Nothing to look at before the faults stop.
                clock.sleep_until(faults_end).await;
                loop {
                    if all_closed(&durable, &ids) {
                        return true;
                    }
                    // Look again at the next engine timer (a run's progress through a long
                    // wait), at most an hour on: looking every second through a 24-hour wait
                    // cost more than the simulation itself.
                    let now = clock.now();
                    let next_timer = durable.next_timer_due().await.ok().flatten();
                    let wake_at = next_timer
                        .map_or(now.plus(LIVENESS_LOOK_MAX), |t| {
                            t.max(now.plus(LIVENESS_LOOK_MIN))
                        })
                        .min(now.plus(LIVENESS_LOOK_MAX));
                    clock.sleep_until(wake_at).await;
                }
            };
            let timeout = cluster.sim().clock().sleep_until(deadline);
            let raced = async move {
                match select(pin!(goal), timeout).await {
                    Either::Left((done, _)) => done,
                    Either::Right(_) => false,
                }
            };
            liveness = match cluster.run(raced) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    let open: Vec<String> = workflows
                        .iter()
                        .filter(|id| !all_closed(cluster.durable(), std::slice::from_ref(id)))
                        .map(ToString::to_string)
                        .collect();
                    Err(format!(
                        "still open {} after the last fault: {}",
                        warpflow_engine::time::format_duration(self.liveness_budget),
                        open.join(", ")
                    ))
                }
                Err(e) => Err(format!("simulation failed: {e}")),
            };
        }
        cluster.shutdown();
        (cluster, workflows, liveness)
    }

    /// Every oracle but same-seed-twice, on `run` against `baseline`: `(oracle, message)`.
    fn check(
        &self,
        baseline: &RunReport,
        run: &RunReport,
        counts: &mut BTreeMap<String, usize>,
    ) -> Vec<(String, String)> {
        let mut failures = Vec::new();
        let mut oracle = |name: &str, result: Result<(), String>| {
            *counts.entry(name.to_owned()).or_default() += 1;
            if let Err(message) = result {
                failures.push((name.to_owned(), message));
            }
        };
        oracle("liveness", run.liveness.clone());
        let replayer = Replayer::new(self.registry.clone());
        // Every history's eight executions are built in the buffers of the one before.
        let mut buffers = ReplayBuffers::default();
        let mut well_formed = Ok(());
        let mut replays = Ok(());
        let mut sagas = Ok(());
        for history in run.histories.values().flatten() {
            let at = || format!("{} run {}", history.workflow_id, history.run_id);
            // The replay check validates the history before anything else: a history it
            // replays is known to be well formed, and one it refuses as malformed fails both
            // oracles, so each history is validated once.
            let replayed = (history.terminal_event().is_some() && replays.is_ok())
                .then(|| replayer.check_in(history, &mut buffers));
            let malformed = match &replayed {
                Some(Err(ReplayError::History(e))) => Some(e.to_string()),
                Some(_) => None,
                None if well_formed.is_ok() => validate(history).err().map(|e| e.to_string()),
                None => None,
            };
            if let Some(e) = malformed
                && well_formed.is_ok()
            {
                well_formed = Err(format!("{}: {e}", at()));
            }
            if let Some(Err(e)) = replayed {
                let report = e
                    .activation_error()
                    .and_then(|a| a.as_nondeterminism())
                    .map_or_else(|| e.to_string(), |n| n.report());
                replays = Err(format!("{}:\n{report}", at()));
            }
            if !self.saga.is_empty()
                && sagas.is_ok()
                && let Err(e) = check_saga(history, &self.saga)
            {
                sagas = Err(format!("{}: {e}", at()));
            }
        }
        oracle("history", well_formed);
        oracle("replay", replays);
        if !self.saga.is_empty() {
            oracle("saga", sagas);
        }
        let mut equivalence = Ok(());
        if let Err(why) = &baseline.liveness {
            equivalence = Err(format!("the fault-free baseline did not finish: {why}"));
        } else if run.outcomes != baseline.outcomes {
            let diffs: Vec<String> = run
                .outcomes
                .iter()
                .filter(|(id, o)| baseline.outcomes.get(*id) != Some(*o))
                .map(|(id, o)| {
                    format!(
                        "{id}: {o} (fault-free: {})",
                        baseline.outcomes.get(id).unwrap_or(&Value::Null)
                    )
                })
                .collect();
            equivalence = Err(format!(
                "outcomes differ from the fault-free run: {}",
                diffs.join("; ")
            ));
        } else if run.world != baseline.world {
            equivalence = Err(format!(
                "the world differs from the fault-free run: {} (fault-free: {})",
                run.world, baseline.world
            ));
        }
        oracle("crash-equivalence", equivalence);
        for (name, check) in &self.invariants {
            oracle(&format!("invariant:{name}"), check(run));
        }
        failures
    }

    /// Removes faults from `plan` while `oracle` still fails on `seed` (see the module
    /// documentation); `None` if the plan does not fail it at all.
    fn shrink(&self, seed: u64, baseline: &RunReport, plan: &FaultPlan, oracle: &str) -> Option<FaultPlan> {
        let mut shrinker = Shrinker {
            campaign: self,
            seed,
            baseline,
            oracle,
            runs_left: self.max_shrink_runs,
        };
        if !shrinker.fails(plan)? {
            return None;
        }
        // The shortest failing prefix, assuming that a failing prefix stays failing when it
        // grows: `prefix(hi)` fails, and no prefix shorter than `lo` is thought to.
        let (mut lo, mut hi) = (0, plan.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match shrinker.fails(&prefix(plan, mid)) {
                Some(true) => hi = mid,
                Some(false) => lo = mid + 1,
                None => break,
            }
        }
        let mut current = prefix(plan, hi);
        // Then single faults, first to last, again while a pass removes one. (Early faults
        // first shrank further than late ones first in practice: the run after a removed
        // fault changes either way.)
        loop {
            let before = current.len();
            let mut i = 0;
            while i < current.len() {
                let mut candidate = current.clone();
                candidate.faults.remove(i);
                match shrinker.fails(&candidate) {
                    Some(true) => current = candidate,
                    Some(false) => i += 1,
                    None => return Some(current),
                }
            }
            if current.len() == before {
                return Some(current);
            }
        }
    }
}

/// The re-runs of one shrink, within the campaign's budget.
struct Shrinker<'a> {
    campaign: &'a Campaign,
    seed: u64,
    baseline: &'a RunReport,
    oracle: &'a str,
    runs_left: usize,
}

impl Shrinker<'_> {
    /// Whether the seed under `plan` fails the oracle; `None` once the budget is spent.
    fn fails(&mut self, plan: &FaultPlan) -> Option<bool> {
        self.runs_left = self.runs_left.checked_sub(1)?;
        let run = self.campaign.run_one(self.seed, &FaultMode::Plan(plan.clone()));
        let failures = self.campaign.check(self.baseline, &run, &mut BTreeMap::new());
        Some(failures.iter().any(|(name, _)| name == self.oracle))
    }
}

/// The first `n` faults of `plan`, with its horizon.
fn prefix(plan: &FaultPlan, n: usize) -> FaultPlan {
    FaultPlan {
        faults: plan.faults[..n.min(plan.len())].to_vec(),
        horizon: plan.horizon,
    }
}

/// Spawns the sending of each of `signals` at its time, noting in the trace how it went.
fn send_signals(cluster: &SimCluster, signals: Vec<ScheduledSignal>) {
    for signal in signals {
        let client = cluster.client();
        let clock = cluster.sim().clock();
        let trace = cluster.trace();
        cluster.sim().spawn("workload signal", async move {
            clock.sleep_until(SIM_EPOCH.plus(signal.at)).await;
            let sent = client
                .signal_untyped(&signal.workflow_id, None, &signal.name, signal.input)
                .await;
            let how = match sent {
                Ok(()) => "sent".to_owned(),
                Err(e) => format!("failed: {e}"),
            };
            let line = format!("signal `{}` to {}: {how}", signal.name, signal.workflow_id);
            trace.record(clock.now(), CLIENT_NODE, line);
        });
    }
}

/// The workflow ids of the children `history` started.
fn children(history: &History) -> Vec<WorkflowId> {
    history
        .events
        .iter()
        .filter_map(|event| match &event.attributes {
            E::ChildWorkflowExecutionStarted { workflow_id, .. } => Some(workflow_id.clone()),
            _ => None,
        })
        .collect()
}

/// How a run ended, as a comparable value.
fn outcome(history: Option<&History>) -> Value {
    let Some(event) = history.and_then(History::terminal_event) else {
        return json!("open");
    };
    match &event.attributes {
        E::WorkflowExecutionCompleted { result, .. } => json!({ "completed": result }),
        E::WorkflowExecutionFailed { failure, .. } => {
            json!({ "failed": { "type": failure.error_type, "message": failure.message } })
        }
        E::WorkflowExecutionCanceled { .. } => json!("canceled"),
        E::WorkflowExecutionTerminated { reason, .. } => json!({ "terminated": reason }),
        E::WorkflowExecutionTimedOut {} => json!("timedOut"),
        E::WorkflowExecutionContinuedAsNew { .. } => json!("continuedAsNew"),
        _ => json!("open"),
    }
}

/// The saga oracle on one history (see the module documentation).
pub fn check_saga(history: &History, pairs: &BTreeMap<String, String>) -> Result<(), String> {
    let compensations: BTreeSet<&str> = pairs.values().map(String::as_str).collect();
    let mut types: BTreeMap<EventId, &str> = BTreeMap::new();
    // Completed steps, in completion order.
    let mut steps: Vec<&str> = Vec::new();
    // Compensations completed, in completion order.
    let mut compensated: Vec<&str> = Vec::new();
    let mut compensating = false;
    for event in &history.events {
        match &event.attributes {
            E::ActivityTaskScheduled { activity_type, .. } => {
                let activity_type: &str = activity_type;
                types.insert(event.event_id, activity_type);
                if compensations.contains(activity_type) {
                    compensating = true;
                    // Never a compensation without a prior success of its step.
                    let successes = steps
                        .iter()
                        .filter(|s| pairs.get(**s).map(String::as_str) == Some(activity_type))
                        .count();
                    let already = compensated.iter().filter(|c| **c == activity_type).count();
                    if already >= successes {
                        return Err(format!(
                            "`{activity_type}` scheduled at event {} without a completed step left to compensate",
                            event.event_id
                        ));
                    }
                }
            }
            E::ActivityTaskCompleted {
                scheduled_event_id, ..
            } => {
                let Some(&activity_type) = types.get(scheduled_event_id) else {
                    continue;
                };
                if pairs.contains_key(activity_type) {
                    steps.push(activity_type);
                }
                if compensations.contains(activity_type) {
                    compensated.push(activity_type);
                }
            }
            E::WorkflowExecutionFailed { .. } | E::WorkflowExecutionCanceled { .. } => compensating = true,
            _ => {}
        }
    }
    if !compensating {
        return Ok(());
    }
    let expected: Vec<&str> = steps.iter().rev().map(|s| pairs[*s].as_str()).collect();
    if compensated != expected {
        return Err(format!(
            "completed steps {steps:?} call for the compensations {expected:?} (each once, in reverse \
             order); the run completed {compensated:?}"
        ));
    }
    Ok(())
}

/// The serde tag of a fault: what the report counts by.
pub fn fault_kind(fault: &Fault) -> &'static str {
    match fault {
        Fault::CrashWorker { .. } => "crashWorker",
        Fault::CrashEngine => "crashEngine",
        Fault::FailCommit => "failCommit",
        Fault::LoseCommitReply => "loseCommitReply",
        Fault::DropMessages { .. } => "dropMessages",
        Fault::DuplicateNextRequest => "duplicateNextRequest",
        Fault::LoseNextReply => "loseNextReply",
        Fault::Partition { .. } => "partition",
        Fault::Heal { .. } => "heal",
        Fault::FailActivity { .. } => "failActivity",
        Fault::TimeOutActivity => "timeOutActivity",
    }
}

/// The one-line command that reruns `seed` in the current test.
fn reproduce(seed: u64) -> String {
    let test = std::thread::current().name().unwrap_or("<test name>").to_owned();
    format!("WARPFLOW_SEED={seed} cargo test {test} -- --exact")
}

/// One oracle failing on one seed.
#[derive(Clone, Debug, Serialize)]
pub struct CampaignFailure {
    /// The campaign's name.
    pub campaign: String,
    /// The seed.
    pub seed: u64,
    /// The oracle that failed.
    pub oracle: String,
    /// What it found.
    pub message: String,
    /// The faults injected in the failing run.
    pub faults: FaultLog,
    /// The one-line reproduction.
    pub reproduce: String,
    /// The failing run's faults as a plan.
    pub original_plan: FaultPlan,
    /// The smallest plan found that still fails the same oracle (`None`: not shrunk, or the
    /// plan did not reproduce the failure).
    pub shrunk: Option<FaultPlan>,
}

impl fmt::Display for CampaignFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "campaign `{}`, seed {}: oracle `{}` failed",
            self.campaign, self.seed, self.oracle
        )?;
        writeln!(f, "  {}", self.message.replace('\n', "\n  "))?;
        writeln!(f, "  reproduce: {}", self.reproduce)?;
        writeln!(f, "  injected faults ({}):", self.faults.len())?;
        for entry in self.faults.entries() {
            writeln!(f, "    {entry}")?;
        }
        match &self.shrunk {
            Some(plan) => {
                writeln!(
                    f,
                    "  shrunk fault plan ({} of {} faults):",
                    plan.len(),
                    self.original_plan.len()
                )?;
                for line in plan.to_string().lines() {
                    writeln!(f, "    {line}")?;
                }
                // The same plan as a value to paste into `Campaign::fault_plan`.
                if let Ok(json) = serde_json::to_string(plan) {
                    writeln!(f, "  as JSON: {json}")?;
                }
            }
            None => writeln!(f, "  (not shrunk)")?,
        }
        Ok(())
    }
}

/// What a campaign did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CampaignReport {
    /// The campaign's name.
    pub name: String,
    /// The seeds run.
    pub seeds: Vec<u64>,
    /// Workflows run under faults, over all seeds.
    pub workflows_run: usize,
    /// Faults injected, by kind.
    pub faults_by_kind: BTreeMap<String, usize>,
    /// Oracle checks made, by oracle.
    pub oracle_checks: BTreeMap<String, usize>,
    /// Virtual time simulated, every run included.
    #[serde(skip)]
    pub virtual_time: Duration,
    /// What failed.
    pub failures: Vec<CampaignFailure>,
}

impl CampaignReport {
    /// Faults injected in all.
    pub fn faults_injected(&self) -> usize {
        self.faults_by_kind.values().sum()
    }

    /// The failures of `oracle`.
    pub fn failures_of(&self, oracle: &str) -> Vec<&CampaignFailure> {
        self.failures.iter().filter(|f| f.oracle == oracle).collect()
    }
}

impl fmt::Display for CampaignReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "campaign `{}`: {} seed(s), {} workflow(s), {} fault(s) injected, {} of virtual time, {} failure(s)",
            self.name,
            self.seeds.len(),
            self.workflows_run,
            self.faults_injected(),
            warpflow_engine::time::format_duration(self.virtual_time),
            self.failures.len()
        )?;
        let kinds: Vec<String> = self
            .faults_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(f, "  faults: {}", kinds.join(", "))?;
        let checks: Vec<String> = self
            .oracle_checks
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(f, "  oracles checked: {}", checks.join(", "))?;
        for failure in &self.failures {
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warpflow_engine::history::HistoryBuilder;

    /// A report of one run whose only workflow has `histories`.
    fn report(histories: Vec<History>) -> RunReport {
        let id = WorkflowId::from("w-1");
        RunReport {
            seed: 1,
            workflows: vec![id.clone()],
            outcomes: BTreeMap::from([(id.clone(), json!("open"))]),
            histories: BTreeMap::from([(id, histories)]),
            world: Value::Null,
            faults: FaultLog::new(),
            plan: FaultPlan::default(),
            trace_hash: 0,
            trace_len: 0,
            trace: Trace::new(),
            elapsed: Duration::ZERO,
            liveness: Ok(()),
        }
    }

    /// A closed history with a gap in its event ids, and the same history still open.
    fn broken_closed_and_open() -> (History, History) {
        let mut builder = HistoryBuilder::new("nothing", Payload::null()).with_ids("w-1", "r-1");
        builder.workflow_task();
        builder.complete(Payload::null());
        let mut closed = builder.build();
        let mut open = closed.clone();
        open.events.pop();
        for history in [&mut closed, &mut open] {
            if let Some(last) = history.events.last_mut() {
                last.event_id = EventId(99);
            }
        }
        (closed, open)
    }

    fn failed_oracles(run: &RunReport) -> Vec<String> {
        let campaign = Campaign::new("oracles", Registry::new());
        let baseline = report(Vec::new());
        let failures = campaign.check(&baseline, run, &mut BTreeMap::new());
        failures.into_iter().map(|(oracle, _)| oracle).collect()
    }

    #[test]
    fn a_malformed_history_fails_the_history_oracle_whether_or_not_it_is_replayed() {
        let (closed, open) = broken_closed_and_open();
        assert!(closed.terminal_event().is_some() && open.terminal_event().is_none());
        // Closed, so replayed: the replay check's validation is the history oracle's too.
        let failed = failed_oracles(&report(vec![closed]));
        assert!(failed.contains(&"history".to_owned()), "{failed:?}");
        assert!(failed.contains(&"replay".to_owned()), "{failed:?}");
        // Open, so not replayed: validated on its own.
        let failed = failed_oracles(&report(vec![open]));
        assert!(failed.contains(&"history".to_owned()), "{failed:?}");
        assert!(!failed.contains(&"replay".to_owned()), "{failed:?}");
    }
}
