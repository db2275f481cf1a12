//! The SQL Server sink against a real server: runs only when `OCTO_MIGRATE_MSSQL_URL` names a
//! scratch database (its Octopus tables are dropped first; skipped, not failed, without it).
//! Migrates testdata/sample.octobak into it and into SQLite and compares every table row by row,
//! value by value; reruns it with `--nooverwrite` and `--overwrite`; merges it into a target
//! holding rows of its own; logs in with an ADO.NET string whose password needs quoting.
//!
//! Run against Babelfish for PostgreSQL 4.2 (SQL Server-compatible); where it differs from SQL
//! Server, the difference is tolerated exactly, named where it is.
#![cfg(feature = "mssql")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use octo_migrate_core::error::ErrorKind;
use octo_migrate_core::internals::crypto::decrypt_value;
use octo_migrate_core::sink::mssql_target::{Encrypt, MssqlTarget};
use octo_migrate_core::sink::{Existing, Row, Sink, Value};
use octo_migrate_core::sink::{MssqlOptions, MssqlSink, SqlType, SqliteSink, Table, TABLES};
use octo_migrate_core::MasterKey;
use octo_migrate_core::{Merge, Migration};
use tokio_util::compat::TokioAsyncWriteCompatExt;

const ENV: &str = "OCTO_MIGRATE_MSSQL_URL";

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("testdata")
        .join(name)
}

/// The scratch target, or `None` (after saying so) when the variable is not set.
fn live_target() -> Option<MssqlTarget> {
    match std::env::var(ENV) {
        Ok(s) if !s.trim().is_empty() => Some(MssqlTarget::parse(&s).expect(ENV)),
        _ => {
            // Written to stderr directly: the test harness captures println!, and a skip
            // must be visible in a plain `cargo test` run.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "skipped: set {ENV}=mssql://user:pass@host:port/db (a scratch database) to run \
                 the SQL Server live test"
            );
            None
        }
    }
}

/// The live tests share one database: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drops our tables in the scratch database.
fn drop_our_tables(t: &MssqlTarget) {
    let sql: Vec<String> = TABLES
        .iter()
        .map(|d| format!("DROP TABLE IF EXISTS [dbo].[{}]", d.table.name()))
        .collect();
    for s in sql {
        run_sql(t, &s).unwrap();
    }
}

/// Whether the server is Babelfish (for the differences tolerated below).
fn is_babelfish(t: &MssqlTarget) -> bool {
    run_sql(t, "SELECT @@VERSION")
        .unwrap()
        .iter()
        .any(|v| v.contains("Babelfish"))
}

/// Runs `sql` through a connection of the test's own; returns the first column of the first
/// result set as text.
fn run_sql(t: &MssqlTarget, sql: &str) -> Result<Vec<String>, tiberius::error::Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = tiberius::Config::new();
        c.host(&t.host);
        c.port(t.port);
        c.database(&t.database);
        c.authentication(tiberius::AuthMethod::sql_server(
            &t.user,
            t.expose_password(),
        ));
        c.encryption(match t.encrypt {
            Encrypt::Required => tiberius::EncryptionLevel::Required,
            Encrypt::Optional => tiberius::EncryptionLevel::NotSupported,
            Encrypt::Strict => tiberius::EncryptionLevel::Strict,
        });
        if t.trust_server_certificate {
            c.trust_cert();
        }
        let tcp = tokio::net::TcpStream::connect((t.host.as_str(), t.port))
            .await
            .unwrap();
        let mut client = tiberius::Client::connect(c, tcp.compat_write())
            .await
            .unwrap();
        let results = client.simple_query(sql).await?.into_results().await?;
        Ok(results
            .into_iter()
            .next()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                r.try_get::<&str, _>(0)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect())
    })
}

fn migration(backup: &Path, key: &MasterKey, dir: &Path, target_key: &MasterKey) -> Migration {
    Migration::new(backup, key)
        .target_key(target_key)
        .files_dir(dir)
        .skip_unsupported_steps(true)
}

fn source_key() -> MasterKey {
    let text = std::fs::read_to_string(testdata("sample.octobak.key")).unwrap();
    MasterKey::parse(text.trim()).unwrap()
}

/// Every row of `table` in SQL Server as text per value (None = NULL), sorted.
fn mssql_rows(sink: &mut MssqlSink, table: Table) -> Vec<Vec<Option<String>>> {
    let mut rows: Vec<Vec<Option<String>>> = sink
        .rows(table)
        .unwrap()
        .into_iter()
        .map(|r| r.values.iter().map(|v| v.to_text()).collect())
        .collect();
    rows.sort();
    rows
}

/// The same from SQLite: text as stored (dates and GUIDs are stored as the sink formats
/// them, so equal text means equal instant, offset and precision), bits as 0/1.
fn sqlite_rows(conn: &rusqlite::Connection, table: Table) -> Vec<Vec<Option<String>>> {
    let cols: Vec<String> = table
        .def()
        .columns
        .iter()
        .filter(|c| c.ty != SqlType::Identity)
        .map(|c| format!("\"{}\"", c.name))
        .collect();
    let sql = format!("SELECT {} FROM \"{}\"", cols.join(", "), table.name());
    let mut stmt = conn.prepare(&sql).unwrap();
    let n = cols.len();
    let mut rows: Vec<Vec<Option<String>>> = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                        rusqlite::types::Value::Null => None,
                        rusqlite::types::Value::Integer(v) => Some(v.to_string()),
                        rusqlite::types::Value::Text(t) => Some(t),
                        other => Some(format!("{other:?}")),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    rows.sort();
    rows
}

/// SQLite's rows of every table, from a migration of `backup` with the same options.
fn sqlite_reference(
    backup: &Path,
    key: &MasterKey,
    target_key: &MasterKey,
    dir: &Path,
) -> rusqlite::Connection {
    let db = dir.join("octopus3.db");
    let files = dir.join("sqlite-files");
    std::fs::create_dir_all(&files).unwrap();
    let mut lite = SqliteSink::new(&db);
    migration(backup, key, &files, target_key)
        .run(&mut lite)
        .unwrap();
    drop(lite);
    rusqlite::Connection::open(&db).unwrap()
}

/// `text` with every re-encrypted value (a JSON string `cipher|iv` that decrypts under `key`)
/// replaced by its plaintext: each run encrypts with fresh IVs, so the two targets' cipher
/// texts differ while their values are the same.
fn decrypted(text: &str, key: &MasterKey) -> String {
    let mut out = String::with_capacity(text.len());
    let mut parts = text.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for p in parts {
        out.push('"');
        match decrypt_value(key, p) {
            Ok(plain) if p.contains('|') => {
                out.push_str("decrypted:");
                out.push_str(plain.expose());
            }
            _ => out.push_str(p),
        }
    }
    out
}

fn decrypted_rows(rows: Vec<Vec<Option<String>>>, key: &MasterKey) -> Vec<Vec<Option<String>>> {
    let mut rows: Vec<Vec<Option<String>>> = rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.map(|t| decrypted(&t, key)))
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

/// Whether two rows of `table` are equal. Babelfish keeps `datetimeoffset` to the microsecond
/// (rounded), where SQL Server keeps 100 ns: on Babelfish, and only there, dates may differ by
/// at most half a microsecond, with the same offset.
fn same_row(
    table: Table,
    server: &[Option<String>],
    local: &[Option<String>],
    babelfish: bool,
) -> bool {
    if server == local {
        return true;
    }
    if !babelfish || server.len() != local.len() {
        return false;
    }
    let cols: Vec<SqlType> = table
        .def()
        .columns
        .iter()
        .filter(|c| c.ty != SqlType::Identity)
        .map(|c| c.ty)
        .collect();
    server
        .iter()
        .zip(local)
        .zip(cols)
        .all(|((s, l), ty)| match (s, l) {
            (Some(s), Some(l)) if ty == SqlType::DateTimeOffset => {
                let (Ok(s), Ok(l)) = (
                    chrono::DateTime::parse_from_rfc3339(s),
                    chrono::DateTime::parse_from_rfc3339(l),
                ) else {
                    return false;
                };
                s.offset() == l.offset()
                    && (s - l).num_nanoseconds().is_some_and(|n| n.abs() <= 500)
            }
            (s, l) => s == l,
        })
}

/// Asserts that every table of the server holds exactly SQLite's rows.
fn assert_same_as_sqlite(
    target: &MssqlTarget,
    conn: &rusqlite::Connection,
    babelfish: bool,
    key: &MasterKey,
) -> usize {
    let mut reader = MssqlSink::new(target.clone(), MssqlOptions::default());
    let mut total = 0;
    for def in TABLES {
        let server = decrypted_rows(mssql_rows(&mut reader, def.table), key);
        let local = decrypted_rows(sqlite_rows(conn, def.table), key);
        assert_eq!(server.len(), local.len(), "row count of {}", def.table);
        // Sorted by their text: a date rounded by Babelfish sorts where it did.
        for (s, l) in server.iter().zip(&local) {
            assert!(
                same_row(def.table, s, l, babelfish),
                "a row of {}:\n server {s:?}\n sqlite {l:?}",
                def.table
            );
        }
        total += server.len();
    }
    total
}

fn row_counts(target: &MssqlTarget) -> Vec<usize> {
    let mut reader = MssqlSink::new(target.clone(), MssqlOptions::default());
    TABLES
        .iter()
        .map(|d| reader.rows(d.table).unwrap().len())
        .collect()
}

/// The rows a merge inserted, over all tables but EventRelatedDocument: `--overwrite` replaces
/// an event's related documents by deleting and inserting them again (the row counts, checked
/// beside this, show that nothing was added).
fn inserted(r: &octo_migrate_core::Report) -> u64 {
    r.merge
        .as_ref()
        .expect("a merge report")
        .tables
        .iter()
        .filter(|(t, _)| t.as_str() != "EventRelatedDocument")
        .map(|(_, c)| c.inserted)
        .sum()
}

#[test]
fn sample_migrates_into_sql_server_exactly_as_into_sqlite_and_reruns_merge() {
    let Some(target) = live_target() else {
        return;
    };
    let _serial = serial();
    drop_our_tables(&target);
    let babelfish = is_babelfish(&target);
    let dir = tempfile::tempdir().unwrap();
    let key = source_key();
    let target_key = MasterKey::generate();
    let backup = testdata("sample.octobak");

    // Small batches, so the load takes several bulk loads per big table.
    let mut sink = MssqlSink::new(target.clone(), {
        let mut o = MssqlOptions::default();
        o.create_schema = true;
        o.batch_bytes = 64 << 10;
        o.command_timeout = Duration::from_secs(120);
        o
    });
    let files = dir.path().join("mssql-files");
    std::fs::create_dir_all(&files).unwrap();
    let report = migration(&backup, &key, &files, &target_key)
        .run(&mut sink)
        .unwrap();
    assert!(report.committed);
    drop(sink);

    let conn = sqlite_reference(&backup, &key, &target_key, dir.path());
    let total = assert_same_as_sqlite(&target, &conn, babelfish, &target_key);
    assert!(total > 0, "the sample migrated no rows");

    // A second migration without merging is refused and changes nothing.
    let before = row_counts(&target);
    let mut again = MssqlSink::new(target.clone(), MssqlOptions::default());
    let e = migration(&backup, &key, &files, &target_key)
        .run(&mut again)
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::TargetNotEmpty { .. }), "{e}");
    drop(again);
    assert_eq!(before, row_counts(&target));

    // Both merge reruns (issue 12: they failed on every NULL) add no row and leave the rows
    // as the backup gives them.
    for merge in [Merge::TargetWins, Merge::BackupWins] {
        let mut rerun = MssqlSink::new(target.clone(), MssqlOptions::default());
        let r = migration(&backup, &key, &files, &target_key)
            .merge(merge)
            .run(&mut rerun)
            .unwrap_or_else(|e| panic!("{merge:?}: {e}"));
        assert!(r.committed, "{merge:?}");
        assert_eq!(inserted(&r), 0, "{merge:?}: {:?}", r.merge);
        drop(rerun);
        assert_eq!(before, row_counts(&target), "{merge:?}");
        assert_same_as_sqlite(&target, &conn, babelfish, &target_key);
    }
}

/// A row of `table` with `set` columns given and every other a plain value of its type.
fn own_row(table: Table, set: &[(&str, Value)]) -> Row {
    let values = table
        .def()
        .value_columns()
        .map(|c| {
            if let Some((_, v)) = set.iter().find(|(n, _)| *n == c.name) {
                return v.clone();
            }
            match c.ty {
                SqlType::NVarChar(_) if c.name == "JSON" => Value::Text("{}".into()),
                SqlType::NVarChar(_) => Value::Text("x".into()),
                SqlType::Int | SqlType::Identity => Value::Int(1),
                SqlType::Bit => Value::Bool(true),
                SqlType::DateTimeOffset => Value::DateTime(
                    chrono::DateTime::parse_from_rfc3339("2016-01-01T00:00:00+00:00").unwrap(),
                ),
                SqlType::UniqueIdentifier => {
                    Value::Guid(uuid::Uuid::from_u128(c.name.len() as u128 + 7))
                }
            }
        })
        .collect();
    Row { table, values }
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// Issue 12: a real upgrade merges, since a freshly installed 3.x database already holds the
/// administrator's account and defaults. Here: a user whose id the backup uses for another
/// user, a user the backup has by name, a project group whose id the backup uses, and their key
/// allocations.
#[test]
fn a_merge_into_a_target_holding_rows_of_its_own() {
    let Some(target) = live_target() else {
        return;
    };
    let _serial = serial();
    drop_our_tables(&target);
    let dir = tempfile::tempdir().unwrap();
    let key = source_key();
    let target_key = MasterKey::generate();
    let backup = testdata("sample.octobak");
    let own = [
        own_row(
            Table::User,
            &[("Id", text("Users-1")), ("Username", text("Administrator"))],
        ),
        own_row(
            Table::User,
            &[("Id", text("Users-2")), ("Username", text("JSMITH"))],
        ),
        own_row(
            Table::ProjectGroup,
            &[
                ("Id", text("ProjectGroups-1")),
                ("Name", text("Default Project Group")),
            ],
        ),
        own_row(
            Table::KeyAllocation,
            &[
                ("CollectionName", text("User")),
                ("Allocated", Value::Int(2)),
            ],
        ),
        own_row(
            Table::KeyAllocation,
            &[
                ("CollectionName", text("ProjectGroup")),
                ("Allocated", Value::Int(1)),
            ],
        ),
    ];
    let mut fresh = MssqlSink::new(target.clone(), {
        let mut o = MssqlOptions::default();
        o.create_schema = true;
        o
    });
    fresh.prepare(Existing::Refuse).unwrap();
    for r in own.clone() {
        fresh.insert(r).unwrap();
    }
    fresh.commit().unwrap();
    drop(fresh);

    let files = dir.path().join("mssql-files");
    std::fs::create_dir_all(&files).unwrap();
    let mut sink = MssqlSink::new(target.clone(), MssqlOptions::default());
    let report = migration(&backup, &key, &files, &target_key)
        .merge(Merge::BackupWins)
        .run(&mut sink)
        .unwrap();
    assert!(report.committed);
    drop(sink);
    let m = report.merge.as_ref().unwrap();
    assert!(m.renumbered_count >= 2, "{m:?}");
    assert!(
        m.matched_by_name_count >= 1 || m.tables["User"].replaced >= 1,
        "{m:?}"
    );

    let conn = sqlite_reference(&backup, &key, &target_key, dir.path());
    let mut reader = MssqlSink::new(target.clone(), MssqlOptions::default());
    for def in TABLES {
        let server = reader.rows(def.table).unwrap();
        let local = sqlite_rows(&conn, def.table).len();
        // The target's own rows stay beside the backup's: its administrator and its project
        // group (their ids taken, the backup's renumbered); JSMITH is the backup's jsmith.
        let extra = match def.table {
            Table::User | Table::ProjectGroup => 1,
            _ => 0,
        };
        assert_eq!(server.len(), local + extra, "rows of {}", def.table);
    }
    let users = reader.rows(Table::User).unwrap();
    let name_of = |id: &str| {
        users
            .iter()
            .find(|r| r.values[0] == text(id))
            .map(|r| r.values[1].clone())
    };
    assert_eq!(name_of("Users-1"), Some(text("Administrator")));
    assert_eq!(name_of("Users-2"), Some(text("jsmith")), "the backup won");
    assert!(users.iter().any(|r| r.values[1] == text("admin")));
    let groups = reader.rows(Table::ProjectGroup).unwrap();
    assert!(groups
        .iter()
        .any(|r| r.values[0] == text("ProjectGroups-1")
            && r.values[1] == text("Default Project Group")));
    let alloc = reader
        .rows(Table::KeyAllocation)
        .unwrap()
        .into_iter()
        .find(|r| r.values[0] == text("User"))
        .unwrap();
    let Value::Int(n) = alloc.values[1] else {
        panic!("{alloc:?}")
    };
    assert!(
        n >= 5,
        "Users allocated {n}: the renumbered admin's id must not be handed out"
    );
    drop(reader);

    // And a rerun of the merge adds nothing.
    let before = row_counts(&target);
    let mut rerun = MssqlSink::new(target.clone(), MssqlOptions::default());
    let r = migration(&backup, &key, &files, &target_key)
        .merge(Merge::TargetWins)
        .run(&mut rerun)
        .unwrap();
    assert_eq!(inserted(&r), 0, "{:?}", r.merge);
    drop(rerun);
    assert_eq!(before, row_counts(&target));
}

/// The login of the quoted-password test: its password holds `;`, `"`, `'` and `=`, as
/// ADO.NET must quote it.
const QUOTED_LOGIN: &str = "octo_quoted";
const QUOTED_PASSWORD: &str = "p;w=\"1x'y";

/// Issue 12: an ADO.NET connection string as a 3.x server's configuration holds it, with a
/// password that needs quoting (`Password="p;w=""1x'y"`), logs in and migrates.
#[test]
fn the_ado_form_with_a_quoted_password_migrates() {
    let Some(target) = live_target() else {
        return;
    };
    let _serial = serial();
    drop_our_tables(&target);
    // A login of the test's own (sysadmin, so that it may create tables in the database;
    // Babelfish does not support ALTER ROLE db_owner ADD MEMBER, SQL Server takes either).
    let sql_pw = QUOTED_PASSWORD.replace('\'', "''");
    run_sql(
        &target,
        &format!(
            "IF NOT EXISTS (SELECT * FROM sys.server_principals WHERE name = '{QUOTED_LOGIN}') \
             CREATE LOGIN [{QUOTED_LOGIN}] WITH PASSWORD = '{sql_pw}'"
        ),
    )
    .unwrap();
    run_sql(
        &target,
        &format!("ALTER LOGIN [{QUOTED_LOGIN}] WITH PASSWORD = '{sql_pw}'"),
    )
    .unwrap();
    // Already a member on a second run: that error is not this test's concern.
    let _ = run_sql(
        &target,
        &format!("ALTER SERVER ROLE sysadmin ADD MEMBER [{QUOTED_LOGIN}]"),
    );
    let encrypt = match target.encrypt {
        Encrypt::Optional => "False",
        Encrypt::Required => "True",
        Encrypt::Strict => "Strict",
    };
    let ado = format!(
        "Data Source=tcp:{},{};Initial Catalog={};User ID={QUOTED_LOGIN};Password=\"{}\";Encrypt={encrypt};TrustServerCertificate={}",
        target.host,
        target.port,
        target.database,
        QUOTED_PASSWORD.replace('"', "\"\""),
        if target.trust_server_certificate { "True" } else { "False" },
    );
    let parsed = MssqlTarget::parse(&ado).unwrap();
    assert_eq!(parsed.expose_password(), QUOTED_PASSWORD);
    assert!(!parsed.to_string().contains("1x"));

    let dir = tempfile::tempdir().unwrap();
    let key = source_key();
    let target_key = MasterKey::generate();
    let backup = testdata("sample.octobak");
    let mut sink = MssqlSink::new(parsed.clone(), {
        let mut o = MssqlOptions::default();
        o.create_schema = true;
        o
    });
    let report = migration(&backup, &key, dir.path(), &target_key)
        .run(&mut sink)
        .unwrap();
    assert!(report.committed);
    drop(sink);
    let conn = sqlite_reference(&backup, &key, &target_key, dir.path());
    assert_same_as_sqlite(&parsed, &conn, is_babelfish(&target), &target_key);
    // The wrong password is refused, and the message does not show it.
    let mut wrong = parsed.clone();
    wrong.set_password("p;w=\"1x'z");
    let mut sink = MssqlSink::new(wrong, MssqlOptions::default());
    let e = sink.prepare(Existing::Merge).unwrap_err().to_string();
    assert!(e.contains("login failed"), "{e}");
    assert!(!e.contains("1x"), "{e}");
}
