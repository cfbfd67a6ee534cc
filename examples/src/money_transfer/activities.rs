//! The transfer's activities: three steps on the bank and the record store, and the
//! compensation of each. Every one passes its idempotency key (workflow, run and activity id:
//! the same for each attempt) so a retry never posts twice.

use crate::services::bank::{Bank, Posting};
use crate::services::key_of;
use crate::services::transfer_records::{TransferRecord, TransferRecords};
use serde::{Deserialize, Serialize};
use warpflow_engine::{Activity, ActivityCtx, ActivityError};

/// What a debit or a credit posts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostingRequest {
    /// The account.
    pub account: String,
    /// How much (positive).
    pub amount: i64,
    /// The transfer it is part of.
    pub transfer_id: String,
}

/// Step 1: takes the amount out of the source account (refused without the funds).
#[derive(Debug)]
pub struct DebitAccount(pub Bank);

impl Activity for DebitAccount {
    const NAME: &'static str = "debit_account";
    type Input = PostingRequest;
    type Output = Posting;
    async fn run(&self, ctx: ActivityCtx, r: PostingRequest) -> Result<Posting, ActivityError> {
        Ok(self
            .0
            .debit(&key_of(ctx.info()), &r.account, r.amount, &r.transfer_id)?)
    }
}

/// Step 2: puts the amount into the destination account.
#[derive(Debug)]
pub struct CreditAccount(pub Bank);

impl Activity for CreditAccount {
    const NAME: &'static str = "credit_account";
    type Input = PostingRequest;
    type Output = Posting;
    async fn run(&self, ctx: ActivityCtx, r: PostingRequest) -> Result<Posting, ActivityError> {
        Ok(self
            .0
            .credit(&key_of(ctx.info()), &r.account, r.amount, &r.transfer_id)?)
    }
}

/// Step 3: writes the transfer into the record store.
#[derive(Debug)]
pub struct RecordTransfer(pub TransferRecords);

impl Activity for RecordTransfer {
    const NAME: &'static str = "record_transfer";
    type Input = TransferRecord;
    type Output = TransferRecord;
    async fn run(&self, ctx: ActivityCtx, record: TransferRecord) -> Result<TransferRecord, ActivityError> {
        Ok(self.0.record(&key_of(ctx.info()), record)?)
    }
}

/// Compensates step 1: reverses the debit (puts the money back into the source account).
#[derive(Debug)]
pub struct ReverseDebit(pub Bank);

impl Activity for ReverseDebit {
    const NAME: &'static str = "reverse_debit";
    /// The id of the debit's posting.
    type Input = String;
    type Output = Posting;
    async fn run(&self, ctx: ActivityCtx, debit: String) -> Result<Posting, ActivityError> {
        Ok(self.0.reverse(&key_of(ctx.info()), &debit)?)
    }
}

/// Compensates step 2: reverses the credit (takes the money back out of the destination).
#[derive(Debug)]
pub struct ReverseCredit(pub Bank);

impl Activity for ReverseCredit {
    const NAME: &'static str = "reverse_credit";
    /// The id of the credit's posting.
    type Input = String;
    type Output = Posting;
    async fn run(&self, ctx: ActivityCtx, credit: String) -> Result<Posting, ActivityError> {
        Ok(self.0.reverse(&key_of(ctx.info()), &credit)?)
    }
}

/// Compensates step 3: deletes the transfer's record.
#[derive(Debug)]
pub struct DeleteTransfer(pub TransferRecords);

impl Activity for DeleteTransfer {
    const NAME: &'static str = "delete_transfer";
    /// The transfer id.
    type Input = String;
    /// Whether there was a record to delete.
    type Output = bool;
    async fn run(&self, _ctx: ActivityCtx, transfer_id: String) -> Result<bool, ActivityError> {
        Ok(self.0.delete(&transfer_id))
    }
}
