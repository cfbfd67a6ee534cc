//! Activity faults for a [`SimCluster`](crate::SimCluster): every activity definition its
//! workers run is wrapped in a [`FaultyActivity`] that consults the cluster's
//! [`ActivityFaults`] knob before running the real code.
//!
//! - [`Fault::FailActivity { attempts: n }`](Fault::FailActivity): the next `n` attempts (of
//!   any activity type) fail with a retryable `InjectedFailure` without running the code;
//! - [`Fault::TimeOutActivity`]: the next attempt hangs until its cancellation token fires
//!   (then returns [`ActivityError::Cancelled`]), so the engine's start-to-close or heartbeat
//!   timeout fires and the retry policy runs the activity again.
//!
//! Attempts are numbered from 1 as they start, across workers and activity types. Arming a
//! fault only counts it: at once ([`ActivityFaults::apply`]), from a virtual time on
//! ([`ActivityFaults::schedule`], counted by the first look at the knob at or after that time,
//! so random mode arms its faults without waking the simulation), or as the attempt of a given
//! number starts ([`ActivityFaults::plan`]); each attempt it affects is logged to the
//! [`SharedFaultLog`] as it starts, with its number ([`Op::Attempt`]; `FailActivity { attempts:
//! 1 }` per failed attempt, or `TimeOutActivity`), like storage and network faults, which are
//! logged when they take effect: the log's plan arms each fault again at the very attempt it
//! affected.

use futures::future::BoxFuture;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use warpflow_engine::env::SharedClock;
use warpflow_engine::payload::Payload;
use warpflow_engine::registry::ActivityDefinition;
use warpflow_engine::{ActivityCtx, ActivityError, Registry, Timestamp};
use warpflow_sim::{Fault, Op, PlannedOps, SharedFaultLog, SharedTrace};

/// The error type of an injected activity failure.
pub const INJECTED_FAILURE: &str = "InjectedFailure";

#[derive(Debug, Default)]
struct Pending {
    failures: u64,
    timeouts: u64,
    /// Attempts started so far.
    attempts: u64,
    /// Faults planned at attempt numbers, armed as that attempt starts.
    planned: PlannedOps,
    /// Faults armed from a virtual time on, in time order.
    scheduled: VecDeque<(Timestamp, Fault)>,
}

impl Pending {
    /// Arms the scheduled faults whose time has come.
    fn arm_due(&mut self, now: Timestamp) {
        while let Some((_, fault)) = self.scheduled.pop_front_if(|(at, _)| *at <= now) {
            self.arm(&fault);
        }
    }

    /// Counts `fault` if it is an activity fault; says whether it was.
    fn arm(&mut self, fault: &Fault) -> bool {
        match fault {
            Fault::FailActivity { attempts } => self.failures += u64::from(*attempts),
            Fault::TimeOutActivity => self.timeouts += 1,
            _ => return false,
        }
        true
    }
}

/// What happens to the next attempt.
enum Verdict {
    Run,
    Fail,
    Hang,
}

/// The activity faults armed on a cluster, shared by every [`FaultyActivity`] of its workers.
/// Cheap to clone: clones share the knob.
#[derive(Clone)]
pub struct ActivityFaults {
    pending: Arc<Mutex<Pending>>,
    clock: SharedClock,
    log: SharedFaultLog,
    trace: SharedTrace,
}

impl std::fmt::Debug for ActivityFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityFaults")
            .field("pending", &*self.lock())
            .finish_non_exhaustive()
    }
}

impl ActivityFaults {
    /// A knob with nothing armed, logging to `log` and `trace` at `clock`'s time.
    pub fn new(clock: SharedClock, log: SharedFaultLog, trace: SharedTrace) -> ActivityFaults {
        ActivityFaults {
            pending: Arc::default(),
            clock,
            log,
            trace,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Arms `fault` if it is an activity fault ([`Fault::FailActivity`],
    /// [`Fault::TimeOutActivity`]) and says whether it was. Failures are counted before
    /// timeouts: armed together, the failures come first.
    pub fn apply(&self, fault: &Fault) -> bool {
        self.lock().arm(fault)
    }

    /// Arms `fault` at virtual time `at` if it is an activity fault, and says whether it
    /// was: from then on it is armed as by [`apply`](Self::apply). Faults scheduled for the
    /// same time are armed in the order they were scheduled.
    pub fn schedule(&self, at: Timestamp, fault: &Fault) -> bool {
        if !Op::Attempt(0).takes(fault) {
            return false;
        }
        let mut pending = self.lock();
        // Random mode schedules in time order: the search lands at the end.
        let after = pending.scheduled.partition_point(|(time, _)| *time <= at);
        pending.scheduled.insert(after, (at, fault.clone()));
        true
    }

    /// Plans `fault` for attempt number `attempt` (numbered from 1 as attempts start, as the
    /// log numbers them) if it is an activity fault, and says whether it was: it is armed as
    /// that attempt starts, so that attempt takes it.
    pub fn plan(&self, attempt: u64, fault: &Fault) -> bool {
        if !Op::Attempt(attempt).takes(fault) {
            return false;
        }
        self.lock().planned.plan(attempt, fault.clone());
        true
    }

    /// Disarms every activity fault armed and not yet taken, and every one scheduled (those
    /// planned at an attempt stay planned).
    pub fn clear(&self) {
        let mut pending = self.lock();
        pending.failures = 0;
        pending.timeouts = 0;
        pending.scheduled.clear();
    }

    /// The failures and timeouts armed and not yet taken.
    pub fn pending(&self) -> (u64, u64) {
        let mut pending = self.lock();
        pending.arm_due(self.clock.now());
        (pending.failures, pending.timeouts)
    }

    /// Decides the fate of an attempt starting now, and logs it if it is a fault.
    fn take(&self, ctx: &ActivityCtx) -> Verdict {
        let (verdict, number) = {
            let mut pending = self.lock();
            pending.arm_due(self.clock.now());
            pending.attempts += 1;
            let number = pending.attempts;
            for fault in pending.planned.take(number) {
                pending.arm(&fault);
            }
            let verdict = if pending.failures > 0 {
                pending.failures -= 1;
                Verdict::Fail
            } else if pending.timeouts > 0 {
                pending.timeouts -= 1;
                Verdict::Hang
            } else {
                Verdict::Run
            };
            (verdict, number)
        };
        let fault = match verdict {
            Verdict::Run => return verdict,
            Verdict::Fail => Fault::FailActivity { attempts: 1 },
            Verdict::Hang => Fault::TimeOutActivity,
        };
        let now = self.clock.now();
        let info = ctx.info();
        self.log.record(now, Some(Op::Attempt(number)), fault.clone());
        self.trace.record(
            now,
            "faults",
            format!(
                "applied: {fault} ({} {} attempt {} of {})",
                info.activity_type, info.activity_id, info.attempt, info.workflow_id
            ),
        );
        verdict
    }

    /// `registry` with every activity definition wrapped in a [`FaultyActivity`] on this knob.
    pub fn wrap(&self, registry: &Registry) -> Registry {
        let mut wrapped = registry.clone();
        for name in registry.activity_types() {
            if let Ok(inner) = registry.activity(name) {
                wrapped.register_activity_definition(Arc::new(FaultyActivity {
                    inner,
                    faults: self.clone(),
                }));
            }
        }
        wrapped
    }
}

/// An activity definition that fails or hangs when its cluster's [`ActivityFaults`] say so,
/// and otherwise runs the definition it wraps.
pub struct FaultyActivity {
    inner: Arc<dyn ActivityDefinition>,
    faults: ActivityFaults,
}

impl FaultyActivity {
    /// Wraps `inner` on the knob `faults`.
    pub fn new(inner: Arc<dyn ActivityDefinition>, faults: ActivityFaults) -> FaultyActivity {
        FaultyActivity { inner, faults }
    }
}

impl std::fmt::Debug for FaultyActivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyActivity")
            .field("activity_type", &self.inner.activity_type())
            .finish_non_exhaustive()
    }
}

impl ActivityDefinition for FaultyActivity {
    fn activity_type(&self) -> &'static str {
        self.inner.activity_type()
    }

    fn run(&self, ctx: ActivityCtx, input: Payload) -> BoxFuture<'static, Result<Payload, ActivityError>> {
        match self.faults.take(&ctx) {
            Verdict::Run => self.inner.run(ctx, input),
            Verdict::Fail => {
                let message = format!(
                    "injected failure of attempt {} of activity `{}`",
                    ctx.attempt(),
                    self.inner.activity_type()
                );
                Box::pin(async move { Err(ActivityError::retryable(INJECTED_FAILURE, message)) })
            }
            Verdict::Hang => Box::pin(async move {
                // Never heartbeats: the engine times the attempt out. The worker cancels it
                // only when it shuts down (a crash drops it).
                ctx.cancelled().await;
                Err(ActivityError::Cancelled)
            }),
        }
    }
}
