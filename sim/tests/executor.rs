//! The seeded executor: time skipping, seeded interleavings, deadlocks, budgets and actions.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use warpflow_engine::env::{Clock, Spawner};
use warpflow_sim::{Sim, SimConfig, SimError};

#[test]
fn a_day_of_virtual_time_passes_at_once() {
    let sim = Sim::new(SimConfig::new(1));
    let clock = sim.clock();
    let start = sim.now();
    let woke_at = sim
        .run_until(async move {
            clock
                .sleep_until(clock.now().plus(Duration::from_secs(24 * 3600)))
                .await;
            clock.now()
        })
        .expect("runs");
    assert_eq!(woke_at.since(start), Duration::from_secs(24 * 3600));
    assert_eq!(sim.elapsed(), Duration::from_secs(24 * 3600));
}

async fn yield_now() {
    let mut yielded = false;
    futures::future::poll_fn(move |cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn the_same_seed_gives_the_same_interleaving_and_seeds_differ() {
    let mut orders = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let order = ordered(seed);
        assert_eq!(order, ordered(seed), "seed {seed} repeats");
        orders.insert(order);
    }
    assert!(
        orders.len() > 3,
        "different seeds explore different interleavings: {orders:?}"
    );
}

/// Three tasks that yield between steps; returns the order their steps ran in.
fn ordered(seed: u64) -> Vec<String> {
    let sim = Sim::new(SimConfig::new(seed));
    let log = Rc::new(RefCell::new(Vec::new()));
    for name in ["a", "b", "c"] {
        let log = log.clone();
        sim.spawn(name, async move {
            for step in 0..3 {
                log.borrow_mut().push(format!("{name}{step}"));
                yield_now().await;
            }
        });
    }
    let done = log.clone();
    sim.run_until(async move {
        while done.borrow().len() < 9 {
            yield_now().await;
        }
    })
    .expect("runs");
    log.take()
}

#[test]
fn a_deadlock_is_reported_with_the_blocked_tasks_named() {
    let sim = Sim::new(SimConfig::new(1));
    let (_tx, rx) = futures::channel::oneshot::channel::<()>();
    sim.spawn("waits-for-a-reply", async move {
        let _ = rx.await;
    });
    let (_tx2, rx2) = futures::channel::oneshot::channel::<()>();
    let err = sim
        .run_until(async move { rx2.await.ok() })
        .expect_err("nothing can ever run");
    let SimError::Deadlock { blocked, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(blocked, &["waits-for-a-reply", "goal"]);
    assert!(err.to_string().contains("waits-for-a-reply"), "{err}");
}

#[test]
fn a_busy_loop_exhausts_the_step_budget() {
    let config = SimConfig {
        max_steps: 1_000,
        ..SimConfig::new(1)
    };
    let sim = Sim::new(config);
    let err = sim
        .run_until(async {
            loop {
                yield_now().await;
            }
        })
        .expect_err("never ends");
    assert!(
        matches!(err, SimError::StepBudget { steps: 1_000, .. }),
        "{err:?}"
    );
}

#[test]
fn a_timer_beyond_the_virtual_time_budget_stops_the_run() {
    let config = SimConfig {
        max_virtual_time: Duration::from_secs(3600),
        ..SimConfig::new(1)
    };
    let sim = Sim::new(config);
    let clock = sim.clock();
    let err = sim
        .run_until(async move {
            clock
                .sleep_until(clock.now().plus(Duration::from_secs(7200)))
                .await
        })
        .expect_err("over budget");
    assert!(matches!(err, SimError::TimeBudget { .. }), "{err:?}");
}

#[test]
fn the_engines_spawner_runs_send_futures_on_the_simulation() {
    let sim = Sim::new(SimConfig::new(1));
    let spawner = sim.spawner();
    let clock = sim.clock();
    let (tx, rx) = futures::channel::oneshot::channel();
    let c = clock.clone();
    spawner.spawn(
        "background",
        Box::pin(async move {
            c.sleep_until(c.now().plus(Duration::from_secs(5))).await;
            let _ = tx.send(c.now());
        }),
    );
    let at = sim
        .run_until(async move { rx.await.ok() })
        .expect("runs")
        .expect("sent");
    assert_eq!(at.since(warpflow_sim::SIM_EPOCH), Duration::from_secs(5));
}

#[test]
fn a_dropped_timer_does_not_hold_time_up() {
    let sim = Sim::new(SimConfig::new(1));
    let clock = sim.clock();
    sim.run_until(async move {
        let long = clock.sleep_until(clock.now().plus(Duration::from_secs(3600)));
        let short = clock.sleep_until(clock.now().plus(Duration::from_secs(1)));
        futures::pin_mut!(long);
        let _ = futures::future::select(long, short).await;
    })
    .expect("runs");
    assert_eq!(sim.elapsed(), Duration::from_secs(1));
    let (_tx, rx) = futures::channel::oneshot::channel::<()>();
    let err = sim
        .run_until(async move { rx.await.ok() })
        .expect_err("deadlock, not a jump to the dropped timer");
    assert!(matches!(err, SimError::Deadlock { .. }));
    assert_eq!(sim.elapsed(), Duration::from_secs(1));
}

#[test]
fn step_actions_run_once_the_executor_has_made_their_steps() {
    let sim = Sim::new(SimConfig::new(3));
    let seen: Rc<RefCell<Vec<(&str, u64)>>> = Rc::default();
    let sim = Rc::new(sim);
    let record = |name: &'static str| {
        let (seen, sim) = (seen.clone(), sim.clone());
        move || seen.borrow_mut().push((name, sim.steps()))
    };
    sim.at_step(5, record("five"));
    sim.at_step(2, record("two"));
    sim.at_step(5, record("five, registered later"));
    sim.at_step(1_000, record("never reached"));
    sim.run_until(async {
        for _ in 0..9 {
            yield_now().await;
        }
    })
    .expect("runs");
    assert_eq!(
        *seen.borrow(),
        [("two", 2), ("five", 5), ("five, registered later", 5)],
        "each before the step after its count, in registration order"
    );
    // A step already made: before the next one.
    let made = sim.steps();
    sim.at_step(1, record("late"));
    sim.run_until(async {}).expect("runs");
    assert_eq!(seen.borrow().last(), Some(&("late", made)));
}

/// Three tasks that sleep to the same instants (10 ms and 20 ms) and log each wake with the
/// time; `actions` are time actions registered first, logging their own runs.
fn timed(seed: u64, actions: &[u64]) -> Vec<String> {
    let sim = Rc::new(Sim::new(SimConfig::new(seed)));
    let log = Rc::new(RefCell::new(Vec::new()));
    let start = sim.now();
    for &ms in actions {
        let (log, clock) = (log.clone(), sim.clock());
        sim.at_time(start.plus(Duration::from_millis(ms)), move || {
            log.borrow_mut()
                .push(format!("action@{}", clock.now().since(start).as_millis()));
        });
    }
    for name in ["a", "b", "c"] {
        let (log, clock) = (log.clone(), sim.clock());
        sim.spawn(name, async move {
            for ms in [10, 20] {
                clock.sleep_until(start.plus(Duration::from_millis(ms))).await;
                log.borrow_mut().push(format!("{name}@{ms}"));
            }
        });
    }
    let clock = sim.clock();
    sim.run_until(async move { clock.sleep_until(start.plus(Duration::from_millis(30))).await })
        .expect("runs");
    log.take()
}

#[test]
fn time_actions_run_as_time_reaches_them_and_change_no_interleaving() {
    for seed in 0..20 {
        let plain = timed(seed, &[]);
        let with_actions = timed(seed, &[5, 10, 20, 25]);
        // Each action runs at its time, before the tasks due then...
        assert_eq!(with_actions[0], "action@5", "seed {seed}: {with_actions:?}");
        assert_eq!(with_actions[1], "action@10", "seed {seed}: {with_actions:?}");
        assert_eq!(with_actions[5], "action@20", "seed {seed}: {with_actions:?}");
        assert_eq!(with_actions[9], "action@25", "seed {seed}: {with_actions:?}");
        // ...and, doing nothing else, leaves the tasks' interleaving as it was without them.
        let tasks: Vec<&String> = with_actions.iter().filter(|e| !e.starts_with("action")).collect();
        assert_eq!(tasks, plain.iter().collect::<Vec<_>>(), "seed {seed}");
    }
}

#[test]
fn a_time_action_already_due_runs_before_the_next_step() {
    let sim = Sim::new(SimConfig::new(3));
    sim.run_for(Duration::from_millis(50)).expect("runs");
    let (ran, clock) = (Rc::new(RefCell::new(None)), sim.clock());
    let at = sim.now();
    let record = ran.clone();
    sim.at_time(at, move || *record.borrow_mut() = Some(clock.now()));
    sim.run_until(async {}).expect("runs");
    assert_eq!(
        *ran.borrow(),
        Some(at),
        "run at once, at the time it was registered"
    );
}

/// A task that an action wakes at the very time its own sleep is due takes that one wake-up:
/// its timer goes with the same jump, rather than being left behind to wake it again.
#[test]
fn a_task_woken_by_a_time_action_at_its_deadline_is_not_woken_again_by_its_timer() {
    let sim = Sim::new(SimConfig::new(9));
    let (clock, start) = (sim.clock(), sim.now());
    let polls = Rc::new(RefCell::new(0u32));
    let waker: Rc<RefCell<Option<std::task::Waker>>> = Rc::default();
    let (count, keep) = (polls.clone(), waker.clone());
    let work = async move {
        clock.sleep_until(start.plus(Duration::from_millis(10))).await;
        clock.sleep_until(start.plus(Duration::from_millis(20))).await;
    };
    let mut work = Box::pin(work);
    sim.spawn(
        "sleeper",
        std::future::poll_fn(move |cx| {
            *count.borrow_mut() += 1;
            *keep.borrow_mut() = Some(cx.waker().clone());
            work.as_mut().poll(cx)
        }),
    );
    sim.at_time(start.plus(Duration::from_millis(10)), move || {
        if let Some(waker) = waker.borrow_mut().take() {
            waker.wake();
        }
    });
    sim.run_for(Duration::from_millis(30)).expect("runs");
    // Pending at the start, woken at 10 ms (the action and its timer: one poll), done at 20 ms.
    assert_eq!(*polls.borrow(), 3);
}
