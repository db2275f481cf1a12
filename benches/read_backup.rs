//! Reading a backup end to end.
//!
//! A sample backup (scale 20, ~4.5 MB, ~10 000 documents) is generated once into the temporary
//! directory, then two groups are measured:
//!
//! * `read_backup/open_decrypt_gunzip_parse`: `Backup::open` (ZIP directory, `Backup.json`, key
//!   check) + MK-stream decryption + GZip + streaming Smuggler parse of every document and
//!   attachment. Throughput is the *decompressed* dump size, so the figure is "JSON parsed per
//!   second".
//! * `read_backup/migrate_dry_run`: the full dry-run `migrate` (both passes, transforms, task
//!   logs), with unsupported steps skipped. Throughput is the backup *file* size.
//!
//! Run: `cargo bench -p octo-migrate-benches --offline` (add `-- --quick` for a fast check).
//! Environment: `OCTO_BENCH_SCALE` overrides the sample scale (default 20).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use octo_migrate_core::error::Location;
use octo_migrate_core::internals::backup::Backup;
use octo_migrate_core::internals::parse::{read_export, ExportSummary, Item};
use octo_migrate_core::MasterKey;
use octo_migrate_core::Migration;
use octo_migrate_sample::{sample_key, write_sample_file, SampleOptions};

const SEED: u64 = 7;
const DEFAULT_SCALE: u32 = 20;

/// The generated backup; the file is removed when this is dropped.
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    key: MasterKey,
    file_bytes: u64,
    /// Documents (system documents included) and attachments `read_export` hands out.
    expected: ExportSummary,
}

fn scale() -> u32 {
    std::env::var("OCTO_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SCALE)
}

/// Opens, decrypts, decompresses and parses the dump, counting documents.
fn read_all(path: &Path, key: &MasterKey) -> ExportSummary {
    let mut backup = Backup::open(path, key).expect("open the sample backup");
    let dump = backup.open_dump().expect("open the dump");
    let mut docs = 0u64;
    let summary = read_export(dump, Location::default(), &mut |item, _pos| {
        if let Item::Doc(d) = item {
            black_box(&d);
            docs += 1;
        }
        Ok(())
    })
    .expect("parse the dump");
    assert_eq!(docs, summary.docs);
    summary
}

fn fixture() -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("octo-migrate-bench-")
        .tempdir_in(std::env::temp_dir())
        .expect("temp dir");
    let path = dir.path().join("sample.octobak");
    let key = sample_key(SEED);
    let opts = SampleOptions::new(scale(), SEED);
    let sample = write_sample_file(&path, &key, &opts).expect("write the sample backup");
    let expected = read_all(&path, &key);
    // The parser hands out the collections' documents plus the RavenDB system documents.
    assert_eq!(
        expected.docs,
        sample.total_documents() + sample.system_documents,
        "the parser and the generator disagree on the document count"
    );
    assert_eq!(expected.attachments, sample.attachments);
    eprintln!(
        "sample: scale {}, {} bytes on disk, {} bytes of JSON dump, {} documents, {} attachments",
        opts.scale, sample.bytes, expected.bytes, expected.docs, expected.attachments
    );
    Fixture {
        _dir: dir,
        path,
        key,
        file_bytes: sample.bytes,
        expected,
    }
}

fn bench_read_backup(c: &mut Criterion) {
    let fx = fixture();
    let mut g = c.benchmark_group("read_backup");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));

    g.throughput(Throughput::Bytes(fx.expected.bytes));
    g.bench_function("open_decrypt_gunzip_parse", |b| {
        b.iter(|| {
            let s = read_all(black_box(&fx.path), &fx.key);
            assert_eq!(s.docs, fx.expected.docs);
            s
        })
    });

    g.throughput(Throughput::Bytes(fx.file_bytes));
    g.bench_function("migrate_dry_run", |b| {
        b.iter(|| {
            Migration::new(black_box(&fx.path), &fx.key)
                .skip_unsupported_steps(true)
                .dry_run()
                .expect("dry run")
        })
    });
    g.finish();
}

criterion_group!(benches, bench_read_backup);
criterion_main!(benches);
