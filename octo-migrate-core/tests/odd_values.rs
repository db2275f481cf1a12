//! Odd values and odd situations of the issue "Nothing lost, whatever happens": each test is
//! named after the finding it covers, and failed before the finding was fixed.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use octo_migrate_core::internals::maxage::Cutoff;
use octo_migrate_core::{MasterKey, Migration};
use octo_migrate_sample::{BackupWriter, DumpOptions, EntryForm};
use serde_json::{json, Value as Json};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name)
}

fn sample_key() -> MasterKey {
    MasterKey::parse(&std::fs::read_to_string(testdata("sample.octobak.key")).unwrap()).unwrap()
}

fn key() -> MasterKey {
    MasterKey::from_bytes([5u8; 16])
}

fn doc(coll: &str, id: &str, mut body: Json) -> Json {
    body["@metadata"] = json!({"@id": id, "Raven-Entity-Name": coll});
    body
}

/// A backup of `docs`, `attachments` (key, bytes) and activity logs (task id, text).
fn write_backup(
    path: &Path,
    key: &MasterKey,
    docs: &[Json],
    attachments: &[(&str, &[u8])],
    logs: &[(&str, &str)],
) {
    let mut w = BackupWriter::new(Cursor::new(Vec::new()), key, EntryForm::MkStream);
    w.write_backup_json("2.6.5.1010", "2015-06-30T10:11:12+00:00")
        .unwrap();
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    for doc in docs {
        d.write_doc(doc).unwrap();
    }
    for (k, data) in attachments {
        d.write_attachment(k, &json!({}), data).unwrap();
    }
    d.finish().unwrap();
    for (task, text) in logs {
        w.write_activity_log(task, text.as_bytes(), true).unwrap();
    }
    std::fs::write(path, w.finish().unwrap().into_inner()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// 16a. --maxage with a huge day count
// ---------------------------------------------------------------------------------------------

#[test]
fn finding_16_huge_maxage_is_a_usage_error_not_a_panic() {
    let as_of = chrono::DateTime::parse_from_rfc3339("2015-06-30T10:11:12+10:00").unwrap();
    // A cut-off before the earliest date chrono represents keeps everything.
    let cut = Cutoff::new(100_000_000, as_of);
    assert!(cut.0 < as_of);
    let cut = Cutoff::new(u32::MAX, as_of);
    assert!(cut.0 < as_of);
    let ordinary = Cutoff::new(30, as_of);
    assert_eq!(ordinary.0, as_of - chrono::Duration::days(30));

    let all = Migration::new(testdata("sample.octobak"), &sample_key())
        .skip_unsupported_steps(true)
        .dry_run()
        .unwrap();
    let huge = Migration::new(testdata("sample.octobak"), &sample_key())
        .skip_unsupported_steps(true)
        .max_age_days(100_000_000)
        .dry_run()
        .unwrap();
    assert_eq!(huge.tables, all.tables, "a huge --maxage keeps everything");
}
