//! The transfer saga: debit, credit, record, registering the compensation of each step as it
//! succeeds; when a step fails for good, the compensations run in reverse order and the
//! transfer reports that it failed, and what was undone.

use super::activities::{
    CreditAccount, DebitAccount, DeleteTransfer, PostingRequest, RecordTransfer, ReverseCredit, ReverseDebit,
};
use crate::options::retried_for;
use crate::services::transfer_records::TransferRecord;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use warpflow_engine::{
    Activity, ActivityError, ActivityOptions, Saga, Workflow, WorkflowCtx, WorkflowError, WorkflowResult,
};

/// How long one attempt of any step or compensation may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a step keeps retrying an unavailable service before the transfer gives up and
/// compensates. (Compensations have no such limit: they retry until they succeed, since a
/// half-undone transfer is worse than a slow one.)
pub const STEP_GIVE_UP_AFTER: Duration = Duration::from_secs(3600);

/// A transfer of `amount` from one account to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    /// The account debited.
    pub from: String,
    /// The account credited.
    pub to: String,
    /// How much (positive).
    pub amount: i64,
}

/// How a transfer ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum TransferResult {
    /// Debited, credited and recorded.
    #[serde(rename_all = "camelCase")]
    Completed {
        /// The id of the transfer's record (its workflow id).
        transfer_id: String,
    },
    /// A step failed for good; every step done before it was compensated.
    #[serde(rename_all = "camelCase")]
    Failed {
        /// The failure of the step.
        reason: String,
        /// The compensations that ran, in order.
        compensated: Vec<String>,
    },
}

/// The money transfer workflow. Its id is the transfer id.
#[derive(Debug)]
pub struct TransferMoney;

impl Workflow for TransferMoney {
    const NAME: &'static str = "transfer_money";
    type Input = Transfer;
    type Output = TransferResult;

    async fn run(ctx: WorkflowCtx, transfer: Transfer) -> WorkflowResult<TransferResult> {
        let transfer_id = ctx.info().workflow_id.to_string();
        let mut saga = Saga::new();
        let Err(failure) = steps(&ctx, &transfer, &transfer_id, &mut saga).await else {
            return Ok(TransferResult::Completed { transfer_id });
        };
        let report = saga.compensate().await;
        if !report.all_succeeded() {
            // Compensations retry until they succeed, so this is a bug or a workflow
            // cancelled mid-compensation: fail loudly rather than report a clean undo.
            return Err(WorkflowError::fail(
                "CompensationFailed",
                format!("{failure}; compensations that failed: {:?}", report.failed()),
            ));
        }
        Ok(TransferResult::Failed {
            reason: failure.to_string(),
            compensated: report.ran().into_iter().map(str::to_owned).collect(),
        })
    }
}

/// The three steps, each registering its compensation once it succeeded.
async fn steps(
    ctx: &WorkflowCtx,
    t: &Transfer,
    transfer_id: &str,
    saga: &mut Saga,
) -> Result<(), ActivityError> {
    let posting = |account: &str| PostingRequest {
        account: account.to_owned(),
        amount: t.amount,
        transfer_id: transfer_id.to_owned(),
    };

    let debit = ctx
        .activity_with::<DebitAccount>(posting(&t.from), step_options())
        .await?;
    let c = ctx.clone();
    saga.add(ReverseDebit::NAME, move || {
        c.activity_with::<ReverseDebit>(debit.id, compensation_options())
            .start()
    });

    let credit = ctx
        .activity_with::<CreditAccount>(posting(&t.to), step_options())
        .await?;
    let c = ctx.clone();
    saga.add(ReverseCredit::NAME, move || {
        c.activity_with::<ReverseCredit>(credit.id, compensation_options())
            .start()
    });

    let record = TransferRecord {
        transfer_id: transfer_id.to_owned(),
        from: t.from.clone(),
        to: t.to.clone(),
        amount: t.amount,
    };
    let record = ctx
        .activity_with::<RecordTransfer>(record, step_options())
        .await?;
    // Nothing fails after this step today; the compensation is registered all the same, so a
    // step added later is covered without anyone remembering to.
    let c = ctx.clone();
    saga.add(DeleteTransfer::NAME, move || {
        c.activity_with::<DeleteTransfer>(record.transfer_id, compensation_options())
            .start()
    });
    Ok(())
}

/// A step retries (Temporal's default policy) for up to [`STEP_GIVE_UP_AFTER`].
fn step_options() -> ActivityOptions {
    retried_for(ATTEMPT_TIMEOUT, STEP_GIVE_UP_AFTER)
}

/// A compensation retries until it succeeds.
fn compensation_options() -> ActivityOptions {
    ActivityOptions::start_to_close(ATTEMPT_TIMEOUT)
}
