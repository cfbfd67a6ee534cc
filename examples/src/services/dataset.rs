//! The dataset store: datasets of records, and the results of processing them. Processing a
//! record takes time (on a clock the store is given; none in unit tests) and writes its
//! result once per record: a record processed again after a crash finds its result written
//! and leaves it. Every processing call is logged, attempt included, so a test can see where
//! each attempt started.

use super::{Script, ServiceError, Trouble, lock};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warpflow_engine::env::SharedClock;

/// How long processing one record takes in the examples' simulations.
pub const RECORD_LATENCY: Duration = Duration::from_millis(10);

/// One processing call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// The dataset.
    pub dataset_id: String,
    /// The record.
    pub index: u64,
    /// The activity attempt that made the call.
    pub attempt: u32,
}

/// What processing left in the store, per dataset, as a test or a campaign compares it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    /// Records in the dataset.
    pub records: u64,
    /// Results written (one per record when processing is done, exactly once).
    pub written: u64,
    /// Records without a result.
    pub missing: u64,
    /// Results written for a record that already had one.
    pub duplicates: u64,
    /// Results that are not what processing the record gives.
    pub wrong: u64,
    /// The sum of the results.
    pub checksum: u64,
}

#[derive(Debug, Default)]
struct State {
    datasets: BTreeMap<String, Vec<u64>>,
    /// The results, in the order they were written: an append-only log, as a real sink would
    /// be, so that a record written twice would show.
    written: BTreeMap<String, Vec<(u64, u64)>>,
    calls: Vec<Call>,
    troubles: Script<(String, u64)>,
}

/// A handle on the store. Cheap to clone: clones share the data and the clock.
#[derive(Clone, Default)]
pub struct DatasetStore {
    state: Arc<Mutex<State>>,
    /// The clock processing takes time on, and how much per record.
    clock: Arc<Mutex<Option<(SharedClock, Duration)>>>,
}

impl std::fmt::Debug for DatasetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetStore")
            .field("state", &self.state)
            .field("has_clock", &lock(&self.clock).is_some())
            .finish()
    }
}

/// What processing record `value` gives.
pub fn process_value(value: u64) -> u64 {
    value * value + 1
}

impl DatasetStore {
    /// An empty store without a clock (processing takes no time).
    pub fn new() -> DatasetStore {
        DatasetStore::default()
    }

    /// From now on, processing a record takes `per_record` of `clock` (virtual time under
    /// the simulator). An activity that takes no time never yields, and a worker forwards
    /// heartbeats only while its activity yields.
    pub fn use_clock(&self, clock: SharedClock, per_record: Duration) {
        *lock(&self.clock) = Some((clock, per_record));
    }

    /// Forgets every dataset, result, call and script (not the clock).
    pub fn reset(&self) {
        *lock(&self.state) = State::default();
    }

    /// Creates dataset `dataset_id` of `records` records.
    pub fn create(&self, dataset_id: &str, records: u64) {
        let values = (0..records).map(|i| (i * 7919) % 1000).collect();
        lock(&self.state).datasets.insert(dataset_id.to_owned(), values);
    }

    /// From now on, processing record `index` of `dataset_id` meets `trouble`.
    pub fn script(&self, dataset_id: &str, index: u64, trouble: Trouble) {
        lock(&self.state)
            .troubles
            .set((dataset_id.to_owned(), index), trouble);
    }

    /// How many records `dataset_id` has.
    pub fn len(&self, dataset_id: &str) -> Result<u64, ServiceError> {
        let state = lock(&self.state);
        let records = state
            .datasets
            .get(dataset_id)
            .ok_or_else(|| unknown(dataset_id))?;
        Ok(records.len() as u64)
    }

    /// Processes record `index` of `dataset_id` for `attempt`: takes its time, then writes
    /// its result unless it has one.
    pub async fn process(&self, dataset_id: &str, index: u64, attempt: u32) -> Result<(), ServiceError> {
        let clock = lock(&self.clock).clone();
        if let Some((clock, per_record)) = clock {
            clock.sleep_until(clock.now().plus(per_record)).await;
        }
        let state = &mut *lock(&self.state);
        state.calls.push(Call {
            dataset_id: dataset_id.to_owned(),
            index,
            attempt,
        });
        state.troubles.check(&(dataset_id.to_owned(), index), || {
            format!("processing of record {index} of `{dataset_id}`")
        })?;
        let value = *state
            .datasets
            .get(dataset_id)
            .ok_or_else(|| unknown(dataset_id))?
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .ok_or_else(|| {
                ServiceError::refused("NoSuchRecord", format!("no record {index} in `{dataset_id}`"))
            })?;
        let written = state.written.entry(dataset_id.to_owned()).or_default();
        if !written.iter().any(|(i, _)| *i == index) {
            written.push((index, process_value(value)));
        }
        Ok(())
    }

    /// Every processing call, in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state).calls.clone()
    }

    /// The results of `dataset_id`.
    pub fn results(&self, dataset_id: &str) -> Results {
        let state = lock(&self.state);
        let values = state.datasets.get(dataset_id).cloned().unwrap_or_default();
        let written = state.written.get(dataset_id).cloned().unwrap_or_default();
        let mut seen = vec![0u64; values.len()];
        let mut results = Results {
            records: values.len() as u64,
            written: written.len() as u64,
            ..Results::default()
        };
        for (index, result) in written {
            let slot = usize::try_from(index)
                .ok()
                .and_then(|i| seen.get_mut(i).map(|s| (i, s)));
            match slot {
                Some((i, count)) => {
                    *count += 1;
                    if *count > 1 {
                        results.duplicates += 1;
                    }
                    if result != process_value(values[i]) {
                        results.wrong += 1;
                    }
                }
                None => results.wrong += 1,
            }
            results.checksum = results.checksum.wrapping_add(result);
        }
        results.missing = seen.iter().filter(|c| **c == 0).count() as u64;
        results
    }

    /// The results of every dataset.
    pub fn snapshot(&self) -> BTreeMap<String, Results> {
        let ids: Vec<String> = lock(&self.state).datasets.keys().cloned().collect();
        ids.into_iter()
            .map(|id| (id.clone(), self.results(&id)))
            .collect()
    }
}

fn unknown(dataset_id: &str) -> ServiceError {
    ServiceError::refused("UnknownDataset", format!("no dataset `{dataset_id}`"))
}
