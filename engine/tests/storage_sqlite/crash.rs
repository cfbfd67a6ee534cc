//! A real crash: a process committing in a loop is killed (SIGKILL) at a seeded random
//! moment; the file, reopened, holds every commit the process acknowledged and no commit in
//! part.
//!
//! The helper process is this test binary itself, running the ignored test `crash_child`
//! with the database path in an environment variable. It commits numbered commits from
//! several concurrent committers (so the kill also lands in multi-commit batches) and prints
//! `ack <n>` once `commit` returned `Ok` for commit `n`. The parent kills it after a seeded
//! number of acknowledgements, reopens the file, checks it, and starts the next helper on the
//! same file.
//!
//! `WARPFLOW_SQLITE_CRASH_KILLS` sets the number of kills (3 by default),
//! `WARPFLOW_SQLITE_CRASH_SEED` the seed (1 by default).

use crate::support::{Dir, FAR, new_run, numbered, numbered_commit, open, request, run_key};
use futures::executor::block_on;
use futures::future::join_all;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use warpflow_engine::ids::{EventId, TaskQueue};
use warpflow_engine::storage::{Storage, TaskKind};

const DB_VAR: &str = "WARPFLOW_SQLITE_CRASH_DB";
const FIRST_VAR: &str = "WARPFLOW_SQLITE_CRASH_FIRST";
const COMMITTERS: u64 = 4;
const QUEUE: &str = "crash";
/// A bound on the helper's loop, should the parent never kill it.
const MOST_PER_COMMITTER: u64 = 100_000;

/// The helper process. Does nothing unless started by
/// `a_killed_process_keeps_every_acknowledged_commit`.
#[test]
#[ignore = "the helper process of a_killed_process_keeps_every_acknowledged_commit"]
fn crash_child() {
    let Ok(db) = std::env::var(DB_VAR) else {
        return;
    };
    let first: u64 = std::env::var(FIRST_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let storage = open(Path::new(&db));
    block_on(join_all((0..COMMITTERS).map(|c| {
        let storage = &storage;
        async move {
            for i in 0..MOST_PER_COMMITTER {
                let n = first + i * COMMITTERS + c;
                if let Err(e) = storage.commit(numbered_commit(n, QUEUE)).await {
                    panic!("commit {n} failed: {e}");
                }
                let mut out = std::io::stdout().lock();
                if writeln!(out, "ack {n}").and_then(|()| out.flush()).is_err() {
                    return; // The parent is gone.
                }
            }
        }
    })));
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

#[test]
fn a_killed_process_keeps_every_acknowledged_commit() {
    let seed = env_u64("WARPFLOW_SQLITE_CRASH_SEED", 1);
    let kills = env_u64("WARPFLOW_SQLITE_CRASH_KILLS", 3);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = Dir::new();
    let path = dir.fresh_path();
    let mut acked = BTreeSet::new();
    let mut first = 0;
    for kill in 0..kills {
        let context = format!("seed {seed}, kill {kill} (rerun: WARPFLOW_SQLITE_CRASH_SEED={seed})");
        let wait_for = 1 + rng.next_u64() % 200;
        let acks = run_and_kill(&path, first, wait_for, &context);
        acked.extend(acks.iter().copied());
        let committed = check(&path, &acked, kill, &context);
        let unacknowledged = committed.iter().filter(|n| !acked.contains(n)).count();
        // Shown with --nocapture: where the kills landed.
        eprintln!(
            "{context}: killed after {} acknowledged commits ({wait_for} read); {} commits in the \
             file, {unacknowledged} of them never acknowledged",
            acks.len(),
            committed.len()
        );
        first = committed.last().map_or(0, |n| n + 1);
    }
}

/// Runs a helper committing from `first` on, kills it once it acknowledged `wait_for`
/// commits, and returns every commit it acknowledged (including those printed between the
/// last one read and the kill).
fn run_and_kill(path: &Path, first: u64, wait_for: u64, context: &str) -> Vec<u64> {
    let mut child = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([
            "crash::crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DB_VAR, path)
        .env(FIRST_VAR, first.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the helper process");
    let stdout = child.stdout.take().expect("the helper's stdout");
    let child = Arc::new(Mutex::new(child));
    let watchdog = watchdog(Arc::clone(&child));

    let mut acks = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    while (acks.len() as u64) < wait_for {
        match lines.next() {
            Some(Ok(line)) => acks.extend(ack(&line)),
            _ => {
                let status = child.lock().unwrap().wait();
                panic!(
                    "{context}: the helper ended after {} of {wait_for} commits: {status:?}",
                    acks.len()
                );
            }
        }
    }
    {
        let mut child = child.lock().unwrap();
        child.kill().expect("killing the helper"); // SIGKILL
        child.wait().expect("waiting for the killed helper");
    }
    let _ = watchdog.send(());
    // What the helper printed before it died was acknowledged too.
    acks.extend(lines.map_while(Result::ok).filter_map(|line| ack(&line)));
    acks
}

fn ack(line: &str) -> Option<u64> {
    line.strip_prefix("ack ").and_then(|n| n.parse().ok())
}

/// Kills the helper if the test has not within a minute: a stuck helper fails the test
/// instead of hanging it.
fn watchdog(child: Arc<Mutex<Child>>) -> mpsc::Sender<()> {
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(Duration::from_secs(60)) {
            let _ = child.lock().unwrap().kill();
        }
    });
    done
}

/// Reopens the file and checks it: every acknowledged commit is there, and every commit
/// there is whole (its run and events, task, timer and request). Returns the commits there.
fn check(path: &Path, acked: &BTreeSet<u64>, kill: u64, context: &str) -> BTreeSet<u64> {
    let storage = open(path);
    let number = |workflow_id: &str| -> u64 {
        workflow_id
            .strip_prefix("n-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{context}: unexpected workflow id {workflow_id}"))
    };

    let runs = block_on(storage.list_runs(None, usize::MAX)).unwrap();
    let committed: BTreeSet<u64> = runs.iter().map(|r| number(r.key.workflow_id.as_str())).collect();
    let lost: Vec<&u64> = acked.difference(&committed).collect();
    assert!(lost.is_empty(), "{context}: acknowledged commits lost: {lost:?}");

    for run in &runs {
        let expected = new_run(&run.key, 3);
        assert_eq!(*run, expected.record, "{context}: the run of {}", run.key);
        assert_eq!(
            block_on(storage.read_events(&run.key, EventId(1))).unwrap(),
            expected.events,
            "{context}: the events of {}",
            run.key
        );
    }
    let timers: BTreeSet<u64> = block_on(storage.due_timers(FAR, usize::MAX))
        .unwrap()
        .iter()
        .map(|t| number(t.key.run.workflow_id.as_str()))
        .collect();
    assert_eq!(timers, committed, "{context}: the commits whose timer is there");

    // Past the last commit there, in-flight commits of every committer may have been cut.
    let probe_to = committed
        .iter()
        .chain(acked)
        .max()
        .map_or(0, |n| n + 2 * COMMITTERS);
    let requests: BTreeSet<u64> = (0..=probe_to)
        .filter(|&n| {
            block_on(storage.get_request(&request(&numbered(n))))
                .unwrap()
                .is_some()
        })
        .collect();
    assert_eq!(
        requests, committed,
        "{context}: the commits whose request is there"
    );

    // The tasks, by leasing them all at once (one batch). Each check leases at a later time
    // than the previous one's leases expire.
    let now = FAR.plus(Duration::from_secs(86_400 * (kill + 1)));
    let queue = TaskQueue::new(QUEUE);
    let leases = committed.len() + COMMITTERS as usize;
    let leased = block_on(join_all((0..leases).map(|_| {
        storage.lease_task(
            &queue,
            TaskKind::Workflow,
            now,
            "check",
            Duration::from_secs(3_600),
        )
    })));
    let tasks: BTreeSet<u64> = leased
        .into_iter()
        .filter_map(|t| t.unwrap())
        .map(|t| number(t.key.run.workflow_id.as_str()))
        .collect();
    assert_eq!(tasks, committed, "{context}: the commits whose task is there");
    assert!(
        runs.iter()
            .all(|r| r.key == run_key(r.key.workflow_id.as_str(), "run-1")),
        "{context}: a run id other than run-1"
    );
    committed
}
