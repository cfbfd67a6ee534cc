//! The `warpflow` command line, as a library function so that a user's own binary can offer
//! the same commands over the workflows it registers.
//!
//! Today: `warpflow history show FILE [--json]`. Errors are one line on stderr and a non-zero
//! exit code, never a panic or a backtrace.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use warpflow_engine::History;

/// Durable workflows as plain async Rust, tested by deterministic simulation.
#[derive(Debug, Parser)]
#[command(name = "warpflow", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read history files (the JSON format of docs/history-format.md).
    #[command(subcommand)]
    History(HistoryCommand),
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

/// Parses `args` (including the program name) and runs the command, printing to stdout and
/// stderr. Returns the process exit code: 0 on success, 1 on bad input, 2 on bad usage.
pub fn run<I, T>(args: I) -> ExitCode
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
    match execute(cli.command) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

fn execute(command: Command) -> Result<String, String> {
    match command {
        Command::History(HistoryCommand::Show { file, json }) => {
            let history = load_history(&file)?;
            Ok(if json {
                let mut text = history.to_json_pretty();
                text.push('\n');
                text
            } else {
                history.render_timeline()
            })
        }
    }
}

fn load_history(file: &PathBuf) -> Result<History, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    History::from_json(&text).map_err(|e| format!("{}: {e}", file.display()))
}
