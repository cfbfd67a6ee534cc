//! `user_onboarding`: the guide's multi-step onboarding. Create the account, mail the
//! verification link, wait up to seven days for the user to click it (a signal), then set
//! up the workspace, assign the role, mail the welcome and notify the admins. A `getStatus`
//! query answers the current step and the steps done; a `cancel` signal is honoured before
//! the next step (and ends the wait).
//!
//! - [`workflow`]: [`OnboardUser`], its signals, query and result;
//! - [`activities`]: the steps, on the simulated [`Directory`] and [`Outbox`];
//! - [`scenario`]: users who verify, never verify or cancel, and the campaign that runs them.

pub mod activities;
pub mod scenario;
pub mod workflow;

pub use activities::{
    AssignDefaultRole, CreateUserAccount, NotifyAdmin, SendVerificationEmail, SendWelcomeEmail,
    SetupDefaultWorkspace, UserRef,
};
pub use scenario::{Onboarding, Scenario, campaign, campaign_for, demo_users, workflow_id};
pub use workflow::{
    CancelOnboarding, EmailVerified, GetStatus, NewUser, OnboardUser, OnboardingResult, OnboardingStatus,
    Stage,
};

use crate::services::directory::{self, Directory};
use crate::services::outbox::{Message, Outbox};
use serde::{Deserialize, Serialize};
use warpflow_engine::Registry;

/// The services an onboarding acts on.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// Accounts, workspaces, roles.
    pub directory: Directory,
    /// Emails and admin notifications.
    pub outbox: Outbox,
}

/// The world's business state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldSnapshot {
    /// The directory's.
    pub directory: directory::Snapshot,
    /// Every message sent, sorted.
    pub outbox: Vec<Message>,
}

impl World {
    /// Empty services.
    pub fn new() -> World {
        World::default()
    }

    /// Empties every service.
    pub fn reset(&self) {
        self.directory.reset();
        self.outbox.reset();
    }

    /// The business state of every service.
    pub fn snapshot(&self) -> WorldSnapshot {
        WorldSnapshot {
            directory: self.directory.snapshot(),
            outbox: self.outbox.snapshot(),
        }
    }
}

/// The onboarding workflow and its activities, bound to `world`.
pub fn registry(world: &World) -> Registry {
    Registry::new()
        .with_workflow::<OnboardUser>()
        .with_activity(CreateUserAccount(world.directory.clone()))
        .with_activity(SendVerificationEmail(world.outbox.clone()))
        .with_activity(SetupDefaultWorkspace(world.directory.clone()))
        .with_activity(AssignDefaultRole(world.directory.clone()))
        .with_activity(SendWelcomeEmail(world.outbox.clone()))
        .with_activity(NotifyAdmin(world.outbox.clone()))
}
