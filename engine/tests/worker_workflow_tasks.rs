//! The worker's workflow side against a scripted fake transport: first, sticky, cold and
//! stale-cache workflow tasks, tasks that fail, and queries answered from the cache or from
//! a replay.

mod fake;

use fake::harness::{EPOCH, Echo, Greet, count, greet_history, run_key, run_until, worker};
use fake::{FakeTransport, Script};
use warpflow_engine::Payload;
use warpflow_engine::history::{EventAttributes, HistoryBuilder, WorkflowTaskFailedCause};
use warpflow_engine::service::Request;
use warpflow_engine::service::api::{QueryTask, WorkflowPoll, WorkflowTask, WorkflowTaskToken};
use warpflow_engine::storage::RunKey;
use warpflow_engine::{Command, EventId, History, HistoryEvent, Registry, TimeoutType};

fn registry() -> Registry {
    Registry::new().with_workflow::<Greet>().with_activity(Echo)
}

/// The workflow task of `history` whose `WorkflowTaskStarted` is `started`, with the events
/// from `first` on.
fn task(history: &History, first: u64, started: u64) -> WorkflowPoll {
    let run = RunKey {
        workflow_id: history.workflow_id.clone(),
        run_id: history.run_id.clone(),
    };
    let events = history
        .events
        .iter()
        .filter(|e| e.event_id.0 >= first && e.event_id.0 <= started)
        .cloned()
        .collect();
    WorkflowPoll::Task(Box::new(WorkflowTask {
        token: WorkflowTaskToken {
            run,
            scheduled_event_id: EventId(started - 1),
            started_event_id: EventId(started),
            attempt: 1,
        },
        workflow_type: "greet".into(),
        events,
        first_event_id: EventId(first),
    }))
}

fn query(workflow_id: &str, query_id: u64, name: &str) -> WorkflowPoll {
    WorkflowPoll::Query(Box::new(QueryTask {
        query_id,
        run: run_key(workflow_id),
        name: name.into(),
        args: Payload::null(),
    }))
}

fn completed_commands(request: &Request) -> Option<Vec<Command>> {
    match request {
        Request::CompleteWorkflowTask { commands, .. } => Some(commands.to_vec()),
        _ => None,
    }
}

fn history_fetches(request: &Request) -> Option<String> {
    match request {
        Request::GetHistory { workflow_id, .. } => Some(workflow_id.to_string()),
        _ => None,
    }
}

fn activity_types(commands: &[Command]) -> Vec<String> {
    commands
        .iter()
        .map(|c| match c {
            Command::ScheduleActivity { activity_type, .. } => activity_type.to_string(),
            other => other.describe(),
        })
        .collect()
}

fn is_complete_wft(r: &Request) -> bool {
    matches!(r, Request::CompleteWorkflowTask { .. })
}

#[tokio::test(start_paused = true)]
async fn first_task_schedules_the_activity_and_the_next_task_uses_the_cached_instance() {
    let history = greet_history("wf-1");
    let mut script = Script::default();
    script.workflow_polls.push_back(task(&history, 1, 3));
    script.workflow_polls.push_back(task(&history, 4, 9));
    let fake = FakeTransport::scripted(script);

    let result = run_until(
        worker(fake.clone(), registry(), 1),
        &fake,
        "two tasks completed",
        |r| count(r, is_complete_wft) == 2,
    )
    .await;

    assert_eq!(result, Ok(()));
    let completions = fake.picked(completed_commands);
    assert_eq!(activity_types(&completions[0]), ["echo"]);
    assert_eq!(
        completions[1],
        [Command::CompleteWorkflow {
            result: Payload::from("hello Ada")
        }]
    );
    assert!(
        fake.picked(history_fetches).is_empty(),
        "the second task ran on the cached instance"
    );
    let identities = fake.picked(|r| match r {
        Request::CompleteWorkflowTask { identity, .. } => Some(identity.clone()),
        _ => None,
    });
    assert_eq!(identities, ["test-worker", "test-worker"]);
}

#[tokio::test(start_paused = true)]
async fn a_worker_without_the_run_cached_replays_the_history_up_to_the_task() {
    let mut history = greet_history("wf-1");
    // A signal that arrived after the task started belongs to the next task.
    let late_event = HistoryEvent {
        event_id: EventId(10),
        event_time: EPOCH,
        attributes: EventAttributes::WorkflowExecutionSignaled {
            signal_name: "late".into(),
            input: Payload::null(),
            identity: "client".into(),
        },
    };
    history.events.push(late_event);
    let mut script = Script::default();
    script.workflow_polls.push_back(task(&history, 4, 9));
    script.histories.insert(run_key("wf-1"), history);
    let fake = FakeTransport::scripted(script);

    let result = run_until(
        worker(fake.clone(), registry(), 10),
        &fake,
        "the task completed",
        |r| count(r, is_complete_wft) == 1,
    )
    .await;

    assert_eq!(result, Ok(()));
    assert_eq!(fake.picked(history_fetches), ["wf-1"]);
    assert_eq!(
        fake.picked(completed_commands),
        [vec![Command::CompleteWorkflow {
            result: Payload::from("hello Ada")
        }]]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stale_cached_instance_is_dropped_and_the_task_replayed_from_history() {
    // Task 1 (events 2-3) ran on this worker, then timed out; task 2 (5-6) is in flight.
    let mut b = HistoryBuilder::new("greet", Payload::from("Ada"));
    b.workflow_task_started();
    b.add(EventAttributes::WorkflowTaskTimedOut {
        scheduled_event_id: EventId(2),
        started_event_id: Some(EventId(3)),
        timeout_type: TimeoutType::StartToClose,
    });
    b.workflow_task_started();
    let history = b.build();
    let mut script = Script::default();
    script.workflow_polls.push_back(task(&history, 1, 3));
    script.workflow_polls.push_back(task(&history, 4, 6));
    script.histories.insert(run_key("wf-1"), history);
    let fake = FakeTransport::scripted(script);

    let result = run_until(
        worker(fake.clone(), registry(), 1),
        &fake,
        "two tasks completed",
        |r| count(r, is_complete_wft) == 2,
    )
    .await;

    assert_eq!(result, Ok(()));
    assert_eq!(fake.picked(history_fetches), ["wf-1"]);
    let completions = fake.picked(completed_commands);
    assert_eq!(activity_types(&completions[0]), ["echo"]);
    assert_eq!(activity_types(&completions[1]), ["echo"]);
    assert!(
        fake.picked(|r| matches!(r, Request::FailWorkflowTask { .. }).then_some(()))
            .is_empty()
    );
}

fn failures(request: &Request) -> Option<(WorkflowTaskFailedCause, String, String)> {
    match request {
        Request::FailWorkflowTask { cause, failure, .. } => {
            Some((*cause, failure.error_type.clone(), failure.message.clone()))
        }
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn an_unknown_workflow_type_fails_the_task() {
    let mut b = HistoryBuilder::new("no_such_workflow", Payload::null());
    b.workflow_task_started();
    let mut script = Script::default();
    script.workflow_polls.push_back(task(&b.build(), 1, 3));
    let fake = FakeTransport::scripted(script);

    let result = run_until(
        worker(fake.clone(), registry(), 10),
        &fake,
        "the task failed",
        |r| count(r, |r| matches!(r, Request::FailWorkflowTask { .. })) == 1,
    )
    .await;

    assert_eq!(result, Ok(()));
    let failures = fake.picked(failures);
    assert_eq!(failures[0].0, WorkflowTaskFailedCause::BadPayload);
    assert_eq!(failures[0].1, "UnknownWorkflowType");
    assert!(failures[0].2.contains("no_such_workflow"), "{}", failures[0].2);
}

#[tokio::test(start_paused = true)]
async fn a_history_the_code_no_longer_produces_fails_the_task_with_the_report() {
    let mut b = HistoryBuilder::new("greet", Payload::from("Ada"));
    b.workflow_task();
    let charge = b.activity_scheduled("1", "charge_payment", Payload::from("Ada"));
    b.activity_completed(charge, Payload::from("chg"));
    b.workflow_task_started();
    let mut script = Script::default();
    script.workflow_polls.push_back(task(&b.build(), 1, 9));
    let fake = FakeTransport::scripted(script);

    let result = run_until(
        worker(fake.clone(), registry(), 10),
        &fake,
        "the task failed",
        |r| count(r, |r| matches!(r, Request::FailWorkflowTask { .. })) == 1,
    )
    .await;

    assert_eq!(result, Ok(()));
    let failures = fake.picked(failures);
    assert_eq!(failures[0].0, WorkflowTaskFailedCause::NonDeterminism);
    assert_eq!(failures[0].1, "Nondeterminism");
    assert!(failures[0].2.contains("charge_payment"), "{}", failures[0].2);
}

fn query_answers(request: &Request) -> Option<(u64, Result<Payload, String>)> {
    match request {
        Request::RespondQuery { query_id, answer } => Some((*query_id, answer.clone())),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn queries_are_answered_from_the_cache_or_from_a_replay() {
    let cached = greet_history("wf-1");
    let mut script = Script::default();
    script.workflow_polls.push_back(task(&cached, 1, 3));
    script.workflow_polls.push_back(query("wf-1", 1, "status"));
    script.workflow_polls.push_back(query("wf-1", 2, "no_such_query"));
    script.workflow_polls.push_back(query("wf-2", 3, "status"));
    script.workflow_polls.push_back(query("wf-3", 4, "status"));
    script.histories.insert(run_key("wf-2"), greet_history("wf-2"));
    let fake = FakeTransport::scripted(script);

    let result = run_until(worker(fake.clone(), registry(), 1), &fake, "four answers", |r| {
        count(r, |r| matches!(r, Request::RespondQuery { .. })) == 4
    })
    .await;

    assert_eq!(result, Ok(()));
    let answers = fake.picked(query_answers);
    assert_eq!(answers[0], (1, Ok(Payload::from("waiting for echo"))));
    assert_eq!(answers[1].0, 2);
    assert!(
        answers[1].1.as_ref().is_err_and(|e| e.contains("unknown query")),
        "{answers:?}"
    );
    assert_eq!(answers[2], (3, Ok(Payload::from("waiting for echo"))));
    assert_eq!(answers[3].0, 4);
    assert!(
        answers[3].1.as_ref().is_err_and(|e| e.contains("wf-3")),
        "{answers:?}"
    );
    // Only the runs that were not cached were replayed.
    assert_eq!(fake.picked(history_fetches), ["wf-2", "wf-3"]);
}
