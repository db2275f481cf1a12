//! The crate's one error type. Context (file, entry, byte offset, document) lives in fields, not
//! in formatted strings, so callers can act on it; `Display` puts it together for people.

use std::fmt;
use std::path::PathBuf;

use crate::crypto::KeyFormatError;
use crate::preflight::Problem;
use crate::report::{Report, Status};

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in a backup something went wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The backup file.
    pub file: Option<PathBuf>,
    /// The ZIP entry, as named in the archive.
    pub entry: Option<String>,
    /// Byte offset in the entry's decrypted, decompressed content.
    pub offset: Option<u64>,
    /// 0-based index of the document (or attachment) being read in the dump.
    pub doc_index: Option<u64>,
    /// The document id, when it was known.
    pub doc_id: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = &self.file {
            parts.push(format!("file {}", p.display()));
        }
        if let Some(e) = &self.entry {
            parts.push(format!("entry {e}"));
        }
        if let Some(o) = self.offset {
            parts.push(format!("byte {o}"));
        }
        if let Some(i) = self.doc_index {
            parts.push(format!("document #{i}"));
        }
        if let Some(d) = &self.doc_id {
            parts.push(format!("id {d}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// What went wrong. `#[non_exhaustive]`: match with a wildcard arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's options are inconsistent (the CLI's usage error).
    Usage(String),
    /// A master key that is not 16 bytes of Base64.
    KeyFormat(KeyFormatError),
    /// The master key does not decrypt this backup.
    WrongKey {
        /// The entry the key was checked against.
        entry: String,
    },
    /// `Backup.json` names an Octopus version this tool does not migrate.
    UnsupportedVersion {
        /// The version found.
        found: String,
    },
    /// The backup file could not be opened or read at all.
    BackupIo {
        /// The backup file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The backup is damaged or is not a 2.6 backup.
    Corrupt {
        /// Where.
        at: Location,
        /// What is wrong, in words.
        reason: String,
    },
    /// A document of the dump is larger than this tool reads (the limit): the backup is
    /// damaged or was not written by Octopus 2.6. Found while the export is cut into
    /// documents, before the document is held.
    DocumentTooLarge {
        /// Where the document starts (entry, byte offset, document index).
        at: Location,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The target could not be opened, checked or written; nothing was committed.
    Target {
        /// The target, without any password.
        target: String,
        /// What went wrong, in words (the driver's message included).
        reason: String,
        /// The driver's error, when a driver failed.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Another migration is writing to the same target (or files folder); nothing was written.
    Busy {
        /// The target or folder, without any password.
        target: String,
        /// Who holds it, as its lock says.
        holder: String,
    },
    /// The target committed, but finishing failed (moving the staged files into place): the
    /// files wait in their staging folder and the next run into this target moves them.
    NotFinished {
        /// The path involved.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The target already holds Octopus data and no overwrite mode was chosen.
    TargetNotEmpty {
        /// The target, without any password.
        target: String,
        /// Tables that hold rows.
        tables: Vec<String>,
    },
    /// [`crate::TaskLogs::Only`]: the target holds server tasks with this backup's ids but
    /// other names or descriptions, so the backup is another server's; no file was written.
    ForeignTasks {
        /// The target, without any password.
        target: String,
        /// How many of the backup's tasks differ.
        count: u64,
        /// The first few: the task id and the target's description of it.
        examples: Vec<(String, String)>,
    },
    /// [`crate::TaskLogs::Only`] without a merge mode: the task-log files of some of the
    /// backup's tasks are already in the files folder; no file was written.
    TaskLogsExist {
        /// The folder that holds them.
        dir: PathBuf,
        /// How many.
        count: u64,
        /// The first few file names.
        examples: Vec<String>,
    },
    /// Writing task-log or artifact files failed; the database was not committed.
    Files {
        /// The path involved.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The preflight found problems; nothing was written.
    Preflight(Vec<Problem>),
    /// The migration was cancelled ([`crate::CancelToken`]); nothing was committed.
    Cancelled,
    /// A bug in this library (a panic caught in a worker, an invariant broken): nothing was
    /// committed. Please report it with the message.
    Internal(String),
}

/// The error of a migration step. A failed migration still carries its [`Report`].
pub struct Error {
    kind: Box<ErrorKind>,
    report: Option<Box<Report>>,
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
    /// The report of the run that failed, when it got far enough to have one.
    pub fn report(&self) -> Option<&Report> {
        self.report.as_deref()
    }
    /// Attaches the report of the failed run, marked as ended by this error.
    pub(crate) fn with_report(mut self, mut report: Report) -> Error {
        report.error = Some(self.to_string());
        report.finish(if matches!(*self.kind, ErrorKind::NotFinished { .. }) {
            Status::CommittedNotFinished
        } else {
            Status::Failed
        });
        self.report = Some(Box::new(report));
        self
    }
    /// True when the master key does not match the backup.
    pub fn is_wrong_key(&self) -> bool {
        matches!(*self.kind, ErrorKind::WrongKey { .. })
    }
    /// True when the backup is damaged, unreadable or of an unsupported version.
    pub fn is_corrupt_backup(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::Corrupt { .. }
                | ErrorKind::DocumentTooLarge { .. }
                | ErrorKind::BackupIo { .. }
                | ErrorKind::UnsupportedVersion { .. }
        )
    }
    /// True when the target failed or refused the migration.
    pub fn is_target(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::Target { .. }
                | ErrorKind::TargetNotEmpty { .. }
                | ErrorKind::ForeignTasks { .. }
                | ErrorKind::TaskLogsExist { .. }
                | ErrorKind::Files { .. }
                | ErrorKind::Busy { .. }
        )
    }
    /// True when the target committed but the run could not finish (its files wait for the
    /// next run): the migration is in the target, not lost.
    pub fn is_committed(&self) -> bool {
        matches!(*self.kind, ErrorKind::NotFinished { .. })
    }
    /// A failure after the target committed: file errors become [`ErrorKind::NotFinished`].
    pub(crate) fn after_commit(self) -> Error {
        match *self.kind {
            ErrorKind::Files { path, source } => Error {
                kind: Box::new(ErrorKind::NotFinished { path, source }),
                report: self.report,
            },
            kind => Error {
                kind: Box::new(kind),
                report: self.report,
            },
        }
    }
    /// The location in the backup, for errors that have one.
    pub fn location(&self) -> Option<&Location> {
        match &*self.kind {
            ErrorKind::Corrupt { at, .. } | ErrorKind::DocumentTooLarge { at, .. } => Some(at),
            _ => None,
        }
    }
    /// The preflight problems, for a failed preflight.
    pub fn problems(&self) -> &[Problem] {
        match &*self.kind {
            ErrorKind::Preflight(p) => p,
            _ => &[],
        }
    }

    pub(crate) fn corrupt(at: Location, reason: impl Into<String>) -> Error {
        ErrorKind::Corrupt {
            at,
            reason: reason.into(),
        }
        .into()
    }
    pub(crate) fn target(target: impl Into<String>, reason: impl fmt::Display) -> Error {
        ErrorKind::Target {
            target: target.into(),
            reason: reason.to_string(),
            source: None,
        }
        .into()
    }
    /// A driver's error `e` while doing `context` (empty: the driver's message alone), kept
    /// as the error's [`std::error::Error::source`].
    pub(crate) fn driver(
        target: impl Into<String>,
        context: impl fmt::Display,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        let context = context.to_string();
        ErrorKind::Target {
            target: target.into(),
            reason: if context.is_empty() {
                e.to_string()
            } else {
                format!("{context}: {e}")
            },
            source: Some(Box::new(e)),
        }
        .into()
    }
    /// A target error whose `reason` a driver's error `e` caused, kept as its source.
    #[cfg(feature = "mssql")]
    pub(crate) fn target_caused_by(
        target: impl Into<String>,
        reason: String,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        ErrorKind::Target {
            target: target.into(),
            reason,
            source: Some(Box::new(e)),
        }
        .into()
    }
    pub(crate) fn internal(what: impl Into<String>) -> Error {
        ErrorKind::Internal(what.into()).into()
    }
}

impl Error {
    pub(crate) fn usage(msg: impl Into<String>) -> Error {
        ErrorKind::Usage(msg.into()).into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error {
            kind: Box::new(kind),
            report: None,
        }
    }
}

impl From<KeyFormatError> for Error {
    fn from(e: KeyFormatError) -> Error {
        ErrorKind::KeyFormat(e).into()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.kind, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.kind {
            ErrorKind::Usage(m) => write!(f, "{m}"),
            ErrorKind::KeyFormat(e) => write!(f, "invalid master key: {e}"),
            ErrorKind::WrongKey { entry } => write!(
                f,
                "the master key does not match this backup (checked against entry {entry}). \
                 Use the master key of the 2.6 server that took the backup: on that server run \
                 `Octopus.Server.exe show-master-key`, or find it where it was saved when Octopus was installed"
            ),
            ErrorKind::UnsupportedVersion { found } => write!(
                f,
                "this backup was taken by Octopus {found}; only 2.6 backups can be migrated: \
                 upgrade the 2.x server to 2.6.5 and take a new backup"
            ),
            ErrorKind::BackupIo { path, source } => write!(
                f,
                "cannot read the backup {}: {source}; check the path and that this user may read it",
                path.display()
            ),
            ErrorKind::Corrupt { at, reason } => write!(
                f,
                "the backup is corrupt or unreadable ({at}): {reason}. Copy the .octobak again \
                 (a partial copy is the usual cause) or take a new backup on the 2.6 server"
            ),
            ErrorKind::DocumentTooLarge { at, limit } => write!(
                f,
                "the backup holds a document larger than {} ({at}), the most this tool reads of \
                 one document; Octopus 2.6 writes none that large, so the backup is damaged or \
                 was not written by Octopus: take a new backup on the 2.6 server",
                bytes_in_words(*limit)
            ),
            ErrorKind::Target { target, reason, .. } if target.starts_with("sqlite:") => write!(
                f,
                "target {target} failed: {reason}; nothing was committed. Check that the path \
                 exists and is writable and that no other program holds the database"
            ),
            // SQL Server reasons carry their own advice (host, login, database, schema).
            ErrorKind::Target { target, reason, .. } => write!(
                f,
                "target {target} failed: {reason}; nothing was committed"
            ),
            ErrorKind::TargetNotEmpty { target, tables } => write!(
                f,
                "target {target} already holds Octopus data (tables {}); nothing was written. \
                 Choose how to merge: keep what is there, or let the backup win",
                tables.join(", ")
            ),
            ErrorKind::ForeignTasks {
                target,
                count,
                examples,
            } => {
                let shown: Vec<String> = examples
                    .iter()
                    .map(|(id, d)| format!("{id} {d:?}"))
                    .collect();
                write!(
                    f,
                    "target {target} holds {count} of this backup's server task ids under other \
                     names or descriptions ({}): the backup is another server's, and its logs \
                     would replace those of the target's tasks; nothing was written. Use the \
                     backup of the server this target was migrated from",
                    shown.join(", ")
                )
            }
            ErrorKind::TaskLogsExist {
                dir,
                count,
                examples,
            } => write!(
                f,
                "{count} task-log file(s) of this backup's tasks are already in {} ({}); nothing \
                 was written. Choose: keep them and add the missing ones, or let the backup's \
                 replace them",
                dir.display(),
                examples.join(", ")
            ),
            ErrorKind::Files { path, source } => write!(
                f,
                "cannot write migrated files under {}: {source}; nothing was committed",
                path.display()
            ),
            ErrorKind::Preflight(problems) => {
                write!(
                    f,
                    "the preflight found {} problem(s); nothing was written:",
                    problems.len()
                )?;
                for p in problems {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
            ErrorKind::Busy { target, holder } => write!(
                f,
                "{target} is being migrated by {holder}; nothing was written. Wait for it to \
                 finish, or, if no migration runs, check that no other program holds the lock"
            ),
            ErrorKind::NotFinished { path, source } => write!(
                f,
                "the migration is committed, but its files could not all be moved into place \
                 ({}: {source}); they wait in the staging folder beside them. Fix the cause and \
                 run the same migration again: it moves them first",
                path.display()
            ),
            ErrorKind::Cancelled => f.write_str("the migration was cancelled; nothing was committed"),
            ErrorKind::Internal(what) => write!(
                f,
                "internal error: {what}; nothing was committed. This is a bug in octo-migrate: \
                 please report it with this message"
            ),
        }
    }
}

/// `64 MiB`, or the bytes when they are not whole MiB.
fn bytes_in_words(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.kind {
            ErrorKind::BackupIo { source, .. }
            | ErrorKind::Files { source, .. }
            | ErrorKind::NotFinished { source, .. } => Some(source),
            ErrorKind::KeyFormat(e) => Some(e),
            ErrorKind::Target {
                source: Some(e), ..
            } => Some(e.as_ref()),
            _ => None,
        }
    }
}
