//! Scenarios of transfers and the fault campaign that runs them.
//!
//! A [`Scenario`] opens accounts, scripts trouble on the step of a transfer (the bank
//! refusing a credit to a frozen account, the record store down), and lists the transfers to
//! run. [`campaign_for`] runs it under faults and checks, besides the kit's oracles (saga
//! included: every completed step compensated exactly once, in reverse order), that money is
//! conserved and that each transfer either fully happened or was fully undone.

use super::activities::{
    CreditAccount, DebitAccount, DeleteTransfer, RecordTransfer, ReverseCredit, ReverseDebit,
};
use super::workflow::{Transfer, TransferMoney, TransferResult};
use super::{World, WorldSnapshot, registry};
use crate::campaigns::{self, ExampleScenario, Outcomes, completed};
use crate::services::Trouble;
use crate::services::bank::Operation;
use std::collections::BTreeMap;
use warpflow_engine::{Activity, Registry};
use warpflow_testkit::{Campaign, RunReport, WorkloadCtx};

/// A step of a transfer, where trouble can be scripted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The debit of the source account.
    Debit,
    /// The credit of the destination account.
    Credit,
    /// The transfer's record.
    Record,
}

/// Accounts, transfers, and the trouble some of their steps meet.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// Accounts to open, with their balances.
    pub accounts: Vec<(String, i64)>,
    /// Transfers to run, by transfer (workflow) id.
    pub transfers: Vec<(String, Transfer)>,
    /// Trouble on a step of a transfer: a bank step's trouble is scripted on its account, so
    /// it meets every transfer touching that account the same way.
    pub troubles: Vec<(String, Step, Trouble)>,
}

fn transfer(from: &str, to: &str, amount: i64) -> Transfer {
    Transfer {
        from: from.to_owned(),
        to: to.to_owned(),
        amount,
    }
}

impl Scenario {
    /// Six transfers, one per path: a plain one, a credit to a frozen account (the debit is
    /// reversed), a debit without the funds (nothing to undo), a record refused by compliance
    /// (credit and debit reversed, in that order), a credit that fails twice and is retried,
    /// and a record store down for longer than a step retries (undone after an hour). No
    /// account both pays and is paid by transfers whose order could change an outcome.
    pub fn demo() -> Scenario {
        let accounts = [
            ("alice", 1000),
            ("bob", 500),
            ("carol", 200),
            ("dave", 0),
            ("erin", 50),
        ];
        let transfers = [
            ("transfer-1", transfer("alice", "bob", 100)),
            ("transfer-2", transfer("alice", "dave", 50)),
            ("transfer-3", transfer("erin", "carol", 80)),
            ("transfer-4", transfer("bob", "carol", 30)),
            ("transfer-5", transfer("carol", "alice", 20)),
            ("transfer-6", transfer("carol", "bob", 10)),
        ];
        let refused = |error_type: &str| Trouble::Refused {
            error_type: error_type.to_owned(),
        };
        Scenario {
            accounts: accounts.iter().map(|(a, b)| ((*a).to_owned(), *b)).collect(),
            transfers: transfers.into_iter().map(|(id, t)| (id.to_owned(), t)).collect(),
            troubles: vec![
                ("transfer-2".into(), Step::Credit, refused("AccountFrozen")),
                ("transfer-4".into(), Step::Record, refused("ComplianceHold")),
                ("transfer-5".into(), Step::Credit, Trouble::Transient { calls: 2 }),
                ("transfer-6".into(), Step::Record, Trouble::Outage),
            ],
        }
    }

    /// The transfer `transfer_id`.
    pub fn transfer(&self, transfer_id: &str) -> Option<&Transfer> {
        self.transfers
            .iter()
            .find(|(id, _)| id == transfer_id)
            .map(|(_, t)| t)
    }

    /// The money in the bank before any transfer: what every transfer must conserve.
    pub fn total(&self) -> i64 {
        self.accounts.iter().map(|(_, balance)| balance).sum()
    }
}

impl ExampleScenario for Scenario {
    type World = World;
    type Snapshot = WorldSnapshot;
    const INVARIANT: &'static str = "money conserved, each transfer all or nothing";

    fn registry(world: &World) -> Registry {
        registry(world)
    }

    /// Opens the accounts and scripts the troubles on `world` (after a reset).
    fn prepare(&self, world: &World) {
        world.reset();
        for (account, balance) in &self.accounts {
            world.bank.open(account, *balance);
        }
        for (transfer_id, step, trouble) in &self.troubles {
            let Some(t) = self.transfer(transfer_id) else {
                continue;
            };
            match step {
                Step::Debit => world.bank.script(&t.from, Operation::Debit, trouble.clone()),
                Step::Credit => world.bank.script(&t.to, Operation::Credit, trouble.clone()),
                Step::Record => world.records.script(transfer_id, trouble.clone()),
            }
        }
    }

    fn snapshot(world: &World) -> WorldSnapshot {
        world.snapshot()
    }

    /// Starts every transfer at once.
    fn workload(&self, _world: &World, w: &mut WorkloadCtx) {
        for (id, t) in &self.transfers {
            w.start::<TransferMoney>(id.as_str(), t);
        }
    }

    /// Checks the end state of a run: money conserved, and each transfer either done in full
    /// (debited, credited, recorded, and reported completed) or undone in full (nothing
    /// moved, no record, reported failed).
    fn check(&self, _run: &RunReport, outcomes: &Outcomes, world: &WorldSnapshot) -> Result<(), String> {
        let total: i64 = world.bank.balances.values().sum();
        if total != self.total() {
            return Err(format!(
                "money is not conserved: {total} in the bank, {} before ({:?})",
                self.total(),
                world.bank.balances
            ));
        }
        for (id, t) in &self.transfers {
            let moved = world.bank.moved.get(id).cloned().unwrap_or_default();
            let recorded = world.records.records.contains_key(id);
            let result = completed::<TransferResult>(outcomes, id);
            match result {
                Some(TransferResult::Completed { .. }) => {
                    let expected = BTreeMap::from([(t.from.clone(), -t.amount), (t.to.clone(), t.amount)]);
                    if moved != expected || !recorded {
                        return Err(format!(
                            "{id} completed but moved {moved:?} (expected {expected:?}), recorded: {recorded}"
                        ));
                    }
                }
                Some(TransferResult::Failed { .. }) => {
                    if moved.values().any(|m| *m != 0) || recorded {
                        return Err(format!(
                            "{id} failed but was not undone: moved {moved:?}, recorded: {recorded}"
                        ));
                    }
                }
                None => {
                    return Err(format!(
                        "{id} did not complete with a transfer result: {:?}",
                        outcomes.get(id)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The example's campaign: [`Scenario::demo`] under the default fault mix.
pub fn campaign() -> Campaign {
    campaign_for("money_transfer", Scenario::demo())
}

/// A campaign running `scenario`'s transfers under the default fault mix, with the saga
/// pairs, crash equivalence over the bank and the record store, and the invariant of
/// [`Scenario::check`](ExampleScenario::check).
pub fn campaign_for(name: &str, scenario: Scenario) -> Campaign {
    campaigns::campaign(name, scenario).saga([
        (DebitAccount::NAME, ReverseDebit::NAME),
        (CreditAccount::NAME, ReverseCredit::NAME),
        (RecordTransfer::NAME, DeleteTransfer::NAME),
    ])
}
