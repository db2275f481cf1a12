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

// ---------------------------------------------------------------------------------------------
// 17. Values of the wrong type or range
// ---------------------------------------------------------------------------------------------

fn query(db: &Path, sql: &str) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    other => format!("{other:?}"),
                })
            })
            .collect()
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

fn problems_of(docs: &[Json]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("b.octobak");
    write_backup(&backup, &key(), docs, &[], &[]);
    let e = Migration::new(&backup, &key()).dry_run().unwrap_err();
    assert!(
        matches!(e.kind(), octo_migrate_core::ErrorKind::Preflight(_)),
        "{e}"
    );
    e.problems().iter().map(|p| p.to_string()).collect()
}

#[test]
fn finding_17_is_sensitive_as_a_string_is_read_as_octopus_reads_it() {
    use octo_migrate_core::internals::crypto::{decrypt_value, encrypt_value};
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("b.octobak");
    let cipher = encrypt_value(&key(), "s3cret");
    let docs = vec![
        doc("Projects", "projects-1", json!({"Name": "Web"})),
        doc(
            "VariableSets",
            "variableset-projects-1",
            json!({"OwnerId": "projects-1", "Version": 1, "Variables": [
                {"Id": "v1", "Name": "Password", "Value": cipher, "Scope": {}, "IsSensitive": "true"},
                {"Id": "v2", "Name": "Other", "Value": cipher, "Scope": {}, "IsSensitive": "True"},
                {"Id": "v3", "Name": "Plain", "Value": "x", "Scope": {}, "IsSensitive": "false"}
            ]}),
        ),
    ];
    write_backup(&backup, &key(), &docs, &[], &[]);
    let db = dir.path().join("octopus3.db");
    let target = MasterKey::from_bytes([6u8; 16]);
    Migration::new(&backup, &key())
        .target_key(&target)
        .run(&mut octo_migrate_core::SqliteSink::new(&db))
        .unwrap();
    let json: Json = serde_json::from_str(
        &query(
            &db,
            "SELECT JSON FROM VariableSet WHERE Id = 'variableset-Projects-1'",
        )[0][0],
    )
    .unwrap();
    let vars = json["Variables"].as_array().unwrap();
    for v in &vars[..2] {
        assert_eq!(v["Type"], "Sensitive", "{v}");
        let value = v["Value"].as_str().unwrap();
        assert_eq!(
            decrypt_value(&target, value).unwrap().expose(),
            "s3cret",
            "re-encrypted under the target key"
        );
    }
    assert_eq!(vars[2]["Type"], "String");
    assert_eq!(vars[2]["Value"], "x");

    // A flag no reader would take for a bool is a problem naming the document and field.
    let p = problems_of(&[doc(
        "VariableSets",
        "variableset-projects-1",
        json!({"OwnerId": "projects-1", "Version": 1, "Variables": [
            {"Id": "v1", "Name": "Password", "Value": cipher, "Scope": {}, "IsSensitive": "yes"}
        ]}),
    )]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("variableset-projects-1"), "{p:?}");
    assert!(p[0].contains("Variables[0].IsSensitive"), "{p:?}");
}

#[test]
fn finding_17_values_beyond_sql_server_int_are_preflight_problems() {
    let p = problems_of(&[
        doc(
            "Environments",
            "environments-1",
            json!({"Name": "Dev", "SortOrder": 3_000_000_000u64}),
        ),
        doc(
            "Environments",
            "environments-2",
            json!({"Name": "Test", "SortOrder": -2_147_483_649i64}),
        ),
        doc("Projects", "projects-3000000000", json!({"Name": "Big"})),
        json!({"Max": 2_147_483_648u64, "@metadata": {"@id": "Raven/Hilo/ProjectGroups"}}),
        doc("ProjectGroups", "projectgroups-1", json!({"Name": "All"})),
        // Within range: no problem.
        doc(
            "Environments",
            "environments-3",
            json!({"Name": "Prod", "SortOrder": 2_147_483_647}),
        ),
    ]);
    let text = p.join("\n");
    assert_eq!(p.len(), 4, "{text}");
    for needle in [
        "environments-1",
        "environments-2",
        "projects-3000000000",
        "Raven/Hilo/ProjectGroups",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    assert!(text.contains("SortOrder"), "{text}");
    assert!(text.contains("2147483647"), "the limit is named: {text}");
}

#[test]
fn finding_17_names_differing_only_in_case_are_preflight_problems() {
    let p = problems_of(&[
        doc("Environments", "environments-1", json!({"Name": "Prod"})),
        doc("Environments", "environments-2", json!({"Name": "PROD"})),
        // SQL Server ignores trailing spaces when it compares.
        doc("Environments", "environments-3", json!({"Name": "prod "})),
        doc("Users", "users-1", json!({"Username": "alice"})),
        doc("Users", "users-2", json!({"Username": "Alice"})),
        // Accents differ: SQL Server's accent-sensitive collations keep them apart.
        doc("Environments", "environments-4", json!({"Name": "Pröd"})),
    ]);
    // Each document of a clash is named, with the others it clashes with.
    let text = p.join("\n").to_lowercase();
    assert_eq!(p.len(), 5, "{text}");
    for id in [
        "environments-1",
        "environments-2",
        "environments-3",
        "users-1",
        "users-2",
    ] {
        assert!(text.contains(id), "{id} in {text}");
    }
    assert!(!text.contains("environments-4"), "{text}");
    assert!(p.iter().any(|p| p.contains("PROD")), "{p:?}");
}

// ---------------------------------------------------------------------------------------------
// 15. File names too long for the file system, and names that sanitise alike
// ---------------------------------------------------------------------------------------------

const WHEN: &str = "2015-06-30T10:11:12+00:00";

fn task(id: &str, description: &str) -> Json {
    doc(
        "ServerTasks",
        id,
        json!({"Name": "Deploy", "Description": description, "State": "Success", "QueueTime": WHEN}),
    )
}

fn artifact(id: &str, file_name: &str) -> Json {
    doc(
        "Artifacts",
        id,
        json!({"Filename": file_name, "Created": WHEN, "ServerTaskId": "servertasks-1", "RelatedDocumentIds": ["servertasks-1"]}),
    )
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn finding_15_long_and_colliding_file_names_lose_no_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("b.octobak");
    let long = "é".repeat(128); // 256 bytes of UTF-8: valid in 3.x (nvarchar(200)), not on ext4
    let longer = format!("{}.html", "😀".repeat(97)); // 388 + 5 bytes, 199 UTF-16 units
    let docs = vec![
        task("servertasks-1", "Deploy Web"),
        artifact("artifacts-1", &long),
        artifact("artifacts-2", &longer),
        // Ids that sanitise alike, with the same file name.
        artifact("artifacts-a:b", "x.txt"),
        artifact("artifacts-a_b", "x.txt"),
        // File names that sanitise alike, each in its own artifact's folder.
        artifact("artifacts-3", "a:b"),
        artifact("artifacts-4", "a_b"),
        // A name that is fine stays exactly as it is.
        artifact("artifacts-5", "report.html"),
    ];
    let atts: Vec<(&str, &[u8])> = vec![
        ("artifacts/artifacts-1", b"one"),
        ("artifacts/artifacts-2", b"two"),
        ("artifacts/artifacts-a:b", b"three"),
        ("artifacts/artifacts-a_b", b"four"),
        ("artifacts/artifacts-3", b"five"),
        ("artifacts/artifacts-4", b"six"),
        ("artifacts/artifacts-5", b"seven"),
    ];
    write_backup(&backup, &key(), &docs, &atts, &[("servertasks-1", "")]);
    let db = dir.path().join("octopus3.db");
    let files = dir.path().join("files");
    let migration = || Migration::new(&backup, &key());
    let report = migration()
        .files_dir(&files)
        .run(&mut octo_migrate_core::SqliteSink::new(&db))
        .unwrap();
    assert_eq!(report.artifact_files, 7);
    let found = files_under(&files.join("Artifacts"));
    let mut contents: Vec<Vec<u8>> = found.iter().map(|p| std::fs::read(p).unwrap()).collect();
    contents.sort();
    let mut want: Vec<Vec<u8>> = atts.iter().map(|(_, b)| b.to_vec()).collect();
    want.sort();
    assert_eq!(
        contents, want,
        "every artifact's bytes, none replaced: {found:?}"
    );
    for p in &found {
        for c in p.strip_prefix(&files).unwrap().components() {
            assert!(c.as_os_str().len() <= 255, "{p:?}");
        }
    }
    assert!(files.join("Artifacts/artifacts-5/report.html").is_file());
    assert!(
        found
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "html")
                && p.starts_with(files.join("Artifacts/artifacts-2"))),
        "a shortened name keeps its extension: {found:?}"
    );
    // verify computes the same paths.
    let v =
        octo_migrate_core::verify::verify_sqlite(migration(), &db, Some(files.clone())).unwrap();
    assert!(v.differences.is_empty(), "{:?}", v.differences);
    assert_eq!(v.files_checked, 8, "seven artifacts and one task log");
}

// ---------------------------------------------------------------------------------------------
// 7. --onlylogs into a target that has logs, or another server's tasks
// ---------------------------------------------------------------------------------------------

struct LogsSetup {
    _dir: tempfile::TempDir,
    db: PathBuf,
    files: PathBuf,
    ours: PathBuf,
    theirs: PathBuf,
}

fn log_line(text: &str) -> String {
    format!("{WHEN} INFO servertasks-1/abc {text}\n")
}

/// A target migrated (without logs) from server A; A's backup, and B's, whose tasks have A's ids.
fn logs_setup() -> LogsSetup {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("a.octobak");
    let theirs = dir.path().join("b.octobak");
    let a = vec![
        task("servertasks-1", "Deploy Web 1.0 to Production"),
        task("servertasks-2", "Deploy Web 1.1 to Production"),
    ];
    let la = log_line("from A");
    write_backup(
        &ours,
        &key(),
        &a,
        &[],
        &[("servertasks-1", &la), ("servertasks-2", &la)],
    );
    let b = vec![
        task("servertasks-1", "Deploy Api 3.0 to Test"),
        task("servertasks-2", "Deploy Web 1.1 to Production"),
    ];
    let lb = log_line("from B");
    write_backup(
        &theirs,
        &key(),
        &b,
        &[],
        &[("servertasks-1", &lb), ("servertasks-2", &lb)],
    );
    let db = dir.path().join("octopus3.db");
    let files = dir.path().join("files");
    Migration::new(&ours, &key())
        .files_dir(&files)
        .task_logs(octo_migrate_core::TaskLogs::Skip)
        .run(&mut octo_migrate_core::SqliteSink::new(&db))
        .unwrap();
    LogsSetup {
        _dir: dir,
        db,
        files,
        ours,
        theirs,
    }
}

fn only_logs(
    s: &LogsSetup,
    backup: &Path,
    merge: octo_migrate_core::Merge,
) -> octo_migrate_core::Result<octo_migrate_core::Report> {
    Migration::new(backup, &key())
        .files_dir(&s.files)
        .task_logs(octo_migrate_core::TaskLogs::Only)
        .merge(merge)
        .run(&mut octo_migrate_core::SqliteSink::new(&s.db))
}

fn log_of(s: &LogsSetup, task: &str) -> Option<String> {
    std::fs::read_to_string(s.files.join("TaskLogs").join(format!("{task}.txt"))).ok()
}

#[test]
fn finding_7_onlylogs_from_another_server_is_refused_before_any_file_is_written() {
    use octo_migrate_core::Merge;
    let s = logs_setup();
    std::fs::create_dir_all(s.files.join("TaskLogs")).unwrap();
    std::fs::write(
        s.files.join("TaskLogs/servertasks-1.txt"),
        "the target's own",
    )
    .unwrap();
    for merge in [Merge::Refuse, Merge::TargetWins, Merge::BackupWins] {
        let e = only_logs(&s, &s.theirs, merge).unwrap_err();
        assert!(e.is_target(), "{merge:?}: {e}");
        let msg = e.to_string();
        assert!(msg.contains("ServerTasks-1"), "{msg}");
        assert!(msg.contains("another"), "{msg}");
        assert_eq!(
            log_of(&s, "servertasks-1").as_deref(),
            Some("the target's own")
        );
        assert_eq!(
            log_of(&s, "servertasks-2"),
            None,
            "{merge:?}: nothing written"
        );
    }
    // The right backup is accepted.
    only_logs(&s, &s.ours, Merge::BackupWins).unwrap();
    assert!(log_of(&s, "servertasks-2").unwrap().contains("from A"));
}

#[test]
fn finding_7_onlylogs_overwrites_an_existing_log_only_when_the_backup_wins() {
    use octo_migrate_core::Merge;
    let s = logs_setup();
    std::fs::create_dir_all(s.files.join("TaskLogs")).unwrap();
    std::fs::write(
        s.files.join("TaskLogs/servertasks-1.txt"),
        "the target's own",
    )
    .unwrap();

    // No merge mode: refused, nothing written, the advice is to choose.
    let e = only_logs(&s, &s.ours, Merge::Refuse).unwrap_err();
    assert!(e.is_target(), "{e}");
    assert!(e.to_string().contains("servertasks-1.txt"), "{e}");
    assert_eq!(
        log_of(&s, "servertasks-1").as_deref(),
        Some("the target's own")
    );
    assert_eq!(log_of(&s, "servertasks-2"), None);

    // The target wins: its file stays, the missing one is added.
    let r = only_logs(&s, &s.ours, Merge::TargetWins).unwrap();
    assert_eq!(r.task_logs, 1);
    assert_eq!(
        log_of(&s, "servertasks-1").as_deref(),
        Some("the target's own")
    );
    assert!(log_of(&s, "servertasks-2").unwrap().contains("from A"));

    // The backup wins: both are the backup's.
    let r = only_logs(&s, &s.ours, Merge::BackupWins).unwrap();
    assert_eq!(r.task_logs, 2);
    assert!(log_of(&s, "servertasks-1").unwrap().contains("from A"));
}
