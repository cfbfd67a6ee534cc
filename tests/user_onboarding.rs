//! User onboarding under the time-skipping test environment: verified after three days, never
//! verified (the seven-day wait runs out), cancelled while waiting and between steps, its
//! status queried along the way, a step failing for good; snapshots of the main paths'
//! histories; and the example's fault campaign, signals included.

use std::time::Duration;
use warpflow_engine::WorkflowHandle;
use warpflow_engine::client::WorkflowFailure;
use warpflow_examples::services::Trouble;
use warpflow_examples::services::directory::Operation;
use warpflow_examples::services::outbox::Kind;
use warpflow_examples::user_onboarding::{
    self, CancelOnboarding, EmailVerified, GetStatus, NewUser, OnboardUser, OnboardingResult,
    OnboardingStatus, Stage, World,
};
use warpflow_testkit::{TestEnv, assert_history_snapshot};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const ID: &str = "onboarding-ada";

/// A fresh world (with `script` applied) and an environment, with Ada's onboarding started.
fn start(script: impl FnOnce(&World)) -> (TestEnv, World, WorkflowHandle<OnboardUser>) {
    let world = World::new();
    script(&world);
    let env = TestEnv::new(user_onboarding::registry(&world));
    let handle = env
        .start::<OnboardUser>(ID, &NewUser::new("ada", "ada@example.com", "team"))
        .expect("started");
    (env, world, handle)
}

fn status(env: &TestEnv) -> OnboardingStatus {
    env.query::<GetStatus>(ID, &()).expect("getStatus answers")
}

fn steps(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn kinds_sent(world: &World) -> Vec<Kind> {
    world.outbox.sent().into_iter().map(|m| m.kind).collect()
}

#[test]
fn a_user_who_verifies_after_three_days_is_fully_set_up() {
    let (env, world, handle) = start(|_| {});
    env.signal_after::<EmailVerified>(3 * DAY, ID, &());
    let result = env.result(&handle).expect("completed");
    assert_eq!(
        result,
        OnboardingResult::Completed {
            user_id: "ada".into(),
            workspace_id: "ws-ada".into()
        }
    );
    assert!(
        env.elapsed() >= 3 * DAY && env.elapsed() < 3 * DAY + MINUTE,
        "{:?}",
        env.elapsed()
    );
    assert_eq!(world.directory.role("ada").as_deref(), Some("admin"));
    assert_eq!(
        kinds_sent(&world),
        [Kind::Verification, Kind::Welcome, Kind::AdminNotification]
    );
    assert_history_snapshot!(
        "onboarding_verified_after_three_days",
        env.history(ID).expect("history")
    );
}

#[test]
fn a_user_who_never_verifies_times_out_after_seven_days_without_a_workspace() {
    let (env, world, handle) = start(|_| {});
    assert_eq!(env.result(&handle), Ok(OnboardingResult::TimedOut));
    assert!(
        env.elapsed() >= 7 * DAY && env.elapsed() < 7 * DAY + MINUTE,
        "{:?}",
        env.elapsed()
    );
    assert!(world.directory.account("ada").is_some());
    assert_eq!(world.directory.workspace("ada"), None);
    assert_eq!(kinds_sent(&world), [Kind::Verification]);
    assert_history_snapshot!("onboarding_never_verified", env.history(ID).expect("history"));
}

#[test]
fn a_cancel_while_waiting_ends_the_wait_and_sets_nothing_up() {
    let (env, world, handle) = start(|_| {});
    env.signal_after::<CancelOnboarding>(DAY, ID, &());
    assert_eq!(
        env.result(&handle),
        Ok(OnboardingResult::Cancelled {
            completed: steps(&["account", "verification"])
        })
    );
    assert!(
        env.elapsed() >= DAY && env.elapsed() < DAY + MINUTE,
        "{:?}",
        env.elapsed()
    );
    assert_eq!(world.directory.workspace("ada"), None);
    assert_history_snapshot!(
        "onboarding_cancelled_while_waiting",
        env.history(ID).expect("history")
    );
}

#[test]
fn a_cancel_during_a_step_lets_it_finish_and_stops_before_the_next() {
    // The workspace setup fails twice (retried after 1 s and 2 s more); the cancel comes in
    // the middle.
    let (env, world, handle) = start(|w| {
        w.directory
            .script(Operation::SetupWorkspace, Trouble::Transient { calls: 2 })
    });
    env.signal_after::<EmailVerified>(HOUR, ID, &());
    env.signal_after::<CancelOnboarding>(HOUR + Duration::from_secs(2), ID, &());
    assert_eq!(
        env.result(&handle),
        Ok(OnboardingResult::Cancelled {
            completed: steps(&["account", "verification", "workspace"])
        })
    );
    assert!(world.directory.workspace("ada").is_some());
    assert_eq!(world.directory.role("ada"), None, "the next step never started");
    assert_eq!(kinds_sent(&world), [Kind::Verification]);
}

#[test]
fn get_status_answers_the_current_step_and_the_steps_done() {
    // Assigning the role fails three times: 1 + 2 + 4 s of retries to look in on.
    let (env, _, handle) = start(|w| {
        w.directory
            .script(Operation::AssignRole, Trouble::Transient { calls: 3 })
    });
    env.skip(MINUTE);
    assert_eq!(
        status(&env),
        OnboardingStatus {
            step: Stage::WaitingVerification,
            completed: steps(&["account", "verification"]),
            failed: None
        }
    );
    env.skip(DAY);
    assert_eq!(
        status(&env).step,
        Stage::WaitingVerification,
        "still waiting a day later"
    );
    env.signal::<EmailVerified>(ID, &()).expect("signalled");
    env.skip(Duration::from_secs(2));
    assert_eq!(
        status(&env),
        OnboardingStatus {
            step: Stage::AssigningRole,
            completed: steps(&["account", "verification", "workspace"]),
            failed: None
        }
    );
    assert!(matches!(
        env.result(&handle),
        Ok(OnboardingResult::Completed { .. })
    ));
    let done = status(&env);
    assert_eq!(done.step, Stage::Completed);
    assert_eq!(
        done.completed,
        steps(&[
            "account",
            "verification",
            "workspace",
            "role",
            "welcome",
            "admin_notification"
        ])
    );
}

#[test]
fn a_step_failing_for_an_hour_fails_the_onboarding() {
    let (env, world, handle) = start(|w| w.directory.script(Operation::CreateAccount, Trouble::Outage));
    match env.result(&handle) {
        Err(WorkflowFailure::Failed(f)) => assert_eq!(f.error_type, "Unavailable", "{f}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        env.elapsed() > 50 * MINUTE && env.elapsed() <= HOUR,
        "{:?}",
        env.elapsed()
    );
    assert!(
        world.outbox.sent().is_empty(),
        "no verification without an account"
    );
}

#[test]
fn the_campaign_passes_every_oracle_under_the_default_fault_mix() {
    let report = user_onboarding::campaign().seeds(3).run_or_panic();
    let seeds = report.seeds.len();
    assert_eq!(
        report.workflows_run,
        seeds * user_onboarding::demo_users().len(),
        "{report}"
    );
    assert!(
        report
            .oracle_checks
            .contains_key("invariant:set up if and only if verified"),
        "{report}"
    );
    // The week-long waits are in virtual time: every faulted run, and the one fault-free
    // baseline the seeds share.
    let runs = u32::try_from(seeds + 1).expect("a few seeds");
    assert!(report.virtual_time >= runs * 7 * DAY, "{report}");
}
