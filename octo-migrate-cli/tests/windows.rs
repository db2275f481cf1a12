//! Windows behaviour of the .exe (docs/WINDOWS.md): drive letters and backslashes, paths beyond
//! 260 characters and `\\?\` paths, a file that cannot be replaced while another program has it
//! open, and Ctrl-C as a console control event. Built and run by scripts/windows.sh, under Wine;
//! on other systems this file is empty.
#![cfg(windows)]

use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn testdata(name: &str) -> PathBuf {
    std::path::absolute(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(name),
    )
    .unwrap()
}

fn bin() -> PathBuf {
    std::path::absolute(assert_cmd::cargo::cargo_bin("octo-migrate")).unwrap()
}

/// `octo-migrate migrate` of the sample's copy at `backup` (key beside it, as `.key`), run
/// from the test's own folder so that every path counts as written.
fn migrate(backup: &str, target: &str, files_dir: &str) -> Command {
    let mut c = Command::new(bin());
    c.env_remove("OCTO_MIGRATE_MASTER_KEY")
        .args(["migrate", "--quiet", "--skip-unsupported-steps", "--file"])
        .arg(backup)
        .arg("--master-key-file")
        .arg(format!("{backup}.key"))
        .args(["--target", target, "--files-dir", files_dir])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn copy_sample(to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(testdata("sample.octobak"), to).unwrap();
    let mut key = to.as_os_str().to_owned();
    key.push(".key");
    std::fs::copy(testdata("sample.octobak.key"), key).unwrap();
}

fn count(db: &Path, table: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// Every file under `dir`, with its full path.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".octo-migrate"))
        .collect()
}

/// The task logs and artifacts an uninterrupted migration of the sample writes.
fn clean_counts() -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("s.octobak");
    copy_sample(&b);
    let d = dir.path().display().to_string();
    let out = migrate(&format!("{d}\\s.octobak"), &format!("sqlite:{d}\\o.db"), &d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    (
        files_under(&dir.path().join("TaskLogs")).len(),
        files_under(&dir.path().join("Artifacts")).len(),
    )
}

/// Asserts a migration of the sample ended with its warnings, 6 projects in `db`, and all the
/// task logs and artifacts in `files`, nothing of the run left beside them.
fn assert_migrated(out: &Output, db: &Path, files: &Path) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    assert_eq!(count(db, "Project"), 6);
    let (logs, artifacts) = clean_counts();
    assert!(logs > 0 && artifacts > 0);
    assert_eq!(files_under(&files.join("TaskLogs")).len(), logs);
    assert_eq!(files_under(&files.join("Artifacts")).len(), artifacts);
    assert!(leftovers(files).is_empty(), "{:?}", leftovers(files));
}

#[test]
fn drive_letters_backslashes_and_forward_slashes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    // A Windows path: a drive letter and backslashes (Wine's C: drive here).
    assert!(
        root.as_bytes()[1] == b':' && root.contains('\\'),
        "not a drive path: {root}"
    );
    copy_sample(&dir.path().join(r"Octopus\Backups\20150630-101112.octobak"));
    // Folders with spaces, as under Program Files.
    let backup = format!(r"{root}\Octopus\Backups\20150630-101112.octobak");
    let files = format!(r"{root}\Octopus Server\Files");
    let db = format!(r"{root}\Octopus Server\octopus3.db");
    std::fs::create_dir(dir.path().join("Octopus Server")).unwrap();
    let out = migrate(&backup, &format!("sqlite:{db}"), &files)
        .args(["--report", &format!(r"{root}\Octopus Server\report.json")])
        .output()
        .unwrap();
    assert_migrated(&out, Path::new(&db), Path::new(&files));
    assert!(dir.path().join(r"Octopus Server\tentacles.csv").is_file());

    // The same with forward slashes, which Windows takes too.
    let fwd = |p: &str| p.replace('\\', "/");
    let files2 = format!(r"{root}\second\Files");
    let db2 = format!(r"{root}\second\octopus3.db");
    let out = migrate(
        &fwd(&backup),
        &format!("sqlite:{}", fwd(&db2)),
        &fwd(&files2),
    )
    .output()
    .unwrap();
    assert_migrated(&out, Path::new(&db2), Path::new(&files2));
}

/// A folder whose path is longer than MAX_PATH (260), made of `parts` names of 40 characters.
fn deep(root: &Path, parts: usize) -> PathBuf {
    let mut p = root.to_path_buf();
    for i in 0..parts {
        p.push(format!("{i:02}-{}", "d".repeat(37)));
    }
    p
}

#[test]
fn paths_beyond_260_characters() {
    let dir = tempfile::tempdir().unwrap();
    // The backup, the database and the files folder all deep down: beyond MAX_PATH.
    let base = deep(dir.path(), 7);
    assert!(base.as_os_str().len() > 260, "{}", base.display());
    let backup = base.join("20150630-101112.octobak");
    copy_sample(&backup);
    let files = base.join("Files");
    let db = base.join("octopus3.db");
    let out = migrate(
        backup.to_str().unwrap(),
        &format!("sqlite:{}", db.display()),
        files.to_str().unwrap(),
    )
    .output()
    .unwrap();
    assert_migrated(&out, &db, &files);
    let longest = files_under(&files)
        .iter()
        .map(|p| p.as_os_str().len())
        .max()
        .unwrap();
    assert!(longest > 300, "{longest}");
}

#[test]
fn verbatim_paths() {
    let dir = tempfile::tempdir().unwrap();
    // `\\?\C:\...`: no normalisation by Windows, so only backslashes may separate names.
    let root = format!(r"\\?\{}", dir.path().display());
    copy_sample(&dir.path().join(r"in\s.octobak"));
    let files = format!(r"{root}\deep\{}", deep(Path::new("x"), 6).display());
    let db = format!(r"{root}\octopus3.db");
    let out = migrate(
        &format!(r"{root}\in\s.octobak"),
        &format!("sqlite:{db}"),
        &files,
    )
    .output()
    .unwrap();
    assert_migrated(&out, &dir.path().join("octopus3.db"), Path::new(&files));
}

/// Open for reading as most programs open a file on Windows: other readers welcome, but no
/// one may delete it or rename over it (no FILE_SHARE_DELETE).
fn hold_open(p: &Path) -> std::fs::File {
    const FILE_SHARE_READ: u32 = 1;
    std::fs::OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ)
        .open(p)
        .unwrap()
}

#[test]
fn a_task_log_held_open_is_replaced_by_the_next_run_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    copy_sample(&dir.path().join("s.octobak"));
    let backup = format!(r"{d}\s.octobak");
    let target = format!(r"sqlite:{d}\octopus3.db");
    let out = migrate(&backup, &target, &d).output().unwrap();
    assert_migrated(&out, &dir.path().join("octopus3.db"), dir.path());
    let logs = files_under(&dir.path().join("TaskLogs"));
    let clean: Vec<Vec<u8>> = logs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // A log edited since, and held open by a reader (the 3.x server showing it, an editor).
    let held_path = logs[0].clone();
    std::fs::write(&held_path, b"edited").unwrap();
    let held = hold_open(&held_path);
    // Replacing that file fails on Windows: the run says so, and nothing is lost.
    let out = migrate(&backup, &target, &d)
        .args(["--onlylogs", "--overwrite"])
        .output()
        .unwrap();
    assert!(
        !matches!(out.status.code(), Some(0 | 1)),
        "replaced a file that is open: {}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&held_path).unwrap(), b"edited");
    // Once the reader lets go, the next run puts the backup's log in place.
    drop(held);
    let out = migrate(&backup, &target, &d)
        .args(["--onlylogs", "--overwrite"])
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
    for (p, want) in logs.iter().zip(&clean) {
        assert_eq!(&std::fs::read(p).unwrap(), want, "{}", p.display());
    }
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

#[link(name = "kernel32")]
unsafe extern "system" {
    fn AllocConsole() -> i32;
    fn GenerateConsoleCtrlEvent(event: u32, process_group: u32) -> i32;
}

// Wine 8 started without a terminal (CI) has no console to send the event through:
// GenerateConsoleCtrlEvent fails there with ERROR_INVALID_ACCESS. On Windows, run it with
// `cargo test --test windows -- --ignored`.
#[test]
#[ignore = "needs a Windows console; Wine 8 without a terminal delivers no console control event"]
fn ctrl_break_stops_cleanly_leaving_nothing() {
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x200;
    const CTRL_BREAK_EVENT: u32 = 1;
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.octobak");
    let st = Command::new(bin())
        .args(["generate-sample", "--scale", "6", "--seed", "9", "--out"])
        .arg(&big)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // Console events go to the processes of a console: have one (a no-op when there is).
    // SAFETY: no arguments; fails harmlessly when this process already has a console.
    unsafe { AllocConsole() };
    let key = dir.path().join("big.octobak.key");
    let child = Command::new(bin())
        .current_dir(dir.path())
        .env_remove("OCTO_MIGRATE_MASTER_KEY")
        .args(["migrate", "--skip-unsupported-steps", "--file"])
        .arg(&big)
        .arg("--master-key-file")
        .arg(&key)
        .args(["--target", "sqlite:octopus3.db"])
        // Its own process group, so the event reaches it and not this test.
        .creation_flags(CREATE_NEW_PROCESS_GROUP)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if !leftovers(dir.path()).iter().all(|n| n.ends_with(".lock")) {
            break; // staging files: well into the migration
        }
        assert!(started.elapsed() < Duration::from_secs(120), "never staged");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: plain values; the child's pid is its process group's id.
    let sent = unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, child.id()) };
    assert_ne!(sent, 0, "{}", std::io::Error::last_os_error());
    let out = child.wait_with_output().unwrap();
    if out.status.code() == Some(1) {
        // It finished before the event arrived: nothing to prove this time.
        return;
    }
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert!(!dir.path().join("octopus3.db").exists());
    assert!(!dir.path().join("TaskLogs").exists());
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

#[test]
fn a_report_named_like_the_database_in_other_case_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    copy_sample(&dir.path().join("s.octobak"));
    // NTFS ignores case: OCTOPUS3.DB is the database, which the report would overwrite.
    for report in [r"OCTOPUS3.DB", r"S.OCTOBAK", r"Tentacles.CSV"] {
        let out = migrate(
            &format!(r"{d}\s.octobak"),
            &format!(r"sqlite:{d}\octopus3.db"),
            &d,
        )
        .args(["--report", &format!(r"{d}\{report}")])
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(2), "{report}: {}", stderr(&out));
        assert!(!dir.path().join("octopus3.db").exists(), "{report}");
    }
}
