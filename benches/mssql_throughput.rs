//! SQL Server throughput (issue 12), one run against a live server; skipped (exit 0) when
//! `OCTO_MIGRATE_MSSQL_URL` is not set. Its tables in that database are dropped.
//!
//!     OCTO_MIGRATE_MSSQL_URL='mssql://user:pass@host:1433/scratch?encrypt=false' \
//!       BENCH_SCALE=70 cargo bench -p octo-migrate-benches --bench mssql_throughput
//!
//! In the same run, on the same generated backup (scale `BENCH_SCALE`, default 70, about
//! 16 MiB):
//! 0. the same migration as a dry run (no target): what reading and transforming cost alone;
//! 1. `migrate --nologs` into the empty database, creating the tables, and into the empty
//!    tables of an installed 3.x (the library's `MssqlSink`, default batches);
//!    and the latter again with `--threads 1`;
//! 2. bare tiberius: the same rows (produced beforehand, not timed) bulk-loaded into the
//!    empty tables in one transaction, buffered per table and sent at the sink's batch size
//!    (8 MiB estimated), rows with a text over 4000 characters as parameterized INSERTs as the
//!    sink sends them: the floor for loading these rows over TDS;
//! 3. the same migration merged (`--overwrite`) into a database holding a few rows of its own
//!    (a fresh 3.x server's administrator and a project group), against 1.
//!
//! Prints rows, seconds and rows/s of each, and the ratios the goals are about.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use octo_migrate_core::sink::mssql_target::{Encrypt, MssqlTarget};
use octo_migrate_core::sink::{
    Existing, MemorySink, MssqlOptions, MssqlSink, Row, Sink, SqlType, Table, Value, TABLES,
};
use octo_migrate_core::{MasterKey, Merge, Migration, TaskLogs};
use tiberius::{ColumnData, IntoSql, TokenRow};
use tokio_util::compat::TokioAsyncWriteCompatExt;

/// The sink's default batch (`MssqlOptions::batch_bytes`), or `BENCH_BATCH_KB` KiB for both
/// the sink and the bare load.
fn batch_bytes() -> usize {
    std::env::var("BENCH_BATCH_KB")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .map_or(MssqlOptions::default().batch_bytes, |kb| kb << 10)
}
const BULK_MAX_TEXT: usize = 4000;

fn main() {
    let Ok(url) = std::env::var("OCTO_MIGRATE_MSSQL_URL") else {
        eprintln!("skipped: set OCTO_MIGRATE_MSSQL_URL to a scratch database to run this bench");
        return;
    };
    // cargo bench passes --bench; nothing else is understood.
    let target = MssqlTarget::parse(&url).expect("OCTO_MIGRATE_MSSQL_URL");
    let scale: u32 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(70);
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("bench.octobak");
    let key = octo_migrate_sample::sample_key(1);
    octo_migrate_sample::write_sample_file(
        &backup,
        &key,
        &octo_migrate_sample::SampleOptions::new(scale, 1),
    )
    .unwrap();
    let mb = std::fs::metadata(&backup).unwrap().len() as f64 / (1 << 20) as f64;
    let target_key = MasterKey::generate();
    // Each run its own files folder: artifacts already in place would make a later run's
    // file moves differ from a first migration's.
    let runs = std::cell::Cell::new(0);
    let migration = || {
        runs.set(runs.get() + 1);
        let files = dir.path().join(format!("files-{}", runs.get()));
        std::fs::create_dir_all(&files).unwrap();
        let m = Migration::new(&backup, &key)
            .target_key(&target_key)
            .files_dir(files)
            .skip_unsupported_steps(true)
            .task_logs(TaskLogs::Skip);
        if std::env::var_os("BENCH_DETAIL").is_some() {
            m.progress(std::sync::Arc::new(Phases::new()))
        } else {
            m
        }
    };

    // 0. The same migration writing nothing: what reading and transforming alone cost.
    let t = Instant::now();
    migration().dry_run().unwrap();
    let dry_s = t.elapsed().as_secs_f64();

    // 1. The migration into an empty database, its tables created by the run.
    drop_tables(&target);
    let mut sink = MssqlSink::new(target.clone(), options(true));
    let t = Instant::now();
    let report = migration().run(&mut sink).unwrap();
    let create_s = t.elapsed().as_secs_f64();
    drop(sink);
    let rows: usize = report.tables.values().map(|n| *n as usize).sum();
    detail("with --create-schema", &report);

    // 1b. Into the empty tables of an installed 3.x (created beforehand, as for the bare load).
    drop_tables(&target);
    create_empty_schema(&target);
    let mut sink = MssqlSink::new(target.clone(), options(false));
    let t = Instant::now();
    let report = migration().run(&mut sink).unwrap();
    let migrate_s = t.elapsed().as_secs_f64();
    drop(sink);
    detail("into empty tables", &report);

    // 1c. The same with one thread: the server shares this machine's cores in a local setup,
    // and the transform workers compete with it.
    drop_tables(&target);
    create_empty_schema(&target);
    let mut sink = MssqlSink::new(target.clone(), options(false));
    let t = Instant::now();
    let report = migration()
        .threads(std::num::NonZeroUsize::new(1).unwrap())
        .run(&mut sink)
        .unwrap();
    let one_thread_s = t.elapsed().as_secs_f64();
    drop(sink);
    detail("into empty tables, one thread", &report);

    // 2. The same rows, bare.
    let mut mem = MemorySink::new();
    migration().run(&mut mem).unwrap();
    let all: Vec<Row> = mem.rows().to_vec();
    assert_eq!(
        all.len(),
        rows,
        "the memory sink got the rows the server got"
    );
    drop_tables(&target);
    create_empty_schema(&target);
    let bare_s = bare_bulk_load(&target, &all);

    // 3. A merge into a database holding a few rows of its own.
    drop_tables(&target);
    let mut fresh = MssqlSink::new(target.clone(), {
        let mut o = MssqlOptions::default();
        o.create_schema = true;
        o
    });
    fresh.prepare(Existing::Refuse).unwrap();
    for r in own_rows() {
        fresh.insert(r).unwrap();
    }
    fresh.commit().unwrap();
    drop(fresh);
    let mut sink = MssqlSink::new(target.clone(), options(false));
    let t = Instant::now();
    let merged = migration().merge(Merge::BackupWins).run(&mut sink).unwrap();
    let merge_s = t.elapsed().as_secs_f64();
    drop(sink);
    assert!(merged.committed);
    detail("merged", &merged);
    drop_tables(&target);

    println!("SQL Server throughput: scale {scale}, backup {mb:.1} MiB, {rows} rows, --nologs");
    println!("{:<52} {:>8} {:>10}", "what", "seconds", "rows/s");
    let line = |what: &str, s: f64| println!("{what:<52} {s:>8.2} {:>10.0}", rows as f64 / s);
    line("dry run (read, decrypt, transform; no target)", dry_s);
    line("migrate, creating the tables (--create-schema)", create_s);
    line(
        "migrate into the empty tables of an installed 3.x",
        migrate_s,
    );
    line("the same with --threads 1", one_thread_s);
    line("bare tiberius bulk load of the same rows (floor)", bare_s);
    line(
        "migrate merged (--overwrite) into a 3.x-like target",
        merge_s,
    );
    println!(
        "migration rate / bare bulk-load rate: {:.2} (goal >= 0.9)",
        bare_s / migrate_s
    );
    println!(
        "merge time / empty-target time: {:.2} (goal <= 1.2)",
        merge_s / migrate_s
    );
}

/// The sink's options, at the bench's batch size.
fn options(create_schema: bool) -> MssqlOptions {
    let mut o = MssqlOptions::default();
    o.create_schema = create_schema;
    o.batch_bytes = batch_bytes();
    o
}

/// With `BENCH_DETAIL` set: each phase's start, in seconds from the run's start.
struct Phases {
    start: Instant,
    last: std::sync::Mutex<Option<octo_migrate_core::Phase>>,
}

impl Phases {
    fn new() -> Phases {
        Phases {
            start: Instant::now(),
            last: std::sync::Mutex::new(None),
        }
    }
}

impl octo_migrate_core::ProgressSink for Phases {
    fn report(&self, p: &octo_migrate_core::Progress) {
        let mut last = self.last.lock().unwrap();
        if *last != Some(p.phase) {
            eprintln!("  {:.2}s {:?}", self.start.elapsed().as_secs_f64(), p.phase);
            *last = Some(p.phase);
        }
    }
}

/// With `BENCH_DETAIL` set: where a run's time went (pass 1, and each pass-2 thread's busy
/// seconds).
fn detail(what: &str, r: &octo_migrate_core::Report) {
    if std::env::var_os("BENCH_DETAIL").is_none() {
        return;
    }
    let busy: Vec<String> = r
        .workers
        .iter()
        .map(|w| format!("{} {:.2}s", w.worker, w.busy_seconds))
        .collect();
    eprintln!(
        "{what}: {:.2}s elapsed, pass 1 {:.2}s; {}",
        r.elapsed_seconds,
        r.index_seconds,
        busy.join(", ")
    );
}

/// A fresh 3.x server's own rows: its administrator (whose id the backup's first user has
/// too), a project group, and their allocations.
fn own_rows() -> Vec<Row> {
    let text = |s: &str| Value::Text(s.into());
    let row = |table: Table, set: &[(&str, Value)]| {
        let values = table
            .def()
            .value_columns()
            .map(|c| match set.iter().find(|(n, _)| *n == c.name) {
                Some((_, v)) => v.clone(),
                None => match c.ty {
                    SqlType::NVarChar(_) if c.name == "JSON" => text("{}"),
                    SqlType::NVarChar(_) => text("x"),
                    SqlType::Bit => Value::Bool(true),
                    SqlType::UniqueIdentifier => Value::Guid(Default::default()),
                    SqlType::DateTimeOffset => Value::DateTime(
                        chrono::DateTime::parse_from_rfc3339("2016-01-01T00:00:00Z").unwrap(),
                    ),
                    _ => Value::Int(1),
                },
            })
            .collect();
        Row { table, values }
    };
    vec![
        row(
            Table::User,
            &[("Id", text("Users-1")), ("Username", text("Administrator"))],
        ),
        row(
            Table::ProjectGroup,
            &[
                ("Id", text("ProjectGroups-1")),
                ("Name", text("Default Project Group")),
            ],
        ),
        row(
            Table::KeyAllocation,
            &[
                ("CollectionName", text("User")),
                ("Allocated", Value::Int(1)),
            ],
        ),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

type Client = tiberius::Client<tokio_util::compat::Compat<tokio::net::TcpStream>>;

/// A client configured as the sink configures its own (packet size, no Nagle, timeouts).
async fn connect(t: &MssqlTarget) -> Client {
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
    c.packet_size(32767);
    c.command_timeout(Some(Duration::from_secs(600)));
    let tcp = tokio::net::TcpStream::connect((t.host.as_str(), t.port))
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    tiberius::Client::connect(c, tcp.compat_write())
        .await
        .unwrap()
}

fn drop_tables(t: &MssqlTarget) {
    runtime().block_on(async {
        let mut c = connect(t).await;
        for d in TABLES {
            c.simple_query(format!("DROP TABLE IF EXISTS [dbo].[{}]", d.table.name()))
                .await
                .unwrap()
                .into_results()
                .await
                .unwrap();
        }
    });
}

/// The tables, empty, as the sink creates them.
fn create_empty_schema(t: &MssqlTarget) {
    let mut s = MssqlSink::new(t.clone(), {
        let mut o = MssqlOptions::default();
        o.create_schema = true;
        o
    });
    s.prepare(Existing::Refuse).unwrap();
    s.commit().unwrap();
}

/// `v` as TDS column data of type `ty`: the plain conversion, no checks.
fn column_data(v: &Value, ty: SqlType) -> ColumnData<'static> {
    match (v, ty) {
        (Value::Null, SqlType::Int) => ColumnData::I32(None),
        (Value::Null, SqlType::Bit) => ColumnData::Bit(None),
        (Value::Null, SqlType::DateTimeOffset) => ColumnData::DateTimeOffset(None),
        (Value::Null, SqlType::UniqueIdentifier) => ColumnData::Guid(None),
        (Value::Null, _) => ColumnData::String(None),
        (Value::Text(s), _) => ColumnData::String(Some(Cow::Owned(s.clone()))),
        (Value::Int(i), _) => ColumnData::I32(Some(*i as i32)),
        (Value::Bool(b), _) => ColumnData::Bit(Some(*b)),
        (Value::DateTime(d), _) => d.into_sql(),
        (Value::Guid(g), _) => ColumnData::Guid(Some(*g)),
    }
}

fn estimated_bytes(v: &Value) -> usize {
    match v {
        Value::Null => 1,
        Value::Text(s) => 2 + 2 * s.len(),
        Value::Int(_) => 5,
        Value::Bool(_) => 2,
        Value::DateTime(_) => 11,
        Value::Guid(_) => 17,
    }
}

/// Loads `rows` into the empty tables in one transaction; returns the seconds taken
/// (connecting included, as in the migration).
fn bare_bulk_load(t: &MssqlTarget, rows: &[Row]) -> f64 {
    let rt = runtime();
    let start = Instant::now();
    rt.block_on(async {
        let mut c = connect(t).await;
        c.simple_query("BEGIN TRANSACTION")
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
        let mut pending: Vec<(Vec<&Row>, usize)> = TABLES.iter().map(|_| (vec![], 0)).collect();
        for r in rows {
            let i = TABLES.iter().position(|d| d.table == r.table).unwrap();
            let def = r.table.def();
            let large = r
                .values
                .iter()
                .any(|v| matches!(v, Value::Text(s) if s.len() > BULK_MAX_TEXT));
            if large {
                let cols: Vec<String> = def
                    .value_columns()
                    .map(|c| format!("[{}]", c.name))
                    .collect();
                let params: Vec<String> = (1..=cols.len()).map(|n| format!("@P{n}")).collect();
                let sql = format!(
                    "INSERT INTO [dbo].[{}] ({}) VALUES ({})",
                    def.table.name(),
                    cols.join(", "),
                    params.join(", ")
                );
                let mut q = tiberius::Query::new(sql);
                for (v, col) in r.values.iter().zip(def.value_columns()) {
                    q.bind(column_data(v, col.ty));
                }
                q.execute(&mut c).await.unwrap();
                continue;
            }
            pending[i].1 += r.values.iter().map(estimated_bytes).sum::<usize>();
            pending[i].0.push(r);
            if pending[i].1 >= batch_bytes() {
                let batch = std::mem::take(&mut pending[i]);
                send(&mut c, i, &batch.0).await;
            }
        }
        for (i, batch) in pending.iter_mut().enumerate() {
            let batch = std::mem::take(batch);
            send(&mut c, i, &batch.0).await;
        }
        c.simple_query("COMMIT TRANSACTION")
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
    });
    start.elapsed().as_secs_f64()
}

/// One bulk load of `rows` into `TABLES[i]`.
async fn send(c: &mut Client, i: usize, rows: &[&Row]) {
    if rows.is_empty() {
        return;
    }
    let def = &TABLES[i];
    let table = format!("[dbo].[{}]", def.table.name());
    let cols: Vec<String> = def
        .value_columns()
        .map(|c| format!("[{}]", c.name))
        .collect();
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    let mut req = c
        .bulk_insert_with_options(&table, &cols, tiberius::SqlBulkCopyOptions::empty(), &[])
        .await
        .unwrap();
    for r in rows {
        let mut row = TokenRow::with_capacity(r.values.len());
        for (v, col) in r.values.iter().zip(def.value_columns()) {
            row.push(column_data(v, col.ty));
        }
        req.send(row).await.unwrap();
    }
    req.finalize().await.unwrap();
}
