//! `verify` against a migrated SQLite target, clean and tampered in every way issue 13 lists:
//! each test changes one thing and asserts the exact difference verify names.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use octo_migrate_core::internals::crypto::{decrypt_value, encrypt_value};
use octo_migrate_core::sink::SqliteSink;
use octo_migrate_core::verify::{self, Kind, Verification};
use octo_migrate_core::{ErrorKind, MasterKey, Merge, Migration};
use octo_migrate_sample::{self as sample, BackupWriter, DumpOptions, EntryForm, SampleOptions};
use rusqlite::Connection;
use serde_json::{json, Value as Json};

const SEED: u64 = 23;

fn target_key() -> MasterKey {
    MasterKey::parse("AAECAwQFBgcICQoLDA0ODw==").unwrap()
}

/// A backup migrated once, with `--maxage 90 --as-of` the sample's time, its own 3.x key and
/// `--skip-unsupported-steps`; each test works on a copy.
struct Base {
    _dir: tempfile::TempDir,
    backup: PathBuf,
    key: MasterKey,
    /// Holds `octopus3.db`, `TaskLogs/` and `Artifacts/`.
    migrated: PathBuf,
}

fn as_of() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(sample::SAMPLE_AS_OF).unwrap()
}

fn migration(b: &Base) -> Migration {
    Migration::new(&b.backup, &b.key)
        .skip_unsupported_steps(true)
        .target_key(&target_key())
        .max_age_days(90)
        .as_of(as_of())
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = sample::sample_key(SEED);
        let backup = dir.path().join("in.octobak");
        sample::write_sample_file(&backup, &key, &SampleOptions::new(1, SEED)).unwrap();
        let migrated = dir.path().join("migrated");
        std::fs::create_dir(&migrated).unwrap();
        let b = Base {
            _dir: dir,
            backup,
            key,
            migrated,
        };
        let mut sink = SqliteSink::new(b.migrated.join("octopus3.db"));
        migration(&b).files_dir(&b.migrated).run(&mut sink).unwrap();
        b
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A copy of the migrated target to tamper with.
struct Target {
    dir: tempfile::TempDir,
}

impl Target {
    fn new() -> Target {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&base().migrated, dir.path());
        Target { dir }
    }
    fn db(&self) -> PathBuf {
        self.dir.path().join("octopus3.db")
    }
    fn files(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
    fn sql(&self, sql: &str) -> usize {
        Connection::open(self.db())
            .unwrap()
            .execute(sql, [])
            .unwrap()
    }
    fn one(&self, sql: &str) -> String {
        Connection::open(self.db())
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }
    fn verify(&self) -> Verification {
        self.verify_with(migration(base()))
    }
    fn verify_with(&self, m: Migration) -> Verification {
        verify::verify_sqlite(m, &self.db(), Some(self.files())).unwrap()
    }
    fn first_file(&self, folder: &str) -> (PathBuf, String) {
        let mut files = Vec::new();
        walk(&self.dir.path().join(folder), &mut files);
        files.sort();
        let p = files.into_iter().next().expect("a file");
        let rel = p
            .strip_prefix(self.dir.path())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        (p, rel)
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The lines verify prints for the differences (not the kept rows).
fn lines(v: &Verification) -> Vec<String> {
    v.differences
        .iter()
        .filter(|d| d.kind != Kind::Kept)
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn a_clean_target_passes_with_every_row_and_file_checked() {
    let t = Target::new();
    let v = t.verify();
    assert_eq!(lines(&v), Vec::<String>::new());
    assert!(v.passed());
    assert_eq!((v.missing, v.extra, v.differs, v.kept), (0, 0, 0, 0));
    let rows: i64 = Connection::open(t.db())
        .unwrap()
        .query_row(
            "SELECT (SELECT count(*) FROM Project) + (SELECT count(*) FROM Deployment)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        v.rows_checked > rows as u64,
        "{} rows checked",
        v.rows_checked
    );
    let mut files = Vec::new();
    walk(&t.files().join("TaskLogs"), &mut files);
    walk(&t.files().join("Artifacts"), &mut files);
    assert!(!files.is_empty());
    assert_eq!(v.files_checked, files.len() as u64);
}

#[test]
fn an_extra_row_is_named() {
    let t = Target::new();
    t.sql(
        "INSERT INTO Project SELECT 'Projects-9999', Name || ' copy', Slug || '-copy', IsDisabled, \
         VariableSetId, DeploymentProcessId, ProjectGroupId, LifecycleId, AutoCreateRelease, JSON \
         FROM Project WHERE Id = (SELECT min(Id) FROM Project)",
    );
    assert_eq!(lines(&t.verify()), ["extra: Project Projects-9999"]);
}

#[test]
fn a_missing_row_is_named() {
    let t = Target::new();
    let id = t.one("SELECT max(Id) FROM Release");
    t.sql(&format!("DELETE FROM Release WHERE Id = '{id}'"));
    assert_eq!(lines(&t.verify()), [format!("missing: Release {id}")]);
}

#[test]
fn a_changed_column_is_named_with_both_values() {
    let t = Target::new();
    let (id, name) = {
        let c = Connection::open(t.db()).unwrap();
        c.query_row(
            "SELECT Id, Name FROM Project ORDER BY Id LIMIT 1",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .unwrap()
    };
    t.sql(&format!(
        "UPDATE Project SET Name = Name || '.HACKED' WHERE Id = '{id}'"
    ));
    assert_eq!(
        lines(&t.verify()),
        [format!(
            "differs: Project {id} Name: expected \"{name}\", found \"{name}.HACKED\""
        )]
    );
    // A NULL and a bit are shown as such.
    t.sql(&format!(
        "UPDATE Project SET Name = '{name}', DeploymentProcessId = NULL, IsDisabled = 1 WHERE Id = '{id}'"
    ));
    let d = lines(&t.verify());
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(
        d[0],
        format!("differs: Project {id} IsDisabled: expected false, found true")
    );
    assert!(
        d[1].starts_with(&format!(
            "differs: Project {id} DeploymentProcessId: expected \""
        )),
        "{d:?}"
    );
    assert!(d[1].ends_with(", found NULL"), "{d:?}");
}

#[test]
fn a_changed_json_property_is_named_by_its_path() {
    let t = Target::new();
    let id = t.one("SELECT Id FROM Project ORDER BY Id LIMIT 1");
    // Reordered properties and respelled numbers are the same JSON.
    let json = t.one(&format!("SELECT JSON FROM Project WHERE Id = '{id}'"));
    let mut doc: serde_json::Map<String, Json> = serde_json::from_str(&json).unwrap();
    let reversed: serde_json::Map<String, Json> = doc
        .clone()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    let c = Connection::open(t.db()).unwrap();
    c.execute(
        "UPDATE Project SET JSON = ?1 WHERE Id = ?2",
        [serde_json::to_string(&reversed).unwrap(), id.clone()],
    )
    .unwrap();
    assert_eq!(lines(&t.verify()), Vec::<String>::new());
    let before = doc.get("Description").cloned().unwrap_or(Json::Null);
    doc.insert("Description".into(), json!("tampered"));
    c.execute(
        "UPDATE Project SET JSON = ?1 WHERE Id = ?2",
        [serde_json::to_string(&doc).unwrap(), id.clone()],
    )
    .unwrap();
    let expected = if before.is_null() {
        // The property was absent or null.
        if json.contains("\"Description\"") {
            "null".to_owned()
        } else {
            "nothing".to_owned()
        }
    } else {
        serde_json::to_string(&before).unwrap()
    };
    assert_eq!(
        lines(&t.verify()),
        [format!(
            "differs: Project {id} JSON.Description: expected {expected}, found \"tampered\""
        )]
    );
}

/// The variable set holding a sensitive variable, with that variable's id and plaintext.
fn sensitive_variable(t: &Target) -> (String, Json, String, String) {
    let c = Connection::open(t.db()).unwrap();
    let mut s = c
        .prepare("SELECT Id, JSON FROM VariableSet ORDER BY Id")
        .unwrap();
    let rows: Vec<(String, String)> = s
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, json) in rows {
        let doc: Json = serde_json::from_str(&json).unwrap();
        for v in doc["Variables"].as_array().into_iter().flatten() {
            if v["Type"] == json!("Sensitive") {
                if let Some(value) = v["Value"].as_str() {
                    let plain = decrypt_value(&target_key(), value).unwrap();
                    return (
                        id,
                        doc.clone(),
                        v["Id"].as_str().unwrap().to_owned(),
                        plain.expose().to_owned(),
                    );
                }
            }
        }
    }
    panic!("the sample has a sensitive variable");
}

#[test]
fn a_changed_sensitive_value_is_named_without_its_plaintext() {
    let t = Target::new();
    let (set, doc, var, plain) = sensitive_variable(&t);
    let with_value = |value: String| {
        let mut d = doc.clone();
        for v in d["Variables"].as_array_mut().unwrap() {
            if v["Id"] == json!(var) {
                v["Value"] = json!(value);
            }
        }
        Connection::open(t.db())
            .unwrap()
            .execute(
                "UPDATE VariableSet SET JSON = ?1 WHERE Id = ?2",
                [serde_json::to_string(&d).unwrap(), set.clone()],
            )
            .unwrap();
    };
    // The same plaintext encrypted again (another IV) is the same value.
    with_value(encrypt_value(&target_key(), &plain));
    assert_eq!(lines(&t.verify()), Vec::<String>::new());
    let cases = [
        (
            encrypt_value(&target_key(), "s3cret-changed"),
            "the sensitive value decrypts to another plaintext (values not shown)",
        ),
        (
            "s3cret-changed".to_owned(),
            "the sensitive value is not one that decrypts under the target key (values not shown)",
        ),
    ];
    for (value, detail) in cases {
        with_value(value);
        let d = lines(&t.verify());
        assert_eq!(
            d,
            [format!(
                "differs: VariableSet {set} JSON.Variables[Id={var}].Value: {detail}"
            )]
        );
        assert!(!d[0].contains(&plain) && !d[0].contains("s3cret"), "{d:?}");
    }
}

#[test]
fn an_appended_log_line_is_named_with_where_the_file_differs() {
    let t = Target::new();
    let (path, rel) = t.first_file("TaskLogs");
    let len = std::fs::metadata(&path).unwrap().len();
    let lines_before = std::fs::read(&path)
        .unwrap()
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    use std::io::Write as _;
    let line = b"2015-06-30 10:00:00 INFO  appended\n";
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(line).unwrap();
    drop(f);
    assert_eq!(
        lines(&t.verify()),
        [format!(
            "differs: file {rel}: differs from byte {len} (line {}): expected {len} bytes, found {}",
            lines_before + 1,
            len + line.len() as u64
        )]
    );
}

#[test]
fn extra_and_missing_files_are_named() {
    let t = Target::new();
    let (log, log_rel) = t.first_file("TaskLogs");
    let (artifact, artifact_rel) = t.first_file("Artifacts");
    std::fs::remove_file(&log).unwrap();
    std::fs::remove_file(&artifact).unwrap();
    std::fs::write(t.files().join("TaskLogs").join("servertasks-9999.txt"), "x").unwrap();
    std::fs::create_dir_all(t.files().join("Artifacts").join("artifacts-9999")).unwrap();
    std::fs::write(
        t.files()
            .join("Artifacts")
            .join("artifacts-9999")
            .join("a.txt"),
        "x",
    )
    .unwrap();
    let mut want = vec![
        format!("missing: file {log_rel}"),
        format!("missing: file {artifact_rel}"),
        "extra: file TaskLogs/servertasks-9999.txt".to_owned(),
        "extra: file Artifacts/artifacts-9999/a.txt".to_owned(),
    ];
    let mut got = lines(&t.verify());
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn a_files_folder_that_does_not_exist_is_an_error_not_a_pass() {
    let t = Target::new();
    let gone = t.files().join("no-such-folder");
    let e = verify::verify_sqlite(migration(base()), &t.db(), Some(gone.clone())).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Usage(_)), "{e}");
    assert!(e.to_string().contains(&gone.display().to_string()), "{e}");
}

#[test]
fn other_options_than_the_migration_s_show_the_differences() {
    let t = Target::new();
    // All history expected where the migration kept 90 days: rows missing.
    let all = Migration::new(&base().backup, &base().key)
        .skip_unsupported_steps(true)
        .target_key(&target_key());
    let v = t.verify_with(all);
    assert!(!v.passed());
    assert!(v.missing > 0 && v.extra == 0, "{}", v.counts());
    assert!(
        lines(&v)
            .iter()
            .any(|l| l.starts_with("missing: Deployment ")),
        "{:?}",
        lines(&v)
    );
    // Fewer days than the migration kept: rows extra.
    let fewer = Migration::new(&base().backup, &base().key)
        .skip_unsupported_steps(true)
        .target_key(&target_key())
        .max_age_days(30)
        .as_of(as_of());
    let v = t.verify_with(fewer);
    assert!(v.extra > 0 && v.missing == 0, "{}", v.counts());
    assert!(
        lines(&v)
            .iter()
            .any(|l| l.starts_with("extra: Deployment ")),
        "{:?}",
        lines(&v)
    );
    // Without the task logs: every log file is extra.
    let nologs = migration(base()).task_logs(octo_migrate_core::TaskLogs::Skip);
    let v = t.verify_with(nologs);
    assert!(v.extra > 0 && v.missing == 0, "{}", v.counts());
    assert!(lines(&v)
        .iter()
        .all(|l| l.starts_with("extra: file TaskLogs/")));
}

fn own_doc(coll: &str, id: &str, mut body: Json) -> Json {
    body["@metadata"] = json!({"@id": id, "Raven-Entity-Name": coll});
    body
}

#[test]
fn a_merged_target_checks_the_backup_s_rows_and_lists_its_own_as_kept() {
    let t = Target::new();
    // A target of its own: another server's small backup, migrated first.
    let dir = tempfile::tempdir().unwrap();
    let own_backup = dir.path().join("own.octobak");
    let mut w = BackupWriter::new(Cursor::new(Vec::new()), &base().key, EntryForm::MkStream);
    w.write_backup_json("2.6.5.1010", "2015-06-30T10:11:12+00:00")
        .unwrap();
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    d.write_doc(&own_doc(
        "ProjectGroups",
        "projectgroups-1",
        json!({"Name": "Own group"}),
    ))
    .unwrap();
    d.write_doc(&own_doc(
        "Projects",
        "projects-1",
        json!({"Name": "Own project", "ProjectGroupId": "projectgroups-1"}),
    ))
    .unwrap();
    d.finish().unwrap();
    std::fs::write(&own_backup, w.finish().unwrap().into_inner()).unwrap();
    let merged = dir.path().join("merged");
    std::fs::create_dir(&merged).unwrap();
    let db = merged.join("octopus3.db");
    Migration::new(&own_backup, &base().key)
        .target_key(&target_key())
        .files_dir(&merged)
        .run(&mut SqliteSink::new(&db))
        .unwrap();
    let own_id: String = Connection::open(&db)
        .unwrap()
        .query_row("SELECT Id FROM Project", [], |r| r.get(0))
        .unwrap();
    let report = migration(base())
        .merge(Merge::BackupWins)
        .files_dir(&merged)
        .run(&mut SqliteSink::new(&db))
        .unwrap();
    assert!(report.merge.is_some());
    drop(t);

    let check = || {
        verify::verify_sqlite(
            migration(base()).merge(Merge::BackupWins),
            &db,
            Some(merged.clone()),
        )
        .unwrap()
    };
    let v = check();
    assert_eq!(lines(&v), Vec::<String>::new());
    assert!(v.passed());
    let kept: Vec<String> = v
        .differences
        .iter()
        .filter(|d| d.kind == Kind::Kept)
        .map(|d| d.to_string())
        .collect();
    assert!(
        kept.contains(&format!("kept: Project {own_id}")),
        "{kept:?}"
    );
    // The target's own rows may change: they are the target's.
    let c = Connection::open(&db).unwrap();
    c.execute(
        "UPDATE Project SET Name = 'Own, renamed' WHERE Id = ?1",
        [&own_id],
    )
    .unwrap();
    assert!(check().passed());
    // A row the merge wrote may not.
    let id: String = c
        .query_row(
            "SELECT Id FROM Project WHERE Id <> ?1 AND IsDisabled = 0 ORDER BY Id LIMIT 1",
            [&own_id],
            |r| r.get(0),
        )
        .unwrap();
    c.execute("UPDATE Project SET IsDisabled = 1 WHERE Id = ?1", [&id])
        .unwrap();
    assert_eq!(
        lines(&check()),
        [format!(
            "differs: Project {id} IsDisabled: expected false, found true"
        )]
    );
    // Renamed, it is no longer the backup's (the merge matched it by name): the backup's
    // project is missing, and the renamed one is the target's own.
    c.execute(
        "UPDATE Project SET IsDisabled = 0, Name = Name || '.HACKED' WHERE Id = ?1",
        [&id],
    )
    .unwrap();
    let v = check();
    assert!(!v.passed());
    assert!(
        lines(&v).iter().any(|l| l.starts_with("missing: Project ")),
        "{:?}",
        lines(&v)
    );
    assert!(v
        .differences
        .iter()
        .any(|d| d.kind == Kind::Kept && d.to_string() == format!("kept: Project {id}")));
    // Verified as if nothing had been merged, the renumbered rows are extra and the target's
    // own row differs from the backup's row of that id.
    let v = verify::verify_sqlite(migration(base()), &db, Some(merged.clone())).unwrap();
    assert!(!v.passed());
    assert!(
        lines(&v).contains(
            &"differs: Project Projects-1 Name: expected \"Acme.Web\", found \"Own, renamed\""
                .to_owned()
        ),
        "{:?}",
        lines(&v)
    );
}

#[test]
fn the_report_gives_the_migration_s_options() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("octopus3.db");
    // --maxage without --as-of: the report records the "now" it counted from.
    let report = Migration::new(&base().backup, &base().key)
        .skip_unsupported_steps(true)
        .max_age_days(3650)
        .files_dir(dir.path())
        .run(&mut SqliteSink::new(&db))
        .unwrap();
    assert_eq!(report.options.max_age_days, Some(3650));
    assert!(report.options.as_of.is_some());
    let m = verify::migration_of_report(&base().backup, &base().key, None, &report).unwrap();
    let v = verify::verify_sqlite(m, &db, Some(dir.path().to_path_buf())).unwrap();
    assert_eq!(lines(&v), Vec::<String>::new());
    // The report says no 3.x key was used: giving one is an error, as is leaving out one
    // that was used.
    let e = verify::migration_of_report(&base().backup, &base().key, Some(&target_key()), &report)
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Usage(_)), "{e}");
}

#[test]
fn a_value_its_column_cannot_hold_is_a_difference_not_an_error() {
    let t = Target::new();
    let id = t.one("SELECT Id FROM Project ORDER BY Id LIMIT 1");
    t.sql(&format!(
        "UPDATE Project SET IsDisabled = 'yes' WHERE Id = '{id}'"
    ));
    let task = t.one("SELECT Id FROM ServerTask WHERE QueueTime IS NOT NULL ORDER BY Id LIMIT 1");
    let queued = t.one(&format!(
        "SELECT QueueTime FROM ServerTask WHERE Id = '{task}'"
    ));
    t.sql(&format!(
        "UPDATE ServerTask SET QueueTime = 'yesterday' WHERE Id = '{task}'"
    ));
    assert_eq!(
        lines(&t.verify()),
        [
            format!("differs: Project {id} IsDisabled: expected false, found \"yes\""),
            format!(
                "differs: ServerTask {task} QueueTime: expected \"{queued}\", found \"yesterday\""
            ),
        ]
    );
}

#[test]
fn logs_added_later_are_verified_with_the_report_of_the_run_that_added_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("octopus3.db");
    let first = migration(base())
        .task_logs(octo_migrate_core::TaskLogs::Skip)
        .files_dir(dir.path())
        .run(&mut SqliteSink::new(&db))
        .unwrap();
    let then = migration(base())
        .task_logs(octo_migrate_core::TaskLogs::Only)
        .files_dir(dir.path())
        .run(&mut SqliteSink::new(&db))
        .unwrap();
    assert_eq!(then.options.task_logs, "only");
    let check = |report: &octo_migrate_core::Report| {
        let m =
            verify::migration_of_report(&base().backup, &base().key, Some(&target_key()), report)
                .unwrap();
        verify::verify_sqlite(m, &db, Some(dir.path().to_path_buf())).unwrap()
    };
    let v = check(&then);
    assert_eq!(lines(&v), Vec::<String>::new());
    assert!(v.files_checked > 0);
    // The first run's report says no logs: every log file the second run added is extra.
    let v = check(&first);
    assert!(v.extra > 0 && v.missing + v.differs == 0, "{}", v.counts());
    assert!(lines(&v)
        .iter()
        .all(|l| l.starts_with("extra: file TaskLogs/")));
}

#[test]
fn a_target_merged_with_nooverwrite_keeps_its_rows_and_must_have_the_backup_s() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("octopus3.db");
    // The target already has one of the backup's projects, changed: --nooverwrite keeps it.
    migration(base())
        .files_dir(dir.path())
        .run(&mut SqliteSink::new(&db))
        .unwrap();
    let c = Connection::open(&db).unwrap();
    let id: String = c
        .query_row("SELECT Id FROM Project ORDER BY Id LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    c.execute(
        "UPDATE Project SET IsDisabled = 1 - IsDisabled WHERE Id = ?1",
        [&id],
    )
    .unwrap();
    let release: String = c
        .query_row("SELECT max(Id) FROM Release", [], |r| r.get(0))
        .unwrap();
    c.execute("DELETE FROM Release WHERE Id = ?1", [&release])
        .unwrap();
    migration(base())
        .merge(Merge::TargetWins)
        .files_dir(dir.path())
        .run(&mut SqliteSink::new(&db))
        .unwrap();
    let check = || {
        verify::verify_sqlite(
            migration(base()).merge(Merge::TargetWins),
            &db,
            Some(dir.path().to_path_buf()),
        )
        .unwrap()
    };
    // The kept project is the target's to change; the release the merge added is there.
    let v = check();
    assert_eq!(lines(&v), Vec::<String>::new());
    // A backup row deleted after the merge is missing.
    c.execute("DELETE FROM Release WHERE Id = ?1", [&release])
        .unwrap();
    assert_eq!(lines(&check()), [format!("missing: Release {release}")]);
}

#[test]
fn a_dropped_table_is_missing_with_every_row_not_an_error() {
    let t = Target::new();
    let ids: Vec<String> = {
        let c = Connection::open(t.db()).unwrap();
        let mut s = c
            .prepare("SELECT Id FROM Interruption ORDER BY Id")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(!ids.is_empty());
    t.sql("DROP TABLE Interruption");
    let mut want = vec!["missing: Interruption (the table)".to_owned()];
    want.extend(ids.iter().map(|id| format!("missing: Interruption {id}")));
    assert_eq!(lines(&t.verify()), want);
}

#[test]
fn a_dropped_column_is_named_once() {
    let t = Target::new();
    t.sql("ALTER TABLE Project DROP COLUMN AutoCreateRelease");
    assert_eq!(
        lines(&t.verify()),
        ["missing: Project (the column AutoCreateRelease)"]
    );
}

#[test]
fn a_file_where_the_task_logs_folder_should_be_is_named() {
    let t = Target::new();
    let mut logs = Vec::new();
    walk(&t.files().join("TaskLogs"), &mut logs);
    std::fs::remove_dir_all(t.files().join("TaskLogs")).unwrap();
    std::fs::write(t.files().join("TaskLogs"), "not a folder").unwrap();
    let got = lines(&t.verify());
    assert!(got.contains(&"extra: file TaskLogs".to_owned()), "{got:?}");
    assert_eq!(got.len(), logs.len() + 1, "{got:?}");
    assert!(got
        .iter()
        .filter(|l| *l != "extra: file TaskLogs")
        .all(|l| l.starts_with("missing: file TaskLogs/")));
}
