//! The `warpflow` binary: see `warpflow::cli`.

/// A fault campaign (`warpflow simulate`) allocates and frees a few hundred small blocks per
/// simulated workflow; mimalloc serves them in far fewer instructions than the system
/// allocator (the campaign bench runs on it too, so its figure is this binary's).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    warpflow::cli::run(std::env::args_os())
}
