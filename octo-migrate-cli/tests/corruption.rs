//! The corruption suite: damaged and hostile backups, each run through the binary. Every case
//! ends with the exit code docs/cli.md gives it and a message on stderr, never a panic, never a row
//! or a file in the target.

use std::io::Cursor;
use std::path::PathBuf;
use std::process::Command;

use octo_migrate_core::MasterKey;
use octo_migrate_sample::{self as sample, BackupWriter, DumpOptions, EntryForm, SampleOptions};

fn sample_bytes() -> (Vec<u8>, MasterKey) {
    let key = sample::sample_key(1);
    let mut c = Cursor::new(Vec::new());
    sample::write_sample(&mut c, &key, &SampleOptions::new(1, 1)).unwrap();
    (c.into_inner(), key)
}

/// A backup whose dump entry holds `dump` (plain bytes, MK-stream encrypted as Octopus does).
fn with_dump(dump: &[u8], version: Option<&str>) -> (Vec<u8>, MasterKey) {
    let key = MasterKey::generate();
    let mut w = BackupWriter::new(Cursor::new(Vec::new()), &key, EntryForm::MkStream);
    if let Some(v) = version {
        w.write_backup_json(v, "2015-06-30T10:11:12+00:00").unwrap();
    }
    w.write_master_key_check().unwrap();
    w.write_entry("RavenDB/Raven.dump", dump, false).unwrap();
    (w.finish().unwrap().into_inner(), key)
}

fn with_docs(docs: &[serde_json::Value]) -> (Vec<u8>, MasterKey) {
    let key = MasterKey::generate();
    let mut w = BackupWriter::new(Cursor::new(Vec::new()), &key, EntryForm::MkStream);
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    for x in docs {
        d.write_doc(x).unwrap();
    }
    d.finish().unwrap();
    (w.finish().unwrap().into_inner(), key)
}

/// Runs `migrate` on `bytes`; returns (exit code, stderr) after checking nothing was written.
fn run(name: &str, bytes: &[u8], key: &MasterKey) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("b.octobak");
    std::fs::write(&backup, bytes).unwrap();
    std::fs::write(dir.path().join("k.txt"), key.expose_base64()).unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("octo-migrate"))
        .current_dir(dir.path())
        .env_remove("OCTO_MIGRATE_MASTER_KEY")
        .args([
            "migrate",
            "--file",
            "b.octobak",
            "--master-key-file",
            "k.txt",
            "--skip-unsupported-steps",
            "--quiet",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    let mut left: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    left.retain(|p| !p.ends_with("b.octobak") && !p.ends_with("k.txt"));
    if code > 1 {
        assert!(left.is_empty(), "{name}: exit {code} left {left:?}");
        assert!(stderr.starts_with("error: "), "{name}: {stderr}");
    }
    (code, stderr)
}

fn entries(bytes: &[u8]) -> Vec<(String, u64, u64, u64)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let f = z.by_index_raw(i).unwrap();
            (
                f.name().unwrap().into_owned(),
                f.header_start(),
                f.data_start().unwrap(),
                f.compressed_size(),
            )
        })
        .collect()
}

#[test]
fn truncated_at_every_entry_boundary_and_inside_the_dump() {
    let (bytes, key) = sample_bytes();
    let mut cuts: Vec<u64> = Vec::new();
    for (_, header, data, size) in entries(&bytes) {
        cuts.extend([header, data, data + size / 2]);
    }
    cuts.sort();
    cuts.dedup();
    // Every entry boundary of a 100-entry backup would take minutes; take every fourth one,
    // plus every cut inside the dump and around the central directory.
    let dump = entries(&bytes)
        .into_iter()
        .find(|e| e.0.ends_with("Raven.dump"))
        .unwrap();
    let mut chosen: Vec<u64> = cuts.iter().step_by(4).copied().collect();
    chosen.extend([
        dump.2 + 1,
        dump.2 + 17,
        dump.2 + dump.3 / 3,
        dump.2 + dump.3 - 1,
        bytes.len() as u64 - 10,
    ]);
    for at in chosen {
        let (code, _) = run(&format!("cut at {at}"), &bytes[..at as usize], &key);
        assert!(code == 4 || code == 3, "cut at {at}: exit {code}");
    }
}

#[test]
fn a_bit_flip_in_each_entry_is_caught_or_harmless() {
    let (bytes, key) = sample_bytes();
    for (name, _, data, size) in entries(&bytes).into_iter().step_by(3) {
        if size == 0 {
            continue;
        }
        let mut b = bytes.clone();
        b[(data + size / 2) as usize] ^= 0x04;
        let (code, stderr) = run(&name, &b, &key);
        // A flip inside a task log's text can still decrypt and convert (its line is kept);
        // anything else must be a typed refusal.
        assert!(matches!(code, 1 | 3 | 4), "{name}: exit {code}: {stderr}");
    }
}

#[test]
fn lying_sizes_and_offsets_in_the_zip_directory() {
    let (bytes, key) = sample_bytes();
    let cd = bytes
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        .expect("a central directory record");
    for (field, value) in [
        (20usize, 0xFFFF_FFF0u32),
        (24, 7),
        (42, 0x7FFF_FFFF),
        (42, 3),
        (20, 1),
    ] {
        let mut b = bytes.clone();
        // Patch every central-directory record from the first on.
        let mut at = cd;
        while let Some(p) = b[at..]
            .windows(4)
            .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        {
            let rec = at + p;
            b[rec + field..rec + field + 4].copy_from_slice(&value.to_le_bytes());
            at = rec + 46;
        }
        let (code, stderr) = run(&format!("field {field}"), &b, &key);
        assert!(
            code == 4 || code == 3,
            "field {field}={value}: exit {code}: {stderr}"
        );
    }
}

#[test]
fn broken_dumps_are_corrupt_backups() {
    let doc = r#"{"Name":"Web","@metadata":{"@id":"projects-1","Raven-Entity-Name":"Projects"}}"#;
    let deep = format!(
        "{{\"Docs\":[{}{}]}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "cut inside a document",
            format!("{{\"Docs\":[{}", &doc[..30]).into_bytes(),
        ),
        ("not an object", b"[1,2,3]".to_vec()),
        ("nested 100000 deep", deep.into_bytes()),
        (
            "invalid UTF-8",
            [
                b"{\"Docs\":[{\"Name\":\"".as_slice(),
                &[0xff, 0xfe],
                b"\",\"@metadata\":{\"@id\":\"projects-1\"}}]}",
            ]
            .concat(),
        ),
        ("empty", Vec::new()),
    ];
    for (name, dump) in cases {
        let (bytes, key) = with_dump(&dump, None);
        let (code, stderr) = run(name, &bytes, &key);
        assert_eq!(code, 4, "{name}: {stderr}");
        assert!(stderr.contains("Raven.dump"), "{name}: {stderr}");
    }
}

#[test]
fn bad_documents_and_old_versions() {
    let meta = |id: &str| serde_json::json!({"@id": id, "Raven-Entity-Name": "Projects"});
    let twice = with_docs(&[
        serde_json::json!({"Name": "A", "@metadata": meta("projects-1")}),
        serde_json::json!({"Name": "B", "@metadata": meta("Projects-1")}),
    ]);
    let (code, stderr) = run("same id twice", &twice.0, &twice.1);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("Projects-1") && stderr.contains("twice"),
        "{stderr}"
    );
    let no_meta = with_docs(&[serde_json::json!({"Name": "A"})]);
    assert_eq!(run("no @metadata", &no_meta.0, &no_meta.1).0, 4);
    let other = MasterKey::generate();
    let undecryptable = with_docs(&[
        serde_json::json!({"Name": "F", "Password": octo_migrate_core::internals::crypto::encrypt_value(&other, "pw"),
        "@metadata": {"@id": "feeds-1", "Raven-Entity-Name": "Feeds"}}),
    ]);
    let (code, stderr) = run("undecryptable", &undecryptable.0, &undecryptable.1);
    assert_eq!(code, 6, "{stderr}");
    assert!(
        stderr.contains("feeds-1") && stderr.contains("Password"),
        "{stderr}"
    );
    let old = with_dump(b"{\"Docs\":[]}", Some("2.5.11.614"));
    let (code, stderr) = run("2.5", &old.0, &old.1);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("2.6.5"), "{stderr}");
    let no_dump = {
        let key = MasterKey::generate();
        let mut w = BackupWriter::new(Cursor::new(Vec::new()), &key, EntryForm::MkStream);
        w.write_master_key_check().unwrap();
        (w.finish().unwrap().into_inner(), key)
    };
    assert_eq!(run("missing dump", &no_dump.0, &no_dump.1).0, 4);
}

/// Issue "Nothing lost, whatever happens", finding 14: one activity log's directory record
/// repeated 200 times made `migrate` convert that log 200 times (it did not finish in 120 s);
/// two dump entries were accepted. Now exit 4 at once, naming the entry, nothing written.
#[test]
fn finding_14_a_repeated_directory_record_exits_4_at_once() {
    let (bytes, key) = sample_bytes();
    let mut log = String::new();
    let repeated = sample::edit_directory(&bytes, |records| {
        let r = records
            .iter()
            .find(|r| r.name().starts_with("ActivityLogs/"))
            .unwrap()
            .clone();
        log = r.name();
        records.extend(std::iter::repeat_n(r, 199));
    })
    .unwrap();
    let second_dump = sample::edit_directory(&bytes, |records| {
        let d = records
            .iter()
            .find(|r| r.name() == "RavenDB/Raven.dump")
            .unwrap()
            .renamed("ravendb\\raven.DUMP");
        records.push(d);
    })
    .unwrap();
    for (name, b, entry) in [
        ("a log 200 times", repeated, log.as_str()),
        ("a second dump", second_dump, "RavenDB/Raven.dump"),
    ] {
        let started = std::time::Instant::now();
        let (code, stderr) = run(name, &b, &key);
        assert_eq!(code, 4, "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("entry {entry}")),
            "{name}: {stderr}"
        );
        assert!(started.elapsed().as_secs() < 20, "{name}: slow");
    }
}

/// Issue "Nothing lost, whatever happens", finding 12: a document over the size the tool reads
/// (64 MiB; a few KB of the backup once compressed) is a corrupt backup, refused while the
/// export is cut into documents, naming the document and the limit.
#[test]
fn finding_12_an_oversized_document_exits_4_naming_it() {
    use std::io::Write;
    let key = MasterKey::generate();
    let mut w = BackupWriter::new(Cursor::new(Vec::new()), &key, EntryForm::MkStream);
    w.write_master_key_check().unwrap();
    let mut e = w.start_entry("RavenDB/Raven.dump", true, false).unwrap();
    e.write_all(br#"{"Docs":[{"Name":"Web","@metadata":{"@id":"projects-1","Raven-Entity-Name":"Projects"}},{"Big":""#)
        .unwrap();
    let chunk = vec![b'a'; 1024 * 1024];
    for _ in 0..65 {
        e.write_all(&chunk).unwrap();
    }
    e.write_all(br#"","@metadata":{"@id":"projects-2","Raven-Entity-Name":"Projects"}}]}"#)
        .unwrap();
    e.finish().unwrap();
    let bytes = w.finish().unwrap().into_inner();
    assert!(bytes.len() < 200_000, "{} bytes", bytes.len());
    let (code, stderr) = run("64 MiB document", &bytes, &key);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("document #1") && stderr.contains("64 MiB"),
        "{stderr}"
    );
}
