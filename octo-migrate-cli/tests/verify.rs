//! `octo-migrate verify` as a user and a script see it: the command `migrate` prints as the next
//! step passes, a change is one `differs:` line with both values and a summary with counts per
//! kind, `--json` gives one object per difference, and the exit codes: 0 only when nothing
//! differs, 1 when something does, 2 for options that contradict the report or a files folder
//! that does not exist.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value as Json;

fn sample() -> PathBuf {
    // Absolute, with a drive letter on Windows: the tests run the .exe from another folder
    // (and, under Wine, another drive), where `/work/...` would name the wrong file.
    std::path::absolute(Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/sample.octobak"))
        .unwrap()
}

fn cmd(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("octo-migrate").unwrap();
    c.env_remove("OCTO_MIGRATE_MASTER_KEY").current_dir(dir);
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// A migration with `--maxage 3650` (no `--as-of`: the report records the time it ran) and
/// `--report report.json`; returns the `verify` command it prints as the next step, as words.
fn migrated(dir: &Path) -> Vec<String> {
    let out = cmd(dir)
        .args(["migrate", "--skip-unsupported-steps", "--maxage", "3650"])
        .arg("--file")
        .arg(sample())
        .arg("--master-key-file")
        .arg(sample().with_extension("octobak.key"))
        .args(["--target", "sqlite:octopus3.db", "--report", "report.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let next = stdout
        .lines()
        .find_map(|l| l.strip_prefix("next: check it with: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(next.ends_with(" --report report.json"), "{next}");
    next.split(' ').map(str::to_owned).collect()
}

fn verify(dir: &Path, words: &[String], extra: &[&str]) -> std::process::Output {
    assert_eq!(words[0], "octo-migrate");
    cmd(dir).args(&words[1..]).args(extra).output().unwrap()
}

#[test]
fn the_printed_verify_command_passes_and_a_change_is_named_with_both_values() {
    let dir = tempfile::tempdir().unwrap();
    let words = migrated(dir.path());
    let out = verify(dir.path(), &words, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("verified ")
            && last.ends_with(
                " files: 0 missing, 0 extra, 0 differing, 0 kept: the target holds what the backup gives"
            ),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");

    let conn = rusqlite::Connection::open(dir.path().join("octopus3.db")).unwrap();
    let name: String = conn
        .query_row(
            "SELECT Name FROM Project WHERE Id = 'Projects-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute(
        "UPDATE Project SET Name = Name || '.HACKED' WHERE Id = 'Projects-1'",
        [],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM Release WHERE Id = (SELECT max(Id) FROM Release)",
        [],
    )
    .unwrap();
    std::fs::write(dir.path().join("TaskLogs").join("extra.txt"), "x").unwrap();
    drop(conn);
    let out = verify(dir.path(), &words, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.contains(
            &format!(
                "differs: Project Projects-1 Name: expected \"{name}\", found \"{name}.HACKED\""
            )
            .as_str()
        ),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("missing: Release Releases-")),
        "{stdout}"
    );
    assert!(
        lines.contains(&"extra: file TaskLogs/extra.txt"),
        "{stdout}"
    );
    assert!(
        lines.last().unwrap().contains(
            ": 1 missing, 1 extra, 1 differing, 0 kept: the target differs from the backup"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("Some("), "{stdout}");
    // Results on stdout, nothing about them on stderr.
    assert!(
        !text(&out.stderr).contains("differs"),
        "{}",
        text(&out.stderr)
    );

    // --json: one document, one object per difference.
    let out = verify(dir.path(), &words, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            v["missing"].as_u64(),
            v["extra"].as_u64(),
            v["differs"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let d = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "differs")
        .unwrap();
    assert_eq!(d["table"], "Project");
    assert_eq!(d["id"], "Projects-1");
    assert_eq!(d["column"], "Name");
    assert_eq!(d["expected"], Json::String(format!("\"{name}\"")));
    assert_eq!(d["found"], Json::String(format!("\"{name}.HACKED\"")));
}

#[test]
fn options_that_contradict_the_report_are_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let words = migrated(dir.path());
    for extra in [
        &["--maxage", "90"][..],
        &["--nologs"],
        &["--overwrite"],
        &["--maxage", "3650", "--as-of", "2015-06-30T00:00:00+00:00"],
    ] {
        let out = verify(dir.path(), &words, extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with("error: options that contradict the report report.json: "),
            "{stderr}"
        );
        let flag = extra.iter().rev().find(|w| w.starts_with("--")).unwrap();
        assert!(stderr.contains(&format!(": {flag} ")), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    // The report of another backup (told by its size).
    let other = dir.path().join("other.octobak");
    std::fs::write(&other, b"not the backup").unwrap();
    let mut words_other = words.clone();
    let at = words_other.iter().position(|w| w == "--file").unwrap() + 1;
    words_other[at] = other.display().to_string();
    let out = verify(dir.path(), &words_other, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("the report's backup"),
        "{}",
        text(&out.stderr)
    );
    // Agreeing options are fine.
    let out = verify(
        dir.path(),
        &words,
        &["--maxage", "3650", "--skip-unsupported-steps"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Without the report, other options than the migration's show the differences.
    let no_report: Vec<String> = words
        .iter()
        .take_while(|w| *w != "--report")
        .cloned()
        .collect();
    let out = verify(dir.path(), &no_report, &["--skip-unsupported-steps"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("missing: "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_files_folder_that_does_not_exist_is_named_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let words = migrated(dir.path());
    let out = verify(dir.path(), &words, &["--files-dir", "no-such-folder"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the files folder no-such-folder does not exist"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
