//! The dataset workflow: one long, heartbeating activity. Its heartbeat timeout is what
//! notices a crashed worker quickly; the retry then resumes from the last heartbeat.

use super::activities::{DatasetJob, ProcessLargeDataset};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use warpflow_engine::{ActivityOptions, Workflow, WorkflowCtx, WorkflowResult};

/// The guide's heartbeat cadence, in records.
pub const HEARTBEAT_EVERY: u64 = 100;

/// Longest silence between heartbeats before the engine gives the attempt up for dead.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest one attempt may run, heartbeating or not.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3600);

/// How the processing of a dataset ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetReport {
    /// The dataset.
    pub dataset_id: String,
    /// Records processed (all of them).
    pub processed: u64,
}

/// The dataset workflow (id `dataset-<dataset id>`).
#[derive(Debug)]
pub struct ProcessDataset;

impl Workflow for ProcessDataset {
    const NAME: &'static str = "process_dataset";
    type Input = DatasetJob;
    type Output = DatasetReport;

    async fn run(ctx: WorkflowCtx, job: DatasetJob) -> WorkflowResult<DatasetReport> {
        let dataset_id = job.dataset_id.clone();
        let options = ActivityOptions {
            heartbeat_timeout: Some(HEARTBEAT_TIMEOUT),
            ..ActivityOptions::start_to_close(ATTEMPT_TIMEOUT)
        };
        let done = ctx.activity_with::<ProcessLargeDataset>(job, options).await?;
        // Where the last attempt resumed is left out: it depends on when crashes came, and
        // the result should not.
        Ok(DatasetReport {
            dataset_id,
            processed: done.records,
        })
    }
}
