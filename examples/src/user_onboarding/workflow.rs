//! The onboarding workflow: account → verification email → wait up to a week for the user to
//! verify → workspace → role → welcome email → admin notification. A `getStatus` query reads
//! the current step and the steps done; a `cancel` signal stops the onboarding before its
//! next step (or ends the wait for verification).

use super::activities::{
    AssignDefaultRole, CreateUserAccount, NotifyAdmin, SendVerificationEmail, SendWelcomeEmail,
    SetupDefaultWorkspace, UserRef, Welcome,
};
use crate::options::retried_for;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::future::IntoFuture;
use std::rc::Rc;
use std::time::Duration;
use warpflow_engine::{
    ActivityError, ActivityOptions, Query, Signal, Workflow, WorkflowCtx, WorkflowError, WorkflowResult,
};

/// How long the user has to verify their address, as in the guide.
pub const VERIFICATION_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long one attempt of a step may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// How long a step keeps retrying before the onboarding fails.
pub const STEP_GIVE_UP_AFTER: Duration = Duration::from_secs(3600);

/// A user to onboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    /// Who.
    #[serde(flatten)]
    pub user: UserRef,
    /// How long to wait for the verification ([`VERIFICATION_WINDOW`] unless a demo is in a
    /// hurry).
    pub verify_within: Duration,
}

impl NewUser {
    /// `user_id` with `email` on `plan`, with a week to verify.
    pub fn new(user_id: &str, email: &str, plan: &str) -> NewUser {
        NewUser {
            user: UserRef {
                user_id: user_id.to_owned(),
                email: email.to_owned(),
                plan: plan.to_owned(),
            },
            verify_within: VERIFICATION_WINDOW,
        }
    }
}

/// Where an onboarding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Not yet at the first step.
    Starting,
    /// Creating the account.
    CreatingAccount,
    /// Sending the verification email.
    SendingVerification,
    /// Waiting for the user to verify.
    WaitingVerification,
    /// Setting up the workspace.
    SettingUpWorkspace,
    /// Assigning the role.
    AssigningRole,
    /// Sending the welcome email.
    SendingWelcome,
    /// Notifying the admins.
    NotifyingAdmin,
    /// Done.
    Completed,
    /// The user never verified.
    TimedOut,
    /// Cancelled by the `cancel` signal.
    Cancelled,
}

/// The answer to `getStatus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnboardingStatus {
    /// The current stage.
    pub step: Stage,
    /// The steps done, in order (`account`, `verification`, `workspace`, `role`, `welcome`,
    /// `admin_notification`).
    pub completed: Vec<String>,
    /// The failure of the step that failed for good, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// How an onboarding ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum OnboardingResult {
    /// Every step done.
    Completed {
        /// The user.
        user_id: String,
        /// Their workspace.
        workspace_id: String,
    },
    /// The user did not verify in time.
    TimedOut,
    /// Cancelled; these steps had been done.
    Cancelled {
        /// The steps done before the cancellation was honoured.
        completed: Vec<String>,
    },
}

/// The query: where is this onboarding?
#[derive(Debug)]
pub struct GetStatus;

impl Query for GetStatus {
    const NAME: &'static str = "getStatus";
    type Args = ();
    type Output = OnboardingStatus;
}

/// The signal: the user clicked the verification link.
#[derive(Debug)]
pub struct EmailVerified;

impl Signal for EmailVerified {
    const NAME: &'static str = "emailVerified";
    type Input = ();
}

/// The signal: stop onboarding this user.
#[derive(Debug)]
pub struct CancelOnboarding;

impl Signal for CancelOnboarding {
    const NAME: &'static str = "cancel";
    type Input = ();
}

/// The onboarding workflow (id `onboarding-<user id>`).
#[derive(Debug)]
pub struct OnboardUser;

impl Workflow for OnboardUser {
    const NAME: &'static str = "onboard_user";
    type Input = NewUser;
    type Output = OnboardingResult;

    async fn run(ctx: WorkflowCtx, new: NewUser) -> WorkflowResult<OnboardingResult> {
        let progress = Progress::listen(&ctx);
        match onboard(&ctx, &progress, new).await {
            Ok(result) => Ok(result),
            Err(Stop::Cancelled) => {
                progress.enter(Stage::Cancelled);
                Ok(OnboardingResult::Cancelled {
                    completed: progress.status.borrow().completed.clone(),
                })
            }
            Err(Stop::Failed(e)) => Err(e),
        }
    }
}

/// Why the steps stopped early.
enum Stop {
    /// The `cancel` signal came.
    Cancelled,
    /// A step failed for good.
    Failed(WorkflowError),
}

async fn onboard(ctx: &WorkflowCtx, progress: &Progress, new: NewUser) -> Result<OnboardingResult, Stop> {
    let user = new.user;
    progress
        .step(
            Stage::CreatingAccount,
            "account",
            ctx.activity_with::<CreateUserAccount>(user.clone(), options()),
        )
        .await?;
    progress
        .step(
            Stage::SendingVerification,
            "verification",
            ctx.activity_with::<SendVerificationEmail>(user.clone(), options()),
        )
        .await?;

    progress.enter(Stage::WaitingVerification);
    let (verified, cancelled) = (progress.verified.clone(), progress.cancelled.clone());
    let either = move || verified.get() || cancelled.get();
    ctx.condition_timeout(either, new.verify_within).await;
    if progress.cancelled.get() {
        return Err(Stop::Cancelled);
    }
    if !progress.verified.get() {
        progress.enter(Stage::TimedOut);
        return Ok(OnboardingResult::TimedOut);
    }

    let workspace = progress
        .step(
            Stage::SettingUpWorkspace,
            "workspace",
            ctx.activity_with::<SetupDefaultWorkspace>(user.clone(), options()),
        )
        .await?;
    progress
        .step(
            Stage::AssigningRole,
            "role",
            ctx.activity_with::<AssignDefaultRole>(user.clone(), options()),
        )
        .await?;
    let welcome = Welcome {
        user: user.clone(),
        workspace_id: workspace.id.clone(),
    };
    progress
        .step(
            Stage::SendingWelcome,
            "welcome",
            ctx.activity_with::<SendWelcomeEmail>(welcome, options()),
        )
        .await?;
    progress
        .step(
            Stage::NotifyingAdmin,
            "admin_notification",
            ctx.activity_with::<NotifyAdmin>(user.clone(), options()),
        )
        .await?;
    progress.enter(Stage::Completed);
    Ok(OnboardingResult::Completed {
        user_id: user.user_id,
        workspace_id: workspace.id,
    })
}

/// The workflow's state: what `getStatus` answers, and what the signals set.
struct Progress {
    status: Rc<RefCell<OnboardingStatus>>,
    verified: Rc<Cell<bool>>,
    cancelled: Rc<Cell<bool>>,
}

impl Progress {
    /// Fresh state, answering `getStatus` and listening for the signals.
    fn listen(ctx: &WorkflowCtx) -> Progress {
        let progress = Progress {
            status: Rc::new(RefCell::new(OnboardingStatus {
                step: Stage::Starting,
                completed: Vec::new(),
                failed: None,
            })),
            verified: Rc::default(),
            cancelled: Rc::default(),
        };
        let status = progress.status.clone();
        ctx.on_query::<GetStatus>(move |()| status.borrow().clone());
        let verified = progress.verified.clone();
        ctx.on_signal::<EmailVerified>(move |()| verified.set(true));
        let cancelled = progress.cancelled.clone();
        ctx.on_signal::<CancelOnboarding>(move |()| cancelled.set(true));
        progress
    }

    fn enter(&self, stage: Stage) {
        self.status.borrow_mut().step = stage;
    }

    /// Runs one step unless a cancellation came first: enters `stage`, awaits `call`, and
    /// adds `done` to the steps done, or records the failure.
    async fn step<T>(
        &self,
        stage: Stage,
        done: &str,
        call: impl IntoFuture<Output = Result<T, ActivityError>>,
    ) -> Result<T, Stop> {
        if self.cancelled.get() {
            return Err(Stop::Cancelled);
        }
        self.enter(stage);
        match call.await {
            Ok(value) => {
                self.status.borrow_mut().completed.push(done.to_owned());
                Ok(value)
            }
            Err(e) => {
                self.status.borrow_mut().failed = Some(e.to_string());
                Err(Stop::Failed(e.into()))
            }
        }
    }
}

/// Every step: Temporal's default retry policy (1 s, doubling) for up to an hour.
///
/// The guide stops after 3 attempts. Bounding the retries by time instead rides out a burst
/// of failures (the fault campaign injects up to three in a row, and crashes that time
/// attempts out) while an outage that lasts still fails the onboarding.
fn options() -> ActivityOptions {
    retried_for(ATTEMPT_TIMEOUT, STEP_GIVE_UP_AFTER)
}
