//! What `migrate` prints, for people and for scripts: results on stdout and diagnostics on
//! stderr, repeated warnings summarised, one JSON document with `--json` or `--report -`, a
//! report that carries its run (version, times, options, status, every warning) and reads
//! back as the library's `Report`, a `tentacles.csv` safe to open in a spreadsheet, and a last
//! line that says what happened and what to do next.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use octo_migrate_core::{MasterKey, Report};
use octo_migrate_sample::{BackupWriter, DumpOptions, EntryForm};
use serde_json::{json, Value as Json};

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

fn migrate(dir: &Path, backup: &Path) -> Command {
    let mut c = Command::cargo_bin("octo-migrate").unwrap();
    c.env_remove("OCTO_MIGRATE_MASTER_KEY")
        .current_dir(dir)
        .args(["migrate", "--skip-unsupported-steps", "--file"])
        .arg(backup)
        .arg("--master-key-file")
        .arg(backup.with_extension("octobak.key"))
        .args(["--target", "sqlite:octopus3.db"]);
    c
}

fn sample() -> PathBuf {
    testdata("sample.octobak")
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn results_go_to_stdout_and_warnings_to_stderr_summarised_per_kind() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(dir.path(), &sample()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("TOTAL"), "{stdout}");
    assert!(
        !stdout.lines().any(|l| l.starts_with("warning")),
        "{stdout}"
    );
    // The sample has unparsable log lines among its warnings: one line for the kind with its
    // count, a few examples, never one line per occurrence.
    let kinds: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert!(
        kinds
            .iter()
            .any(|l| l.contains("task-log lines did not parse")),
        "{stderr}"
    );
    let unique: std::collections::BTreeSet<&&str> = kinds.iter().collect();
    assert_eq!(unique.len(), kinds.len(), "each kind once: {stderr}");
    for block in stderr.split("warning: ").skip(1) {
        let examples = block
            .lines()
            .skip(1)
            .filter(|l| !l.contains("more"))
            .count();
        assert!(examples <= 3, "{block}");
    }
    assert!(stdout
        .lines()
        .last()
        .unwrap()
        .starts_with("next: check it with: octo-migrate verify"));
}

#[test]
fn warnings_ok_makes_a_migration_with_warnings_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path(), &sample())
        .args(["--warnings-ok", "--quiet"])
        .assert()
        .code(0);
}

#[test]
fn json_on_stdout_is_the_report_and_reads_back_as_the_library_type() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(dir.path(), &sample())
        .args([
            "--json",
            "--report",
            "report.json",
            "--maxage",
            "365",
            "--as-of",
        ])
        .arg("2015-06-30T00:00:00+00:00")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let printed: Json = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let file: Json =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(printed, file);
    assert_eq!(printed["tool_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(printed["status"], "migrated_with_warnings");
    assert!(printed["started_at"].as_str().unwrap() <= printed["finished_at"].as_str().unwrap());
    assert_eq!(printed["options"]["max_age_days"], 365);
    assert_eq!(printed["options"]["as_of"], "2015-06-30T00:00:00+00:00");
    assert_eq!(printed["options"]["skip_unsupported_steps"], true);
    assert_eq!(printed["options"]["task_logs"], "convert");
    assert_eq!(printed["options"]["merge"], "refuse");
    // One complete list of warnings, with kinds and counts.
    let warnings = printed["warnings"].as_array().unwrap();
    assert!(!warnings.is_empty());
    let bad_lines = warnings
        .iter()
        .find(|w| w["kind"] == "unparsable_log_line")
        .expect("the sample's unparsable lines are listed");
    assert_eq!(bad_lines["count"], printed["unparsable_log_line_count"]);
    let r: Report = serde_json::from_slice(&out.stdout).expect("a Report deserializes from it");
    assert!(r.committed);
    assert_eq!(r.collections["Projects"].migrated, 6);
}

#[test]
fn report_dash_writes_the_report_to_stdout_not_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(dir.path(), &sample())
        .args(["--report", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let printed: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["collections"]["Projects"]["migrated"], 6);
    assert!(!dir.path().join("-").exists());
}

fn doc(coll: &str, id: &str, mut body: Json) -> Json {
    body["@metadata"] = json!({"@id": id, "Raven-Entity-Name": coll});
    body
}

#[test]
fn tentacles_csv_names_environments_quotes_by_rfc_4180_and_neutralises_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("m.octobak");
    let key = MasterKey::generate();
    std::fs::write(backup.with_extension("octobak.key"), key.expose_base64()).unwrap();
    let mut w = BackupWriter::new(Cursor::new(Vec::new()), &key, EntryForm::MkStream);
    w.write_backup_json("2.6.5.1010", "2015-06-30T10:11:12+00:00")
        .unwrap();
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    for e in [
        doc(
            "Environments",
            "environments-2",
            json!({"Name": "Production, EU"}),
        ),
        doc("Environments", "environments-3", json!({"Name": "Test"})),
        doc(
            "Machines",
            "machines-1",
            json!({"Name": "=HYPERLINK(\"http://x\",\"y\")", "Uri": "https://web01:10933/",
                   "Thumbprint": "ABC", "CommunicationStyle": "TentaclePassive",
                   "EnvironmentIds": ["environments-2", "environments-3"],
                   "Roles": ["web", "@admin"], "IsDisabled": false}),
        ),
    ] {
        d.write_doc(&e).unwrap();
    }
    d.finish().unwrap();
    std::fs::write(&backup, w.finish().unwrap().into_inner()).unwrap();

    migrate(dir.path(), &backup)
        .args(["--report", "report.json", "--quiet"])
        .assert()
        .code(0);
    let csv = std::fs::read_to_string(dir.path().join("tentacles.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "Id,Name,Uri,Thumbprint,CommunicationStyle,Environments,Roles,IsDisabled"
    );
    let row = lines.next().unwrap();
    assert_eq!(
        row,
        r#"Machines-1,"'=HYPERLINK(""http://x"",""y"")",https://web01:10933/,ABC,listening,"Production, EU;Test",web;@admin,false"#
    );
    assert!(lines.next().is_none());
}

#[test]
fn the_last_line_says_what_a_merge_did() {
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path(), &sample())
        .args(["--quiet"])
        .assert()
        .code(1);
    let out = migrate(dir.path(), &sample())
        .args(["--nooverwrite"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("migrated:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        summary.contains("merged (--nooverwrite): 0 rows inserted"),
        "{summary}"
    );
}

#[test]
fn progress_names_each_phase_on_short_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(dir.path(), &sample()).output().unwrap();
    let stderr = text(&out.stderr);
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("warning") && !l.starts_with("  "))
        .collect();
    for phase in [
        "pass 1 indexing",
        "pass 2 migrating",
        "task logs",
        "committing",
        "moving files",
    ] {
        assert!(
            progress.iter().any(|l| l.starts_with(phase)),
            "{phase}: {stderr}"
        );
    }
    for l in &progress {
        assert!(l.chars().count() <= 80, "{l}");
    }
}

#[test]
fn verify_json_is_one_document_with_every_difference() {
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path(), &sample())
        .args(["--quiet"])
        .assert()
        .code(1);
    let verify = || {
        let mut c = Command::cargo_bin("octo-migrate").unwrap();
        c.env_remove("OCTO_MIGRATE_MASTER_KEY")
            .current_dir(dir.path())
            .args(["verify", "--skip-unsupported-steps", "--json", "--file"])
            .arg(sample())
            .arg("--master-key-file")
            .arg(sample().with_extension("octobak.key"))
            .args(["--target", "sqlite:octopus3.db"]);
        c
    };
    let out = verify().assert().code(0).get_output().stdout.clone();
    let v: Json = serde_json::from_slice(&out).unwrap();
    assert!(v["rows_checked"].as_u64().unwrap() > 0);
    assert_eq!(v["differences"], json!([]));
    let conn = rusqlite::Connection::open(dir.path().join("octopus3.db")).unwrap();
    conn.execute(
        "UPDATE Project SET Name = 'Changed' WHERE Id = 'Projects-1'",
        [],
    )
    .unwrap();
    let out = verify().assert().code(1).get_output().stdout.clone();
    let v: Json = serde_json::from_slice(&out).unwrap();
    let d = &v["differences"][0];
    assert_eq!(
        (d["table"].as_str(), d["id"].as_str()),
        (Some("Project"), Some("Projects-1"))
    );
}

/// Output that is not a terminal (a file, a pipe, a CI log, Windows' redirected console) gets
/// no escape sequences: no colours, no progress bar, no cursor movement. Run under Wine too.
#[test]
fn no_escape_sequences_when_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let runs = [
        // progress, warnings, the tables
        migrate(dir.path(), &sample()).output().unwrap(),
        // a usage error (clap colours these on a terminal)
        Command::cargo_bin("octo-migrate")
            .unwrap()
            .args(["migrate", "--no-such-option"])
            .output()
            .unwrap(),
        Command::cargo_bin("octo-migrate")
            .unwrap()
            .args(["migrate", "--help"])
            .output()
            .unwrap(),
        Command::cargo_bin("octo-migrate")
            .unwrap()
            .env_remove("OCTO_MIGRATE_MASTER_KEY")
            .args(["inspect", "--file"])
            .arg(sample())
            .arg("--master-key-file")
            .arg(sample().with_extension("octobak.key"))
            .output()
            .unwrap(),
    ];
    let codes: Vec<_> = runs.iter().map(|o| o.status.code()).collect();
    assert_eq!(codes, [Some(1), Some(2), Some(0), Some(0)]);
    for o in &runs {
        for (name, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            assert!(!bytes.is_empty() || name == "stderr" || o.status.code() == Some(2));
            assert!(
                !bytes.contains(&0x1b),
                "an escape in {name}: {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
