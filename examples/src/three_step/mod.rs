//! The benchmark workload W3 (`BENCHMARKS.md`): `three_step(key)` runs `step_a`, `step_b` and
//! `step_c` in sequence, each appending its letter, and returns `key:a:b:c`. The workflow id is
//! the key.
//!
//! It is what the durable engine is measured and crash-tested with: `warpflow worker` hosts it
//! against a `warpflow serve` process. For the crash-recovery workload W5 each activity first
//! appends `"<key> <name>\n"` to an [`ActivityLog`] file, so that a test can count after a
//! `kill -9` which activities ran twice and which never ran.

mod activities;

pub use activities::{ActivityLog, StepA, StepB, StepC};

use std::time::Duration;
use warpflow_engine::workflow::{Workflow, WorkflowCtx};
use warpflow_engine::{ActivityOptions, Registry, WorkflowResult};

/// The task queue the workload runs on.
pub const TASK_QUEUE: &str = "three-step";

/// Each step's start-to-close timeout, with the default retry policy (`BENCHMARKS.md`).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// `key` -> `key:a:b:c`, one activity per letter.
#[derive(Debug)]
pub struct ThreeStep;

impl Workflow for ThreeStep {
    const NAME: &'static str = "three_step";
    type Input = String;
    type Output = String;

    async fn run(ctx: WorkflowCtx, key: String) -> WorkflowResult<String> {
        let options = ActivityOptions::start_to_close(STEP_TIMEOUT);
        let a = ctx.activity_with::<StepA>(key, options.clone()).await?;
        let b = ctx.activity_with::<StepB>(a, options.clone()).await?;
        Ok(ctx.activity_with::<StepC>(b, options).await?)
    }
}

/// The workflow and its three activities, logging to `log`.
pub fn registry(log: ActivityLog) -> Registry {
    Registry::new()
        .with_workflow::<ThreeStep>()
        .with_activity(StepA(log.clone()))
        .with_activity(StepB(log.clone()))
        .with_activity(StepC(log))
}

/// The result a run of `key` must return.
pub fn expected_result(key: &str) -> String {
    format!("{key}:a:b:c")
}
