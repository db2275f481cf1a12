//! A whole migration of generated samples into SQLite, checked table by table against what the
//! generator says it wrote (its summary is computed independently of the migration).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use octo_migrate_core::internals::collections::{self, COLLECTIONS};
use octo_migrate_core::internals::crypto::{decrypt_value, MasterKey};
use octo_migrate_core::sink::{SqliteSink, TABLES};
use octo_migrate_core::Migration;
use octo_migrate_core::Report;
use octo_migrate_sample::{self as sample, EntryForm, SampleOptions, SampleSummary};
use rusqlite::Connection;

struct Run {
    _dir: tempfile::TempDir,
    root: PathBuf,
    db: PathBuf,
    summary: SampleSummary,
    key: MasterKey,
    backup: PathBuf,
}

fn sample(opts: SampleOptions) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let key = sample::sample_key(opts.seed);
    let backup = root.join("in.octobak");
    let summary = sample::write_sample_file(&backup, &key, &opts).unwrap();
    Run {
        db: root.join("octopus3.db"),
        _dir: dir,
        root,
        summary,
        key,
        backup,
    }
}

fn run_migration(r: &Run, target_key: Option<MasterKey>) -> octo_migrate_core::Result<Report> {
    let mut sink = SqliteSink::new(&r.db);
    let mut m = Migration::new(&r.backup, &r.key)
        .files_dir(&r.root)
        .skip_unsupported_steps(true);
    if let Some(k) = &target_key {
        m = m.target_key(k);
    }
    m.run(&mut sink)
}

fn count(conn: &Connection, table: &str) -> u64 {
    conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap() as u64
}

fn files_under(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn sample_migrates_with_the_rows_the_mapping_implies() {
    let r = sample(SampleOptions::new(1, 3));
    let target = MasterKey::generate();
    let report = run_migration(&r, Some(target.clone())).unwrap();
    assert!(report.committed);
    let conn = Connection::open(&r.db).unwrap();
    let s = &r.summary;

    // One row per document, per collection, in its table.
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    for c in COLLECTIONS {
        if let Some(t) = c.table {
            *expected.entry(t.name()).or_insert(0) += s.count(c.name);
        }
    }
    for (table, n) in &expected {
        assert_eq!(count(&conn, table), *n, "table {table}");
    }
    // The report's per-collection counts add up and agree with the generator.
    for (name, st) in &report.collections {
        assert!(st.balanced(), "{name}: {st:?}");
        assert_eq!(st.read, s.count(name), "{name}");
    }
    assert_eq!(
        report.collections["RetentionPolicies"].skipped,
        s.count("RetentionPolicies")
    );
    for u in &s.unknown_collections {
        assert_eq!(report.unknown_collections[u].count, s.count(u));
    }
    // The report's table counts are what is in the database.
    for def in TABLES {
        let n = count(&conn, def.table.name());
        assert_eq!(
            report.tables.get(def.table.name()).copied().unwrap_or(0),
            n,
            "{}",
            def.table
        );
    }

    // EventRelatedDocument: one row per related id of each event.
    let mut related = 0u64;
    let mut stmt = conn
        .prepare("SELECT RelatedDocumentIds FROM Event")
        .unwrap();
    for ids in stmt.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        related += ids.unwrap().split('|').filter(|x| !x.is_empty()).count() as u64;
    }
    assert!(related > 0);
    assert_eq!(count(&conn, "EventRelatedDocument"), related);

    // DeploymentHistory: every deployment whose task is not Queued, Cancelling or Executing.
    let hist: i64 = conn
        .query_row(
            "SELECT count(*) FROM Deployment d JOIN ServerTask t ON t.Id = d.TaskId \
             WHERE t.State NOT IN ('Queued','Cancelling','Executing')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hist > 0 && (hist as u64) < s.count("Deployments"));
    assert_eq!(count(&conn, "DeploymentHistory") as i64, hist);
    let bad_history: i64 = conn
        .query_row(
            "SELECT count(*) FROM DeploymentHistory h JOIN Deployment d ON d.Id = h.DeploymentId \
             JOIN Project p ON p.Id = d.ProjectId JOIN Release r ON r.Id = d.ReleaseId \
             JOIN DeploymentEnvironment e ON e.Id = d.EnvironmentId \
             WHERE h.ProjectName <> p.Name OR h.ReleaseVersion <> r.Version \
             OR h.EnvironmentName <> e.Name OR h.ProjectSlug <> p.Slug",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bad_history, 0);

    // KeyAllocation: above every migrated id and every HiLo maximum.
    let mut stmt = conn
        .prepare("SELECT CollectionName, Allocated FROM KeyAllocation")
        .unwrap();
    let alloc: BTreeMap<String, i64> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|x| x.unwrap())
        .collect();
    for def in TABLES {
        if !def.table.has_column("Id") || def.table.name() == "EventRelatedDocument" {
            continue;
        }
        let mut stmt = conn
            .prepare(&format!("SELECT Id FROM \"{}\"", def.table.name()))
            .unwrap();
        let max = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .filter_map(|id| {
                octo_migrate_core::internals::ids::numbered(&id.unwrap()).map(|(_, n)| n)
            })
            .max();
        if let Some(max) = max {
            let a = alloc[def.table.name()];
            assert!(a as u64 >= max, "{}: {a} < {max}", def.table);
        }
    }
    for (name, max) in &s.hilo {
        if let Some(t) = collections::by_name(name).and_then(|c| c.table) {
            if let Some(a) = alloc.get(t.name()) {
                assert!(*a as u64 >= *max, "{name}");
            }
        }
    }

    // JSON never carries @metadata or Id, and ids are in 3.x form.
    for def in TABLES {
        if !def.table.has_column("JSON") {
            continue;
        }
        let mut stmt = conn
            .prepare(&format!("SELECT Id, JSON FROM \"{}\"", def.table.name()))
            .unwrap();
        for row in stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
        {
            let (id, json) = row.unwrap();
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert!(!json.contains("@metadata"), "{id}");
            assert!(v.get("Id").is_none(), "{id}");
            if def.table.name() != "Configuration" {
                assert_eq!(
                    octo_migrate_core::internals::ids::rewrite_id(&id),
                    id,
                    "{id} is not in 3.x form"
                );
            }
        }
    }

    // Files: one log per task that had one, the artifacts with their content.
    let logs = files_under(&r.root.join("TaskLogs"));
    assert_eq!(logs.len() as u64, s.activity_logs);
    assert_eq!(report.task_logs, s.activity_logs);
    assert_eq!(report.unparsable_log_line_count, s.unparsable_log_lines);
    assert_eq!(report.task_log_lines, s.log_lines);
    let arts = files_under(&r.root.join("Artifacts"));
    assert_eq!(arts.len() as u64, s.attachments);
    assert!(report.artifacts_without_content.is_empty());
    assert!(!files_under(&r.root)
        .iter()
        .any(|p| p.to_string_lossy().contains("octo-migrate-staging")));

    // Secrets: re-encrypted under the target key, never in plaintext anywhere.
    assert!(report.reencrypted_values > 0);
    let db_bytes = std::fs::read(&r.db).unwrap();
    let mut haystacks = vec![db_bytes];
    for f in logs.iter().chain(arts.iter()) {
        haystacks.push(std::fs::read(f).unwrap());
    }
    haystacks.push(serde_json::to_vec(&report).unwrap());
    haystacks.push(report.to_string().into_bytes());
    for secret in &s.secrets {
        for h in &haystacks {
            assert!(
                !h.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a plaintext secret leaked"
            );
        }
    }
    let smtp: String = conn
        .query_row(
            "SELECT JSON FROM Configuration WHERE Id = 'SmtpConfiguration'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&smtp).unwrap();
    let pw = decrypt_value(&target, v["SmtpPassword"].as_str().unwrap()).unwrap();
    assert!(s.secrets.iter().any(|x| x == pw.expose()));
    assert!(decrypt_value(&r.key, v["SmtpPassword"].as_str().unwrap())
        .map(|p| p.expose() != pw.expose())
        .unwrap_or(true));
}

/// Replaces every MK value in a JSON text by its plaintext under `key`, so two migrations'
/// rows can be compared although each re-encryption uses a fresh IV.
fn normalize(json: &str, key: &MasterKey) -> String {
    fn walk(v: &mut serde_json::Value, key: &MasterKey) {
        match v {
            serde_json::Value::String(s) => {
                if let Ok(p) = decrypt_value(key, s) {
                    *s = format!("plain:{}", p.expose());
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, key)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(x, key)),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    walk(&mut v, key);
    v.to_string()
}

fn dump_tables(db: &Path, key: &MasterKey) -> BTreeMap<String, Vec<Vec<Option<String>>>> {
    let conn = Connection::open(db).unwrap();
    let mut out = BTreeMap::new();
    for def in TABLES {
        let cols: Vec<String> = def
            .columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect();
        let sql = format!(
            "SELECT {} FROM \"{}\" ORDER BY {}",
            cols.join(", "),
            def.table.name(),
            def.primary_key.join(", ")
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        let json_at = def.columns.iter().position(|c| c.name == "JSON");
        let rows = stmt
            .query_map([], |r| {
                let mut row = Vec::new();
                for i in 0..def.columns.len() {
                    let v: rusqlite::types::Value = r.get(i)?;
                    row.push(match v {
                        rusqlite::types::Value::Null => None,
                        rusqlite::types::Value::Integer(i) => Some(i.to_string()),
                        rusqlite::types::Value::Text(t) => Some(t),
                        other => Some(format!("{other:?}")),
                    });
                }
                Ok(row)
            })
            .unwrap()
            .map(|r| {
                let mut r = r.unwrap();
                if let Some(j) = json_at {
                    r[j] = r[j].as_deref().map(|t| normalize(t, key));
                }
                r
            })
            .collect();
        out.insert(def.table.name().to_owned(), rows);
    }
    out
}

#[test]
fn winzip_aes_repacked_backup_gives_the_same_rows() {
    let mk = sample(SampleOptions::new(1, 5));
    let az = sample(SampleOptions {
        form: EntryForm::WinZipAes,
        ..SampleOptions::new(1, 5)
    });
    run_migration(&mk, None).unwrap();
    run_migration(&az, None).unwrap();
    let a = dump_tables(&mk.db, &mk.key);
    let b = dump_tables(&az.db, &az.key);
    for (t, rows) in &a {
        assert_eq!(rows, &b[t], "table {t}");
    }
    assert!(a["Project"].len() > 1);
}

#[test]
fn order_of_sections_and_missing_key_check_do_not_matter() {
    let plain = sample(SampleOptions::new(1, 9));
    let odd = sample(SampleOptions {
        gzip_dump: false,
        attachments_first: true,
        master_key_check: false,
        ..SampleOptions::new(1, 9)
    });
    run_migration(&plain, None).unwrap();
    let report = run_migration(&odd, None).unwrap();
    assert!(report.artifacts_without_content.is_empty());
    assert_eq!(
        dump_tables(&plain.db, &plain.key),
        dump_tables(&odd.db, &odd.key)
    );
}

#[test]
fn wrong_key_is_detected_before_anything_is_written() {
    for mkc in [true, false] {
        let r = sample(SampleOptions {
            master_key_check: mkc,
            ..SampleOptions::new(1, 11)
        });
        let mut sink = SqliteSink::new(&r.db);
        let e = Migration::new(&r.backup, &MasterKey::generate())
            .files_dir(&r.root)
            .skip_unsupported_steps(true)
            .run(&mut sink)
            .unwrap_err();
        assert!(e.is_wrong_key(), "{e}");
        assert!(e
            .to_string()
            .contains("the master key does not match this backup"));
        assert!(!r.db.exists());
        assert_eq!(files_under(&r.root), vec![r.backup.clone()]);
    }
}

#[test]
fn unsupported_step_stops_the_migration_and_writes_nothing() {
    let r = sample(SampleOptions::new(1, 13));
    let mut sink = SqliteSink::new(&r.db);
    let e = Migration::new(&r.backup, &r.key)
        .files_dir(&r.root)
        .run(&mut sink)
        .unwrap_err();
    let problems = e.problems();
    assert_eq!(problems.len(), 1, "{e}");
    let text = e.to_string();
    for needle in [
        "Octopus.Ftp",
        r.summary.ftp.project_name.as_str(),
        r.summary.ftp.step_name.as_str(),
        r.summary.ftp.action_name.as_str(),
    ] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
    assert!(!r.db.exists());
    assert_eq!(files_under(&r.root), vec![r.backup.clone()]);
    assert!(e.report().is_some());
}

#[test]
fn dry_run_counts_the_same_and_writes_nothing() {
    let r = sample(SampleOptions::new(1, 17));
    let real = run_migration(&r, None).unwrap();
    let dry = Migration::new(&r.backup, &r.key)
        .skip_unsupported_steps(true)
        .dry_run()
        .unwrap();
    assert!(dry.dry_run && !dry.committed);
    assert_eq!(dry.collections, real.collections);
    assert_eq!(dry.tables, real.tables);
    assert_eq!(dry.task_log_lines, real.task_log_lines);
    assert_eq!(dry.artifact_files, real.artifact_files);
}

#[test]
fn a_target_with_data_is_refused_and_left_as_it_was() {
    let r = sample(SampleOptions::new(1, 19));
    run_migration(&r, None).unwrap();
    let before = std::fs::read(&r.db).unwrap();
    let e = run_migration(&r, None).unwrap_err();
    assert!(e.is_target(), "{e}");
    assert_eq!(std::fs::read(&r.db).unwrap(), before);
}

/// The preflight reports every problem at once, of every kind, and writes nothing.
#[test]
fn preflight_reports_every_problem_together() {
    use octo_migrate_core::Problem;
    use octo_migrate_sample::{BackupWriter, DumpOptions};
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.octobak");
    let key = MasterKey::generate();
    let other = MasterKey::generate();
    let meta = |id: &str, c: &str| json!({"@id": id, "Raven-Entity-Name": c});
    let docs = vec![
        json!({"Name": "Shop", "@metadata": meta("projects-1", "Projects")}),
        json!({"OwnerId": "projects-1", "Steps": [{"Name": "Upload", "Actions": [
            {"Name": "ftp", "ActionType": "Octopus.Ftp"},
            {"Name": "azure", "ActionType": "Octopus.Azure"}]}],
            "@metadata": meta("deploymentprocess-projects-1", "DeploymentProcesses")}),
        json!({"Name": "NuGet", "FeedUri": "https://f", "Password": octo_migrate_core::internals::crypto::encrypt_value(&other, "pw"),
            "@metadata": meta("feeds-1", "Feeds")}),
        json!({"Name": "ssh01", "CommunicationStyle": "Ssh", "@metadata": meta("machines-1", "Machines")}),
    ];
    let mut w = BackupWriter::new(std::io::Cursor::new(Vec::new()), &key, EntryForm::MkStream);
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    for x in &docs {
        d.write_doc(x).unwrap();
    }
    d.finish().unwrap();
    std::fs::write(&path, w.finish().unwrap().into_inner()).unwrap();
    let db = dir.path().join("o.db");
    let mut sink = SqliteSink::new(&db);
    let e = Migration::new(&path, &key)
        .files_dir(dir.path())
        .run(&mut sink)
        .unwrap_err();
    let p = e.problems();
    assert_eq!(p.len(), 4, "{e}");
    assert_eq!(
        p.iter()
            .filter(|x| matches!(x, Problem::UnsupportedStep { .. }))
            .count(),
        2
    );
    assert!(p.iter().any(|x| matches!(x, Problem::Undecryptable { doc_id, field, .. } if doc_id == "feeds-1" && field == "Password")));
    assert!(p
        .iter()
        .any(|x| matches!(x, Problem::Unmappable { doc_id, .. } if doc_id == "machines-1")));
    assert!(!e.to_string().contains("pw\""));
    assert!(!db.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let r = e.report().unwrap();
    assert_eq!(r.problems.len(), 4);
    assert_eq!(r.collections["Machines"].failed, 1);
}

/// The same migration with `threads` workers, into its own folder.
fn run_threads(r: &Run, threads: usize, name: &str) -> (PathBuf, Report) {
    let root = r.root.join(name);
    std::fs::create_dir_all(&root).unwrap();
    let db = root.join("octopus3.db");
    let mut sink = SqliteSink::new(&db);
    let report = Migration::new(&r.backup, &r.key)
        .files_dir(&root)
        .skip_unsupported_steps(true)
        .threads(std::num::NonZeroUsize::new(threads).unwrap())
        .run(&mut sink)
        .unwrap();
    (root, report)
}

#[test]
fn one_worker_and_two_give_the_same_rows_and_files_and_the_worker_counts_add_up() {
    let r = sample(SampleOptions::new(3, 21));
    let (one_root, one) = run_threads(&r, 1, "one");
    let (two_root, two) = run_threads(&r, 2, "two");
    let (a, b) = (
        dump_tables(&one_root.join("octopus3.db"), &r.key),
        dump_tables(&two_root.join("octopus3.db"), &r.key),
    );
    assert_eq!(a, b);
    let files = |root: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        files_under(&root.join("TaskLogs"))
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect()
    };
    let (fa, fb) = (files(&one_root), files(&two_root));
    assert_eq!(fa.len() as u64, r.summary.activity_logs);
    assert_eq!(fa, fb);
    assert_eq!(one.task_logs, two.task_logs);

    for (report, workers) in [(&one, 1), (&two, 2)] {
        let w = &report.workers;
        let names: Vec<&str> = w.iter().map(|w| w.worker.as_str()).collect();
        let mut expected = vec!["reader".to_owned()];
        expected.extend((1..=workers).map(|i| format!("transform {i}")));
        expected.extend(["writer".to_owned(), "task logs".to_owned()]);
        assert_eq!(names, expected);
        let transforms = &w[1..=workers];
        // Every document and attachment the reader cut out was transformed by one worker.
        assert_eq!(transforms.iter().map(|t| t.items).sum::<u64>(), w[0].items);
        assert!(transforms.iter().map(|t| t.bytes).sum::<u64>() > 0);
        assert!(w[0].items >= report.totals().read);
        assert_eq!(w[workers + 1].items, report.tables.values().sum::<u64>());
        assert_eq!(w[workers + 2].items, report.task_logs);
    }
    // Two workers share the documents (a scale-3 sample has many batches).
    assert!(two.workers[1].items > 0 && two.workers[2].items > 0);
}

/// `bytes` with its central directory's records in reverse order (a plain, non-ZIP64 archive):
/// the same entries, listed in another order than the file's.
fn reverse_directory(bytes: &[u8]) -> Vec<u8> {
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as usize;
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
    let eocd = (0..bytes.len() - 21)
        .rev()
        .find(|&i| u32_at(bytes, i) == 0x0605_4b50)
        .unwrap();
    let (count, size, start) = (
        u16_at(bytes, eocd + 10),
        u32_at(bytes, eocd + 12),
        u32_at(bytes, eocd + 16),
    );
    let mut records = Vec::new();
    let mut at = start;
    for _ in 0..count {
        let len = 46 + u16_at(bytes, at + 28) + u16_at(bytes, at + 30) + u16_at(bytes, at + 32);
        records.push(&bytes[at..at + len]);
        at += len;
    }
    assert_eq!(at, start + size);
    let mut out = bytes[..start].to_vec();
    for r in records.iter().rev() {
        out.extend_from_slice(r);
    }
    out.extend_from_slice(&bytes[start + size..]);
    out
}

#[test]
fn a_directory_listing_entries_out_of_file_order_gives_the_same_migration() {
    let r = sample(SampleOptions::new(1, 23));
    let (plain_root, plain) = run_threads(&r, 2, "plain");
    let reversed = r.root.join("reversed.octobak");
    std::fs::write(
        &reversed,
        reverse_directory(&std::fs::read(&r.backup).unwrap()),
    )
    .unwrap();
    let root = r.root.join("rev");
    std::fs::create_dir_all(&root).unwrap();
    let mut sink = SqliteSink::new(root.join("octopus3.db"));
    let rev = Migration::new(&reversed, &r.key)
        .files_dir(&root)
        .skip_unsupported_steps(true)
        .threads(std::num::NonZeroUsize::new(2).unwrap())
        .run(&mut sink)
        .unwrap();
    // Each log converted once (the log thread's list and pass 2's are reconciled by number).
    assert_eq!(rev.task_logs, plain.task_logs);
    assert_eq!(rev.task_logs, r.summary.activity_logs);
    let names = |root: &Path| {
        let mut v: Vec<PathBuf> = files_under(&root.join("TaskLogs"))
            .into_iter()
            .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&root), names(&plain_root));
    assert_eq!(
        dump_tables(&root.join("octopus3.db"), &r.key),
        dump_tables(&plain_root.join("octopus3.db"), &r.key)
    );
}
