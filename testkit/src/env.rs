//! `TestEnv`: the real engine (service, timer loop, worker, client) on the simulator — one
//! thread, one seed, virtual time starting at a fixed epoch — so a test starts workflows,
//! skips through their timers in microseconds, and reads byte-stable histories.
//!
//! Every workflow whose result a test awaits is then replayed (cold, task by task, and
//! resumed at every workflow task) against the registered code; a divergence fails the test
//! with the structured report. `TestEnv::builder(..).replay_check(false)` turns that off.

use crate::seed::{Seed, rerun_hint};
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use warpflow_engine::client::{Client, ClientError, StartOptions, WorkflowFailure, WorkflowHandle};
use warpflow_engine::engine::Engine;
use warpflow_engine::env::SharedClock;
use warpflow_engine::service::ServiceConfig;
use warpflow_engine::service::api::RunDescription;
use warpflow_engine::storage::MemoryStorage;
use warpflow_engine::worker::{CancellationToken, WorkerOptions};
use warpflow_engine::workflow::{Query, Signal, Workflow};
use warpflow_engine::{History, Registry, Replayer, Timestamp, WorkflowId};
use warpflow_sim::rng::{Stream, stream_seed};
use warpflow_sim::{Sim, SimConfig, SimError};

/// The task queue of a `TestEnv`'s worker.
pub const TEST_TASK_QUEUE: &str = "test";

/// Builds a [`TestEnv`].
#[derive(Debug)]
pub struct TestEnvBuilder {
    registry: Registry,
    seed: Option<u64>,
    replay_check: bool,
    max_virtual_time: Duration,
}

impl TestEnvBuilder {
    /// Uses `seed` (default: `WARPFLOW_SEED`, else a fixed seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Replays every awaited workflow against the registered code (default: on).
    pub fn replay_check(mut self, on: bool) -> Self {
        self.replay_check = on;
        self
    }

    /// The most virtual time the environment may simulate (default: two years).
    pub fn max_virtual_time(mut self, d: Duration) -> Self {
        self.max_virtual_time = d;
        self
    }

    /// The environment, with its worker running.
    pub fn build(self) -> TestEnv {
        let seed = Seed::resolve(self.seed);
        let sim = Sim::new(SimConfig {
            max_virtual_time: self.max_virtual_time,
            ..SimConfig::new(seed.value)
        });
        let storage = MemoryStorage::new();
        let engine = Engine::builder()
            .storage(Arc::new(storage.clone()))
            .clock(sim.clock())
            .spawner(sim.spawner())
            .config(ServiceConfig {
                seed: stream_seed(seed.value, Stream::Entropy),
                // Nothing else shares this engine's storage, and idle pollers are woken when
                // work arrives: long waits keep a 30-day skip from waking them every minute.
                poll_timeout: self.max_virtual_time,
                outcome_wait: self.max_virtual_time,
                timer_idle_wait: self.max_virtual_time,
                ..ServiceConfig::default()
            })
            .build();
        let shutdown = CancellationToken::new();
        let options = WorkerOptions {
            identity: "test-worker".into(),
            // One thread runs everything: more pollers would only wake and find nothing.
            max_concurrent_workflow_tasks: 1,
            ..WorkerOptions::default()
        };
        let worker = engine.worker_with_options(TEST_TASK_QUEUE, self.registry.clone(), options);
        let stop = shutdown.clone();
        sim.spawn("worker", async move {
            let _ = worker.run(stop).await;
        });
        let client = engine.client();
        TestEnv {
            sim,
            seed,
            registry: self.registry,
            engine,
            storage,
            client,
            shutdown,
            replay_check: self.replay_check,
            scheduled: Rc::default(),
        }
    }
}

/// A time-skipping test environment. See the module documentation.
///
/// ```
/// use std::time::Duration;
/// use warpflow_engine::workflow::{Workflow, WorkflowCtx};
/// use warpflow_engine::{Registry, WorkflowResult};
/// use warpflow_testkit::TestEnv;
///
/// struct Reminder;
/// impl Workflow for Reminder {
///     const NAME: &'static str = "reminder";
///     type Input = u64;
///     type Output = String;
///     async fn run(ctx: warpflow_engine::WorkflowCtx, days: u64) -> WorkflowResult<String> {
///         ctx.sleep(Duration::from_secs(days * 24 * 3600)).await;
///         Ok("ring".into())
///     }
/// }
///
/// let env = TestEnv::new(Registry::new().with_workflow::<Reminder>());
/// let handle = env.start::<Reminder>("reminder-1", &30).expect("started");
/// assert_eq!(env.result(&handle).expect("result"), "ring"); // 30 days, in microseconds
/// assert_eq!(env.elapsed(), Duration::from_secs(30 * 24 * 3600));
/// ```
pub struct TestEnv {
    sim: Sim,
    seed: Seed,
    registry: Registry,
    engine: Engine,
    /// The engine's storage, read directly by the replay check.
    storage: MemoryStorage,
    client: Client,
    shutdown: CancellationToken,
    replay_check: bool,
    /// Actions scheduled with `after` that have not happened yet.
    scheduled: Rc<Cell<usize>>,
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv")
            .field("seed", &self.seed.value)
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestEnv {
    /// An environment for the types in `registry`, seeded from `WARPFLOW_SEED` or a fixed seed.
    pub fn new(registry: Registry) -> TestEnv {
        TestEnv::builder(registry).build()
    }

    /// A builder for an environment for the types in `registry`.
    pub fn builder(registry: Registry) -> TestEnvBuilder {
        TestEnvBuilder {
            registry,
            seed: None,
            replay_check: true,
            max_virtual_time: Duration::from_secs(2 * 366 * 24 * 3600),
        }
    }

    /// The seed this environment runs with.
    pub fn seed(&self) -> u64 {
        self.seed.value
    }

    /// Current virtual time.
    pub fn now(&self) -> Timestamp {
        self.sim.now()
    }

    /// Virtual time elapsed since the environment started.
    pub fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    /// The environment's virtual clock: for simulated services whose operations take time
    /// (a long activity that must yield, and so heartbeat, as it goes), or a mock's delays.
    pub fn clock(&self) -> SharedClock {
        self.sim.clock()
    }

    /// A client of the environment's engine (its calls run when the environment runs).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The engine under test.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs the simulation until `future` completes. Panics, naming the seed and how to rerun
    /// it, if the simulation deadlocks or exceeds its budget.
    pub fn run<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> T {
        match self.sim.run_until(future) {
            Ok(value) => value,
            Err(e) => self.fail(&e.to_string()),
        }
    }

    /// Like [`run`](Self::run), returning the simulation's error instead of panicking.
    pub fn try_run<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> Result<T, SimError> {
        self.sim.run_until(future)
    }

    /// Starts workflow `W` now.
    pub fn start<W: Workflow>(
        &self,
        workflow_id: impl Into<WorkflowId>,
        input: &W::Input,
    ) -> Result<WorkflowHandle<W>, ClientError>
    where
        W::Input: Clone,
    {
        let client = self.client();
        let workflow_id = workflow_id.into();
        let input = input.clone();
        self.run(async move {
            client
                .start::<W>(workflow_id, &input, StartOptions::new(TEST_TASK_QUEUE))
                .await
        })
    }

    /// Skips `d` of virtual time, running everything due meanwhile: the bound on skipping that
    /// lets a test act in the middle of a long wait.
    pub fn skip(&self, d: Duration) {
        if let Err(e) = self.sim.run_for(d) {
            self.fail(&e.to_string());
        }
    }

    /// Sends signal `S` to the current run of `workflow_id`.
    pub fn signal<S: Signal>(
        &self,
        workflow_id: impl Into<WorkflowId>,
        input: &S::Input,
    ) -> Result<(), ClientError>
    where
        S::Input: Clone,
    {
        let handle = self.client.handle::<NoWorkflow>(workflow_id.into());
        let input = input.clone();
        self.run(async move { handle.signal::<S>(&input).await })
    }

    /// Runs `action` once `after` of virtual time has passed, without waiting for it here: it
    /// happens while the environment runs (a signal in the middle of a timer's wait, a start
    /// at 09:00). Its result is ignored; check its effects.
    pub fn after<F, Fut>(&self, after: Duration, action: F)
    where
        F: FnOnce(Client) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let client = self.client();
        let clock = self.sim.clock();
        let at = self.now().plus(after);
        let scheduled = self.scheduled.clone();
        scheduled.set(scheduled.get() + 1);
        self.sim.spawn("scheduled action", async move {
            use warpflow_engine::env::Clock;
            clock.sleep_until(at).await;
            action(client).await;
            scheduled.set(scheduled.get() - 1);
        });
    }

    /// Sends signal `S` once `after` of virtual time has passed (see [`after`](Self::after)).
    pub fn signal_after<S: Signal>(
        &self,
        after: Duration,
        workflow_id: impl Into<WorkflowId>,
        input: &S::Input,
    ) where
        S::Input: Clone,
    {
        let workflow_id = workflow_id.into();
        let input = input.clone();
        self.after(after, move |client| async move {
            let _ = client.handle::<NoWorkflow>(workflow_id).signal::<S>(&input).await;
        });
    }

    /// Starts workflow `W` once `after` of virtual time has passed (see [`after`](Self::after));
    /// [`handle`](Self::handle) gives its handle.
    pub fn start_after<W: Workflow>(
        &self,
        after: Duration,
        workflow_id: impl Into<WorkflowId>,
        input: &W::Input,
    ) where
        W::Input: Clone,
    {
        let workflow_id = workflow_id.into();
        let input = input.clone();
        self.after(after, move |client| async move {
            let _ = client
                .start::<W>(workflow_id, &input, StartOptions::new(TEST_TASK_QUEUE))
                .await;
        });
    }

    /// A handle on the current run of `workflow_id` (started by [`start_after`](Self::start_after),
    /// say).
    pub fn handle<W: Workflow>(&self, workflow_id: impl Into<WorkflowId>) -> WorkflowHandle<W> {
        self.client.handle::<W>(workflow_id.into())
    }

    /// Runs until nothing more happens without outside input: no action scheduled with
    /// [`after`](Self::after) is waiting, and every run is closed or waits only for a signal (no workflow task, activity, timer or child pending). Virtual time
    /// skips to each timer on the way.
    pub fn run_until_idle(&self) {
        loop {
            if let Err(e) = self.sim.run_until_stalled() {
                self.fail(&e.to_string());
            }
            if self.is_idle() {
                return;
            }
            if let Err(e) = self.sim.advance_to_next_timer() {
                self.fail(&format!("{e} (while running until idle)"));
            }
        }
    }

    /// True when no scheduled action is waiting and no open run has work pending. Reads the service directly: in-memory storage
    /// answers at once, so this needs no simulated time.
    fn is_idle(&self) -> bool {
        if self.scheduled.get() > 0 {
            return false;
        }
        let service = self.engine.service();
        let listed = futures::executor::block_on(
            service.handle(warpflow_engine::service::Request::ListRuns { workflow_id: None }),
        );
        let runs = match listed {
            Ok(warpflow_engine::service::Response::Runs(runs)) => runs,
            other => self.fail(&format!("could not list runs: {other:?}")),
        };
        runs.iter().all(|run| {
            run.status.is_closed()
                || (!run.workflow_task_pending
                    && run.pending_activities.is_empty()
                    && run.pending_timers == 0
                    && run.pending_children == 0)
        })
    }

    /// Queries the current run of `workflow_id`.
    pub fn query<Q: Query>(
        &self,
        workflow_id: impl Into<WorkflowId>,
        args: &Q::Args,
    ) -> Result<Q::Output, ClientError>
    where
        Q::Args: Clone,
    {
        let handle = self.client.handle::<NoWorkflow>(workflow_id.into());
        let args = args.clone();
        self.run(async move { handle.query::<Q>(&args).await })
    }

    /// Asks the current run of `workflow_id` to cancel.
    pub fn cancel(&self, workflow_id: impl Into<WorkflowId>) -> Result<(), ClientError> {
        let handle = self.client.handle::<NoWorkflow>(workflow_id.into());
        self.run(async move { handle.cancel().await })
    }

    /// Terminates the current run of `workflow_id`.
    pub fn terminate(&self, workflow_id: impl Into<WorkflowId>, reason: &str) -> Result<(), ClientError> {
        let handle = self.client.handle::<NoWorkflow>(workflow_id.into());
        let reason = reason.to_owned();
        self.run(async move { handle.terminate(&reason).await })
    }

    /// Runs until the workflow closes (following continue-as-new), skipping virtual time, and
    /// returns its result. Then, unless turned off, replays every run of it against the
    /// registered code, and panics with the non-determinism report if one diverges.
    pub fn result<W: Workflow>(&self, handle: &WorkflowHandle<W>) -> Result<W::Output, WorkflowFailure> {
        let waiting = handle.clone();
        let result = self.run(async move { waiting.result().await });
        if self.replay_check {
            self.check_replay(handle.workflow_id());
        }
        result
    }

    /// Describes the current run of `workflow_id`.
    pub fn describe(&self, workflow_id: impl Into<WorkflowId>) -> Result<RunDescription, ClientError> {
        let handle = self.client.handle::<NoWorkflow>(workflow_id.into());
        self.run(async move { handle.describe().await })
    }

    /// The history of the current run of `workflow_id`.
    pub fn history(&self, workflow_id: impl Into<WorkflowId>) -> Result<History, ClientError> {
        let handle = self.client.handle::<NoWorkflow>(workflow_id.into());
        self.run(async move { handle.history().await })
    }

    /// The histories of every run of `workflow_id`, oldest first.
    pub fn histories(&self, workflow_id: impl Into<WorkflowId>) -> Result<Vec<History>, ClientError> {
        let client = self.client();
        let workflow_id = workflow_id.into();
        self.run(async move {
            let runs = client.list_runs(Some(&workflow_id)).await?;
            let mut histories = Vec::with_capacity(runs.len());
            for run in runs {
                histories.push(client.history(&workflow_id, Some(&run.run.run_id)).await?);
            }
            Ok(histories)
        })
    }

    /// Replays every closed run of `workflow_id`; panics with the report on divergence.
    pub fn check_replay(&self, workflow_id: &WorkflowId) {
        // Straight from storage, as `histories` would read them through the engine, without
        // spending simulation steps on it, and lent rather than copied: replaying only reads
        // a history (and never calls the storage, which is locked meanwhile).
        let replayer = Replayer::new(self.registry.clone());
        let reports = self.storage.with_histories(workflow_id, |history| {
            history.terminal_event()?;
            let e = replayer.check(history).err()?;
            let report = e
                .activation_error()
                .and_then(|a| a.as_nondeterminism())
                .map_or_else(|| e.to_string(), |n| n.report());
            Some(format!(
                "replay check failed for {workflow_id} run {}:\n{report}\n\nhistory:\n{}",
                history.run_id,
                history.render_timeline()
            ))
        });
        match reports {
            Ok(reports) => {
                if let Some(report) = reports.into_iter().flatten().next() {
                    self.fail(&report);
                }
            }
            Err(e) => self.fail(&format!(
                "could not read the histories of {workflow_id} to replay them: {e}"
            )),
        }
    }

    fn fail(&self, message: &str) -> ! {
        panic!("{message}\n{}", rerun_hint(self.seed.value))
    }
}

/// A stand-in workflow type for handles used only to signal, query, cancel or read: those
/// calls do not depend on the workflow's types.
struct NoWorkflow;
impl Workflow for NoWorkflow {
    const NAME: &'static str = "";
    type Input = ();
    type Output = ();
    async fn run(_: warpflow_engine::WorkflowCtx, (): ()) -> warpflow_engine::WorkflowResult<()> {
        Ok(())
    }
}
