//! The commit protocol (docs/DESIGN.md "Crash safety") at each of its steps, with faults
//! injected by a target that wraps SQLite: nothing is lost whatever fails after the target
//! committed, and nothing of an uncommitted run is placed.

use std::path::{Path, PathBuf};

use octo_migrate_core::sink::{CommitEvidence, Existing, MergeSink, Row, Sink};
use octo_migrate_core::{ErrorKind, MasterKey, Merge, Migration, SqliteSink};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name)
}

fn key() -> MasterKey {
    MasterKey::parse(&std::fs::read_to_string(testdata("sample.octobak.key")).unwrap()).unwrap()
}

fn migration(dir: &Path) -> Migration {
    Migration::new(testdata("sample.octobak"), &key())
        .files_dir(dir)
        .skip_unsupported_steps(true)
}

fn count_files(dir: &Path) -> usize {
    match std::fs::read_dir(dir) {
        Err(_) => 0,
        Ok(entries) => entries
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    count_files(&p)
                } else {
                    1
                }
            })
            .sum(),
    }
}

fn staging_folders(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".octo-migrate-staging-"))
        })
        .collect()
}

/// Where the wrapped target fails.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// The process dies (a panic stands for the kill) just before the target commits.
    DieBeforeCommit,
    /// The process dies just after the target committed, before the staged files are marked.
    DieAfterCommit,
    /// After the target committed, marking the staged files committed fails (a full disk, a
    /// quota): here a folder stands where the marker file goes.
    MarkerFails,
}

struct Faulty {
    inner: SqliteSink,
    fault: Fault,
    files: PathBuf,
}

impl Sink for Faulty {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn prepare(&mut self, existing: Existing) -> octo_migrate_core::Result<()> {
        self.inner.prepare(existing)
    }
    fn insert(&mut self, row: Row) -> octo_migrate_core::Result<()> {
        self.inner.insert(row)
    }
    fn commit(&mut self) -> octo_migrate_core::Result<()> {
        if self.fault == Fault::DieBeforeCommit {
            panic!("killed before the commit");
        }
        self.inner.commit()?;
        match self.fault {
            Fault::DieAfterCommit => panic!("killed after the commit"),
            Fault::MarkerFails => {
                for st in staging_folders(&self.files) {
                    std::fs::create_dir(st.join("COMMITTED")).unwrap();
                }
            }
            Fault::DieBeforeCommit => unreachable!(),
        }
        Ok(())
    }
    fn rollback(&mut self) -> octo_migrate_core::Result<()> {
        self.inner.rollback()
    }
    fn commit_evidence(&self) -> Option<CommitEvidence> {
        self.inner.commit_evidence()
    }
    fn as_merge(&mut self) -> Option<&mut dyn MergeSink> {
        self.inner.as_merge()
    }
}

/// A clean migration's database rows and files, to compare with.
fn clean_files() -> usize {
    let dir = tempfile::tempdir().unwrap();
    migration(dir.path())
        .run(&mut SqliteSink::new(dir.path().join("octopus3.db")))
        .unwrap();
    count_files(&dir.path().join("TaskLogs")) + count_files(&dir.path().join("Artifacts"))
}

/// Runs the migration into `db` with `fault`, then a second, clean run into the same target.
fn fault_then_rerun(fault: Fault, existing: bool) -> (tempfile::TempDir, PathBuf, bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("octopus3.db");
    let merge = if existing {
        // A target that already holds a migration: the second one merges into it.
        migration(dir.path())
            .run(&mut SqliteSink::new(&db))
            .unwrap();
        for sub in ["TaskLogs", "Artifacts"] {
            std::fs::remove_dir_all(dir.path().join(sub)).unwrap();
        }
        Merge::BackupWins
    } else {
        Merge::Refuse
    };
    let mut sink = Faulty {
        inner: SqliteSink::new(&db),
        fault,
        files: dir.path().to_path_buf(),
    };
    let m = migration(dir.path()).merge(merge);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.run(&mut sink)));
    let committed = match (fault, outcome) {
        (Fault::MarkerFails, Ok(Err(e))) => {
            assert!(matches!(e.kind(), ErrorKind::NotFinished { .. }), "{e}");
            assert!(e.is_committed());
            assert!(e.report().is_some_and(|r| r.committed));
            true
        }
        (Fault::DieBeforeCommit, Err(_)) => false,
        (Fault::DieAfterCommit, Err(_)) => true,
        (f, o) => panic!("{f:?}: {:?}", o.map(|r| r.map(|r| r.committed))),
    };
    drop(sink);
    // What the next run finds, and what it makes of it.
    let rerun = migration(dir.path())
        .merge(Merge::TargetWins)
        .run(&mut SqliteSink::new(&db));
    assert!(rerun.is_ok(), "{fault:?}: {:?}", rerun.err());
    (dir, db, committed)
}

#[test]
fn finding_02_a_failure_marking_the_files_after_the_commit_keeps_them_for_the_next_run() {
    let expected = clean_files();
    for existing in [false, true] {
        let (dir, db, committed) = fault_then_rerun(Fault::MarkerFails, existing);
        assert!(committed && db.exists());
        let placed =
            count_files(&dir.path().join("TaskLogs")) + count_files(&dir.path().join("Artifacts"));
        assert_eq!(placed, expected, "existing target: {existing}");
        assert!(staging_folders(dir.path()).is_empty());
    }
}

#[test]
fn finding_03_a_run_killed_just_after_the_commit_is_finished_by_the_next_run() {
    let expected = clean_files();
    for existing in [false, true] {
        let (dir, db, committed) = fault_then_rerun(Fault::DieAfterCommit, existing);
        assert!(committed && db.exists());
        let placed =
            count_files(&dir.path().join("TaskLogs")) + count_files(&dir.path().join("Artifacts"));
        assert_eq!(placed, expected, "existing target: {existing}");
        assert!(staging_folders(dir.path()).is_empty());
    }
}

#[test]
fn finding_03_a_run_killed_just_before_the_commit_places_nothing() {
    // A new target: nothing was committed, so the rerun's own files are all there is, and the
    // rerun (into a target that is still empty) migrates normally.
    let expected = clean_files();
    let (dir, db, committed) = fault_then_rerun(Fault::DieBeforeCommit, false);
    assert!(!committed);
    assert!(db.exists(), "the rerun migrated");
    let placed =
        count_files(&dir.path().join("TaskLogs")) + count_files(&dir.path().join("Artifacts"));
    assert_eq!(placed, expected);
    assert!(staging_folders(dir.path()).is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".octo-migrate"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
