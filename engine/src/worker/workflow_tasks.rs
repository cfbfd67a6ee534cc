//! The workflow side of the worker: polls for workflow tasks and queries, activates cached
//! or replayed instances, and reports commands, failures and answers.
//!
//! All of it runs on the worker's own future. An instance is taken out of the cache for an
//! activation (synchronous, so nothing else on this thread sees it half-updated) and put back
//! before the completion is sent, so a query arriving meanwhile is answered from it.

use super::Worker;
use super::activities::{Slots, spawn_attempt};
use super::cache::InstanceCache;
use super::eager_workflow::Inbox;
use super::liveness::Item;
use super::poll::{poll, unexpected};
use super::stop::stopped;
use crate::command::Command;
use crate::failure::Failure;
use crate::history::{HistoryError, HistoryEvent, WorkflowTaskFailedCause};
use crate::ids::EventId;
use crate::payload::Payload;
use crate::replay::{ActivationError, WorkflowInstance};
use crate::service::api::{QueryTask, WorkflowPoll, WorkflowTask, WorkflowTaskToken};
use crate::service::{Request, Response, ServiceError};
use crate::storage::RunKey;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

/// Runs the workflow side until `stop` is cancelled or a poll fails for good.
pub(super) async fn run(
    worker: &Worker,
    stop: &CancellationToken,
    activity_slots: Option<&Slots>,
    eager: Option<Inbox>,
) -> Result<(), ServiceError> {
    let slots = worker.options.max_concurrent_workflow_tasks;
    if slots == 0 || worker.registry.workflow_types().is_empty() {
        return Ok(());
    }
    let cache = RefCell::new(InstanceCache::new(worker.options.max_cached_workflows));
    let side = WorkflowSide {
        worker,
        cache: &cache,
        stop,
        slots: activity_slots.filter(|_| worker.options.eager_activities),
    };
    let mut pollers: FuturesUnordered<_> = (0..slots).map(|_| side.poll_loop()).collect();
    let polls = async {
        let mut result = Ok(());
        while let Some(outcome) = pollers.next().await {
            if let Err(e) = outcome {
                stop.cancel();
                result = result.and(Err(e));
            }
        }
        result
    };
    let (result, ()) = futures::join!(polls, side.run_handed(eager));
    result
}

/// What an activation came to.
enum Activation {
    /// Commands to complete the task with, and the instance that produced them.
    Commands(Box<WorkflowInstance>, Vec<Command>),
    /// The task failed; the instance is dropped.
    Failed(WorkflowTaskFailedCause, Failure),
    /// The history could not be fetched: the task is left to time out and be retried.
    Abandoned,
}

struct WorkflowSide<'a> {
    worker: &'a Worker,
    /// Boxed: an instance is a few hundred bytes, moved in and out of the cache every task.
    cache: &'a RefCell<InstanceCache<Box<WorkflowInstance>>>,
    stop: &'a CancellationToken,
    /// The activity slots eager activities take (`None`: none are asked for).
    slots: Option<&'a Slots>,
}

impl WorkflowSide<'_> {
    /// One slot: poll, handle what came, repeat until stopped.
    async fn poll_loop(&self) -> Result<(), ServiceError> {
        let worker = self.worker;
        let request = Request::PollWorkflowTask {
            task_queue: worker.task_queue.clone(),
            identity: worker.options.identity.clone(),
            workflow_types: worker
                .registry
                .workflow_types()
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
        };
        loop {
            let Some(response) = poll(
                worker.transport.as_ref(),
                worker.clock.as_ref(),
                self.stop,
                &request,
            )
            .await
            else {
                return Ok(());
            };
            match response? {
                Response::WorkflowPoll(WorkflowPoll::Empty) => {}
                Response::WorkflowPoll(WorkflowPoll::Task(task)) => self.handle_task(*task).await,
                Response::WorkflowPoll(WorkflowPoll::Query(query)) => self.answer_query(*query).await,
                other => return Err(unexpected("PollWorkflowTask", &other)),
            }
        }
    }

    /// Runs the tasks activity completions hand over (see `eager_workflow.rs`), until the
    /// worker stops and every slot is back; then no more can be taken.
    async fn run_handed(&self, inbox: Option<Inbox>) {
        let Some(mut inbox) = inbox else {
            return;
        };
        let mut running = FuturesUnordered::new();
        // Made once, not at every turn of the loop: each new one registered with the stop
        // token and unregistered again, for every task handed over.
        let all_back = async {
            stopped(self.stop).await;
            inbox.slots.acquire_many(inbox.permits).await
        };
        let mut all_back = std::pin::pin!(all_back);
        loop {
            tokio::select! {
                biased;
                // A `map` rather than an async block awaiting the task's future, which
                // would hold the task twice (this future is allocated per task).
                Some((task, slot)) = inbox.receiver.recv() => {
                    running.push(self.handle_task(task).map(move |()| drop(slot)));
                }
                Some(()) = running.next(), if !running.is_empty() => {}
                // Closed while every slot is held here, so none is taken again.
                _all = &mut all_back => {
                    inbox.slots.close();
                    break;
                }
            }
        }
    }

    /// Not an `async fn`, which would hold the task twice in its future: these futures are
    /// allocated per task (`run_handed`), and kept under the allocator's cheap size classes.
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would hold the task twice in its future"
    )]
    fn handle_task(&self, task: WorkflowTask) -> impl Future<Output = ()> + '_ {
        async move {
            // Listed in the liveness heartbeat until the outcome is reported.
            let _holding = self.worker.hold(|| Item::WorkflowTask(task.token.clone()));
            let identity = self.worker.options.identity.clone();
            match self.activate(&task).await {
                Activation::Commands(instance, commands) => {
                    let run = task.token.run.clone();
                    let generation = self.cache.borrow_mut().insert(run.clone(), instance);
                    let (eager_activities, mut permits) = self.eager_activities(&commands);
                    let request = Request::CompleteWorkflowTask {
                        token: task.token,
                        commands: commands.into(),
                        eager_activities,
                        identity,
                    };
                    match self.worker.call(request).await {
                        Ok(Response::EagerActivities(started)) => {
                            if let Some(slots) = self.slots {
                                for (task, permit) in started.into_iter().zip(permits.drain(..)) {
                                    spawn_attempt(self.worker, slots, task, permit);
                                }
                            }
                        }
                        Ok(_) => {}
                        // Not recorded (a stale task, a rejected command, an unreachable
                        // service): the instance is ahead of history, and the next task must
                        // replay.
                        Err(_) => {
                            self.cache.borrow_mut().remove_generation(&run, generation);
                        }
                    }
                }
                Activation::Failed(cause, failure) => {
                    let request = Request::FailWorkflowTask {
                        token: task.token,
                        cause,
                        failure,
                        identity,
                    };
                    // If this does not get through, the task times out and is retried anyway.
                    let _ = self.worker.call(request).await;
                }
                Activation::Abandoned => {}
            }
        }
    }

    /// The `ScheduleActivity` commands to ask the service to start eagerly (by index): those
    /// on this worker's queue, of types it runs, one per free activity slot, with the slots.
    fn eager_activities(&self, commands: &[Command]) -> (Vec<usize>, Vec<OwnedSemaphorePermit>) {
        let Some(slots) = self.slots.filter(|_| !self.stop.is_cancelled()) else {
            return (Vec::new(), Vec::new());
        };
        let worker = self.worker;
        let mut eligible: Vec<usize> = commands
            .iter()
            .enumerate()
            .filter_map(|(index, command)| match command {
                Command::ScheduleActivity {
                    activity_type,
                    options,
                    ..
                } if options
                    .task_queue
                    .as_ref()
                    .is_none_or(|q| *q == worker.task_queue)
                    && worker.registry.activity(activity_type).is_ok() =>
                {
                    Some(index)
                }
                _ => None,
            })
            .collect();
        if eligible.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let permits = slots.try_take(eligible.len());
        eligible.truncate(permits.len());
        (eligible, permits)
    }

    /// Runs the task on the cached instance if it is exactly where the task starts, else on
    /// an instance replayed from the whole history.
    async fn activate(&self, task: &WorkflowTask) -> Activation {
        let cached = self.cache.borrow_mut().take(&task.token.run);
        if let Some(mut instance) = cached.filter(|i| i.next_event_id() == task.first_event_id) {
            match instance.activate(&task.events) {
                Ok(answer) => return answer_of(instance, answer, &task.token),
                Err(e) if !replay_may_fix(&e) => return failed(&e),
                // The cached state disagrees with history: replay from the start below.
                Err(_) => {}
            }
        }
        let fetched;
        let events = if task.first_event_id == EventId::FIRST {
            &task.events
        } else {
            // Boxed: the rare path (a cache miss past the first task) would otherwise
            // more than double the size of every task's future.
            match Box::pin(self.history(&task.token.run)).await {
                Some(mut events) => {
                    // Events after the task's start belong to later tasks.
                    events.retain(|e| e.event_id <= task.token.started_event_id);
                    fetched = events;
                    &fetched
                }
                None => return Activation::Abandoned,
            }
        };
        let mut instance = Box::new(self.new_instance(&task.token.run));
        match instance.activate(events) {
            Ok(answer) => answer_of(instance, answer, &task.token),
            Err(e) => failed(&e),
        }
    }

    async fn answer_query(&self, query: QueryTask) {
        let cached = self
            .cache
            .borrow_mut()
            .get_mut(&query.run)
            .map(|instance| run_query(instance, &query));
        let answer = match cached {
            Some(QueryRun::Answered(answer)) => answer,
            Some(QueryRun::Panicked(message)) => {
                // The handler may have left the workflow's state half-borrowed: start over.
                self.cache.borrow_mut().remove(&query.run);
                Err(message)
            }
            None => self.query_replayed(&query).await,
        };
        let request = Request::RespondQuery {
            query_id: query.query_id,
            answer,
        };
        // An answer that does not get through makes the query time out for its caller.
        let _ = self.worker.call(request).await;
    }

    /// Answers a query for a run this worker has not cached, from a throwaway replay of its
    /// whole history (not cached: it is not at a task boundary the service knows of).
    async fn query_replayed(&self, query: &QueryTask) -> Result<Payload, String> {
        let Some(events) = self.history(&query.run).await else {
            return Err(format!("could not fetch the history of {}", query.run));
        };
        let mut instance = self.new_instance(&query.run);
        instance.activate(&events).map_err(|e| e.to_string())?;
        match run_query(&instance, query) {
            QueryRun::Answered(answer) => answer,
            QueryRun::Panicked(message) => Err(message),
        }
    }

    /// The run's whole history, or `None` if the service cannot give it.
    async fn history(&self, run: &RunKey) -> Option<Vec<HistoryEvent>> {
        let request = Request::GetHistory {
            workflow_id: run.workflow_id.clone(),
            run_id: Some(run.run_id.clone()),
        };
        match self.worker.call(request).await {
            Ok(Response::History(history)) => Some(history.events),
            _ => None,
        }
    }

    fn new_instance(&self, run: &RunKey) -> WorkflowInstance {
        WorkflowInstance::new(
            self.worker.registry.clone(),
            run.workflow_id.clone(),
            run.run_id.clone(),
        )
    }
}

/// The outcome of an activation that did not fail.
fn answer_of(
    instance: Box<WorkflowInstance>,
    answer: Option<Vec<Command>>,
    token: &WorkflowTaskToken,
) -> Activation {
    match answer {
        Some(commands) => Activation::Commands(instance, commands),
        None => Activation::Failed(
            WorkflowTaskFailedCause::BadPayload,
            Failure::new(
                "BadWorkflowTask",
                format!(
                    "the events of the workflow task of {} do not end with its WorkflowTaskStarted \
                     (event {})",
                    token.run, token.started_event_id
                ),
            ),
        ),
    }
}

/// Errors of a cached instance that a replay from the whole history may not have.
fn replay_may_fix(e: &ActivationError) -> bool {
    matches!(
        e,
        ActivationError::StaleInstance { .. }
            | ActivationError::Poisoned { .. }
            | ActivationError::History(HistoryError::EventIdGap { .. })
    )
}

fn failed(e: &ActivationError) -> Activation {
    Activation::Failed(e.task_failed_cause(), failure_of(e))
}

/// The failure recorded on `WorkflowTaskFailed` for an activation error: a type name per
/// kind of error, and the full non-determinism report where there is one.
fn failure_of(e: &ActivationError) -> Failure {
    let kind = match e {
        ActivationError::Nondeterminism(n) => return Failure::new("Nondeterminism", n.report()),
        ActivationError::DeterminismViolation(_) => "DeterminismViolation",
        ActivationError::Panic { .. } => "WorkflowPanic",
        ActivationError::Payload(_) => "PayloadError",
        ActivationError::History(_) => "BadHistory",
        ActivationError::UnknownWorkflowType(_) => "UnknownWorkflowType",
        ActivationError::StaleInstance { .. } => "StaleInstance",
        ActivationError::Poisoned { .. } => "Poisoned",
        ActivationError::Livelock { .. } => "Livelock",
    };
    Failure::new(kind, e.to_string())
}

enum QueryRun {
    Answered(Result<Payload, String>),
    Panicked(String),
}

/// Runs a query handler, catching a panic in it: user code must not take the worker down.
fn run_query(instance: &WorkflowInstance, query: &QueryTask) -> QueryRun {
    match std::panic::catch_unwind(AssertUnwindSafe(|| instance.query(&query.name, &query.args))) {
        Ok(answer) => QueryRun::Answered(answer.map_err(|e| e.to_string())),
        Err(panic) => QueryRun::Panicked(format!(
            "query `{}` panicked: {}",
            query.name,
            super::activities::panic_message(panic.as_ref())
        )),
    }
}
