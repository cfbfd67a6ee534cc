//! The checks of a run write that every backend makes, in the same order and with the same
//! errors, so that backends agree on which error a bad commit gets.
//!
//! A backend supplies what it has stored of the run (as the earlier writes of the same
//! commit left it) and, for a creation, a running run of the workflow id; the check decides.

use super::{RunWrite, StorageError, StorageResult};
use crate::ids::{EventId, RunId};

/// What a backend has stored of a run for the optimistic check: its next event id and
/// version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredHead {
    /// The id the run's next event gets.
    pub next_event_id: EventId,
    /// How many commits wrote the run.
    pub version: u64,
}

/// Checks `write` against `stored`, the run as stored (`None`: no such run). `running` is
/// only called for a creation: a running run of the workflow id (the smallest run id, so
/// the error is deterministic). Then checks the appended event ids.
pub(crate) fn check_run_write(
    write: &RunWrite,
    stored: Option<StoredHead>,
    running: impl FnOnce() -> Option<RunId>,
) -> StorageResult<()> {
    let key = &write.record.key;
    let first = match write.expected_next_event_id {
        None => {
            if let Some(found) = stored {
                return Err(StorageError::Conflict {
                    run: key.clone(),
                    expected: None,
                    found: Some(found.next_event_id),
                });
            }
            if let Some(running) = running() {
                return Err(StorageError::AlreadyRunning {
                    workflow_id: key.workflow_id.clone(),
                    running,
                });
            }
            EventId::FIRST
        }
        Some(expected) => match stored {
            Some(found) if found.next_event_id == expected => {
                if write.record.version != found.version.saturating_add(1) {
                    return Err(StorageError::VersionConflict {
                        run: key.clone(),
                        based_on: write.record.version.saturating_sub(1),
                        found: found.version,
                    });
                }
                expected
            }
            _ => {
                return Err(StorageError::Conflict {
                    run: key.clone(),
                    expected: Some(expected),
                    found: stored.map(|found| found.next_event_id),
                });
            }
        },
    };
    check_event_ids(write, first)
}

/// Checks that `write`'s events continue the history densely from `first` and that its record
/// counts them.
fn check_event_ids(write: &RunWrite, first: EventId) -> StorageResult<()> {
    let key = &write.record.key;
    let mut next = first;
    for (position, event) in write.events.iter().enumerate() {
        if event.event_id != next {
            return Err(StorageError::Invalid(format!(
                "run {key}: appended event #{position} has id {}, expected {next}: events must \
                 continue the history densely",
                event.event_id
            )));
        }
        // Checked rather than `EventId::next`: the ids come from the caller.
        next =
            next.0.checked_add(1).map(EventId).ok_or_else(|| {
                StorageError::Invalid(format!("run {key}: event id {next} has no successor"))
            })?;
    }
    if write.record.next_event_id != next {
        return Err(StorageError::Invalid(format!(
            "run {key}: record.next_event_id is {}, but after the {} appended event(s) it must be {next}",
            write.record.next_event_id,
            write.events.len()
        )));
    }
    Ok(())
}
