//! A workflow task scheduled while a poll waits on its queue is started for that poll in the
//! commit that schedules it (Temporal's sync match): no task row, no lease, no start commit
//! of the poll's own. On a manual clock, with polls driven step by step.

mod support;

use serde_json::json;
use support::engine_harness::{Harness, assert_replays, count};
use support::hooked_storage::{HookedStorage, harness_with_waiting_polls};
use support::stepped::Stepped;
use support::workflows::Chain;
use warpflow_engine::Payload;
use warpflow_engine::history::EventAttributes as E;
use warpflow_engine::service::api::{ActivityTask, WorkflowPoll, WorkflowTask};
use warpflow_engine::service::{Request, Response};
use warpflow_engine::{History, Registry};

const RUN: &str = "c-1";

/// The harness, with polls that wait (60 s), over storage that counts leases and commits.
fn harness() -> (Harness, HookedStorage) {
    harness_with_waiting_polls(HookedStorage::over)
}

fn poll(h: &Harness, identity: &str) -> Stepped {
    Stepped::new(
        &h.service,
        Request::PollWorkflowTask {
            task_queue: h.queue.clone(),
            identity: identity.into(),
            workflow_types: Vec::new(),
        },
    )
}

/// The task a poll answered with.
fn task_of(poll: &Stepped) -> WorkflowTask {
    match poll.answer() {
        Some(Ok(Response::WorkflowPoll(WorkflowPoll::Task(task)))) => (**task).clone(),
        other => panic!("expected a workflow task, got {other:?}"),
    }
}

/// Who started each workflow task, in order.
fn workflow_task_starters(history: &History) -> Vec<String> {
    history
        .events
        .iter()
        .filter_map(|e| match &e.attributes {
            E::WorkflowTaskStarted { identity, .. } => Some(identity.clone()),
            _ => None,
        })
        .collect()
}

/// Polls as `identity` until the poll answers or waits: the task it got, if any.
fn poll_now(h: &Harness, identity: &str) -> Option<WorkflowTask> {
    let mut polled = poll(h, identity);
    polled.settle().then(|| task_of(&polled))
}

/// The next activity attempt, if one is ready now (its poll would otherwise wait).
fn activity_now(h: &Harness) -> Option<ActivityTask> {
    let request = Request::PollActivityTask {
        task_queue: h.queue.clone(),
        identity: h.identity.clone(),
    };
    let mut polled = Stepped::new(&h.service, request);
    if !polled.settle() {
        return None;
    }
    match polled.answer() {
        Some(Ok(Response::ActivityTask(task))) => task.as_deref().cloned(),
        other => panic!("unexpected activity poll answer {other:?}"),
    }
}

/// Runs the run to its end as the harness's worker, answering each step with 1.
fn finish(h: &mut Harness, first: &WorkflowTask) -> History {
    let mut next = Some(first.clone());
    while let Some(task) = next {
        let (token, commands) = h.run_task(&task);
        h.finish_workflow_task(token, commands).expect("completed");
        while let Some(step) = activity_now(h) {
            h.complete_activity(&step, Ok(Payload::from(json!(1))))
                .expect("completed");
        }
        next = poll_now(h, &h.identity.clone());
    }
    let history = h.history(RUN, None);
    assert!(
        history.events.last().is_some_and(|e| e.attributes.is_terminal()),
        "the run completes\n{}",
        history.render_timeline()
    );
    assert_replays(&Registry::new().with_workflow::<Chain>(), &history);
    history
}

#[test]
fn a_waiting_poll_gets_the_first_workflow_task_from_the_start_commit_itself() {
    let (mut h, storage) = harness();
    let mut waiting = poll(&h, "w1");
    assert!(!waiting.settle(), "nothing to take yet: the poll waits");
    let commits = storage.commits();
    h.start("chain", RUN, Payload::from(json!(2))).expect("started");
    assert!(waiting.settle(), "the start hands the task to the waiting poll");
    let task = task_of(&waiting);
    assert_eq!(
        storage.commits(),
        commits + 1,
        "one commit: the start, with the task started"
    );
    assert_eq!(storage.leases(), 0, "nothing was leased");
    let kinds: Vec<&str> = task.events.iter().map(|e| e.attributes.event_type()).collect();
    assert_eq!(
        kinds,
        [
            "WorkflowExecutionStarted",
            "WorkflowTaskScheduled",
            "WorkflowTaskStarted"
        ],
        "the poll's task carries the run's history up to its start"
    );
    let history = finish(&mut h, &task);
    assert_eq!(workflow_task_starters(&history)[0], "w1");
}

#[test]
fn a_failed_scheduling_commit_hands_the_poll_nothing_and_it_keeps_waiting() {
    let (mut h, storage) = harness();
    let mut waiting = poll(&h, "w1");
    assert!(!waiting.settle());
    storage.fail_next_commit();
    assert!(
        h.start("chain", RUN, Payload::from(json!(1))).is_err(),
        "the start's commit fails"
    );
    assert!(
        !waiting.settle(),
        "the poll hears nothing of the failed commit and waits on: {:?}",
        waiting.answer()
    );
    h.start("chain", RUN, Payload::from(json!(1)))
        .expect("started the second time");
    assert!(
        waiting.settle(),
        "the poll gets the task of the start that landed"
    );
    let history = finish(&mut h, &task_of(&waiting));
    assert_eq!(count(&history, "WorkflowExecutionStarted"), 1);
    assert_eq!(
        count(&history, "WorkflowTaskStarted"),
        2,
        "one per task, none lost or doubled"
    );
}

#[test]
fn the_run_s_sticky_worker_gets_its_next_task_before_a_more_recent_poll() {
    let (mut h, storage) = harness();
    h.start("chain", RUN, Payload::from(json!(1))).expect("started");
    // w1 takes the first task from the queue (nobody waited) and schedules the step.
    let mut first = poll(&h, "w1");
    assert!(first.settle(), "the task is in the queue");
    assert_eq!(storage.leases(), 1, "a poll that finds the task leases it");
    h.identity = "w1".into();
    let (token, commands) = h.run_task(&task_of(&first));
    h.finish_workflow_task(token, commands).expect("completed");
    let step = activity_now(&h).expect("the step is scheduled");
    let mut sticky = poll(&h, "w1");
    let mut recent = poll(&h, "w2");
    assert!(!sticky.settle() && !recent.settle(), "both wait");
    h.complete_activity(&step, Ok(Payload::from(json!(1))))
        .expect("completed");
    assert!(sticky.settle(), "the run's sticky worker gets the task");
    assert!(!recent.settle(), "the other poll waits on");
    let task = task_of(&sticky);
    assert!(
        task.first_event_id.0 > 1,
        "w1 gets only the events it has not seen: from {:?}",
        task.first_event_id
    );
    let history = h.history(RUN, None);
    assert_eq!(workflow_task_starters(&history), ["w1", "w1"]);
}

#[test]
fn a_poll_that_stopped_waiting_is_handed_nothing_and_the_task_waits_in_the_queue() {
    let (mut h, storage) = harness();
    let mut gone = poll(&h, "w1");
    assert!(!gone.settle());
    drop(gone); // Its connection closed.
    h.start("chain", RUN, Payload::from(json!(1))).expect("started");
    let mut next = poll(&h, "w2");
    assert!(next.settle(), "the task waited in the queue");
    assert_eq!(storage.leases(), 1, "taken from the queue, by lease");
    let history = finish(&mut h, &task_of(&next));
    assert_eq!(workflow_task_starters(&history)[0], "w2");
}
