//! The long poll a killed worker leaves behind in the server, on a manual clock.
//!
//! A worker killed while its poll waits in the server does not take the poll with it: the
//! server learns that the connection closed only when it next looks at it, which may be
//! once the poll, woken by new work, has leased the task or committed its start, and then
//! it drops the call there. Whatever the poll did, the work must reach a live worker within
//! the liveness timeout (1 s) of its arrival: not after the poll's 30 s lease, nor after the
//! 10 s timeout of the task or attempt that a dead worker "started".

mod support;

use serde_json::json;
use std::time::Duration;
use support::engine_harness::{Harness, assert_replays, count, started_attempts};
use support::hooked_storage::{HookedStorage, harness_with_waiting_polls};
use support::stepped::Stepped;
use support::workflows::Chain;
use warpflow_engine::Payload;
use warpflow_engine::history::EventAttributes as E;
use warpflow_engine::service::api::{ActivityTask, WorkflowPoll, WorkflowTask};
use warpflow_engine::service::{Request, Response};
use warpflow_engine::{History, Registry};

/// The service's `worker_liveness_timeout`.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How often the live worker polls again while it waits for the work.
const PROBE: Duration = Duration::from_millis(100);
/// The workflow id of the one run.
const RUN: &str = "c-1";

/// Which kind of work the dead worker's poll waits for.
#[derive(Clone, Copy, Debug)]
enum Work {
    WorkflowTask,
    Activity,
}

/// How far the dead worker's poll gets once the work wakes it, before it is dropped.
#[derive(Clone, Copy, Debug)]
enum Dropped {
    /// Once its lease on the task landed.
    AfterLease,
    /// Once its commit starting the work landed.
    AfterStart,
}

/// What a poll handed out.
#[derive(Debug)]
enum Handed {
    WorkflowTask(Box<WorkflowTask>),
    Activity(Box<ActivityTask>),
}

/// The harness, with polls that wait (60 s) and storage answering late.
fn harness() -> (Harness, HookedStorage) {
    harness_with_waiting_polls(HookedStorage::answering_late)
}

fn poll_request(h: &Harness, work: Work, identity: &str) -> Request {
    let (task_queue, identity) = (h.queue.clone(), identity.to_owned());
    match work {
        Work::WorkflowTask => Request::PollWorkflowTask {
            task_queue,
            identity,
            workflow_types: Vec::new(),
        },
        Work::Activity => Request::PollActivityTask { task_queue, identity },
    }
}

/// What a poll answered; `None` for an empty answer.
fn handed(answer: &Response) -> Option<Handed> {
    match answer {
        Response::WorkflowPoll(WorkflowPoll::Task(task)) => Some(Handed::WorkflowTask(task.clone())),
        Response::ActivityTask(Some(task)) => Some(Handed::Activity(task.clone())),
        Response::WorkflowPoll(WorkflowPoll::Empty) | Response::ActivityTask(None) => None,
        other => panic!("unexpected poll answer {other:?}"),
    }
}

/// Polls as `identity` until the poll answers or waits: the work it got, if any.
fn poll_now(h: &Harness, work: Work, identity: &str) -> Option<Handed> {
    let mut poll = Stepped::new(&h.service, poll_request(h, work, identity));
    if !poll.settle() {
        return None; // Waiting: nothing to hand out now. Dropping it changes nothing.
    }
    match poll.answer() {
        Some(Ok(answer)) => handed(answer),
        other => panic!("the poll failed: {other:?}"),
    }
}

fn heartbeat(h: &Harness, identity: &str) {
    h.call(Request::WorkerHeartbeat {
        identity: identity.into(),
        task_queue: h.queue.clone(),
        running_activities: Vec::new(),
        running_workflow_tasks: Vec::new(),
    })
    .expect("heartbeat accepted");
}

/// How it went for the work.
struct Outcome {
    /// What the dead worker's poll answered, if it answered before it was dropped.
    orphan_answered: Option<Option<Handed>>,
    /// How long after the work arrived the live worker `w2` received it.
    redispatched_after: Duration,
    h: Harness,
}

/// `w1` heartbeats and leaves a poll for `work` waiting; it is killed. `silent_for` after
/// its last word, `work` arrives and wakes the poll, which runs until it answers or
/// `dropped` happens, and is then dropped. `w2` polls every 100 ms until it gets the work.
fn orphaned(work: Work, silent_for: Duration, dropped: Dropped) -> Outcome {
    let (mut h, late) = harness();
    h.identity = "w2".into();
    // For an attempt, w2 runs the workflow task that schedules it, and completes it later.
    let first_task = match work {
        Work::WorkflowTask => None,
        Work::Activity => {
            h.start("chain", RUN, Payload::from(json!(1))).expect("started");
            match poll_now(&h, Work::WorkflowTask, "w2") {
                Some(Handed::WorkflowTask(task)) => Some(h.run_task(&task)),
                other => panic!("w2 takes the first workflow task: {other:?}"),
            }
        }
    };
    heartbeat(&h, "w1");
    let mut orphan = Stepped::new(&h.service, poll_request(&h, work, "w1"));
    assert!(!orphan.settle(), "w1's poll waits: there is no {work:?} yet");
    h.advance(silent_for);
    match first_task {
        None => {
            h.start("chain", RUN, Payload::from(json!(1))).expect("started");
        }
        Some((token, commands)) => h.finish_workflow_task(token, commands).expect("completed"),
    }
    let (leases, commits) = (late.leases(), late.commits());
    let answered = orphan.step_until(|| match dropped {
        Dropped::AfterLease => late.leases() > leases,
        Dropped::AfterStart => late.commits() > commits,
    });
    let orphan_answered = answered.then(|| match orphan.answer() {
        Some(Ok(answer)) => handed(answer),
        other => panic!("w1's poll failed: {other:?}"),
    });
    drop(orphan); // The server notices the closed connection.
    let arrived = h.now();
    let deadline = arrived.plus(Duration::from_secs(15));
    loop {
        if let Some(handed) = poll_now(&h, work, "w2") {
            let redispatched_after = h.now().since(arrived);
            finish(&mut h, handed);
            return Outcome {
                orphan_answered,
                redispatched_after,
                h,
            };
        }
        assert!(h.now() < deadline, "the {work:?} never reached w2");
        h.advance(PROBE);
    }
}

/// Completes `handed` as w2, and then every run, as w2.
fn finish(h: &mut Harness, handed: Handed) {
    let mut next = Some(handed);
    while let Some(handed) = next {
        match handed {
            Handed::WorkflowTask(task) => {
                let (token, commands) = h.run_task(&task);
                h.finish_workflow_task(token, commands).expect("completed");
            }
            Handed::Activity(task) => h
                .complete_activity(&task, Ok(Payload::from(json!(1))))
                .expect("completed"),
        }
        next = poll_now(h, Work::WorkflowTask, "w2").or_else(|| poll_now(h, Work::Activity, "w2"));
    }
}

/// Who started what, in order: `WorkflowTaskStarted` and `ActivityTaskStarted` identities.
fn starters(history: &History) -> Vec<String> {
    history
        .events
        .iter()
        .filter_map(|e| match &e.attributes {
            E::WorkflowTaskStarted { identity, .. } | E::ActivityTaskStarted { identity, .. } => {
                Some(identity.clone())
            }
            _ => None,
        })
        .collect()
}

fn assert_started_by_w2_only(work: Work, history: &History) {
    assert!(
        starters(history).iter().all(|identity| identity == "w2"),
        "{work:?}: nothing was started by w1\n{}",
        history.render_timeline()
    );
}

/// The run completed and replays; its history.
fn completed(h: &Harness, work: Work) -> History {
    let history = h.history(RUN, None);
    assert!(
        history.events.last().is_some_and(|e| e.attributes.is_terminal()),
        "{work:?}: the run completes\n{}",
        history.render_timeline()
    );
    assert_replays(&Registry::new().with_workflow::<Chain>(), &history);
    history
}

#[test]
fn a_poll_left_by_a_worker_silent_past_the_timeout_hands_it_nothing() {
    for work in [Work::WorkflowTask, Work::Activity] {
        let outcome = orphaned(work, TIMEOUT + Duration::from_millis(500), Dropped::AfterLease);
        assert!(
            matches!(outcome.orphan_answered, Some(None)),
            "{work:?}: w1's poll answers empty, having leased nothing: {:?}",
            outcome.orphan_answered
        );
        assert_eq!(
            outcome.redispatched_after,
            Duration::ZERO,
            "{work:?}: w2 gets it at once"
        );
        assert_started_by_w2_only(work, &completed(&outcome.h, work));
    }
}

/// `w1` goes silent for half the liveness timeout, then the poll it left takes `work` and is
/// dropped at `dropped`: `w2` gets the work within the liveness timeout of its arrival, and
/// the run completes. The run's history.
///
/// A workflow-task poll waiting when the task is scheduled is handed it by the commit that
/// schedules it, so it has answered before it is dropped: the answer dies with the
/// connection.
fn back_within_the_timeout(work: Work, dropped: Dropped) -> History {
    let outcome = orphaned(work, TIMEOUT / 2, dropped);
    match work {
        Work::WorkflowTask => assert!(
            matches!(outcome.orphan_answered, Some(Some(Handed::WorkflowTask(_)))),
            "dropped {dropped:?}: {:?}",
            outcome.orphan_answered
        ),
        Work::Activity => assert!(outcome.orphan_answered.is_none(), "{work:?}: dropped {dropped:?}"),
    }
    assert!(
        outcome.redispatched_after <= TIMEOUT,
        "{work:?}: w2 got it {:?} after it arrived, not within the liveness timeout",
        outcome.redispatched_after
    );
    completed(&outcome.h, work)
}

/// Only activity polls lease what they were woken for: a waiting workflow-task poll is
/// handed its task in the commit that schedules it (`service_waiting_polls.rs`).
#[test]
fn work_leased_by_a_poll_dropped_on_the_way_is_free_again_within_the_liveness_timeout() {
    let work = Work::Activity;
    assert_started_by_w2_only(work, &back_within_the_timeout(work, Dropped::AfterLease));
}

#[test]
fn work_started_by_a_poll_dropped_on_the_way_is_taken_back_with_its_silent_worker() {
    let history = back_within_the_timeout(Work::WorkflowTask, Dropped::AfterStart);
    assert_eq!(starters(&history).first().map(String::as_str), Some("w1"));
    assert_eq!(
        count(&history, "WorkflowTaskTimedOut"),
        1,
        "w1's task, taken back"
    );
    let history = back_within_the_timeout(Work::Activity, Dropped::AfterStart);
    // Retried at once; the lost attempt leaves no event (retries are not events).
    assert_eq!(
        started_attempts(&history),
        [(2, "w2".to_owned())],
        "w1's attempt 1 lost, attempt 2 by w2"
    );
}

/// A poll woken by new work leases the task and then fails to start it (the commit fails).
/// Its caller may never poll again (a closed connection, a duplicated request's second
/// copy), and the task stays leased to nobody until the lease ends: the poll passes its
/// wake-up on, so a waiting poll looks again (and sleeps until the lease ends) rather than
/// at its own timeout. (Waiting workflow-task polls lease nothing: their task is started
/// in the commit that schedules it, `service_waiting_polls.rs`.)
#[test]
fn a_poll_that_fails_to_start_its_task_wakes_a_waiting_poll() {
    let work = Work::Activity;
    let (mut h, late) = harness();
    h.identity = "w1".into();
    // The workflow task that schedules the attempt is taken now, finished later.
    h.start("chain", RUN, Payload::from(json!(1))).expect("started");
    let (token, commands) = match poll_now(&h, Work::WorkflowTask, "w1") {
        Some(Handed::WorkflowTask(task)) => h.run_task(&task),
        other => panic!("w1 takes the first workflow task: {other:?}"),
    };
    let mut waiting = Stepped::new(&h.service, poll_request(&h, work, "w1"));
    assert!(!waiting.settle(), "nothing to take yet");
    // The most recent poll is woken first: the one that fails.
    let mut failing = Stepped::new(&h.service, poll_request(&h, work, "w2"));
    assert!(!failing.settle(), "nothing to take yet");
    h.finish_workflow_task(token, commands)
        .expect("the activity is scheduled");
    late.fail_next_commit();
    assert!(failing.settle(), "the woken poll answers");
    assert!(
        matches!(failing.answer(), Some(Err(_))),
        "its start fails: {:?}",
        failing.answer()
    );
    assert!(waiting.was_woken(), "the waiting poll is woken to look again");
}
