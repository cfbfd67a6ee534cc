//! The batch's own activity: alerting the admin (by email, through the email service).

use super::model::{ADMIN_EMAIL, AdminAlert};
use crate::services::email::Message;
use crate::services::{Email, ShopError, idempotency_key};
use warpflow_engine::{Activity, ActivityCtx, ActivityError};

/// Emails `alert` to [`ADMIN_EMAIL`], with the alert's kind as the template.
#[derive(Debug)]
pub struct NotifyAdmin(pub Email);
impl Activity for NotifyAdmin {
    const NAME: &'static str = "notify_admin";
    type Input = AdminAlert;
    type Output = ();
    async fn run(&self, ctx: ActivityCtx, alert: AdminAlert) -> Result<(), ActivityError> {
        let data = serde_json::to_value(&alert)
            .map_err(|e| ActivityError::non_retryable("BadAlert", e.to_string()))?;
        let message = Message {
            to: ADMIN_EMAIL.to_owned(),
            template: alert.kind,
            data,
        };
        self.0
            .send(&idempotency_key(&ctx), &message)
            .map_err(ShopError::into_activity_error)
    }
}
