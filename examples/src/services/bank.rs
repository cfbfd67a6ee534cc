//! The bank: accounts with balances, and a ledger of postings (debits, credits, reversals)
//! each tagged with the transfer it belongs to.
//!
//! Postings are idempotent by key: a debit retried after its reply was lost returns the
//! posting it already made. A reversal undoes a posting exactly once, however often it is
//! asked for, and is never refused for want of funds: it corrects the ledger rather than
//! spending from it (a bank reverses an erroneous credit even from an account that has since
//! run dry).

use super::{Idempotent, Script, ServiceError, Trouble, lock};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One line of the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Posting {
    /// Its id (the idempotency key of the call that made it).
    pub id: String,
    /// The account it moves money on.
    pub account: String,
    /// Signed: negative for a debit.
    pub amount: i64,
    /// The transfer it belongs to.
    pub transfer_id: String,
    /// The posting it reverses, for a reversal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverses: Option<String>,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Operation::Debit => "debit",
            Operation::Credit => "credit",
        })
    }
}

/// The bank's business state, as a test or a campaign compares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Every balance, by account.
    pub balances: BTreeMap<String, i64>,
    /// What each transfer moved on each account it touched (0 where it was reversed).
    pub moved: BTreeMap<String, BTreeMap<String, i64>>,
    /// How many postings the ledger holds: a posting made twice shows here.
    pub postings: usize,
}

/// The operations a test can script trouble on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Operation {
    /// Taking money out of the account.
    Debit,
    /// Putting money into the account.
    Credit,
}

/// The bank's state: the ledger, and apart from it (so an operation can borrow both) the
/// postings already made by key.
#[derive(Debug, Default)]
struct State {
    done: Idempotent<Posting>,
    ledger: Ledger,
}

#[derive(Debug, Default)]
struct Ledger {
    balances: BTreeMap<String, i64>,
    postings: Vec<Posting>,
    /// The reversal of each reversed posting, by the posting's id.
    reversals: BTreeMap<String, Posting>,
    troubles: Script<(String, Operation)>,
}

impl Ledger {
    fn post(
        &mut self,
        id: &str,
        account: &str,
        amount: i64,
        transfer_id: &str,
        reverses: Option<String>,
    ) -> Posting {
        let posting = Posting {
            id: id.to_owned(),
            account: account.to_owned(),
            amount,
            transfer_id: transfer_id.to_owned(),
            reverses,
        };
        *self.balances.entry(account.to_owned()).or_default() += amount;
        self.postings.push(posting.clone());
        posting
    }

    fn balance(&self, account: &str) -> Result<i64, ServiceError> {
        self.balances
            .get(account)
            .copied()
            .ok_or_else(|| ServiceError::refused("UnknownAccount", format!("no account `{account}`")))
    }
}

/// A handle on the bank. Cheap to clone: clones share the ledger.
#[derive(Clone, Debug, Default)]
pub struct Bank {
    state: Arc<Mutex<State>>,
}

impl Bank {
    /// A bank with no accounts.
    pub fn new() -> Bank {
        Bank::default()
    }

    /// Forgets every account, posting and scripted trouble.
    pub fn reset(&self) {
        *lock(&self.state) = State::default();
    }

    /// Opens `account` with `balance` (or sets the balance of an existing one).
    pub fn open(&self, account: &str, balance: i64) {
        lock(&self.state)
            .ledger
            .balances
            .insert(account.to_owned(), balance);
    }

    /// From now on, `operation` on `account` meets `trouble`.
    pub fn script(&self, account: &str, operation: Operation, trouble: Trouble) {
        lock(&self.state)
            .ledger
            .troubles
            .set((account.to_owned(), operation), trouble);
    }

    /// Takes `amount` out of `account` for `transfer_id`, once per `key`. Refused
    /// (`InsufficientFunds`) when the balance is short, (`UnknownAccount`) for an unknown
    /// account, and (`InvalidAmount`) for an amount that is not positive.
    pub fn debit(
        &self,
        key: &str,
        account: &str,
        amount: i64,
        transfer_id: &str,
    ) -> Result<Posting, ServiceError> {
        self.post(key, account, Operation::Debit, amount, transfer_id)
    }

    /// Puts `amount` into `account` for `transfer_id`, once per `key`. Refused for an unknown
    /// account or an amount that is not positive.
    pub fn credit(
        &self,
        key: &str,
        account: &str,
        amount: i64,
        transfer_id: &str,
    ) -> Result<Posting, ServiceError> {
        self.post(key, account, Operation::Credit, amount, transfer_id)
    }

    fn post(
        &self,
        key: &str,
        account: &str,
        operation: Operation,
        amount: i64,
        transfer_id: &str,
    ) -> Result<Posting, ServiceError> {
        let State { done, ledger } = &mut *lock(&self.state);
        done.once(key, || {
            ledger.troubles.check(&(account.to_owned(), operation), || {
                format!("{operation} of `{account}`")
            })?;
            check_amount(amount)?;
            let balance = ledger.balance(account)?;
            let signed = match operation {
                Operation::Credit => amount,
                Operation::Debit if balance >= amount => -amount,
                Operation::Debit => {
                    return Err(ServiceError::refused(
                        "InsufficientFunds",
                        format!("`{account}` has {balance}, {amount} asked"),
                    ));
                }
            };
            Ok(ledger.post(key, account, signed, transfer_id, None))
        })
    }

    /// Reverses posting `posting_id`: posts its opposite on the same account, once per
    /// posting whatever the key. Refused (`UnknownPosting`) for a posting that does not exist.
    pub fn reverse(&self, key: &str, posting_id: &str) -> Result<Posting, ServiceError> {
        let State { done, ledger } = &mut *lock(&self.state);
        done.once(key, || {
            if let Some(reversal) = ledger.reversals.get(posting_id) {
                return Ok(reversal.clone());
            }
            let original = ledger
                .postings
                .iter()
                .find(|p| p.id == posting_id)
                .cloned()
                .ok_or_else(|| {
                    ServiceError::refused("UnknownPosting", format!("no posting `{posting_id}`"))
                })?;
            let reversal = ledger.post(
                key,
                &original.account,
                -original.amount,
                &original.transfer_id,
                Some(original.id.clone()),
            );
            ledger.reversals.insert(original.id, reversal.clone());
            Ok(reversal)
        })
    }

    /// The balance of `account`, if it exists.
    pub fn balance(&self, account: &str) -> Option<i64> {
        lock(&self.state).ledger.balances.get(account).copied()
    }

    /// Every balance, by account.
    pub fn balances(&self) -> BTreeMap<String, i64> {
        lock(&self.state).ledger.balances.clone()
    }

    /// The sum of every balance: what transfers must conserve.
    pub fn total(&self) -> i64 {
        lock(&self.state).ledger.balances.values().sum()
    }

    /// Every posting, in the order they were made.
    pub fn postings(&self) -> Vec<Posting> {
        lock(&self.state).ledger.postings.clone()
    }

    /// What `transfer_id` moved on each account it touched, reversals included: an account
    /// whose postings cancel out is listed with 0.
    pub fn net_of(&self, transfer_id: &str) -> BTreeMap<String, i64> {
        let mut net = BTreeMap::new();
        for p in lock(&self.state)
            .ledger
            .postings
            .iter()
            .filter(|p| p.transfer_id == transfer_id)
        {
            *net.entry(p.account.clone()).or_default() += p.amount;
        }
        net
    }

    /// Balances, and what each transfer moved on each account: the business state, free of
    /// posting ids (which name runs, and so differ from one simulated run to the next).
    pub fn snapshot(&self) -> Snapshot {
        let state = lock(&self.state);
        let ledger = &state.ledger;
        let mut moved: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for p in &ledger.postings {
            *moved
                .entry(p.transfer_id.clone())
                .or_default()
                .entry(p.account.clone())
                .or_default() += p.amount;
        }
        Snapshot {
            balances: ledger.balances.clone(),
            moved,
            postings: ledger.postings.len(),
        }
    }
}

fn check_amount(amount: i64) -> Result<(), ServiceError> {
    if amount > 0 {
        Ok(())
    } else {
        Err(ServiceError::refused(
            "InvalidAmount",
            format!("amount must be positive, got {amount}"),
        ))
    }
}
