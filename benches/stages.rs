//! One criterion group per pipeline stage, each on its own input, so a change to one stage shows
//! in its own figure (`read_backup.rs` measures them stacked).
//!
//! A sample backup (scale 20, seed 7, as in `read_backup.rs`) is written to memory once; every
//! stage's input is then derived from it once, before any measurement:
//!
//! | group | measured | `Throughput::Bytes` |
//! |---|---|---|
//! | `decrypt` | `MkStreamReader` over the dump entry's stored bytes | encrypted entry |
//! | `inflate` | `MultiGzDecoder` (as `backup` uses) over the decrypted GZip | GZip bytes |
//! | `parse` | `split_export` + `RawItem::parse` / `parse_for_index` | export JSON |
//! | `transform` | `transform::transform` of every document, no `--maxage` | documents' JSON |
//! | `task_log` | `task_log::convert` of 100,000 activity-log lines (1 % unparsable) | log text |
//! | `filter` | `HistoryIndex` `add` + `decide` + `keep`, `--maxage 30` | documents' JSON |
//! | `sink` | `SqliteSink` / `MemorySink`: prepare, insert every row, commit | rows' text |
//!
//! Run: `cargo bench --offline -p octo-migrate-benches --bench stages`; one group with e.g.
//! `-- sink/`. Environment: `OCTO_BENCH_SCALE` overrides the scale.

use std::hint::black_box;
use std::io::{self, Cursor, Read};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};
use flate2::bufread::MultiGzDecoder;
use octo_migrate_core::error::Location;
use octo_migrate_core::internals::collections::{self, Collection};
use octo_migrate_core::internals::crypto::{MasterKey, MkStreamReader};
use octo_migrate_core::internals::index::Index;
use octo_migrate_core::internals::maxage::{Cutoff, HistoryIndex};
use octo_migrate_core::internals::parse::{split_export, Document, Item};
use octo_migrate_core::internals::schema::parse_datetime;
use octo_migrate_core::internals::transform::{task_log, transform, Context, Output};
use octo_migrate_core::sink::{Existing, MemorySink, Row, Sink, SqliteSink};
use octo_migrate_sample::{sample_key, write_sample, SampleOptions, DUMP_ENTRY, SAMPLE_AS_OF};

const SEED: u64 = 7;

/// Every stage's input, made once.
struct Fixture {
    key: MasterKey,
    /// The dump entry as stored in the ZIP: `IV || AES-CBC(GZip(JSON))`.
    encrypted: Vec<u8>,
    gzip: Vec<u8>,
    json: Vec<u8>,
    /// Every document (system ones included) with the length of its JSON in the export.
    docs: Vec<(Document, u64)>,
    doc_bytes: u64,
    /// Pass 1's index over the whole export, without `--maxage`.
    index: Index,
    rows: Vec<Row>,
    /// Sum of the rows' values as text (`Value::to_text`; NULL counts 0).
    row_bytes: u64,
}

fn fixture() -> Fixture {
    let scale = std::env::var("OCTO_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let key = sample_key(SEED);
    let mut zip_bytes = Cursor::new(Vec::new());
    write_sample(&mut zip_bytes, &key, &SampleOptions::new(scale, SEED)).expect("write sample");

    // The writer stores MK-stream entries (ciphertext does not deflate), so reading the entry
    // through zip yields exactly the bytes `Backup` hands to `MkStreamReader`.
    let mut zip = zip::ZipArchive::new(zip_bytes).expect("sample is a ZIP");
    let mut entry = zip.by_name(DUMP_ENTRY).expect("dump entry");
    assert_eq!(entry.compression(), zip::CompressionMethod::Stored);
    let mut encrypted = Vec::new();
    entry.read_to_end(&mut encrypted).expect("read entry");
    drop(entry);

    let mut gzip = Vec::new();
    MkStreamReader::new(&encrypted[..], &key)
        .read_to_end(&mut gzip)
        .expect("decrypt");
    let mut json = Vec::new();
    MultiGzDecoder::new(&gzip[..])
        .read_to_end(&mut json)
        .expect("inflate");

    // Pass 1 as the pipeline does it (parse_for_index + Index::add), and full documents for
    // the later stages.
    let mut index = Index::new(None);
    let mut docs = Vec::new();
    split_export(&json[..], Location::default(), &mut |raw| {
        let len = raw.bytes.len() as u64;
        index.add(&raw.clone().parse_for_index()?);
        if let Item::Doc(d) = raw.parse()? {
            docs.push((d, len));
        }
        Ok(())
    })
    .expect("parse the export");
    index.finish().expect("unique ids");
    index.history.decide();
    let doc_bytes = docs.iter().map(|(_, n)| n).sum();

    let ctx = context(&index, &key);
    let mut out = Output::default();
    for (d, _) in &docs {
        transform(d.clone(), &ctx, &mut out);
    }
    assert!(
        out.problems.is_empty(),
        "sample transform problems: {:?}",
        out.problems.first()
    );
    let rows = out.rows;
    let row_bytes = rows
        .iter()
        .flat_map(|r| &r.values)
        .map(|v| v.to_text().map_or(0, |t| t.len() as u64))
        .sum();
    eprintln!(
        "stages: scale {scale}: entry {} B, gzip {} B, JSON {} B, {} docs ({doc_bytes} B), {} rows ({row_bytes} B text)",
        encrypted.len(),
        gzip.len(),
        json.len(),
        docs.len(),
        rows.len()
    );
    Fixture {
        key,
        encrypted,
        gzip,
        json,
        docs,
        doc_bytes,
        index,
        rows,
        row_bytes,
    }
}

/// `lines` activity-log lines: messages of 20 to 200 characters, some with escapes, every
/// hundredth line unparsable.
fn task_log_text(lines: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..lines {
        if i % 100 == 99 {
            out.extend_from_slice(b"    at Octopus.Shared.Something.Else(String arg)\r\n");
            continue;
        }
        let words =
            "Deploying package Acme.Web 1.2.3 to C:\\\\Octopus\\\\Applications \\\"Prod\\\"\\n";
        let msg = &words.repeat(3)[..20 + (i * 37) % 180];
        let msg = msg.trim_end_matches('\\');
        out.extend_from_slice(
            format!(
                "servertasks-1/{:08x}|2015-06-01T10:{:02}:{:02}.{:07}+10:00|{}|users-1|\"{msg}\"\r\n",
                i * 7919,
                (i / 60) % 60,
                i % 60,
                i * 13 % 10_000_000,
                [100, 200, 200, 200, 300][i % 5],
            )
            .as_bytes(),
        );
    }
    out
}

/// The pipeline's context for a dry run of the sample (its FTP step skipped, same key).
fn context<'a>(index: &'a Index, key: &'a MasterKey) -> Context<'a> {
    Context {
        index,
        source_key: key,
        target_key: key,
        skip_unsupported_steps: true,
    }
}

/// Short, few-sample groups: every iteration is 10-100 ms at scale 20.
fn group<'a>(c: &'a mut Criterion, name: &str, bytes: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(bytes));
    g
}

fn stages(c: &mut Criterion) {
    let fx = fixture();

    let mut g = group(c, "decrypt", fx.encrypted.len() as u64);
    g.bench_function("mk_stream", |b| {
        b.iter(|| {
            let mut r = MkStreamReader::new(black_box(&fx.encrypted[..]), &fx.key);
            io::copy(&mut r, &mut io::sink()).expect("decrypt")
        })
    });
    g.finish();

    let mut g = group(c, "inflate", fx.gzip.len() as u64);
    g.bench_function("multi_gz", |b| {
        b.iter(|| {
            io::copy(
                &mut MultiGzDecoder::new(black_box(&fx.gzip[..])),
                &mut io::sink(),
            )
        })
    });
    g.finish();

    // Pass 2 parses whole documents, pass 1 only the fields the index needs.
    let mut g = group(c, "parse", fx.json.len() as u64);
    for (name, index_only) in [("split_parse", false), ("split_parse_for_index", true)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                split_export(black_box(&fx.json[..]), Location::default(), &mut |raw| {
                    let item = if index_only {
                        raw.parse_for_index()
                    } else {
                        raw.parse()
                    };
                    black_box(item?);
                    Ok(())
                })
                .expect("parse")
            })
        });
    }
    g.finish();

    // The documents are consumed, so each iteration gets a fresh clone (untimed).
    let mut g = group(c, "transform", fx.doc_bytes);
    let ctx = context(&fx.index, &fx.key);
    g.bench_function("all_documents", |b| {
        b.iter_batched(
            || fx.docs.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
            |docs| {
                let mut out = Output::default();
                for d in docs {
                    transform(d, &ctx, &mut out);
                }
                out
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // Task logs: 100,000 lines as 2.6 writes them (one in a hundred unparsable), converted
    // to the 3.x format into nothing.
    let log = task_log_text(100_000);
    let first = task_log::convert(&log[..], io::sink(), "ServerTasks-1", None).expect("convert");
    eprintln!(
        "task_log: {} lines, {} of them unparsable",
        first.lines, first.unparsable
    );
    let mut g = group(c, "task_log", log.len() as u64);
    g.bench_function("convert", |b| {
        b.iter(|| {
            task_log::convert(black_box(&log[..]), io::sink(), "ServerTasks-1", None)
                .expect("convert")
                .lines
        })
    });
    g.finish();

    // `--maxage 30 --as-of <sample's now>`: the cut falls inside the two years of history.
    // System documents have no collection and never reach the filter.
    let cutoff = Cutoff::new(30, parse_datetime(SAMPLE_AS_OF).expect("as-of date"));
    let mut known_bytes = 0;
    let known: Vec<(&'static Collection, &Document)> = fx
        .docs
        .iter()
        .filter_map(|(d, n)| {
            let c = collections::by_name(d.collection.as_deref()?)?;
            known_bytes += n;
            Some((c, d))
        })
        .collect();
    let filter = || {
        let mut h = HistoryIndex::new(Some(cutoff));
        for (c, d) in &known {
            h.add(c.name, &d.id, &d.body);
        }
        h.decide();
        known
            .iter()
            .filter(|(c, d)| h.keep(c.name, c.kind, &d.id, &d.body))
            .count()
    };
    let kept = filter();
    assert!(
        kept < known.len(),
        "--maxage 30 drops nothing: the cutoff is outside the history"
    );
    eprintln!("filter: keeps {kept} of {} documents", known.len());
    let mut g = group(c, "filter", known_bytes);
    g.bench_function("maxage_30", |b| b.iter(filter));
    g.finish();

    // SQLite: a new file per iteration (the sink refuses a non-empty target); the schema
    // creation, the inserts and the fsyncs of the commit are all timed, as in a migration.
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("octopus3.db");
    let mut g = group(c, "sink", fx.row_bytes);
    g.bench_function("sqlite", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_file(&db);
                (SqliteSink::new(&db), fx.rows.clone())
            },
            |(mut sink, rows)| {
                insert_all(&mut sink, rows);
                sink
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("memory", |b| {
        b.iter_batched(
            || (MemorySink::new(), fx.rows.clone()),
            |(mut sink, rows)| {
                insert_all(&mut sink, rows);
                sink
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn insert_all(sink: &mut dyn Sink, rows: Vec<Row>) {
    sink.prepare(Existing::Refuse).expect("prepare");
    for row in rows {
        sink.insert(row).expect("insert");
    }
    sink.commit().expect("commit");
}

criterion_group!(benches, stages);
criterion_main!(benches);
