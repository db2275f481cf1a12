//! Crash safety: a migration killed with SIGKILL at many moments (reading, writing rows,
//! staging files, committing, moving files) leaves no database and no migrated file where
//! Octopus 3.x would read them, and a rerun gives exactly what an uninterrupted run gives.
//!
//! Unix only: it kills with SIGKILL (`kill -9`) at chosen moments and runs the tool as PID 1
//! of a PID namespace (`unshare`). On Windows the same protocol is covered by the core's
//! tests/commit_protocol.rs (a death injected at each step), which runs under Wine.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("octo-migrate")
}

/// How the tool is started: directly, or as PID 1 of a new PID namespace (a container's
/// init: every run there has the same process id), killed with the `unshare` around it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Launch {
    Direct,
    Pid1,
}

fn migrate_cmd_as(launch: Launch, dir: &Path, backup: &Path) -> Command {
    let mut c = match launch {
        Launch::Direct => Command::new(bin()),
        Launch::Pid1 => {
            let mut c = Command::new("unshare");
            c.args(["--pid", "--fork", "--kill-child"]).arg(bin());
            c
        }
    };
    c.current_dir(dir)
        .env_remove("OCTO_MIGRATE_MASTER_KEY")
        .args(["migrate", "--file"])
        .arg(backup)
        .arg("--master-key-file")
        .arg(backup.with_extension("octobak.key"))
        .args([
            "--skip-unsupported-steps",
            "--quiet",
            "--target",
            "sqlite:octopus3.db",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// What a finished migration left: row ids per table, and every file with its content.
fn outcome(dir: &Path) -> (BTreeMap<String, Vec<String>>, BTreeMap<PathBuf, Vec<u8>>) {
    let conn = rusqlite::Connection::open(dir.join("octopus3.db")).unwrap();
    let mut tables = BTreeMap::new();
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for t in names {
        let first_col = if t == "EventRelatedDocument" {
            "RelatedDocumentId || EventId"
        } else {
            "1"
        };
        let sql = format!("SELECT {first_col}, * FROM \"{t}\"");
        let mut stmt = conn.prepare(&sql).unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                // Every column but JSON (sensitive values get a fresh IV each run).
                let mut s = String::new();
                for i in 1..n {
                    if r.as_ref().column_name(i).unwrap() == "JSON" {
                        continue;
                    }
                    if t == "EventRelatedDocument" && i == 1 {
                        continue; // identity, depends on nothing we promise
                    }
                    let v: rusqlite::types::Value = r.get(i)?;
                    s.push_str(&format!("{v:?}|"));
                }
                Ok(s)
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        rows.sort();
        tables.insert(t, rows);
    }
    let mut files = BTreeMap::new();
    for top in ["TaskLogs", "Artifacts"] {
        collect(&dir.join(top), dir, &mut files);
    }
    (tables, files)
}

fn collect(p: &Path, root: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                collect(&e.path(), root, out);
            } else {
                out.insert(
                    e.path().strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(e.path()).unwrap(),
                );
            }
        }
    }
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("octo-migrate"))
        .collect()
}

/// Both launches in one test, one after the other: run side by side they would load the
/// machine and shift each other's timing.
#[test]
fn sigkill_at_any_moment_leaves_nothing_and_a_rerun_matches_a_clean_run() {
    kill_at_every_moment(Launch::Direct, 12);
    finding_04_as_pid_1_a_killed_run_is_finished_by_the_next_run_also_pid_1();
}

/// Whether this machine lets a test start a process as PID 1 of a new PID namespace.
fn pid_namespaces_work() -> bool {
    Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn finding_04_as_pid_1_a_killed_run_is_finished_by_the_next_run_also_pid_1() {
    if !pid_namespaces_work() {
        eprintln!("skipped: unshare --pid is not permitted here");
        return;
    }
    kill_at_every_moment(Launch::Pid1, 8);
}

fn kill_at_every_moment(launch: Launch, steps: u32) {
    let migrate_cmd = |dir: &Path, backup: &Path| migrate_cmd_as(launch, dir, backup);
    // A killed process may take a moment to die (PID 1 of a namespace dies after `unshare`):
    // until it has, its lock rightly refuses the rerun ("is being migrated by"), so wait.
    let rerun = |dir: &Path, backup: &Path| {
        for _ in 0..50 {
            let out = migrate_cmd(dir, backup)
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            if !String::from_utf8_lossy(&out.stderr).contains("is being migrated by") {
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the killed run never let go of its lock");
    };
    let root = tempfile::tempdir().unwrap();
    let backup = root.path().join("s.octobak");
    let st = Command::new(bin())
        .args(["generate-sample", "--scale", "6", "--seed", "4", "--out"])
        .arg(&backup)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());

    // The uninterrupted run, and how long it takes.
    let clean = root.path().join("clean");
    std::fs::create_dir(&clean).unwrap();
    let t0 = Instant::now();
    let st = migrate_cmd(&clean, &backup).status().unwrap();
    let full = t0.elapsed();
    assert_eq!(st.code(), Some(1));
    let expected = outcome(&clean);
    assert!(!expected.1.is_empty());

    let mut killed = 0;
    // `steps` kills spread over a run; on a loaded machine a run may take longer or shorter
    // than the clean one did, so more kills (spread over the first 90 %) follow until half
    // of them have landed mid-run, up to three times as many.
    let mut step = 0;
    while step < steps || (killed < steps / 2 && step < 3 * steps) {
        let at = if step < steps {
            f64::from(step) / f64::from(steps - 1) * 1.05
        } else {
            f64::from((step * 7) % steps) / f64::from(steps) * 0.9
        };
        step += 1;
        let dir = root.path().join(format!("k{step}"));
        std::fs::create_dir(&dir).unwrap();
        let mut child = migrate_cmd(&dir, &backup).spawn().unwrap();
        // Killed at once, `unshare` may die between its fork and its child's asking to die
        // with it: the child would then go on alone. A few milliseconds in, it has asked.
        let mut wait = full.mul_f64(at);
        if launch == Launch::Pid1 {
            wait = wait.max(std::time::Duration::from_millis(100));
        }
        std::thread::sleep(wait);
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL (of `unshare`, which takes PID 1 with it)
        let status = child.wait().unwrap();
        if launch == Launch::Pid1 {
            // PID 1 of the namespace dies as its parent does, a moment later.
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        if !finished && status.code().is_none() {
            killed += 1;
            // Before the commit: no database and no migrated file.
            if !dir.join("octopus3.db").exists() {
                assert!(
                    !dir.join("TaskLogs").exists(),
                    "step {step}: logs without a database"
                );
                assert!(!dir.join("Artifacts").exists(), "step {step}");
            }
        }
        // A rerun gives the same result, leaving nothing behind.
        if dir.join("octopus3.db").exists() {
            // The kill came after the database committed: the rerun is refused (the target
            // holds data, exit 5) but first rolls the staged files forward.
            let out = rerun(&dir, &backup);
            assert_eq!(
                out.status.code(),
                Some(5),
                "step {step}: rerun after commit: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(outcome(&dir), expected, "step {step}");
        } else {
            let out = rerun(&dir, &backup);
            assert_eq!(
                out.status.code(),
                Some(1),
                "step {step}: rerun: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(outcome(&dir), expected, "step {step}: rerun differs");
        }
        assert!(
            leftovers(&dir).is_empty(),
            "step {step}: {:?}",
            leftovers(&dir)
        );
    }
    assert!(
        killed >= steps / 2,
        "only {killed} runs were killed mid-way; the timing is off"
    );
}
