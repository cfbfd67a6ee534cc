//! A fake transport for client and worker tests: it records every request and answers from a
//! handler the test writes, or from a script of workflow and activity tasks. Long polls with
//! nothing to hand out wait (on tokio's paused clock) before answering empty, as the real
//! service does, so idle pollers do not spin.

#![allow(dead_code)]

pub mod harness;

use futures::future::BoxFuture;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warpflow_engine::History;
use warpflow_engine::service::api::{ActivityTask, WorkflowPoll};
use warpflow_engine::service::{Request, Response, ServiceError, Transport};
use warpflow_engine::storage::RunKey;

/// How long an empty long poll waits before answering.
pub const LONG_POLL: Duration = Duration::from_secs(10);

/// How the fake answers one request.
pub enum Reply {
    /// At once.
    Now(Result<Response, ServiceError>),
    /// After a wait on tokio's clock.
    After(Duration, Response),
}

type Handler = Box<dyn FnMut(&Request) -> Reply + Send>;

/// Records requests and answers them with a handler.
pub struct FakeTransport {
    requests: Mutex<Vec<Request>>,
    handler: Mutex<Handler>,
}

impl FakeTransport {
    pub fn new(handler: impl FnMut(&Request) -> Reply + Send + 'static) -> Arc<FakeTransport> {
        Arc::new(FakeTransport {
            requests: Mutex::new(Vec::new()),
            handler: Mutex::new(Box::new(handler)),
        })
    }

    /// A fake serving `script`.
    pub fn scripted(script: Script) -> Arc<FakeTransport> {
        let mut script = script;
        FakeTransport::new(move |request| script.answer(request))
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests so far that `pick` selects and maps.
    pub fn picked<T>(&self, pick: impl Fn(&Request) -> Option<T>) -> Vec<T> {
        self.requests.lock().unwrap().iter().filter_map(pick).collect()
    }

    /// Waits (on tokio's paused clock) until `done` holds for the requests so far.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Request]) -> bool) {
        for _ in 0..1000 {
            if done(&self.requests.lock().unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting until {what}; requests: {:#?}", self.requests());
    }
}

impl Transport for FakeTransport {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, ServiceError>> {
        self.requests.lock().unwrap().push(request.clone());
        let reply = (self.handler.lock().unwrap())(&request);
        Box::pin(async move {
            match reply {
                Reply::Now(result) => result,
                Reply::After(wait, response) => {
                    tokio::time::sleep(wait).await;
                    Ok(response)
                }
            }
        })
    }
}

/// What a scripted fake serves: workflow polls and activity tasks in order (then empty long
/// polls), histories by run, and heartbeat answers. Everything else is acknowledged.
#[derive(Default)]
pub struct Script {
    pub workflow_polls: VecDeque<WorkflowPoll>,
    pub activity_tasks: VecDeque<ActivityTask>,
    pub histories: BTreeMap<RunKey, History>,
    pub cancel_on_heartbeat: bool,
}

impl Script {
    fn answer(&mut self, request: &Request) -> Reply {
        match request {
            Request::PollWorkflowTask { .. } => match self.workflow_polls.pop_front() {
                Some(poll) => Reply::Now(Ok(Response::WorkflowPoll(poll))),
                None => Reply::After(LONG_POLL, Response::WorkflowPoll(WorkflowPoll::Empty)),
            },
            Request::PollActivityTask { .. } => match self.activity_tasks.pop_front() {
                Some(task) => Reply::Now(Ok(Response::ActivityTask(Some(Box::new(task))))),
                None => Reply::After(LONG_POLL, Response::ActivityTask(None)),
            },
            Request::GetHistory { workflow_id, run_id } => {
                let found = self
                    .histories
                    .iter()
                    .find(|(run, _)| &run.workflow_id == workflow_id && Some(&run.run_id) == run_id.as_ref());
                Reply::Now(match found {
                    Some((_, history)) => Ok(Response::History(Box::new(history.clone()))),
                    None => Err(ServiceError::WorkflowNotFound {
                        workflow_id: workflow_id.clone(),
                        run_id: run_id.clone(),
                    }),
                })
            }
            Request::Heartbeat { .. } => Reply::Now(Ok(Response::HeartbeatAck {
                cancel_requested: self.cancel_on_heartbeat,
            })),
            _ => Reply::Now(Ok(Response::Ack)),
        }
    }
}
