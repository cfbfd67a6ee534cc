//! `SimNetwork` against a fake engine transport that counts deliveries: loss, duplication,
//! lost replies, partitions, reordering, determinism, and fault logs that replay as plans.

mod support;

use futures::executor::block_on;
use futures::future::BoxFuture;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{ManualClock, T0, at, drive, poll_once};
use warpflow_engine::ids::WorkflowId;
use warpflow_engine::service::{Request, Response, ServiceError, Transport};
use warpflow_sim::{
    Fault, FaultPlan, FaultRates, LatencyRange, LoggedFault, NetworkConfig, Op, SharedFaultLog, SharedTrace,
    SimNetwork, When,
};

/// The engine's side: records every request delivered to it, answers `Ack`.
#[derive(Debug, Default)]
struct Engine {
    delivered: Mutex<Vec<String>>,
}

impl Engine {
    fn delivered(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.delivered.lock().unwrap().len()
    }
}

impl Transport for Engine {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, ServiceError>> {
        let name = match request {
            Request::ListRuns { workflow_id } => workflow_id.map(|w| w.to_string()).unwrap_or_default(),
            other => format!("{other:?}"),
        };
        self.delivered.lock().unwrap().push(name);
        Box::pin(async { Ok(Response::Ack) })
    }
}

/// A request the fake engine knows by `name`.
fn request(name: &str) -> Request {
    Request::ListRuns {
        workflow_id: Some(WorkflowId::new(name)),
    }
}

fn unavailable(what: &str) -> Result<Response, ServiceError> {
    Err(ServiceError::Unavailable(what.to_owned()))
}

struct Setup {
    clock: ManualClock,
    network: SimNetwork,
    engine: Arc<Engine>,
    log: SharedFaultLog,
    trace: SharedTrace,
}

impl Setup {
    fn new(clock: ManualClock, seed: u64) -> Setup {
        let log = SharedFaultLog::new();
        let trace = SharedTrace::new();
        let network = SimNetwork::new(clock.shared(), ChaCha8Rng::seed_from_u64(seed))
            .with_log(log.clone())
            .with_trace(trace.clone());
        Setup {
            clock,
            network,
            engine: Arc::new(Engine::default()),
            log,
            trace,
        }
    }

    fn transport(&self, node: &str) -> Arc<dyn Transport> {
        self.network.transport(node, self.engine.clone())
    }

    fn now(&self) -> warpflow_engine::time::Timestamp {
        self.clock.shared().now()
    }
}

#[test]
fn a_dropped_request_is_not_delivered_and_the_caller_times_out() {
    let s = Setup::new(ManualClock::auto(), 1);
    let worker = s.transport("worker-0");
    s.network.drop_next(1);
    assert_eq!(block_on(worker.call(request("a"))), unavailable("message lost"));
    assert_eq!(s.engine.count(), 0);
    assert_eq!(s.now(), at(1_000), "after the loss timeout, not hanging");
    assert_eq!(block_on(worker.call(request("b"))), Ok(Response::Ack));
    assert_eq!(s.engine.delivered(), ["b"]);
    assert_eq!(
        s.log.snapshot().entries(),
        [hit(T0, 1, Fault::DropMessages { count: 1 })]
    );
}

/// A log entry: `fault` decided at `at` for call number `message`.
fn hit(at: warpflow_engine::time::Timestamp, message: u64, fault: Fault) -> LoggedFault {
    LoggedFault {
        at,
        op: Some(Op::Message(message)),
        fault,
    }
}

#[test]
fn a_duplicated_request_is_delivered_twice_with_one_response() {
    let s = Setup::new(ManualClock::auto(), 2);
    let worker = s.transport("worker-0");
    s.network.duplicate_next();
    assert_eq!(block_on(worker.call(request("a"))), Ok(Response::Ack));
    assert_eq!(s.engine.delivered(), ["a", "a"]);
    assert_eq!(block_on(worker.call(request("b"))), Ok(Response::Ack));
    assert_eq!(s.engine.delivered(), ["a", "a", "b"]);
    assert_eq!(
        s.log.snapshot().entries(),
        [hit(T0, 1, Fault::DuplicateNextRequest)]
    );
}

#[test]
fn a_lost_reply_is_delivered_once_and_the_caller_sees_unavailable() {
    let s = Setup::new(ManualClock::auto(), 3);
    let worker = s.transport("worker-0");
    s.network.lose_next_reply();
    assert_eq!(block_on(worker.call(request("a"))), unavailable("reply lost"));
    assert_eq!(s.engine.delivered(), ["a"]);
    assert_eq!(s.now(), at(1_000));
    assert_eq!(s.log.snapshot().entries(), [hit(T0, 1, Fault::LoseNextReply)]);
}

#[test]
fn a_partitioned_node_fails_fast_until_healed() {
    let s = Setup::new(ManualClock::auto(), 4);
    let (w0, w1) = (s.transport("worker-0"), s.transport("worker-1"));
    s.network.partition("worker-0");
    assert!(s.network.is_partitioned("worker-0"));
    let before = s.now();
    assert_eq!(
        block_on(w0.call(request("a"))),
        unavailable("worker-0 is partitioned")
    );
    assert_eq!(s.now(), before, "fails fast");
    assert_eq!(block_on(w1.call(request("b"))), Ok(Response::Ack));
    s.network.heal("worker-0");
    assert!(!s.network.is_partitioned("worker-0"));
    assert_eq!(block_on(w0.call(request("c"))), Ok(Response::Ack));
    assert_eq!(s.engine.delivered(), ["b", "c"]);
    let node = || "worker-0".to_owned();
    let log = s.log.snapshot();
    assert_eq!(
        log.faults().cloned().collect::<Vec<_>>(),
        [Fault::Partition { node: node() }, Fault::Heal { node: node() }]
    );
    assert!(
        log.entries().iter().all(|entry| entry.op.is_none()),
        "applied at a time, not at a call:\n{log}"
    );
    assert_eq!(s.network.nodes(), ["worker-0", "worker-1"]);
}

#[test]
fn a_partition_loses_the_messages_in_flight() {
    let s = Setup::new(ManualClock::manual(), 5);
    s.network.set_config(NetworkConfig {
        latency: LatencyRange::millis(5, 5),
        ..NetworkConfig::default()
    });
    let worker = s.transport("worker-0");
    let mut call = worker.call(request("a"));
    assert!(poll_once(&mut call).is_none());
    s.network.partition("worker-0");
    let result = drive(&s.clock, Duration::from_secs(2), call);
    assert_eq!(result, unavailable("message lost"));
    assert_eq!(s.engine.count(), 0);
    assert_eq!(s.now(), at(1_000));
}

#[test]
fn requests_are_delivered_in_the_order_of_their_latencies() {
    let s = Setup::new(ManualClock::manual(), 6);
    s.network.set_config(NetworkConfig {
        latency: LatencyRange::millis(0, 50),
        ..NetworkConfig::default()
    });
    let worker = s.transport("worker-0");
    let names: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let calls = futures::future::join_all(names.iter().map(|n| worker.call(request(n))));
    let results = drive(&s.clock, Duration::from_secs(1), calls);
    assert!(results.iter().all(|r| *r == Ok(Response::Ack)));
    let delivered = s.engine.delivered();
    let mut sorted = delivered.clone();
    sorted.sort();
    assert_eq!(sorted, names, "each delivered once");
    assert_ne!(delivered, names, "reordered by latency");
    // The trace shows the deliveries in time order.
    let trace = s.trace.snapshot();
    let times: Vec<_> = trace
        .lines()
        .iter()
        .filter(|l| l.event.starts_with("deliver"))
        .map(|l| l.at)
        .collect();
    assert!(times.is_sorted(), "{times:?}");
}

/// The rates used by the random runs below: high, so that a short run meets every fault.
fn busy_rates() -> FaultRates {
    FaultRates {
        drop_message: 0.15,
        duplicate_request: 0.15,
        lose_reply: 0.15,
        partition: 0.05,
        ..FaultRates::none()
    }
}

const NODES: [&str; 3] = ["worker-0", "worker-1", "client-0"];

/// What a run observes: each call's node and result, the deliveries, the log and the trace.
#[derive(Debug, PartialEq)]
struct Observed {
    results: Vec<(String, Result<Response, ServiceError>)>,
    delivered: Vec<String>,
    log: warpflow_sim::FaultLog,
    trace_hash: u64,
    trace: String,
}

/// 150 sequential calls from the three nodes, 10 ms apart; in random mode with `rates`, or
/// with `plan`: its faults at a call number planned on the network, its timed faults armed as
/// they fall due.
fn run(seed: u64, rates: &FaultRates, plan: &FaultPlan) -> Observed {
    let s = Setup::new(ManualClock::auto(), seed);
    s.network.set_config(NetworkConfig {
        latency: LatencyRange::millis(0, 10),
        loss_timeout: Duration::from_millis(200),
        partition_length: LatencyRange::millis(20, 300),
    });
    s.network.set_rates(rates);
    let transports: Vec<_> = NODES.iter().map(|n| s.transport(n)).collect();
    let mut timed = Vec::new();
    for (when, fault) in &plan.faults {
        match when {
            When::Op(Op::Message(n)) => assert!(s.network.plan(*n, fault), "{fault} is a network fault"),
            When::At(d) => timed.push((*d, fault)),
            other => panic!("{other} is not a network test's"),
        }
    }
    let mut pending = timed.into_iter().peekable();
    let mut results = Vec::new();
    for i in 0..150 {
        let elapsed = s.now().since(T0);
        while let Some((_, fault)) = pending.next_if(|(d, _)| *d <= elapsed) {
            assert!(s.network.apply(fault), "{fault} is a network fault");
        }
        let node = i % NODES.len();
        let result = block_on(transports[node].call(request(&format!("m{i}"))));
        results.push((NODES[node].to_owned(), result));
        s.clock.advance(Duration::from_millis(10));
    }
    Observed {
        results,
        delivered: s.engine.delivered(),
        log: s.log.snapshot(),
        trace_hash: s.trace.hash(),
        trace: s.trace.render(),
    }
}

#[test]
fn the_same_seed_reproduces_the_same_run() {
    let first = run(11, &busy_rates(), &FaultPlan::new());
    let again = run(11, &busy_rates(), &FaultPlan::new());
    assert_eq!(first, again);
    assert_ne!(
        first.trace_hash,
        run(12, &busy_rates(), &FaultPlan::new()).trace_hash
    );
}

#[test]
fn every_fault_is_logged_and_the_log_replays_as_a_plan() {
    let random = run(13, &busy_rates(), &FaultPlan::new());
    let count = |pred: &dyn Fn(&Fault) -> bool| random.log.faults().filter(|f| pred(f)).count();
    let drops = count(&|f| matches!(f, Fault::DropMessages { count: 1 }));
    let duplicates = count(&|f| *f == Fault::DuplicateNextRequest);
    let lost_replies = count(&|f| *f == Fault::LoseNextReply);
    let partitions = count(&|f| matches!(f, Fault::Partition { .. }));
    let heals = count(&|f| matches!(f, Fault::Heal { .. }));
    assert!(
        drops > 0 && duplicates > 0 && lost_replies > 0 && partitions > 0 && heals > 0,
        "the run meets every network fault:\n{}",
        random.log
    );
    assert_eq!(
        drops + duplicates + lost_replies + partitions + heals,
        random.log.len()
    );
    // Each fault shows in what the callers and the engine saw.
    let seen = |what: &str| {
        random
            .results
            .iter()
            .filter(|(_, r)| *r == unavailable(what))
            .count()
    };
    assert_eq!(seen("message lost"), drops);
    assert_eq!(seen("reply lost"), lost_replies);
    assert_eq!(
        random.delivered.len(),
        150 - drops - seen_refused(&random) + duplicates
    );
    assert!(seen_refused(&random) >= partitions);

    // Every fault of a random run is decided as a call starts, and logged with its number.
    assert!(
        random
            .log
            .entries()
            .iter()
            .all(|e| matches!(e.op, Some(Op::Message(_)))),
        "{}",
        random.log
    );
    // The log as a plan, replayed on the same seed without random faults, is the same run.
    let plan = random.log.to_plan(T0);
    let replayed = run(13, &FaultRates::none(), &plan);
    assert_eq!(replayed.results, random.results);
    assert_eq!(replayed.delivered, random.delivered);
    assert_eq!(replayed.log, random.log);
    assert_eq!(replayed.trace, random.trace);
    assert_eq!(replayed.trace_hash, random.trace_hash);
    assert_eq!(replayed.log.to_plan(T0), plan);
}

/// The call numbers and faults of a log.
fn ops_and_faults(log: &warpflow_sim::FaultLog) -> Vec<(Option<Op>, Fault)> {
    log.entries().iter().map(|e| (e.op, e.fault.clone())).collect()
}

#[test]
fn a_fault_planned_at_a_call_number_hits_that_call() {
    let s = Setup::new(ManualClock::auto(), 17);
    let worker = s.transport("worker-0");
    let other = || "worker-1".to_owned();
    assert!(s.network.plan(2, &Fault::DropMessages { count: 1 }));
    assert!(s.network.plan(3, &Fault::Partition { node: other() }));
    assert!(!s.network.plan(3, &Fault::FailCommit), "not a network fault");
    assert!(!s.network.plan(3, &Fault::CrashWorker { worker: 0 }));
    let results: Vec<_> = ["a", "b", "c"]
        .map(|name| block_on(worker.call(request(name))))
        .into();
    assert_eq!(
        results,
        [Ok(Response::Ack), unavailable("message lost"), Ok(Response::Ack)]
    );
    assert_eq!(s.engine.delivered(), ["a", "c"]);
    assert!(
        s.network.is_partitioned("worker-1"),
        "a planned partition names its node"
    );
    assert_eq!(
        ops_and_faults(&s.log.snapshot()),
        [
            (Some(Op::Message(2)), Fault::DropMessages { count: 1 }),
            (Some(Op::Message(3)), Fault::Partition { node: other() }),
        ]
    );
}

#[test]
fn a_random_partition_lasts_until_the_node_calls_after_its_length() {
    let s = Setup::new(ManualClock::auto(), 18);
    s.network.set_config(NetworkConfig {
        partition_length: LatencyRange::millis(100, 100),
        ..NetworkConfig::default()
    });
    let (w0, w1) = (s.transport("worker-0"), s.transport("worker-1"));
    s.network.set_rates(&FaultRates {
        partition: 1.0,
        ..FaultRates::none()
    });
    assert_eq!(
        block_on(w0.call(request("a"))),
        unavailable("worker-0 is partitioned")
    );
    s.network.set_rates(&FaultRates::none());
    s.clock.advance(Duration::from_secs(1));
    assert!(
        s.network.is_partitioned("worker-0"),
        "cut off past its length, until its next call"
    );
    assert_eq!(block_on(w1.call(request("b"))), Ok(Response::Ack));
    assert!(
        s.network.is_partitioned("worker-0"),
        "another node's call does not heal it"
    );
    assert_eq!(block_on(w0.call(request("c"))), Ok(Response::Ack));
    assert!(!s.network.is_partitioned("worker-0"));
    let node = || "worker-0".to_owned();
    assert_eq!(
        ops_and_faults(&s.log.snapshot()),
        [
            (Some(Op::Message(1)), Fault::Partition { node: node() }),
            (Some(Op::Message(3)), Fault::Heal { node: node() }),
        ]
    );
}

fn seen_refused(observed: &Observed) -> usize {
    observed
        .results
        .iter()
        .filter(|(node, r)| *r == unavailable(&format!("{node} is partitioned")))
        .count()
}

#[test]
fn random_mode_at_rate_zero_injects_nothing() {
    let quiet = run(14, &FaultRates::none(), &FaultPlan::new());
    assert!(quiet.log.is_empty());
    assert!(quiet.results.iter().all(|(_, r)| *r == Ok(Response::Ack)));
    assert_eq!(quiet.delivered.len(), 150);
}

#[test]
fn plans_arm_network_faults_only() {
    let s = Setup::new(ManualClock::auto(), 15);
    assert!(s.network.apply(&Fault::DropMessages { count: 2 }));
    assert!(!s.network.apply(&Fault::FailCommit));
    assert!(!s.network.apply(&Fault::CrashWorker { worker: 0 }));
    let worker = s.transport("worker-0");
    assert_eq!(block_on(worker.call(request("a"))), unavailable("message lost"));
    assert_eq!(block_on(worker.call(request("b"))), unavailable("message lost"));
    assert_eq!(block_on(worker.call(request("c"))), Ok(Response::Ack));
    assert_eq!(s.engine.delivered(), ["c"]);
}

#[test]
fn the_trace_tells_what_happened() {
    let s = Setup::new(ManualClock::auto(), 16);
    s.network.set_config(NetworkConfig {
        latency: LatencyRange::millis(1, 1),
        ..NetworkConfig::default()
    });
    let worker = s.transport("worker-0");
    s.network.duplicate_next();
    block_on(worker.call(request("a"))).unwrap();
    assert_eq!(
        s.trace.render(),
        "2026-01-01T00:00:00.000Z worker-0 send #1 ListRuns\n\
         2026-01-01T00:00:00.000Z worker-0 #1 duplicated (injected)\n\
         2026-01-01T00:00:00.001Z worker-0 deliver #1\n\
         2026-01-01T00:00:00.002Z worker-0 reply #1 Ack\n\
         2026-01-01T00:00:00.002Z worker-0 deliver #1 (duplicate)\n\
         2026-01-01T00:00:00.003Z worker-0 reply #1 (duplicate) Ack\n"
    );
}
