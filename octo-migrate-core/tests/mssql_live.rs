//! The SQL Server sink against a real server: runs only when `OCTO_MIGRATE_MSSQL_URL` names a
//! scratch database (its Octopus tables are dropped first). Migrates testdata/sample.octobak into
//! it and into SQLite, and compares every table row by row, value by value.
#![cfg(feature = "mssql")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use octo_migrate_core::error::ErrorKind;
use octo_migrate_core::sink::mssql_target::{Encrypt, MssqlTarget};
use octo_migrate_core::sink::{MssqlOptions, MssqlSink, SqlType, SqliteSink, Table, TABLES};
use octo_migrate_core::MasterKey;
use octo_migrate_core::Migration;
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

/// Drops our tables in the scratch database, through a connection of the test's own.
fn drop_our_tables(t: &MssqlTarget) {
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
        for def in TABLES {
            let sql = format!("DROP TABLE IF EXISTS [dbo].[{}]", def.table.name());
            client
                .simple_query(sql)
                .await
                .unwrap()
                .into_results()
                .await
                .unwrap();
        }
    });
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

#[test]
fn sample_migrates_into_sql_server_exactly_as_into_sqlite() {
    let Some(target) = live_target() else {
        return;
    };
    drop_our_tables(&target);
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

    let db = dir.path().join("octopus3.db");
    let sqlite_files = dir.path().join("sqlite-files");
    std::fs::create_dir_all(&sqlite_files).unwrap();
    let mut lite = SqliteSink::new(&db);
    migration(&backup, &key, &sqlite_files, &target_key)
        .run(&mut lite)
        .unwrap();
    drop(lite);
    let conn = rusqlite::Connection::open(&db).unwrap();

    let mut reader = MssqlSink::new(target.clone(), MssqlOptions::default());
    let mut total = 0;
    for def in TABLES {
        let server = mssql_rows(&mut reader, def.table);
        let local = sqlite_rows(&conn, def.table);
        assert_eq!(server.len(), local.len(), "row count of {}", def.table);
        for (s, l) in server.iter().zip(&local) {
            assert_eq!(s, l, "a row of {}", def.table);
        }
        total += server.len();
    }
    assert!(total > 0, "the sample migrated no rows");

    // A second migration without merging is refused and changes nothing.
    let before: Vec<usize> = TABLES
        .iter()
        .map(|d| reader.rows(d.table).unwrap().len())
        .collect();
    let mut again = MssqlSink::new(target.clone(), MssqlOptions::default());
    let e = migration(&backup, &key, &files, &target_key)
        .run(&mut again)
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::TargetNotEmpty { .. }), "{e}");
    drop(again);
    let after: Vec<usize> = TABLES
        .iter()
        .map(|d| reader.rows(d.table).unwrap().len())
        .collect();
    assert_eq!(before, after);
}
