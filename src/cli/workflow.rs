//! `warpflow workflow start|signal|query|cancel|terminate|describe|show|list`: workflows on
//! a running server (`warpflow serve`), through the HTTP transport. Inputs and outputs are
//! JSON; errors (the server down or refusing, an unknown workflow, input that is not JSON)
//! are one line.

use super::history;
use clap::Subcommand;
use warpflow_engine::Payload;
use warpflow_engine::adapters::http::Remote;
use warpflow_engine::client::{CallRetry, Client, StartOptions};
use warpflow_engine::ids::{RunId, WorkflowId};

/// Where the server is; given before or after the subcommand.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// The server's URL.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "WARPFLOW_SERVER",
        hide_env_values = true,
        default_value = "http://127.0.0.1:7233"
    )]
    server: String,
    /// The server's token, if it requires one.
    #[arg(
        long,
        global = true,
        value_name = "T",
        env = "WARPFLOW_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
}

/// Which run of a workflow.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The workflow id.
    #[arg(long, value_name = "ID")]
    id: String,
    /// One run of it [default: its current run].
    #[arg(long, value_name = "RUN_ID")]
    run: Option<String>,
}

impl ServerArgs {
    /// A connection to the server (lazy: nothing is sent yet). An empty token is no token.
    pub(super) fn connect(&self) -> Result<Remote, String> {
        let token = self.token.clone().filter(|token| !token.is_empty());
        Remote::connect(&self.server, token).map_err(|e| e.to_string())
    }
}

impl RunArgs {
    fn ids(&self) -> (WorkflowId, Option<RunId>) {
        (
            WorkflowId::from(self.id.as_str()),
            self.run.as_deref().map(RunId::from),
        )
    }
}

/// The `workflow` subcommands.
#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Start a workflow; print its run id, or with --wait its result (JSON).
    Start {
        /// The workflow type.
        #[arg(long = "type", value_name = "TYPE")]
        workflow_type: String,
        /// The workflow id.
        #[arg(long, value_name = "ID")]
        id: String,
        /// The task queue its workers poll.
        #[arg(long, value_name = "QUEUE")]
        queue: String,
        /// The input, as JSON.
        #[arg(long, value_name = "JSON", default_value = "null")]
        input: String,
        /// Wait for the workflow to finish and print its result.
        #[arg(long)]
        wait: bool,
    },
    /// Send a signal (prints nothing).
    Signal {
        #[command(flatten)]
        run: RunArgs,
        /// The signal's name.
        #[arg(long)]
        name: String,
        /// Its input, as JSON.
        #[arg(long, value_name = "JSON", default_value = "null")]
        input: String,
    },
    /// Run a query; print its answer (JSON).
    Query {
        #[command(flatten)]
        run: RunArgs,
        /// The query's name.
        #[arg(long)]
        name: String,
        /// Its arguments, as JSON.
        #[arg(long, value_name = "JSON", default_value = "null")]
        args: String,
    },
    /// Ask a run to cancel; the workflow decides how (prints nothing).
    Cancel {
        #[command(flatten)]
        run: RunArgs,
        /// Why, as recorded in its history.
        #[arg(long, default_value = "cancelled with warpflow workflow cancel")]
        reason: String,
    },
    /// Terminate a run at once (prints nothing).
    Terminate {
        #[command(flatten)]
        run: RunArgs,
        /// Why, as recorded in its history.
        #[arg(long, default_value = "terminated with warpflow workflow terminate")]
        reason: String,
    },
    /// Describe a run: status, pending work, outcome (JSON).
    Describe {
        #[command(flatten)]
        run: RunArgs,
    },
    /// Print a run's history as a timeline, or with --json as history JSON.
    Show {
        #[command(flatten)]
        run: RunArgs,
        /// Print the history JSON (docs/history-format.md) instead of the timeline.
        #[arg(long)]
        json: bool,
    },
    /// List runs, of one workflow id or of all (JSON).
    List {
        /// Only the runs of this workflow id.
        #[arg(long, value_name = "ID")]
        id: Option<String>,
    },
}

/// Attempts per call when the server is unreachable: enough to ride out a restart's
/// moment, few enough that "the server is down" is said within a second or so.
const CALL_ATTEMPTS: u32 = 3;

/// Runs `command` against the server; its output.
pub fn run(server: &ServerArgs, command: WorkflowCommand) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    runtime.block_on(async {
        let remote = server.connect()?;
        let client = remote.client().with_retry(CallRetry {
            max_attempts: CALL_ATTEMPTS,
            ..CallRetry::default()
        });
        execute(&client, command).await.map_err(|e| one_line(&e))
    })
}

async fn execute(client: &Client, command: WorkflowCommand) -> Result<String, String> {
    let failed = |e: &dyn std::fmt::Display| e.to_string();
    match command {
        WorkflowCommand::Start {
            workflow_type,
            id,
            queue,
            input,
            wait,
        } => {
            let input = json_arg("input", &input)?;
            let started = client
                .start_untyped(&workflow_type, id.as_str(), input, StartOptions::new(queue))
                .await
                .map_err(|e| failed(&e))?;
            if !wait {
                return Ok(format!("{}\n", started.run_id));
            }
            let result = client
                .result_untyped(&WorkflowId::from(id), Some(&started.run_id))
                .await
                .map_err(|e| failed(&e))?;
            Ok(json_line(&result))
        }
        WorkflowCommand::Signal { run, name, input } => {
            let input = json_arg("input", &input)?;
            let (id, run) = run.ids();
            client
                .signal_untyped(&id, run.as_ref(), &name, input)
                .await
                .map_err(|e| failed(&e))?;
            Ok(String::new())
        }
        WorkflowCommand::Query { run, name, args } => {
            let args = json_arg("args", &args)?;
            let (id, run) = run.ids();
            let answer = client
                .query_untyped(&id, run.as_ref(), &name, args)
                .await
                .map_err(|e| failed(&e))?;
            Ok(json_line(&answer))
        }
        WorkflowCommand::Cancel { run, reason } => {
            let (id, run) = run.ids();
            client
                .cancel(&id, run.as_ref(), &reason)
                .await
                .map_err(|e| failed(&e))?;
            Ok(String::new())
        }
        WorkflowCommand::Terminate { run, reason } => {
            let (id, run) = run.ids();
            client
                .terminate(&id, run.as_ref(), &reason)
                .await
                .map_err(|e| failed(&e))?;
            Ok(String::new())
        }
        WorkflowCommand::Describe { run } => {
            let (id, run) = run.ids();
            let description = client.describe(&id, run.as_ref()).await.map_err(|e| failed(&e))?;
            pretty(&description)
        }
        WorkflowCommand::Show { run, json } => {
            let (id, run) = run.ids();
            let history = client.history(&id, run.as_ref()).await.map_err(|e| failed(&e))?;
            Ok(history::render(&history, json))
        }
        WorkflowCommand::List { id } => {
            let id = id.map(WorkflowId::from);
            let runs = client.list_runs(id.as_ref()).await.map_err(|e| failed(&e))?;
            pretty(&runs)
        }
    }
}

/// A JSON argument, or an error naming the flag and where the JSON is wrong.
fn json_arg(flag: &str, text: &str) -> Result<Payload, String> {
    serde_json::from_str(text).map_err(|e| format!("--{flag} is not JSON: {e}"))
}

/// A payload on one line, for scripts.
fn json_line(payload: &Payload) -> String {
    format!("{payload}\n")
}

fn pretty(value: &impl serde::Serialize) -> Result<String, String> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| format!("the answer does not print as JSON: {e}"))?;
    text.push('\n');
    Ok(text)
}

/// Errors are one line: a failure message from a workflow may have several.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
