//! The migration: open and key-check the backup, prepare the target, pass 1 (index), pass 2
//! (transform and write inside one transaction), task logs and artifacts into a staging folder,
//! then commit the database and move the files into place. Any error or preflight problem
//! rolls everything back.

pub mod files;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::backup::{Backup, EntryKind};
use crate::collections;
use crate::crypto::MasterKey;
use crate::error::{Error, ErrorKind, Result};
use crate::ids::{id_hash, rewrite_id};
use crate::index::Index;
use crate::layout;
pub use crate::merge::Merge;
use crate::parse::{read_export, split_export, Item, RawItem};
use crate::report::{BadLogLine, Report, UnknownEntry, EXAMPLES};
use crate::schema::{Row, Table, Value};
use crate::sink::{Existing, Sink};
use crate::transform::{self, task_log, Context, Output};

use files::Staging;

impl std::fmt::Debug for MigrateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrateOptions")
            .field("target_key", &self.target_key)
            .field("files_dir", &self.files_dir)
            .field("skip_unsupported_steps", &self.skip_unsupported_steps)
            .field("nologs", &self.nologs)
            .field("maxage", &self.maxage)
            .field("threads", &self.threads)
            .field("onlylogs", &self.onlylogs)
            .field("merge", &self.merge)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Documents per batch handed from the reader to the workers.
const BATCH: usize = 256;
/// Batches between reader and workers: bounds memory whatever the backup's size.
const BATCHES_IN_FLIGHT: usize = 4;
/// Batches being transformed (or waiting to be written) while the writer writes: the
/// transform of what comes next overlaps the writes of what came before.
const TRANSFORMS_IN_FLIGHT: u64 = 2;

/// What one worker made of its share of a batch.
#[derive(Default)]
struct Chunk {
    out: Output,
    attachments: Vec<crate::parse::Attachment>,
    fatal: Option<Error>,
    /// The pool thread that made it, with its documents, bytes and time, for the report.
    worker: usize,
    items: u64,
    bytes: u64,
    busy: Duration,
}

/// Where a migration is: handed to [`ProgressSink::report`] after every batch. The library
/// prints nothing itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
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

/// Receives [`Progress`]; called from the migrating thread.
pub trait ProgressSink: Send + Sync {
    /// Called after every batch of documents.
    fn report(&self, p: &Progress);
}

/// Options of a migration (docs/cli.md `migrate`).
#[derive(Clone, Default)]
pub struct MigrateOptions {
    /// Progress receiver (a terminal bar, a log line); `None` reports nothing.
    pub progress: Option<std::sync::Arc<dyn ProgressSink>>,
    /// The 3.x master key for sensitive values; `None` keeps the 2.6 key.
    pub target_key: Option<MasterKey>,
    /// Where `TaskLogs/` and `Artifacts/` go; `None` writes no files.
    pub files_dir: Option<PathBuf>,
    /// Remove FTP/Azure actions instead of refusing the migration.
    pub skip_unsupported_steps: bool,
    /// Do not convert task logs.
    pub nologs: bool,
    /// `--maxage`: leave out history older than this, unless the current state needs it.
    pub maxage: Option<crate::maxage::Cutoff>,
    /// Worker threads for the transform; 0 means one per core. With 1 nothing runs beside the
    /// migrating thread (no reader or task-log thread either): the migration uses one core.
    pub threads: usize,
    /// Only convert task logs, for the tasks already in the target (which therefore holds data
    /// and is not refused for it); no row is written.
    pub onlylogs: bool,
    /// What to do with a target that already holds Octopus data: refuse it (the default), or
    /// merge with [`Merge`] rules.
    pub merge: Option<Merge>,
}

/// Migrates the backup at `backup` (opened with `key`) into `sink`; `None` is a dry run that
/// reads, decrypts, transforms and checks everything and writes nothing.
///
/// On success the target holds the whole migration and the report says what was done. On
/// failure nothing was committed, and the error carries the report as far as it got.
pub fn migrate(
    backup: impl AsRef<Path>,
    key: &MasterKey,
    mut sink: Option<&mut dyn Sink>,
    opts: &MigrateOptions,
) -> Result<Report> {
    let started = Instant::now();
    let mut report = Report {
        backup: backup.as_ref().display().to_string(),
        dry_run: sink.is_none(),
        target: sink.as_ref().map(|s| s.describe()),
        ..Report::default()
    };
    let mut b = Backup::open(backup.as_ref(), key)?;
    report.octopus_version = b.info().octopus_version.clone();
    report.backup_bytes = b.file_size();
    for e in b.entries() {
        if e.kind == EntryKind::Unknown {
            report.unknown_entries.push(UnknownEntry {
                name: e.name.clone(),
                size: e.size,
            });
        }
    }
    if opts.nologs && opts.onlylogs {
        return Err(Error::usage("--nologs and --onlylogs exclude each other"));
    }
    if let (Some(_), Some(dir)) = (&sink, &opts.files_dir) {
        // Finish what a killed run left behind before looking at the target.
        files::recover(dir).map_err(|e| e.with_report(report.clone()))?;
    }
    if opts.onlylogs {
        return only_logs(&mut b, sink, opts, report, started);
    }
    if let Some(s) = sink.as_deref_mut() {
        if let Err(e) = s.prepare(if opts.merge.is_some() {
            Existing::Merge
        } else {
            Existing::Refuse
        }) {
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
    match result {
        Ok(()) => {
            if let Some(s) = sink {
                if let Err(e) = s.commit() {
                    return Err(e.with_report(report));
                }
                report.committed = true;
                if let Some(st) = staging {
                    st.commit().map_err(|e| e.with_report(report.clone()))?;
                }
            }
            report.elapsed_seconds = started.elapsed().as_secs_f64();
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

fn run(
    b: &mut Backup,
    mut sink: Option<&mut (dyn Sink + '_)>,
    staging: Option<&Staging>,
    opts: &MigrateOptions,
    report: &mut Report,
) -> Result<()> {
    let loc = b.loc(Some(&b.dump_entry_name()));

    // Pass 1: the index.
    let pass1 = Instant::now();
    let mut index = Index::new(opts.maxage);
    index.merge_keys = opts.merge.is_some() && sink.is_some();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| Error::usage(format!("cannot start {} worker threads: {e}", opts.threads)))?;
    // One worker: no reader, task-log or transform thread beside this one either, so that
    // `--threads 1` uses one core (and a one-core machine is not oversubscribed).
    let sequential = pool.current_num_threads() == 1;
    {
        let tell = |bytes: u64, items: u64| {
            if let Some(p) = &opts.progress {
                p.report(&Progress {
                    pass: 1,
                    dump_bytes: bytes,
                    dump_total: None,
                    items,
                    collections: Vec::new(),
                });
            }
        };
        let (summary, _) = stream_dump(&mut *b, &loc, sequential, &tell, &mut |batch| {
            let parsed: Vec<Result<Item>> = pool.install(|| {
                use rayon::prelude::*;
                batch
                    .into_par_iter()
                    .map(|raw| raw.parse_for_index())
                    .collect()
            });
            for item in parsed {
                index.add(&item?);
            }
            Ok(())
        })?;
        index.bytes = summary.bytes;
    }
    if let Err(dups) = index.finish() {
        return Err(locate_duplicate(b, &loc, &dups));
    }
    report.dump_bytes = index.bytes;
    report.index_seconds = pass1.elapsed().as_secs_f64();
    index.history.decide();

    // Merging: match the backup's named documents to the target's before any row is made.
    let mut merger = match (sink.as_deref_mut(), opts.merge) {
        (Some(s), Some(mode)) => {
            let (ids, plan) = crate::merge::plan(&index, s, mode)?;
            index.id_map = ids;
            Some(crate::merge::Merger::new(mode, plan))
        }
        _ => None,
    };

    // Pass 2: transform, and write while the preflight is clean.
    let target_key = opts.target_key.clone().unwrap_or_else(|| b.key().clone());
    let source_key = b.key().clone();
    let ctx = Context {
        index: &index,
        source_key: &source_key,
        target_key: &target_key,
        skip_unsupported_steps: opts.skip_unsupported_steps,
    };
    let mut out = Output::default();
    let mut tables = std::collections::BTreeMap::<Table, u64>::new();
    // Task logs are independent entries: converted on a thread of their own while pass 2
    // runs, for the tasks pass 1 says will be migrated (reconciled with pass 2's list below).
    let cancel = AtomicBool::new(false);
    // Numbers of the logs of migrated tasks: 4 bytes a task, whatever the backup.
    let mut migrated_logs: Vec<u32> = Vec::new();
    let catalog = b.handle();
    // Per-thread statistics of pass 2: the reader, each transform worker, the writer.
    let mut reader_stats = crate::report::WorkerStats::default();
    let mut transform_stats: Vec<crate::report::WorkerStats> = Vec::new();
    let mut writer_busy = Duration::ZERO;
    let (pass2, logs) = std::thread::scope(|scope| {
        let logs = (!opts.nologs && !sequential).then(|| {
            let (index, cancel) = (&index, &cancel);
            let mut lb = b.handle();
            let mut r = Report {
                backup: report.backup.clone(),
                ..Report::default()
            };
            scope.spawn(move || -> Result<(Report, Vec<u32>, Duration)> {
                let started = Instant::now();
                // The tasks pass 2 will migrate: all, or those `--maxage` keeps.
                let pick = |task: &str| {
                    let h = id_hash(task);
                    let t = index.task(h)?;
                    let queue = t.queue_time();
                    let keep = index.history.keep_fields(
                        "ServerTasks",
                        collections::Kind::History,
                        h,
                        queue,
                        false,
                    );
                    keep.then_some(queue)
                };
                let done = convert_logs(&mut lb, &pick, staging, &mut r, cancel)?;
                Ok((r, done, started.elapsed()))
            })
        });
        let pass2 = (|| -> Result<()> {
            let mut write = |row: Row, clean: bool| -> Result<()> {
                *tables.entry(row.table).or_insert(0) += 1;
                match (sink.as_deref_mut(), merger.as_mut()) {
                    (Some(s), Some(m)) if clean => m.write(s, row).map(|_| ()),
                    (Some(s), None) if clean => s.insert(row),
                    _ => Ok(()),
                }
            };
            // Reader thread -> bounded channel of batches -> parse and transform on the pool ->
            // this thread writes, in document order. The pool transforms the next batches
            // while this thread writes the previous one (at most TRANSFORMS_IN_FLIGHT ahead).
            let total = index.bytes;
            let mut items = 0u64;
            // Parse and transform one batch: each worker takes one contiguous chunk, so outputs
            // merge once per chunk, in document order.
            let transform_batch = |batch: Vec<RawItem>| -> Vec<Chunk> {
                use rayon::prelude::*;
                let chunk = batch.len().div_ceil(rayon::current_num_threads()).max(1);
                batch
                    .into_par_iter()
                    .chunks(chunk)
                    .map(|raws| {
                        let started = Instant::now();
                        let mut c = Chunk {
                            worker: rayon::current_thread_index().unwrap_or(0),
                            ..Chunk::default()
                        };
                        for raw in raws {
                            c.items += 1;
                            c.bytes += raw.bytes.len() as u64;
                            match raw.parse() {
                                Ok(Item::Doc(doc)) => {
                                    transform::transform(doc, &ctx, &mut c.out);
                                }
                                Ok(Item::Attachment(a)) => c.attachments.push(a),
                                Err(e) => {
                                    c.fatal = Some(e);
                                    break;
                                }
                            }
                        }
                        c.busy = started.elapsed();
                        c
                    })
                    .collect()
            };
            // Write one transformed batch (this thread only: it owns the target).
            let mut absorb = |outputs: Vec<Chunk>, at: u64, items: u64| -> Result<()> {
                let started = Instant::now();
                let mut step: Result<()> = Ok(());
                for c in &outputs {
                    if transform_stats.len() <= c.worker {
                        transform_stats.resize_with(c.worker + 1, Default::default);
                    }
                    let w = &mut transform_stats[c.worker];
                    w.items += c.items;
                    w.bytes += c.bytes;
                    w.busy_seconds += c.busy.as_secs_f64();
                    for a in &c.attachments {
                        let lower = a.key.to_lowercase();
                        if let (Some(st), Some(art), true) = (
                            staging,
                            lower.strip_prefix(layout::ARTIFACT_ATTACHMENT_PREFIX),
                            step.is_ok(),
                        ) {
                            step = st.write_blob(&rewrite_id(art), &a.data);
                        }
                    }
                }
                step?;
                for c in outputs {
                    if let Some(e) = c.fatal {
                        return Err(e);
                    }
                    let mut o = c.out;
                    let rows = std::mem::take(&mut o.rows);
                    migrated_logs.extend(
                        o.tasks
                            .drain(..)
                            .filter_map(|t| catalog.log_index_by_hash(id_hash(&t))),
                    );
                    out.merge(o);
                    let clean = out.problems.is_empty();
                    for row in rows {
                        write(row, clean)?;
                    }
                }
                if let Some(p) = &opts.progress {
                    p.report(&Progress {
                        pass: 2,
                        dump_bytes: at,
                        dump_total: Some(total),
                        items,
                        collections: out
                            .report
                            .collections
                            .iter()
                            .map(|(k, v)| (k.clone(), v.migrated))
                            .collect(),
                    });
                }
                writer_busy += started.elapsed();
                Ok(())
            };
            pool.in_place_scope(|scope| -> Result<()> {
                let (done_tx, done_rx) = std::sync::mpsc::channel::<(u64, Vec<Chunk>)>();
                // Batches handed to the pool, and the next one to write; finished batches wait
                // here until their turn.
                let (mut sent, mut written) = (0u64, 0u64);
                let mut ready = std::collections::BTreeMap::new();
                let mut marks = std::collections::VecDeque::new();
                let mut write_ready = |until_in_flight: u64,
                                       ready: &mut std::collections::BTreeMap<u64, Vec<Chunk>>,
                                       marks: &mut std::collections::VecDeque<(u64, u64)>,
                                       sent: u64,
                                       written: &mut u64|
                 -> Result<()> {
                    while sent - *written > until_in_flight {
                        let outputs = match ready.remove(written) {
                            Some(o) => o,
                            None => {
                                let (seq, o) = done_rx
                                    .recv()
                                    .expect("every transform job answers before the scope ends");
                                ready.insert(seq, o);
                                continue;
                            }
                        };
                        let (at, n) = marks.pop_front().unwrap_or_default();
                        *written += 1;
                        absorb(outputs, at, n)?;
                    }
                    Ok(())
                };
                let (summary, reader_busy) =
                    stream_dump(&mut *b, &loc, sequential, &|_, _| {}, &mut |batch| {
                        items += batch.len() as u64;
                        marks.push_back((batch.last().map(|r| r.pos.offset).unwrap_or(0), items));
                        let (tx, seq, transform_batch) = (done_tx.clone(), sent, &transform_batch);
                        let at = loc.clone();
                        let job = move || {
                            // Every job answers, even one that panics (a bug), so the writer never
                            // waits for ever; the receiver is gone only when writing failed.
                            let outputs =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    transform_batch(batch)
                                }))
                                .unwrap_or_else(|_| {
                                    vec![Chunk {
                                    fatal: Some(Error::corrupt(
                                        at,
                                        "the transform failed unexpectedly on a document of this \
                                     part of the dump (a bug in octo-migrate: please report it)",
                                    )),
                                    ..Chunk::default()
                                }]
                                });
                            let _ = tx.send((seq, outputs));
                        };
                        // One worker: transform this batch now, then write it.
                        let ahead = if sequential {
                            pool.install(job);
                            0
                        } else {
                            scope.spawn(move |_| job());
                            TRANSFORMS_IN_FLIGHT
                        };
                        sent += 1;
                        write_ready(ahead, &mut ready, &mut marks, sent, &mut written)
                    })?;
                reader_stats = crate::report::WorkerStats {
                    worker: "reader".into(),
                    items: summary.docs + summary.attachments,
                    bytes: summary.bytes,
                    busy_seconds: reader_busy.as_secs_f64(),
                };
                write_ready(0, &mut ready, &mut marks, sent, &mut written)
            })?;
            // KeyAllocation: above every migrated id number and every HiLo maximum.
            for (table, max) in &out.max_ids {
                let hilo = collections::COLLECTIONS
                    .iter()
                    .filter(|c| c.table == Some(*table))
                    .filter_map(|c| index.hilo.get(&c.name.to_lowercase()))
                    .max()
                    .copied()
                    .unwrap_or(0);
                let clean = out.problems.is_empty();
                write(
                    Row {
                        table: Table::KeyAllocation,
                        values: vec![
                            Value::Text(table.name().to_owned()),
                            Value::Int((*max).max(hilo) as i64),
                        ],
                    },
                    clean,
                )?;
            }

            Ok(())
        })();
        if pass2.is_err() {
            cancel.store(true, Ordering::Relaxed);
        }
        let logs = logs.map(|h| h.join().expect("the task-log thread panicked"));
        (pass2, logs)
    });
    pass2?;
    let mut logged = Vec::new();
    let mut log_busy = Duration::ZERO;
    if let Some(r) = logs {
        let (r, done, busy) = r?;
        logged = done;
        log_busy = busy;
        report.task_logs += r.task_logs;
        report.task_log_lines += r.task_log_lines;
        report.unparsable_log_line_count += r.unparsable_log_line_count;
        report.unparsable_log_lines = r.unparsable_log_lines;
    }
    let Output {
        problems,
        report: r,
        mut artifacts,
        ..
    } = out;
    absorb(report, r);
    if let Some(m) = merger {
        // The target keeps its own files for the rows it kept.
        let kept: HashSet<u32> = m
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
    report.tables = tables
        .iter()
        .map(|(t, n)| (t.name().to_owned(), *n))
        .collect();
    report.workers.push(reader_stats);
    // Pool threads that got no chunk (a small backup) are listed too, with zeros.
    let pool_size = pool.current_num_threads().max(transform_stats.len());
    transform_stats.resize_with(pool_size, Default::default);
    for (i, mut w) in transform_stats.into_iter().enumerate() {
        w.worker = format!("transform {}", i + 1);
        report.workers.push(w);
    }
    report.workers.push(crate::report::WorkerStats {
        worker: "writer".into(),
        items: tables.values().sum(),
        bytes: 0,
        busy_seconds: writer_busy.as_secs_f64(),
    });
    if !problems.is_empty() {
        report.problems = problems.clone();
        return Err(ErrorKind::Preflight(problems).into());
    }

    // Task logs: the thread converted what pass 1 predicted; pass 2 has the final word (and,
    // with one worker, converts them all here).
    if !opts.nologs {
        let started = Instant::now();
        migrated_logs.sort_unstable();
        migrated_logs.dedup();
        for &i in &migrated_logs {
            if logged.binary_search(&i).is_ok() {
                continue;
            }
            if let Some(task) = b.log_task_at(i).map(rewrite_id) {
                let queue = index.task(id_hash(&task)).and_then(|t| t.queue_time());
                convert_one(b, i, &task, queue, staging, report)?;
            }
        }
        // Converted but not migrated (kept by the target when merging): not placed.
        if let Some(st) = staging {
            for &i in &logged {
                if migrated_logs.binary_search(&i).is_ok() {
                    continue;
                }
                if let Some(task) = b.log_task_at(i).map(rewrite_id) {
                    let _ = std::fs::remove_file(st.task_log_path(&task)?);
                }
            }
        }
        report.workers.push(crate::report::WorkerStats {
            worker: "task logs".into(),
            items: report.task_logs,
            bytes: 0,
            busy_seconds: (log_busy + started.elapsed()).as_secs_f64(),
        });
    }

    // Artifacts: each one's attachment to its final name.
    for (id, file_name) in &artifacts {
        let present = match staging {
            Some(st) => st.place_artifact(id, file_name)?,
            None => index.has_attachment(&format!("{}{id}", layout::ARTIFACT_ATTACHMENT_PREFIX)),
        };
        if present {
            report.artifact_files += 1;
        } else if report.artifacts_without_content.len() < EXAMPLES * 20 {
            report.artifacts_without_content.push(id.clone());
        }
    }
    if report.license.is_none() {
        report.license = Some("the backup has no license".into());
    }
    Ok(())
}

/// Converts, in file order, the activity logs whose task `pick` wants (it returns the task's
/// QueueTime, the time of lines that have none), into `staging` or nowhere on a dry run.
/// Returns the numbers of the converted logs, ascending (file order need not be: the directory
/// may list entries in another order). Stops early, without error, when `cancel` is set (pass 2
/// failed).
fn convert_logs(
    b: &mut Backup,
    pick: &dyn Fn(&str) -> Option<Option<chrono::DateTime<chrono::FixedOffset>>>,
    staging: Option<&Staging>,
    report: &mut Report,
    cancel: &AtomicBool,
) -> Result<Vec<u32>> {
    let mut done = Vec::new();
    for i in b.log_indexes() {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let Some(task) = b.log_task_at(i).map(rewrite_id) else {
            continue;
        };
        if let Some(queue) = pick(&task) {
            convert_one(b, i, &task, queue, staging, report)?;
            done.push(i);
        }
    }
    // The caller binary-searches it.
    done.sort_unstable();
    Ok(done)
}

/// Converts activity log number `i`, of `task` (3.x id).
fn convert_one(
    b: &mut Backup,
    i: u32,
    task: &str,
    queue: Option<chrono::DateTime<chrono::FixedOffset>>,
    staging: Option<&Staging>,
    report: &mut Report,
) -> Result<()> {
    let (name, reader) = b.open_log_at(i)?;
    let entry_loc = b_loc(report, &name);
    let stats = match staging {
        Some(st) => {
            let path = st.task_log_path(task)?;
            let file = std::fs::File::create(&path).map_err(|source| ErrorKind::Files {
                path: path.clone(),
                source,
            })?;
            let mut w = std::io::BufWriter::new(file);
            let s = task_log::convert(reader, &mut w, task, queue);
            use std::io::Write as _;
            s.and_then(|s| w.flush().map(|()| s))
        }
        None => task_log::convert(reader, std::io::sink(), task, queue),
    }
    .map_err(|e| crate::backup::io_to_error(&entry_loc, &e))?;
    report.task_logs += 1;
    report.task_log_lines += stats.lines;
    report.unparsable_log_line_count += stats.bad.len() as u64;
    for (line, reason) in stats.bad {
        if report.unparsable_log_lines.len() < 100 {
            report.unparsable_log_lines.push(BadLogLine {
                task_id: task.to_owned(),
                line,
                reason,
            });
        }
    }
    Ok(())
}

/// `--onlylogs`: convert the logs of the tasks already in the target; write no row.
fn only_logs(
    b: &mut Backup,
    sink: Option<&mut dyn Sink>,
    opts: &MigrateOptions,
    mut report: Report,
    started: Instant,
) -> Result<Report> {
    let loc = b.loc(Some(&b.dump_entry_name()));
    let mut index = Index::new(None);
    let summary = read_export(b.open_dump()?, loc.clone(), &mut |item, _| {
        index.add(&item);
        Ok(())
    })
    .map_err(|e| e.with_report(report.clone()))?;
    if let Err(dups) = index.finish() {
        return Err(locate_duplicate(b, &loc, &dups).with_report(report));
    }
    report.dump_bytes = summary.bytes;
    let mut existing: Option<HashSet<u64>> = None;
    let staging = match sink {
        Some(s) => {
            existing = Some(
                s.existing_ids(Table::ServerTask)
                    .map_err(|e| e.with_report(report.clone()))?
                    .iter()
                    .map(|id| id_hash(id))
                    .collect(),
            );
            match &opts.files_dir {
                Some(dir) => Some(Staging::new(dir).map_err(|e| e.with_report(report.clone()))?),
                None => None,
            }
        }
        None => None,
    };
    // The backup's tasks that the target has (all of them on a dry run).
    let pick = |task: &str| {
        let h = id_hash(task);
        if existing.as_ref().is_some_and(|e| !e.contains(&h)) {
            return None;
        }
        index.task(h).map(|t| t.queue_time())
    };
    convert_logs(
        b,
        &pick,
        staging.as_ref(),
        &mut report,
        &AtomicBool::new(false),
    )
    .map_err(|e| e.with_report(report.clone()))?;
    if let Some(st) = staging {
        st.commit().map_err(|e| e.with_report(report.clone()))?;
        report.committed = true;
    }
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Reads the dump on a thread of its own, cut into raw items ([`split_export`]), and hands
/// batches to `consume` on this thread through a bounded channel (the back-pressure that keeps
/// memory flat). A `consume` error stops the reader; it is the error returned.
///
/// With `inline`, the reading happens on this thread between batches instead: `--threads 1`
/// keeps the whole migration on one core at a time. Also returns the time the reading took,
/// not counting waits for the consumer.
fn stream_dump(
    b: &mut Backup,
    loc: &crate::error::Location,
    inline: bool,
    progress: &dyn Fn(u64, u64),
    consume: &mut dyn FnMut(Vec<RawItem>) -> Result<()>,
) -> Result<(crate::parse::ExportSummary, Duration)> {
    let started = Instant::now();
    if inline {
        let dump = b.open_dump()?;
        let mut batch = Vec::with_capacity(BATCH);
        let mut items = 0u64;
        let mut consuming = Duration::ZERO;
        let mut hand = |batch: Vec<RawItem>| -> Result<()> {
            let t = Instant::now();
            items += batch.len() as u64;
            let at = batch.last().map(|r| r.pos.offset).unwrap_or(0);
            consume(batch)?;
            progress(at, items);
            consuming += t.elapsed();
            Ok(())
        };
        let summary = split_export(dump, loc.clone(), &mut |raw| {
            batch.push(raw);
            if batch.len() == BATCH {
                hand(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))?;
            }
            Ok(())
        })?;
        if !batch.is_empty() {
            hand(batch)?;
        }
        return Ok((summary, started.elapsed().saturating_sub(consuming)));
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<RawItem>>(BATCHES_IN_FLIGHT);
    std::thread::scope(|scope| {
        let reader_loc = loc.clone();
        let reader = scope.spawn(move || -> Result<(crate::parse::ExportSummary, Duration)> {
            let dump = b.open_dump()?;
            let mut batch = Vec::with_capacity(BATCH);
            let mut waiting = Duration::ZERO;
            let summary = split_export(dump, reader_loc, &mut |raw| {
                batch.push(raw);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    let t = Instant::now();
                    let sent = tx.send(full);
                    waiting += t.elapsed();
                    if sent.is_err() {
                        // The consumer stopped on an error of its own, which it reports.
                        return Err(Error::usage("stopped"));
                    }
                }
                Ok(())
            })?;
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            Ok((summary, started.elapsed().saturating_sub(waiting)))
        });
        let mut result = Ok(());
        let mut items = 0u64;
        for batch in rx.iter() {
            items += batch.len() as u64;
            let at = batch.last().map(|r| r.pos.offset).unwrap_or(0);
            if let Err(e) = consume(batch) {
                result = Err(e);
                break;
            }
            progress(at, items);
        }
        drop(rx);
        let read = reader.join().expect("the dump reader thread panicked");
        // A consumer error explains why the reader stopped; otherwise the reader's own.
        result.and(read)
    })
}

/// Pass 1 keeps only hashes of ids, so a duplicate id is found after it; this re-reads the
/// dump (an error path only) to name the document and where its second copy is.
fn locate_duplicate(b: &mut Backup, loc: &crate::error::Location, dups: &[u64]) -> Error {
    let wanted: HashSet<u64> = dups.iter().copied().collect();
    let mut seen = HashSet::new();
    let found = b.open_dump().and_then(|dump| {
        split_export(dump, loc.clone(), &mut |raw| {
            let pos = raw.pos;
            if let Item::Doc(d) = raw.parse_for_index()? {
                let h = id_hash(&d.id);
                if wanted.contains(&h) && !seen.insert(h) {
                    return Err(Error::corrupt(
                        crate::error::Location {
                            offset: Some(pos.offset),
                            doc_index: Some(pos.index),
                            doc_id: Some(d.id),
                            ..loc.clone()
                        },
                        "the same document id appears twice in the dump",
                    ));
                }
            }
            Ok(())
        })
    });
    match found {
        Err(e) => e,
        Ok(_) => Error::corrupt(loc.clone(), "two document ids in the dump collide"),
    }
}

fn b_loc(report: &Report, entry: &str) -> crate::error::Location {
    crate::error::Location {
        file: Some(PathBuf::from(&report.backup)),
        entry: Some(entry.to_owned()),
        ..Default::default()
    }
}

fn absorb(report: &mut Report, r: Report) {
    report.collections = r.collections;
    report.dangling_references = r.dangling_references;
    report.unknown_collections = r.unknown_collections;
    report.reencrypted_values = r.reencrypted_values;
    report.tentacles = r.tentacles;
    report.removed_actions = r.removed_actions;
    report.retention_policies_not_migrated = r.retention_policies_not_migrated;
    report.license = r.license;
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
}
