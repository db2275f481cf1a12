//! The migration: open and key-check the backup, prepare the target, pass 1 (index), pass 2
//! (transform and write inside one transaction), task logs and artifacts into a staging folder,
//! then commit the database and move the files into place. Any error or preflight problem
//! rolls everything back.
//!
//! | step | file |
//! |---|---|
//! | the dump read in batches on a thread of its own | `stream.rs` |
//! | pass 1: the index | `pass1.rs` |
//! | pass 2: transform on the pool, write in order | `pass2.rs` |
//! | task logs, beside pass 2 and after it; `--onlylogs` | `logs.rs` |
//! | files staged, then moved into place | `files.rs` |

pub(crate) mod files;
mod logs;
mod pass1;
mod pass2;
mod stream;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::backup::{Backup, EntryKind};
use crate::crypto::MasterKey;
use crate::error::{Error, ErrorKind, Location, Result};
use crate::ids::id_hash;
use crate::layout;
use crate::maxage::Cutoff;
use crate::merge::{Merger, Mode};
use crate::report::{
    Report, RunOptions, UnknownEntry, MISSING_CONTENT_EXAMPLES, UNKNOWN_ENTRY_EXAMPLES,
};
use crate::sink::{Existing, Sink};
use crate::transform::{Context, Output};
use pass2::Target;

use files::Staging;

/// Where a migration is: handed to [`ProgressSink::report`] after every batch. The library
/// prints nothing itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// What the migration is doing.
    pub phase: Phase,
    /// Pass 2: documents migrated so far per 2.6 collection.
    pub collections: Vec<(String, u64)>,
    /// 1 (index) or 2 (transform and write).
    pub pass: u8,
    /// Bytes of the (decrypted, decompressed) dump read so far in this pass.
    pub dump_bytes: u64,
    /// The dump's size, known from pass 2 on.
    pub dump_total: Option<u64>,
    /// Documents and attachments read so far in this pass.
    pub items: u64,
}

/// The phases of a migration, in order; [`Progress`] says which one runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Phase {
    /// Pass 1: the dump read for the index.
    #[default]
    Indexing,
    /// Pass 2: documents transformed and written (task logs converted beside).
    Migrating,
    /// The task logs pass 2 still needs, converted after it.
    TaskLogs,
    /// The target commits.
    Committing,
    /// The staged task logs and artifacts move into place.
    MovingFiles,
}

impl Phase {
    /// The phase in a few words, for a progress line.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Indexing => "pass 1 indexing",
            Phase::Migrating => "pass 2 migrating",
            Phase::TaskLogs => "task logs",
            Phase::Committing => "committing",
            Phase::MovingFiles => "moving files",
        }
    }
}

impl Progress {
    /// The start of a phase that has no counts of its own.
    fn at(phase: Phase) -> Progress {
        Progress {
            phase,
            collections: Vec::new(),
            pass: 2,
            dump_bytes: 0,
            dump_total: None,
            items: 0,
        }
    }
}

/// Receives [`Progress`]; called from the migrating thread.
pub trait ProgressSink: Send + Sync {
    /// Called after every batch of documents.
    fn report(&self, p: &Progress);
}

/// Stops a running migration from another thread (a signal handler, a UI's button): the
/// migration notices within one batch of documents or one task log, rolls everything back
/// and fails with [`ErrorKind::Cancelled`]. Clones share one flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that has not been cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }
    /// Asks the migration to stop. Safe to call from any thread, any number of times.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// The error that stops the migration once cancelled.
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(ErrorKind::Cancelled.into())
        } else {
            Ok(())
        }
    }
}

/// What happens to the task logs (activity logs of the backup's server tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TaskLogs {
    /// Convert the logs of the migrated tasks (the default).
    #[default]
    Convert,
    /// Leave them out: the migration is faster, and a later [`TaskLogs::Only`] run adds them.
    Skip,
    /// Only convert the logs of the tasks the target already holds; write no row (the target
    /// is expected to hold data).
    Only,
}

/// What to do with a target that already holds Octopus data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Merge {
    /// Refuse it: nothing is written (the default).
    #[default]
    Refuse,
    /// The backup wins on documents with the same name (or id where there is no name); teams
    /// keep their members and variable sets their variables, the backup's are added.
    BackupWins,
    /// The target wins: only documents it does not have are added.
    TargetWins,
}

impl Merge {
    fn mode(self) -> Option<Mode> {
        match self {
            Merge::Refuse => None,
            Merge::BackupWins => Some(Mode::Overwrite),
            Merge::TargetWins => Some(Mode::Keep),
        }
    }
}

/// Everything that changes how a migration runs; built by [`Migration`].
#[derive(Clone, Default)]
pub(crate) struct Options {
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// The 3.x master key for sensitive values; `None` keeps the 2.6 key.
    pub target_key: Option<MasterKey>,
    /// Where `TaskLogs/` and `Artifacts/` go; `None` writes no files.
    pub files_dir: Option<PathBuf>,
    pub skip_unsupported_steps: bool,
    pub task_logs: TaskLogs,
    /// `--maxage`: leave out history older than this, unless the current state needs it.
    pub maxage: Option<Cutoff>,
    /// The days and "now" `maxage` was made from, for the report.
    pub max_age_given: Option<(u32, chrono::DateTime<chrono::FixedOffset>)>,
    /// Transform workers; `None` is one per core. With 1 nothing runs beside the migrating
    /// thread (no reader or task-log thread either): the migration uses one core.
    pub threads: Option<NonZeroUsize>,
    pub merge: Merge,
    pub cancel: CancelToken,
}

impl Options {
    /// Tells the progress receiver that `phase` starts.
    fn phase(&self, phase: Phase) {
        if let Some(p) = &self.progress {
            p.report(&Progress::at(phase));
        }
    }

    /// The options as the report records them.
    fn recorded(&self) -> RunOptions {
        RunOptions {
            max_age_days: self.max_age_given.map(|(d, _)| d),
            as_of: self.max_age_given.map(|(_, t)| t.to_rfc3339()),
            task_logs: match self.task_logs {
                TaskLogs::Convert => "convert",
                TaskLogs::Skip => "skip",
                TaskLogs::Only => "only",
            }
            .to_owned(),
            skip_unsupported_steps: self.skip_unsupported_steps,
            merge: match self.merge {
                Merge::Refuse => "refuse",
                Merge::BackupWins => "backup_wins",
                Merge::TargetWins => "target_wins",
            }
            .to_owned(),
            target_key: self.target_key.is_some(),
            threads: self.threads.map(NonZeroUsize::get),
        }
    }

    /// Whether task logs are converted beside the rows.
    fn converts_logs(&self) -> bool {
        self.task_logs == TaskLogs::Convert
    }
}

/// A migration of one backup, set up step by step and then run into a target or dry.
///
/// ```no_run
/// # fn main() -> Result<(), octo_migrate_core::Error> {
/// use octo_migrate_core::{MasterKey, Merge, Migration, SqliteSink};
/// let key = MasterKey::parse("MDEyMzQ1Njc4OWFiY2RlZg==")?;
/// let mut target = SqliteSink::new("octopus3.db");
/// let report = Migration::new("20150630-101112.octobak", &key)
///     .files_dir(".")
///     .max_age_days(90)
///     .merge(Merge::TargetWins)
///     .run(&mut target)?;
/// println!("{report}");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use = "a migration does nothing until it is run"]
pub struct Migration {
    backup: PathBuf,
    key: MasterKey,
    opts: Options,
    max_age_days: Option<u32>,
    as_of: Option<chrono::DateTime<chrono::FixedOffset>>,
}

impl std::fmt::Debug for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migration")
            .field("backup", &self.backup)
            .field("key", &self.key)
            .field("target_key", &self.opts.target_key)
            .field("files_dir", &self.opts.files_dir)
            .field("skip_unsupported_steps", &self.opts.skip_unsupported_steps)
            .field("task_logs", &self.opts.task_logs)
            .field("max_age_days", &self.max_age_days)
            .field("as_of", &self.as_of)
            .field("threads", &self.opts.threads)
            .field("merge", &self.opts.merge)
            .field("progress", &self.opts.progress.is_some())
            .finish()
    }
}

impl Migration {
    /// A migration of the backup at `backup`, which `key` (the 2.6 master key) decrypts.
    pub fn new(backup: impl Into<PathBuf>, key: &MasterKey) -> Migration {
        Migration {
            backup: backup.into(),
            key: key.clone(),
            opts: Options::default(),
            max_age_days: None,
            as_of: None,
        }
    }
    /// Re-encrypts sensitive values under the 3.x server's master key (without it they stay
    /// under the 2.6 key, which a 3.x server installed with its own key cannot read).
    pub fn target_key(mut self, key: &MasterKey) -> Migration {
        self.opts.target_key = Some(key.clone());
        self
    }
    /// The folder that receives `TaskLogs/` and `Artifacts/` (without one, no file is written).
    pub fn files_dir(mut self, dir: impl Into<PathBuf>) -> Migration {
        self.opts.files_dir = Some(dir.into());
        self
    }
    /// Removes the steps 3.x does not support (FTP, Azure) instead of refusing the backup.
    pub fn skip_unsupported_steps(mut self, skip: bool) -> Migration {
        self.opts.skip_unsupported_steps = skip;
        self
    }
    /// What happens to the task logs ([`TaskLogs::Convert`] unless told).
    pub fn task_logs(mut self, logs: TaskLogs) -> Migration {
        self.opts.task_logs = logs;
        self
    }
    /// Keeps `days` days of history (before [`Migration::as_of`], or now), and whatever older
    /// history the current state needs.
    pub fn max_age_days(mut self, days: u32) -> Migration {
        self.max_age_days = Some(days);
        self
    }
    /// The "now" that [`Migration::max_age_days`] counts back from (default: when it runs).
    pub fn as_of(mut self, at: chrono::DateTime<chrono::FixedOffset>) -> Migration {
        self.as_of = Some(at);
        self
    }
    /// What to do with a target that already holds Octopus data ([`Merge::Refuse`] unless told).
    pub fn merge(mut self, merge: Merge) -> Migration {
        self.opts.merge = merge;
        self
    }
    /// Transform workers (default: one per core). With one, the whole migration, reading and
    /// task logs too, runs on one core.
    pub fn threads(mut self, threads: NonZeroUsize) -> Migration {
        self.opts.threads = Some(threads);
        self
    }
    /// Receives the migration's progress after every batch.
    pub fn progress(mut self, progress: Arc<dyn ProgressSink>) -> Migration {
        self.opts.progress = Some(progress);
        self
    }
    /// A token another thread can cancel the migration with.
    pub fn cancel_token(mut self, token: CancelToken) -> Migration {
        self.opts.cancel = token;
        self
    }

    /// The backup, its key and the options, with `--maxage` counted back from now.
    pub(crate) fn into_parts(mut self) -> (PathBuf, MasterKey, Options) {
        if let Some(days) = self.max_age_days {
            let as_of = self
                .as_of
                .unwrap_or_else(|| chrono::Utc::now().fixed_offset());
            self.opts.maxage = Some(Cutoff::new(days, as_of));
            self.opts.max_age_given = Some((days, as_of));
        }
        (self.backup, self.key, self.opts)
    }

    /// Migrates into `target`. On success the target holds the whole migration and the report
    /// says what was done. On failure nothing was committed, and the error carries the report
    /// as far as it got ([`Error::report`]).
    pub fn run(self, target: &mut dyn Sink) -> Result<Report> {
        let (backup, key, opts) = self.into_parts();
        migrate(&backup, &key, Some(target), &opts)
    }

    /// Reads, decrypts, transforms and checks everything, and writes nothing: the report of
    /// what a migration would do, with every problem that would stop it.
    pub fn dry_run(self) -> Result<Report> {
        let (backup, key, opts) = self.into_parts();
        migrate(&backup, &key, None, &opts)
    }
}

/// What every step of one migration shares.
pub(crate) struct Run<'a> {
    opts: &'a Options,
    report: &'a mut Report,
    /// The dump entry, for errors.
    loc: Location,
    pool: &'a rayon::ThreadPool,
    /// One worker: nothing runs beside the migrating thread.
    sequential: bool,
    /// Whether there is a target (not a dry run).
    writes: bool,
    cancel: &'a CancelToken,
}

/// Migrates the backup at `backup` (opened with `key`) into `sink`; `None` is a dry run.
pub(crate) fn migrate(
    backup: &Path,
    key: &MasterKey,
    mut sink: Option<&mut dyn Sink>,
    opts: &Options,
) -> Result<Report> {
    let started = Instant::now();
    let mut report = Report::default();
    report.tool_version = env!("CARGO_PKG_VERSION").to_owned();
    report.started_at = Some(crate::report::now());
    report.options = opts.recorded();
    report.backup = backup.display().to_string();
    report.dry_run = sink.is_none();
    report.target = sink.as_ref().map(|s| s.describe());
    let mut b = Backup::open(backup, key)?;
    report.octopus_version = b.info().octopus_version.clone();
    report.backup_bytes = b.file_size();
    for e in b.entries() {
        if e.kind == EntryKind::Unknown {
            report.unknown_entry_count += 1;
            if report.unknown_entries.len() < UNKNOWN_ENTRY_EXAMPLES {
                report.unknown_entries.push(UnknownEntry {
                    name: e.name.clone(),
                    size: e.size,
                });
            }
        }
    }
    // One migration at a time fills a files folder: its lock is held until the files are in
    // place. Holding it, what a killed run left behind is finished before the target is read.
    let mut _files_lock = None;
    if let (Some(_), Some(dir)) = (&sink, &opts.files_dir) {
        let (lock, kept) =
            files::lock_and_recover(dir).map_err(|e| e.with_report(report.clone()))?;
        _files_lock = Some(lock);
        for k in kept {
            report.warn(format!(
                "{} holds the files of a migration interrupted while its target committed, and \
                 the target cannot tell whether it did: kept as they are, neither placed nor \
                 deleted",
                k.display()
            ));
        }
    }
    if let Some(s) = sink.as_deref_mut() {
        // Merging and adding logs read the target back, which not every target can.
        let reads_back = opts.merge != Merge::Refuse || opts.task_logs == TaskLogs::Only;
        if reads_back && s.as_merge().is_none() {
            return Err(cannot_merge(opts).with_report(report));
        }
    }
    if opts.task_logs == TaskLogs::Only {
        let sink = sink.and_then(|s| s.as_merge());
        return logs::only_logs(&mut b, sink, opts, report, started);
    }
    if let Some(s) = sink.as_deref_mut() {
        let existing = match opts.merge {
            Merge::Refuse => Existing::Refuse,
            _ => Existing::Merge,
        };
        if let Err(e) = s.prepare(existing) {
            let _ = s.rollback();
            return Err(e.with_report(report));
        }
    }
    let staging = match (&sink, &opts.files_dir) {
        (Some(_), Some(dir)) => match Staging::new(dir) {
            Ok(s) => Some(s),
            Err(e) => {
                if let Some(s) = sink.as_deref_mut() {
                    let _ = s.rollback();
                }
                return Err(e.with_report(report));
            }
        },
        _ => None,
    };
    let result = run(
        &mut b,
        sink.as_deref_mut(),
        staging.as_ref(),
        opts,
        &mut report,
    );
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    match result.and_then(|()| opts.cancel.check()) {
        Ok(()) => {
            if let Some(s) = sink {
                // The commit protocol (docs/DESIGN.md "Crash safety"): the staging folder
                // records how to tell whether the target committed, the target commits, the
                // folder is marked committed and its files move into place.
                opts.phase(Phase::Committing);
                let mut staging = staging;
                if let Some(st) = staging.as_mut() {
                    if let Err(e) = st.committing(s.commit_evidence().as_ref()) {
                        let _ = s.rollback();
                        if let Some(st) = staging {
                            st.abandon();
                        }
                        return Err(e.with_report(report));
                    }
                }
                if let Err(e) = s.commit() {
                    let _ = s.rollback();
                    if let Some(st) = staging {
                        st.abandon();
                    }
                    return Err(e.with_report(report));
                }
                report.committed = true;
                if let Some(st) = staging {
                    opts.phase(Phase::MovingFiles);
                    st.commit()
                        .map_err(|e| e.after_commit().with_report(report.clone()))?;
                }
            }
            report.elapsed_seconds = started.elapsed().as_secs_f64();
            report.finish_ok();
            Ok(report)
        }
        Err(e) => {
            if let Some(s) = sink {
                let _ = s.rollback();
            }
            drop(staging);
            Err(e.with_report(report))
        }
    }
}

/// The migration inside the target's transaction: pass 1, the merge plan, pass 2, the
/// preflight's verdict, task logs, artifacts.
fn run(
    b: &mut Backup,
    sink: Option<&mut (dyn Sink + '_)>,
    staging: Option<&Staging>,
    opts: &Options,
    report: &mut Report,
) -> Result<()> {
    let threads = opts.threads.map_or(0, NonZeroUsize::get);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::usage(format!("cannot start {threads} worker threads: {e}")))?;
    let mut run = Run {
        opts,
        report,
        loc: b.loc(Some(&b.dump_entry_name())),
        // One worker: no reader, task-log or transform thread beside this one either, so that
        // one thread uses one core (and a one-core machine is not oversubscribed).
        sequential: pool.current_num_threads() == 1,
        pool: &pool,
        writes: sink.is_some(),
        cancel: &opts.cancel,
    };

    let mut index = pass1::index(b, &mut run)?;

    // Merging: match the backup's named documents to the target's before any row is made.
    let mut merger = None;
    let target = match (sink, opts.merge.mode()) {
        (None, _) => Target::Dry,
        (Some(s), None) => Target::Insert(s),
        (Some(s), Some(mode)) => {
            let s = s.as_merge().ok_or_else(|| cannot_merge(opts))?;
            let (ids, plan) = crate::merge::plan(&index, &mut *s, mode)?;
            index.id_map = ids;
            Target::Merge(s, merger.insert(Merger::new(mode, plan)))
        }
    };

    let target_key = opts.target_key.clone().unwrap_or_else(|| b.key().clone());
    let source_key = b.key().clone();
    let ctx = Context {
        index: &index,
        source_key: &source_key,
        target_key: &target_key,
        skip_unsupported_steps: opts.skip_unsupported_steps,
    };
    let written = pass2::pass2(b, &mut run, &index, &ctx, target, staging)?;
    let report = run.report;
    let Output {
        problems,
        report: transformed,
        mut artifacts,
        ..
    } = written.out;
    *report += transformed;
    let mut migrated_logs = written.migrated_logs;
    if let Some(m) = merger {
        // The target keeps its own files for the rows it kept.
        let kept: std::collections::HashSet<u32> = m
            .kept_ids
            .iter()
            .filter_map(|h| b.log_index_by_hash(*h))
            .collect();
        migrated_logs.retain(|i| !kept.contains(i));
        artifacts.retain(|(a, _)| !m.kept_ids.contains(&id_hash(a)));
        if m.license_kept {
            report.license = Some(
                "the target already has a license, which was kept; the backup's was not imported"
                    .into(),
            );
        }
        report.merge = Some(m.report);
    }
    report.tables = written
        .tables
        .iter()
        .map(|(t, n)| (t.name().to_owned(), *n))
        .collect();
    if !problems.is_empty() {
        report.problems = problems.clone();
        return Err(ErrorKind::Preflight(problems).into());
    }

    if opts.converts_logs() {
        opts.phase(Phase::TaskLogs);
        logs::reconcile(
            b,
            &index,
            migrated_logs,
            &written.converted,
            staging,
            report,
            written.log_busy,
        )?;
    }
    place_artifacts(&artifacts, &index, staging, report)?;
    if report.license.is_none() {
        report.license = Some("the backup has no license".into());
    }
    Ok(())
}

/// The error of a merge (or a task-logs-only run) into a target that cannot be read back.
fn cannot_merge(opts: &Options) -> Error {
    let what = if opts.task_logs == TaskLogs::Only {
        "add task logs to"
    } else {
        "merge into"
    };
    Error::usage(format!(
        "this target cannot be read back, so the migration cannot {what} it"
    ))
}

/// Artifacts: each one's attachment (staged in pass 2) to its final name.
fn place_artifacts(
    artifacts: &[(String, String)],
    index: &crate::index::Index,
    staging: Option<&Staging>,
    report: &mut Report,
) -> Result<()> {
    for (id, file_name) in artifacts {
        let present = match staging {
            Some(st) => st.place_artifact(id, file_name)?,
            None => index.has_attachment(&format!("{}{id}", layout::ARTIFACT_ATTACHMENT_PREFIX)),
        };
        if present {
            report.artifact_files += 1;
        } else if report.artifacts_without_content.len() < MISSING_CONTENT_EXAMPLES {
            report.artifacts_without_content.push(id.clone());
        }
    }
    Ok(())
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
}
