//! The three steps, and the log of executions each writes before it answers.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use warpflow_engine::{Activity, ActivityCtx, ActivityError};

/// Where activities record that they ran: a file of `"<workflow id> <activity name>\n"` lines,
/// or nowhere. Each line is written with one `write` on a file opened for appending, so lines
/// from concurrent attempts (and from two worker processes) never interleave.
#[derive(Clone, Debug, Default)]
pub struct ActivityLog(Option<Arc<Mutex<File>>>);

impl ActivityLog {
    /// A log that records nothing.
    pub fn none() -> ActivityLog {
        ActivityLog(None)
    }

    /// Appends to the file at `path`, creating it if needed.
    pub fn append_to(path: &Path) -> std::io::Result<ActivityLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(ActivityLog(Some(Arc::new(Mutex::new(file)))))
    }

    /// Records that `activity` ran for the workflow `key`. A failure to write fails the
    /// attempt (retryable), so a run is never counted as done without its line.
    fn record(&self, key: &str, activity: &str) -> Result<(), ActivityError> {
        let Some(file) = &self.0 else { return Ok(()) };
        let line = format!("{key} {activity}\n");
        let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(line.as_bytes()).map_err(|e| {
            ActivityError::retryable("ActivityLog", format!("cannot append to the activity log: {e}"))
        })
    }
}

/// Defines a step: an activity that logs itself, then appends `:<letter>` to its input.
macro_rules! step {
    ($(#[$doc:meta])* $type:ident, $name:literal, $suffix:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $type(pub ActivityLog);

        impl Activity for $type {
            const NAME: &'static str = $name;
            type Input = String;
            type Output = String;
            async fn run(&self, ctx: ActivityCtx, input: String) -> Result<String, ActivityError> {
                self.0.record(&ctx.info().workflow_id.to_string(), $name)?;
                Ok(format!("{input}{}", $suffix))
            }
        }
    };
}

step!(
    /// `key` -> `key:a`.
    StepA, "step_a", ":a"
);
step!(
    /// `key:a` -> `key:a:b`.
    StepB, "step_b", ":b"
);
step!(
    /// `key:a:b` -> `key:a:b:c`.
    StepC, "step_c", ":c"
);
