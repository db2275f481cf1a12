//! The binary tested as a process: exit codes and messages of docs/cli.md.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// Absolute with a drive on Windows: cross-built there, `CARGO_MANIFEST_DIR` is the build
/// machine's `/work/...`, which a child started in a folder on another drive would look for on
/// that drive (scripts/windows.sh runs these tests under Wine).
fn testdata(name: &str) -> PathBuf {
    std::path::absolute(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(name),
    )
    .unwrap()
}

fn cmd() -> Command {
    let mut c = Command::cargo_bin("octo-migrate").unwrap();
    c.env_remove("OCTO_MIGRATE_MASTER_KEY");
    for v in [
        "OCTO_MIGRATE_TARGET",
        "OCTO_MIGRATE_TARGET_PASSWORD",
        "OCTO_MIGRATE_TARGET_MASTER_KEY",
    ] {
        c.env_remove(v);
    }
    c
}

fn migrate(dir: &Path) -> Command {
    let mut c = cmd();
    c.current_dir(dir).args([
        "migrate",
        "--file",
        testdata("sample.octobak").to_str().unwrap(),
        "--target",
        "sqlite:octopus3.db",
    ]);
    c
}

fn key_file() -> String {
    testdata("sample.octobak.key").to_str().unwrap().to_owned()
}

fn table_count(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
        r.get(0)
    })
    .unwrap()
}

#[test]
fn migrates_the_sample_with_warnings_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--skip-unsupported-steps",
            "--report",
            "report.json",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8(out).unwrap();
    assert!(stdout.contains("Projects"), "{stdout}");
    assert!(stdout.contains("TOTAL"));
    let db = dir.path().join("octopus3.db");
    assert_eq!(table_count(&db, "Project"), 6);
    assert!(dir.path().join("TaskLogs").is_dir());
    assert!(dir.path().join("Artifacts").is_dir());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["collections"]["Projects"]["migrated"], 6);
    let csv = std::fs::read_to_string(dir.path().join("tentacles.csv")).unwrap();
    let machines = table_count(&db, "Machine");
    assert_eq!(csv.lines().count() as i64, machines + 1);
    assert!(csv.starts_with("Id,Name,Uri,Thumbprint,"));
}

#[test]
fn the_key_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let key = std::fs::read_to_string(key_file()).unwrap();
    migrate(dir.path())
        .env("OCTO_MIGRATE_MASTER_KEY", key.trim())
        .args(["--skip-unsupported-steps", "--quiet"])
        .assert()
        .code(1);
}

/// `Octopus.Server.exe show-master-key > masterkey.txt` in Windows PowerShell 5.1 writes
/// UTF-16LE with a byte-order mark and CRLF; `Set-Content -Encoding UTF8` a UTF-8 one.
#[test]
fn a_key_file_written_by_windows_powershell_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let key = std::fs::read_to_string(key_file()).unwrap();
    let line = format!("{}\r\n", key.trim());
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(line.encode_utf16().flat_map(u16::to_le_bytes));
    let mut utf8 = vec![0xEF, 0xBB, 0xBF];
    utf8.extend(line.as_bytes());
    for (name, bytes) in [("utf16.txt", utf16), ("utf8bom.txt", utf8)] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        cmd()
            .args([
                "inspect",
                "--file",
                testdata("sample.octobak").to_str().unwrap(),
            ])
            .arg("--master-key-file")
            .arg(&path)
            .assert()
            .code(0);
    }
}

#[test]
fn a_key_on_the_command_line_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let key = std::fs::read_to_string(key_file()).unwrap();
    let out = migrate(dir.path())
        .args([
            "--master-key",
            key.trim(),
            "--skip-unsupported-steps",
            "--dry-run",
        ])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("visible to other users"), "{stderr}");
    assert!(!stderr.contains(key.trim()));
    assert!(!String::from_utf8(out.stdout).unwrap().contains(key.trim()));
    assert!(
        !dir.path().join("octopus3.db").exists(),
        "a dry run creates nothing"
    );
}

#[test]
fn wrong_key_exits_3_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(dir.path())
        .args([
            "--master-key",
            "bG9yZW1pcHN1bWRvbG9yIQ==",
            "--skip-unsupported-steps",
        ])
        .assert()
        .code(3)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).unwrap();
    assert!(
        stderr.contains("the master key does not match this backup"),
        "{stderr}"
    );
    assert!(!stderr.to_lowercase().contains("padding"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn malformed_key_is_a_usage_error_before_any_file_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let out = cmd()
        .current_dir(dir.path())
        .args([
            "migrate",
            "--file",
            "does-not-exist.octobak",
            "--master-key",
            "not-a-key",
        ])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).unwrap();
    assert!(stderr.contains("24 characters of Base64"), "{stderr}");
    assert!(!stderr.contains("not-a-key"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn two_key_sources_are_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path())
        .env("OCTO_MIGRATE_MASTER_KEY", "bG9yZW1pcHN1bWRvbG9yIQ==")
        .args(["--master-key-file", &key_file()])
        .assert()
        .code(2);
    migrate(dir.path()).assert().code(2);
}

#[test]
fn missing_or_corrupt_backup_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    cmd()
        .current_dir(dir.path())
        .args([
            "migrate",
            "--file",
            "missing.octobak",
            "--master-key-file",
            &key_file(),
        ])
        .assert()
        .code(4);
    std::fs::write(
        dir.path().join("junk.octobak"),
        b"PK\x03\x04 this is not a zip",
    )
    .unwrap();
    let out = cmd()
        .current_dir(dir.path())
        .args([
            "migrate",
            "--file",
            "junk.octobak",
            "--master-key-file",
            &key_file(),
        ])
        .assert()
        .code(4)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(out).unwrap().contains("junk.octobak"));
    assert!(!dir.path().join("octopus3.db").exists());
}

#[test]
fn unsupported_step_exits_6_naming_it_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(dir.path())
        .args(["--master-key-file", &key_file()])
        .assert()
        .code(6)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).unwrap();
    assert!(stderr.contains("Octopus.Ftp"), "{stderr}");
    assert!(stderr.contains("--skip-unsupported-steps"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_second_migration_into_the_same_file_exits_5() {
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--skip-unsupported-steps",
            "--quiet",
        ])
        .assert()
        .code(1);
    let db = dir.path().join("octopus3.db");
    let before = std::fs::read(&db).unwrap();
    migrate(dir.path())
        .args(["--master-key-file", &key_file(), "--skip-unsupported-steps"])
        .assert()
        .code(5);
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

/// Every row of every table, sorted, without EventRelatedDocument's identity column (it is
/// renumbered when an event is replaced).
fn all_rows(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut rows = Vec::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let skip = usize::from(t == "EventRelatedDocument");
        let got: Vec<String> = stmt
            .query_map([], |r| {
                let vals: Vec<String> = (skip..n)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect();
                Ok(format!("{t}: {}", vals.join(" | ")))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.extend(got);
    }
    rows.sort();
    rows
}

#[test]
fn merge_modes_rerun_the_same_backup_without_adding_rows() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["--master-key-file", &key_file(), "--skip-unsupported-steps"];
    migrate(dir.path())
        .args(base)
        .arg("--quiet")
        .assert()
        .code(1);
    let db = dir.path().join("octopus3.db");
    let before = all_rows(&db);
    // A log the target has is the target's: --nooverwrite leaves it, --overwrite replaces it.
    let log = dir.path().join("TaskLogs").join("servertasks-1.txt");
    let original_log = std::fs::read(&log).unwrap();
    std::fs::write(&log, b"edited on the 3.x server\n").unwrap();
    // --nooverwrite: the target wins everywhere, so nothing changes at all.
    let out = migrate(dir.path())
        .args(base)
        .args(["--nooverwrite", "--report", "r.json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stdout}");
    assert!(stdout.contains("merge (--nooverwrite)"), "{stdout}");
    assert!(
        stdout.contains("license: the target already has a license"),
        "{stdout}"
    );
    assert_eq!(all_rows(&db), before);
    assert_eq!(std::fs::read(&log).unwrap(), b"edited on the 3.x server\n");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(report["merge"]["tables"]["Project"]["kept"], 6);
    assert_eq!(report["merge"]["tables"]["Project"]["inserted"], 0);
    // --overwrite: every document is replaced by itself; no row is added.
    let out = migrate(dir.path())
        .args(base)
        .args(["--overwrite", "--quiet"])
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    assert_eq!(std::fs::read(&log).unwrap(), original_log);
    let after = all_rows(&db);
    assert_eq!(after.len(), before.len());
    let tables = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .map(|r| r.split(':').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(tables(&after), tables(&before));
    // Both modes at once are a usage error.
    migrate(dir.path())
        .args(base)
        .args(["--overwrite", "--nooverwrite"])
        .assert()
        .code(2);
}

#[test]
fn generate_sample_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.octobak", "b.octobak"] {
        cmd()
            .current_dir(dir.path())
            .args(["generate-sample", "--out", name, "--seed", "42"])
            .assert()
            .success();
    }
    let a = std::fs::read(dir.path().join("a.octobak")).unwrap();
    assert_eq!(a, std::fs::read(dir.path().join("b.octobak")).unwrap());
    assert_eq!(
        std::fs::read(dir.path().join("a.octobak.key")).unwrap(),
        std::fs::read(dir.path().join("b.octobak.key")).unwrap()
    );
}

#[test]
fn the_committed_sample_is_what_the_generator_makes() {
    let dir = tempfile::tempdir().unwrap();
    cmd()
        .current_dir(dir.path())
        .args([
            "generate-sample",
            "--out",
            "s.octobak",
            "--scale",
            "1",
            "--seed",
            "1",
        ])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(dir.path().join("s.octobak")).unwrap(),
        std::fs::read(testdata("sample.octobak")).unwrap(),
        "testdata/sample.octobak is stale: regenerate it as testdata/README.md says"
    );
}

#[test]
fn nologs_then_onlylogs_fills_in_the_logs_and_leaves_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--skip-unsupported-steps",
            "--nologs",
            "--quiet",
        ])
        .assert()
        .code(1);
    assert!(!dir.path().join("TaskLogs").exists());
    let db = dir.path().join("octopus3.db");
    let before = std::fs::read(&db).unwrap();
    migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--onlylogs",
            "--report",
            "r.json",
        ])
        .assert()
        .code(1);
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "--onlylogs writes no row"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    let logs = std::fs::read_dir(dir.path().join("TaskLogs"))
        .unwrap()
        .count();
    assert!(logs > 0);
    assert_eq!(report["task_logs"], logs as u64);
    migrate(dir.path())
        .args(["--master-key-file", &key_file(), "--onlylogs", "--nologs"])
        .assert()
        .code(2);
}

#[test]
fn maxage_with_as_of_filters_history() {
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--skip-unsupported-steps",
            "--maxage=90",
            "--as-of",
            "2015-06-30T00:00:00+00:00",
            "--report",
            "r.json",
        ])
        .assert()
        .code(1);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    let events = &report["collections"]["Events"];
    assert!(events["filtered_by_maxage"].as_u64().unwrap() > 0);
    assert_eq!(report["collections"]["Projects"]["filtered_by_maxage"], 0);
    let db = dir.path().join("octopus3.db");
    assert_eq!(
        table_count(&db, "Event") as u64,
        events["migrated"].as_u64().unwrap()
    );
    // Logs are converted on their own thread from pass 1's prediction: exactly the migrated
    // tasks' logs are placed, none of a filtered task.
    let tasks = &report["collections"]["ServerTasks"];
    assert!(tasks["filtered_by_maxage"].as_u64().unwrap() > 0);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let migrated: std::collections::HashSet<String> = conn
        .prepare("SELECT lower(Id) FROM ServerTask")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let logs: Vec<String> = std::fs::read_dir(dir.path().join("TaskLogs"))
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.trim_end_matches(".txt").to_owned()
        })
        .collect();
    assert!(!logs.is_empty());
    for l in &logs {
        assert!(
            migrated.contains(l),
            "log {l} of a task that was not migrated"
        );
    }
    assert_eq!(report["task_logs"], logs.len() as u64);
    migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--as-of",
            "2015-06-30T00:00:00+00:00",
        ])
        .assert()
        .code(2);
    migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--maxage",
            "90",
            "--as-of",
            "yesterday",
        ])
        .assert()
        .code(2);
}

#[test]
fn inspect_prints_tables_or_json() {
    let out = cmd()
        .args([
            "inspect",
            "--file",
            testdata("sample.octobak").to_str().unwrap(),
            "--master-key-file",
            &key_file(),
            "--as-of",
            "2015-06-30T00:00:00+00:00",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("2.6.5"), "{text}");
    assert!(text.contains("RavenDB/Raven.dump"));
    assert!(text.contains("N=90"));
    let out = cmd()
        .args([
            "inspect",
            "--json",
            "--file",
            testdata("sample.octobak").to_str().unwrap(),
            "--master-key-file",
            &key_file(),
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["collections"]["Projects"], 6);
    assert!(v["maxage_keeps"]["365"].is_object());
    cmd()
        .args([
            "inspect",
            "--file",
            testdata("sample.octobak").to_str().unwrap(),
            "--master-key",
            "bG9yZW1pcHN1bWRvbG9yIQ==",
        ])
        .assert()
        .code(3);
}

#[test]
fn verify_passes_after_a_migration_and_names_a_changed_row() {
    let dir = tempfile::tempdir().unwrap();
    let target_key = dir.path().join("new.key");
    std::fs::write(&target_key, "AAECAwQFBgcICQoLDA0ODw==\n").unwrap();
    let tk = target_key.to_str().unwrap().to_owned();
    let common = [
        "--master-key-file",
        &key_file(),
        "--skip-unsupported-steps",
        "--maxage",
        "90",
        "--as-of",
        "2015-06-30T00:00:00+00:00",
    ];
    migrate(dir.path())
        .args(common)
        .args(["--target-master-key-file", &tk, "--quiet"])
        .assert()
        .code(1);
    let verify = |extra: &[&str]| {
        let mut c = cmd();
        c.current_dir(dir.path())
            .args([
                "verify",
                "--file",
                testdata("sample.octobak").to_str().unwrap(),
                "--target",
                "sqlite:octopus3.db",
            ])
            .args(common)
            .args(extra);
        c
    };
    verify(&["--target-master-key-file", &tk]).assert().code(0);
    // Without the target key the sensitive values do not decrypt to the same plaintext.
    let out = verify(&[]).assert().code(1).get_output().stdout.clone();
    assert!(String::from_utf8(out).unwrap().contains("JSON"));
    let conn = rusqlite::Connection::open(dir.path().join("octopus3.db")).unwrap();
    conn.execute(
        "UPDATE Project SET Name = 'Renamed' WHERE Id = 'Projects-1'",
        [],
    )
    .unwrap();
    drop(conn);
    let out = verify(&["--target-master-key-file", &tk])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("Project Projects-1 Name"), "{text}");
    let log = std::fs::read_dir(dir.path().join("TaskLogs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    std::fs::remove_file(log.path()).unwrap();
    let out = verify(&["--target-master-key-file", &tk])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let name = log.file_name().into_string().unwrap();
    assert!(String::from_utf8(out)
        .unwrap()
        .contains(&format!("missing: file TaskLogs/{name}\n")));
}

fn write_package(path: &Path, id: &str, version: &str) {
    use std::io::Write as _;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file(format!("{id}.nuspec"), opts).unwrap();
    write!(z, "<?xml version=\"1.0\"?><package><metadata><id>{id}</id><version>{version}</version></metadata></package>").unwrap();
    z.start_file("lib/net45/x.dll", opts).unwrap();
    z.write_all(b"MZ").unwrap();
    z.finish().unwrap();
}

#[test]
fn copy_packages_copies_good_ones_rejects_broken_and_reruns_skip() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("Repository/Packages");
    write_package(
        &from.join("Acme.Web/Acme.Web.1.0.0.nupkg"),
        "Acme.Web",
        "1.0.0",
    );
    write_package(
        &from.join("Acme.Web/Acme.Web.1.1.0.nupkg"),
        "Acme.Web",
        "1.1.0",
    );
    write_package(&from.join("Acme.Api.2.0.1.nupkg"), "Acme.Api", "2.0.1");
    std::fs::write(from.join("Broken.1.0.0.nupkg"), b"not a zip").unwrap();
    let to = dir.path().join("Packages");
    let run = || {
        cmd()
            .args([
                "copy-packages",
                "--from",
                from.to_str().unwrap(),
                "--to",
                to.to_str().unwrap(),
            ])
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone()
    };
    let text = String::from_utf8(run()).unwrap();
    assert!(text.contains("copied 3, skipped 0"), "{text}");
    assert!(text.contains("Broken.1.0.0.nupkg"), "{text}");
    assert!(to.join("Acme.Web/Acme.Web.1.1.0.nupkg").is_file());
    assert!(!to.join("Broken.1.0.0.nupkg").exists());
    let text = String::from_utf8(run()).unwrap();
    assert!(
        text.contains("copied 0, skipped 3 (already there), rejected 1"),
        "{text}"
    );
    // A different file already at the destination is never overwritten.
    std::fs::write(to.join("Acme.Api.2.0.1.nupkg"), b"other").unwrap();
    let text = String::from_utf8(run()).unwrap();
    assert!(text.contains("not overwritten"), "{text}");
    assert_eq!(
        std::fs::read(to.join("Acme.Api.2.0.1.nupkg")).unwrap(),
        b"other"
    );
}

#[test]
fn progress_is_logged_when_not_on_a_terminal_and_quiet_silences_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--skip-unsupported-steps",
            "--dry-run",
        ])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).unwrap();
    assert!(stderr.contains("pass 1 indexing"), "{stderr}");
    assert!(stderr.contains("pass 2 migrating"), "{stderr}");
    let out = migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--skip-unsupported-steps",
            "--dry-run",
            "--quiet",
        ])
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(String::from_utf8(out.stderr).unwrap().is_empty());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "--quiet prints only the summary line: {stdout}"
    );
}

#[test]
fn a_clean_backup_migrates_with_exit_0() {
    use octo_migrate_sample::{BackupWriter, DumpOptions, EntryForm};
    let dir = tempfile::tempdir().unwrap();
    let key = octo_migrate_core::MasterKey::generate();
    let mut w = BackupWriter::new(std::io::Cursor::new(Vec::new()), &key, EntryForm::MkStream);
    w.write_backup_json("2.6.5.1010", "2015-06-30T10:11:12+00:00")
        .unwrap();
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    d.write_doc(&serde_json::json!({"Name": "Dev", "SortOrder": 1,
        "@metadata": {"@id": "environments-1", "Raven-Entity-Name": "Environments"}}))
        .unwrap();
    d.finish().unwrap();
    std::fs::write(
        dir.path().join("clean.octobak"),
        w.finish().unwrap().into_inner(),
    )
    .unwrap();
    std::fs::write(dir.path().join("k.txt"), key.expose_base64()).unwrap();
    cmd()
        .current_dir(dir.path())
        .args([
            "migrate",
            "--file",
            "clean.octobak",
            "--master-key-file",
            "k.txt",
            "--quiet",
        ])
        .assert()
        .code(0);
    assert_eq!(
        table_count(&dir.path().join("octopus3.db"), "DeploymentEnvironment"),
        1
    );
}

/// No plaintext secret of the sample and neither key appears in anything the tool writes:
/// the database, the report, tentacles.csv, task logs, artifacts, stdout or stderr.
#[test]
fn no_secret_and_no_key_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let summary = octo_migrate_sample::write_sample_file(
        dir.path().join("again.octobak"),
        &octo_migrate_sample::sample_key(1),
        &octo_migrate_sample::SampleOptions::new(1, 1),
    )
    .unwrap();
    assert!(!summary.secrets.is_empty());
    let source_key = std::fs::read_to_string(key_file())
        .unwrap()
        .trim()
        .to_owned();
    let target_key = "AAECAwQFBgcICQoLDA0ODw==";
    std::fs::write(dir.path().join("t.key"), target_key).unwrap();
    let out = migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--target-master-key-file",
            "t.key",
        ])
        .args([
            "--skip-unsupported-steps",
            "--report",
            "report.json",
            "--verbose",
        ])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let mut haystacks: Vec<(String, Vec<u8>)> = vec![
        ("stdout".into(), out.stdout.clone()),
        ("stderr".into(), out.stderr.clone()),
    ];
    fn walk(p: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else if !path.ends_with("again.octobak") && !path.ends_with("t.key") {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    walk(dir.path(), &mut haystacks);
    assert!(haystacks.iter().any(|(n, _)| n.ends_with("octopus3.db")));
    let mut needles: Vec<Vec<u8>> = summary
        .secrets
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    needles.push(source_key.as_bytes().to_vec());
    needles.push(target_key.as_bytes().to_vec());
    for (name, h) in &haystacks {
        for n in &needles {
            assert!(
                !h.windows(n.len()).any(|w| w == n.as_slice()),
                "{name} contains a secret or a key"
            );
        }
    }
}

/// A local port with nothing listening on it (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Runs `migrate` into `target`; returns (exit code, stderr, seconds taken).
fn migrate_to(target: &str, dir: &Path) -> (Option<i32>, String, f64) {
    let started = std::time::Instant::now();
    let out = cmd()
        .current_dir(dir)
        .args([
            "migrate",
            "--file",
            testdata("sample.octobak").to_str().unwrap(),
        ])
        .args(["--master-key-file", &key_file(), "--target", target])
        .args(["--target-master-key-file", &key_file()])
        .args(["--files-dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stderr).unwrap(),
        started.elapsed().as_secs_f64(),
    )
}

#[test]
fn sql_server_targets_are_parsed_and_never_echo_the_password() {
    let dir = tempfile::tempdir().unwrap();
    // A malformed target is a usage error.
    let (code, stderr, _) = migrate_to("mssql://octo:hunter2@db01:notaport/Octopus", dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("port") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    // Valid targets that cannot be reached fail as targets (exit 5), quickly, naming the
    // host (and port), never the password.
    for (target, names) in [
        (
            "mssql://octo:hunter2@db01.invalid:1433/Octopus".to_string(),
            "db01.invalid".to_string(),
        ),
        (
            "Server=db01.invalid,1433;Database=Octopus;User Id=octo;Password=hunter2".into(),
            "db01.invalid".into(),
        ),
    ] {
        let (code, stderr, secs) = migrate_to(&target, dir.path());
        assert_eq!(code, Some(5), "{stderr}");
        assert!(stderr.contains(&names), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(secs < 30.0, "took {secs:.1} s: {stderr}");
    }
}

#[test]
fn unreachable_sql_server_fails_with_exit_5_naming_host_and_port_within_30_s() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let target = format!("mssql://octo:hunter2@127.0.0.1:{port}/Octopus");
    let (code, stderr, secs) = migrate_to(&target, dir.path());
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(secs < 30.0, "took {secs:.1} s: {stderr}");
}

#[test]
fn finding_16_huge_maxage_is_a_usage_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    // Any day count in range keeps everything older than the earliest date there is.
    migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--skip-unsupported-steps",
            "--dry-run",
            "--quiet",
            "--maxage",
            "100000000",
        ])
        .assert()
        .code(1);
    migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--dry-run",
            "--maxage",
            "99999999999",
        ])
        .assert()
        .code(2);
}

// Unix only: creating symbolic links needs a privilege on Windows (and Wine makes none).
#[cfg(unix)]
#[test]
fn finding_18_copy_packages_reports_symlinks_and_refuses_nested_folders() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("Repository/Packages");
    write_package(&from.join("Acme.Api.2.0.1.nupkg"), "Acme.Api", "2.0.1");
    let outside = dir.path().join("elsewhere");
    write_package(&outside.join("Secret.1.0.0.nupkg"), "Secret", "1.0.0");
    std::os::unix::fs::symlink(&outside, from.join("linked-folder")).unwrap();
    std::os::unix::fs::symlink(
        outside.join("Secret.1.0.0.nupkg"),
        from.join("Secret.1.0.0.nupkg"),
    )
    .unwrap();
    let to = dir.path().join("Packages");
    let copy = |from: &Path, to: &Path| {
        cmd()
            .args([
                "copy-packages",
                "--from",
                from.to_str().unwrap(),
                "--to",
                to.to_str().unwrap(),
            ])
            .assert()
    };
    let out = copy(&from, &to).code(1).get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("copied 1"), "{text}");
    assert!(text.contains("2 symbolic link"), "{text}");
    assert!(text.contains("linked-folder"), "{text}");
    assert!(text.contains("Secret.1.0.0.nupkg"), "{text}");
    assert!(!to.join("Secret.1.0.0.nupkg").exists());
    assert!(!to.join("linked-folder").exists());

    // --to inside --from (or the reverse, or the same folder) copies into itself: refused.
    let inside = from.join("Copy");
    let out = copy(&from, &inside).code(2).get_output().stderr.clone();
    assert!(String::from_utf8(out).unwrap().contains("inside"));
    assert!(!inside.exists());
    copy(&from, &from).code(2);
    copy(&from, dir.path().join("Repository").as_path()).code(2);
    // A path spelled with `..` is no way around it.
    copy(&from, &from.join("../Packages/Copy")).code(2);
}

#[test]
fn finding_7_onlylogs_takes_overwrite_and_nooverwrite() {
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path())
        .args([
            "--master-key-file",
            &key_file(),
            "--skip-unsupported-steps",
            "--quiet",
        ])
        .assert()
        .code(1);
    let logs = dir.path().join("TaskLogs");
    let first = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let converted = std::fs::read(&first).unwrap();
    std::fs::write(&first, b"edited").unwrap();
    let onlylogs = |extra: &[&str]| {
        let mut c = migrate(dir.path());
        c.args(["--master-key-file", &key_file(), "--onlylogs", "--quiet"])
            .args(extra);
        c.assert()
    };
    let err = onlylogs(&[]).code(5).get_output().stderr.clone();
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("--overwrite") && err.contains("--nooverwrite"),
        "{err}"
    );
    assert_eq!(std::fs::read(&first).unwrap(), b"edited");
    // Every log is there already: nothing converted, nothing to warn about.
    onlylogs(&["--nooverwrite"]).code(0);
    assert_eq!(std::fs::read(&first).unwrap(), b"edited");
    onlylogs(&["--overwrite"]).code(1);
    assert_eq!(std::fs::read(&first).unwrap(), converted);
}

/// Issue "Nothing lost, whatever happens", finding 16b: unknown entries are counted all but
/// listed up to a cap; what `migrate` and `inspect` print says how many more there are.
#[test]
fn finding_16b_unknown_entries_beyond_the_cap_are_printed_as_and_n_more() {
    use octo_migrate_sample::{BackupWriter, DumpOptions, EntryForm};
    let dir = tempfile::tempdir().unwrap();
    let key = octo_migrate_sample::sample_key(16);
    let mut w = BackupWriter::new(std::io::Cursor::new(Vec::new()), &key, EntryForm::MkStream);
    w.write_master_key_check().unwrap();
    w.start_dump(&DumpOptions::default())
        .unwrap()
        .finish()
        .unwrap();
    for i in 0..250 {
        w.write_plain_entry(&format!("extra/{i}.bin"), b"abc")
            .unwrap();
    }
    let backup = dir.path().join("b.octobak");
    std::fs::write(&backup, w.finish().unwrap().into_inner()).unwrap();
    std::fs::write(dir.path().join("k.txt"), key.expose_base64()).unwrap();
    let stdout = |args: &[&str], code: i32| {
        let out = cmd()
            .current_dir(dir.path())
            .args(args)
            .args(["--file", "b.octobak", "--master-key-file", "k.txt"])
            .assert()
            .code(code)
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let text = stdout(&["migrate", "--dry-run"], 0);
    assert!(
        text.contains("250 entries of the backup not used"),
        "{text}"
    );
    assert!(text.contains("extra/0.bin (3 bytes)"), "{text}");
    assert!(text.contains("and 150 more"), "{text}");
    let text = stdout(&["inspect"], 0);
    assert!(text.contains("extra/99.bin"), "{text}");
    assert!(!text.contains("extra/100.bin"), "{text}");
    assert!(text.contains("and 150 more"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&["inspect", "--json"], 0)).unwrap();
    assert_eq!(v["entry_count"], 252);
    assert_eq!(v["entries"].as_array().unwrap().len(), 102);
}
