//! The replay executor: drives workflow code from its history and checks that the code
//! still produces the history (see `instance` for the walk, `error` for the reports).

mod error;
mod instance;
mod queue;
mod replayer;
mod resolve;
mod wake;

pub use error::{
    ActivationError, DeterminismViolation, MatchedStep, MismatchKind, Nondeterminism, ViolationKind,
};
pub use instance::{InstanceSummary, QueryError, WorkflowInstance};
pub use replayer::{ReplayBuffers, ReplayError, ReplayMode, ReplayOutcome, Replayer};
