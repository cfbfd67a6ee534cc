//! A deterministic harness for the service: a manual clock, in-memory storage, and a worker
//! played step by step (poll, activate, complete), so tests control every interleaving.

#![allow(dead_code)]

use futures::executor::block_on;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use warpflow_engine::env::Clock;
use warpflow_engine::service::api::{ActivityTask, StartWorkflow, WorkflowPoll};
use warpflow_engine::service::{Request, Response, Service, ServiceConfig, ServiceError};
use warpflow_engine::storage::{MemoryStorage, RequestId, RunKey};
use warpflow_engine::{
    ActivityError, History, Payload, Registry, TaskQueue, Timestamp, WorkflowId, WorkflowInstance,
};

/// Engine time that moves only when the test says so.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
    fn sleep_until(&self, _deadline: Timestamp) -> BoxFuture<'static, ()> {
        // Polls use a zero timeout in the harness, so nothing ever sleeps.
        Box::pin(futures::future::pending())
    }
}

pub struct Harness {
    pub service: Arc<Service>,
    pub storage: MemoryStorage,
    pub clock: Arc<ManualClock>,
    pub registry: Registry,
    pub queue: TaskQueue,
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
        clock.0.fetch_max(1_767_225_600_000, Ordering::SeqCst);
        let config = ServiceConfig {
            poll_timeout: Duration::ZERO,
            seed: 42,
            ..ServiceConfig::default()
        };
        let service = Arc::new(Service::new(Arc::new(storage.clone()), clock.clone(), config));
        Harness {
            service,
            storage,
            clock,
            registry,
            queue: TaskQueue::new("default"),
            instances: BTreeMap::new(),
            requests: 0,
        }
    }

    pub fn call(&self, request: Request) -> Result<Response, ServiceError> {
        block_on(self.service.handle(request))
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
        loop {
            let poll = self.call(Request::PollWorkflowTask {
                task_queue: self.queue.clone(),
                identity: "harness".into(),
                workflow_types: Vec::new(),
            });
            let task = match poll {
                Ok(Response::WorkflowPoll(WorkflowPoll::Task(task))) => task,
                Ok(Response::WorkflowPoll(WorkflowPoll::Empty)) => return ran,
                other => panic!("unexpected poll answer {other:?}"),
            };
            ran += 1;
            let key = task.token.run.clone();
            let mut instance = self
                .instances
                .remove(&key)
                .filter(|i| i.next_event_id() == task.first_event_id)
                .unwrap_or_else(|| {
                    WorkflowInstance::new(self.registry.clone(), key.workflow_id.clone(), key.run_id.clone())
                });
            let events: Vec<_> = if instance.next_event_id().0 == 1 && task.first_event_id.0 != 1 {
                self.history(&key.workflow_id.to_string(), Some(&key.run_id.to_string()))
                    .events
                    .into_iter()
                    .filter(|e| e.event_id <= task.token.started_event_id)
                    .collect()
            } else {
                task.events.clone()
            };
            let commands = match instance.activate(&events) {
                Ok(Some(commands)) => commands,
                other => panic!("activation failed: {other:?}"),
            };
            self.call(Request::CompleteWorkflowTask {
                token: task.token.clone(),
                commands,
                identity: "harness".into(),
            })
            .expect("completion accepted");
            self.instances.insert(key, instance);
        }
    }

    /// Takes the next activity attempt, if one is ready.
    pub fn next_activity(&mut self) -> Option<ActivityTask> {
        match self.call(Request::PollActivityTask {
            task_queue: self.queue.clone(),
            identity: "harness".into(),
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
            identity: "harness".into(),
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
