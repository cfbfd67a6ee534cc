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
    Fault, FaultPlan, FaultRates, LatencyRange, NetworkConfig, SharedFaultLog, SharedTrace, SimNetwork, When,
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
        [(T0, Fault::DropMessages { count: 1 })]
    );
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
    assert_eq!(s.log.snapshot().entries(), [(T0, Fault::DuplicateNextRequest)]);
}

#[test]
fn a_lost_reply_is_delivered_once_and_the_caller_sees_unavailable() {
    let s = Setup::new(ManualClock::auto(), 3);
    let worker = s.transport("worker-0");
    s.network.lose_next_reply();
    assert_eq!(block_on(worker.call(request("a"))), unavailable("reply lost"));
    assert_eq!(s.engine.delivered(), ["a"]);
    assert_eq!(s.now(), at(1_000));
    assert_eq!(s.log.snapshot().entries(), [(T0, Fault::LoseNextReply)]);
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
    let faults: Vec<Fault> = s
        .log
        .snapshot()
        .entries()
        .iter()
        .map(|(_, f)| f.clone())
        .collect();
    assert_eq!(
        faults,
        [Fault::Partition { node: node() }, Fault::Heal { node: node() }]
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
/// with `plan` armed as its faults fall due.
fn run(seed: u64, rates: &FaultRates, plan: &FaultPlan) -> Observed {
    let s = Setup::new(ManualClock::auto(), seed);
    s.network.set_config(NetworkConfig {
        latency: LatencyRange::millis(0, 10),
        loss_timeout: Duration::from_millis(200),
        partition_length: LatencyRange::millis(20, 300),
    });
    s.network.set_rates(rates);
    let transports: Vec<_> = NODES.iter().map(|n| s.transport(n)).collect();
    let mut pending = plan.faults.iter().peekable();
    let mut results = Vec::new();
    for i in 0..150 {
        let elapsed = s.now().since(T0);
        while let Some((When::At(d), fault)) = pending.peek() {
            if *d > elapsed {
                break;
            }
            assert!(s.network.apply(fault), "{fault} is a network fault");
            pending.next();
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
    let count = |pred: &dyn Fn(&Fault) -> bool| random.log.entries().iter().filter(|(_, f)| pred(f)).count();
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
