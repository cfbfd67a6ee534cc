//! The saga helper: register a compensation after each step that succeeded; on failure, run
//! them in reverse order, carrying on past a compensation that fails, and report what ran.

use crate::failure::WorkflowError;
use futures::future::LocalBoxFuture;
use std::borrow::Cow;
use std::future::Future;

/// One registered compensation.
pub struct Compensation {
    name: Cow<'static, str>,
    /// The compensation as a future not yet polled: its closure runs (and schedules
    /// whatever it schedules) only when `compensate` first polls it. One allocation per
    /// step, where a boxed closure returning a boxed future made two.
    run: LocalBoxFuture<'static, Result<(), WorkflowError>>,
}

impl std::fmt::Debug for Compensation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compensation")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Compensations of the steps done so far.
///
/// ```
/// # use warpflow_engine::workflow::Saga;
/// # use warpflow_engine::WorkflowError;
/// # futures::executor::block_on(async {
/// let mut saga = Saga::new();
/// saga.add("refund", || async { Ok::<(), WorkflowError>(()) });
/// saga.add("release", || async { Err::<(), _>(WorkflowError::fail("Down", "inventory down")) });
/// let report = saga.compensate().await;
/// assert_eq!(report.ran(), ["release", "refund"]); // reverse order, past the failure
/// assert_eq!(report.failed(), ["release"]);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct Saga {
    compensations: Vec<Compensation>,
}

/// What one compensation did.
#[derive(Debug)]
pub struct CompensationOutcome {
    /// The name it was registered with.
    pub name: Cow<'static, str>,
    /// Its result.
    pub result: Result<(), WorkflowError>,
}

/// What `Saga::compensate` did, in the order it ran.
#[derive(Debug, Default)]
pub struct SagaReport {
    /// One entry per compensation, in the order they ran (reverse registration order).
    pub outcomes: Vec<CompensationOutcome>,
}

impl SagaReport {
    /// Names of the compensations that ran, in order.
    pub fn ran(&self) -> Vec<&str> {
        self.outcomes.iter().map(|o| o.name.as_ref()).collect()
    }

    /// Names of the compensations that failed.
    pub fn failed(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|o| o.result.is_err())
            .map(|o| o.name.as_ref())
            .collect()
    }

    /// True when every compensation succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.outcomes.iter().all(|o| o.result.is_ok())
    }
}

impl Saga {
    /// An empty saga.
    pub fn new() -> Saga {
        Saga::default()
    }

    /// Registers the compensation of a step that just succeeded. `name` is usually the
    /// compensating activity's `NAME`, kept without a copy.
    pub fn add<F, Fut, T, E>(&mut self, name: impl Into<Cow<'static, str>>, compensation: F)
    where
        F: FnOnce() -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        E: Into<WorkflowError>,
    {
        self.compensations.push(Compensation {
            name: name.into(),
            run: Box::pin(async move { compensation().await.map(|_| ()).map_err(Into::into) }),
        });
    }

    /// How many compensations are registered.
    pub fn len(&self) -> usize {
        self.compensations.len()
    }

    /// True when no compensation is registered.
    pub fn is_empty(&self) -> bool {
        self.compensations.is_empty()
    }

    /// Runs every compensation, last registered first, one at a time; a failing compensation
    /// is reported and the next one still runs.
    pub async fn compensate(self) -> SagaReport {
        let mut report = SagaReport::default();
        for compensation in self.compensations.into_iter().rev() {
            let result = compensation.run.await;
            report.outcomes.push(CompensationOutcome {
                name: compensation.name,
                result,
            });
        }
        report
    }
}
