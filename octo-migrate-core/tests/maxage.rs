//! `--maxage`: each rule of docs/mapping.md by hand, then properties on generated backups.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;

use chrono::DateTime;
use octo_migrate_core::internals::parse::{read_export, Item};
use octo_migrate_core::sink::{MemorySink, Value};
use octo_migrate_core::MasterKey;
use octo_migrate_core::Migration;
use octo_migrate_core::Report;
use octo_migrate_sample::{self as sample, BackupWriter, DumpOptions, EntryForm, SampleOptions};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

const AS_OF: &str = "2015-06-30T00:00:00+00:00";

fn doc(coll: &str, id: &str, mut body: Json) -> Json {
    body["@metadata"] = json!({"@id": id, "Raven-Entity-Name": coll});
    body
}

fn write_backup(path: &Path, key: &MasterKey, docs: &[Json], attachments: &[(String, Vec<u8>)]) {
    let mut w = BackupWriter::new(Cursor::new(Vec::new()), key, EntryForm::MkStream);
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    for x in docs {
        d.write_doc(x).unwrap();
    }
    for (k, data) in attachments {
        d.write_attachment(k, &json!({}), data).unwrap();
    }
    d.finish().unwrap();
    std::fs::write(path, w.finish().unwrap().into_inner()).unwrap();
}

/// Ids of the migrated rows per table, and the report.
fn run(
    path: &Path,
    key: &MasterKey,
    days: Option<u32>,
) -> (BTreeMap<String, BTreeSet<String>>, Report) {
    run_with(path, key, days, 0)
}

fn run_with(
    path: &Path,
    key: &MasterKey,
    days: Option<u32>,
    threads: usize,
) -> (BTreeMap<String, BTreeSet<String>>, Report) {
    let mut sink = MemorySink::new();
    let mut m = Migration::new(path, key).skip_unsupported_steps(true);
    if let Some(n) = std::num::NonZeroUsize::new(threads) {
        m = m.threads(n);
    }
    if let Some(d) = days {
        m = m
            .max_age_days(d)
            .as_of(DateTime::parse_from_rfc3339(AS_OF).unwrap());
    }
    let report = m.run(&mut sink).unwrap();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in sink.rows() {
        let id = match row.values.first() {
            Some(Value::Text(t)) => t.clone(),
            other => format!("{other:?}"),
        };
        let key = match row.table.name() {
            // Identity ids depend on insertion order; the pair is what identifies the row.
            "EventRelatedDocument" => format!("{id}->{:?}", row.values.get(1)),
            _ => id,
        };
        out.entry(row.table.name().to_owned())
            .or_default()
            .insert(key);
    }
    (out, report)
}

fn scenario() -> Vec<Json> {
    let old = "2014-01-01T00:00:00+00:00";
    let old2 = "2014-02-01T00:00:00+00:00";
    let recent = "2015-06-01T00:00:00+00:00";
    vec![
        doc(
            "Projects",
            "projects-1",
            json!({"Name": "Web", "ProjectGroupId": "projectgroups-1", "LifecycleId": "lifecycles-1"}),
        ),
        doc("ProjectGroups", "projectgroups-1", json!({"Name": "All"})),
        doc("Lifecycles", "lifecycles-1", json!({"Name": "Default"})),
        doc("Environments", "environments-1", json!({"Name": "Dev"})),
        doc("Environments", "environments-2", json!({"Name": "Prod"})),
        // Release 1: old, deployed recently to Dev -> kept with its snapshots.
        doc(
            "Releases",
            "releases-1",
            json!({"Version": "1.0", "Assembled": old, "ProjectId": "projects-1",
            "ProjectVariableSetSnapshotId": "variableset-projects-1-s-1",
            "ProjectDeploymentProcessSnapshotId": "deploymentprocess-projects-1-s-1"}),
        ),
        doc(
            "VariableSets",
            "variableset-projects-1-s-1",
            json!({"OwnerId": "projects-1", "IsFrozen": true, "Variables": []}),
        ),
        doc(
            "DeploymentProcesses",
            "deploymentprocess-projects-1-s-1",
            json!({"OwnerId": "projects-1", "IsFrozen": true, "Steps": []}),
        ),
        // Release 2: old, only old deployments that are not the latest -> left out, snapshots too.
        doc(
            "Releases",
            "releases-2",
            json!({"Version": "0.9", "Assembled": old, "ProjectId": "projects-1",
            "ProjectVariableSetSnapshotId": "variableset-projects-1-s-2",
            "ProjectDeploymentProcessSnapshotId": "deploymentprocess-projects-1-s-2"}),
        ),
        doc(
            "VariableSets",
            "variableset-projects-1-s-2",
            json!({"OwnerId": "projects-1", "IsFrozen": true, "Variables": []}),
        ),
        doc(
            "DeploymentProcesses",
            "deploymentprocess-projects-1-s-2",
            json!({"OwnerId": "projects-1", "IsFrozen": true, "Steps": []}),
        ),
        // The live (unfrozen) variable set is configuration: always kept.
        doc(
            "VariableSets",
            "variableset-projects-1",
            json!({"OwnerId": "projects-1", "IsFrozen": false, "Variables": []}),
        ),
        // Dev: an old deployment of release 2 superseded by a recent one of release 1.
        doc(
            "Deployments",
            "deployments-1",
            json!({"Name": "a", "Created": old, "ProjectId": "projects-1", "EnvironmentId": "environments-1", "ReleaseId": "releases-2", "TaskId": "servertasks-1"}),
        ),
        doc(
            "Deployments",
            "deployments-5",
            json!({"Name": "b", "Created": recent, "ProjectId": "projects-1", "EnvironmentId": "environments-1", "ReleaseId": "releases-1", "TaskId": "servertasks-5"}),
        ),
        // Prod: two old deployments with the same Created: the higher id number (10 > 9) wins.
        doc(
            "Deployments",
            "deployments-9",
            json!({"Name": "c", "Created": old2, "ProjectId": "projects-1", "EnvironmentId": "environments-2", "ReleaseId": "releases-2", "TaskId": "servertasks-9"}),
        ),
        doc(
            "Deployments",
            "deployments-10",
            json!({"Name": "d", "Created": old2, "ProjectId": "Projects-1", "EnvironmentId": "Environments-2", "ReleaseId": "releases-1", "TaskId": "servertasks-10"}),
        ),
        doc(
            "ServerTasks",
            "servertasks-1",
            json!({"Name": "Deploy", "State": "Success", "QueueTime": old}),
        ),
        doc(
            "ServerTasks",
            "servertasks-5",
            json!({"Name": "Deploy", "State": "Success", "QueueTime": recent}),
        ),
        doc(
            "ServerTasks",
            "servertasks-9",
            json!({"Name": "Deploy", "State": "Success", "QueueTime": old2}),
        ),
        doc(
            "ServerTasks",
            "servertasks-10",
            json!({"Name": "Deploy", "State": "Success", "QueueTime": old2}),
        ),
        doc(
            "ServerTasks",
            "servertasks-20",
            json!({"Name": "Health", "State": "Success", "QueueTime": old}),
        ),
        // A kept (old) task keeps its artifacts and interruptions; a dropped one does not.
        doc(
            "Artifacts",
            "artifacts-1",
            json!({"Filename": "a.txt", "Created": old2, "ServerTaskId": "servertasks-10", "RelatedDocumentIds": ["projects-1"]}),
        ),
        doc(
            "Artifacts",
            "artifacts-2",
            json!({"Filename": "b.txt", "Created": old2, "ServerTaskId": "servertasks-9", "RelatedDocumentIds": []}),
        ),
        doc(
            "Interruptions",
            "interruptions-1",
            json!({"Title": "ok?", "Created": old2, "TaskId": "servertasks-10", "IsPending": false, "RelatedDocumentIds": []}),
        ),
        doc(
            "Interruptions",
            "interruptions-2",
            json!({"Title": "ok?", "Created": old2, "TaskId": "servertasks-9", "IsPending": false, "RelatedDocumentIds": []}),
        ),
        // Events go by date alone; one refers to a filtered deployment: not dangling.
        doc(
            "Events",
            "events-1",
            json!({"Category": "x", "Occurred": old, "Message": "old", "RelatedDocumentIds": ["deployments-1"]}),
        ),
        doc(
            "Events",
            "events-2",
            json!({"Category": "x", "Occurred": recent, "Message": "new", "RelatedDocumentIds": ["deployments-1", "projects-1"]}),
        ),
    ]
}

fn ids(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn each_rule_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.octobak");
    let key = MasterKey::generate();
    write_backup(&path, &key, &scenario(), &[]);
    let (rows, report) = run(&path, &key, Some(90));
    assert_eq!(
        rows["Deployment"],
        ids(&["Deployments-10", "Deployments-5"]),
        "latest per (project, env), tie by id"
    );
    assert_eq!(
        rows["Release"],
        ids(&["Releases-1"]),
        "old release kept by a kept deployment"
    );
    assert_eq!(
        rows["VariableSet"],
        ids(&["variableset-Projects-1", "variableset-Projects-1-s-1"])
    );
    assert_eq!(
        rows["DeploymentProcess"],
        ids(&["deploymentprocess-Projects-1-s-1"])
    );
    assert_eq!(
        rows["ServerTask"],
        ids(&["ServerTasks-10", "ServerTasks-5"])
    );
    assert_eq!(rows["Artifact"], ids(&["Artifacts-1"]));
    assert_eq!(rows["Interruption"], ids(&["Interruptions-1"]));
    assert_eq!(rows["Event"], ids(&["Events-2"]));
    assert_eq!(
        rows["Project"],
        ids(&["Projects-1"]),
        "configuration is never filtered"
    );
    assert_eq!(rows["DeploymentEnvironment"].len(), 2);
    assert!(
        report.dangling_references.is_empty(),
        "{:?}",
        report.dangling_references
    );
    let d = &report.collections["Deployments"];
    assert_eq!((d.read, d.migrated, d.filtered_by_maxage), (4, 2, 2));
    for s in report.collections.values() {
        assert!(s.balanced());
    }
    // Without --maxage, everything.
    let (all, _) = run(&path, &key, None);
    assert_eq!(all["Deployment"].len(), 4);
    assert_eq!(all["Event"].len(), 2);
}

/// A generated backup's documents, in a new order, written again (logs and attachments kept).
fn reorder(src: &Path, key: &MasterKey, dst: &Path, seed: u64) {
    let mut b = octo_migrate_core::internals::backup::Backup::open(src, key).unwrap();
    let mut docs = Vec::new();
    let mut atts = Vec::new();
    read_export(
        b.open_dump().unwrap(),
        Default::default(),
        &mut |item, _| {
            match item {
                Item::Doc(d) => {
                    let mut body = Json::Object(d.body.into_map());
                    let mut meta = json!({"@id": d.id});
                    if let Some(c) = d.collection {
                        meta["Raven-Entity-Name"] = json!(c);
                    }
                    body["@metadata"] = meta;
                    docs.push(body);
                }
                Item::Attachment(a) => atts.push((a.key, a.data)),
            }
            Ok(())
        },
    )
    .unwrap();
    // A deterministic shuffle (Fisher-Yates with an LCG).
    let mut state = seed | 1;
    for i in (1..docs.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (state >> 33) as usize % (i + 1);
        docs.swap(i, j);
    }
    write_backup(dst, key, &docs, &atts);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_iters: 0, ..ProptestConfig::default() })]

    #[test]
    fn maxage_properties_on_generated_backups(seed in 1u64..1000, shuffle in any::<u64>(), days in 1u32..400) {
        let dir = tempfile::tempdir().unwrap();
        let key = sample::sample_key(seed);
        let path = dir.path().join("s.octobak");
        sample::write_sample_file(&path, &key, &SampleOptions::new(1, seed)).unwrap();

        let (base, _) = run(&path, &key, Some(days));
        // Shuffling the documents does not change the result.
        let shuffled = dir.path().join("shuffled.octobak");
        reorder(&path, &key, &shuffled, shuffle);
        let (again, _) = run(&shuffled, &key, Some(days));
        prop_assert_eq!(&base, &again);

        // Neither does the number of threads.
        let (one, _) = run_with(&path, &key, Some(days), 1);
        let (two, _) = run_with(&path, &key, Some(days), 2);
        prop_assert_eq!(&base, &one);
        prop_assert_eq!(&base, &two);

        // A larger N never keeps fewer documents (of any table).
        let (more, _) = run(&path, &key, Some(days + 30));
        for (t, kept) in &base {
            let bigger = more.get(t).cloned().unwrap_or_default();
            prop_assert!(kept.is_subset(&bigger), "table {}", t);
        }

        // N covering all history equals no --maxage.
        let (all, _) = run(&path, &key, Some(100_000));
        let (none, _) = run(&path, &key, None);
        prop_assert_eq!(&all, &none);

        // Every kept deployment's release and task are present.
        let (_, report) = run(&path, &key, Some(days));
        prop_assert!(report.dangling_references.is_empty());
        let mut sink = MemorySink::new();
        Migration::new(&path, &key)
            .skip_unsupported_steps(true)
            .max_age_days(days)
            .as_of(DateTime::parse_from_rfc3339(AS_OF).unwrap())
            .run(&mut sink)
            .unwrap();
        let releases = &base["Release"];
        let tasks = &base["ServerTask"];
        for row in sink.table(octo_migrate_core::sink::Table::Deployment) {
            if let (Some(Value::Text(r)), Some(Value::Text(t))) = (row.get("ReleaseId"), row.get("TaskId")) {
                prop_assert!(releases.contains(r), "release {} of a kept deployment", r);
                prop_assert!(tasks.contains(t), "task {} of a kept deployment", t);
            }
        }
    }
}

/// `inspect`'s --maxage figures are what a migration with that --maxage keeps.
#[test]
fn inspect_predicts_what_maxage_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let key = sample::sample_key(23);
    let path = dir.path().join("s.octobak");
    let summary = sample::write_sample_file(&path, &key, &SampleOptions::new(1, 23)).unwrap();
    let as_of = DateTime::parse_from_rfc3339(AS_OF).unwrap();
    let i = octo_migrate_core::inspect::inspect(&path, &key, as_of).unwrap();
    for (c, n) in &summary.documents {
        assert_eq!(i.collections.get(c), Some(n), "{c}");
    }
    assert!(i.date_ranges["Deployments"].oldest < i.date_ranges["Deployments"].newest);
    for (days, keeps) in &i.maxage_keeps {
        let (_, report) = run(&path, &key, Some(*days));
        for (c, kept) in keeps {
            assert_eq!(report.collections[c].migrated, *kept, "N={days} {c}");
        }
    }
    assert!(i.maxage_keeps[&30]["Events"] < i.maxage_keeps[&365]["Events"]);
}
