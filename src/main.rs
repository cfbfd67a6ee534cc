//! The `warpflow` binary: see `warpflow::cli`.

fn main() -> std::process::ExitCode {
    warpflow::cli::run(std::env::args_os())
}
