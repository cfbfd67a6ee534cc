//! The simulated storage and network under the real engine service: injected faults surface
//! as retryable errors, and retries with the same request id are recognised.

mod support;

use futures::executor::block_on;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::json;
use std::sync::Arc;
use support::ManualClock;
use warpflow_engine::Payload;
use warpflow_engine::ids::{TaskQueue, WorkflowId};
use warpflow_engine::service::api::{IdReusePolicy, StartWorkflow};
use warpflow_engine::service::{InProcess, Request, Response, Service, ServiceConfig, ServiceError};
use warpflow_engine::storage::{MemoryStorage, RequestId, Storage};
use warpflow_sim::{SharedFaultLog, SharedTrace, SimNetwork, SimStorage};

fn start(request_id: &str) -> Request {
    Request::StartWorkflow(StartWorkflow {
        request_id: RequestId(request_id.to_owned()),
        workflow_id: WorkflowId::new("order-1"),
        workflow_type: "order".to_owned(),
        task_queue: TaskQueue::new("orders"),
        input: Payload::from(json!({"items": 3})),
        id_reuse_policy: IdReusePolicy::RejectDuplicate,
        workflow_task_timeout: None,
        signal: None,
    })
}

fn run_id(response: &Result<Response, ServiceError>) -> String {
    match response {
        Ok(Response::Started(started)) => started.run_id.to_string(),
        other => panic!("expected Started, got {other:?}"),
    }
}

#[test]
fn faults_under_the_service_are_retryable_and_retries_are_idempotent() {
    let clock = ManualClock::auto();
    let log = SharedFaultLog::new();
    let trace = SharedTrace::new();
    let storage = SimStorage::new(MemoryStorage::new(), clock.shared(), ChaCha8Rng::seed_from_u64(1))
        .with_log(log.clone())
        .with_trace(trace.clone());
    let faults = storage.faults();
    let service = Arc::new(Service::new(
        Arc::new(storage.clone()),
        clock.shared(),
        ServiceConfig::default(),
    ));
    let network = SimNetwork::new(clock.shared(), ChaCha8Rng::seed_from_u64(2))
        .with_log(log.clone())
        .with_trace(trace.clone());
    let client = network.transport("client-0", Arc::new(InProcess::new(service)));

    // The start's commit is applied but its reply lost: a retryable error...
    faults.lose_next_commit_reply();
    let first = block_on(client.call(start("start-1")));
    assert!(first.as_ref().is_err_and(ServiceError::is_retryable), "{first:?}");
    // ...and the retry with the same request id, duplicated on the wire, finds the run.
    network.duplicate_next();
    let retried = block_on(client.call(start("start-1")));
    let run = run_id(&retried);
    // A reply lost on the network: the caller retries once more, still the same run.
    network.lose_next_reply();
    assert!(block_on(client.call(start("start-1"))).is_err_and(|e| e.is_retryable()));
    assert_eq!(run_id(&block_on(client.call(start("start-1")))), run);

    let runs = block_on(storage.list_runs(None, 10)).unwrap();
    assert_eq!(runs.len(), 1, "one run, whatever was retried or duplicated");
    assert_eq!(runs[0].key.run_id.to_string(), run);
    assert_eq!(log.len(), 3);
    assert!(trace.snapshot().len() > 10);
}
