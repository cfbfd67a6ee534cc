//! The transfer record store: the bank's book of completed transfers, one record per
//! transfer id, which compliance reads. Recording is idempotent by key and by transfer id;
//! deleting a record that is gone is not an error (the compensation may run twice).

use super::{Idempotent, Script, ServiceError, Trouble, lock};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A recorded transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferRecord {
    /// The transfer's id (its workflow id).
    pub transfer_id: String,
    /// The account debited.
    pub from: String,
    /// The account credited.
    pub to: String,
    /// How much.
    pub amount: i64,
}

/// The store's state, as a test or a campaign compares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The records, by transfer id.
    pub records: BTreeMap<String, TransferRecord>,
    /// The transfer ids whose record was deleted.
    pub deleted: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    done: Idempotent<TransferRecord>,
    records: BTreeMap<String, TransferRecord>,
    /// Records deleted, by transfer id: a compensation leaves a trace for the auditors.
    deleted: BTreeMap<String, TransferRecord>,
    troubles: Script<String>,
}

/// A handle on the store. Cheap to clone: clones share the records.
#[derive(Clone, Debug, Default)]
pub struct TransferRecords {
    state: Arc<Mutex<State>>,
}

impl TransferRecords {
    /// An empty store.
    pub fn new() -> TransferRecords {
        TransferRecords::default()
    }

    /// Forgets every record and scripted trouble.
    pub fn reset(&self) {
        *lock(&self.state) = State::default();
    }

    /// From now on, recording `transfer_id` meets `trouble`.
    pub fn script(&self, transfer_id: &str, trouble: Trouble) {
        lock(&self.state).troubles.set(transfer_id.to_owned(), trouble);
    }

    /// Records `record`, once per `key`; recording a transfer id again returns its record.
    pub fn record(&self, key: &str, record: TransferRecord) -> Result<TransferRecord, ServiceError> {
        let State {
            done,
            records,
            troubles,
            ..
        } = &mut *lock(&self.state);
        done.once(key, || {
            troubles.check(&record.transfer_id, || {
                format!("recording of transfer `{}`", record.transfer_id)
            })?;
            Ok(records
                .entry(record.transfer_id.clone())
                .or_insert(record)
                .clone())
        })
    }

    /// Deletes the record of `transfer_id`; says whether there was one.
    pub fn delete(&self, transfer_id: &str) -> bool {
        let state = &mut *lock(&self.state);
        match state.records.remove(transfer_id) {
            Some(record) => {
                state.deleted.insert(transfer_id.to_owned(), record);
                true
            }
            None => false,
        }
    }

    /// The record of `transfer_id`, if there is one.
    pub fn get(&self, transfer_id: &str) -> Option<TransferRecord> {
        lock(&self.state).records.get(transfer_id).cloned()
    }

    /// Every record, by transfer id.
    pub fn records(&self) -> BTreeMap<String, TransferRecord> {
        lock(&self.state).records.clone()
    }

    /// The records, and the ids of those deleted.
    pub fn snapshot(&self) -> Snapshot {
        let state = lock(&self.state);
        Snapshot {
            records: state.records.clone(),
            deleted: state.deleted.keys().cloned().collect(),
        }
    }
}
