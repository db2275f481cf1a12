//! The front door: cancellation, and the combinations the builder refuses, through the public
//! API only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use octo_migrate_core::sink::{Existing, Row, Sink};
use octo_migrate_core::{
    CancelToken, ErrorKind, MasterKey, Merge, Migration, Progress, ProgressSink, SqliteSink,
    TaskLogs,
};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name)
}

fn key() -> MasterKey {
    MasterKey::parse(&std::fs::read_to_string(testdata("sample.octobak.key")).unwrap()).unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_cancelled_token_stops_before_anything_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("octopus3.db");
    let token = CancelToken::new();
    token.cancel();
    let e = Migration::new(testdata("sample.octobak"), &key())
        .files_dir(dir.path())
        .skip_unsupported_steps(true)
        .cancel_token(token)
        .run(&mut SqliteSink::new(&db))
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Cancelled), "{e}");
    assert!(
        files_under(dir.path()).is_empty(),
        "{:?}",
        files_under(dir.path())
    );
}

/// Cancels the migration the first time pass 2 reports progress: after rows were written into
/// the open transaction and files into the staging folder.
struct CancelInPass2(CancelToken);

impl ProgressSink for CancelInPass2 {
    fn report(&self, p: &Progress) {
        if p.pass == 2 {
            self.0.cancel();
        }
    }
}

#[test]
fn cancelling_in_the_middle_of_pass_2_rolls_everything_back() {
    for threads in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("octopus3.db");
        let token = CancelToken::new();
        let e = Migration::new(testdata("sample.octobak"), &key())
            .files_dir(dir.path())
            .skip_unsupported_steps(true)
            .threads(std::num::NonZeroUsize::new(threads).unwrap())
            .progress(Arc::new(CancelInPass2(token.clone())))
            .cancel_token(token)
            .run(&mut SqliteSink::new(&db))
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Cancelled), "{e}");
        assert!(
            e.report().is_some(),
            "a cancelled run still reports how far it got"
        );
        assert!(
            files_under(dir.path()).is_empty(),
            "{threads} threads: {:?}",
            files_under(dir.path())
        );
    }
}

/// A target that can only be written (it does not offer `as_merge`).
#[derive(Default)]
struct WriteOnly {
    prepared: bool,
    rows: usize,
}

impl Sink for WriteOnly {
    fn describe(&self) -> String {
        "write-only".into()
    }
    fn prepare(&mut self, _: Existing) -> octo_migrate_core::Result<()> {
        self.prepared = true;
        Ok(())
    }
    fn insert(&mut self, _: Row) -> octo_migrate_core::Result<()> {
        self.rows += 1;
        Ok(())
    }
    fn commit(&mut self) -> octo_migrate_core::Result<()> {
        Ok(())
    }
    fn rollback(&mut self) -> octo_migrate_core::Result<()> {
        Ok(())
    }
}

#[test]
fn a_target_that_cannot_be_read_back_is_written_but_never_merged_into() {
    let migration = Migration::new(testdata("sample.octobak"), &key()).skip_unsupported_steps(true);
    let mut plain = WriteOnly::default();
    let report = migration.clone().run(&mut plain).unwrap();
    assert!(report.committed);
    assert_eq!(plain.rows as u64, report.tables.values().sum::<u64>());

    for m in [
        migration.clone().merge(Merge::TargetWins),
        migration.clone().merge(Merge::BackupWins),
        migration.clone().task_logs(TaskLogs::Only),
    ] {
        let mut s = WriteOnly::default();
        let e = m.run(&mut s).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Usage(_)), "{e}");
        assert!(e.to_string().contains("cannot be read back"), "{e}");
        assert!(!s.prepared, "refused before the target was touched");
    }
}
