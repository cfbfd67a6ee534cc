//! The client against a fake transport: retries with the same request id, bounded and only
//! for retryable errors; seeded request ids; typed results that follow continue-as-new;
//! typed queries and payload errors.

mod fake;

use fake::{FakeTransport, Reply};
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Arc;
use warpflow_engine::Payload;
use warpflow_engine::adapters::TokioClock;
use warpflow_engine::client::{CallRetry, Client, ClientError, StartOptions, WorkflowFailure};
use warpflow_engine::service::api::{RunOutcome, Started};
use warpflow_engine::service::{Request, Response, ServiceError};
use warpflow_engine::storage::RequestId;
use warpflow_engine::workflow::{Query, Signal, Workflow, WorkflowCtx};
use warpflow_engine::{Failure, PayloadError, RunId, Timestamp, WorkflowResult};

const EPOCH: Timestamp = Timestamp::from_millis(1_767_225_600_000);

struct Greet;
impl Workflow for Greet {
    const NAME: &'static str = "greet";
    type Input = String;
    type Output = String;
    async fn run(_ctx: WorkflowCtx, name: String) -> WorkflowResult<String> {
        Ok(format!("hello {name}"))
    }
}

struct Nudge;
impl Signal for Nudge {
    const NAME: &'static str = "nudge";
    type Input = u32;
}

struct Progress;
impl Query for Progress {
    const NAME: &'static str = "progress";
    type Args = String;
    type Output = u32;
}

fn client(fake: Arc<FakeTransport>, seed: u64) -> Client {
    Client::new(fake, Arc::new(TokioClock::starting_at(EPOCH)), seed)
}

fn started(run_id: &str) -> Result<Response, ServiceError> {
    Ok(Response::Started(Started {
        run_id: run_id.into(),
        created: true,
    }))
}

fn unavailable() -> Result<Response, ServiceError> {
    Err(ServiceError::Unavailable("restarting".into()))
}

/// A fake that answers requests with `replies` in order, then acknowledges.
fn replying(replies: Vec<Result<Response, ServiceError>>) -> Arc<FakeTransport> {
    let mut replies = VecDeque::from(replies);
    FakeTransport::new(move |_| Reply::Now(replies.pop_front().unwrap_or(Ok(Response::Ack))))
}

fn start_request_ids(request: &Request) -> Option<RequestId> {
    match request {
        Request::StartWorkflow(start) => Some(start.request_id.clone()),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_retryable_error_is_retried_with_the_same_request_id_after_a_backoff() {
    let fake = replying(vec![unavailable(), unavailable(), started("run-1")]);
    let clock = Arc::new(TokioClock::starting_at(EPOCH));
    let client = Client::new(fake.clone(), clock.clone(), 7);

    let handle = client
        .start::<Greet>("greet-1", &"Ada".to_owned(), StartOptions::new("default"))
        .await
        .unwrap();

    assert_eq!(handle.workflow_id().as_str(), "greet-1");
    assert_eq!(handle.run_id(), Some(&RunId::new("run-1")));
    let ids = fake.picked(start_request_ids);
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    // Backoffs of 100 ms then 200 ms, on the clock.
    use warpflow_engine::env::Clock;
    assert_eq!(clock.now(), Timestamp::from_millis(EPOCH.as_millis() + 300));
    let Request::StartWorkflow(start) = &fake.requests()[0] else {
        panic!("expected a start")
    };
    assert_eq!(start.workflow_type, "greet");
    assert_eq!(start.input, json!("Ada"));
    assert_eq!(start.signal, None);
}

#[tokio::test(start_paused = true)]
async fn retries_are_bounded() {
    let fake = FakeTransport::new(|_| Reply::Now(unavailable()));
    let retry = CallRetry {
        max_attempts: 3,
        ..CallRetry::default()
    };
    let client = client(fake.clone(), 7).with_retry(retry);

    let error = client
        .start::<Greet>("greet-1", &"Ada".to_owned(), StartOptions::new("default"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, ClientError::Service(ServiceError::Unavailable(_))),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_non_retryable_error_is_returned_at_once() {
    let refusal = ServiceError::AlreadyStarted {
        workflow_id: "greet-1".into(),
        run_id: "run-0".into(),
    };
    let fake = replying(vec![Err(refusal.clone())]);
    let error = client(fake.clone(), 7)
        .start::<Greet>("greet-1", &"Ada".to_owned(), StartOptions::new("default"))
        .await
        .unwrap_err();
    assert_eq!(error, ClientError::Service(refusal));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn request_ids_are_distinct_per_call_and_repeat_per_seed() {
    let ids = |seed| {
        let client = client(replying(vec![]), seed);
        (0..3).map(|_| client.new_request_id()).collect::<Vec<_>>()
    };
    let first = ids(1);
    assert_eq!(first, ids(1));
    assert_ne!(first, ids(2));
    assert_ne!(first[0], first[1]);
    assert_eq!(first[0].0.len(), 36, "a UUID: {}", first[0].0);
    // Clones share the stream, so they never hand out the same id twice.
    let client = client(replying(vec![]), 1);
    let clone = client.clone();
    assert_ne!(client.new_request_id(), clone.new_request_id());
}

fn waited_runs(request: &Request) -> Option<Option<RunId>> {
    match request {
        Request::WaitOutcome { run_id, .. } => Some(run_id.clone()),
        _ => None,
    }
}

fn outcome(outcome: RunOutcome) -> Result<Response, ServiceError> {
    Ok(Response::Outcome(Some(outcome)))
}

#[tokio::test(start_paused = true)]
async fn result_waits_and_follows_continue_as_new_to_the_last_run() {
    let fake = replying(vec![
        Ok(Response::Outcome(None)),
        outcome(RunOutcome::ContinuedAsNew("run-2".into())),
        outcome(RunOutcome::Completed(Payload::from("hello Ada"))),
    ]);
    let handle = client(fake.clone(), 7).handle_for_run::<Greet>("greet-1", "run-1");

    assert_eq!(handle.result().await, Ok("hello Ada".to_owned()));
    assert_eq!(
        fake.picked(waited_runs),
        [Some("run-1".into()), Some("run-1".into()), Some("run-2".into())]
    );
}

#[tokio::test(start_paused = true)]
async fn result_reports_how_the_run_closed() {
    let failure = Failure::new("OutOfStock", "no more widgets");
    let cases = [
        (
            RunOutcome::Failed(failure.clone()),
            WorkflowFailure::Failed(failure),
        ),
        (RunOutcome::Canceled, WorkflowFailure::Canceled),
        (
            RunOutcome::Terminated("ops".into()),
            WorkflowFailure::Terminated("ops".into()),
        ),
        (RunOutcome::TimedOut, WorkflowFailure::TimedOut),
    ];
    for (closed, expected) in cases {
        let handle = client(replying(vec![outcome(closed)]), 7).handle::<Greet>("greet-1");
        assert_eq!(handle.result().await, Err(expected));
    }
}

#[tokio::test(start_paused = true)]
async fn a_result_of_the_wrong_type_is_a_typed_payload_error() {
    let handle = client(
        replying(vec![outcome(RunOutcome::Completed(Payload::from(json!(42))))]),
        7,
    )
    .handle::<Greet>("greet-1");
    let Err(WorkflowFailure::Client(ClientError::Payload(PayloadError::Decode { what, .. }))) =
        handle.result().await
    else {
        panic!("expected a decode error");
    };
    assert_eq!(what, "result of workflow `greet`");
}

#[tokio::test(start_paused = true)]
async fn typed_signals_and_queries_carry_their_payloads() {
    let fake = FakeTransport::new(|request| {
        Reply::Now(match request {
            Request::Query { args, .. } if args == &json!("step") => {
                Ok(Response::QueryAnswer(Payload::from(json!(3))))
            }
            Request::Query { .. } => Ok(Response::QueryAnswer(Payload::from("three"))),
            _ => Ok(Response::Ack),
        })
    });
    let handle = client(fake.clone(), 7).handle::<Greet>("greet-1");

    handle.signal::<Nudge>(&5).await.unwrap();
    assert_eq!(handle.query::<Progress>(&"step".to_owned()).await, Ok(3));
    let wrong = handle.query::<Progress>(&"other".to_owned()).await;
    assert!(
        matches!(wrong, Err(ClientError::Payload(PayloadError::Decode { .. }))),
        "{wrong:?}"
    );
    handle.cancel().await.unwrap();
    handle.terminate("done").await.unwrap();

    let requests = fake.requests();
    let Request::Signal {
        name, input, run_id, ..
    } = &requests[0]
    else {
        panic!("expected a signal, got {:?}", requests[0]);
    };
    assert_eq!(
        (name.as_str(), input, run_id),
        ("nudge", &Payload::from(json!(5)), &None)
    );
    assert!(matches!(&requests[3], Request::RequestCancel { .. }));
    assert!(matches!(&requests[4], Request::Terminate { reason, .. } if reason == "done"));
}

#[tokio::test(start_paused = true)]
async fn signal_with_start_sends_the_signal_with_the_start() {
    let fake = replying(vec![started("run-9")]);
    let handle = client(fake.clone(), 7)
        .signal_with_start::<Greet, Nudge>("greet-1", &"Ada".to_owned(), &1, StartOptions::new("default"))
        .await
        .unwrap();
    assert_eq!(handle.run_id(), Some(&RunId::new("run-9")));
    let Request::StartWorkflow(start) = &fake.requests()[0] else {
        panic!("expected a start")
    };
    assert_eq!(start.signal, Some(("nudge".to_owned(), Payload::from(json!(1)))));
}

#[tokio::test(start_paused = true)]
async fn a_response_of_the_wrong_kind_is_an_error_not_a_panic() {
    let fake = replying(vec![Ok(Response::Ack)]);
    let error = client(fake, 7)
        .start_untyped(
            "greet",
            "greet-1",
            Payload::from("Ada"),
            StartOptions::new("default"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::UnexpectedResponse { request: "StartWorkflow", response } if response == "Ack"),
        "{error:?}"
    );
}
