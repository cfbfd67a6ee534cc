//! `HookedStorage`: in-memory storage a test can step into at a call's storage operations.
//! It can run another caller's whole request just before the next commit, so two calls read
//! the same state and race to commit; and it can answer leases and commits one poll after
//! they took effect (as a commit on a writer thread does), so a call driven poll by poll
//! (`stepped.rs`) can be dropped right after its lease or commit landed.

#![allow(dead_code)]

use futures::future::BoxFuture;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use warpflow_engine::ids::{EventId, RunId, WorkflowId};
use warpflow_engine::storage::{
    Commit, MemoryStorage, RequestId, RunKey, RunRecord, Storage, StorageError, StorageResult, Task,
    TaskKind, TimerRecord,
};
use warpflow_engine::{HistoryEvent, Payload, TaskQueue, Timestamp};

/// Another caller's request, run just before the next commit.
pub type Hook = Box<dyn FnOnce() + Send>;

/// Storage over a `MemoryStorage` with hooks at its commits and leases.
#[derive(Clone, Default)]
pub struct HookedStorage {
    pub inner: MemoryStorage,
    hook: Arc<Mutex<Option<Hook>>>,
    /// Leases and commits answer one poll after they took effect.
    late: bool,
    leases: Arc<AtomicUsize>,
    commits: Arc<AtomicUsize>,
    /// The next commit fails, unapplied.
    fail_next: Arc<AtomicBool>,
}

impl HookedStorage {
    /// Over `inner`, answering at once.
    pub fn over(inner: MemoryStorage) -> HookedStorage {
        HookedStorage {
            inner,
            ..HookedStorage::default()
        }
    }

    /// Over `inner`, answering leases and commits one poll late.
    pub fn answering_late(inner: MemoryStorage) -> HookedStorage {
        HookedStorage {
            late: true,
            ..HookedStorage::over(inner)
        }
    }

    /// Runs `hook` just before the next commit.
    pub fn before_next_commit(&self, hook: impl FnOnce() + Send + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(hook));
    }

    /// The next commit fails with `Unavailable` and is not applied (a failed write).
    pub fn fail_next_commit(&self) {
        self.fail_next.store(true, Ordering::SeqCst);
    }

    /// Leases granted so far.
    pub fn leases(&self) -> usize {
        self.leases.load(Ordering::SeqCst)
    }

    /// Commits applied so far.
    pub fn commits(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }

    /// Runs `operation`, counts it in `counter` if `took_effect`, and answers (one poll
    /// late, if so set: pending once, waking its task at once so it is polled again).
    async fn landing<T>(
        &self,
        operation: impl Future<Output = StorageResult<T>>,
        counter: &AtomicUsize,
        took_effect: impl Fn(&T) -> bool,
    ) -> StorageResult<T> {
        let result = operation.await;
        if result.as_ref().is_ok_and(took_effect) {
            counter.fetch_add(1, Ordering::SeqCst);
        }
        YieldOnce(!self.late).await;
        result
    }
}

/// Pending once, then ready (ready at once when built with `true`).
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Storage for HookedStorage {
    fn commit(&self, commit: Commit) -> BoxFuture<'_, StorageResult<()>> {
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Box::pin(async { Err(StorageError::Unavailable("injected: the commit failed".into())) });
        }
        Box::pin(self.landing(self.inner.commit(commit), &self.commits, |()| true))
    }
    fn lease_task<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
        owner: &'a str,
        lease_for: Duration,
    ) -> BoxFuture<'a, StorageResult<Option<Task>>> {
        let lease = self.inner.lease_task(queue, kind, now, owner, lease_for);
        Box::pin(self.landing(lease, &self.leases, Option::is_some))
    }
    fn get_run<'a>(
        &'a self,
        workflow_id: &'a WorkflowId,
        run_id: Option<&'a RunId>,
    ) -> BoxFuture<'a, StorageResult<Option<RunRecord>>> {
        self.inner.get_run(workflow_id, run_id)
    }
    fn read_events<'a>(
        &'a self,
        run: &'a RunKey,
        from: EventId,
    ) -> BoxFuture<'a, StorageResult<Vec<HistoryEvent>>> {
        self.inner.read_events(run, from)
    }
    fn list_runs<'a>(
        &'a self,
        workflow_id: Option<&'a WorkflowId>,
        limit: usize,
    ) -> BoxFuture<'a, StorageResult<Vec<RunRecord>>> {
        self.inner.list_runs(workflow_id, limit)
    }
    fn next_task_time<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
    ) -> BoxFuture<'a, StorageResult<Option<Timestamp>>> {
        self.inner.next_task_time(queue, kind, now)
    }
    fn due_timers(&self, now: Timestamp, limit: usize) -> BoxFuture<'_, StorageResult<Vec<TimerRecord>>> {
        self.inner.due_timers(now, limit)
    }
    fn next_timer_due(&self) -> BoxFuture<'_, StorageResult<Option<Timestamp>>> {
        self.inner.next_timer_due()
    }
    fn get_request<'a>(&'a self, request_id: &'a RequestId) -> BoxFuture<'a, StorageResult<Option<Payload>>> {
        self.inner.get_request(request_id)
    }
}

/// A harness running `Chain` whose polls wait (60 s of its manual clock: until the test
/// moves it), over the hooked storage `hook` builds, which is returned for its counters.
pub fn harness_with_waiting_polls(
    hook: impl FnOnce(MemoryStorage) -> HookedStorage,
) -> (super::engine_harness::Harness, HookedStorage) {
    let storage = MemoryStorage::new();
    let hooked = hook(storage.clone());
    let config = warpflow_engine::service::ServiceConfig {
        poll_timeout: Duration::from_secs(60),
        seed: 42,
        ..Default::default()
    };
    let registry = warpflow_engine::Registry::new().with_workflow::<super::workflows::Chain>();
    let clock = Arc::new(super::engine_harness::ManualClock::default());
    let h =
        super::engine_harness::Harness::serving(storage, Arc::new(hooked.clone()), config, registry, clock);
    (h, hooked)
}
