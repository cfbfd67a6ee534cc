//! The worker's liveness heartbeat against a fake transport, on tokio's paused clock: with
//! `liveness_interval` set the worker announces itself before it polls and then lists, every
//! interval, the workflow tasks and activity attempts it runs until their outcomes are
//! reported; without it, it sends no heartbeat at all.

mod fake;

use fake::harness::{EPOCH, Echo, Greet, greet_history, run_until};
use fake::{FakeTransport, LONG_POLL, Reply};
use std::sync::Arc;
use std::time::Duration;
use warpflow_engine::Payload;
use warpflow_engine::adapters::{TokioClock, TokioSpawner};
use warpflow_engine::service::api::{
    ActivityTask, ActivityTaskToken, WorkflowPoll, WorkflowTask, WorkflowTaskToken,
};
use warpflow_engine::service::{Request, Response};
use warpflow_engine::storage::RunKey;
use warpflow_engine::{Activity, ActivityCtx, ActivityError, EventId, Registry, Worker, WorkerOptions};

/// Runs for two seconds of tokio's (paused) time.
struct TwoSeconds;
impl Activity for TwoSeconds {
    const NAME: &'static str = "two_seconds";
    type Input = ();
    type Output = ();
    async fn run(&self, _ctx: ActivityCtx, (): ()) -> Result<(), ActivityError> {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(())
    }
}

fn run() -> RunKey {
    RunKey {
        workflow_id: "wf-1".into(),
        run_id: "run-1".into(),
    }
}

fn workflow_token() -> WorkflowTaskToken {
    WorkflowTaskToken {
        run: run(),
        scheduled_event_id: EventId(2),
        started_event_id: EventId(3),
        attempt: 1,
    }
}

fn activity_token() -> ActivityTaskToken {
    ActivityTaskToken {
        run: run(),
        scheduled_event_id: EventId(5),
        attempt: 1,
    }
}

/// A service that hands out greet's first workflow task (and takes a second to accept its
/// completion) and one two-second activity attempt.
fn fake() -> Arc<FakeTransport> {
    let history = greet_history("wf-1");
    let mut workflow_task = Some(WorkflowTask {
        token: workflow_token(),
        workflow_type: "greet".into(),
        events: history.events.iter().take(3).cloned().collect(),
        first_event_id: EventId(1),
    });
    let mut attempt = Some(ActivityTask {
        token: activity_token(),
        workflow_type: "greet".into(),
        activity_id: "1".into(),
        activity_type: "two_seconds".into(),
        input: Payload::null(),
        task_queue: "default".into(),
        scheduled_time: EPOCH,
        started_time: EPOCH,
        heartbeat_timeout: None,
        previous_heartbeat: None,
    });
    FakeTransport::new(move |request| match request {
        Request::PollWorkflowTask { .. } => match workflow_task.take() {
            Some(task) => Reply::Now(Ok(Response::WorkflowPoll(WorkflowPoll::Task(Box::new(task))))),
            None => Reply::After(LONG_POLL, Response::WorkflowPoll(WorkflowPoll::Empty)),
        },
        Request::CompleteWorkflowTask { .. } => Reply::After(Duration::from_secs(1), Response::Ack),
        Request::PollActivityTask { .. } => match attempt.take() {
            Some(task) => Reply::Now(Ok(Response::ActivityTask(Some(Box::new(task))))),
            None => Reply::After(LONG_POLL, Response::ActivityTask(None)),
        },
        _ => Reply::Now(Ok(Response::Ack)),
    })
}

fn worker(fake: Arc<FakeTransport>, liveness_interval: Option<Duration>) -> Worker {
    let options = WorkerOptions {
        identity: "live-worker".into(),
        liveness_interval,
        ..WorkerOptions::default()
    };
    let registry = Registry::new()
        .with_workflow::<Greet>()
        .with_activity(Echo)
        .with_activity(TwoSeconds);
    Worker::new(
        fake,
        "default",
        registry,
        options,
        Arc::new(TokioSpawner),
        Arc::new(TokioClock::starting_at(EPOCH)),
    )
}

/// What one heartbeat lists.
#[derive(Debug, PartialEq)]
struct Listed {
    activities: Vec<ActivityTaskToken>,
    workflow_tasks: Vec<WorkflowTaskToken>,
}

fn listed(request: &Request) -> Option<Listed> {
    match request {
        Request::WorkerHeartbeat {
            identity,
            running_activities,
            running_workflow_tasks,
            ..
        } => {
            assert_eq!(identity, "live-worker");
            Some(Listed {
                activities: running_activities.clone(),
                workflow_tasks: running_workflow_tasks.clone(),
            })
        }
        _ => None,
    }
}

fn is_completion(request: &Request) -> bool {
    matches!(
        request,
        Request::CompleteWorkflowTask { .. } | Request::CompleteActivityTask { .. }
    )
}

/// Both outcomes were reported and then one more heartbeat went out.
fn done(requests: &[Request]) -> bool {
    let completions: Vec<_> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| is_completion(r))
        .map(|(i, _)| i)
        .collect();
    let [_, last] = completions.as_slice() else {
        return false;
    };
    requests[last + 1..].iter().filter_map(listed).count() >= 2
}

#[tokio::test(start_paused = true)]
async fn a_worker_with_liveness_on_announces_itself_then_lists_what_it_runs_until_reported() {
    let fake = fake();
    let result = run_until(
        worker(fake.clone(), Some(Duration::from_millis(200))),
        &fake,
        "both outcomes reported",
        done,
    )
    .await;
    assert_eq!(result, Ok(()));
    let requests = fake.requests();
    let nothing = Listed {
        activities: vec![],
        workflow_tasks: vec![],
    };
    assert_eq!(
        listed(&requests[0]),
        Some(nothing),
        "the first request announces the worker, before any poll"
    );
    let beats: Vec<Listed> = requests.iter().filter_map(listed).collect();
    let with_task = beats
        .iter()
        .filter(|b| b.workflow_tasks == [workflow_token()])
        .count();
    let with_attempt = beats
        .iter()
        .filter(|b| b.activities == [activity_token()])
        .count();
    // A beat every 200 to 400 ms: the task is held for 1 s, the attempt for 2 s.
    assert!((2..=5).contains(&with_task), "{beats:#?}");
    assert!((5..=10).contains(&with_attempt), "{beats:#?}");
    let last = beats.last().expect("heartbeats");
    assert!(
        last.activities.is_empty() && last.workflow_tasks.is_empty(),
        "reported work is no longer listed: {last:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_worker_without_liveness_sends_no_heartbeat() {
    let fake = fake();
    let result = run_until(worker(fake.clone(), None), &fake, "both outcomes reported", |r| {
        r.iter().filter(|r| is_completion(r)).count() == 2
    })
    .await;
    assert_eq!(result, Ok(()));
    assert!(fake.picked(listed).is_empty());
}
