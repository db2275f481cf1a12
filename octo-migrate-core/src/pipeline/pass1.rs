//! Pass 1: the dump read once for the index (ids, names, dates, what `--maxage` keeps), so that
//! the order of documents in the dump does not matter to pass 2.

use std::collections::HashSet;
use std::time::Instant;

use super::stream::stream_dump;
use super::{Progress, Run};
use crate::backup::Backup;
use crate::error::{Error, Location, Result};
use crate::ids::id_hash;
use crate::index::Index;
use crate::parse::{split_export, Item};

/// Reads the dump into pass 1's index; fills the report's pass-1 figures.
pub(super) fn index(b: &mut Backup, run: &mut Run<'_>) -> Result<Index> {
    let started = Instant::now();
    let opts = run.opts;
    let mut index = Index::new(opts.maxage);
    index.merge_keys = opts.merge != super::Merge::Refuse && run.writes;
    let tell = |bytes: u64, items: u64| {
        if let Some(p) = &opts.progress {
            p.report(&Progress {
                phase: super::Phase::Indexing,
                pass: 1,
                dump_bytes: bytes,
                dump_total: None,
                items,
                collections: Vec::new(),
            });
        }
    };
    let pool = run.pool;
    let (summary, _) = stream_dump(&mut *b, &run.loc, run.sequential, &tell, &mut |batch| {
        run.cancel.check()?;
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
    if let Err(dups) = index.finish() {
        return Err(locate_duplicate(b, &run.loc, &dups));
    }
    run.report.dump_bytes = index.bytes;
    run.report.index_seconds = started.elapsed().as_secs_f64();
    index.history.decide();
    Ok(index)
}

/// Pass 1 keeps only hashes of ids, so a duplicate id is found after it; this re-reads the
/// dump (an error path only) to name the document and where its second copy is.
pub(super) fn locate_duplicate(b: &mut Backup, loc: &Location, dups: &[u64]) -> Error {
    let wanted: HashSet<u64> = dups.iter().copied().collect();
    let mut seen = HashSet::new();
    let found = b.open_dump().and_then(|dump| {
        split_export(dump, loc.clone(), &mut |raw| {
            let pos = raw.pos;
            if let Item::Doc(d) = raw.parse_for_index()? {
                let h = id_hash(&d.id);
                if wanted.contains(&h) && !seen.insert(h) {
                    return Err(Error::corrupt(
                        Location {
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
