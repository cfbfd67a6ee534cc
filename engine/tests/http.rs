//! The engine as a network server: an `HttpServer` on 127.0.0.1:0 in this process, with a
//! remote worker and client reaching it over real TCP; bad input at the server (each refused
//! with a clear error while the server keeps serving and committed state stays as it was);
//! graceful shutdown.

#![cfg(feature = "http")]

use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;
use warpflow_engine::adapters::http::{HttpServer, HttpTransport, Remote, ServerOptions, TransportOptions};
use warpflow_engine::client::{Client, ClientError, StartOptions};
use warpflow_engine::engine::Engine;
use warpflow_engine::limits::{HTTP_REQUEST_BYTES_MAX, PAYLOAD_BYTES_MAX};
use warpflow_engine::service::api::WorkflowPoll;
use warpflow_engine::service::{Request, Response, ServiceError, Transport};
use warpflow_engine::storage::{
    Commit, MemoryStorage, RequestId, RunRecord, Storage, StorageResult, Task, TaskKind, TimerRecord,
};
use warpflow_engine::worker::CancellationToken;
use warpflow_engine::workflow::{Query, Signal, Workflow, WorkflowCtx};
use warpflow_engine::{
    Activity, ActivityCtx, ActivityError, EventId, HistoryEvent, Payload, Registry, RunId, TaskQueue,
    Timestamp, WorkflowId, WorkflowResult,
};

const TOKEN: &str = "correct horse battery staple";
/// How long a test waits for something that must happen over real sockets.
const DEADLINE: Duration = Duration::from_secs(10);

struct Reserve;
impl Activity for Reserve {
    const NAME: &'static str = "reserve";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: ActivityCtx, item: String) -> Result<String, ActivityError> {
        Ok(format!("res-{item}"))
    }
}

struct Ship;
impl Activity for Ship {
    const NAME: &'static str = "ship";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: ActivityCtx, reservation: String) -> Result<String, ActivityError> {
        Ok(format!("shipped-{reservation}"))
    }
}

struct Approve;
impl Signal for Approve {
    const NAME: &'static str = "approve";
    type Input = String;
}

struct Stage;
impl Query for Stage {
    const NAME: &'static str = "stage";
    type Args = ();
    type Output = String;
}

/// Reserve, wait for approval, cool off for 200 ms, ship.
struct Checkout;
impl Workflow for Checkout {
    const NAME: &'static str = "checkout";
    type Input = String;
    type Output = String;

    async fn run(ctx: WorkflowCtx, item: String) -> WorkflowResult<String> {
        let stage = Rc::new(RefCell::new("reserving".to_owned()));
        let s = stage.clone();
        ctx.on_query::<Stage>(move |()| s.borrow().clone());
        let approver = Rc::new(RefCell::new(None::<String>));
        let a = approver.clone();
        ctx.on_signal::<Approve>(move |by| *a.borrow_mut() = Some(by));
        let step = Duration::from_secs(10);
        let reservation = ctx.activity::<Reserve>(item).start_to_close(step).await?;
        *stage.borrow_mut() = "awaiting approval".into();
        let waiting = approver.clone();
        ctx.condition(move || waiting.borrow().is_some()).await;
        *stage.borrow_mut() = "cooling off".into();
        ctx.sleep(Duration::from_millis(200)).await;
        let shipment = ctx.activity::<Ship>(reservation).start_to_close(step).await?;
        let by = approver.borrow().clone().unwrap_or_default();
        Ok(format!("{shipment} approved by {by}"))
    }
}

fn registry() -> Registry {
    Registry::new()
        .with_workflow::<Checkout>()
        .with_activity(Reserve)
        .with_activity(Ship)
}

/// A server on 127.0.0.1:0 over `storage`, running until `shutdown` is cancelled.
struct Running {
    url: String,
    addr: String,
    engine: Engine,
    shutdown: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

async fn serve(storage: Arc<dyn Storage>, token: Option<&str>) -> Running {
    let engine = Engine::builder().storage(storage).build();
    let options = ServerOptions {
        token: token.map(str::to_owned),
        shutdown_grace: Duration::from_secs(5),
        ..ServerOptions::default()
    };
    let server = HttpServer::bind("127.0.0.1:0", engine.service(), options)
        .await
        .expect("bound");
    let addr = server.local_addr().expect("address").to_string();
    let shutdown = CancellationToken::new();
    let done = tokio::task::spawn_local(server.run(shutdown.clone()));
    Running {
        url: format!("http://{addr}"),
        addr,
        engine,
        shutdown,
        done,
    }
}

/// Runs `test` on a `LocalSet`: the server and the calls in flight run as local tasks.
async fn local<F: std::future::Future<Output = ()>>(test: F) {
    tokio::task::LocalSet::new().run_until(test).await;
}

/// Polls `check` until it holds, for at most [`DEADLINE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn event_types(events: &[HistoryEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.attributes.event_type()).collect()
}

#[tokio::test]
async fn a_remote_worker_and_client_run_a_workflow_with_activities_a_timer_a_signal_and_a_query() {
    local(async {
        let server = serve(Arc::new(MemoryStorage::default()), Some(TOKEN)).await;
        let remote = Remote::connect(&server.url, Some(TOKEN.to_owned())).expect("url");
        let worker = remote.worker("shop", registry());
        assert!(worker.identity().contains(&std::process::id().to_string()));
        let client = remote.client();
        let stop = CancellationToken::new();
        let (worker_result, ()) = tokio::join!(worker.run(stop.clone()), async {
            let handle = client
                .start::<Checkout>("checkout-1", &"book".to_owned(), StartOptions::new("shop"))
                .await
                .expect("started");
            eventually("the workflow awaits approval", || async {
                handle.query::<Stage>(&()).await.ok().as_deref() == Some("awaiting approval")
            })
            .await;
            handle
                .signal::<Approve>(&"ada".to_owned())
                .await
                .expect("signalled");
            let started = Instant::now();
            assert_eq!(
                handle.result().await.expect("result"),
                "shipped-res-book approved by ada"
            );
            assert!(started.elapsed() >= Duration::from_millis(200), "the timer ran");
            let history = handle.history().await.expect("history");
            let types = event_types(&history.events);
            for expected in [
                "ActivityTaskCompleted",
                "WorkflowExecutionSignaled",
                "TimerStarted",
                "TimerFired",
                "WorkflowExecutionCompleted",
            ] {
                assert!(types.contains(&expected), "{expected} in {types:?}");
            }
            warpflow_engine::history::validate(&history).expect("well-formed");
            warpflow_engine::Replayer::new(registry())
                .check(&history)
                .expect("replays");
            stop.cancel();
        });
        worker_result.expect("worker stopped cleanly");
        server.shutdown.cancel();
        server.done.await.expect("server stopped");
    })
    .await;
}

/// Every run and its history: what a bad request must leave unchanged.
async fn committed(client: &Client) -> String {
    let runs = client.list_runs(None).await.expect("runs");
    let mut state = serde_json::to_string(&runs).expect("json");
    for run in &runs {
        let history = client
            .history(&run.run.workflow_id, Some(&run.run.run_id))
            .await
            .expect("history");
        state.push_str(&history.to_json_pretty());
    }
    state
}

/// Sends raw bytes and reads the reply until the server closes: (status, body).
async fn raw(addr: &str, request: &[u8]) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connected");
        stream.write_all(request).await.expect("sent");
        let mut reply = Vec::new();
        // A reset after the reply (the server closing with a body unread) ends the read.
        let _ = stream.read_to_end(&mut reply).await;
        reply
    };
    let reply = tokio::time::timeout(DEADLINE, exchange)
        .await
        .expect("a reply in time");
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {reply:?}"));
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn post(token: Option<&str>, content_length: usize, body: &str) -> Vec<u8> {
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /v1/call HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\n\
         {authorization}Content-Length: {content_length}\r\n\r\n{body}"
    )
    .into_bytes()
}

fn post_json(token: Option<&str>, body: &str) -> Vec<u8> {
    post(token, body.len(), body)
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_the_server_keeps_serving_with_its_state_unchanged() {
    local(async {
        let server = serve(Arc::new(MemoryStorage::default()), Some(TOKEN)).await;
        let remote = Remote::connect(&server.url, Some(TOKEN.to_owned())).expect("url");
        let worker = remote.worker("shop", registry());
        let client = remote.client();
        let stop = CancellationToken::new();
        let (worker_result, ()) = tokio::join!(worker.run(stop.clone()), async {
            // One run to completion: state to protect, and a worker that announced its types.
            let first = client
                .start::<Checkout>("checkout-1", &"book".to_owned(), StartOptions::new("shop"))
                .await
                .expect("started");
            first
                .signal::<Approve>(&"ada".to_owned())
                .await
                .expect("signalled");
            first.result().await.expect("completed");
            let before = committed(&client).await;
            let addr = server.addr.as_str();
            let list = r#"{"ListRuns":{"workflow_id":null}}"#;

            // Raw HTTP: each refusal is a JSON error naming the problem.
            let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
                (
                    "malformed JSON",
                    post_json(Some(TOKEN), "{ nope"),
                    400,
                    "line 1 column 3",
                ),
                (
                    "an unknown request",
                    post_json(Some(TOKEN), r#"{"Frobnicate":{"workflow_id":"x"}}"#),
                    400,
                    "unknown variant `Frobnicate`",
                ),
                (
                    "a field of the wrong type",
                    post_json(Some(TOKEN), r#"{"Describe":{"workflow_id":7,"run_id":null}}"#),
                    400,
                    "at `Describe.workflow_id`",
                ),
                (
                    "an oversized body",
                    post(Some(TOKEN), HTTP_REQUEST_BYTES_MAX + 1, ""),
                    413,
                    "LimitExceeded",
                ),
                ("no token", post_json(None, list), 401, "requires a token"),
                (
                    "a wrong token",
                    post_json(Some("guess"), list),
                    401,
                    "the bearer token is wrong",
                ),
            ];
            for (what, request, status, expected) in cases {
                let (got, body) = raw(addr, &request).await;
                assert_eq!(got, status, "{what}: {body}");
                assert!(
                    body.starts_with(r#"{"Err":"#) && body.contains(expected),
                    "{what}: {body}"
                );
                assert_eq!(committed(&client).await, before, "{what} changed nothing");
            }

            // Clients that go away mid-request: in the headers, and in the body.
            for half in [
                b"POST /v1/call HTTP/1.1\r\nHost: te".to_vec(),
                post(
                    Some(TOKEN),
                    100,
                    r#"{"Terminate":{"request_id":"r","workflow_id":"checkout-1""#,
                ),
            ] {
                let mut stream = TcpStream::connect(addr).await.expect("connected");
                stream.write_all(&half).await.expect("sent");
                drop(stream);
            }
            let (status, body) = raw(
                addr,
                format!("GET /v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
                    .as_bytes(),
            )
            .await;
            assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
            assert_eq!(committed(&client).await, before, "half requests changed nothing");

            // Typed errors on the client side.
            let error = client
                .start_untyped("no_such_type", "x-1", Payload::null(), StartOptions::new("shop"))
                .await
                .unwrap_err();
            assert!(
                matches!(&error, ClientError::Service(ServiceError::UnknownWorkflowType { known, .. }) if known == &["checkout"]),
                "{error}"
            );
            let big = Payload::from(json!("x".repeat(PAYLOAD_BYTES_MAX + 1)));
            let error = client
                .start_untyped("checkout", "x-2", big, StartOptions::new("shop"))
                .await
                .unwrap_err();
            assert!(
                error.to_string().contains("over the limit"),
                "the service's payload check: {error}"
            );
            let huge = Payload::from(json!("x".repeat(HTTP_REQUEST_BYTES_MAX)));
            let error = client
                .start_untyped("checkout", "x-3", huge, StartOptions::new("shop"))
                .await
                .unwrap_err();
            assert!(
                matches!(&error, ClientError::Service(ServiceError::LimitExceeded { limit, .. }) if *limit == HTTP_REQUEST_BYTES_MAX),
                "{error}"
            );
            for token in [None, Some("guess".to_owned())] {
                let intruder = Remote::connect(&server.url, token).expect("url").client();
                let error = intruder.list_runs(None).await.unwrap_err();
                assert!(error.to_string().starts_with("unauthorized: "), "{error}");
                assert!(!error.is_retryable());
            }
            assert_eq!(committed(&client).await, before, "typed refusals changed nothing");

            // And the server still runs workflows.
            let second = client
                .start::<Checkout>("checkout-2", &"pen".to_owned(), StartOptions::new("shop"))
                .await
                .expect("started");
            second
                .signal::<Approve>(&"bob".to_owned())
                .await
                .expect("signalled");
            assert_eq!(
                second.result().await.expect("completed"),
                "shipped-res-pen approved by bob"
            );
            stop.cancel();
        });
        worker_result.expect("worker stopped cleanly");
        server.shutdown.cancel();
        server.done.await.expect("server stopped");
    })
    .await;
}

#[tokio::test]
async fn a_worker_with_a_wrong_token_stops_with_unauthorized() {
    local(async {
        let server = serve(Arc::new(MemoryStorage::default()), Some(TOKEN)).await;
        let worker = Remote::connect(&server.url, Some("guess".to_owned()))
            .expect("url")
            .worker("shop", registry());
        let error = tokio::time::timeout(DEADLINE, worker.run(CancellationToken::new()))
            .await
            .expect("stops at once")
            .unwrap_err();
        assert!(matches!(error, ServiceError::Unauthorized(_)), "{error}");
        server.shutdown.cancel();
        server.done.await.expect("server stopped");
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_so_retried() {
    // A port nothing listens on: bind one, then free it.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bound")
        .local_addr()
        .expect("address");
    let transport = HttpTransport::new(&format!("http://{addr}"), TransportOptions::default()).expect("url");
    let error = transport
        .call(Request::ListRuns { workflow_id: None })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ServiceError::Unavailable(m) if m.contains("cannot connect")),
        "{error}"
    );
    assert!(error.is_retryable());
}

/// Storage whose next commit, once armed, waits for the test to release it.
#[derive(Default)]
struct GatedStorage {
    inner: MemoryStorage,
    gate: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
}

impl GatedStorage {
    /// Arms the gate: (a receiver told when a commit reaches it, the sender that releases it).
    fn arm(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (entered_tx, entered_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        *self.gate.lock().expect("gate") = Some((entered_tx, release_rx));
        (entered_rx, release_tx)
    }
}

type Fut<'a, T> = futures::future::BoxFuture<'a, StorageResult<T>>;

impl Storage for GatedStorage {
    fn commit(&self, commit: Commit) -> Fut<'_, ()> {
        let gate = self.gate.lock().expect("gate").take();
        Box::pin(async move {
            if let Some((entered, release)) = gate {
                let _ = entered.send(());
                let _ = release.await;
            }
            self.inner.commit(commit).await
        })
    }
    fn get_run<'a>(
        &'a self,
        workflow_id: &'a WorkflowId,
        run_id: Option<&'a RunId>,
    ) -> Fut<'a, Option<RunRecord>> {
        self.inner.get_run(workflow_id, run_id)
    }
    fn read_events<'a>(
        &'a self,
        run: &'a warpflow_engine::storage::RunKey,
        from: EventId,
    ) -> Fut<'a, Vec<HistoryEvent>> {
        self.inner.read_events(run, from)
    }
    fn list_runs<'a>(&'a self, workflow_id: Option<&'a WorkflowId>, limit: usize) -> Fut<'a, Vec<RunRecord>> {
        self.inner.list_runs(workflow_id, limit)
    }
    fn lease_task<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
        owner: &'a str,
        lease_for: Duration,
    ) -> Fut<'a, Option<Task>> {
        self.inner.lease_task(queue, kind, now, owner, lease_for)
    }
    fn next_task_time<'a>(
        &'a self,
        queue: &'a TaskQueue,
        kind: TaskKind,
        now: Timestamp,
    ) -> Fut<'a, Option<Timestamp>> {
        self.inner.next_task_time(queue, kind, now)
    }
    fn due_timers(&self, now: Timestamp, limit: usize) -> Fut<'_, Vec<TimerRecord>> {
        self.inner.due_timers(now, limit)
    }
    fn next_timer_due(&self) -> Fut<'_, Option<Timestamp>> {
        self.inner.next_timer_due()
    }
    fn get_request<'a>(&'a self, request_id: &'a RequestId) -> Fut<'a, Option<Payload>> {
        self.inner.get_request(request_id)
    }
}

#[tokio::test]
async fn shutdown_lets_a_commit_in_flight_answer_ends_long_polls_and_stops_accepting() {
    local(async {
        let storage = Arc::new(GatedStorage::default());
        let server = serve(storage.clone(), None).await;
        let transport = HttpTransport::new(&server.url, TransportOptions::default()).expect("url");
        let poll = tokio::task::spawn_local(transport.call(Request::PollWorkflowTask {
            task_queue: "idle".into(),
            identity: "test".into(),
            workflow_types: vec![],
        }));
        let (entered, release) = storage.arm();
        let client = Remote::connect(&server.url, None).expect("url").client();
        let start = tokio::task::spawn_local(async move {
            client
                .start_untyped(
                    "checkout",
                    "in-flight",
                    Payload::from("book"),
                    StartOptions::new("shop"),
                )
                .await
        });
        entered.await.expect("the start reached its commit");
        let stopping = Instant::now();
        server.shutdown.cancel();
        // The long poll is answered at once (or, had it not arrived yet, refused): retryable
        // either way, and it does not hold the shutdown for the poll timeout.
        match poll.await.expect("poll task") {
            Err(error) => assert!(error.is_retryable(), "{error}"),
            Ok(Response::WorkflowPoll(WorkflowPoll::Empty)) => panic!("the poll waited out its timeout"),
            Ok(other) => panic!("unexpected answer {other:?}"),
        }
        release.send(()).expect("released");
        let started = start
            .await
            .expect("start task")
            .expect("the call in flight is answered");
        server.done.await.expect("server stopped");
        assert!(
            stopping.elapsed() < Duration::from_secs(5),
            "{:?}",
            stopping.elapsed()
        );
        let run = server
            .engine
            .client()
            .describe(&"in-flight".into(), None)
            .await
            .expect("committed");
        assert_eq!(run.run.run_id, started.run_id);
        let error = transport
            .call(Request::ListRuns { workflow_id: None })
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ServiceError::Unavailable(_)),
            "no longer accepting: {error}"
        );
    })
    .await;
}
