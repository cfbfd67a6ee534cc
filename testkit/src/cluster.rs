//! [`SimCluster`]: a simulated deployment on one [`Sim`] whose nodes crash and restart.
//!
//! - **Storage**: a durable `MemoryStorage` (the disk) behind a [`SimStorage`] (commit latency,
//!   failed commits, lost commit replies, crashes that lose the commits in flight).
//! - **Engine**: one [`Service`] over the current storage handle, with its timer loop spawned
//!   on the simulation. Clients and workers reach it through an [`EngineSlot`], a
//!   [`Transport`] that forwards to the current service, or answers
//!   `ServiceError::Unavailable` while the engine is down. [`SimCluster::crash_engine`] crashes
//!   the storage (commits in flight are lost), stops the timer loop and fails every call in
//!   flight against the dead service; [`SimCluster::restart_engine`] starts a new service on
//!   `storage.reopen()`: it knows only what was committed.
//! - **Network**: a [`SimNetwork`] gives each worker (`worker-<i>`) and the client
//!   (`client-0`) its own transport to the slot, with latency, loss, duplication, lost replies
//!   and partitions.
//! - **Workers**: `N` workers each running [`Worker::run`] on the simulation.
//!   [`SimCluster::crash_worker`] drops the worker's future (its cache and the workflow tasks it
//!   holds are gone) and kills the activity attempts it spawned (each worker spawns through a
//!   wrapper that races every future against the worker's kill switch, a `Tripwire`);
//!   [`SimCluster::restart_worker`] starts a fresh worker with an empty cache.
//!
//! Every fault goes through [`SimCluster::apply`]: storage and network faults are armed on
//! [`SimStorage`] / [`SimNetwork`] (which log them to the shared [`FaultLog`](warpflow_sim::FaultLog)
//! when they take effect); crashes happen at once, are logged, and schedule a restart after a
//! short seeded delay. Activity faults ([`Fault::FailActivity`], [`Fault::TimeOutActivity`]) are
//! armed on the cluster's [`ActivityFaults`]: every activity definition of the workers'
//! registry is wrapped in a [`FaultyActivity`](crate::faulty_activity::FaultyActivity) that
//! fails or hangs the next attempts (of any type), logging each attempt it affects.
//!
//! [`SimCluster::run_random`] draws faults from [`FaultRates`] until a horizon;
//! [`SimCluster::run_plan`] follows a [`FaultPlan`]. Random mode rolls, at every
//! [`RANDOM_FAULT_CADENCE`] tick until the horizon, for crashes and for arming activity
//! faults; it rolls every tick up front, so that the crashes become timed faults and the
//! activity faults are scheduled on [`ActivityFaults`] at their ticks. Both modes then
//! schedule their timed faults, and the end of faults at the horizon, as time actions of the
//! simulation ([`Sim::at_time`]): these run outside any task and take no part in the
//! scheduling draws, so a rolled crash that finds its node already down changes nothing,
//! exactly as its absence from the fault log does in the plan. Since the storage and network
//! draw the same random values per operation in both modes, the plan exported from a random
//! run ([`SimCluster::fault_plan`]: each per-operation fault at its operation, each crash at
//! its tick, the run's horizon) replays that run exactly: the same fault log, the same trace.
//! That is what lets a campaign shrink a failing random run. (A driver task waking at every
//! tick, as random mode once had, cost a W1 campaign about a tenth of its time.)

use crate::faulty_activity::ActivityFaults;
use crate::tripwire::Tripwire;
use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::{BoxFuture, select};
use rand_chacha::ChaCha8Rng;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use warpflow_engine::client::{CallRetry, Client};
use warpflow_engine::env::{SharedClock, SharedSpawner, Spawner};
use warpflow_engine::service::{Request, Response, Service, ServiceConfig, ServiceError, Transport};
use warpflow_engine::storage::MemoryStorage;
use warpflow_engine::worker::{CancellationToken, Worker, WorkerOptions};
use warpflow_engine::{Registry, Timestamp};
use warpflow_sim::rng::{Stream, stream, stream_seed};
use warpflow_sim::{
    Dice, Fault, FaultPlan, FaultRates, LatencyRange, Op, PlanError, SharedFaultLog, SharedTrace, Sim,
    SimConfig, SimError, SimNetwork, SimStorage, When,
};

/// The task queue of a cluster's workers.
pub const CLUSTER_TASK_QUEUE: &str = "campaign";

/// The network node name of the cluster's client.
pub const CLIENT_NODE: &str = "client-0";

/// How often random mode rolls for crashes and activity faults.
pub const RANDOM_FAULT_CADENCE: Duration = Duration::from_millis(100);

/// How long a poll waits for a task, and the timer loop without looking at storage: as
/// long as the simulation may run. An idle poller then costs nothing while runs wait out
/// their timers (with the hour-long bound this replaced, every poller re-polled each hour of
/// a 24-hour wait: a sixth of a W1 campaign's work). Nothing in the cluster needs an expiry
/// to make progress:
/// - a new task wakes one waiting poller, after every commit that may have created it (even
///   one whose reply was lost), and a poll that leaves without taking the task it was woken
///   for passes the wake-up on (tokio's `Notify`), as does one that leased a task and failed
///   to start it (the next poller sleeps until that lease ends); a commit wakes the timer
///   loop alike, and a restarted engine's timer loop and pollers read storage afresh;
/// - a poll always answers its caller: a dropped request times out in the network, a lost
///   reply or a partition loses the answer when the service gives it, the engine's crash
///   fails every call in flight, and a crashed worker's polls are dropped with it;
/// - a task handed to a poll nobody hears (a lost reply, a duplicated poll's detached copy, a
///   crashed worker's copy) times out on its own timer (workflow task or activity timeout)
///   and is handed out again.
///
/// A wake-up lost by the service would stall its runs, and the campaign's liveness oracle
/// reports it with its seed and trace, where a short expiry would hide it.
fn wake_up_bound(config: &ClusterConfig) -> Duration {
    config.max_virtual_time
}

/// The shape of a [`SimCluster`].
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The seed every random stream derives from.
    pub seed: u64,
    /// How many worker nodes.
    pub workers: u32,
    /// How long a crashed node stays down before it restarts.
    pub restart_delay: LatencyRange,
    /// The most virtual time the simulation may cover.
    pub max_virtual_time: Duration,
}

impl ClusterConfig {
    /// Two workers, restarts after 50 ms to 2 s, a year of virtual time at most.
    pub fn new(seed: u64) -> ClusterConfig {
        ClusterConfig {
            seed,
            workers: 2,
            restart_delay: LatencyRange::millis(50, 2_000),
            max_virtual_time: Duration::from_secs(366 * 24 * 3600),
        }
    }
}

/// The engine's address: a [`Transport`] that forwards to the current service, or answers
/// `Unavailable` while the engine is down. A call in flight when the engine crashes fails with
/// `Unavailable` (the process that would have answered is gone).
#[derive(Debug, Default)]
pub struct EngineSlot {
    /// The service and the switch tripped when it crashes.
    current: Mutex<Option<(Arc<Service>, Tripwire)>>,
}

impl EngineSlot {
    fn lock(&self) -> MutexGuard<'_, Option<(Arc<Service>, Tripwire)>> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True while an engine is up behind the slot.
    pub fn is_up(&self) -> bool {
        self.lock().is_some()
    }
}

impl Transport for EngineSlot {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, ServiceError>> {
        let current = self.lock().clone();
        Box::pin(async move {
            let Some((service, dead)) = current else {
                return Err(ServiceError::Unavailable("the engine is down".to_owned()));
            };
            let handled = pin!(service.handle(request));
            let crashed = pin!(dead.tripped());
            // The crash first, as for every node's work (see `KillSpawner`): a call woken at
            // the instant the engine crashes takes no further step in it.
            match select(crashed, handled).await {
                futures::future::Either::Left(_) => Err(ServiceError::Unavailable(
                    "the engine crashed during the call".to_owned(),
                )),
                futures::future::Either::Right((result, _)) => result,
            }
        })
    }
}

/// A spawner whose futures die with their worker: each races its worker's kill switch.
struct KillSpawner {
    inner: SharedSpawner,
    kill: Tripwire,
}

impl Spawner for KillSpawner {
    fn spawn(&self, name: &'static str, future: BoxFuture<'static, ()>) {
        let kill = self.kill.clone();
        self.inner.spawn(
            name,
            Box::pin(async move {
                let killed = pin!(kill.tripped());
                // The switch first: a task woken at the instant its node crashes must not
                // take one more step (a store call, say) after the crash.
                let _ = select(killed, future).await;
            }),
        );
    }
}

/// One worker node's controls.
struct WorkerNode {
    up: bool,
    kill: Tripwire,
    restart: mpsc::UnboundedSender<Tripwire>,
}

/// What the engine node is now.
struct EngineNode {
    up: bool,
    incarnation: u64,
}

/// State shared by the cluster, its fault runners and its restart timers (all `Send`).
struct Inner {
    config: ClusterConfig,
    clock: SharedClock,
    spawner: SharedSpawner,
    storage: SimStorage,
    slot: Arc<EngineSlot>,
    network: SimNetwork,
    log: SharedFaultLog,
    trace: SharedTrace,
    activities: ActivityFaults,
    service_config: ServiceConfig,
    engine: Mutex<EngineNode>,
    workers: Mutex<Vec<WorkerNode>>,
    /// Restart delays: a stream of their own, so that a plan replayed from a log restarts
    /// nodes after the same delays as the random run it came from.
    restarts: Mutex<Dice>,
    /// When faults stop, since the start, once `run_random` or `run_plan` set it.
    horizon: Mutex<Option<Duration>>,
    shutdown: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn trace(&self, node: &str, event: impl AsRef<str>) {
        self.trace.record(self.now(), node, event);
    }

    fn start_engine(&self, incarnation: u64, storage: SimStorage) {
        let config = ServiceConfig {
            // A new process draws run ids from a new stream: never the ids of the last one.
            seed: mix(self.service_config.seed, incarnation),
            ..self.service_config.clone()
        };
        let service = Arc::new(Service::new(Arc::new(storage), self.clock.clone(), config));
        let dead = Tripwire::new();
        let stop = dead.clone();
        let timers = service.clone();
        self.spawner.spawn(
            "engine timers",
            Box::pin(async move {
                let stopped = pin!(stop.tripped());
                let _ = select(stopped, Box::pin(timers.run_timers())).await;
            }),
        );
        *self.slot.lock() = Some((service, dead));
    }

    fn crash_engine(&self) -> bool {
        {
            let mut engine = lock(&self.engine);
            if !engine.up || self.shutdown.is_cancelled() {
                return false;
            }
            engine.up = false;
        }
        // Logs `Fault::CrashEngine`: the storage is the engine's disk.
        self.storage.crash();
        if let Some((_, dead)) = self.slot.lock().take() {
            dead.trip();
        }
        self.trace("engine", "crashed: in-flight calls fail, the timer loop stops");
        true
    }

    fn restart_engine(&self) -> bool {
        let incarnation = {
            let mut engine = lock(&self.engine);
            if engine.up || self.shutdown.is_cancelled() {
                return false;
            }
            engine.up = true;
            engine.incarnation += 1;
            engine.incarnation
        };
        let storage = self.storage.reopen();
        self.start_engine(incarnation, storage);
        self.trace(
            "engine",
            format!("restarted (incarnation {incarnation}) from storage"),
        );
        true
    }

    fn crash_worker(&self, i: u32) -> bool {
        let mut workers = lock(&self.workers);
        let Some(node) = workers.get_mut(i as usize) else {
            return false;
        };
        if !node.up || self.shutdown.is_cancelled() {
            return false;
        }
        node.up = false;
        node.kill.trip();
        drop(workers);
        self.log
            .record(self.now(), None, Fault::CrashWorker { worker: i });
        self.trace(&worker_node(i), "crashed: cache and in-flight tasks lost");
        true
    }

    fn restart_worker(&self, i: u32) -> bool {
        let mut workers = lock(&self.workers);
        let Some(node) = workers.get_mut(i as usize) else {
            return false;
        };
        if node.up || self.shutdown.is_cancelled() {
            return false;
        }
        node.up = true;
        node.kill = Tripwire::new();
        let _ = node.restart.unbounded_send(node.kill.clone());
        drop(workers);
        self.trace(&worker_node(i), "restarted with an empty cache");
        true
    }

    /// Restarts what `crash` took down after a seeded delay.
    fn schedule_restart(self: &Arc<Self>, what: Restart) {
        let delay = lock(&self.restarts).latency(self.config.restart_delay);
        let at = self.now().plus(delay);
        let inner = self.clone();
        self.spawner.spawn(
            "restart",
            Box::pin(async move {
                inner.clock.sleep_until(at).await;
                match what {
                    Restart::Engine => inner.restart_engine(),
                    Restart::Worker(i) => inner.restart_worker(i),
                };
            }),
        );
    }

    fn apply(self: &Arc<Self>, fault: &Fault) -> bool {
        match fault {
            Fault::CrashWorker { worker } => {
                let crashed = self.crash_worker(*worker);
                if crashed {
                    self.schedule_restart(Restart::Worker(*worker));
                }
                crashed
            }
            Fault::CrashEngine => {
                let crashed = self.crash_engine();
                if crashed {
                    self.schedule_restart(Restart::Engine);
                }
                crashed
            }
            // They apply at once, and the network logs and traces them.
            Fault::Partition { .. } | Fault::Heal { .. } => self.network.apply(fault),
            // One-shot knobs, logged by their component as the operation they hit starts.
            knob => {
                let armed = self.activities.apply(knob)
                    || self.storage.faults().apply(knob)
                    || self.network.apply(knob);
                if armed {
                    self.trace("faults", format!("armed: {knob}"));
                }
                armed
            }
        }
    }

    /// Plans `fault` at operation `op` on the component that counts such operations; says
    /// whether `op` takes it.
    fn plan_at(&self, op: Op, fault: &Fault) -> bool {
        match op {
            Op::Commit(n) => self.storage.faults().plan(n, fault),
            Op::Message(n) => self.network.plan(n, fault),
            Op::Attempt(n) => self.activities.plan(n, fault),
        }
    }

    /// Stops random faults and heals every partition.
    fn stop_faults(&self) {
        self.storage.faults().set_rates(&FaultRates::none());
        self.network.set_rates(&FaultRates::none());
        for node in self.network.nodes() {
            self.network.heal(&node);
        }
        self.trace("faults", "faults stop");
    }
}

/// The faults [`SimCluster::run_random`] and [`SimCluster::run_plan`] schedule.
struct FaultSchedule {
    /// When faults stop, since the start.
    horizon: Duration,
    /// Faults to apply at these times (those at the same time in this order).
    timed: Vec<(Timestamp, Fault)>,
    /// Random mode: activity faults armed and not taken by the horizon are disarmed there.
    disarm_at_horizon: bool,
}

/// Random mode's rolls at each [`RANDOM_FAULT_CADENCE`] tick.
struct Roller {
    rates: FaultRates,
    workers: u64,
    /// Crashes: the faults stream of the seed.
    crashes: Dice,
    /// Activity faults: a stream of their own, so that adding them left the crashes of
    /// every seed as they were.
    activities: Dice,
}

impl Roller {
    /// Rolls every tick after `origin` and before `end`: the crashes, as timed faults, and the
    /// activity faults, scheduled on `activities` at their ticks.
    fn roll_ticks(
        &mut self,
        origin: Timestamp,
        end: Timestamp,
        activities: &ActivityFaults,
    ) -> Vec<(Timestamp, Fault)> {
        let mut crashes = Vec::new();
        let ticks = (1u32..).map(|tick| origin.plus(RANDOM_FAULT_CADENCE * tick));
        for at in ticks.take_while(|at| *at < end) {
            // Always three draws per tick on each stream, whatever the rates.
            let crash_worker = self.crashes.chance(self.rates.crash_worker);
            let which = self.crashes.below(self.workers);
            let crash_engine = self.crashes.chance(self.rates.crash_engine);
            if crash_worker {
                crashes.push((at, Fault::CrashWorker { worker: which as u32 }));
            }
            if crash_engine {
                crashes.push((at, Fault::CrashEngine));
            }
            let fail_activity = self.activities.chance(self.rates.activity_failure);
            let attempts = 1 + self.activities.below(3) as u32;
            let time_out_activity = self.activities.chance(self.rates.activity_timeout);
            // Armed without a trace line: each attempt they affect is logged and traced with
            // its number, which is all a plan replaying this run arms.
            if fail_activity {
                activities.schedule(at, &Fault::FailActivity { attempts });
            }
            if time_out_activity {
                activities.schedule(at, &Fault::TimeOutActivity);
            }
        }
        crashes
    }
}

enum Restart {
    Engine,
    Worker(u32),
}

fn worker_node(i: u32) -> String {
    format!("worker-{i}")
}

/// Derives an independent seed from `seed` and `n` (splitmix64's finalizer over their mix).
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A simulated deployment whose nodes crash and restart. See the module documentation.
///
/// ```
/// use std::time::Duration;
/// use warpflow_engine::client::StartOptions;
/// use warpflow_engine::workflow::{Workflow, WorkflowCtx};
/// use warpflow_engine::{Registry, WorkflowResult};
/// use warpflow_sim::Fault;
/// use warpflow_testkit::cluster::{CLUSTER_TASK_QUEUE, ClusterConfig, SimCluster};
///
/// struct Nap;
/// impl Workflow for Nap {
///     const NAME: &'static str = "nap";
///     type Input = u64;
///     type Output = u64;
///     async fn run(ctx: WorkflowCtx, secs: u64) -> WorkflowResult<u64> {
///         ctx.sleep(Duration::from_secs(secs)).await;
///         Ok(secs)
///     }
/// }
///
/// let cluster = SimCluster::new(ClusterConfig::new(7), Registry::new().with_workflow::<Nap>());
/// let client = cluster.client();
/// let handle = cluster
///     .run(async move { client.start::<Nap>("nap-1", &60, StartOptions::new(CLUSTER_TASK_QUEUE)).await })
///     .expect("simulation")
///     .expect("started");
/// cluster.run_for(Duration::from_secs(1)).expect("simulation");
/// cluster.apply(&Fault::CrashEngine); // restarted after a short delay, from storage
/// assert_eq!(cluster.run(async move { handle.result().await }).expect("simulation"), Ok(60));
/// assert_eq!(cluster.fault_log().len(), 1);
/// ```
pub struct SimCluster {
    sim: Sim,
    inner: Arc<Inner>,
    client: Client,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster")
            .field("config", &self.inner.config)
            .field("now", &self.sim.now())
            .finish_non_exhaustive()
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
    }
}

impl SimCluster {
    /// A cluster of `config.workers` workers for the types in `registry`, the engine up,
    /// no faults armed.
    pub fn new(config: ClusterConfig, registry: Registry) -> SimCluster {
        let seed = config.seed;
        let sim = Sim::new(SimConfig {
            max_virtual_time: config.max_virtual_time,
            ..SimConfig::new(seed)
        });
        let clock: SharedClock = sim.clock();
        let spawner: SharedSpawner = sim.spawner();
        let log = SharedFaultLog::new();
        let trace = SharedTrace::new();
        let storage = SimStorage::new(MemoryStorage::new(), clock.clone(), stream(seed, Stream::Storage))
            .with_log(log.clone())
            .with_trace(trace.clone());
        let network = SimNetwork::new(clock.clone(), stream(seed, Stream::Network))
            .with_spawner(sim.spawner())
            .with_log(log.clone())
            .with_trace(trace.clone());
        let slot = Arc::new(EngineSlot::default());
        let service_config = ServiceConfig {
            seed: stream_seed(seed, Stream::Entropy),
            poll_timeout: wake_up_bound(&config),
            outcome_wait: Duration::from_secs(60),
            timer_idle_wait: wake_up_bound(&config),
            ..ServiceConfig::default()
        };
        let restarts = Dice::new(restart_stream(seed));
        let activities = ActivityFaults::new(clock.clone(), log.clone(), trace.clone());
        let registry = activities.wrap(&registry);
        let inner = Arc::new(Inner {
            config: config.clone(),
            clock: clock.clone(),
            spawner: spawner.clone(),
            storage: storage.clone(),
            slot: slot.clone(),
            network: network.clone(),
            log,
            trace,
            activities,
            service_config,
            engine: Mutex::new(EngineNode {
                up: true,
                incarnation: 0,
            }),
            workers: Mutex::new(Vec::new()),
            restarts: Mutex::new(restarts),
            horizon: Mutex::new(None),
            shutdown: CancellationToken::new(),
        });
        inner.start_engine(0, storage);

        for i in 0..config.workers {
            let (restart, mut restarts) = mpsc::unbounded::<Tripwire>();
            let kill = Tripwire::new();
            lock(&inner.workers).push(WorkerNode {
                up: true,
                kill: kill.clone(),
                restart,
            });
            let node = worker_node(i);
            let transport = network.transport(&node, slot.clone());
            let registry = registry.clone();
            let clock = clock.clone();
            let spawner = spawner.clone();
            let shutdown = inner.shutdown.clone();
            sim.spawn("worker", async move {
                let mut kill = kill;
                let mut incarnation = 0u32;
                loop {
                    let options = WorkerOptions {
                        identity: format!("{node}.{incarnation}"),
                        max_concurrent_workflow_tasks: 2,
                        ..WorkerOptions::default()
                    };
                    let worker = Worker::new(
                        transport.clone(),
                        CLUSTER_TASK_QUEUE,
                        registry.clone(),
                        options,
                        Arc::new(KillSpawner {
                            inner: spawner.clone(),
                            kill: kill.clone(),
                        }),
                        clock.clone(),
                    );
                    {
                        let run = pin!(worker.run(shutdown.clone()));
                        let killed = pin!(kill.tripped());
                        // A crash drops the worker's future: its cache and workflow tasks go.
                        // The switch first, as in `KillSpawner`.
                        let _ = select(killed, run).await;
                    }
                    if shutdown.is_cancelled() {
                        kill.trip();
                        return;
                    }
                    match restarts.next().await {
                        Some(next) => kill = next,
                        None => return,
                    }
                    incarnation += 1;
                }
            });
        }

        let client = Client::new(
            network.transport(CLIENT_NODE, slot),
            clock,
            mix(stream_seed(seed, Stream::Entropy), u64::MAX),
        )
        .with_retry(CallRetry {
            max_attempts: 10_000,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        });
        SimCluster { sim, inner, client }
    }

    /// The simulation everything runs on.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.inner.config.seed
    }

    /// A client on the `client-0` node, retrying unavailable calls (with the same request
    /// ids) for as long as a run may take.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The simulated storage (its original handle: knobs, crash, durable state).
    pub fn storage(&self) -> &SimStorage {
        &self.inner.storage
    }

    /// The durable state: what survives every crash.
    pub fn durable(&self) -> &MemoryStorage {
        self.inner.storage.durable()
    }

    /// The simulated network.
    pub fn network(&self) -> &SimNetwork {
        &self.inner.network
    }

    /// The engine's address (a transport to whatever engine is up).
    pub fn engine_slot(&self) -> Arc<EngineSlot> {
        self.inner.slot.clone()
    }

    /// The shared log of injected faults.
    pub fn fault_log(&self) -> SharedFaultLog {
        self.inner.log.clone()
    }

    /// The shared trace of the run.
    pub fn trace(&self) -> SharedTrace {
        self.inner.trace.clone()
    }

    /// The activity faults armed on the workers' activities.
    pub fn activity_faults(&self) -> ActivityFaults {
        self.inner.activities.clone()
    }

    /// Current virtual time.
    pub fn now(&self) -> Timestamp {
        self.sim.now()
    }

    /// Runs the simulation until `future` completes.
    pub fn run<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> Result<T, SimError> {
        self.sim.run_until(future)
    }

    /// Runs the simulation for `d` of virtual time.
    pub fn run_for(&self, d: Duration) -> Result<(), SimError> {
        self.sim.run_for(d)
    }

    /// Applies `fault` now (see the module documentation); says whether it took effect.
    /// Crashes restart by themselves after a seeded delay.
    pub fn apply(&self, fault: &Fault) -> bool {
        self.inner.apply(fault)
    }

    /// The engine crashes: commits in flight are lost, calls in flight fail, the timer loop
    /// stops. It stays down until [`SimCluster::restart_engine`].
    pub fn crash_engine(&self) -> bool {
        self.inner.crash_engine()
    }

    /// A new engine process over what storage committed.
    pub fn restart_engine(&self) -> bool {
        self.inner.restart_engine()
    }

    /// Worker `i` crashes: its cache, workflow tasks and activity attempts are gone. It stays
    /// down until [`SimCluster::restart_worker`].
    pub fn crash_worker(&self, i: u32) -> bool {
        self.inner.crash_worker(i)
    }

    /// Worker `i` starts again, with an empty cache.
    pub fn restart_worker(&self, i: u32) -> bool {
        self.inner.restart_worker(i)
    }

    /// Applies `plan` as the simulation runs: each fault at its [`When::At`] time since the
    /// start of the simulation (faults at a time already past apply at once), at its
    /// [`When::Step`], or as the operation it names starts ([`When::Op`]); faults stop at the
    /// plan's [end](FaultPlan::end) (partitions heal). Fails, arming nothing, if a fault is
    /// planned at an operation that cannot take it.
    pub fn run_plan(&self, plan: &FaultPlan) -> Result<(), PlanError> {
        plan.check()?;
        let start = self.sim.config().start;
        let mut timed = Vec::new();
        for (when, fault) in &plan.faults {
            match *when {
                When::At(after) => timed.push((start.plus(after), fault.clone())),
                When::Step(step) => {
                    let (inner, fault) = (self.inner.clone(), fault.clone());
                    self.sim.at_step(step, move || {
                        inner.apply(&fault);
                    });
                }
                When::Op(op) => {
                    // Checked above: the operation takes the fault.
                    self.inner.plan_at(op, fault);
                }
            }
        }
        self.schedule_faults(FaultSchedule {
            horizon: plan.end(),
            timed,
            disarm_at_horizon: false,
        });
        Ok(())
    }

    /// Random mode: storage and network draw their faults from `rates` on every commit and
    /// call, and every [`RANDOM_FAULT_CADENCE`] the cluster rolls for a worker crash and an
    /// engine crash (the faults stream of the seed), and for arming an activity failure (of
    /// 1 to 3 attempts) and an activity timeout (a stream of their own), until `horizon` after
    /// the start; then random faults stop, armed activity faults are disarmed, and every
    /// partition heals. [`SimCluster::fault_plan`] then gives the plan that replays the run.
    pub fn run_random(&self, rates: &FaultRates, horizon: Duration) {
        self.inner.storage.faults().set_rates(rates);
        self.inner.network.set_rates(rates);
        let seed = self.inner.config.seed;
        let mut roller = Roller {
            rates: *rates,
            workers: u64::from(self.inner.config.workers.max(1)),
            crashes: Dice::new(stream(seed, Stream::Faults)),
            activities: Dice::new(activity_fault_stream(seed)),
        };
        let end = self.sim.config().start.plus(horizon);
        let timed = roller.roll_ticks(self.sim.now(), end, &self.inner.activities);
        self.schedule_faults(FaultSchedule {
            horizon,
            timed,
            disarm_at_horizon: true,
        });
    }

    /// Schedules a run's faults (see the module documentation and [`FaultSchedule`]) as time
    /// actions of the simulation: each timed fault (those at one time run in the order they
    /// are registered), then the end of faults at the horizon.
    fn schedule_faults(&self, schedule: FaultSchedule) {
        let FaultSchedule {
            horizon,
            timed,
            disarm_at_horizon,
        } = schedule;
        *lock(&self.inner.horizon) = Some(horizon);
        for (at, fault) in timed {
            let inner = self.inner.clone();
            self.sim.at_time(at, move || {
                inner.apply(&fault);
            });
        }
        let inner = self.inner.clone();
        self.sim.at_time(self.sim.config().start.plus(horizon), move || {
            if disarm_at_horizon {
                // Random arming not taken by now is not a fault of this run.
                inner.activities.clear();
            }
            inner.stop_faults();
        });
    }

    /// Stops storage and network faults drawn from rates now, disarms the activity faults
    /// armed or scheduled and not yet taken, and heals every partition. Crashes still to come
    /// (a plan's, or those a random run rolled up front) still apply.
    pub fn stop_faults(&self) {
        self.inner.activities.clear();
        self.inner.stop_faults();
    }

    /// The faults injected so far as a plan that replays this run on a fresh cluster of the
    /// same seed and shape: per-operation faults at their operations, crashes at their times
    /// (see [`FaultLog::to_plan`](warpflow_sim::FaultLog::to_plan)), and the horizon of
    /// [`SimCluster::run_random`] or [`SimCluster::run_plan`].
    pub fn fault_plan(&self) -> FaultPlan {
        let plan = self.inner.log.to_plan(self.sim.config().start);
        match *lock(&self.inner.horizon) {
            Some(horizon) => plan.with_horizon(horizon),
            None => plan,
        }
    }

    /// Stops every node's background work.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
        for node in lock(&self.inner.workers).iter() {
            node.kill.trip();
        }
        if let Some((_, dead)) = self.inner.slot.lock().take() {
            dead.trip();
        }
    }
}

fn activity_fault_stream(seed: u64) -> ChaCha8Rng {
    use rand_chacha::rand_core::SeedableRng;
    ChaCha8Rng::seed_from_u64(mix(stream_seed(seed, Stream::Faults), 0xAC71))
}

fn restart_stream(seed: u64) -> ChaCha8Rng {
    use rand_chacha::rand_core::SeedableRng;
    ChaCha8Rng::seed_from_u64(mix(stream_seed(seed, Stream::Faults), 0xC4A5))
}
