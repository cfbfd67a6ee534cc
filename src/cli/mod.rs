//! The `warpflow` command line, as library functions so that a user's own binary can offer
//! the same commands over its own workloads: [`run`] serves the bundled examples,
//! [`run_with`] any catalogue of [`NamedCampaign`]s.
//!
//! - `simulate [--seeds N] [--seed S] [--workflow NAME] [--faults MIX] [--list]`: fault
//!   campaigns with a report (see [`simulate`]);
//! - `history show FILE [--json]`: a history file's timeline;
//! - `serve [--db FILE] [--listen ADDR] [--token T]`: the engine as a server (see [`serve`]);
//! - `workflow start|signal|query|cancel|terminate|describe|show|list`: workflows on a
//!   server (see [`workflow`]).
//!
//! Errors are one line on stderr and a non-zero exit code, never a panic or a backtrace.

mod fault_mix;
mod history;
pub mod serve;
pub mod simulate;
pub mod worker;
pub mod workflow;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use warpflow_testkit::NamedCampaign;

/// Durable workflows as plain async Rust, tested by deterministic simulation.
#[derive(Debug, Parser)]
#[command(name = "warpflow", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run fault campaigns over the workflows and report what the oracles found.
    Simulate {
        /// Seeds per workflow [default: 100].
        #[arg(long, value_name = "N")]
        seeds: Option<u64>,
        /// Run exactly this seed (to reproduce a failure).
        #[arg(long, value_name = "S", conflicts_with = "seeds")]
        seed: Option<u64>,
        /// Only this workflow (see --list).
        #[arg(long, value_name = "NAME")]
        workflow: Option<String>,
        /// The fault mix: a preset (default, none, crashes, storage, network, activities,
        /// heavy), then optional KIND=RATE overrides, comma-separated.
        #[arg(long, value_name = "MIX")]
        faults: Option<String>,
        /// List the workflows and fault mixes, and exit.
        #[arg(long)]
        list: bool,
    },
    /// Read history files (the JSON format of docs/history-format.md).
    #[command(subcommand)]
    History(HistoryCommand),
    /// Run the engine as a server for remote workers and clients (HTTP + JSON), until
    /// SIGTERM or SIGINT.
    Serve(serve::ServeArgs),
    /// Run a worker for the benchmark workload `three_step` against a server, until SIGTERM
    /// or SIGINT.
    Worker(worker::WorkerArgs),
    /// Start, signal, query, cancel, terminate, describe, show and list workflows on a server.
    Workflow {
        #[command(flatten)]
        server: workflow::ServerArgs,
        #[command(subcommand)]
        command: workflow::WorkflowCommand,
    },
}

#[derive(Debug, Subcommand)]
enum HistoryCommand {
    /// Validate a history file and print its timeline (one line per event).
    Show {
        /// The history JSON file.
        file: PathBuf,
        /// Print the validated history as normalised JSON instead of the timeline.
        #[arg(long)]
        json: bool,
    },
}

/// [`run_with`] over the bundled examples (`warpflow_examples::all`).
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    run_with(args, &warpflow_examples::all())
}

/// Parses `args` (including the program name) and runs the command over `catalogue`,
/// printing to stdout and stderr. Returns the process exit code: 0 on success, 1 on bad
/// input or a failed oracle, 2 on bad usage.
pub fn run_with<I, T>(args: I, catalogue: &[NamedCampaign]) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap renders help, version and usage errors itself, with the right exit code.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match execute(cli.command, catalogue) {
        Ok((output, passed)) => {
            print!("{output}");
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Runs a command: its output, and whether it passed.
fn execute(command: Command, catalogue: &[NamedCampaign]) -> Result<(String, bool), String> {
    match command {
        Command::Simulate { list: true, .. } => Ok((simulate::list(catalogue), true)),
        Command::Simulate {
            seeds,
            seed,
            workflow,
            faults,
            list: false,
        } => {
            let args = simulate::SimulateArgs {
                seeds,
                seed,
                workflow,
                faults,
                program: program_name(),
            };
            let outcome = simulate::run(catalogue, &args)?;
            Ok((outcome.text, outcome.passed))
        }
        Command::History(HistoryCommand::Show { file, json }) => Ok((history::show(&file, json)?, true)),
        Command::Serve(args) => Ok((serve::run(args)?, true)),
        Command::Worker(args) => Ok((worker::run(args)?, true)),
        Command::Workflow { server, command } => Ok((workflow::run(&server, command)?, true)),
    }
}

/// How the user ran this program, for the rerun commands printed in reports: through
/// `cargo run` inside this repository, or a binary by its name.
fn program_name() -> String {
    if std::env::var("CARGO_PKG_NAME").is_ok_and(|name| name == "warpflow") {
        return "cargo run --release --".to_owned();
    }
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "warpflow".to_owned())
}
