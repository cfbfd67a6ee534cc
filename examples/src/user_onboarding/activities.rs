//! The onboarding's activities, on the simulated [`Directory`] and [`Outbox`]; each passes
//! its idempotency key, so a retried step does not create, assign or mail twice.

use crate::services::directory::{Account, Directory, Workspace};
use crate::services::key_of;
use crate::services::outbox::{Kind, Message, Outbox};
use serde::{Deserialize, Serialize};
use warpflow_engine::{Activity, ActivityCtx, ActivityError};

/// Who is being onboarded, as the steps need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    /// The user's id.
    pub user_id: String,
    /// Their email address.
    pub email: String,
    /// Their plan.
    pub plan: String,
}

/// Creates the user's account.
#[derive(Debug)]
pub struct CreateUserAccount(pub Directory);

impl Activity for CreateUserAccount {
    const NAME: &'static str = "create_user_account";
    type Input = UserRef;
    type Output = Account;
    async fn run(&self, ctx: ActivityCtx, u: UserRef) -> Result<Account, ActivityError> {
        let account = Account {
            user_id: u.user_id,
            email: u.email,
            plan: u.plan,
        };
        Ok(self.0.create_account(&key_of(ctx.info()), account)?)
    }
}

/// Mails the verification link.
#[derive(Debug)]
pub struct SendVerificationEmail(pub Outbox);

impl Activity for SendVerificationEmail {
    const NAME: &'static str = "send_verification_email";
    type Input = UserRef;
    type Output = ();
    async fn run(&self, ctx: ActivityCtx, u: UserRef) -> Result<(), ActivityError> {
        let body = format!("Verify your address for {}: /verify/{}", u.plan, u.user_id);
        send(&self.0, &ctx, u.email, Kind::Verification, body)
    }
}

/// Sets up the user's default workspace.
#[derive(Debug)]
pub struct SetupDefaultWorkspace(pub Directory);

impl Activity for SetupDefaultWorkspace {
    const NAME: &'static str = "setup_default_workspace";
    type Input = UserRef;
    type Output = Workspace;
    async fn run(&self, ctx: ActivityCtx, u: UserRef) -> Result<Workspace, ActivityError> {
        Ok(self.0.setup_workspace(&key_of(ctx.info()), &u.user_id, &u.plan)?)
    }
}

/// Assigns the plan's default role; returns it.
#[derive(Debug)]
pub struct AssignDefaultRole(pub Directory);

impl Activity for AssignDefaultRole {
    const NAME: &'static str = "assign_default_role";
    type Input = UserRef;
    type Output = String;
    async fn run(&self, ctx: ActivityCtx, u: UserRef) -> Result<String, ActivityError> {
        Ok(self.0.assign_role(&key_of(ctx.info()), &u.user_id, &u.plan)?)
    }
}

/// What the welcome email needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Welcome {
    /// The new user.
    pub user: UserRef,
    /// Their workspace's id.
    pub workspace_id: String,
}

/// Mails the welcome, with the workspace.
#[derive(Debug)]
pub struct SendWelcomeEmail(pub Outbox);

impl Activity for SendWelcomeEmail {
    const NAME: &'static str = "send_welcome_email";
    type Input = Welcome;
    type Output = ();
    async fn run(&self, ctx: ActivityCtx, w: Welcome) -> Result<(), ActivityError> {
        let body = format!("Welcome! Your workspace {} is ready.", w.workspace_id);
        send(&self.0, &ctx, w.user.email, Kind::Welcome, body)
    }
}

/// Where admin notifications go.
pub const ADMINS: &str = "admins@example.com";

/// Tells the admins someone joined.
#[derive(Debug)]
pub struct NotifyAdmin(pub Outbox);

impl Activity for NotifyAdmin {
    const NAME: &'static str = "notify_admin";
    type Input = UserRef;
    type Output = ();
    async fn run(&self, ctx: ActivityCtx, u: UserRef) -> Result<(), ActivityError> {
        let body = format!("{} <{}> joined on {}", u.user_id, u.email, u.plan);
        send(&self.0, &ctx, ADMINS.to_owned(), Kind::AdminNotification, body)
    }
}

fn send(
    outbox: &Outbox,
    ctx: &ActivityCtx,
    to: String,
    kind: Kind,
    body: String,
) -> Result<(), ActivityError> {
    outbox.send(&key_of(ctx.info()), Message { to, kind, body })?;
    Ok(())
}
