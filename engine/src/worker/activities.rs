//! The activity side of the worker: polls for activity attempts while it has a free slot,
//! runs each as a background task of the environment's spawner, forwards its heartbeats, and
//! reports its outcome.
//!
//! Every attempt holds a semaphore permit until its outcome has been reported, so waiting
//! for all permits is waiting for every attempt to finish: that is how shutdown drains.

use super::Worker;
use super::eager_workflow::Outbox;
use super::liveness::{Holding, Item};
use super::poll::{poll, unexpected};
use super::stop::until_stopped;
use crate::activity::{ActivityCtx, ActivityInfo, HeartbeatSink};
use crate::client::CallRetry;
use crate::client::retry;
use crate::env::SharedClock;
use crate::failure::ActivityError;
use crate::payload::Payload;
use crate::registry::Registry;
use crate::service::api::{ActivityTask, ActivityTaskToken};
use crate::service::{Request, Response, ServiceError, Transport};
use futures::FutureExt;
use futures::future::{Either, select};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

/// The worker's activity slots, shared by the activity polls and by the workflow side,
/// which takes free ones for the activities it asks the service to start eagerly.
pub(super) struct Slots {
    semaphore: Arc<Semaphore>,
    permits: u32,
    /// Cancelled when the worker shuts down: attempts in flight are asked to stop.
    handing_back: CancellationToken,
    /// Where an attempt's completion hands the workflow task it started (`None`: it asks
    /// for none).
    eager_workflow: Option<Outbox>,
}

impl Slots {
    /// The slots of `worker`, or `None` when it runs no activities. Completions hand the
    /// workflow tasks they start to `eager_workflow`.
    pub(super) fn of(worker: &Worker, eager_workflow: Option<Outbox>) -> Option<Slots> {
        let slots = worker.options.max_concurrent_activities;
        if slots == 0 || worker.registry.activity_types().is_empty() {
            return None;
        }
        let permits = u32::try_from(slots.min(Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        Some(Slots {
            semaphore: Arc::new(Semaphore::new(permits as usize)),
            permits,
            handing_back: CancellationToken::new(),
            eager_workflow,
        })
    }

    /// Up to `wanted` free slots, without waiting.
    pub(super) fn try_take(&self, wanted: usize) -> Vec<OwnedSemaphorePermit> {
        if self.handing_back.is_cancelled() {
            return Vec::new();
        }
        (0..wanted)
            .map_while(|_| self.semaphore.clone().try_acquire_owned().ok())
            .collect()
    }
}

/// Runs the activity side until `stop` is cancelled or a poll fails for good, then waits for
/// the attempts in flight.
pub(super) async fn run(
    worker: &Worker,
    stop: &CancellationToken,
    slots: Option<&Slots>,
) -> Result<(), ServiceError> {
    let Some(slots) = slots else {
        return Ok(());
    };
    // Each loop takes a slot before it polls, so together they never take more tasks than
    // there are slots; the first that fails for good ends them all.
    let polls = worker
        .options
        .max_concurrent_activity_polls
        .clamp(1, slots.permits as usize);
    let loops = (0..polls).map(|_| poll_loop(worker, stop, slots));
    let result = futures::future::try_join_all(loops).await.map(|_| ());
    if result.is_err() {
        stop.cancel();
    }
    // Attempts in flight are asked to stop and report back; one that ignores its token is
    // abandoned after the grace period (the engine's timeouts then retry it elsewhere).
    slots.handing_back.cancel();
    let deadline = worker.clock.now().plus(worker.options.shutdown_grace);
    let drained = pin!(slots.semaphore.acquire_many(slots.permits));
    let _ = select(drained, worker.clock.sleep_until(deadline)).await;
    result
}

async fn poll_loop(worker: &Worker, stop: &CancellationToken, slots: &Slots) -> Result<(), ServiceError> {
    let request = Request::PollActivityTask {
        task_queue: worker.task_queue.clone(),
        identity: worker.options.identity.clone(),
    };
    loop {
        // Poll only with a free slot: a task taken and not started would wait for nothing.
        let Some(Ok(permit)) = until_stopped(stop, slots.semaphore.clone().acquire_owned()).await else {
            return Ok(());
        };
        let Some(response) = poll(worker.transport.as_ref(), worker.clock.as_ref(), stop, &request).await
        else {
            return Ok(());
        };
        match response? {
            Response::ActivityTask(None) => {}
            Response::ActivityTask(Some(task)) => spawn_attempt(worker, slots, *task, permit),
            other => return Err(unexpected("PollActivityTask", &other)),
        }
    }
}

/// Runs `task` (polled, or started eagerly) in the background on the slot `permit`, until
/// its outcome is reported.
pub(super) fn spawn_attempt(
    worker: &Worker,
    slots: &Slots,
    task: ActivityTask,
    permit: OwnedSemaphorePermit,
) {
    let holding = worker.hold(|| Item::Activity(task.token.clone()));
    let attempt = Attempt {
        transport: worker.transport.clone(),
        clock: worker.clock.clone(),
        retry: worker.retry.clone(),
        registry: worker.registry.clone(),
        identity: worker.options.identity.clone(),
        task,
        permit,
        holding,
        handing_back: slots.handing_back.clone(),
        eager_workflow: slots.eager_workflow.clone(),
    };
    worker.spawner.spawn("activity attempt", Box::pin(attempt.run()));
}

/// One activity attempt and what it needs, moved into its background task.
struct Attempt {
    transport: Arc<dyn Transport>,
    clock: SharedClock,
    retry: CallRetry,
    registry: Registry,
    identity: String,
    task: ActivityTask,
    /// Released once the outcome is reported.
    permit: OwnedSemaphorePermit,
    /// Lists the attempt in the liveness heartbeat until the outcome is reported.
    holding: Option<Holding>,
    /// Cancelled when the worker shuts down.
    handing_back: CancellationToken,
    /// Where the workflow task the completion starts goes.
    eager_workflow: Option<Outbox>,
}

impl Attempt {
    async fn run(self) {
        let task = self.task;
        // Fired by the service's cancel request (see `forward_heartbeats`) or by shutdown.
        let cancel = self.handing_back.child_token();
        // A watch channel keeps only the latest details: heartbeats sent while one is in
        // flight are coalesced, so a chatty activity costs one request at a time.
        let (sender, receiver) = watch::channel(None);
        let info = ActivityInfo {
            workflow_id: task.token.run.workflow_id.clone(),
            run_id: task.token.run.run_id.clone(),
            workflow_type: task.workflow_type,
            activity_id: task.activity_id,
            activity_type: task.activity_type.clone(),
            task_queue: task.task_queue,
            attempt: task.token.attempt,
            scheduled_time: task.scheduled_time,
            started_time: task.started_time,
            heartbeat_timeout: task.heartbeat_timeout,
        };
        let ctx = ActivityCtx::new(
            info,
            task.previous_heartbeat,
            Arc::new(WatchSink(sender)),
            cancel.clone(),
        );
        // The forwarder runs alongside the attempt in the same task and is dropped with it.
        let outcome = {
            let running = pin!(run_activity(&self.registry, ctx, &task.activity_type, task.input));
            let heartbeats = pin!(forward_heartbeats(
                self.transport.as_ref(),
                &task.token,
                receiver,
                &cancel
            ));
            match select(running, heartbeats).await {
                Either::Left((outcome, _)) => outcome,
                // The context (and with it the sink) was dropped before the activity returned.
                Either::Right(((), running)) => running.await,
            }
        };
        // Stopped by shutdown rather than by the workflow: hand the attempt back to be retried,
        // not recorded as cancelled.
        let outcome = match outcome {
            Err(ActivityError::Cancelled) if self.handing_back.is_cancelled() => Err(
                ActivityError::retryable("WorkerShutdown", "the worker shut down during the attempt"),
            ),
            other => other,
        };
        // A free workflow-task slot asks for the run's next workflow task in the reply.
        let workflow_slot = self.eager_workflow.as_ref().and_then(Outbox::try_take);
        let request = Request::CompleteActivityTask {
            token: task.token,
            outcome,
            eager_workflow_task: workflow_slot.is_some(),
            identity: self.identity,
        };
        // Stale (the attempt timed out) or unreachable: the service's timeouts decide what
        // happens next, nothing more to do here.
        let reply = retry::call(self.transport.as_ref(), self.clock.as_ref(), &self.retry, request).await;
        drop(self.holding);
        drop(self.permit);
        if let (Ok(Response::EagerWorkflowTask(task)), Some(outbox), Some(slot)) =
            (reply, &self.eager_workflow, workflow_slot)
        {
            outbox.hand_over(*task, slot);
        }
    }
}

/// Runs the activity code, turning an unknown type and a panic into failures.
async fn run_activity(
    registry: &Registry,
    ctx: ActivityCtx,
    activity_type: &str,
    input: Payload,
) -> Result<Payload, ActivityError> {
    let definition = match registry.activity(activity_type) {
        Ok(definition) => definition,
        // Another attempt on this worker would not find it either.
        Err(e) => return Err(ActivityError::non_retryable("UnknownActivityType", e.to_string())),
    };
    // The panic may come from building the future as well as from polling it.
    let attempt = async move { definition.run(ctx, input).await };
    match AssertUnwindSafe(attempt).catch_unwind().await {
        Ok(outcome) => outcome,
        // A panic may be a transient bug (an unexpected response): let the policy retry it.
        Err(panic) => Err(ActivityError::retryable(
            "ActivityPanic",
            panic_message(panic.as_ref()),
        )),
    }
}

/// Sends each heartbeat to the service, and cancels the attempt when the service says the
/// workflow asked for it, or that the attempt is no longer current (it timed out). Ends when
/// the sink is dropped. Heartbeats are not retried: the next one supersedes a lost one.
async fn forward_heartbeats(
    transport: &dyn Transport,
    token: &ActivityTaskToken,
    mut receiver: watch::Receiver<Option<Payload>>,
    cancel: &CancellationToken,
) {
    while receiver.changed().await.is_ok() {
        let details = receiver.borrow_and_update().clone();
        let Some(details) = details else { continue };
        let request = Request::Heartbeat {
            token: token.clone(),
            details,
        };
        match transport.call(request).await {
            Ok(Response::HeartbeatAck {
                cancel_requested: true,
            })
            | Err(ServiceError::StaleTask(_)) => cancel.cancel(),
            _ => {}
        }
    }
}

/// The heartbeat sink of an attempt: the latest details, for the forwarder to send.
struct WatchSink(watch::Sender<Option<Payload>>);

impl HeartbeatSink for WatchSink {
    fn heartbeat(&self, details: Payload) {
        // `send_replace` stores the value even when the forwarder is gone.
        self.0.send_replace(Some(details));
    }
}

/// The message of a caught panic.
pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_owned())
}
