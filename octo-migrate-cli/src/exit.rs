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
/// The target committed, but finishing failed (files not all in place, or the report not
/// written): nothing is lost; a rerun completes the files.
pub const NOT_FINISHED: u8 = 7;
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
    /// The target committed, then writing the report failed: exit 7, not 5.
    NotFinished(String),
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
        // The target holds another server's tasks: the target refuses this backup, as it
        // refuses one when it already holds data.
        ErrorKind::Target { .. }
        | ErrorKind::TargetNotEmpty { .. }
        | ErrorKind::ForeignTasks { .. }
        | ErrorKind::TaskLogsExist { .. }
        | ErrorKind::Files { .. }
        | ErrorKind::Busy { .. } => TARGET,
        ErrorKind::NotFinished { .. } => NOT_FINISHED,
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
        ErrorKind::TaskLogsExist {
            dir,
            count,
            examples,
        } => format!(
            "{count} task-log file(s) of this backup's tasks are already in {} ({}); nothing \
             was written. Use --nooverwrite to keep them and add the missing ones, or \
             --overwrite to replace them with the backup's",
            dir.display(),
            examples.join(", ")
        ),
        _ => e.to_string(),
    }
}

/// Texts whose secrets no message may show: the target as given, a password given on its own
/// (`commands::target_text`, `commands::target_password`).
static SECRETS: std::sync::Mutex<Vec<zeroize::Zeroizing<String>>> =
    std::sync::Mutex::new(Vec::new());

/// Registers `text` (a target or a password) for [`redacted`].
pub fn register_secret(text: &str) {
    if let Ok(mut s) = SECRETS.lock() {
        s.push(zeroize::Zeroizing::new(text.to_owned()));
    }
}

/// `message` without any registered secret: the core's one redaction function, applied to
/// everything the command line prints or writes about a failure.
pub fn redacted(message: &str) -> String {
    let secrets = SECRETS.lock().map(|s| s.clone()).unwrap_or_default();
    let refs: Vec<&str> = secrets.iter().map(|s| s.as_str()).collect();
    octo_migrate_core::sink::mssql_target::redact(message, &refs)
}

pub fn report_error(f: &Failure, verbose: bool) -> ExitCode {
    let (code, msg) = match f {
        Failure::Usage(m) => (USAGE, m.clone()),
        Failure::Io(m) => (TARGET, m.clone()),
        Failure::NotFinished(m) => (
            NOT_FINISHED,
            format!("the migration is committed and nothing is lost, but {m}"),
        ),
        Failure::Core(e) => (code_of(e), message_of(e)),
    };
    eprintln!("error: {}", redacted(&msg));
    if verbose {
        if let Failure::Core(e) = f {
            eprintln!("detail: {}", redacted(&format!("{e:?}")));
        }
    }
    ExitCode::from(code)
}

/// Success.
pub const SUCCESS: u8 = 0;

/// Every exit code and its meaning, worded as README.md's "Exit codes" table: `--help` and the
/// man pages print them from here (crate::help), and tests/help.rs checks that the README lists
/// the same codes with the same meanings, so the two cannot drift apart.
pub const CODES: &[(u8, &str)] = &[
    (SUCCESS, "migrated"),
    (WARNINGS, "migrated, with warnings in the report (dangling references, unparsable log lines, removed steps, unknown collections); `copy-packages`: a package rejected or a symbolic link not followed"),
    (USAGE, "usage error (bad option, malformed master key, no 3.x master key for a SQL Server target, `copy-packages` folders inside one another; `verify`: options that contradict the report, a files folder that does not exist)"),
    (WRONG_KEY, "the master key does not match this backup"),
    (CORRUPT, "the backup is unreadable, corrupt, or not from 2.6"),
    (TARGET, "the target failed or refused (nothing committed): another migration is writing to it; `--onlylogs`: another server's tasks, or logs already there without `--overwrite`/`--nooverwrite`"),
    (PREFLIGHT, "the preflight found problems (nothing written)"),
    (NOT_FINISHED, "committed, but finishing failed (files not all moved into place, or the report not written): nothing is lost; fix the cause and rerun, which completes the files"),
    (INTERNAL, "internal error: a bug in octo-migrate (nothing committed); please report it with the message"),
    (CANCELLED, "interrupted (nothing committed)"),
];

/// What 0 and 1 mean for `verify`, which writes nothing (so 7 cannot happen either); its other
/// codes mean what `CODES` says.
pub const VERIFY_CODES: &[(u8, &str)] = &[
    (SUCCESS, "the target holds what the backup gives"),
    (
        WARNINGS,
        "the target differs from the backup (each difference is printed)",
    ),
];
