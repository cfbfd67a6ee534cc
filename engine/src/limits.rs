//! Every bound the engine keeps, as named constants (DESIGN §3.7). Exceeding one is a typed
//! error, never unbounded growth. Values follow Temporal's defaults where Temporal has one.

/// A history this long gets a warning: the workflow should continue-as-new soon.
pub const HISTORY_EVENTS_WARN: usize = 10_240;
/// A run whose history reaches this many events is terminated; a history file this long is
/// refused.
pub const HISTORY_EVENTS_MAX: usize = 51_200;
/// The largest history, in bytes of JSON, that can be loaded.
pub const HISTORY_BYTES_MAX: usize = 50 * 1024 * 1024;
/// The largest payload (workflow or activity input or result, signal, marker), in bytes of JSON.
pub const PAYLOAD_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Activities scheduled and not yet resolved, per run.
pub const PENDING_ACTIVITIES_MAX: usize = 2_000;
/// Timers started and not yet fired or cancelled, per run.
pub const PENDING_TIMERS_MAX: usize = 2_000;
/// Child workflows initiated and not yet closed, per run.
pub const PENDING_CHILDREN_MAX: usize = 2_000;
/// How many times one activation may re-poll a workflow that keeps waking itself before the
/// activation is failed as a livelock.
pub const POLLS_PER_ACTIVATION_MAX: usize = 100_000;
/// How many recently matched steps a non-determinism report shows before the divergence.
pub const REPORT_MATCHED_STEPS: usize = 5;
/// The largest request body the HTTP server reads, in bytes of JSON; a larger one is refused
/// with 413 before it is parsed. Twice [`PAYLOAD_BYTES_MAX`]: room for a task completion
/// carrying a full-size payload and its commands' attributes.
pub const HTTP_REQUEST_BYTES_MAX: usize = 2 * PAYLOAD_BYTES_MAX;
/// The largest response body the HTTP transport reads: a whole history (a `GetHistory`
/// answer, or a workflow task for a worker without the run cached) plus its envelope.
pub const HTTP_RESPONSE_BYTES_MAX: usize = HISTORY_BYTES_MAX + 1024 * 1024;
/// Connections the HTTP server serves at once; past it, accepting waits for one to close.
pub const HTTP_CONNECTIONS_MAX: usize = 1_024;
/// Idle connections the HTTP transport keeps for reuse; one more is closed when returned.
/// Room for a client's bursts of concurrent calls (a batch of 200 starts and their 200
/// result polls, a worker's completions of 100 activities): with 32, each burst opened
/// and closed hundreds of connections. A few such clients stay well under
/// [`HTTP_CONNECTIONS_MAX`].
pub const HTTP_IDLE_CONNECTIONS_MAX: usize = 256;
/// Worker identities whose liveness the service tracks at once: those that send
/// `WorkerHeartbeat`, and after a restart those found holding work. Beyond it, a worker's
/// work waits for its own timeouts when the worker dies.
pub const TRACKED_WORKERS_MAX: usize = 10_000;
/// Activity attempts plus workflow tasks one `WorkerHeartbeat` may list.
pub const WORKER_HEARTBEAT_TASKS_MAX: usize = 10_000;
/// Open runs the service reads, once after a restart, to find the work that workers took
/// from the previous instance.
pub const RECOVERY_RUNS_MAX: usize = 100_000;
