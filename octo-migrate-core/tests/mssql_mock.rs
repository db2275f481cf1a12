//! The SQL Server sink against an in-process TDS server (mssql-mock-tds): connection, login,
//! the schema check and emptiness check (the mock answers them with canned results), and the
//! error paths. The mock cannot bulk load; the full load is in mssql_live.rs.
#![cfg(feature = "mssql")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mssql_mock_tds::{
    ColumnDefinition, ColumnValue, MockTdsServer, QueryRegistry, QueryResponse, Row as MockRow,
    SqlDataType, LOGIN_DELAY_KEY,
};
use octo_migrate_core::error::ErrorKind;
use octo_migrate_core::sink::mssql_target::MssqlTarget;
use octo_migrate_core::sink::{
    Existing, MssqlOptions, MssqlSink, Row, Sink, SqlType, Table, Value, TABLES,
};

/// A mock server on a free local port, served by its own runtime until dropped.
struct Mock {
    port: u16,
    registry: Arc<tokio::sync::Mutex<QueryRegistry>>,
    _rt: tokio::runtime::Runtime,
}

fn start_mock() -> Mock {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(MockTdsServer::new("127.0.0.1:0")).unwrap();
    let port = server.local_addr().port();
    let registry = server.query_registry();
    rt.spawn(server.run());
    Mock {
        port,
        registry,
        _rt: rt,
    }
}

impl Mock {
    /// The mock speaks no TLS: encryption is optional for it.
    fn target(&self) -> MssqlTarget {
        MssqlTarget::parse(&format!(
            "mssql://octo:hunter2@127.0.0.1:{}/Octopus?encrypt=false",
            self.port
        ))
        .unwrap()
    }

    /// Answers every query whose text contains `needle` (upper case) with `response`.
    fn answer(&self, needle: &str, response: QueryResponse) {
        self.registry.blocking_lock().register(needle, response);
    }

    /// The schema query returns `columns` as INFORMATION_SCHEMA.COLUMNS would.
    fn schema(&self, columns: Vec<(String, String, String, Option<i32>, bool)>) {
        let def = |n: &str, t| ColumnDefinition::new(n, t);
        let rows = columns
            .into_iter()
            .map(|(t, c, dt, len, ident)| {
                MockRow::new(vec![
                    ColumnValue::NVarChar(t),
                    ColumnValue::NVarChar(c),
                    ColumnValue::NVarChar(dt),
                    len.map_or(ColumnValue::Null, ColumnValue::Int),
                    ColumnValue::Int(i32::from(ident)),
                ])
            })
            .collect();
        self.answer(
            "INFORMATION_SCHEMA.COLUMNS",
            QueryResponse::new(
                vec![
                    def("TABLE_NAME", SqlDataType::NVarChar),
                    def("COLUMN_NAME", SqlDataType::NVarChar),
                    def("DATA_TYPE", SqlDataType::NVarChar),
                    def("CHARACTER_MAXIMUM_LENGTH", SqlDataType::Int),
                    def("IsIdentity", SqlDataType::Int),
                ],
                rows,
            ),
        );
    }

    /// The emptiness query says the tables in `busy` hold rows.
    fn busy(&self, busy: &[Table]) {
        let cols = TABLES
            .iter()
            .map(|_| ColumnDefinition::new("", SqlDataType::Int))
            .collect();
        let row = TABLES
            .iter()
            .map(|d| ColumnValue::Int(i32::from(busy.contains(&d.table))))
            .collect();
        self.answer(
            "CASE WHEN EXISTS (SELECT * FROM [",
            QueryResponse::new(cols, vec![MockRow::new(row)]),
        );
    }
}

/// INFORMATION_SCHEMA rows of the complete 3.x schema.
fn full_schema() -> Vec<(String, String, String, Option<i32>, bool)> {
    let mut v = Vec::new();
    for def in TABLES {
        for c in def.columns {
            let (dt, len) = match c.ty {
                SqlType::NVarChar(Some(n)) => ("nvarchar", Some(n as i32)),
                SqlType::NVarChar(None) => ("nvarchar", Some(-1)),
                SqlType::Int | SqlType::Identity => ("int", None),
                SqlType::Bit => ("bit", None),
                SqlType::DateTimeOffset => ("datetimeoffset", None),
                SqlType::UniqueIdentifier => ("uniqueidentifier", None),
            };
            v.push((
                def.table.name().to_owned(),
                c.name.to_owned(),
                dt.to_owned(),
                len,
                c.ty == SqlType::Identity,
            ));
        }
    }
    v
}

fn sink(t: MssqlTarget, create_schema: bool) -> MssqlSink {
    MssqlSink::new(t, {
        let mut o = MssqlOptions::default();
        o.create_schema = create_schema;
        o.connect_timeout = Duration::from_secs(5);
        o.command_timeout = Duration::from_secs(10);
        o
    })
}

#[test]
fn login_succeeds_and_a_target_with_data_is_refused_unless_merging() {
    let mock = start_mock();
    mock.schema(full_schema());
    mock.busy(&[Table::Project, Table::Release]);
    let mut s = sink(mock.target(), false);
    let e = s.prepare(Existing::Refuse).unwrap_err();
    match e.kind() {
        ErrorKind::TargetNotEmpty { target, tables } => {
            assert_eq!(tables, &["Project".to_string(), "Release".to_string()]);
            assert!(
                target.contains(&format!("127.0.0.1:{}", mock.port)),
                "{target}"
            );
            assert!(!target.contains("hunter2"));
        }
        other => panic!("{other:?}"),
    }
    s.rollback().unwrap();
    // Merging accepts the same target. Its keys are read once: a row whose key the target
    // holds goes as a statement of its own (which the mock acknowledges), so the commit goes
    // through; a new row goes to the bulk load, which the mock cannot take (issue 12: only rows
    // that match the target take a round trip of their own).
    mock.busy(&[Table::Project, Table::Release, Table::KeyAllocation]);
    // (The mock matches RPC text only where it is upper case: this answers every key read,
    // which is "SELECT [key columns] FROM ...", with the one key.)
    mock.answer(
        "SELECT [",
        QueryResponse::new(
            vec![ColumnDefinition::new(
                "CollectionName",
                SqlDataType::NVarChar,
            )],
            vec![MockRow::new(vec![ColumnValue::NVarChar("Projects".into())])],
        ),
    );
    let allocation = |name: &str| Row {
        table: Table::KeyAllocation,
        values: vec![Value::Text(name.into()), Value::Int(3)],
    };
    let mut m = sink(mock.target(), false);
    m.prepare(Existing::Merge).unwrap();
    m.insert(allocation("projects")).unwrap();
    m.commit().unwrap();
    let mut m = sink(mock.target(), false);
    m.prepare(Existing::Merge).unwrap();
    m.insert(allocation("Releases")).unwrap();
    let e = m.commit().unwrap_err().to_string();
    assert!(e.contains("bulk loading 1 rows into KeyAllocation"), "{e}");
}

#[test]
fn an_incomplete_schema_is_refused_listing_every_problem() {
    let mock = start_mock();
    let mut cols = full_schema();
    cols.retain(|c| c.0 != "Feed" && !(c.0 == "Project" && c.1 == "Slug"));
    for c in &mut cols {
        if c.0 == "Project" && c.1 == "Name" {
            c.3 = Some(100);
        }
    }
    mock.schema(cols);
    mock.busy(&[]);
    // --create-schema does not touch a database that has some of the tables.
    let mut s = sink(mock.target(), true);
    let e = s.prepare(Existing::Refuse).unwrap_err().to_string();
    for part in [
        "table Feed is missing",
        "column Project.Slug is missing",
        "column Project.Name is nvarchar(100), needs nvarchar(200)",
        "install Octopus 3.x",
        "--create-schema",
    ] {
        assert!(e.contains(part), "{part}: {e}");
    }
    assert!(!e.contains("hunter2"), "{e}");
    s.rollback().unwrap();
}

#[test]
fn an_empty_database_needs_create_schema() {
    let mock = start_mock();
    // No canned schema: the mock answers with no rows, as a database without our tables.
    let mut s = sink(mock.target(), false);
    let e = s.prepare(Existing::Refuse).unwrap_err().to_string();
    assert!(e.contains("none of the Octopus 3.x tables"), "{e}");
    assert!(e.contains("--create-schema"), "{e}");
}

#[test]
fn create_schema_then_a_failed_bulk_load_is_a_target_error_and_rolls_back() {
    let mock = start_mock();
    let mut s = sink(mock.target(), true);
    s.prepare(Existing::Refuse).unwrap();
    s.insert(Row {
        table: Table::KeyAllocation,
        values: vec![Value::Text("Projects".into()), Value::Int(3)],
    })
    .unwrap();
    // The mock cannot bulk load: the commit's flush fails cleanly instead of hanging.
    let started = Instant::now();
    let e = s.commit().unwrap_err();
    assert!(e.is_target(), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("bulk loading 1 rows into KeyAllocation"),
        "{msg}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    s.rollback().unwrap();
}

#[test]
fn a_row_with_a_large_nvarchar_max_value_bypasses_the_bulk_load() {
    // tiberius's bulk encoder refuses nvarchar(max) values over 64 KiB and servers have
    // answered large bulk values with error 4816: such rows go as parameterized INSERTs, which
    // the mock acknowledges (its bulk load would fail, as the test above shows).
    let mock = start_mock();
    let mut s = sink(mock.target(), true);
    s.prepare(Existing::Refuse).unwrap();
    let json = format!("{{\"Steps\":\"{}\"}}", "x".repeat(100_000));
    s.insert(Row {
        table: Table::Configuration,
        values: vec![Value::Text("SmtpConfiguration".into()), Value::Text(json)],
    })
    .unwrap();
    s.commit().unwrap();
}

#[test]
fn a_value_that_does_not_fit_fails_at_its_insert() {
    let mock = start_mock();
    let mut s = sink(mock.target(), true);
    s.prepare(Existing::Refuse).unwrap();
    let e = s
        .insert(Row {
            table: Table::KeyAllocation,
            values: vec![Value::Text("Projects".into()), Value::Int(1 << 40)],
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("KeyAllocation.Allocated"), "{e}");
    s.rollback().unwrap();
}

#[test]
fn a_closed_port_fails_fast_naming_host_and_port() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = MssqlTarget::parse(&format!("mssql://octo:hunter2@127.0.0.1:{port}/Octopus")).unwrap();
    let started = Instant::now();
    let e = sink(t, false).prepare(Existing::Refuse).unwrap_err();
    assert!(e.is_target());
    let msg = e.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("refused") && msg.contains("TCP/IP"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_server_without_tls_is_refused_when_encryption_is_required() {
    let mock = start_mock();
    let t = MssqlTarget::parse(&format!(
        "mssql://octo:hunter2@127.0.0.1:{}/Octopus",
        mock.port
    ))
    .unwrap();
    let msg = sink(t, false)
        .prepare(Existing::Refuse)
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&format!("127.0.0.1:{}", mock.port)), "{msg}");
    assert!(msg.contains("encrypt=false"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn a_login_that_never_finishes_is_bounded_by_the_connect_timeout() {
    let mock = start_mock();
    mock.answer(
        LOGIN_DELAY_KEY,
        QueryResponse::select_one().with_delay(Duration::from_secs(30)),
    );
    let mut s = MssqlSink::new(mock.target(), {
        let mut o = MssqlOptions::default();
        o.connect_timeout = Duration::from_secs(1);
        o
    });
    let started = Instant::now();
    let msg = s.prepare(Existing::Refuse).unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(5), "{msg}");
    assert!(msg.contains("login did not finish within 1 s"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{}", mock.port)), "{msg}");
}
