//! Property: whatever a workload does through the service — activities that fail, time out or
//! answer late, timers, signals (some retried), children and grandchildren under every
//! parent-close policy, continue-as-new, patches, cancel and terminate requests, workflow
//! tasks held while other things happen, worker evictions and engine restarts — once driven
//! to quiescence:
//!
//! - every history passes `validate` and `Replayer::check`;
//! - every run is closed, and closed runs leave no task or timer behind;
//! - no activity has two outcomes (or two started events);
//! - every signal the service accepted appears exactly once in some run's history, and a
//!   signal it refused appears in none.

mod support;

use futures::executor::block_on;
use futures::future::{Either, join_all, select};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use support::engine_harness::{Harness, ManualClock};
use support::workflows::Echo;
use warpflow_engine::Payload;
use warpflow_engine::history::{EventAttributes as E, ParentClosePolicy, validate};
use warpflow_engine::service::api::{ActivityTask, RunDescription, StartWorkflow, WorkflowTaskToken};
use warpflow_engine::service::{Request, Response, ServiceError};
use warpflow_engine::storage::{MemoryStorage, RequestId, RunKey, RunStatus, Storage, TaskKind};
use warpflow_engine::workflow::{Query, Signal, Workflow, WorkflowCtx};
use warpflow_engine::{
    ActivityError, Command, EventId, History, Registry, Replayer, RetryPolicy, WorkflowError, WorkflowId,
    WorkflowResult,
};

/// One step of a generated workflow.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Op {
    /// An activity with at most this many attempts (0: unlimited).
    Activity(u8),
    Timer(u16),
    /// A `poke` signal, or an hour.
    WaitSignal,
    Patch(u8),
    Parallel(u8),
    /// An activity against a timer; the loser is cancelled.
    Race(u16),
    /// A child running `child_script(script)`, awaited or left running; with `shared`, under a
    /// workflow id other runs use too.
    Child {
        wait: bool,
        policy: u8,
        script: u8,
        shared: bool,
    },
    /// A child asked to cancel after this many seconds (0: by the task that starts it).
    CancelChild {
        script: u8,
        after: u16,
    },
    /// An activity with a schedule-to-close budget and a heartbeat timeout.
    Budget(u16),
    /// Continues as new with the remaining ops.
    ContinueAsNew,
}

/// The small scripts children run (one of them starts a grandchild, one continues as new).
fn child_script(script: u8) -> Vec<Op> {
    match script % 6 {
        0 => vec![Op::Activity(0)],
        1 => vec![Op::Timer(30)],
        2 => vec![Op::WaitSignal],
        3 => vec![Op::Activity(2), Op::Timer(5)],
        4 => vec![Op::Child {
            wait: true,
            policy: 0,
            script: 0,
            shared: false,
        }],
        _ => vec![Op::ContinueAsNew, Op::Timer(5)],
    }
}

struct Poke;
impl Signal for Poke {
    const NAME: &'static str = "poke";
    type Input = u64;
}

struct LogLen;
impl Query for LogLen {
    const NAME: &'static str = "log_len";
    type Args = ();
    type Output = usize;
}

struct Scripted;
impl Workflow for Scripted {
    const NAME: &'static str = "scripted";
    type Input = Vec<Op>;
    type Output = Vec<String>;

    async fn run(ctx: WorkflowCtx, ops: Vec<Op>) -> WorkflowResult<Vec<String>> {
        let pokes = ctx.signal_channel::<Poke>();
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        ctx.on_query::<LogLen>(move |()| l.borrow().len());
        for (i, op) in ops.iter().enumerate() {
            if ctx.is_cancel_requested() {
                return Err(WorkflowError::Cancelled);
            }
            let activity = |name: String, attempts: u8| {
                ctx.activity::<Echo>(name)
                    .start_to_close(Duration::from_secs(10))
                    .retry(RetryPolicy::default().with_maximum_attempts(u32::from(attempts)))
                    .start()
            };
            let entry = match op {
                Op::Activity(attempts) => format!("{:?}", activity(format!("a{i}"), *attempts).await),
                Op::Timer(secs) => {
                    ctx.sleep(Duration::from_secs(u64::from(*secs))).await;
                    format!("slept {secs}")
                }
                Op::WaitSignal => match select(pokes.recv(), ctx.sleep(Duration::from_secs(3600))).await {
                    Either::Left((poke, _)) => format!("poke {poke:?}"),
                    Either::Right(((), _)) => "no poke".to_owned(),
                },
                Op::Patch(id) => format!("patched {}", ctx.patched(&format!("p{id}"))),
                Op::Parallel(n) => {
                    let all = join_all((0..*n).map(|k| activity(format!("p{i}-{k}"), 3))).await;
                    format!("parallel {}", all.iter().filter(|r| r.is_ok()).count())
                }
                Op::Race(secs) => {
                    let work = activity(format!("race{i}"), 0);
                    let timer = ctx.sleep(Duration::from_secs(u64::from(*secs)));
                    match select(work, timer).await {
                        Either::Left((result, timer)) => {
                            timer.cancel();
                            format!("activity won {}", result.is_ok())
                        }
                        Either::Right(((), work)) => {
                            work.cancel();
                            "timer won".to_owned()
                        }
                    }
                }
                Op::Child {
                    wait,
                    policy,
                    script,
                    shared,
                } => {
                    let policy = match policy % 3 {
                        0 => ParentClosePolicy::Terminate,
                        1 => ParentClosePolicy::RequestCancel,
                        _ => ParentClosePolicy::Abandon,
                    };
                    let mut call = ctx
                        .child::<Scripted>(child_script(*script))
                        .parent_close_policy(policy);
                    if *shared {
                        call = call.id("shared-kid");
                    }
                    let child = call.start();
                    if *wait {
                        format!("child {:?}", child.await.map(|l| l.len()))
                    } else {
                        "child left running".to_owned()
                    }
                }
                Op::CancelChild { script, after } => {
                    let child = ctx.child::<Scripted>(child_script(*script)).start();
                    if *after > 0 {
                        ctx.sleep(Duration::from_secs(u64::from(*after))).await;
                    }
                    child.cancel();
                    format!("cancelled child {:?}", child.await.map(|l| l.len()))
                }
                Op::Budget(secs) => {
                    let call = ctx
                        .activity::<Echo>(format!("b{i}"))
                        .start_to_close(Duration::from_secs(10))
                        .heartbeat_timeout(Duration::from_secs(3))
                        .schedule_to_close(Duration::from_secs(u64::from(*secs)));
                    format!("{:?}", call.await)
                }
                Op::ContinueAsNew => return Err(ctx.continue_as_new::<Scripted>(&ops[i + 1..].to_vec())),
            };
            log.borrow_mut().push(entry);
        }
        Ok(log.take())
    }
}

/// How the harness answers an activity attempt.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Ok,
    Fail,
    FailNonRetryable,
    /// Acknowledge a cancellation (or just give up).
    Cancelled,
    /// Take the attempt and say nothing for now.
    Hold,
}

#[derive(Clone, Debug)]
enum Step {
    /// Take one workflow task and complete it.
    WorkflowTask,
    /// Take one workflow task and keep it running.
    Hold,
    /// Complete the held workflow task (late, maybe).
    Release,
    Activity(Answer),
    /// Answer a held activity attempt (late, maybe).
    AnswerHeld(u8, Answer),
    /// Heartbeat from a held activity attempt.
    Heartbeat(u8),
    Advance(u32),
    Signal {
        target: u8,
        retried: bool,
    },
    SignalWithStart,
    Cancel(u8),
    Terminate(u8),
    Query(u8),
    Evict,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..4).prop_map(Op::Activity),
        2 => (1u16..120).prop_map(Op::Timer),
        2 => Just(Op::WaitSignal),
        1 => (0u8..2).prop_map(Op::Patch),
        1 => (0u8..3).prop_map(Op::Parallel),
        1 => (1u16..30).prop_map(Op::Race),
        2 => (any::<bool>(), 0u8..3, 0u8..6, prop::bool::weighted(0.2))
            .prop_map(|(wait, policy, script, shared)| Op::Child { wait, policy, script, shared }),
        1 => (0u8..6, prop_oneof![Just(0u16), 1u16..60])
            .prop_map(|(script, after)| Op::CancelChild { script, after }),
        1 => (5u16..40).prop_map(Op::Budget),
        1 => Just(Op::ContinueAsNew),
    ]
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        4 => Just(Answer::Ok),
        2 => Just(Answer::Fail),
        1 => Just(Answer::FailNonRetryable),
        1 => Just(Answer::Cancelled),
        2 => Just(Answer::Hold),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::WorkflowTask),
        2 => Just(Step::Hold),
        2 => Just(Step::Release),
        5 => answer().prop_map(Step::Activity),
        2 => (any::<u8>(), answer()).prop_map(|(i, a)| Step::AnswerHeld(i, a)),
        1 => any::<u8>().prop_map(Step::Heartbeat),
        4 => prop_oneof![1u32..2_000, 2_000u32..15_000, 15_000u32..4_000_000].prop_map(Step::Advance),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(target, retried)| Step::Signal { target, retried }),
        1 => Just(Step::SignalWithStart),
        1 => any::<u8>().prop_map(Step::Cancel),
        1 => any::<u8>().prop_map(Step::Terminate),
        1 => any::<u8>().prop_map(Step::Query),
        1 => Just(Step::Evict),
        1 => Just(Step::Restart),
    ]
}

/// The workload's driver: the harness plus what the test remembers across engine restarts.
struct Driver {
    h: Harness,
    storage: MemoryStorage,
    clock: Arc<ManualClock>,
    held_task: Option<(WorkflowTaskToken, Vec<Command>)>,
    held_activities: Vec<ActivityTask>,
    requests: u64,
    /// Signal payload → whether the service accepted it.
    signals: BTreeMap<u64, bool>,
    /// Activities whose result the service accepted: each must have its outcome recorded.
    results: Vec<(RunKey, EventId)>,
}

fn registry() -> Registry {
    Registry::new().with_workflow::<Scripted>()
}

impl Driver {
    fn new() -> Driver {
        let storage = MemoryStorage::new();
        let clock = Arc::new(ManualClock::default());
        let h = Harness::on(storage.clone(), registry(), clock.clone());
        Driver {
            h,
            storage,
            clock,
            held_task: None,
            held_activities: Vec::new(),
            requests: 0,
            signals: BTreeMap::new(),
            results: Vec::new(),
        }
    }

    /// Request ids are the test's own, so an engine restart does not reuse one.
    fn request_id(&mut self) -> RequestId {
        self.requests += 1;
        RequestId(format!("prop-{}", self.requests))
    }

    fn runs(&self) -> Vec<RunDescription> {
        match self.h.call(Request::ListRuns { workflow_id: None }) {
            Ok(Response::Runs(runs)) => runs,
            other => panic!("{other:?}"),
        }
    }

    /// The workflow ids seen so far, in a stable order.
    fn target(&self, n: u8) -> WorkflowId {
        let mut ids: Vec<_> = self.runs().into_iter().map(|r| r.run.workflow_id).collect();
        ids.sort();
        ids.dedup();
        ids[usize::from(n) % ids.len()].clone()
    }

    fn start(&mut self, workflow_id: &str, ops: &[Op], signal: Option<u64>) -> Result<(), ServiceError> {
        let request_id = self.request_id();
        let start = StartWorkflow {
            request_id,
            workflow_id: WorkflowId::new(workflow_id),
            workflow_type: "scripted".into(),
            task_queue: self.h.queue.clone(),
            input: Payload::from(json!(ops)),
            id_reuse_policy: Default::default(),
            workflow_task_timeout: None,
            signal: signal.map(|n| ("poke".to_owned(), Payload::from(json!(n)))),
        };
        self.h.start_with(start).map(|_| ())
    }

    fn next_signal(&self) -> u64 {
        self.signals.len() as u64 + 1
    }

    fn finish(&mut self, token: WorkflowTaskToken, commands: Vec<Command>) -> Result<(), TestCaseError> {
        match self.h.finish_workflow_task(token, commands) {
            Ok(()) | Err(ServiceError::StaleTask(_)) => Ok(()),
            Err(e) => Err(TestCaseError::fail(format!("completion refused: {e}"))),
        }
    }

    fn answer(&mut self, task: ActivityTask, answer: Answer) -> Result<(), TestCaseError> {
        let outcome = match answer {
            Answer::Hold => {
                self.held_activities.push(task);
                return Ok(());
            }
            Answer::Ok => Ok(task.input.clone()),
            Answer::Fail => Err(ActivityError::retryable("Flaky", "generated")),
            Answer::FailNonRetryable => Err(ActivityError::non_retryable("Fatal", "generated")),
            Answer::Cancelled => Err(ActivityError::Cancelled),
        };
        let result = outcome.is_ok();
        match self.h.complete_activity(&task, outcome) {
            Ok(()) => {
                if result {
                    self.results
                        .push((task.token.run.clone(), task.token.scheduled_event_id));
                }
                Ok(())
            }
            Err(ServiceError::StaleTask(_)) => Ok(()),
            Err(e) => Err(TestCaseError::fail(format!("activity completion refused: {e}"))),
        }
    }

    fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match *step {
            Step::WorkflowTask => {
                if let Some((token, commands)) = self.h.take_workflow_task() {
                    self.finish(token, commands)?;
                }
            }
            Step::Hold => {
                if self.held_task.is_none() {
                    self.held_task = self.h.take_workflow_task();
                }
            }
            Step::Release => {
                if let Some((token, commands)) = self.held_task.take() {
                    self.finish(token, commands)?;
                }
            }
            Step::Activity(answer) => {
                if let Some(task) = self.h.next_activity() {
                    self.answer(task, answer)?;
                }
            }
            Step::AnswerHeld(i, answer) => {
                if !self.held_activities.is_empty() {
                    let task = self
                        .held_activities
                        .remove(usize::from(i) % self.held_activities.len());
                    self.answer(task, answer)?;
                }
            }
            Step::Heartbeat(i) => {
                if !self.held_activities.is_empty() {
                    let task = &self.held_activities[usize::from(i) % self.held_activities.len()];
                    let request = Request::Heartbeat {
                        token: task.token.clone(),
                        details: Payload::from(json!(i)),
                    };
                    match self.h.call(request) {
                        Ok(_) | Err(ServiceError::StaleTask(_)) => {}
                        Err(e) => return Err(TestCaseError::fail(format!("heartbeat refused: {e}"))),
                    }
                }
            }
            Step::Advance(ms) => {
                self.h.advance(Duration::from_millis(u64::from(ms)));
            }
            Step::Signal { target, retried } => {
                let n = self.next_signal();
                let request = Request::Signal {
                    request_id: self.request_id(),
                    workflow_id: self.target(target),
                    run_id: None,
                    name: "poke".into(),
                    input: Payload::from(json!(n)),
                };
                let mut accepted = self.h.call(request.clone()).is_ok();
                if retried {
                    accepted |= self.h.call(request).is_ok();
                }
                self.signals.insert(n, accepted);
            }
            Step::SignalWithStart => {
                let n = self.next_signal();
                let accepted = self.start("wf-0", &[Op::WaitSignal], Some(n)).is_ok();
                self.signals.insert(n, accepted);
            }
            Step::Cancel(target) => {
                let request = Request::RequestCancel {
                    request_id: self.request_id(),
                    workflow_id: self.target(target),
                    run_id: None,
                    reason: "generated".into(),
                };
                let _ = self.h.call(request);
            }
            Step::Terminate(target) => {
                let request = Request::Terminate {
                    request_id: self.request_id(),
                    workflow_id: self.target(target),
                    run_id: None,
                    reason: "generated".into(),
                };
                let _ = self.h.call(request);
            }
            Step::Query(target) => {
                let target = self.target(target);
                let _ = self.h.query(target.as_str(), "log_len", Payload::null());
            }
            Step::Evict => self.h.evict_all(),
            Step::Restart => {
                self.h = Harness::on(self.storage.clone(), registry(), self.clock.clone());
            }
        }
        Ok(())
    }

    /// Answers everything and lets time pass until every run is closed.
    fn drive_to_quiescence(&mut self) -> Result<(), TestCaseError> {
        if let Some((token, commands)) = self.held_task.take() {
            self.finish(token, commands)?;
        }
        for task in std::mem::take(&mut self.held_activities) {
            self.answer(task, Answer::Ok)?;
        }
        for _ in 0..2_000 {
            let mut progressed = false;
            while let Some((token, commands)) = self.h.take_workflow_task() {
                self.finish(token, commands)?;
                progressed = true;
            }
            while let Some(task) = self.h.next_activity() {
                self.answer(task, Answer::Ok)?;
                progressed = true;
            }
            if progressed {
                continue;
            }
            if self.runs().iter().all(|r| r.status.is_closed()) {
                return self.check_nothing_left();
            }
            let now = self.h.now();
            let queue = self.h.queue.clone();
            let next = [
                block_on(self.storage.next_timer_due()),
                block_on(self.storage.next_task_time(&queue, TaskKind::Workflow, now)),
                block_on(self.storage.next_task_time(&queue, TaskKind::Activity, now)),
            ]
            .into_iter()
            .filter_map(|t| t.expect("storage answers"))
            .min();
            let Some(next) = next else {
                let open: Vec<_> = self
                    .runs()
                    .into_iter()
                    .filter(|r| !r.status.is_closed())
                    .map(|r| r.run.to_string())
                    .collect();
                return Err(TestCaseError::fail(format!(
                    "runs still open with nothing left to happen: {open:?}"
                )));
            };
            self.h.advance(next.since(now));
        }
        Err(TestCaseError::fail("the workload did not settle"))
    }

    fn check_nothing_left(&self) -> Result<(), TestCaseError> {
        let now = self.h.now();
        let queue = self.h.queue.clone();
        let timer = block_on(self.storage.next_timer_due()).expect("storage answers");
        prop_assert_eq!(timer, None, "a timer outlived every run");
        for kind in [TaskKind::Workflow, TaskKind::Activity] {
            let task = block_on(self.storage.next_task_time(&queue, kind, now)).expect("storage answers");
            prop_assert_eq!(task, None, "a {:?} task outlived every run", kind);
        }
        Ok(())
    }

    fn check_histories(&self) -> Result<(), TestCaseError> {
        let replayer = Replayer::new(registry());
        let mut signals_seen: BTreeMap<u64, usize> = BTreeMap::new();
        let mut outcomes = BTreeSet::new();
        for run in self.runs() {
            prop_assert!(run.status != RunStatus::Running, "{} is still running", run.run);
            let history = self
                .h
                .history(run.run.workflow_id.as_str(), Some(run.run.run_id.as_str()));
            let timeline = || history.render_timeline();
            if let Err(e) = validate(&history) {
                return Err(TestCaseError::fail(format!(
                    "invalid history: {e}\n{}",
                    timeline()
                )));
            }
            if let Err(e) = replayer.check(&history) {
                return Err(TestCaseError::fail(format!(
                    "does not replay: {e}\n{}",
                    timeline()
                )));
            }
            for scheduled in check_activities(&history)? {
                outcomes.insert((run.run.clone(), scheduled));
            }
            for event in &history.events {
                if let E::WorkflowExecutionSignaled { input, .. } = &event.attributes {
                    *signals_seen
                        .entry(input.as_u64().unwrap_or_default())
                        .or_default() += 1;
                }
            }
        }
        for (run, scheduled) in &self.results {
            prop_assert!(
                outcomes.contains(&(run.clone(), *scheduled)),
                "the accepted result of activity {} of {} was lost",
                scheduled,
                run
            );
        }
        for (n, accepted) in &self.signals {
            let seen = signals_seen.get(n).copied().unwrap_or(0);
            let expected = usize::from(*accepted);
            prop_assert_eq!(
                seen,
                expected,
                "signal {} (accepted: {}) was recorded {} times",
                n,
                accepted,
                seen
            );
        }
        Ok(())
    }
}

/// At most one started event and one outcome per scheduled activity; returns the activities
/// with an outcome.
fn check_activities(history: &History) -> Result<Vec<EventId>, TestCaseError> {
    let mut started: BTreeMap<EventId, usize> = BTreeMap::new();
    let mut outcomes: BTreeMap<EventId, usize> = BTreeMap::new();
    for event in &history.events {
        match &event.attributes {
            E::ActivityTaskStarted {
                scheduled_event_id, ..
            } => *started.entry(*scheduled_event_id).or_default() += 1,
            E::ActivityTaskCompleted {
                scheduled_event_id, ..
            }
            | E::ActivityTaskFailed {
                scheduled_event_id, ..
            }
            | E::ActivityTaskTimedOut {
                scheduled_event_id, ..
            }
            | E::ActivityTaskCanceled {
                scheduled_event_id, ..
            } => *outcomes.entry(*scheduled_event_id).or_default() += 1,
            _ => {}
        }
    }
    for (scheduled, n) in started.iter().chain(&outcomes) {
        prop_assert!(
            *n <= 1,
            "activity {} recorded {} times\n{}",
            scheduled,
            n,
            history.render_timeline()
        );
    }
    Ok(outcomes.into_keys().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_service_keeps_its_invariants_under_any_workload(
        roots in prop::collection::vec(prop::collection::vec(op(), 0..6), 1..3),
        steps in prop::collection::vec(step(), 0..40),
    ) {
        let mut driver = Driver::new();
        for (n, ops) in roots.iter().enumerate() {
            driver.start(&format!("wf-{n}"), ops, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        for step in &steps {
            driver.step(step)?;
        }
        driver.drive_to_quiescence()?;
        driver.check_histories()?;
    }
}
