//! `Callers`: the clients and workers of one service, reached through one transport. Each
//! client draws request ids from its own stream (derived from one seed and the client's
//! number), and each worker gets an identity made of a prefix and its number. Shared by the
//! in-process [`Engine`](crate::engine::Engine) and the remote connection of the HTTP
//! adapter, so that both number and seed their callers the same way.

use crate::client::Client;
use crate::env::{SharedClock, SharedSpawner};
use crate::ids::TaskQueue;
use crate::registry::Registry;
use crate::service::Transport;
use crate::worker::{Worker, WorkerOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Makes clients and workers over one transport.
pub(crate) struct Callers {
    transport: Arc<dyn Transport>,
    clock: SharedClock,
    spawner: SharedSpawner,
    /// Seeds the request ids of the clients made here.
    seed: u64,
    /// Worker identities are `<prefix>-<n>`.
    identity_prefix: String,
    /// Clients made so far: numbers their request-id streams.
    clients: AtomicU64,
    /// Workers made so far: numbers their identities.
    workers: AtomicU64,
}

impl Callers {
    /// Callers over `transport`; `seed` seeds the clients' request ids, `identity_prefix`
    /// starts the workers' identities.
    pub(crate) fn new(
        transport: Arc<dyn Transport>,
        clock: SharedClock,
        spawner: SharedSpawner,
        seed: u64,
        identity_prefix: String,
    ) -> Callers {
        Callers {
            transport,
            clock,
            spawner,
            seed,
            identity_prefix,
            clients: AtomicU64::new(0),
            workers: AtomicU64::new(0),
        }
    }

    /// The transport.
    pub(crate) fn transport(&self) -> Arc<dyn Transport> {
        self.transport.clone()
    }

    /// A client with its own request-id stream.
    pub(crate) fn client(&self) -> Client {
        let n = self.clients.fetch_add(1, Ordering::Relaxed) + 1;
        Client::new(self.transport(), self.clock.clone(), mix(self.seed, n))
    }

    /// A worker with default options and the identity `<prefix>-<n>`.
    pub(crate) fn worker(&self, task_queue: impl Into<TaskQueue>, registry: Registry) -> Worker {
        self.worker_with_options(task_queue, registry, self.worker_options())
    }

    /// Default worker options with the next identity, `<prefix>-<n>`.
    pub(crate) fn worker_options(&self) -> WorkerOptions {
        let n = self.workers.fetch_add(1, Ordering::Relaxed) + 1;
        WorkerOptions {
            identity: format!("{}-{n}", self.identity_prefix),
            ..WorkerOptions::default()
        }
    }

    /// A worker with `options`.
    pub(crate) fn worker_with_options(
        &self,
        task_queue: impl Into<TaskQueue>,
        registry: Registry,
        options: WorkerOptions,
    ) -> Worker {
        Worker::new(
            self.transport(),
            task_queue,
            registry,
            options,
            self.spawner.clone(),
            self.clock.clone(),
        )
    }
}

/// Derives an independent seed from `seed` and `n` (splitmix64's finalizer over their mix).
pub(crate) fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
