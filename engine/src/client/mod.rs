//! The client: starts workflows and talks to them through the service, over any
//! [`Transport`].
//!
//! Typed calls go through a [`WorkflowHandle`], which knows the workflow type and so the
//! types of its input, result, signals and queries. The untyped calls (`*_untyped`, and the
//! calls that take a workflow id) carry raw [`Payload`]s, for tools such as the CLI.
//!
//! Every call whose error is retryable is retried with the same request, so with the same
//! request id: a start or signal that reached the service before its answer was lost is not
//! applied twice. Request ids are UUIDs drawn from a generator seeded by the caller, so a
//! simulated run issues the same ids every time.

mod error;
mod handle;
pub(crate) mod retry;
mod untyped;

pub use error::{ClientError, WorkflowFailure};
pub use handle::WorkflowHandle;
pub use retry::CallRetry;

use crate::env::SharedClock;
use crate::ids::{RunId, TaskQueue, WorkflowId};
use crate::payload::{self, Payload};
use crate::service::api::{IdReusePolicy, StartWorkflow, Started};
use crate::service::{Request, Response, Transport};
use crate::storage::RequestId;
use crate::workflow::{Signal, Workflow};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to start a workflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartOptions {
    /// The task queue its workflow tasks go to (where its workers poll).
    pub task_queue: TaskQueue,
    /// What to do if the workflow id was used before.
    pub id_reuse_policy: IdReusePolicy,
    /// The workflow-task timeout; the service's default (10 s) when `None`.
    pub workflow_task_timeout: Option<Duration>,
}

impl StartOptions {
    /// Options for `task_queue`, with the default id-reuse policy and task timeout.
    pub fn new(task_queue: impl Into<TaskQueue>) -> StartOptions {
        StartOptions {
            task_queue: task_queue.into(),
            id_reuse_policy: IdReusePolicy::default(),
            workflow_task_timeout: None,
        }
    }
}

/// A client of the service. Cheap to clone; clones share one request-id generator.
///
/// ```no_run
/// use std::sync::Arc;
/// use warpflow_engine::WorkflowResult;
/// use warpflow_engine::adapters::{TokioClock, os_seed};
/// use warpflow_engine::client::{Client, StartOptions};
/// use warpflow_engine::service::Transport;
/// use warpflow_engine::workflow::{Workflow, WorkflowCtx};
///
/// struct Greet;
/// impl Workflow for Greet {
///     const NAME: &'static str = "greet";
///     type Input = String;
///     type Output = String;
///     async fn run(_ctx: WorkflowCtx, name: String) -> WorkflowResult<String> {
///         Ok(format!("hello {name}"))
///     }
/// }
///
/// # async fn example(transport: Arc<dyn Transport>) -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::new(transport, Arc::new(TokioClock::system()), os_seed());
/// let handle = client
///     .start::<Greet>("greet-ada", &"Ada".to_owned(), StartOptions::new("greetings"))
///     .await?;
/// assert_eq!(handle.result().await?, "hello Ada");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    transport: Arc<dyn Transport>,
    clock: SharedClock,
    ids: Arc<Mutex<ChaCha8Rng>>,
    retry: CallRetry,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over `transport`. `clock` times retry backoffs; `seed` seeds the request ids
    /// (use `adapters::os_seed()` in production, a fixed seed in simulation).
    pub fn new(transport: Arc<dyn Transport>, clock: SharedClock, seed: u64) -> Client {
        Client {
            transport,
            clock,
            ids: Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(seed))),
            retry: CallRetry::default(),
        }
    }

    /// This client with another retry schedule for retryable errors.
    pub fn with_retry(mut self, retry: CallRetry) -> Client {
        self.retry = retry;
        self
    }

    /// A fresh request id (a UUID from the client's seeded generator).
    pub fn new_request_id(&self) -> RequestId {
        let mut bytes = [0u8; 16];
        // A panic elsewhere while holding the lock leaves the generator intact: use it.
        let mut rng = self.ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        rng.fill_bytes(&mut bytes);
        RequestId(uuid::Builder::from_random_bytes(bytes).into_uuid().to_string())
    }

    /// Starts a run of workflow `W`.
    pub async fn start<W: Workflow>(
        &self,
        workflow_id: impl Into<WorkflowId>,
        input: &W::Input,
        options: StartOptions,
    ) -> Result<WorkflowHandle<W>, ClientError> {
        let workflow_id = workflow_id.into();
        let input = payload::encode(input, || format!("input of workflow `{}`", W::NAME))?;
        let started = self
            .start_request(W::NAME, workflow_id.clone(), input, options, None)
            .await?;
        Ok(WorkflowHandle::new(
            self.clone(),
            workflow_id,
            Some(started.run_id),
        ))
    }

    /// Sends signal `S` to the running run of `workflow_id`, starting a run of `W` with
    /// `input` first if none is running. The handle is for the run that got the signal.
    pub async fn signal_with_start<W: Workflow, S: Signal>(
        &self,
        workflow_id: impl Into<WorkflowId>,
        input: &W::Input,
        signal: &S::Input,
        options: StartOptions,
    ) -> Result<WorkflowHandle<W>, ClientError> {
        let workflow_id = workflow_id.into();
        let input = payload::encode(input, || format!("input of workflow `{}`", W::NAME))?;
        let signal = payload::encode(signal, || format!("input of signal `{}`", S::NAME))?;
        let started = self
            .start_request(
                W::NAME,
                workflow_id.clone(),
                input,
                options,
                Some((S::NAME.to_owned(), signal)),
            )
            .await?;
        Ok(WorkflowHandle::new(
            self.clone(),
            workflow_id,
            Some(started.run_id),
        ))
    }

    /// A handle to the current run of `workflow_id` (whichever run is the latest when each
    /// call is made).
    pub fn handle<W: Workflow>(&self, workflow_id: impl Into<WorkflowId>) -> WorkflowHandle<W> {
        WorkflowHandle::new(self.clone(), workflow_id.into(), None)
    }

    /// A handle to one run of `workflow_id`.
    pub fn handle_for_run<W: Workflow>(
        &self,
        workflow_id: impl Into<WorkflowId>,
        run_id: impl Into<RunId>,
    ) -> WorkflowHandle<W> {
        WorkflowHandle::new(self.clone(), workflow_id.into(), Some(run_id.into()))
    }

    pub(crate) async fn start_request(
        &self,
        workflow_type: &str,
        workflow_id: WorkflowId,
        input: Payload,
        options: StartOptions,
        signal: Option<(String, Payload)>,
    ) -> Result<Started, ClientError> {
        let request = Request::StartWorkflow(StartWorkflow {
            request_id: self.new_request_id(),
            workflow_id,
            workflow_type: workflow_type.to_owned(),
            task_queue: options.task_queue,
            input,
            id_reuse_policy: options.id_reuse_policy,
            workflow_task_timeout: options.workflow_task_timeout,
            signal,
        });
        match self.call(request).await? {
            Response::Started(started) => Ok(started),
            other => Err(unexpected("StartWorkflow", other)),
        }
    }

    /// Sends `request`, retrying retryable errors with the same request.
    pub(crate) async fn call(&self, request: Request) -> Result<Response, ClientError> {
        Ok(retry::call(self.transport.as_ref(), self.clock.as_ref(), &self.retry, request).await?)
    }
}

/// The error for a response that does not answer the request made.
pub(crate) fn unexpected(request: &'static str, response: Response) -> ClientError {
    ClientError::UnexpectedResponse {
        request,
        response: excerpt(&response),
    }
}

/// The start of a response's debug form: enough to tell the variant; a whole history in an
/// error message helps nobody.
pub(crate) fn excerpt(response: &Response) -> String {
    const SHOWN: usize = 200;
    let mut shown = format!("{response:?}");
    if let Some((cut, _)) = shown.char_indices().nth(SHOWN) {
        shown.truncate(cut);
        shown.push_str("...");
    }
    shown
}
