//! The dump, read once per pass: on a thread of its own, cut into raw items, handed on in
//! batches through a bounded channel (the back-pressure that keeps memory flat).

use std::time::{Duration, Instant};

use crate::backup::Backup;
use crate::error::{Error, Location, Result};
use crate::parse::{split_export, ExportSummary, RawItem};

/// Documents per batch handed from the reader to the workers.
pub(super) const BATCH: usize = 256;
/// A batch is handed on once its documents' text reaches this, even with fewer than [`BATCH`]
/// documents: what a batch holds is bounded by bytes, not only by count (256 documents of
/// the export's usual 1-4 KB are far below it; 256 of 64 MiB would be 16 GiB).
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Batches between reader and workers: bounds memory whatever the backup's size.
const BATCHES_IN_FLIGHT: usize = 4;

/// Collects raw items into batches, full at [`BATCH`] items or [`BATCH_BYTES`] bytes.
struct Batcher {
    batch: Vec<RawItem>,
    bytes: usize,
}

impl Batcher {
    fn new() -> Batcher {
        Batcher {
            batch: Vec::with_capacity(BATCH),
            bytes: 0,
        }
    }

    /// Adds `raw`; the batch, when this made it full.
    fn push(&mut self, raw: RawItem) -> Option<Vec<RawItem>> {
        self.bytes += raw.bytes.len();
        self.batch.push(raw);
        (self.batch.len() == BATCH || self.bytes >= BATCH_BYTES).then(|| {
            self.bytes = 0;
            std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH))
        })
    }

    /// What is left at the end, if anything.
    fn rest(self) -> Option<Vec<RawItem>> {
        (!self.batch.is_empty()).then_some(self.batch)
    }
}

/// Reads the dump on a thread of its own, cut into raw items ([`split_export`]), and hands
/// batches to `consume` on this thread through a bounded channel (the back-pressure that keeps
/// memory flat). A `consume` error stops the reader; it is the error returned.
///
/// With `inline`, the reading happens on this thread between batches instead: `--threads 1`
/// keeps the whole migration on one core at a time. Also returns the time the reading took,
/// not counting waits for the consumer.
pub(super) fn stream_dump(
    b: &mut Backup,
    loc: &Location,
    inline: bool,
    progress: &dyn Fn(u64, u64),
    consume: &mut dyn FnMut(Vec<RawItem>) -> Result<()>,
) -> Result<(ExportSummary, Duration)> {
    let started = Instant::now();
    if inline {
        let dump = b.open_dump()?;
        let mut batcher = Batcher::new();
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
            if let Some(full) = batcher.push(raw) {
                hand(full)?;
            }
            Ok(())
        })?;
        if let Some(rest) = batcher.rest() {
            hand(rest)?;
        }
        return Ok((summary, started.elapsed().saturating_sub(consuming)));
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<RawItem>>(BATCHES_IN_FLIGHT);
    std::thread::scope(|scope| {
        let reader_loc = loc.clone();
        let reader = scope.spawn(move || -> Result<(ExportSummary, Duration)> {
            let dump = b.open_dump()?;
            let mut batcher = Batcher::new();
            let mut waiting = Duration::ZERO;
            let summary = split_export(dump, reader_loc, &mut |raw| {
                if let Some(full) = batcher.push(raw) {
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
            if let Some(rest) = batcher.rest() {
                let _ = tx.send(rest);
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
