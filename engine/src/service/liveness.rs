//! Worker liveness: which workers are alive and what work each holds, so that the work of a
//! worker that stops heartbeating goes to other workers after `worker_liveness_timeout`
//! rather than after each attempt's own timeout (issue #6).
//!
//! In memory only, never durable. Only identities that send `WorkerHeartbeat` are tracked
//! (plus, after a restart, those found holding work started by the previous instance), so a
//! deployment whose workers do not heartbeat sees no change at all. Deterministic: ordered
//! maps, and every time comes from the service's clock.
//!
//! The table is a hint, never the truth: the reaper (`reaper.rs`) checks each item against
//! the run's stored state before acting on it, and an item the table forgets is only
//! brought back by its own timeout, later, instead of by the liveness timeout. That is
//! why every rule below errs towards forgetting.
//!
//! A worker killed while its long poll waits in the service leaves that poll behind until
//! the server notices the closed connection, which may be only once the poll has taken
//! work, and the call is then dropped wherever it is. So a poll hands nothing to a worker
//! already taken for dead, a heartbeating worker's claim on a task (its lease) lasts the
//! liveness timeout at most, and a handout is recorded here before the commit that starts
//! the work is written.
//!
//! Judging an item depends on who started it:
//! - by this instance of the service: only by liveness. A heartbeat that does not list it
//!   proves nothing (the poll's reply may still be on its way), so it is forgotten once a
//!   heartbeat leaves it out for longer than the liveness timeout.
//! - by an earlier instance (found in storage at recovery; started at or before this
//!   instance's start, so a restart within the same millisecond errs towards running twice
//!   rather than waiting for a timeout): lost if its worker's first
//!   heartbeat to this instance does not list it (the poll's reply died with the old
//!   instance), or if its worker is not heard from at all within the liveness timeout of
//!   this instance's start. A worker heard from that never sends `WorkerHeartbeat` keeps its
//!   items: without heartbeats, silence does not mean death.

use super::api::{ActivityTaskToken, WorkflowTaskToken};
use crate::limits::TRACKED_WORKERS_MAX;
use crate::storage::RunKey;
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// A piece of work a worker holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Held {
    /// A started activity attempt.
    Activity(ActivityTaskToken),
    /// A started workflow task.
    WorkflowTask(WorkflowTaskToken),
}

impl Held {
    /// The run the work belongs to.
    pub fn run(&self) -> &RunKey {
        match self {
            Held::Activity(token) => &token.run,
            Held::WorkflowTask(token) => &token.run,
        }
    }
}

/// Why work is taken from a worker: named in the failure the run records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LostBecause {
    /// The worker sent nothing for the liveness timeout.
    Silent(Duration),
    /// The service restarted, and the worker's first heartbeat does not list the work.
    NotListedAfterRestart,
}

impl LostBecause {
    /// Why, in words, for the failure a lost activity attempt records.
    pub fn describe(self) -> String {
        match self {
            LostBecause::Silent(timeout) => format!(
                "nothing was heard from the worker for {} (the worker liveness timeout)",
                crate::time::format_duration(timeout)
            ),
            LostBecause::NotListedAfterRestart => "the service restarted, and the worker's first heartbeat \
                 did not list the attempt: the worker never received it"
                .to_owned(),
        }
    }
}

/// Work to take back from a worker taken for dead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Lost {
    pub identity: String,
    pub held: Held,
    pub because: LostBecause,
}

/// How an item came to be in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Since {
    /// Started by an earlier instance of the service (found at recovery).
    BeforeStart,
    /// Handed out by this instance, at this time.
    HandedAt(Timestamp),
    /// Listed by the worker's latest heartbeat.
    Listed,
}

/// One worker identity.
#[derive(Debug)]
struct Tracked {
    last_heard: Timestamp,
    /// Has sent a `WorkerHeartbeat` to this instance. Identities found only at recovery
    /// have not.
    heartbeating: bool,
    /// Heard from (any request) within the liveness timeout of this instance's start.
    heard_early: bool,
    held: BTreeMap<Held, Since>,
}

#[derive(Debug, Default)]
struct Table {
    workers: BTreeMap<String, Tracked>,
    /// Whether the work started by the previous instance has been read from storage.
    recovered: bool,
    /// Identities heard from early on, before recovery: they are alive, whatever storage says.
    early: BTreeSet<String>,
    /// Lost work whose commit failed: retried at the next pass, without judging again.
    retry: Vec<Lost>,
    /// When the timer loop will next look (`None`: it is awake, or unknown).
    loop_wakes_at: Option<Timestamp>,
}

/// The liveness table of one service instance.
#[derive(Debug)]
pub(super) struct Liveness {
    /// When this instance started: work started before is the previous instance's.
    started_at: Timestamp,
    timeout: Duration,
    /// How long a worker taken for dead is still remembered: a long poll it sent before
    /// dying may hand it work after it was reaped, and that work must be reaped too.
    linger: Duration,
    table: Mutex<Table>,
}

impl Liveness {
    pub fn new(started_at: Timestamp, timeout: Duration, linger: Duration) -> Liveness {
        Liveness {
            started_at,
            timeout,
            linger,
            table: Mutex::new(Table::default()),
        }
    }

    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Nothing here panics while holding the lock; a poisoned table is still consistent.
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn early_window_open(&self, now: Timestamp) -> bool {
        now < self.started_at.plus(self.timeout)
    }

    /// `identity` made a request: it is alive now. Returns whether it is tracked.
    pub fn heard(&self, identity: &str, now: Timestamp) -> bool {
        let mut table = self.lock();
        if let Some(worker) = table.workers.get_mut(identity) {
            worker.last_heard = worker.last_heard.max(now);
            if self.early_window_open(now) {
                worker.heard_early = true;
            }
            return true;
        }
        if !table.recovered
            && self.early_window_open(now)
            && table.early.len() < TRACKED_WORKERS_MAX
            && !table.early.contains(identity)
        {
            table.early.insert(identity.to_owned());
        }
        false
    }

    /// True until [`recover`](Self::recover) ran.
    pub fn needs_recovery(&self) -> bool {
        !self.lock().recovered
    }

    /// Records the work started by the previous instance and who holds it. Identities
    /// beyond the bound are left out (their work waits for its timeouts).
    pub fn recover(&self, found: Vec<(String, Held)>) {
        let mut table = self.lock();
        let table = &mut *table;
        table.recovered = true;
        for (identity, held) in found {
            if !table.workers.contains_key(&identity) && table.workers.len() >= TRACKED_WORKERS_MAX {
                continue;
            }
            let heard_early = table.early.contains(&identity);
            let worker = table.workers.entry(identity).or_insert_with(|| Tracked {
                last_heard: self.started_at,
                heartbeating: false,
                heard_early,
                held: BTreeMap::new(),
            });
            worker.held.insert(held, Since::BeforeStart);
        }
        table.early = BTreeSet::new();
    }

    /// A `WorkerHeartbeat`: `identity` is alive and runs `listed`. Returns the work to take
    /// back at once (see the module documentation) and whether the timer loop must look
    /// again; `None` when the table is full and the identity is new.
    pub fn heartbeat(
        &self,
        identity: &str,
        listed: BTreeSet<Held>,
        now: Timestamp,
    ) -> Option<(Vec<Lost>, bool)> {
        let mut table = self.lock();
        if !table.workers.contains_key(identity) && table.workers.len() >= TRACKED_WORKERS_MAX {
            return None;
        }
        let worker = table
            .workers
            .entry(identity.to_owned())
            .or_insert_with(|| Tracked {
                last_heard: now,
                heartbeating: true,
                heard_early: false,
                held: BTreeMap::new(),
            });
        worker.last_heard = worker.last_heard.max(now);
        let first = !worker.heartbeating;
        worker.heartbeating = true;
        let mut lost = Vec::new();
        let timeout = self.timeout;
        worker.held.retain(|held, since| {
            if listed.contains(held) {
                return true;
            }
            match since {
                Since::BeforeStart if first => {
                    lost.push(Lost {
                        identity: identity.to_owned(),
                        held: held.clone(),
                        because: LostBecause::NotListedAfterRestart,
                    });
                    false
                }
                // The reply may still be on its way.
                Since::HandedAt(at) => now < at.plus(timeout),
                // Finished (its completion is on its way), or never received.
                Since::BeforeStart | Since::Listed => false,
            }
        });
        for held in listed {
            worker.held.insert(held, Since::Listed);
        }
        let deadline = (!worker.held.is_empty()).then(|| worker.last_heard.plus(timeout));
        let wake = must_wake(table.loop_wakes_at, deadline);
        Some((lost, wake))
    }

    /// This instance handed `held` to `identity`. Returns whether the timer loop must look
    /// again. Only heartbeating identities are tracked.
    pub fn handed(&self, identity: &str, held: impl FnOnce() -> Held, now: Timestamp) -> bool {
        let mut table = self.lock();
        let Some(worker) = table.workers.get_mut(identity).filter(|w| w.heartbeating) else {
            return false;
        };
        worker.held.insert(held(), Since::HandedAt(now));
        let deadline = worker.last_heard.plus(self.timeout);
        must_wake(table.loop_wakes_at, Some(deadline))
    }

    /// Whether a timer due at `due`, just set, comes before the timer loop's planned wake-up
    /// (or the loop is awake, and may have read storage before the timer was written), so
    /// that the loop must look again.
    pub fn loop_must_wake(&self, due: Timestamp) -> bool {
        must_wake(self.lock().loop_wakes_at, Some(due))
    }

    /// Whether `identity` is a heartbeating worker that has been silent for the liveness
    /// timeout at `now`: taken for dead, so a long poll it left behind must hand it nothing.
    pub fn taken_for_dead(&self, identity: &str, now: Timestamp) -> bool {
        let table = self.lock();
        let worker = table.workers.get(identity).filter(|w| w.heartbeating);
        worker.is_some_and(|w| now >= w.last_heard.plus(self.timeout))
    }

    /// How long a poll of `identity` may claim a task (`lease`, the service's setting) before
    /// another poller may take it. A heartbeating worker's claim lasts the liveness timeout
    /// at most: a claim left by a call dropped between its lease and its start (its worker
    /// died) then frees the task as soon as the worker would be taken for dead.
    pub fn lease_for(&self, identity: &str, lease: Duration) -> Duration {
        let table = self.lock();
        match table.workers.get(identity) {
            Some(worker) if worker.heartbeating => lease.min(self.timeout),
            _ => lease,
        }
    }

    /// `identity` reported the outcome of `held` (or was told it is stale).
    pub fn released(&self, identity: &str, held: &Held) {
        if let Some(worker) = self.lock().workers.get_mut(identity) {
            worker.held.remove(held);
        }
    }

    /// The work of the workers taken for dead at `now`, and the work whose commit failed
    /// before. Workers reaped are remembered a while; those found only at recovery are
    /// judged once and forgotten.
    pub fn due(&self, now: Timestamp) -> Vec<Lost> {
        let mut table = self.lock();
        let mut lost = std::mem::take(&mut table.retry);
        let (timeout, linger) = (self.timeout, self.linger);
        let judging_recovered = !self.early_window_open(now);
        table.workers.retain(|identity, worker| {
            let take_all = |worker: &mut Tracked, lost: &mut Vec<Lost>| {
                let held = std::mem::take(&mut worker.held);
                lost.extend(held.into_keys().map(|held| Lost {
                    identity: identity.clone(),
                    held,
                    because: LostBecause::Silent(timeout),
                }));
            };
            if worker.heartbeating {
                let silent_since = worker.last_heard.plus(timeout);
                if now >= silent_since {
                    take_all(worker, &mut lost);
                }
                return !(worker.held.is_empty() && now >= silent_since.plus(linger));
            }
            if !judging_recovered {
                return true;
            }
            if !worker.heard_early {
                take_all(worker, &mut lost);
            }
            false
        });
        lost
    }

    /// Lost work whose commit failed: taken back at the next pass.
    pub fn retry_later(&self, lost: Vec<Lost>) {
        self.lock().retry.extend(lost);
    }

    /// The timer loop is awake: whatever changes now, it will see when it next plans.
    pub fn loop_awake(&self) {
        self.lock().loop_wakes_at = None;
    }

    /// The timer loop plans to sleep until `until` at the latest: the earliest of that and
    /// the next liveness deadline, which it records so that an earlier deadline set while it
    /// sleeps wakes it.
    pub fn plan_loop_wake(&self, until: Timestamp, now: Timestamp) -> Timestamp {
        let mut table = self.lock();
        let mut wake = until;
        if !table.retry.is_empty() {
            wake = wake.min(now);
        }
        for worker in table.workers.values() {
            let deadline = if worker.heartbeating {
                (!worker.held.is_empty()).then(|| worker.last_heard.plus(self.timeout))
            } else {
                Some(self.started_at.plus(self.timeout))
            };
            if let Some(deadline) = deadline {
                wake = wake.min(deadline);
            }
        }
        table.loop_wakes_at = Some(wake);
        wake
    }
}

/// Whether a new `deadline` comes before the timer loop's planned wake-up.
fn must_wake(loop_wakes_at: Option<Timestamp>, deadline: Option<Timestamp>) -> bool {
    match (deadline, loop_wakes_at) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(deadline), Some(wake)) => deadline < wake,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EventId;

    const START: Timestamp = Timestamp::from_millis(1_000_000);
    const SECOND: Duration = Duration::from_secs(1);

    fn at(ms: u64) -> Timestamp {
        START.plus(Duration::from_millis(ms))
    }

    fn attempt(n: u64) -> Held {
        Held::Activity(ActivityTaskToken {
            run: RunKey {
                workflow_id: "wf".into(),
                run_id: "run".into(),
            },
            scheduled_event_id: EventId(n),
            attempt: 1,
        })
    }

    fn table() -> Liveness {
        Liveness::new(START, SECOND, Duration::from_secs(60))
    }

    fn lost_items(lost: &[Lost]) -> Vec<Held> {
        lost.iter().map(|l| l.held.clone()).collect()
    }

    #[test]
    fn work_handed_to_a_worker_that_falls_silent_is_due_after_the_timeout() {
        let live = table();
        assert!(live.heartbeat("w", BTreeSet::new(), at(0)).is_some());
        live.handed("w", || attempt(5), at(100));
        live.heard("w", at(500));
        assert!(live.due(at(1_499)).is_empty(), "heard 999 ms ago");
        let lost = live.due(at(1_500));
        assert_eq!(lost_items(&lost), [attempt(5)]);
        assert_eq!(lost[0].because, LostBecause::Silent(SECOND));
        assert!(live.due(at(2_000)).is_empty(), "taken back once");
    }

    #[test]
    fn work_of_identities_that_never_heartbeat_is_not_tracked() {
        let live = table();
        live.heard("quiet", at(0));
        assert!(!live.handed("quiet", || attempt(5), at(0)));
        assert!(live.due(at(60_000)).is_empty());
    }

    #[test]
    fn a_heartbeat_that_leaves_out_fresh_work_keeps_it_and_forgets_old_work() {
        let live = table();
        live.heartbeat("w", BTreeSet::new(), at(0));
        live.handed("w", || attempt(5), at(0));
        live.handed("w", || attempt(6), at(900));
        live.heartbeat("w", BTreeSet::new(), at(1_000));
        live.heartbeat("w", BTreeSet::new(), at(1_500));
        assert_eq!(
            lost_items(&live.due(at(2_500))),
            [attempt(6)],
            "attempt 5 was left out for a whole timeout: forgotten, not reaped"
        );
    }

    #[test]
    fn after_a_restart_a_first_heartbeat_that_does_not_list_old_work_loses_it() {
        let live = table();
        live.recover(vec![("w".into(), attempt(5)), ("w".into(), attempt(6))]);
        let (lost, _) = live
            .heartbeat("w", BTreeSet::from([attempt(6)]), at(10))
            .expect("tracked");
        assert_eq!(lost_items(&lost), [attempt(5)]);
        assert_eq!(lost[0].because, LostBecause::NotListedAfterRestart);
        let (lost, _) = live
            .heartbeat("w", BTreeSet::from([attempt(6)]), at(200))
            .expect("tracked");
        assert!(lost.is_empty());
        assert!(live.due(at(1_100)).is_empty(), "alive and listing attempt 6");
    }

    #[test]
    fn after_a_restart_old_work_of_a_worker_not_heard_within_the_timeout_is_lost() {
        let live = table();
        live.heard("polling", at(10));
        live.recover(vec![("gone".into(), attempt(5)), ("polling".into(), attempt(6))]);
        assert!(live.due(at(999)).is_empty(), "still within the window");
        assert_eq!(
            lost_items(&live.due(at(1_000))),
            [attempt(5)],
            "a worker heard from that does not heartbeat keeps its work"
        );
        assert!(live.due(at(5_000)).is_empty(), "judged once");
    }

    #[test]
    fn a_silent_heartbeating_worker_is_taken_for_dead_and_its_claims_are_short() {
        let live = table();
        let lease = Duration::from_secs(30);
        live.heard("quiet", at(0));
        assert_eq!(
            live.lease_for("quiet", lease),
            lease,
            "never heartbeats: unchanged"
        );
        assert!(!live.taken_for_dead("quiet", at(60_000)));
        live.heartbeat("w", BTreeSet::new(), at(0));
        assert_eq!(live.lease_for("w", lease), SECOND);
        assert!(!live.taken_for_dead("w", at(999)));
        assert!(live.taken_for_dead("w", at(1_000)));
        live.heard("w", at(1_200));
        assert!(!live.taken_for_dead("w", at(1_200)), "heard from again");
    }

    #[test]
    fn the_timer_loop_is_woken_only_for_a_deadline_before_its_planned_wake() {
        let live = table();
        let (_, wake) = live.heartbeat("w", BTreeSet::new(), at(0)).expect("tracked");
        assert!(!wake, "holding nothing: no deadline");
        assert_eq!(live.plan_loop_wake(at(60_000), at(0)), at(60_000));
        assert!(live.handed("w", || attempt(5), at(0)), "the loop sleeps a minute");
        assert_eq!(live.plan_loop_wake(at(60_000), at(0)), at(1_000));
        assert!(!live.handed("w", || attempt(6), at(0)));
    }

    #[test]
    fn a_timer_set_wakes_the_timer_loop_only_if_due_before_it_looks_again() {
        let live = table();
        assert!(
            live.loop_must_wake(at(60_000)),
            "the loop is awake: it may have looked"
        );
        live.plan_loop_wake(at(10_000), at(0));
        assert!(live.loop_must_wake(at(9_999)));
        assert!(!live.loop_must_wake(at(10_000)), "it looks then anyway");
        assert!(!live.loop_must_wake(at(60_000)));
        live.loop_awake();
        assert!(live.loop_must_wake(at(60_000)));
    }
}
