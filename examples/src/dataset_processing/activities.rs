//! The long activity: process every record of a dataset, heartbeating progress every so many
//! records; an attempt after a crash (or a timeout) starts from the last heartbeat the engine
//! recorded, not from the first record.

use crate::services::dataset::DatasetStore;
use serde::{Deserialize, Serialize};
use warpflow_engine::{Activity, ActivityCtx, ActivityError};

/// The heartbeat details: how far processing got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Records processed: the next attempt starts at this index.
    pub processed: u64,
    /// Records in the dataset.
    pub total: u64,
    /// `processed` as a percentage of `total`, rounded down.
    pub percentage: u64,
}

impl Progress {
    fn at(processed: u64, total: u64) -> Progress {
        Progress {
            processed,
            total,
            percentage: (processed * 100).checked_div(total).unwrap_or(100),
        }
    }
}

/// Which dataset, and how often to heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetJob {
    /// The dataset.
    pub dataset_id: String,
    /// Heartbeat after every this many records (the guide: 100).
    pub heartbeat_every: u64,
}

/// What an attempt did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Processed {
    /// Records in the dataset, all processed now.
    pub records: u64,
    /// Where this attempt started (0 unless an earlier attempt heartbeated).
    pub resumed_from: u64,
}

/// Processes a whole dataset.
#[derive(Debug)]
pub struct ProcessLargeDataset(pub DatasetStore);

impl Activity for ProcessLargeDataset {
    const NAME: &'static str = "process_large_dataset";
    type Input = DatasetJob;
    type Output = Processed;

    async fn run(&self, ctx: ActivityCtx, job: DatasetJob) -> Result<Processed, ActivityError> {
        let total = self.0.len(&job.dataset_id)?;
        let resumed_from = ctx
            .previous_heartbeat::<Progress>()
            .map_err(|e| ActivityError::non_retryable("BadHeartbeat", e.to_string()))?
            .map_or(0, |p| p.processed.min(total));
        let every = job.heartbeat_every.max(1);
        for index in resumed_from..total {
            if ctx.is_cancelled() {
                return Err(ActivityError::Cancelled);
            }
            self.0.process(&job.dataset_id, index, ctx.attempt()).await?;
            let processed = index + 1;
            if processed % every == 0 || processed == total {
                ctx.heartbeat(&Progress::at(processed, total))
                    .map_err(|e| ActivityError::non_retryable("BadHeartbeat", e.to_string()))?;
            }
        }
        Ok(Processed {
            records: total,
            resumed_from,
        })
    }
}
