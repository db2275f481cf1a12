//! Merging a second, different backup into a SQLite target that holds a first one
//! (`--overwrite`, `--nooverwrite`): names matched case-insensitively, ids renumbered where
//! taken, references rewritten, teams and variable sets combined, the license kept.

use std::io::Cursor;
use std::path::Path;

use octo_migrate_core::sink::SqliteSink;
use octo_migrate_core::MasterKey;
use octo_migrate_core::Report;
use octo_migrate_core::{Merge, Migration};
use octo_migrate_sample::{self as sample, BackupWriter, DumpOptions, EntryForm};
use rusqlite::Connection;
use serde_json::{json, Value as Json};

fn doc(coll: &str, id: &str, mut body: Json) -> Json {
    body["@metadata"] = json!({"@id": id, "Raven-Entity-Name": coll});
    body
}

fn write_backup(path: &Path, key: &MasterKey, docs: &[Json]) {
    let mut w = BackupWriter::new(Cursor::new(Vec::new()), key, EntryForm::MkStream);
    w.write_backup_json("2.6.5.1010", "2015-06-30T10:11:12+00:00")
        .unwrap();
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    for doc in docs {
        d.write_doc(doc).unwrap();
    }
    d.finish().unwrap();
    std::fs::write(path, w.finish().unwrap().into_inner()).unwrap();
}

fn var(id: &str, name: &str, value: &str) -> Json {
    json!({"Id": id, "Name": name, "Value": value, "Scope": {}, "IsSensitive": false})
}

/// The first server: Web and Api, team Ops with alice, a license.
fn backup_a() -> Vec<Json> {
    vec![
        doc("ProjectGroups", "projectgroups-1", json!({"Name": "All"})),
        doc(
            "Projects",
            "projects-1",
            json!({"Name": "Web", "ProjectGroupId": "projectgroups-1",
                   "VariableSetId": "variableset-projects-1"}),
        ),
        doc(
            "Projects",
            "projects-2",
            json!({"Name": "Api", "ProjectGroupId": "projectgroups-1"}),
        ),
        doc(
            "VariableSets",
            "variableset-projects-1",
            json!({"OwnerId": "projects-1", "Version": 1,
                   "Variables": [var("v1", "Url", "a"), var("v2", "OnlyInA", "x")]}),
        ),
        doc("Users", "users-1", json!({"Username": "alice"})),
        doc(
            "Teams",
            "teams-1",
            json!({"Name": "Ops", "MemberUserIds": ["users-1"]}),
        ),
        doc("Licenses", "license", json!({"LicenseText": "first"})),
        doc(
            "Releases",
            "releases-1",
            json!({"Version": "1.0", "ProjectId": "projects-1", "Assembled": "2015-06-30T10:11:12+00:00"}),
        ),
    ]
}

/// The second server: `WEB` (another id), Mobile on an id the first server's Web has, team
/// `ops` with bob, its own license.
fn backup_b() -> Vec<Json> {
    vec![
        doc("ProjectGroups", "projectgroups-1", json!({"Name": "All"})),
        doc(
            "Projects",
            "projects-5",
            json!({"Name": "WEB", "ProjectGroupId": "projectgroups-1",
                   "VariableSetId": "variableset-projects-5"}),
        ),
        doc(
            "Projects",
            "projects-1",
            json!({"Name": "Mobile", "ProjectGroupId": "projectgroups-1"}),
        ),
        doc(
            "VariableSets",
            "variableset-projects-5",
            json!({"OwnerId": "projects-5", "Version": 3,
                   "Variables": [var("v9", "url", "b"), var("v3", "OnlyInB", "y")]}),
        ),
        doc("Users", "users-2", json!({"Username": "bob"})),
        doc(
            "Teams",
            "teams-4",
            json!({"Name": "ops", "MemberUserIds": ["users-2"]}),
        ),
        doc("Licenses", "license", json!({"LicenseText": "second"})),
        doc(
            "Releases",
            "releases-7",
            json!({"Version": "2.0", "ProjectId": "projects-5", "Assembled": "2015-06-30T10:11:12+00:00"}),
        ),
        doc(
            "Releases",
            "releases-8",
            json!({"Version": "1.0", "ProjectId": "projects-1", "Assembled": "2015-06-30T10:11:12+00:00"}),
        ),
        // The same release of the same project as the first server's Releases-1.
        doc(
            "Releases",
            "releases-9",
            json!({"Version": "1.0", "ProjectId": "projects-5", "Assembled": "2015-07-01T10:11:12+00:00"}),
        ),
    ]
}

struct Setup {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    a: std::path::PathBuf,
    b: std::path::PathBuf,
    key: MasterKey,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = sample::sample_key(7);
    let a = dir.path().join("a.octobak");
    let b = dir.path().join("b.octobak");
    write_backup(&a, &key, &backup_a());
    write_backup(&b, &key, &backup_b());
    let db = dir.path().join("octopus3.db");
    let s = Setup {
        db,
        a,
        b,
        key,
        _dir: dir,
    };
    run(&s, &s.a, None).expect("the first backup migrates into an empty target");
    s
}

fn run(s: &Setup, backup: &Path, merge: Option<Merge>) -> octo_migrate_core::Result<Report> {
    let mut sink = SqliteSink::new(&s.db);
    Migration::new(backup, &s.key)
        .merge(merge.unwrap_or_default())
        .run(&mut sink)
}

fn query(db: &Path, sql: &str) -> Vec<Vec<String>> {
    let conn = Connection::open(db).unwrap();
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

fn projects(db: &Path) -> Vec<(String, String)> {
    query(db, "SELECT Id, Name FROM Project ORDER BY Id")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

fn variables(db: &Path, id: &str) -> Vec<(String, String)> {
    let json = &query(
        db,
        &format!("SELECT JSON FROM VariableSet WHERE Id = '{id}'"),
    )[0][0];
    let v: Json = serde_json::from_str(json).unwrap();
    v["Variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["Name"].as_str().unwrap().to_owned(),
                x["Value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn license(db: &Path) -> String {
    query(db, "SELECT JSON FROM Configuration WHERE Id = 'License'")[0][0].clone()
}

#[test]
fn overwrite_follows_the_name_rules() {
    let s = setup();
    let report = run(&s, &s.b, Some(Merge::BackupWins)).unwrap();
    // WEB matched Web (case-insensitive) and took its id and its new name; Mobile's id was
    // Web's, so Mobile got a new one above every number either side uses.
    assert_eq!(
        projects(&s.db),
        pairs(&[
            ("Projects-1", "WEB"),
            ("Projects-2", "Api"),
            ("Projects-6", "Mobile")
        ])
    );
    // References follow: releases point at the target's ids.
    assert_eq!(
        query(&s.db, "SELECT Id, ProjectId FROM Release ORDER BY Id"),
        vec![
            vec!["Releases-1".to_owned(), "Projects-1".to_owned()],
            vec!["Releases-7".to_owned(), "Projects-1".to_owned()],
            vec!["Releases-8".to_owned(), "Projects-6".to_owned()],
        ]
    );
    // The variable set followed its owner; the backup won on `url`, both sides' others stay.
    assert_eq!(
        variables(&s.db, "variableset-Projects-1"),
        pairs(&[("url", "b"), ("OnlyInB", "y"), ("OnlyInA", "x")])
    );
    assert!(query(&s.db, "SELECT Id FROM VariableSet WHERE Id LIKE '%-5'").is_empty());
    assert_eq!(
        query(
            &s.db,
            "SELECT VariableSetId FROM Project WHERE Id = 'Projects-1'"
        ),
        [["variableset-Projects-1"]]
    );
    // The team kept alice and gained bob, under the target's id.
    assert_eq!(
        query(&s.db, "SELECT Id, Name, MemberUserIds FROM Team"),
        vec![vec![
            "Teams-1".to_owned(),
            "ops".to_owned(),
            "|Users-2|Users-1|".to_owned()
        ]]
    );
    // The target's license stays, and the report says so.
    assert!(license(&s.db).contains("first"));
    assert!(report.license.as_deref().unwrap().contains("kept"));
    let m = report.merge.unwrap();
    assert_eq!(m.renumbered, ["Projects-1 -> Projects-6"]);
    assert!(m
        .matched_by_name
        .contains(&"Projects-5 -> Projects-1".to_owned()));
    // Version 1.0 of WEB is the target's Releases-1 (its unique key), replaced by the backup's.
    assert!(m
        .matched_by_name
        .contains(&"Releases-9 -> Releases-1".to_owned()));
    assert_eq!(
        query(
            &s.db,
            "SELECT Assembled FROM Release WHERE Id = 'Releases-1'"
        ),
        [["2015-07-01T10:11:12+00:00"]]
    );
    assert_eq!(m.tables["Team"].merged, 1);
    assert_eq!(m.tables["Project"].inserted, 1);
    assert_eq!(m.tables["Project"].replaced, 1);
    // 3.x must not hand out Projects-6 again.
    let alloc = query(
        &s.db,
        "SELECT Allocated FROM KeyAllocation WHERE CollectionName = 'Project'",
    );
    assert!(alloc[0][0].parse::<i64>().unwrap() >= 6, "{alloc:?}");
}

#[test]
fn nooverwrite_keeps_the_target_and_adds_only_new_documents() {
    let s = setup();
    let before_teams = query(&s.db, "SELECT * FROM Team");
    let before_vars = variables(&s.db, "variableset-Projects-1");
    let report = run(&s, &s.b, Some(Merge::TargetWins)).unwrap();
    assert_eq!(
        projects(&s.db),
        pairs(&[
            ("Projects-1", "Web"),
            ("Projects-2", "Api"),
            ("Projects-6", "Mobile")
        ])
    );
    assert_eq!(query(&s.db, "SELECT * FROM Team"), before_teams);
    assert_eq!(variables(&s.db, "variableset-Projects-1"), before_vars);
    assert_eq!(
        query(&s.db, "SELECT Id, ProjectId FROM Release ORDER BY Id"),
        vec![
            vec!["Releases-1".to_owned(), "Projects-1".to_owned()],
            vec!["Releases-7".to_owned(), "Projects-1".to_owned()],
            vec!["Releases-8".to_owned(), "Projects-6".to_owned()],
        ]
    );
    assert!(license(&s.db).contains("first"));
    assert_eq!(
        query(
            &s.db,
            "SELECT Assembled FROM Release WHERE Id = 'Releases-1'"
        ),
        [["2015-06-30T10:11:12+00:00"]]
    );
    assert_eq!(report.merge.unwrap().tables["Project"].kept, 1);
}

fn everything(db: &Path) -> Vec<Vec<String>> {
    let tables = query(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name",
    );
    let mut all = Vec::new();
    for t in tables {
        let mut rows = query(db, &format!("SELECT * FROM \"{}\"", t[0]));
        for r in &mut rows {
            r.insert(0, t[0].clone());
            if t[0] == "EventRelatedDocument" {
                r.remove(1); // its identity id is renumbered when an event is replaced
            }
        }
        rows.sort();
        all.extend(rows);
    }
    all
}

#[test]
fn a_rerun_in_either_mode_adds_no_row_and_without_a_mode_is_refused() {
    let s = setup();
    let before = everything(&s.db);
    let e = run(&s, &s.a, None).unwrap_err();
    assert!(e.to_string().contains("already holds Octopus data"), "{e}");
    assert_eq!(everything(&s.db), before);
    run(&s, &s.a, Some(Merge::TargetWins)).unwrap();
    assert_eq!(everything(&s.db), before);
    run(&s, &s.a, Some(Merge::BackupWins)).unwrap();
    assert_eq!(everything(&s.db), before);
}

#[test]
fn a_failed_merge_leaves_the_target_as_it_was() {
    let s = setup();
    let before = everything(&s.db);
    // A project whose name is new but whose slug is the target's `web` breaks Project's
    // unique Slug half-way through the merge: the whole merge must roll back.
    let path = s.b.with_file_name("c.octobak");
    let mut docs = backup_b();
    docs.push(doc(
        "Projects",
        "projects-9",
        json!({"Name": "Web!", "ProjectGroupId": "projectgroups-1"}),
    ));
    write_backup(&path, &s.key, &docs);
    let e = run(&s, &path, Some(Merge::BackupWins)).unwrap_err();
    assert!(e.to_string().contains("Slug"), "{e}");
    assert_eq!(everything(&s.db), before);
}
