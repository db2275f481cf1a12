//! "Nothing lost, whatever happens": the commit protocol seen from the command line —
//! concurrent runs, a failure after the commit, paths that would overwrite what the migration
//! reads, an SQLite path that looks like a URI, and interrupts. Each test is named after the
//! finding it proves.
//!
//! The races, the report-path checks and the failure after the commit run on Windows too
//! (scripts/windows.sh, under Wine). Unix only, each said where: the interrupts (sent with
//! `kill`; Windows' console events are tested in tests/windows.rs), PID 1 (`unshare`, `/proc`)
//! and a file name with `:` (not a file name on Windows).

use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::process::Child;
use std::process::{Command, Output, Stdio};
#[cfg(unix)]
use std::time::{Duration, Instant};

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

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("octo-migrate")
}

/// `migrate` of `backup` (its key beside it) into `sqlite:<target>` inside `dir`.
fn migrate(dir: &Path, backup: &Path, target: &str) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(dir)
        .env_remove("OCTO_MIGRATE_MASTER_KEY")
        .args(["migrate", "--quiet", "--skip-unsupported-steps", "--file"])
        .arg(backup)
        .arg("--master-key-file")
        .arg(backup.with_extension("octobak.key"))
        .args(["--target", &format!("sqlite:{target}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn sample_copy(dir: &Path) -> PathBuf {
    let b = dir.join("s.octobak");
    std::fs::copy(testdata("sample.octobak"), &b).unwrap();
    std::fs::copy(testdata("sample.octobak.key"), dir.join("s.octobak.key")).unwrap();
    b
}

/// A generated backup big enough that a migration runs for a while (scale 6, about a second
/// in a debug build).
#[cfg(unix)]
fn big_backup(dir: &Path) -> PathBuf {
    let b = dir.join("big.octobak");
    let st = Command::new(bin())
        .args(["generate-sample", "--scale", "6", "--seed", "9", "--out"])
        .arg(&b)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    b
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn count(db: &Path, table: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
            r.get(0)
        })
        .unwrap()
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn octo_leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("octo-migrate"))
        .collect()
}

/// The task-log files of an uninterrupted migration of the sample.
fn clean_task_logs() -> usize {
    let dir = tempfile::tempdir().unwrap();
    let backup = sample_copy(dir.path());
    let out = migrate(dir.path(), &backup, "octopus3.db")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    files_in(&dir.path().join("TaskLogs"))
}

/// Two migrations started together into one target: never both "migrated", never mixed.
fn race_two(dir: &Path, backup: &Path, logs: usize) {
    let a = migrate(dir, backup, "octopus3.db").spawn().unwrap();
    let b = migrate(dir, backup, "octopus3.db").spawn().unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    let ok = codes.iter().filter(|c| **c == Some(1)).count();
    assert_eq!(
        ok,
        1,
        "exactly one run migrates: {codes:?}\n{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    assert!(codes.contains(&Some(5)), "the other is refused: {codes:?}");
    let loser = if a.status.code() == Some(5) { &a } else { &b };
    let why = stderr(loser);
    assert!(
        why.contains("is being migrated by") || why.contains("already holds Octopus data"),
        "{why}"
    );
    // The target holds one migration: the sample's 6 projects and one log per task.
    let db = dir.join("octopus3.db");
    assert_eq!(count(&db, "Project"), 6);
    assert_eq!(files_in(&dir.join("TaskLogs")), logs);
    assert!(octo_leftovers(dir).is_empty(), "{:?}", octo_leftovers(dir));
}

#[test]
fn finding_05_two_migrations_into_one_new_sqlite_path_never_both_succeed() {
    let logs = clean_task_logs();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let backup = sample_copy(dir.path());
        race_two(dir.path(), &backup, logs);
    }
}

#[test]
fn finding_06_two_migrations_into_one_existing_empty_file_never_merge() {
    let logs = clean_task_logs();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let backup = sample_copy(dir.path());
        std::fs::write(dir.path().join("octopus3.db"), b"").unwrap();
        race_two(dir.path(), &backup, logs);
    }
}

#[test]
fn finding_08_a_report_path_that_would_overwrite_an_input_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let backup = sample_copy(dir.path());
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    for (report, needle) in [
        ("octopus3.db", "octopus3.db"),
        ("s.octobak", "s.octobak"),
        ("s.octobak.key", "s.octobak.key"),
        ("tentacles.csv", "tentacles.csv"),
        ("folder", "is a folder"),
        ("missing/report.json", "cannot write"),
    ] {
        let before = std::fs::read(&backup).unwrap();
        let out = migrate(dir.path(), &backup, "octopus3.db")
            .args(["--report", report])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{report}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{report}: {}", stderr(&out));
        assert!(
            !dir.path().join("octopus3.db").exists(),
            "{report}: nothing ran"
        );
        assert_eq!(std::fs::read(&backup).unwrap(), before);
    }
}

#[test]
fn finding_08_a_files_failure_after_the_commit_exits_7_and_the_next_run_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let backup = sample_copy(dir.path());
    // A file where the task-log folder goes: moving the logs into place fails after the commit.
    std::fs::write(dir.path().join("TaskLogs"), b"in the way").unwrap();
    let out = migrate(dir.path(), &backup, "octopus3.db")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(stderr(&out).contains("committed"), "{}", stderr(&out));
    let db = dir.path().join("octopus3.db");
    assert_eq!(count(&db, "Project"), 6, "the database is committed");
    // Nothing is lost: the staged files wait; once the cause is gone the next run places them
    // (and then reports the target as migrated already).
    std::fs::remove_file(dir.path().join("TaskLogs")).unwrap();
    let out = migrate(dir.path(), &backup, "octopus3.db")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(files_in(&dir.path().join("TaskLogs")), clean_task_logs());
    assert!(files_in(&dir.path().join("Artifacts")) > 0);
    assert!(
        octo_leftovers(dir.path()).is_empty(),
        "{:?}",
        octo_leftovers(dir.path())
    );
}

// Unix only: `:` is not allowed in a Windows file name (`file:u.db` would name an NTFS stream).
#[cfg(unix)]
#[test]
fn finding_09_an_sqlite_path_that_looks_like_a_uri_is_a_file_of_that_name() {
    let dir = tempfile::tempdir().unwrap();
    let backup = sample_copy(dir.path());
    let out = migrate(dir.path(), &backup, "file:u.db").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(count(&dir.path().join("file:u.db"), "Project"), 6);
    assert!(!dir.path().join("u.db").exists());
    assert!(
        octo_leftovers(dir.path()).is_empty(),
        "{:?}",
        octo_leftovers(dir.path())
    );
}

/// Waits until the run has staged files (it is well into pass 2), then sends `signal`.
#[cfg(unix)]
fn interrupt_when_staging(child: &Child, dir: &Path, signal: &str) {
    let started = Instant::now();
    loop {
        let staging = std::fs::read_dir(dir).unwrap().flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".octo-migrate-staging-")
        });
        if staging {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never staged");
        std::thread::sleep(Duration::from_millis(5));
    }
    let st = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

// Unix only: SIGINT and SIGTERM sent with `kill` (Ctrl-C on Windows: tests/windows.rs).
#[cfg(unix)]
#[test]
fn finding_10_an_interrupt_stops_cleanly_leaving_nothing() {
    let root = tempfile::tempdir().unwrap();
    let backup = big_backup(root.path());
    for signal in ["-INT", "-TERM"] {
        let dir = root.path().join(signal.trim_start_matches('-'));
        std::fs::create_dir(&dir).unwrap();
        let child = migrate(&dir, &backup, "octopus3.db").spawn().unwrap();
        interrupt_when_staging(&child, &dir, signal);
        let out = child.wait_with_output().unwrap();
        if out.status.code() == Some(1) {
            // It finished before the signal arrived: nothing to prove this time.
            continue;
        }
        assert_eq!(out.status.code(), Some(130), "{signal}: {}", stderr(&out));
        assert!(!dir.join("octopus3.db").exists(), "{signal}");
        assert!(!dir.join("TaskLogs").exists(), "{signal}");
        assert!(
            octo_leftovers(&dir).is_empty(),
            "{signal}: {:?}",
            octo_leftovers(&dir)
        );
    }
}

// Unix only: a PID namespace (`unshare`), `/proc` and `kill`.
#[cfg(unix)]
#[test]
fn finding_10_as_pid_1_an_interrupt_still_stops_cleanly() {
    let pid_ns = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !pid_ns {
        eprintln!("skipped: unshare --pid is not permitted here");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let backup = big_backup(root.path());
    let dir = root.path().join("pid1");
    std::fs::create_dir(&dir).unwrap();
    // `--exec` keeps the tool as the namespace's PID 1; the signal goes to it from outside
    // through a small shell that knows its pid inside: `kill 1`.
    let script = format!(
        "{} migrate --quiet --skip-unsupported-steps --file {} --master-key-file {} \
         --target sqlite:octopus3.db",
        bin().display(),
        backup.display(),
        backup.with_extension("octobak.key").display()
    );
    let child = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "sh", "-c"])
        .arg(format!("exec {script}"))
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The tool is PID 1 inside; from outside it is the child of `unshare`: find it.
    let started = Instant::now();
    let tool = loop {
        let children =
            std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
                .unwrap_or_default();
        if let Some(p) = children.split_whitespace().next() {
            break p.to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(5));
    };
    let started = Instant::now();
    while !std::fs::read_dir(&dir).unwrap().flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with(".octo-migrate-staging-")
    }) {
        assert!(started.elapsed() < Duration::from_secs(60), "never staged");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(Command::new("kill")
        .args(["-TERM", &tool])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    if out.status.code() == Some(1) {
        return; // finished before the signal: nothing to prove this time
    }
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(!dir.join("octopus3.db").exists());
    assert!(
        octo_leftovers(&dir).is_empty(),
        "{:?}",
        octo_leftovers(&dir)
    );
}
