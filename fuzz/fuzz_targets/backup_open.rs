//! `Backup::open` on arbitrary bytes, then the dump through `read_export` (and every activity
//! log) to the end.
//!
//! Properties:
//! * nothing panics, overflows, or reads out of bounds (libFuzzer + ASan catch those);
//! * every error is typed: `is_corrupt_backup()` (Corrupt, BackupIo, UnsupportedVersion) or
//!   `is_wrong_key()`;
//! * `Backup::open` only succeeds for a ZIP (the input holds an end-of-central-directory record)
//!   that has a `RavenDB/Raven.dump` entry;
//! * every document handed out has a non-empty id, and the summary's counts match the items.
//!
//! The key is fixed (`sample_key(FUZZ_SEED)`): the seeds in `seeds/backup_open/` are written
//! with it (`cargo run --example make_seeds`), so the fuzzer starts past the key check.
#![no_main]

use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use octo_migrate_core::internals::backup::{Backup, EntryKind};
use octo_migrate_core::MasterKey;
use octo_migrate_core::error::{Error, Location};
use octo_migrate_core::internals::parse::{read_export, Item};
use octo_migrate_sample::sample_key;

/// Seed of the fixed key; must match `examples/make_seeds.rs`.
const FUZZ_SEED: u64 = 0xF022;

fn key() -> &'static MasterKey {
    static KEY: OnceLock<MasterKey> = OnceLock::new();
    KEY.get_or_init(|| sample_key(FUZZ_SEED))
}

/// One scratch file per process (libFuzzer's -jobs/-fork run several processes).
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("octo-migrate-fuzz-{}.octobak", std::process::id()))
    })
}

fn assert_typed(stage: &str, e: &Error) {
    assert!(
        e.is_corrupt_backup() || e.is_wrong_key(),
        "{stage}: untyped error kind {:?}: {e}",
        e.kind()
    );
}

fn has_eocd(data: &[u8]) -> bool {
    data.windows(4).any(|w| w == b"PK\x05\x06")
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("write the scratch file");

    let mut backup = match Backup::open(path, key()) {
        Ok(b) => b,
        Err(e) => {
            assert_typed("Backup::open", &e);
            return;
        }
    };
    assert!(has_eocd(data), "Backup::open accepted input without a ZIP end record");
    assert!(
        backup.entries().iter().any(|e| e.kind == EntryKind::Dump),
        "Backup::open accepted a backup without a dump entry"
    );
    assert_eq!(backup.file_size(), data.len() as u64);

    let logs: Vec<String> = backup.log_task_ids();

    match backup.open_dump() {
        Err(e) => assert_typed("open_dump", &e),
        Ok(dump) => {
            let (mut docs, mut attachments) = (0u64, 0u64);
            let res = read_export(dump, Location::default(), &mut |item, _pos| {
                match item {
                    Item::Doc(d) => {
                        assert!(!d.id.trim().is_empty(), "a document with an empty id");
                        docs += 1;
                    }
                    Item::Attachment(_) => attachments += 1,
                }
                Ok(())
            });
            match res {
                Ok(s) => {
                    assert_eq!(s.docs, docs);
                    assert_eq!(s.attachments, attachments);
                }
                Err(e) => assert_typed("read_export", &e),
            }
        }
    }

    // Activity logs: decrypt + gunzip to the end. Read errors are plain io::Errors here (the
    // pipeline types them); only panics matter.
    for task in logs {
        match backup.open_activity_log(&task) {
            Ok(Some((_name, mut r))) => {
                let mut sink = Vec::new();
                let _ = r.by_ref().take(16 << 20).read_to_end(&mut sink);
            }
            Ok(None) => panic!("listed activity log {task} cannot be found"),
            Err(e) => assert_typed("open_activity_log", &e),
        }
    }
});
