//! The one place where outcomes become exit codes and messages (docs/cli.md "Exit codes").

use std::process::ExitCode;

use octo_migrate_core::error::{Error, ErrorKind};

/// Finished with warnings in the report.
pub const WARNINGS: u8 = 1;
/// Usage error.
pub const USAGE: u8 = 2;
/// Wrong master key.
pub const WRONG_KEY: u8 = 3;
/// Unreadable or corrupt backup.
pub const CORRUPT: u8 = 4;
/// The target failed; nothing committed.
pub const TARGET: u8 = 5;
/// The preflight found problems; nothing written.
pub const PREFLIGHT: u8 = 6;
/// A bug in octo-migrate (a panic caught in a worker); nothing committed.
pub const INTERNAL: u8 = 70;
/// Interrupted (Ctrl-C); nothing committed. 128 + SIGINT, as shells report it.
pub const CANCELLED: u8 = 130;

/// A CLI-level failure: a library error, or a usage problem found before calling it.
#[derive(Debug)]
pub enum Failure {
    Usage(String),
    Core(Error),
    /// Writing the report or another local file failed.
    Io(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Core(e)
    }
}

pub fn code_of(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::Usage(_) | ErrorKind::KeyFormat(_) => USAGE,
        ErrorKind::WrongKey { .. } => WRONG_KEY,
        ErrorKind::UnsupportedVersion { .. }
        | ErrorKind::BackupIo { .. }
        | ErrorKind::Corrupt { .. }
        | ErrorKind::DocumentTooLarge { .. } => CORRUPT,
        ErrorKind::Target { .. } | ErrorKind::TargetNotEmpty { .. } | ErrorKind::Files { .. } => {
            TARGET
        }
        ErrorKind::Preflight(_) => PREFLIGHT,
        ErrorKind::Cancelled => CANCELLED,
        _ => INTERNAL,
    }
}

/// The library's message, with the command-line advice it cannot give itself.
fn message_of(e: &Error) -> String {
    match e.kind() {
        ErrorKind::TargetNotEmpty { target, tables } => format!(
            "target {target} already holds Octopus data (tables {}); nothing was written. \
             Use --nooverwrite to keep what is there or --overwrite to let the backup win",
            tables.join(", ")
        ),
        _ => e.to_string(),
    }
}

pub fn report_error(f: &Failure, verbose: bool) -> ExitCode {
    let (code, msg) = match f {
        Failure::Usage(m) => (USAGE, m.clone()),
        Failure::Io(m) => (TARGET, m.clone()),
        Failure::Core(e) => (code_of(e), message_of(e)),
    };
    eprintln!("error: {msg}");
    if verbose {
        if let Failure::Core(e) = f {
            eprintln!("detail: {e:?}");
        }
    }
    ExitCode::from(code)
}
