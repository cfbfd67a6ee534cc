//! `money_transfer`: the guide's saga. A transfer debits the source account, credits the
//! destination and records the transfer, registering the compensation of each step as it
//! succeeds (reverse the debit, reverse the credit, delete the record). When a step fails for
//! good — refused by the bank, or a service down for longer than
//! [`workflow::STEP_GIVE_UP_AFTER`] — the compensations run in reverse order, and money is
//! conserved: the transfer either fully happened or was fully undone.
//!
//! - [`workflow`]: [`TransferMoney`] and its result;
//! - [`activities`]: the steps and compensations, on the simulated [`Bank`] and
//!   [`TransferRecords`];
//! - [`scenario`]: accounts, transfers and scripted trouble, and the campaign that runs them
//!   under faults with the saga oracle and the money invariants.

pub mod activities;
pub mod scenario;
pub mod workflow;

pub use activities::{
    CreditAccount, DebitAccount, DeleteTransfer, RecordTransfer, ReverseCredit, ReverseDebit,
};
pub use scenario::{Scenario, Step, campaign, campaign_for};
pub use workflow::{Transfer, TransferMoney, TransferResult};

use crate::services::bank::{self, Bank};
use crate::services::transfer_records::{self, TransferRecords};
use serde::{Deserialize, Serialize};
use warpflow_engine::Registry;

/// The services a transfer acts on.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// Accounts and postings.
    pub bank: Bank,
    /// The book of recorded transfers.
    pub records: TransferRecords,
}

/// The world's business state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldSnapshot {
    /// The bank's.
    pub bank: bank::Snapshot,
    /// The record store's.
    pub records: transfer_records::Snapshot,
}

impl World {
    /// Empty services.
    pub fn new() -> World {
        World::default()
    }

    /// Empties every service.
    pub fn reset(&self) {
        self.bank.reset();
        self.records.reset();
    }

    /// The business state of every service.
    pub fn snapshot(&self) -> WorldSnapshot {
        WorldSnapshot {
            bank: self.bank.snapshot(),
            records: self.records.snapshot(),
        }
    }
}

/// The transfer workflow and its activities, bound to `world`.
pub fn registry(world: &World) -> Registry {
    Registry::new()
        .with_workflow::<TransferMoney>()
        .with_activity(DebitAccount(world.bank.clone()))
        .with_activity(CreditAccount(world.bank.clone()))
        .with_activity(RecordTransfer(world.records.clone()))
        .with_activity(ReverseDebit(world.bank.clone()))
        .with_activity(ReverseCredit(world.bank.clone()))
        .with_activity(DeleteTransfer(world.records.clone()))
}
