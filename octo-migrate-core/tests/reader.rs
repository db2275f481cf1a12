//! The container and the dump reader on damaged and unusual input: typed errors, never a panic
//! or a hang, never a write.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use octo_migrate_core::error::ErrorKind;
use octo_migrate_core::internals::backup::Backup;
use octo_migrate_core::internals::parse::read_export;
use octo_migrate_core::sink::SqliteSink;
use octo_migrate_core::MasterKey;
use octo_migrate_core::Migration;
use octo_migrate_sample::{self as sample, BackupWriter, DumpOptions, EntryForm, SampleOptions};
use serde_json::json;

/// Reads everything a migration reads: the dump to its end and every activity log.
fn read_all(path: &Path, key: &MasterKey) -> octo_migrate_core::Result<u64> {
    let mut b = Backup::open(path, key)?;
    let loc = octo_migrate_core::error::Location::default();
    let n = read_export(b.open_dump()?, loc, &mut |_, _| Ok(()))?.docs;
    let tasks: Vec<String> = b.log_task_ids();
    for t in tasks {
        if let Some((name, mut r)) = b.open_activity_log(&t)? {
            let mut sink = Vec::new();
            r.read_to_end(&mut sink).map_err(|e| {
                octo_migrate_core::Error::from(ErrorKind::Corrupt {
                    at: octo_migrate_core::error::Location {
                        entry: Some(name),
                        ..Default::default()
                    },
                    reason: e.to_string(),
                })
            })?;
        }
    }
    Ok(n)
}

fn small_backup(
    version: Option<&str>,
    docs: &[serde_json::Value],
    form: EntryForm,
) -> (tempfile::TempDir, PathBuf, MasterKey) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.octobak");
    let key = MasterKey::generate();
    let mut w = BackupWriter::new(Cursor::new(Vec::new()), &key, form);
    if let Some(v) = version {
        w.write_backup_json(v, "2015-06-30T10:11:12+00:00").unwrap();
    }
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    for doc in docs {
        d.write_doc(doc).unwrap();
    }
    d.finish().unwrap();
    std::fs::write(&path, w.finish().unwrap().into_inner()).unwrap();
    (dir, path, key)
}

fn project(id: &str) -> serde_json::Value {
    json!({"Name": id, "@metadata": {"@id": id, "Raven-Entity-Name": "Projects"}})
}

#[test]
fn both_entry_forms_read_the_same_documents() {
    for form in [EntryForm::MkStream, EntryForm::WinZipAes] {
        let (_d, path, key) = small_backup(
            Some("2.6.5.1010"),
            &[project("projects-1"), project("projects-2")],
            form,
        );
        assert_eq!(read_all(&path, &key).unwrap(), 2, "{form:?}");
        let e = Backup::open(&path, &MasterKey::generate()).unwrap_err();
        assert!(e.is_wrong_key(), "{form:?}: {e}");
    }
}

#[test]
fn a_2_5_backup_is_refused_with_the_upgrade_advice() {
    let (_d, path, key) = small_backup(
        Some("2.5.11.614"),
        &[project("projects-1")],
        EntryForm::MkStream,
    );
    let e = Backup::open(&path, &key).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::UnsupportedVersion { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("2.6.5"));
    // The version is checked before the key: a wrong key gets the same answer.
    let e = Backup::open(&path, &MasterKey::generate()).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::UnsupportedVersion { .. }),
        "{e}"
    );
}

#[test]
fn a_backup_without_a_dump_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.octobak");
    let key = MasterKey::generate();
    let mut w = BackupWriter::new(Cursor::new(Vec::new()), &key, EntryForm::MkStream);
    w.write_master_key_check().unwrap();
    std::fs::write(&path, w.finish().unwrap().into_inner()).unwrap();
    let e = Backup::open(&path, &key).unwrap_err();
    assert!(e.is_corrupt_backup(), "{e}");
    assert!(e.to_string().contains("Raven.dump"));
}

#[test]
fn duplicate_ids_and_documents_without_metadata_are_corrupt_and_write_nothing() {
    let cases = [
        vec![project("projects-1"), project("Projects-1")],
        vec![project("projects-1"), json!({"Name": "x"})],
    ];
    for docs in cases {
        let (dir, path, key) = small_backup(None, &docs, EntryForm::MkStream);
        let db = dir.path().join("o.db");
        let mut sink = SqliteSink::new(&db);
        let e = Migration::new(&path, &key).run(&mut sink).unwrap_err();
        assert!(e.is_corrupt_backup(), "{e}");
        assert!(e.location().and_then(|l| l.doc_index).is_some(), "{e}");
        assert!(!db.exists());
    }
}

#[test]
fn truncated_and_bit_flipped_backups_fail_typed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.octobak");
    let key = sample::sample_key(2);
    sample::write_sample_file(&path, &key, &SampleOptions::new(1, 2)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.octobak");
    // Cut at many points, including inside the dump and inside the central directory.
    let n = bytes.len();
    for at in (0..n).step_by(n / 23).chain([n - 1, n - 22, 30, 100]) {
        std::fs::write(&cut, &bytes[..at]).unwrap();
        let e = read_all(&cut, &key).unwrap_err();
        assert!(
            e.is_corrupt_backup() || e.is_wrong_key(),
            "cut at {at}: {e}"
        );
    }
    // Flip one bit in many places: either still readable (a flip in slack) or a typed error.
    for at in (0..n).step_by(n / 41) {
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        std::fs::write(&cut, &b).unwrap();
        if let Err(e) = read_all(&cut, &key) {
            assert!(
                e.is_corrupt_backup() || e.is_wrong_key(),
                "flip at {at}: {e}"
            );
        }
    }
}

/// fuzz/regressions/backup_open/hang-mk-stream-partial-block.octobak: an activity log whose
/// ciphertext ended inside a block used to make the reader loop forever.
#[test]
fn fuzz_regression_partial_block_log_is_corrupt_not_a_hang() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions/backup_open/hang-mk-stream-partial-block.octobak");
    let key = sample::sample_key(0xF022);
    let e = read_all(&path, &key).unwrap_err();
    assert!(e.is_corrupt_backup() || e.is_wrong_key(), "{e}");
}

#[test]
fn a_dump_with_a_byte_order_mark_reads_gzipped_or_plain() {
    for gzip in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.octobak");
        let key = MasterKey::generate();
        let mut w = BackupWriter::new(Cursor::new(Vec::new()), &key, EntryForm::MkStream);
        let json = format!(
            "\u{feff}  {{\"Docs\":[{}]}}",
            serde_json::to_string(&project("projects-1")).unwrap()
        );
        w.write_entry("RavenDB\\Raven.dump", json.as_bytes(), gzip)
            .unwrap();
        std::fs::write(&path, w.finish().unwrap().into_inner()).unwrap();
        // No MasterKeyCheck.txt: the key is checked on the dump's first and last blocks.
        assert_eq!(read_all(&path, &key).unwrap(), 1, "gzip {gzip}");
        assert!(Backup::open(&path, &MasterKey::generate())
            .unwrap_err()
            .is_wrong_key());
    }
}

/// Every activity log's task id and content, in file order.
fn all_logs(path: &Path, key: &MasterKey) -> octo_migrate_core::Result<Vec<(String, Vec<u8>)>> {
    let mut b = Backup::open(path, key)?;
    let mut out = Vec::new();
    for t in b.log_task_ids() {
        let (_, mut r) = b.open_activity_log(&t)?.expect("listed, so present");
        let mut text = Vec::new();
        r.read_to_end(&mut text).unwrap();
        out.push((t, text));
    }
    Ok(out)
}

#[test]
fn a_backup_behind_a_stub_reads_the_same() {
    // A self-extracting archive has bytes before the ZIP: every offset the archive states is
    // then short by their length.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.octobak");
    let key = sample::sample_key(4);
    sample::write_sample_file(&path, &key, &SampleOptions::new(1, 4)).unwrap();
    let stubbed = dir.path().join("stub.octobak");
    let mut bytes = vec![0x4Du8; 4099];
    bytes.extend(std::fs::read(&path).unwrap());
    std::fs::write(&stubbed, bytes).unwrap();
    assert_eq!(
        read_all(&path, &key).unwrap(),
        read_all(&stubbed, &key).unwrap()
    );
    let (a, b) = (
        all_logs(&path, &key).unwrap(),
        all_logs(&stubbed, &key).unwrap(),
    );
    assert!(a.len() > 10);
    assert_eq!(a, b);
}

#[test]
fn a_local_header_naming_another_log_than_the_directory_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.octobak");
    let key = sample::sample_key(6);
    sample::write_sample_file(&path, &key, &SampleOptions::new(1, 6)).unwrap();
    let logs = all_logs(&path, &key).unwrap();
    let task = &logs[3].0;
    // The name appears twice: in the local header, then in the directory. Change the first.
    let mut bytes = std::fs::read(&path).unwrap();
    let needle = task.as_bytes();
    let at = bytes
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .unwrap();
    let last = at + needle.len() - 1;
    bytes[last] = if bytes[last] == b'9' { b'8' } else { b'9' };
    let bad = dir.path().join("bad.octobak");
    std::fs::write(&bad, bytes).unwrap();
    let e = all_logs(&bad, &key).unwrap_err();
    assert!(e.is_corrupt_backup(), "{e}");
    assert!(e.to_string().contains("names another entry"), "{e}");
}

#[test]
fn pass_1_reads_the_same_index_properties_as_the_full_parse() {
    use octo_migrate_core::internals::parse::{split_export, Item, INDEX_PROPERTIES};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.octobak");
    let key = sample::sample_key(8);
    sample::write_sample_file(&path, &key, &SampleOptions::new(2, 8)).unwrap();
    let mut b = Backup::open(&path, &key).unwrap();
    let (mut docs, mut with_props) = (0, 0);
    split_export(
        b.open_dump().unwrap(),
        octo_migrate_core::error::Location::default(),
        &mut |raw| {
            let (Item::Doc(full), Item::Doc(fast)) = (raw.clone().parse()?, raw.parse_for_index()?)
            else {
                return Ok(());
            };
            docs += 1;
            assert_eq!((&fast.id, &fast.collection), (&full.id, &full.collection));
            let mut any = false;
            for k in INDEX_PROPERTIES {
                let want = full.body.get(k).filter(|v| !v.is_null());
                any |= want.is_some();
                assert_eq!(fast.body.get(k), want, "{} {k}", full.id);
            }
            with_props += u64::from(any);
            assert!(fast.body.keys().all(|k| INDEX_PROPERTIES.contains(&k)));
            Ok(())
        },
    )
    .unwrap();
    assert!(docs > 1000 && with_props > docs / 2, "{docs} {with_props}");
}

#[test]
fn pass_1_falls_back_to_the_full_parse_on_what_its_fast_path_does_not_read() {
    use octo_migrate_core::internals::parse::{split_export, Item};
    // An escaped key, brackets that do not pair up where pass 1 does not look, and a bad
    // literal there (the one thing the fast path lets through: pass 2 finds it).
    let text = br#"{"Docs":[
        {"N\u0061me":"Web","@metadata":{"@id":"projects-1","Raven-Entity-Name":"Projects"}},
        {"Name":"Ops","Junk":[1,2},"@metadata":{"@id":"projects-2","Raven-Entity-Name":"Projects"}},
        {"Name":"Dev","Junk":[1,tru],"@metadata":{"@id":"projects-3","Raven-Entity-Name":"Projects"}}
    ]}"#;
    let mut got = Vec::new();
    split_export(
        &text[..],
        octo_migrate_core::error::Location::default(),
        &mut |raw| {
            got.push((raw.clone().parse_for_index(), raw.parse()));
            Ok(())
        },
    )
    .unwrap();
    match &got[0].0 {
        Ok(Item::Doc(d)) => assert_eq!(d.body.get("Name"), Some(&json!("Web"))),
        other => panic!("{other:?}"),
    }
    for (i, (pass_1, full)) in got.iter().enumerate().skip(1) {
        let e = full.as_ref().unwrap_err();
        assert!(e.is_corrupt_backup(), "{e}");
        // Unpaired brackets are refused by pass 1 too; a bad literal only by the full parse.
        assert_eq!(pass_1.is_ok(), i == 2, "document {i}");
        if let Err(e) = pass_1 {
            assert!(e.is_corrupt_backup(), "{e}");
        }
    }
}

/// Issue "Nothing lost, whatever happens", finding 1: a backup without `MasterKeyCheck.txt`
/// whose dump is deflated in the ZIP (as a zip tool re-packing it may do) was refused with the
/// right key ("not a whole number of AES blocks": the block check ran on the compressed size),
/// and a wrong key was reported as a corrupt backup.
#[test]
fn finding_01_deflated_dump_without_key_check_opens_with_the_right_key() {
    for (seed, gzip) in [(11u64, true), (12, false)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.octobak");
        // A fixed key and IVs: the same bytes on every run.
        let key = sample::sample_key(seed);
        let mut w =
            BackupWriter::with_seed(Cursor::new(Vec::new()), &key, EntryForm::MkStream, seed);
        w.deflate_mk_streams(true);
        w.write_backup_json("2.6.5.1010", "2015-06-30T10:11:12+00:00")
            .unwrap();
        let mut d = w
            .start_dump(&DumpOptions {
                gzip,
                ..DumpOptions::default()
            })
            .unwrap();
        for i in 1..=3 {
            d.write_doc(&project(&format!("projects-{i}"))).unwrap();
        }
        d.finish().unwrap();
        w.write_activity_log("ServerTasks-1", b"a log line\n", true)
            .unwrap();
        std::fs::write(&path, w.finish().unwrap().into_inner()).unwrap();

        assert_eq!(read_all(&path, &key).unwrap(), 3, "gzip {gzip}");
        for other in [MasterKey::generate(), sample::sample_key(seed + 100)] {
            let e = Backup::open(&path, &other).unwrap_err();
            assert!(e.is_wrong_key(), "gzip {gzip}: {e}");
        }
    }
}

/// A backup with a key check, a dump of one project, three activity logs and `extra` entries
/// written as they come (name, plain content): encrypted, or plain when the name ends in `.txt`.
fn backup_with(extra: &[(&str, &[u8])]) -> (Vec<u8>, MasterKey) {
    let key = sample::sample_key(14);
    let mut w = BackupWriter::with_seed(Cursor::new(Vec::new()), &key, EntryForm::MkStream, 14);
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    d.write_doc(&project("projects-1")).unwrap();
    d.finish().unwrap();
    for t in ["ServerTasks-1", "ServerTasks-2", "ServerTasks-3"] {
        let line = format!("{t}/a|2015-06-01T10:00:00+00:00|200||\"hello\"\n");
        w.write_activity_log(t, line.repeat(50).as_bytes(), true)
            .unwrap();
    }
    for (name, data) in extra {
        if name.ends_with(".txt") {
            w.write_plain_entry(name, data).unwrap();
        } else {
            w.write_entry(name, data, false).unwrap();
        }
    }
    (w.finish().unwrap().into_inner(), key)
}

/// Opens `bytes` as a backup; the error when it fails.
fn open_bytes(bytes: &[u8], key: &MasterKey) -> Option<octo_migrate_core::Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.octobak");
    std::fs::write(&path, bytes).unwrap();
    read_all(&path, key).err()
}

/// Issue "Nothing lost, whatever happens", finding 14: a central directory that repeats one
/// record N times converted the same activity log N times; two dump entries were accepted and
/// the last used. Duplicate names (as entries are matched: case ignored, `\` as `/`; for logs,
/// one task), records sharing or overlapping local data: all a corrupt backup naming the entry,
/// found while the directory is read.
#[test]
fn finding_14_duplicate_and_overlapping_directory_entries_are_corrupt() {
    use sample::{edit_directory, DirectoryRecord};
    let (good, key) = backup_with(&[]);
    assert!(
        open_bytes(&good, &key).is_none(),
        "the unedited backup reads"
    );
    let find = |recs: &[DirectoryRecord], name: &str| -> DirectoryRecord {
        recs.iter().find(|r| r.name() == name).unwrap().clone()
    };
    let log = "ActivityLogs/ServerTasks-2.log";
    let dump = "RavenDB/Raven.dump";
    let mut cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "one log's record 200 times",
            edit_directory(&good, |r| {
                let l = find(r, log);
                r.extend(std::iter::repeat_n(l, 199));
            })
            .unwrap(),
            log,
            "more than once",
        ),
        (
            "the dump's record twice",
            edit_directory(&good, |r| {
                let d = find(r, dump);
                r.push(d);
            })
            .unwrap(),
            dump,
            "more than once",
        ),
        (
            "a second record at the dump's local header",
            edit_directory(&good, |r| {
                let d = find(r, dump).renamed("Other.bin");
                r.push(d);
            })
            .unwrap(),
            dump,
            "same local header",
        ),
        (
            "a record inside the dump's data",
            edit_directory(&good, |r| {
                let d = find(r, dump);
                let inside = d.renamed("ActivityLogs/ServerTasks-9.log");
                r.push(inside.at_local_header(d.local_header() + 40));
            })
            .unwrap(),
            dump,
            "inside this entry",
        ),
    ];
    let plain: &[u8] = b"{\"Docs\":[]}";
    for (what, extra, entry, says) in [
        (
            "a second dump, in another case with `\\`",
            vec![("ravendb\\RAVEN.DUMP", plain)],
            dump,
            "same entry",
        ),
        (
            "a second log of one task, in another case",
            vec![("activitylogs/servertasks-2.log", plain)],
            log,
            "also the activity log of task ServerTasks-2",
        ),
        (
            "a second log of one task, its number spelt otherwise",
            vec![("ActivityLogs/ServerTasks-002.log", plain)],
            log,
            "also the activity log of task ServerTasks-2",
        ),
        (
            "the key check twice",
            vec![("/MasterKeyCheck.TXT", b"Hello, Octopus".as_slice())],
            "MasterKeyCheck.txt",
            "same entry",
        ),
        (
            "an unknown entry twice",
            vec![("Notes.txt", plain), ("./notes.TXT", plain)],
            "Notes.txt",
            "same entry",
        ),
    ] {
        cases.push((what, backup_with(&extra).0, entry, says));
    }
    for (what, bytes, entry, says) in cases {
        let started = std::time::Instant::now();
        let e = open_bytes(&bytes, &key).unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(e.is_corrupt_backup(), "{what}: {e}");
        let at = e.location().and_then(|l| l.entry.clone());
        assert_eq!(at.as_deref(), Some(entry), "{what}: {e}");
        assert!(e.to_string().contains(says), "{what}: {e}");
        assert!(started.elapsed().as_secs() < 10, "{what}: slow");
    }
}

/// Issue "Nothing lost, whatever happens", finding 16b: every unknown entry was listed in the
/// report (1,000,000 of them made a 58 MB report). The report and `inspect` count them all and
/// list the first few only; the printed report says how many more there are.
#[test]
fn finding_16b_unknown_entries_are_counted_all_and_listed_up_to_a_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.octobak");
    let key = sample::sample_key(16);
    let mut w = BackupWriter::with_seed(Cursor::new(Vec::new()), &key, EntryForm::MkStream, 16);
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    d.write_doc(&project("projects-1")).unwrap();
    d.finish().unwrap();
    for i in 0..1000 {
        w.write_plain_entry(&format!("extra/{i}.bin"), b"abc")
            .unwrap();
    }
    std::fs::write(&path, w.finish().unwrap().into_inner()).unwrap();

    let report = Migration::new(&path, &key).dry_run().unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let listed = json["unknown_entries"].as_array().unwrap();
    assert!(
        !listed.is_empty() && listed.len() <= 100,
        "{}",
        listed.len()
    );
    assert_eq!(listed[0], json!({"name": "extra/0.bin", "size": 3}));
    assert_eq!(json["unknown_entry_count"], 1000);
    let more = 1000 - listed.len();
    let text = report.to_string();
    assert!(
        text.contains(&format!("and {more} more")),
        "the printed report: {text}"
    );

    let as_of = chrono::DateTime::parse_from_rfc3339("2015-06-30T00:00:00+00:00").unwrap();
    let i = octo_migrate_core::inspect::inspect(&path, &key, as_of).unwrap();
    let json = serde_json::to_value(&i).unwrap();
    let entries = json["entries"].as_array().unwrap();
    assert!(entries.len() <= 102, "{}", entries.len());
    assert!(entries.iter().any(|e| e["name"] == "RavenDB/Raven.dump"));
    assert!(entries.iter().any(|e| e["name"] == "MasterKeyCheck.txt"));
    assert_eq!(json["entry_count"], 1002);
}
