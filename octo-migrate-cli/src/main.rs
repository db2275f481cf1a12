//! `octo-migrate`: parse the command line, call the library, map the outcome to an exit code.

mod args;
mod commands;
mod exit;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let verbose = cli.verbose();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => exit::report_error(&e, verbose),
    }
}
