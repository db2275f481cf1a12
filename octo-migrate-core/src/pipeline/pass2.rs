//! Pass 2: the dump read again, each batch of documents parsed and transformed on the pool,
//! the rows written by this thread in document order, while a thread beside it converts the
//! task logs pass 1 predicts will be migrated.
//!
//! Reader thread -> bounded channel of batches -> the pool transforms -> [`OrderedBatches`]
//! puts finished batches back in order -> [`Writer`] writes them (the target has one writer).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::files::Staging;
use super::logs::{convert_logs, predicted};
use super::stream::stream_dump;
use super::{Progress, ProgressSink, Run};
use crate::backup::Backup;
use crate::collections;
use crate::error::{Error, Result};
use crate::ids::{id_hash, rewrite_id};
use crate::index::Index;
use crate::layout;
use crate::merge::Merger;
use crate::parse::{Attachment, Item, RawItem};
use crate::preflight::Problem;
use crate::report::{Report, WorkerStats};
use crate::schema::{Row, Table, Value};
use crate::sink::{MergeSink, Sink};
use crate::transform::{self, Context, Output};

/// Batches being transformed (or waiting to be written) while the writer writes: the
/// transform of what comes next overlaps the writes of what came before.
const TRANSFORMS_IN_FLIGHT: u64 = 2;

/// What one worker made of its share of a batch.
#[derive(Default)]
struct Chunk {
    out: Output,
    attachments: Vec<Attachment>,
    fatal: Option<Error>,
    /// The pool thread that made it, with its documents, bytes and time, for the report.
    worker: usize,
    items: u64,
    bytes: u64,
    busy: Duration,
}

/// What pass 2 leaves for the steps after it.
pub(super) struct Written {
    /// The transform's output without its rows (problems, report, artifacts, ...).
    pub out: Output,
    /// Rows per table, written (or that would be on a dry run).
    pub tables: BTreeMap<Table, u64>,
    /// Numbers of the logs of migrated tasks: 4 bytes a task, whatever the backup.
    pub migrated_logs: Vec<u32>,
    /// What the task-log thread converted (ascending), and the time it was busy.
    pub converted: Vec<u32>,
    pub log_busy: Duration,
}

/// Runs pass 2. The report gets pass 2's rows of the per-thread table and the task-log
/// thread's counts; the rest of what happened is in the returned [`Written`].
#[allow(clippy::too_many_arguments)]
pub(super) fn pass2(
    b: &mut Backup,
    run: &mut Run<'_>,
    index: &Index,
    ctx: &Context<'_>,
    target: Target<'_, '_>,
    staging: Option<&Staging>,
) -> Result<Written> {
    let stop = AtomicBool::new(false);
    let mut writer = Writer {
        target,
        staging,
        catalog: b.handle(),
        progress: run.opts.progress.as_ref(),
        total: index.bytes,
        out: Output::default(),
        tables: BTreeMap::new(),
        migrated_logs: Vec::new(),
        transform_stats: Vec::new(),
        busy: Duration::ZERO,
    };
    let mut reader = WorkerStats::default();
    let convert_beside = run.opts.converts_logs() && !run.sequential;
    let (written, logs) = std::thread::scope(|scope| {
        // Task logs are independent entries: converted on a thread of their own while pass 2
        // runs, for the tasks pass 1 says will be migrated (reconciled with pass 2's list later).
        let logs = convert_beside.then(|| {
            let (mut lb, stop, cancel) = (b.handle(), &stop, run.cancel);
            let mut r = Report {
                backup: run.report.backup.clone(),
                ..Report::default()
            };
            scope.spawn(move || -> Result<(Report, Vec<u32>, Duration)> {
                let started = Instant::now();
                let stopped = || stop.load(Ordering::Relaxed) || cancel.is_cancelled();
                let done = convert_logs(&mut lb, &predicted(index), staging, &mut r, &stopped)?;
                Ok((r, done, started.elapsed()))
            })
        });
        let written = transform_and_write(b, run, ctx, &mut writer, &mut reader)
            .and_then(|()| writer.key_allocation(index));
        if written.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let logs = logs.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(Error::internal("the task-log thread panicked")))
        });
        (written, logs)
    });
    written?;
    let (converted, log_busy) = match logs {
        Some(r) => {
            let (r, done, busy) = r?;
            *run.report += r;
            (done, busy)
        }
        None => (Vec::new(), Duration::ZERO),
    };
    run.report.workers.push(reader);
    // Pool threads that got no chunk (a small backup) are listed too, with zeros.
    let mut transform_stats = std::mem::take(&mut writer.transform_stats);
    let pool_size = run.pool.current_num_threads().max(transform_stats.len());
    transform_stats.resize_with(pool_size, Default::default);
    for (i, mut w) in transform_stats.into_iter().enumerate() {
        w.worker = format!("transform {}", i + 1);
        run.report.workers.push(w);
    }
    run.report.workers.push(WorkerStats {
        worker: "writer".into(),
        items: writer.tables.values().sum(),
        bytes: 0,
        busy_seconds: writer.busy.as_secs_f64(),
    });
    Ok(Written {
        out: writer.out,
        tables: writer.tables,
        migrated_logs: writer.migrated_logs,
        converted,
        log_busy,
    })
}

/// The reading, transforming and writing of pass 2; `reader` gets the reader thread's figures.
fn transform_and_write(
    b: &mut Backup,
    run: &Run<'_>,
    ctx: &Context<'_>,
    writer: &mut Writer<'_, '_>,
    reader: &mut WorkerStats,
) -> Result<()> {
    let (pool, sequential, cancel) = (run.pool, run.sequential, run.cancel);
    let loc = run.loc.clone();
    pool.in_place_scope(|scope| -> Result<()> {
        let mut batches = OrderedBatches::new();
        let mut items = 0u64;
        let (summary, busy) =
            stream_dump(&mut *b, &run.loc, sequential, &|_, _| {}, &mut |batch| {
                cancel.check()?;
                items += batch.len() as u64;
                let at = batch.last().map(|r| r.pos.offset).unwrap_or(0);
                let (seq, tx) = batches.send(at, items);
                let loc = loc.clone();
                let job = move || {
                    // Every job answers, even one that panics (a bug), so the writer never waits
                    // for ever; the receiver is gone only when writing failed.
                    let outputs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        transform_batch(batch, ctx)
                    }))
                    .unwrap_or_else(|_| {
                        vec![Chunk {
                            fatal: Some(Error::internal(format!(
                                "the transform failed unexpectedly on a document of this part of \
                             the dump ({loc})"
                            ))),
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
                batches.write_until(ahead, writer)
            })?;
        *reader = WorkerStats {
            worker: "reader".into(),
            items: summary.docs + summary.attachments,
            bytes: summary.bytes,
            busy_seconds: busy.as_secs_f64(),
        };
        batches.write_until(0, writer)
    })
}

/// Parses and transforms one batch: each worker takes one contiguous chunk, so outputs merge
/// once per chunk, in document order.
fn transform_batch(batch: Vec<RawItem>, ctx: &Context<'_>) -> Vec<Chunk> {
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
                        transform::transform(doc, ctx, &mut c.out);
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
}

/// Batches handed to the pool and written back in document order: a batch that finishes
/// early waits here until every batch before it is written.
struct OrderedBatches {
    tx: Sender<(u64, Vec<Chunk>)>,
    rx: Receiver<(u64, Vec<Chunk>)>,
    /// Batches handed out, and the next one to write.
    sent: u64,
    written: u64,
    ready: BTreeMap<u64, Vec<Chunk>>,
    /// Per batch handed out and not yet written: the dump offset and the items read at its end.
    marks: VecDeque<(u64, u64)>,
}

impl OrderedBatches {
    fn new() -> OrderedBatches {
        let (tx, rx) = channel();
        OrderedBatches {
            tx,
            rx,
            sent: 0,
            written: 0,
            ready: BTreeMap::new(),
            marks: VecDeque::new(),
        }
    }

    /// Registers the next batch (read up to dump offset `at`, `items` so far): its sequence
    /// number, and where its job sends what it made.
    fn send(&mut self, at: u64, items: u64) -> (u64, Sender<(u64, Vec<Chunk>)>) {
        let seq = self.sent;
        self.sent += 1;
        self.marks.push_back((at, items));
        (seq, self.tx.clone())
    }

    /// Writes finished batches, in order, until at most `in_flight` are outstanding.
    fn write_until(&mut self, in_flight: u64, writer: &mut Writer<'_, '_>) -> Result<()> {
        while self.sent - self.written > in_flight {
            let Some(outputs) = self.ready.remove(&self.written) else {
                let (seq, o) = self
                    .rx
                    .recv()
                    .map_err(|_| Error::internal("a transform job ended without answering"))?;
                self.ready.insert(seq, o);
                continue;
            };
            let (at, items) = self.marks.pop_front().unwrap_or_default();
            self.written += 1;
            writer.absorb(outputs, at, items)?;
        }
        Ok(())
    }
}

/// Where pass 2's rows go.
pub(super) enum Target<'s, 'a> {
    /// A dry run: rows are counted, not written.
    Dry,
    /// Inserted into a target that was empty.
    Insert(&'s mut (dyn Sink + 'a)),
    /// Merged into a target that holds data, by the merger's rules.
    Merge(&'s mut (dyn MergeSink + 'a), &'s mut Merger),
}

/// The writing end of pass 2, on the migrating thread only: it owns the target.
struct Writer<'s, 'a> {
    target: Target<'s, 'a>,
    staging: Option<&'s Staging>,
    /// The backup's catalog of activity logs (a handle: no reading).
    catalog: Backup,
    progress: Option<&'s Arc<dyn ProgressSink>>,
    /// The dump's size, for progress.
    total: u64,
    out: Output,
    tables: BTreeMap<Table, u64>,
    migrated_logs: Vec<u32>,
    transform_stats: Vec<WorkerStats>,
    busy: Duration,
}

impl Writer<'_, '_> {
    /// Counts the row, and writes it while the preflight is clean (`clean`).
    fn write(&mut self, row: Row, clean: bool) -> Result<()> {
        *self.tables.entry(row.table).or_insert(0) += 1;
        match &mut self.target {
            Target::Merge(s, m) if clean => m.write(*s, row).map(|_| ()),
            Target::Insert(s) if clean => s.insert(row),
            _ => Ok(()),
        }
    }

    /// Writes one transformed batch (read up to dump offset `at`, `items` so far).
    fn absorb(&mut self, outputs: Vec<Chunk>, at: u64, items: u64) -> Result<()> {
        let started = Instant::now();
        let mut step: Result<()> = Ok(());
        for c in &outputs {
            if self.transform_stats.len() <= c.worker {
                self.transform_stats
                    .resize_with(c.worker + 1, Default::default);
            }
            let w = &mut self.transform_stats[c.worker];
            w.items += c.items;
            w.bytes += c.bytes;
            w.busy_seconds += c.busy.as_secs_f64();
            for a in &c.attachments {
                let lower = a.key.to_lowercase();
                if let (Some(st), Some(art), true) = (
                    self.staging,
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
            let catalog = &self.catalog;
            self.migrated_logs.extend(
                o.tasks
                    .drain(..)
                    .filter_map(|t| catalog.log_index_by_hash(id_hash(&t))),
            );
            self.out.merge(o);
            let clean = self.out.problems.is_empty();
            for row in rows {
                self.write(row, clean)?;
            }
        }
        if let Some(p) = self.progress {
            p.report(&Progress {
                phase: super::Phase::Migrating,
                pass: 2,
                dump_bytes: at,
                dump_total: Some(self.total),
                items,
                collections: self
                    .out
                    .report
                    .collections
                    .iter()
                    .map(|(k, v)| (k.clone(), v.migrated))
                    .collect(),
            });
        }
        self.busy += started.elapsed();
        Ok(())
    }

    /// KeyAllocation: above every migrated id number and every HiLo maximum.
    fn key_allocation(&mut self, index: &Index) -> Result<()> {
        let max_ids = std::mem::take(&mut self.out.max_ids);
        for (table, max) in &max_ids {
            let mut hilo = 0;
            for c in collections::COLLECTIONS
                .iter()
                .filter(|c| c.table == Some(*table))
            {
                let Some(&h) = index.hilo.get(&c.name.to_lowercase()) else {
                    continue;
                };
                hilo = hilo.max(h);
                if h > transform::SQL_INT_MAX as u64 {
                    // Allocated is an int: SQL Server would refuse it, SQLite take it.
                    self.out.problems.push(Problem::Unmappable {
                        doc_id: format!("Raven/Hilo/{}", c.name),
                        reason: format!(
                            "Max {h} is beyond SQL Server's int (at most {}), which \
                             KeyAllocation.Allocated holds",
                            transform::SQL_INT_MAX
                        ),
                    });
                }
            }
            let clean = self.out.problems.is_empty();
            self.write(
                Row {
                    table: Table::KeyAllocation,
                    values: vec![
                        Value::Text(table.name().to_owned()),
                        Value::Int(i64::try_from((*max).max(hilo)).unwrap_or(i64::MAX)),
                    ],
                },
                clean,
            )?;
        }
        self.out.max_ids = max_ids;
        Ok(())
    }
}
