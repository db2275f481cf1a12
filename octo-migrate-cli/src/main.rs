//! `octo-migrate`: parse the command line, call the library, map the outcome to an exit code.

mod args;
mod commands;
mod exit;
mod progress;

use std::process::ExitCode;

use clap::Parser;

// Parsing allocates a small map per document; the system allocator spent about a fifth of a
// dry run in malloc/free (perf). The binary chooses the allocator; the library does not.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let verbose = cli.verbose();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => exit::report_error(&e, verbose),
    }
}
