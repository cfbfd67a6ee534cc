//! [`SimNetwork`]: named nodes (workers, clients) calling the engine over a simulated
//! network with seeded latency, loss, duplication, lost replies and partitions.
//!
//! [`SimNetwork::transport`] gives a node a [`Transport`] to the engine behind another
//! transport (in the simulator, the engine's in-process one). Each call is one request and
//! one reply, numbered from 1 across nodes, and its fate is decided when the call starts
//! (recorded in the [`FaultLog`](crate::FaultLog) at that virtual time with the call's number,
//! [`Op::Message`], whether the fault came from a one-shot knob, from a
//! fault planned at that number, or from the random rates):
//! - a **partitioned** node's call fails fast with `Unavailable`;
//! - a **dropped** request is never delivered; the caller gets `Unavailable("message
//!   lost")` after [`NetworkConfig::loss_timeout`] rather than hanging;
//! - otherwise the request travels for a seeded latency, is delivered, and the reply travels
//!   back for another; calls in flight overtake each other by their latencies, so reordering
//!   happens naturally on a virtual clock;
//! - a **duplicated** request is delivered twice, each copy with its own latencies (the
//!   caller waits for both, gets the reply that arrives first, and the other is discarded):
//!   this is what exercises the service's idempotency;
//! - a **lost reply**: the request is delivered and has its effect, the caller gets
//!   `Unavailable("reply lost")` at the loss timeout (or when the reply would have arrived,
//!   if later);
//! - a partition that starts while a message is in flight loses it (the caller times out).
//!
//! In random mode ([`SimNetwork::set_rates`]), each call rolls for a partition of its node
//! (lasting at least [`NetworkConfig::partition_length`]: it heals at the node's first call
//! after that, and the node is cut off until then), a drop, a duplication and a lost reply.
//! Each call draws the same number of values from the [`Dice`] whatever happens, so the
//! latencies do not depend on the rates. Partitions and heals therefore only ever happen as
//! a call starts (or when a test or a plan's timed fault applies them), and a plan made from
//! the log ([`SimNetwork::plan`] at each call's number) replays a random run exactly.
//!
//! Everything the network does goes to the optional [`Trace`](crate::Trace), on the caller's
//! node: sends, deliveries, replies (by request and response kind), losses and timeouts.

use crate::dice::{Dice, LatencyRange};
use crate::fault::{Fault, FaultRates, Op, PlannedOps, SharedFaultLog};
use crate::trace::{EventText, SharedTrace};
use futures::future::BoxFuture;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use warpflow_engine::env::{SharedClock, SharedSpawner};
use warpflow_engine::service::{Request, Response, ServiceError, Transport};
use warpflow_engine::time::Timestamp;

/// The network's latencies and timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// One-way latency of each message (request or reply).
    pub latency: LatencyRange,
    /// How long after sending a caller learns that its request or reply was lost.
    pub loss_timeout: Duration,
    /// How long a random partition lasts.
    pub partition_length: LatencyRange,
}

impl Default for NetworkConfig {
    /// 0 to 5 ms each way, lost messages noticed after 1 s, random partitions of 100 ms to
    /// 5 s.
    fn default() -> NetworkConfig {
        NetworkConfig {
            latency: LatencyRange::millis(0, 5),
            loss_timeout: Duration::from_secs(1),
            partition_length: LatencyRange::millis(100, 5_000),
        }
    }
}

/// A simulated network. See the module documentation. Clones share the network.
#[derive(Clone)]
pub struct SimNetwork {
    clock: SharedClock,
    shared: Arc<Mutex<Shared>>,
    /// When set, the second copy of a duplicated request runs detached, so its caller takes
    /// the first reply without waiting for the other copy (a long poll, say).
    spawner: Option<SharedSpawner>,
}

/// The network's state. Behind a std mutex that is only held inside synchronous blocks,
/// never across an await.
struct Shared {
    dice: Dice,
    config: NetworkConfig,
    rates: FaultRates,
    /// One-shot knobs: how many upcoming calls are dropped / duplicated / lose their reply.
    drop_next: u32,
    duplicate_next: u32,
    lose_reply_next: u32,
    /// Faults planned at call numbers, armed as that call starts.
    planned: PlannedOps,
    /// Partitioned nodes, with when a random partition ends (`None`: until healed).
    partitions: BTreeMap<String, Option<Timestamp>>,
    /// Nodes that were given a transport.
    nodes: BTreeSet<String>,
    log: SharedFaultLog,
    trace: Option<SharedTrace>,
    /// Numbers calls in the trace.
    messages: u64,
}

/// The fate of one call, decided when it starts.
enum Route {
    /// The node is partitioned: fail fast.
    Refused,
    /// The request is lost.
    Dropped,
    /// The request is delivered (twice if `duplicate`), the reply maybe lost.
    Deliver {
        duplicate: bool,
        lose_reply: bool,
        /// Request and reply latencies of the original and of the duplicate.
        latencies: [Duration; 4],
    },
}

impl Shared {
    fn trace(&self, at: Timestamp, node: &str, event: impl AsRef<str>) {
        if let Some(trace) = &self.trace {
            trace.record(at, node, event);
        }
    }

    /// Traces a line whose event `write` spells into the trace's buffer.
    fn trace_with(
        &self,
        at: Timestamp,
        node: &str,
        write: impl for<'a> FnOnce(EventText<'a>) -> EventText<'a>,
    ) {
        if let Some(trace) = &self.trace {
            trace.record_with(at, node, write);
        }
    }

    fn partition(&mut self, node: &str, until: Option<Timestamp>, now: Timestamp, op: Option<Op>) {
        if self.partitions.contains_key(node) {
            return;
        }
        self.partitions.insert(node.to_owned(), until);
        self.log.record(
            now,
            op,
            Fault::Partition {
                node: node.to_owned(),
            },
        );
        // The same line for a random partition and a planned one, so that a run replayed
        // from its fault log has the same trace; the `healed` line says when it ended.
        self.trace(now, node, "partitioned");
    }

    fn heal(&mut self, node: &str, now: Timestamp, op: Option<Op>) {
        if self.partitions.remove(node).is_some() {
            self.log.record(
                now,
                op,
                Fault::Heal {
                    node: node.to_owned(),
                },
            );
            self.trace(now, node, "healed");
        }
    }

    /// Whether `node`, starting call `op`, is cut off, healing a random partition that has
    /// lasted its length. Only a call of the node heals it, so that a heal always falls on
    /// a call's start, where a plan can arm it again.
    fn check_caller(&mut self, node: &str, now: Timestamp, op: Op) -> bool {
        match self.partitions.get(node) {
            None => false,
            Some(None) => true,
            Some(Some(until)) if *until > now => true,
            Some(Some(_)) => {
                self.heal(node, now, Some(op));
                false
            }
        }
    }

    /// Arms `fault` if it is a network fault, and says whether it was: the one-shot knobs
    /// count up, partitions and heals apply at once (logged with `op`).
    fn arm(&mut self, fault: &Fault, now: Timestamp, op: Option<Op>) -> bool {
        match fault {
            Fault::DropMessages { count } => self.drop_next = self.drop_next.saturating_add(*count),
            Fault::DuplicateNextRequest => self.duplicate_next += 1,
            Fault::LoseNextReply => self.lose_reply_next += 1,
            Fault::Partition { node } => self.partition(node, None, now, op),
            Fault::Heal { node } => self.heal(node, now, op),
            _ => return false,
        }
        true
    }

    /// Decides the fate of a call from `node` (see the module documentation).
    fn route(&mut self, node: &str, now: Timestamp) -> (u64, Route) {
        self.messages += 1;
        let number = self.messages;
        let op = Op::Message(number);
        for fault in self.planned.take(number) {
            self.arm(&fault, now, Some(op));
        }
        // Always nine draws, in this order, whatever the knobs, rates and partitions.
        let roll_partition = self.dice.chance(self.rates.partition);
        let partition_length = self.dice.latency(self.config.partition_length);
        let roll_drop = self.dice.chance(self.rates.drop_message);
        let roll_duplicate = self.dice.chance(self.rates.duplicate_request);
        let roll_lose = self.dice.chance(self.rates.lose_reply);
        let latencies = self.dice.latencies(self.config.latency);

        if self.check_caller(node, now, op) {
            return (number, Route::Refused);
        }
        if roll_partition {
            self.partition(node, Some(now.plus(partition_length)), now, Some(op));
            return (number, Route::Refused);
        }
        if take(&mut self.drop_next) || roll_drop {
            self.log.record(now, Some(op), Fault::DropMessages { count: 1 });
            return (number, Route::Dropped);
        }
        let duplicate = take(&mut self.duplicate_next) || roll_duplicate;
        if duplicate {
            self.log.record(now, Some(op), Fault::DuplicateNextRequest);
        }
        let lose_reply = take(&mut self.lose_reply_next) || roll_lose;
        if lose_reply {
            self.log.record(now, Some(op), Fault::LoseNextReply);
        }
        (
            number,
            Route::Deliver {
                duplicate,
                lose_reply,
                latencies,
            },
        )
    }
}

/// Consumes one unit of a one-shot knob.
fn take(counter: &mut u32) -> bool {
    if *counter > 0 {
        *counter -= 1;
        true
    } else {
        false
    }
}

impl SimNetwork {
    /// A network on `clock`, drawing latencies and faults from `rng`: the default
    /// [`NetworkConfig`], no random faults, a fresh log, no trace.
    pub fn new(clock: SharedClock, rng: ChaCha8Rng) -> SimNetwork {
        let shared = Shared {
            dice: Dice::new(rng),
            config: NetworkConfig::default(),
            rates: FaultRates::none(),
            drop_next: 0,
            duplicate_next: 0,
            lose_reply_next: 0,
            planned: PlannedOps::default(),
            partitions: BTreeMap::new(),
            nodes: BTreeSet::new(),
            log: SharedFaultLog::new(),
            trace: None,
            messages: 0,
        };
        SimNetwork {
            clock,
            shared: Arc::new(Mutex::new(shared)),
            spawner: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // Nothing panics while holding the lock; the state stays meaningful if something did.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// This network with `config`.
    pub fn with_config(self, config: NetworkConfig) -> SimNetwork {
        self.set_config(config);
        self
    }

    /// This network drawing random faults from `rates` (see [`SimNetwork::set_rates`]).
    pub fn with_rates(self, rates: &FaultRates) -> SimNetwork {
        self.set_rates(rates);
        self
    }

    /// This network recording injected faults in `log`.
    pub fn with_log(self, log: SharedFaultLog) -> SimNetwork {
        self.lock().log = log;
        self
    }

    /// This network recording what it does in `trace`.
    pub fn with_trace(self, trace: SharedTrace) -> SimNetwork {
        self.lock().trace = Some(trace);
        self
    }

    /// Runs the second copy of a duplicated request detached on `spawner`: the caller gets
    /// the original's reply without waiting for the copy, which is still delivered and acts.
    pub fn with_spawner(mut self, spawner: SharedSpawner) -> SimNetwork {
        self.spawner = Some(spawner);
        self
    }

    /// Latencies and timeouts from now on.
    pub fn set_config(&self, config: NetworkConfig) {
        self.lock().config = config;
    }

    /// Random mode: each call rolls `rates.partition`, `drop_message`, `duplicate_request`
    /// and `lose_reply` (the other rates are not the network's). [`FaultRates::none`] turns
    /// it off.
    pub fn set_rates(&self, rates: &FaultRates) {
        self.lock().rates = *rates;
    }

    /// The log injected faults go to.
    pub fn log(&self) -> SharedFaultLog {
        self.lock().log.clone()
    }

    /// A transport for `node` to the engine behind `target`.
    pub fn transport(&self, node: &str, target: Arc<dyn Transport>) -> Arc<dyn Transport> {
        self.lock().nodes.insert(node.to_owned());
        Arc::new(NodeTransport {
            node: Arc::from(node),
            target,
            network: self.clone(),
        })
    }

    /// The nodes that were given a transport, in order.
    pub fn nodes(&self) -> Vec<String> {
        self.lock().nodes.iter().cloned().collect()
    }

    /// The next `count` calls (from any node) lose their request.
    pub fn drop_next(&self, count: u32) {
        self.apply(&Fault::DropMessages { count });
    }

    /// The next call (from any node) is delivered twice.
    pub fn duplicate_next(&self) {
        self.apply(&Fault::DuplicateNextRequest);
    }

    /// The next call (from any node) is delivered, and its reply lost.
    pub fn lose_next_reply(&self) {
        self.apply(&Fault::LoseNextReply);
    }

    /// Cuts `node` off until [`SimNetwork::heal`] (nothing if it is cut off already).
    pub fn partition(&self, node: &str) {
        self.apply(&Fault::Partition {
            node: node.to_owned(),
        });
    }

    /// Makes `node` reachable again (nothing if it is not cut off).
    pub fn heal(&self, node: &str) {
        self.apply(&Fault::Heal {
            node: node.to_owned(),
        });
    }

    /// Whether `node` is cut off now (a random partition that has lasted its length still
    /// cuts the node off until its next call heals it).
    pub fn is_partitioned(&self, node: &str) -> bool {
        self.lock().partitions.contains_key(node)
    }

    /// Arms `fault` now if it is a network fault ([`Fault::DropMessages`],
    /// [`Fault::DuplicateNextRequest`], [`Fault::LoseNextReply`], [`Fault::Partition`],
    /// [`Fault::Heal`]) and says whether it was.
    pub fn apply(&self, fault: &Fault) -> bool {
        let now = self.clock.now();
        self.lock().arm(fault, now, None)
    }

    /// Plans `fault` for call number `message` (numbered from 1 across nodes, as the trace
    /// and the log number them) if it is a network fault, and says whether it was: it is
    /// armed as that call starts, before its fate is decided, so that call takes it (a
    /// partition or heal applies then, to whichever node it names).
    pub fn plan(&self, message: u64, fault: &Fault) -> bool {
        if !Op::Message(message).takes(fault) {
            return false;
        }
        self.lock().planned.plan(message, fault.clone());
        true
    }

    fn trace(&self, node: &str, event: impl AsRef<str>) {
        let now = self.clock.now();
        self.lock().trace(now, node, event);
    }

    /// Traces a line whose event `write` spells into the trace's buffer.
    fn trace_with(&self, node: &str, write: impl for<'a> FnOnce(EventText<'a>) -> EventText<'a>) {
        let now = self.clock.now();
        self.lock().trace_with(now, node, write);
    }

    /// One call from `node` (see the module documentation).
    ///
    /// A function returning an `async move` block rather than an `async fn`, here and in
    /// [`Delivery::carry`]: an `async fn` keeps its by-value arguments in its future for its
    /// whole life besides the locals they are moved into, which stored the 192-byte
    /// [`Request`] four times in each call's future and put it, boxed per call, past the
    /// allocator's cheap size classes.
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would hold the request twice more in its future"
    )]
    fn call(
        self,
        node: Arc<str>,
        target: Arc<dyn Transport>,
        request: Request,
    ) -> impl Future<Output = Result<Response, ServiceError>> + Send + 'static {
        async move {
            let sent = self.clock.now();
            let (number, route, timeout) = {
                let mut shared = self.lock();
                let (number, route) = shared.route(&node, sent);
                let kind = <&str>::from(&request);
                shared.trace_with(sent, &node, |line| {
                    line.text("send #").number(number).text(" ").text(kind)
                });
                (number, route, shared.config.loss_timeout)
            };
            let lost_at = sent.plus(timeout);
            match route {
                Route::Refused => {
                    self.trace(&node, format!("#{number} refused: {node} is partitioned"));
                    Err(ServiceError::Unavailable(format!("{node} is partitioned")))
                }
                Route::Dropped => {
                    self.trace(&node, format!("#{number} dropped (injected)"));
                    self.clock.sleep_until(lost_at).await;
                    self.trace(&node, format!("#{number} timed out: message lost"));
                    Err(ServiceError::Unavailable("message lost".to_owned()))
                }
                Route::Deliver {
                    duplicate,
                    lose_reply,
                    latencies:
                        [
                            request_latency,
                            reply_latency,
                            dup_request_latency,
                            dup_reply_latency,
                        ],
                } => {
                    let first = if duplicate {
                        self.trace(&node, format!("#{number} duplicated (injected)"));
                        // Boxed: the two deliveries of this rare path would otherwise double the
                        // size of every call's future (it is allocated and moved per call).
                        Box::pin(self.deliver_twice(
                            &node,
                            &target,
                            request,
                            (sent, number, lose_reply),
                            [
                                request_latency,
                                reply_latency,
                                dup_request_latency,
                                dup_reply_latency,
                            ],
                        ))
                        .await
                    } else {
                        let original = Delivery {
                            network: &self,
                            node: &node,
                            number,
                            duplicate: false,
                            lose_reply,
                        };
                        original
                            .carry(&target, request, sent, request_latency, reply_latency)
                            .await
                            .map(|(_, reply)| reply)
                    };
                    match first {
                        Some(reply) => reply,
                        None => {
                            self.clock.sleep_until(lost_at).await;
                            let what = if lose_reply { "reply lost" } else { "message lost" };
                            self.trace(&node, format!("#{number} timed out: {what}"));
                            Err(ServiceError::Unavailable(what.to_owned()))
                        }
                    }
                }
            }
        }
    }

    /// Delivers a duplicated request twice, each copy with its own latencies, and gives the
    /// reply that arrives first (on a tie, the original's), or `None` if both are lost. With a
    /// spawner the copy runs detached and the original's reply is the answer.
    async fn deliver_twice(
        &self,
        node: &Arc<str>,
        target: &Arc<dyn Transport>,
        request: Request,
        (sent, number, lose_reply): (Timestamp, u64, bool),
        [
            request_latency,
            reply_latency,
            dup_request_latency,
            dup_reply_latency,
        ]: [Duration; 4],
    ) -> Option<Result<Response, ServiceError>> {
        let original = Delivery {
            network: self,
            node,
            number,
            duplicate: false,
            lose_reply,
        };
        let copy = Delivery {
            duplicate: true,
            ..original
        };
        match &self.spawner {
            Some(spawner) => {
                let (network, copy_node, copy_target) = (self.clone(), node.clone(), target.clone());
                let copy_request = request.clone();
                spawner.spawn(
                    "duplicate delivery",
                    Box::pin(async move {
                        let copy = Delivery {
                            network: &network,
                            node: &copy_node,
                            number,
                            duplicate: true,
                            lose_reply,
                        };
                        let _ = copy
                            .carry(
                                &copy_target,
                                copy_request,
                                sent,
                                dup_request_latency,
                                dup_reply_latency,
                            )
                            .await;
                    }),
                );
                original
                    .carry(target, request, sent, request_latency, reply_latency)
                    .await
                    .map(|(_, reply)| reply)
            }
            None => {
                let (a, b) = futures::future::join(
                    original.carry(target, request.clone(), sent, request_latency, reply_latency),
                    copy.carry(target, request, sent, dup_request_latency, dup_reply_latency),
                )
                .await;
                match (a, b) {
                    (Some((at_a, a)), Some((at_b, b))) => Some(if at_b < at_a { b } else { a }),
                    (Some((_, reply)), None) | (None, Some((_, reply))) => Some(reply),
                    (None, None) => None,
                }
            }
        }
    }
}

/// One copy of a delivered request, for [`Delivery::carry`].
#[derive(Clone, Copy)]
struct Delivery<'a> {
    network: &'a SimNetwork,
    node: &'a str,
    number: u64,
    duplicate: bool,
    lose_reply: bool,
}

impl Delivery<'_> {
    /// Carries the request to `target` and its reply back: the reply and when it arrived,
    /// or `None` when a partition or an injected fault lost either message.
    /// (Not an `async fn`: see [`SimNetwork::call`].)
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would hold the request twice in its future"
    )]
    fn carry(
        self,
        target: &Arc<dyn Transport>,
        request: Request,
        sent: Timestamp,
        request_latency: Duration,
        reply_latency: Duration,
    ) -> impl Future<Output = Option<(Timestamp, Result<Response, ServiceError>)>> + Send {
        async move {
            let network = self.network;
            let clock = &network.clock;
            let (node, number) = (self.node, self.number);
            let copy = if self.duplicate { " (duplicate)" } else { "" };
            clock.sleep_until(sent.plus(request_latency)).await;
            if network.is_partitioned(node) {
                network.trace(
                    node,
                    format!("#{number}{copy} lost in transit: {node} is partitioned"),
                );
                return None;
            }
            network.trace_with(node, |line| line.text("deliver #").number(number).text(copy));
            let reply = target.call(request).await;
            let arrival = clock.now().plus(reply_latency);
            clock.sleep_until(arrival).await;
            if self.lose_reply {
                network.trace(node, format!("reply #{number}{copy} lost (injected)"));
                return None;
            }
            if network.is_partitioned(node) {
                network.trace(
                    node,
                    format!("reply #{number}{copy} lost in transit: {node} is partitioned"),
                );
                return None;
            }
            let (error, what) = match &reply {
                Ok(response) => ("", <&str>::from(response)),
                Err(e) => ("error ", <&str>::from(e)),
            };
            network.trace_with(node, |line| {
                line.text("reply #")
                    .number(number)
                    .text(copy)
                    .text(" ")
                    .text(error)
                    .text(what)
            });
            Some((arrival, reply))
        }
    }
}

impl fmt::Debug for SimNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.lock();
        f.debug_struct("SimNetwork")
            .field("config", &shared.config)
            .field("rates", &shared.rates)
            .field("partitions", &shared.partitions)
            .field("nodes", &shared.nodes)
            .finish_non_exhaustive()
    }
}

/// A node's transport through the network.
struct NodeTransport {
    /// Shared with every call it makes (a clone per call is a counter increment).
    node: Arc<str>,
    target: Arc<dyn Transport>,
    network: SimNetwork,
}

impl fmt::Debug for NodeTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeTransport")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Transport for NodeTransport {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, ServiceError>> {
        Box::pin(
            self.network
                .clone()
                .call(self.node.clone(), self.target.clone(), request),
        )
    }
}
