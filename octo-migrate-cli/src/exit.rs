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
        | ErrorKind::Corrupt { .. } => CORRUPT,
        ErrorKind::Target { .. } | ErrorKind::TargetNotEmpty { .. } | ErrorKind::Files { .. } => {
            TARGET
        }
        ErrorKind::Preflight(_) => PREFLIGHT,
        _ => CORRUPT,
    }
}

pub fn report_error(f: &Failure, verbose: bool) -> ExitCode {
    let (code, msg) = match f {
        Failure::Usage(m) => (USAGE, m.clone()),
        Failure::Io(m) => (TARGET, m.clone()),
        Failure::Core(e) => (code_of(e), e.to_string()),
    };
    eprintln!("error: {msg}");
    if verbose {
        if let Failure::Core(e) = f {
            eprintln!("detail: {e:?}");
        }
    }
    ExitCode::from(code)
}
