//! A minimal in-memory recorder for the engine core's tests: it plays the engine's part just
//! enough to turn a workflow's commands into a realistic history (activities resolved by a
//! script, timers fired in due order, signals and cancel requests injected between tasks).
//! The real service (engine issue) replaces it everywhere outside these tests.

#![allow(dead_code)]

pub mod engine_harness;
pub mod hooked_storage;
pub mod stepped;
pub mod workflows;

use std::collections::{BTreeMap, VecDeque};
use warpflow_engine::history::{EventAttributes as E, HistoryEvent, RetryState};
use warpflow_engine::ids::{EventId, RunId, TaskQueue, WorkflowId};
use warpflow_engine::{
    ActivationError, Command, Failure, History, Payload, Registry, Timestamp, WorkflowInstance,
};

/// 2026-01-01T00:00:00Z: histories are byte-stable.
pub const EPOCH: Timestamp = Timestamp::from_millis(1_767_225_600_000);

pub type ActivityScript = Box<dyn FnMut(&str, &Payload) -> Result<Payload, Failure>>;

/// Something to inject before workflow task number `before_task` (1-based) is scheduled.
pub enum Injection {
    Signal { name: String, input: Payload },
    CancelRequest,
}

pub struct Recorder {
    pub events: Vec<HistoryEvent>,
    now: Timestamp,
    instance: WorkflowInstance,
    script: ActivityScript,
    wft_completed: EventId,
    activities: BTreeMap<EventId, (String, Payload)>,
    cancel_requested: Vec<EventId>,
    timers: BTreeMap<(Timestamp, EventId), warpflow_engine::TimerId>,
    children: BTreeMap<EventId, (WorkflowId, String, Payload)>,
    injections: VecDeque<(u32, Injection)>,
    tasks: u32,
    closed: bool,
}

impl Recorder {
    pub fn new(registry: Registry, workflow_type: &str, input: Payload, script: ActivityScript) -> Recorder {
        let mut recorder = Recorder {
            events: Vec::new(),
            now: EPOCH,
            instance: WorkflowInstance::new(registry, WorkflowId::new("wf-1"), RunId::new("run-1")),
            script,
            wft_completed: EventId(0),
            activities: BTreeMap::new(),
            cancel_requested: Vec::new(),
            timers: BTreeMap::new(),
            children: BTreeMap::new(),
            injections: VecDeque::new(),
            tasks: 0,
            closed: false,
        };
        recorder.push(E::WorkflowExecutionStarted {
            workflow_type: workflow_type.to_owned(),
            task_queue: TaskQueue::new("default"),
            input,
            workflow_task_timeout: std::time::Duration::from_secs(10),
            randomness_seed: 7,
            parent: None,
            continued_from_run_id: None,
        });
        recorder
    }

    /// Injects `injection` just before workflow task `before_task` is scheduled.
    pub fn inject(&mut self, before_task: u32, injection: Injection) {
        self.injections.push_back((before_task, injection));
    }

    fn push(&mut self, attributes: E) -> EventId {
        let event_id = EventId(self.events.len() as u64 + 1);
        self.events.push(HistoryEvent {
            event_id,
            event_time: self.now,
            attributes,
        });
        event_id
    }

    /// Runs the workflow until it closes or blocks with nothing left to deliver.
    pub fn run(mut self) -> Result<History, ActivationError> {
        self.workflow_task()?;
        while !self.closed && self.deliver_next() {
            self.workflow_task()?;
        }
        Ok(History {
            workflow_id: WorkflowId::new("wf-1"),
            run_id: RunId::new("run-1"),
            events: self.events,
        })
    }

    fn workflow_task(&mut self) -> Result<(), ActivationError> {
        self.tasks += 1;
        let seen = self.instance.next_event_id().0 as usize - 1;
        let scheduled = self.push(E::WorkflowTaskScheduled {
            task_queue: TaskQueue::new("default"),
            start_to_close_timeout: std::time::Duration::from_secs(10),
            attempt: 1,
        });
        let started = self.push(E::WorkflowTaskStarted {
            scheduled_event_id: scheduled,
            identity: "recorder".into(),
        });
        let commands = self.instance.activate(&self.events[seen..])?.unwrap_or_default();
        self.wft_completed = self.push(E::WorkflowTaskCompleted {
            scheduled_event_id: scheduled,
            started_event_id: started,
            identity: "recorder".into(),
        });
        for command in commands {
            self.record(command);
        }
        Ok(())
    }

    fn record(&mut self, command: Command) {
        let completed = self.wft_completed;
        let attributes = match command {
            Command::ScheduleActivity {
                activity_id,
                activity_type,
                input,
                options,
            } => E::ActivityTaskScheduled {
                activity_id,
                activity_type,
                input,
                options,
                workflow_task_completed_event_id: completed,
            },
            Command::RequestCancelActivity { scheduled_event_id } => {
                self.cancel_requested.push(scheduled_event_id);
                E::ActivityTaskCancelRequested {
                    scheduled_event_id,
                    workflow_task_completed_event_id: completed,
                }
            }
            Command::StartTimer { timer_id, duration } => {
                let id = EventId(self.events.len() as u64 + 1);
                self.timers
                    .insert((self.now.plus(duration), id), timer_id.clone());
                E::TimerStarted {
                    timer_id,
                    start_to_fire_timeout: duration,
                    workflow_task_completed_event_id: completed,
                }
            }
            Command::CancelTimer { timer_id } => {
                let key = self.timers.iter().find(|(_, t)| **t == timer_id).map(|(k, _)| *k);
                let started_event_id = key.map_or(EventId(0), |k| k.1);
                if let Some(key) = key {
                    self.timers.remove(&key);
                }
                E::TimerCanceled {
                    timer_id,
                    started_event_id,
                    workflow_task_completed_event_id: completed,
                }
            }
            Command::RecordMarker(marker) => E::MarkerRecorded {
                marker,
                workflow_task_completed_event_id: completed,
            },
            Command::StartChildWorkflow {
                workflow_id,
                workflow_type,
                input,
                task_queue,
                parent_close_policy,
            } => {
                let id = EventId(self.events.len() as u64 + 1);
                self.children
                    .insert(id, (workflow_id.clone(), workflow_type.clone(), input.clone()));
                E::StartChildWorkflowExecutionInitiated {
                    workflow_id,
                    workflow_type,
                    task_queue,
                    input,
                    parent_close_policy,
                    workflow_task_completed_event_id: completed,
                }
            }
            Command::RequestCancelChild { workflow_id } => {
                E::RequestCancelExternalWorkflowExecutionInitiated {
                    workflow_id,
                    child_workflow_only: true,
                    workflow_task_completed_event_id: completed,
                }
            }
            Command::CompleteWorkflow { result } => E::WorkflowExecutionCompleted {
                result,
                workflow_task_completed_event_id: completed,
            },
            Command::FailWorkflow { failure } => E::WorkflowExecutionFailed {
                failure,
                workflow_task_completed_event_id: completed,
            },
            Command::CancelWorkflow => E::WorkflowExecutionCanceled {
                workflow_task_completed_event_id: completed,
            },
            Command::ContinueAsNew(next) => E::WorkflowExecutionContinuedAsNew {
                new_execution_run_id: RunId::new("run-2"),
                workflow_type: next.workflow_type,
                task_queue: TaskQueue::new("default"),
                input: next.input,
                workflow_task_completed_event_id: completed,
            },
        };
        let event_id = self.push(attributes);
        if let E::ActivityTaskScheduled {
            activity_type, input, ..
        } = &self.events[event_id.0 as usize - 1].attributes
        {
            self.activities
                .insert(event_id, (activity_type.to_string(), input.clone()));
        }
        self.closed |= self.events[event_id.0 as usize - 1].attributes.is_terminal();
    }

    /// Delivers the next batch of outcomes; false when the workflow waits for nothing that
    /// will come.
    fn deliver_next(&mut self) -> bool {
        let mut delivered = false;
        while self
            .injections
            .front()
            .is_some_and(|(before, _)| *before <= self.tasks + 1)
        {
            let Some((_, injection)) = self.injections.pop_front() else {
                break;
            };
            match injection {
                Injection::Signal { name, input } => self.push(E::WorkflowExecutionSignaled {
                    signal_name: name,
                    input,
                    identity: "test".into(),
                }),
                Injection::CancelRequest => self.push(E::WorkflowExecutionCancelRequested {
                    cause: "test".into(),
                    identity: "test".into(),
                }),
            };
            delivered = true;
        }
        if delivered {
            return true;
        }
        if !self.activities.is_empty() {
            for (scheduled, (activity_type, input)) in std::mem::take(&mut self.activities) {
                if self.cancel_requested.contains(&scheduled) {
                    self.push(E::ActivityTaskCanceled {
                        scheduled_event_id: scheduled,
                        started_event_id: None,
                        details: None,
                    });
                    continue;
                }
                let started = self.push(E::ActivityTaskStarted {
                    scheduled_event_id: scheduled,
                    attempt: 1,
                    identity: "recorder".into(),
                });
                let attributes = match (self.script)(&activity_type, &input) {
                    Ok(result) => E::ActivityTaskCompleted {
                        scheduled_event_id: scheduled,
                        started_event_id: started,
                        result,
                    },
                    Err(failure) => E::ActivityTaskFailed {
                        scheduled_event_id: scheduled,
                        started_event_id: started,
                        failure,
                        retry_state: RetryState::MaximumAttemptsReached,
                    },
                };
                self.push(attributes);
            }
            return true;
        }
        if !self.children.is_empty() {
            for (initiated, (workflow_id, workflow_type, input)) in std::mem::take(&mut self.children) {
                let started = self.push(E::ChildWorkflowExecutionStarted {
                    initiated_event_id: initiated,
                    workflow_id,
                    run_id: RunId::new(format!("child-run-{initiated}")),
                    workflow_type: workflow_type.clone(),
                });
                let attributes = match (self.script)(&workflow_type, &input) {
                    Ok(result) => E::ChildWorkflowExecutionCompleted {
                        initiated_event_id: initiated,
                        started_event_id: started,
                        result,
                    },
                    Err(failure) => E::ChildWorkflowExecutionFailed {
                        initiated_event_id: initiated,
                        started_event_id: started,
                        failure,
                    },
                };
                self.push(attributes);
            }
            return true;
        }
        if let Some(((due, started_event_id), timer_id)) = self.timers.pop_first() {
            self.now = self.now.max(due);
            self.push(E::TimerFired {
                timer_id,
                started_event_id,
            });
            return true;
        }
        false
    }
}

/// Runs `workflow_type` with `input` to the end, with activities answered by `script`.
pub fn record(
    registry: &Registry,
    workflow_type: &str,
    input: Payload,
    script: impl FnMut(&str, &Payload) -> Result<Payload, Failure> + 'static,
) -> History {
    match Recorder::new(registry.clone(), workflow_type, input, Box::new(script)).run() {
        Ok(history) => history,
        Err(e) => panic!("recording {workflow_type} failed: {e}"),
    }
}
