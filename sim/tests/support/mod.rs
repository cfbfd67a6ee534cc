//! Test support: a manual virtual clock, a driver for it, and commits for the storage tests.
//! (The simulator's own executor and clock are another module's; these tests depend on
//! neither.)

#![allow(dead_code, reason = "shared by several test crates, each using a part")]

use serde_json::json;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use warpflow_engine::Payload;
use warpflow_engine::env::{Clock, SharedClock, Sleep};
use warpflow_engine::history::{EventAttributes, HistoryEvent};
use warpflow_engine::ids::{EventId, RunId, TaskQueue, WorkflowId};
use warpflow_engine::service::ExecutionState;
use warpflow_engine::storage::{Commit, RequestId, RunKey, RunRecord, RunStatus, RunWrite};
use warpflow_engine::time::Timestamp;

/// 2026-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// `ms` milliseconds after [`T0`].
pub fn at(ms: u64) -> Timestamp {
    T0.plus(Duration::from_millis(ms))
}

/// A virtual clock for tests. In `auto` mode a sleep completes at once, moving the time to
/// its deadline; in manual mode it waits for [`ManualClock::advance`].
#[derive(Clone, Debug)]
pub struct ManualClock {
    auto: bool,
    // Never held across an await: each method locks and unlocks within one call.
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    now: Timestamp,
    sleepers: Vec<(Timestamp, Waker)>,
}

impl ManualClock {
    /// A clock at [`T0`] whose sleeps complete at once, moving the time forward.
    pub fn auto() -> ManualClock {
        ManualClock::new(true)
    }

    /// A clock at [`T0`] whose sleeps wait for [`ManualClock::advance`].
    pub fn manual() -> ManualClock {
        ManualClock::new(false)
    }

    fn new(auto: bool) -> ManualClock {
        ManualClock {
            auto,
            state: Arc::new(Mutex::new(State {
                now: T0,
                sleepers: Vec::new(),
            })),
        }
    }

    /// The clock as the engine's shared clock.
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }

    /// Moves the time forward by `d`, waking the sleepers that are due.
    pub fn advance(&self, d: Duration) {
        let due: Vec<Waker> = {
            let mut state = self.state.lock().unwrap();
            state.now = state.now.plus(d);
            let now = state.now;
            let (due, waiting) = state
                .sleepers
                .drain(..)
                .partition(|(deadline, _)| *deadline <= now);
            state.sleepers = waiting;
            due.into_iter().map(|(_, waker)| waker).collect()
        };
        for waker in due {
            waker.wake();
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.state.lock().unwrap().now
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let clock = self.clone();
        Sleep::boxed(std::future::poll_fn(move |cx| {
            let mut state = clock.state.lock().unwrap();
            if state.now >= deadline {
                Poll::Ready(())
            } else if clock.auto {
                state.now = deadline;
                Poll::Ready(())
            } else {
                state.sleepers.push((deadline, cx.waker().clone()));
                Poll::Pending
            }
        }))
    }
}

/// Polls `future` once, with a no-op waker: `Some` if it completed.
pub fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::Pin::new(future).poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Runs `future` on a manual clock: polls it, and while it is pending moves the time 1 ms
/// forward, up to `limit`.
pub fn drive<F: Future>(clock: &ManualClock, limit: Duration, future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    let mut waited = Duration::ZERO;
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(
            waited < limit,
            "the future did not complete within {limit:?} of virtual time"
        );
        clock.advance(Duration::from_millis(1));
        waited += Duration::from_millis(1);
    }
}

/// The run `workflow_id`/`run-1`.
pub fn run_key(workflow_id: &str) -> RunKey {
    RunKey {
        workflow_id: WorkflowId::new(workflow_id),
        run_id: RunId::new("run-1"),
    }
}

/// A commit that creates the run `workflow_id`/`run-1` with one event and records the
/// request `request_id`.
pub fn create_run(workflow_id: &str, request_id: &str) -> Commit {
    let key = run_key(workflow_id);
    let record = RunRecord {
        key: key.clone(),
        workflow_type: "test".into(),
        task_queue: TaskQueue::new("test"),
        status: RunStatus::Running,
        start_time: T0,
        close_time: None,
        next_event_id: EventId(2),
        version: 1,
        state: Arc::new(ExecutionState::new(Duration::from_secs(10), None)),
    };
    let started = HistoryEvent {
        event_id: EventId(1),
        event_time: T0,
        attributes: EventAttributes::WorkflowExecutionStarted {
            workflow_type: "test".to_owned(),
            task_queue: TaskQueue::new("test"),
            input: Payload::null(),
            workflow_task_timeout: Duration::from_secs(10),
            randomness_seed: 1,
            parent: None,
            continued_from_run_id: None,
        },
    };
    Commit {
        runs: vec![RunWrite {
            record,
            expected_next_event_id: None,
            events: vec![started],
        }],
        requests: vec![(
            RequestId(request_id.to_owned()),
            Payload::from(json!(format!("started {workflow_id}"))),
        )],
        ..Commit::default()
    }
}
