//! A deterministic harness for the service: a manual clock, in-memory storage, and a worker
//! played step by step (poll, activate, complete), so tests control every interleaving.

#![allow(dead_code)]

use futures::executor::block_on;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use warpflow_engine::env::{Clock, Sleep};
use warpflow_engine::history::{EventAttributes as E, validate};
use warpflow_engine::service::api::{
    ActivityTask, QueryTask, RunOutcome, StartWorkflow, WorkflowPoll, WorkflowTask, WorkflowTaskToken,
};
use warpflow_engine::service::{Request, Response, Service, ServiceConfig, ServiceError};
use warpflow_engine::storage::{MemoryStorage, RequestId, RunKey, Storage};
use warpflow_engine::{
    ActivityError, Command, EventId, History, Payload, Registry, Replayer, TaskQueue, Timestamp, WorkflowId,
    WorkflowInstance,
};

/// Engine time that moves only when the test says so.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
    fn sleep_until(&self, _deadline: Timestamp) -> Sleep {
        // Polls use a zero timeout in the harness, so nothing ever sleeps.
        Sleep::boxed(futures::future::pending())
    }
}

pub struct Harness {
    pub service: Arc<Service>,
    pub storage: MemoryStorage,
    pub clock: Arc<ManualClock>,
    pub registry: Registry,
    pub queue: TaskQueue,
    /// The identity the played worker polls and completes with ("harness").
    pub identity: String,
    instances: BTreeMap<RunKey, WorkflowInstance>,
    requests: u64,
}

impl Harness {
    pub fn new(registry: Registry) -> Harness {
        let storage = MemoryStorage::new();
        Harness::on(storage, registry, Arc::new(ManualClock::default()))
    }

    /// A harness over existing storage (an engine restarted on what was committed).
    pub fn on(storage: MemoryStorage, registry: Registry, clock: Arc<ManualClock>) -> Harness {
        let config = ServiceConfig {
            poll_timeout: Duration::ZERO,
            seed: 42,
            ..ServiceConfig::default()
        };
        Harness::serving(storage.clone(), Arc::new(storage), config, registry, clock)
    }

    /// A harness whose service runs with `config` over `served` (which stores into
    /// `storage`, the state a restart keeps).
    pub fn serving(
        storage: MemoryStorage,
        served: Arc<dyn Storage>,
        config: ServiceConfig,
        registry: Registry,
        clock: Arc<ManualClock>,
    ) -> Harness {
        clock.0.fetch_max(1_767_225_600_000, Ordering::SeqCst);
        let service = Arc::new(Service::new(served, clock.clone(), config));
        Harness {
            service,
            storage,
            clock,
            registry,
            queue: TaskQueue::new("default"),
            identity: "harness".into(),
            instances: BTreeMap::new(),
            requests: 0,
        }
    }

    /// The engine crashes and a new one starts on what was committed, on the same clock.
    /// The played worker's cached instances are gone with it.
    pub fn restart(self) -> Harness {
        Harness::on(self.storage.clone(), self.registry.clone(), self.clock.clone())
    }

    pub fn call(&self, request: Request) -> Result<Response, ServiceError> {
        block_on(self.service.handle(request))
    }

    pub fn signal(&mut self, workflow_id: &str, name: &str, input: Payload) -> Result<(), ServiceError> {
        let request_id = self.request_id();
        self.call(Request::Signal {
            request_id,
            workflow_id: WorkflowId::new(workflow_id),
            run_id: None,
            name: name.into(),
            input,
        })
        .map(|_| ())
    }

    pub fn request_id(&mut self) -> RequestId {
        self.requests += 1;
        RequestId(format!("req-{}", self.requests))
    }

    pub fn start(
        &mut self,
        workflow_type: &str,
        workflow_id: &str,
        input: Payload,
    ) -> Result<String, ServiceError> {
        let request_id = self.request_id();
        self.start_with(StartWorkflow {
            request_id,
            workflow_id: WorkflowId::new(workflow_id),
            workflow_type: workflow_type.into(),
            task_queue: self.queue.clone(),
            input,
            id_reuse_policy: Default::default(),
            workflow_task_timeout: None,
            signal: None,
        })
    }

    pub fn start_with(&mut self, start: StartWorkflow) -> Result<String, ServiceError> {
        match self.call(Request::StartWorkflow(start))? {
            Response::Started(s) => Ok(s.run_id.to_string()),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Runs workflow tasks until none is ready; returns how many ran.
    pub fn run_workflow_tasks(&mut self) -> usize {
        let mut ran = 0;
        while let Some((token, commands)) = self.take_workflow_task() {
            ran += 1;
            self.finish_workflow_task(token, commands)
                .expect("completion accepted");
        }
        ran
    }

    /// Polls one workflow task (answering queries on the way) and runs it; `None` when no
    /// task is ready.
    pub fn take_workflow_task(&mut self) -> Option<(WorkflowTaskToken, Vec<Command>)> {
        loop {
            let poll = self.call(Request::PollWorkflowTask {
                task_queue: self.queue.clone(),
                identity: self.identity.clone(),
                workflow_types: Vec::new(),
            });
            match poll {
                Ok(Response::WorkflowPoll(WorkflowPoll::Task(task))) => return Some(self.run_task(&task)),
                Ok(Response::WorkflowPoll(WorkflowPoll::Query(query))) => self.answer(&query),
                Ok(Response::WorkflowPoll(WorkflowPoll::Empty)) => return None,
                other => panic!("unexpected poll answer {other:?}"),
            }
        }
    }

    /// Runs `task` on the played worker's instance of its run; its commands.
    pub fn run_task(&mut self, task: &WorkflowTask) -> (WorkflowTaskToken, Vec<Command>) {
        let key = task.token.run.clone();
        let cached = self
            .instances
            .remove(&key)
            .filter(|i| i.next_event_id() == task.first_event_id);
        let result = match cached {
            Some(mut instance) => match instance.activate(&task.events) {
                Ok(commands) => Ok((instance, commands)),
                // The cached instance ran a task that then failed: rebuild it from history.
                Err(_) => self.replay_cold(task),
            },
            None if task.first_event_id == EventId::FIRST => {
                let mut instance = self.fresh(&key);
                instance.activate(&task.events).map(|c| (instance, c))
            }
            None => self.replay_cold(task),
        };
        match result {
            Ok((instance, Some(commands))) => {
                self.instances.insert(key, instance);
                (task.token.clone(), commands)
            }
            other => panic!("activation failed: {other:?}"),
        }
    }

    fn fresh(&self, key: &RunKey) -> WorkflowInstance {
        WorkflowInstance::new(self.registry.clone(), key.workflow_id.clone(), key.run_id.clone())
    }

    fn replay_cold(
        &self,
        task: &WorkflowTask,
    ) -> Result<(WorkflowInstance, Option<Vec<Command>>), warpflow_engine::ActivationError> {
        let key = &task.token.run;
        let history = self.history(key.workflow_id.as_str(), Some(key.run_id.as_str()));
        let events: Vec<_> = history
            .events
            .into_iter()
            .filter(|e| e.event_id <= task.token.started_event_id)
            .collect();
        let mut instance = self.fresh(key);
        instance.activate(&events).map(|c| (instance, c))
    }

    /// Answers a query from the cached instance, or from a replay of the run's history.
    fn answer(&mut self, query: &QueryTask) {
        let answer = match self.instances.get(&query.run) {
            Some(instance) => instance.query(&query.name, &query.args),
            None => {
                let history = self.history(query.run.workflow_id.as_str(), Some(query.run.run_id.as_str()));
                let mut instance = self.fresh(&query.run);
                let _ = instance.activate(&history.events);
                instance.query(&query.name, &query.args)
            }
        };
        self.call(Request::RespondQuery {
            query_id: query.query_id,
            answer: answer.map_err(|e| e.to_string()),
        })
        .expect("query answered");
    }

    /// Sends a query and plays the worker until it is answered.
    pub fn query(&mut self, workflow_id: &str, name: &str, args: Payload) -> Result<Payload, ServiceError> {
        let service = self.service.clone();
        let request = Request::Query {
            workflow_id: WorkflowId::new(workflow_id),
            run_id: None,
            name: name.into(),
            args,
        };
        let mut pending = Box::pin(async move { service.handle(request).await });
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        // The first poll registers the query; then the "worker" takes and answers it.
        assert!(
            pending.as_mut().poll(&mut cx).is_pending(),
            "the query waits for a worker"
        );
        loop {
            match self.call(Request::PollWorkflowTask {
                task_queue: self.queue.clone(),
                identity: self.identity.clone(),
                workflow_types: Vec::new(),
            }) {
                Ok(Response::WorkflowPoll(WorkflowPoll::Query(query))) => {
                    self.answer(&query);
                    break;
                }
                Ok(Response::WorkflowPoll(WorkflowPoll::Task(task))) => {
                    let (token, commands) = self.run_task(&task);
                    self.finish_workflow_task(token, commands)
                        .expect("completion accepted");
                }
                other => panic!("the query never reached the worker: {other:?}"),
            }
        }
        match block_on(pending)? {
            Response::QueryAnswer(answer) => Ok(answer),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Completes a workflow task with `commands`.
    pub fn finish_workflow_task(
        &mut self,
        token: WorkflowTaskToken,
        commands: Vec<Command>,
    ) -> Result<(), ServiceError> {
        self.call(Request::CompleteWorkflowTask {
            token,
            commands: commands.into(),
            eager_activities: Vec::new(),
            identity: self.identity.clone(),
        })
        .map(|_| ())
    }

    /// Takes the next activity attempt, if one is ready.
    pub fn next_activity(&mut self) -> Option<ActivityTask> {
        match self.call(Request::PollActivityTask {
            task_queue: self.queue.clone(),
            identity: self.identity.clone(),
        }) {
            Ok(Response::ActivityTask(task)) => task.map(|t| *t),
            other => panic!("unexpected poll answer {other:?}"),
        }
    }

    pub fn complete_activity(
        &mut self,
        task: &ActivityTask,
        outcome: Result<Payload, ActivityError>,
    ) -> Result<(), ServiceError> {
        self.call(Request::CompleteActivityTask {
            token: task.token.clone(),
            outcome,
            eager_workflow_task: false,
            identity: self.identity.clone(),
        })
        .map(|_| ())
    }

    /// Answers every ready activity with `script`, then runs workflow tasks, until quiet.
    pub fn run_until_quiet(
        &mut self,
        mut script: impl FnMut(&ActivityTask) -> Result<Payload, ActivityError>,
    ) {
        loop {
            let mut progressed = self.run_workflow_tasks() > 0;
            while let Some(task) = self.next_activity() {
                let outcome = script(&task);
                self.complete_activity(&task, outcome)
                    .expect("activity completion accepted");
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
    }

    /// Moves engine time forward and fires what came due.
    pub fn advance(&mut self, d: Duration) -> usize {
        self.clock.0.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
        block_on(self.service.fire_due_timers()).expect("timers fire")
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Drops the worker's cached instances (a worker restart).
    pub fn evict_all(&mut self) {
        self.instances.clear();
    }

    /// How the current run of `workflow_id` ended, if it did.
    pub fn outcome(&self, workflow_id: &str) -> Option<RunOutcome> {
        match self.call(Request::Describe {
            workflow_id: WorkflowId::new(workflow_id),
            run_id: None,
        }) {
            Ok(Response::Description(d)) => d.outcome,
            other => panic!("unexpected {other:?}"),
        }
    }

    pub fn history(&self, workflow_id: &str, run_id: Option<&str>) -> History {
        match self.call(Request::GetHistory {
            workflow_id: WorkflowId::new(workflow_id),
            run_id: run_id.map(Into::into),
        }) {
            Ok(Response::History(h)) => *h,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Checks that `history` is well formed and replays against `registry`'s code.
pub fn assert_replays(registry: &Registry, history: &History) {
    validate(history).unwrap_or_else(|e| panic!("invalid history: {e}\n{}", history.render_timeline()));
    Replayer::new(registry.clone())
        .check(history)
        .unwrap_or_else(|e| panic!("does not replay: {e}\n{}", history.render_timeline()));
}

/// How many events of `event_type` `history` has.
pub fn count(history: &History, event_type: &str) -> usize {
    history
        .events
        .iter()
        .filter(|e| e.attributes.event_type() == event_type)
        .count()
}

/// `(attempt, identity)` of each `ActivityTaskStarted` of `history`.
pub fn started_attempts(history: &History) -> Vec<(u32, String)> {
    history
        .events
        .iter()
        .filter_map(|e| match &e.attributes {
            E::ActivityTaskStarted {
                attempt, identity, ..
            } => Some((*attempt, identity.clone())),
            _ => None,
        })
        .collect()
}
