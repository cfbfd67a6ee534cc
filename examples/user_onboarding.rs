//! User onboarding, run for real.
//!
//! Each onboarding creates the account, mails a verification link, waits for the user to
//! click it (the `emailVerified` signal) for up to a week, then sets up the workspace,
//! assigns the role, mails the welcome and notifies the admins. `getStatus` answers the
//! current step and the steps done; the `cancel` signal stops it before its next step.
//!
//! This runs three users on the engine (tokio, in-memory storage): Ada verifies, Bob never
//! does, Cyd's onboarding is cancelled while waiting. The real wait is seven days; here it is
//! two seconds so that Bob's timeout comes quickly (the tests skip the real week in virtual
//! time). It prints Ada's status mid-wait and at the end, each result, and Ada's timeline.
//!
//! ```sh
//! cargo run --example user_onboarding
//! ```

use std::time::Duration;
use warpflow::prelude::*;
use warpflow_examples::live::{MainResult, print_timeline, with_worker};
use warpflow_examples::user_onboarding::{
    self, CancelOnboarding, EmailVerified, GetStatus, NewUser, OnboardUser, World, workflow_id,
};

/// Stands in for the guide's seven days, so that the run takes seconds.
const VERIFY_WITHIN: Duration = Duration::from_secs(2);

#[tokio::main(flavor = "current_thread")]
async fn main() -> MainResult {
    let world = World::new();
    let registry = user_onboarding::registry(&world);
    with_worker(Engine::builder(), "onboarding", registry, |client| async move {
        let mut handles = Vec::new();
        for (user, plan) in [("ada", "team"), ("bob", "free"), ("cyd", "team")] {
            let new = NewUser {
                verify_within: VERIFY_WITHIN,
                ..NewUser::new(user, &format!("{user}@example.com"), plan)
            };
            let options = StartOptions::new("onboarding");
            handles.push(
                client
                    .start::<OnboardUser>(workflow_id(user), &new, options)
                    .await?,
            );
        }
        let [ada, bob, cyd] = &handles[..] else {
            return Err("three onboardings".into());
        };

        tokio::time::sleep(Duration::from_millis(300)).await;
        println!("ada, waiting: {:?}", ada.query::<GetStatus>(&()).await?);
        ada.signal::<EmailVerified>(&()).await?;
        cyd.signal::<CancelOnboarding>(&()).await?;

        for handle in [ada, bob, cyd] {
            println!("{}: {:?}", handle.workflow_id(), handle.result().await?);
        }
        println!("ada, done: {:?}", ada.query::<GetStatus>(&()).await?);
        for message in world.outbox.sent() {
            println!("sent {:?} to {}: {}", message.kind, message.to, message.body);
        }
        println!("timeline of {}:", ada.workflow_id());
        print_timeline(&ada.history().await?, 30);
        Ok(())
    })
    .await
}
