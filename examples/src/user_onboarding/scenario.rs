//! Users to onboard — who verifies when, who never does, who cancels — and the fault
//! campaign that runs them, with the users' clicks and cancellations sent as signals at
//! their times.

use super::workflow::{CancelOnboarding, EmailVerified, NewUser, OnboardUser, OnboardingResult};
use super::{World, WorldSnapshot, registry};
use crate::campaigns::{self, ExampleScenario, Outcomes, completed};
use crate::services::Trouble;
use crate::services::outbox::Kind;
use std::time::Duration;
use warpflow_engine::Registry;
use warpflow_testkit::{Campaign, RunReport, WorkloadCtx};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// One user to onboard, and what they do.
#[derive(Clone, Debug)]
pub struct Onboarding {
    /// The user.
    pub user: NewUser,
    /// When they click the verification link, if ever (since the start).
    pub verify_after: Option<Duration>,
    /// When someone cancels their onboarding, if ever (since the start).
    pub cancel_after: Option<Duration>,
}

/// The workflow id of `user_id`'s onboarding.
pub fn workflow_id(user_id: &str) -> String {
    format!("onboarding-{user_id}")
}

/// Users to onboard, and the trouble the services meet.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// The users.
    pub users: Vec<Onboarding>,
    /// Trouble scripted on the outbox, by kind of message.
    pub troubles: Vec<(Kind, Trouble)>,
}

/// Five users: one verifies after three days, one never does (the week runs out), one is
/// cancelled after a day of waiting, one verifies at once, and one verifies after two hours.
pub fn demo_users() -> Vec<Onboarding> {
    let user = |id: &str, plan: &str, verify_after, cancel_after| Onboarding {
        user: NewUser::new(id, &format!("{id}@example.com"), plan),
        verify_after,
        cancel_after,
    };
    vec![
        user("ada", "team", Some(3 * DAY), None),
        user("bob", "free", None, None),
        user("cyd", "team", None, Some(DAY)),
        user("dan", "free", Some(Duration::from_secs(1)), None),
        user("eve", "team", Some(2 * HOUR), None),
    ]
}

impl Scenario {
    /// [`demo_users`], with the mail provider failing the first two welcome emails.
    pub fn demo() -> Scenario {
        Scenario {
            users: demo_users(),
            troubles: vec![(Kind::Welcome, Trouble::Transient { calls: 2 })],
        }
    }
}

impl ExampleScenario for Scenario {
    type World = World;
    type Snapshot = WorldSnapshot;
    const INVARIANT: &'static str = "set up if and only if verified";

    fn registry(world: &World) -> Registry {
        registry(world)
    }

    /// Resets `world` and scripts the troubles on it.
    fn prepare(&self, world: &World) {
        world.reset();
        for (kind, trouble) in &self.troubles {
            world.outbox.script(*kind, trouble.clone());
        }
    }

    fn snapshot(world: &World) -> WorldSnapshot {
        world.snapshot()
    }

    /// Starts every onboarding at once, and sends the users' clicks and cancellations as
    /// signals at their times.
    fn workload(&self, _world: &World, w: &mut WorkloadCtx) {
        for o in &self.users {
            let id = workflow_id(&o.user.user.user_id);
            w.start::<OnboardUser>(id.as_str(), &o.user);
            if let Some(after) = o.verify_after {
                w.signal::<EmailVerified>(after, id.as_str(), &());
            }
            if let Some(after) = o.cancel_after {
                w.signal::<CancelOnboarding>(after, id.as_str(), &());
            }
        }
    }

    /// Checks the end state of a run: every user has an account and one verification email;
    /// a user who completed has a workspace, a role, a welcome and an admin notification; one
    /// who timed out or was cancelled while waiting has none of them.
    fn check(&self, _run: &RunReport, outcomes: &Outcomes, world: &WorldSnapshot) -> Result<(), String> {
        for o in &self.users {
            let id = &o.user.user.user_id;
            let email = &o.user.user.email;
            let count = |kind: Kind, to: &str| {
                world
                    .outbox
                    .iter()
                    .filter(|m| m.kind == kind && m.to == *to)
                    .count()
            };
            if !world.directory.accounts.contains_key(id) || count(Kind::Verification, email) != 1 {
                return Err(format!("{id}: no account, or not exactly one verification email"));
            }
            let set_up = [
                world.directory.workspaces.contains_key(id),
                world.directory.roles.contains_key(id),
                count(Kind::Welcome, email) == 1,
                world
                    .outbox
                    .iter()
                    .any(|m| m.kind == Kind::AdminNotification && m.body.starts_with(&format!("{id} "))),
            ];
            let result = completed::<OnboardingResult>(outcomes, &workflow_id(id));
            let expected = match result {
                Some(OnboardingResult::Completed { .. }) => true,
                Some(OnboardingResult::TimedOut | OnboardingResult::Cancelled { .. }) => false,
                None => {
                    return Err(format!(
                        "{id}: no onboarding result: {:?}",
                        outcomes.get(&workflow_id(id))
                    ));
                }
            };
            if set_up.iter().any(|done| *done != expected) {
                return Err(format!(
                    "{id}: ended {result:?} but workspace, role, welcome, admin notification: {set_up:?}"
                ));
            }
        }
        Ok(())
    }
}

/// The example's campaign: [`Scenario::demo`] under the default fault mix.
pub fn campaign() -> Campaign {
    campaign_for("user_onboarding", Scenario::demo())
}

/// A campaign onboarding `scenario`'s users under the default fault mix; the liveness
/// budget covers the longest verification window.
pub fn campaign_for(name: &str, scenario: Scenario) -> Campaign {
    let window = scenario
        .users
        .iter()
        .map(|o| o.user.verify_within)
        .max()
        .unwrap_or_default();
    campaigns::campaign(name, scenario).liveness_budget(window + DAY)
}
