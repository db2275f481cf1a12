//! The SQL Server target, through tiberius (TDS 7.3+, TLS via rustls).
//!
//! The sink owns a current-thread tokio runtime and blocks on it inside every [`Sink`] method:
//! the public API stays synchronous and tokio never leaks out of this module.
//!
//! Loading: one transaction from [`Sink::prepare`] to [`Sink::commit`]. Without merging, rows are
//! buffered per table and sent with a bulk load (`INSERT BULK`) whenever a table's buffer passes
//! [`MssqlOptions::batch_bytes`], and at commit. When merging, every row is a parameterized
//! `INSERT`, because the pipeline interleaves reads that would flush any buffer anyway.
//!
//! SQL text is only ever built from the table and column names of [`TABLES`]; values always
//! travel as `@Pn` parameters or bulk-load rows.

use std::borrow::Cow;
use std::time::Duration;

use tiberius::{
    error::Error as TdsError, AuthMethod, Client, ColumnData, Config, EncryptionLevel, FromSql,
    IntoSql, Query, TokenRow,
};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::time::Instant;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::mssql_target::{create_table_sql_server, Encrypt, MssqlTarget};
use super::{Existing, Row, Sink, Table, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::schema::{Column, SqlType, TableDef, TABLES};

/// A tiberius client over a tokio TCP stream.
type Conn = Client<Compat<TcpStream>>;

/// How a [`MssqlSink`] connects and loads.
#[derive(Debug, Clone)]
pub struct MssqlOptions {
    /// Create the tables when the database has none of them (`--create-schema`).
    pub create_schema: bool,
    /// Bound on name resolution, TCP connect, TLS and login together (default 15 s, as
    /// ADO.NET's `Connect Timeout`), so an unreachable server fails well inside the CLI's 30 s.
    pub connect_timeout: Duration,
    /// Bound on every server round trip afterwards, including the end of a bulk load, which is
    /// when the server does most of its work (default 600 s; tiberius's own 30 s would fail
    /// big batches on a slow server).
    pub command_timeout: Duration,
    /// Buffered bytes (estimated as sent: text as UTF-16) of one table that trigger a bulk load
    /// (default 8 MiB: large enough that round trips do not matter, small enough for memory).
    pub batch_bytes: usize,
}

impl Default for MssqlOptions {
    fn default() -> Self {
        MssqlOptions {
            create_schema: false,
            connect_timeout: Duration::from_secs(15),
            command_timeout: Duration::from_secs(600),
            batch_bytes: 8 << 20,
        }
    }
}

/// All buffered tables together may hold this many times `batch_bytes` before every buffer
/// is flushed: bounds memory when many tables each stay just under their own threshold.
const TOTAL_BUFFER_FACTOR: usize = 4;

/// Rows with an `nvarchar(max)` value longer than this (UTF-8 bytes, so at most 8,000 bytes of
/// UTF-16) are inserted with a parameterized INSERT instead of the bulk load: tiberius 0.13's
/// bulk encoder refuses nvarchar(max) values over 65,535 bytes, and SQL Server has answered
/// large bulk-loaded values with error 4816 (tiberius issue #322, open). Large documents (big
/// deployment processes, variable sets) are few; the bulk path keeps the rest.
const BULK_MAX_TEXT: usize = 4000;

/// Rows of one table waiting for a bulk load, already encoded (so a bad value fails at the
/// `insert` of its row, not at some later flush).
#[derive(Default)]
struct Pending {
    rows: Vec<Vec<ColumnData<'static>>>,
    bytes: usize,
}

/// Writes to a SQL Server database that has (or gets, with `create_schema`) the 3.x tables.
pub struct MssqlSink {
    target: MssqlTarget,
    opts: MssqlOptions,
    rt: Option<Runtime>,
    client: Option<Conn>,
    in_tx: bool,
    mode: Existing,
    /// Index = position in [`TABLES`].
    pending: Vec<Pending>,
    pending_total: usize,
}

impl MssqlSink {
    /// A sink for `target`; nothing is contacted before [`Sink::prepare`].
    pub fn new(target: MssqlTarget, opts: MssqlOptions) -> MssqlSink {
        MssqlSink {
            target,
            opts,
            rt: None,
            client: None,
            in_tx: false,
            mode: Existing::Refuse,
            pending: TABLES.iter().map(|_| Pending::default()).collect(),
            pending_total: 0,
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::target(self.describe(), e)
    }

    /// The runtime, made on first use (making it can fail, `new` cannot).
    fn runtime(&mut self) -> Result<&Runtime> {
        if self.rt.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .map_err(|e| self.err(format!("cannot start the network runtime: {e}")))?;
            self.rt = Some(rt);
        }
        Ok(self.rt.as_ref().expect("just made"))
    }

    /// Connects unless connected. Everything up to a finished login shares one deadline.
    fn ensure_connected(&mut self) -> Result<()> {
        if self.client.is_some() {
            return Ok(());
        }
        let (target, opts) = (self.target.clone(), self.opts.clone());
        let client = self
            .runtime()?
            .block_on(connect(&target, &opts))
            .map_err(|m| Error::target(target.to_string(), m))?;
        self.client = Some(client);
        Ok(())
    }

    /// Runs `f` against the open connection. A failure that leaves the connection out of step
    /// with the server (I/O, protocol) drops it: the server then rolls the transaction back.
    fn with_client<T>(
        &mut self,
        what: &str,
        f: impl AsyncFnOnce(&mut Conn) -> tiberius::Result<T>,
    ) -> Result<T> {
        let (Some(rt), Some(client)) = (self.rt.as_ref(), self.client.as_mut()) else {
            return Err(self.err(format!(
                "{what}: the connection is closed (an earlier error ended it)"
            )));
        };
        match rt.block_on(f(client)) {
            Ok(v) => Ok(v),
            Err(e) => {
                if connection_is_lost(&e) {
                    self.client = None;
                    self.in_tx = false;
                }
                Err(self.err(format!("{what}: {}", describe_tds_error(&e))))
            }
        }
    }

    /// Runs one statement without parameters.
    fn batch(&mut self, what: &str, sql: &str) -> Result<()> {
        self.with_client(what, async |c| {
            c.simple_query(sql).await?.into_results().await?;
            Ok(())
        })
    }

    /// Runs a parameterized statement; returns the rows it affected.
    fn execute(&mut self, what: &str, sql: &str, params: Vec<ColumnData<'static>>) -> Result<u64> {
        self.with_client(what, async |c| {
            let mut q = Query::new(sql);
            for p in params {
                q.bind(Param(p));
            }
            Ok(q.execute(c).await?.total())
        })
    }

    /// Runs a parameterized query; returns its first result set as column data.
    fn select(
        &mut self,
        what: &str,
        sql: &str,
        params: Vec<ColumnData<'static>>,
    ) -> Result<Vec<Vec<ColumnData<'static>>>> {
        self.with_client(what, async |c| {
            let mut q = Query::new(sql);
            for p in params {
                q.bind(Param(p));
            }
            let rows = q.query(c).await?.into_first_result().await?;
            Ok(rows.into_iter().map(|r| r.into_iter().collect()).collect())
        })
    }

    /// Reads the columns of the dbo schema and checks ours against them.
    fn check_schema(&mut self) -> Result<SchemaState> {
        let rows = self.select(
            "reading the schema",
            SCHEMA_QUERY,
            vec![ColumnData::String(Some("dbo".into()))],
        )?;
        let cols: Vec<DbColumn> = rows.into_iter().filter_map(DbColumn::from_row).collect();
        Ok(compare_schema(&cols))
    }

    /// The tables of ours that hold at least one row (one round trip for all of them).
    fn busy_tables(&mut self) -> Result<Vec<String>> {
        let rows = self.select(
            "checking that the tables are empty",
            &emptiness_sql(),
            vec![],
        )?;
        let row = rows.into_iter().next().unwrap_or_default();
        Ok(TABLES
            .iter()
            .zip(row)
            .filter(|(_, v)| matches!(v, ColumnData::I32(Some(1))))
            .map(|(d, _)| d.table.name().to_owned())
            .collect())
    }

    /// Sends the buffered rows of `TABLES[i]` as one bulk load.
    fn flush_table(&mut self, i: usize) -> Result<()> {
        let p = std::mem::take(&mut self.pending[i]);
        self.pending_total -= p.bytes;
        if p.rows.is_empty() {
            return Ok(());
        }
        let def = &TABLES[i];
        let table = bracketed_table(def);
        let cols: Vec<String> = value_columns(def)
            .map(|c| format!("[{}]", c.name))
            .collect();
        let what = format!("bulk loading {} rows into {}", p.rows.len(), def.table);
        let result = self.with_client(&what, async |c| {
            let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
            // No WITH options: TABLOCK and KEEP_NULLS are not understood by every
            // SQL Server-compatible TDS server, and neither is needed here (the 3.x tables
            // have no column defaults for KEEP_NULLS to protect; the lock is only a speed-up).
            let opts = tiberius::SqlBulkCopyOptions::empty();
            let mut req = c.bulk_insert_with_options(&table, &cols, opts, &[]).await?;
            for values in p.rows {
                let mut row = TokenRow::with_capacity(values.len());
                for v in values {
                    row.push(v);
                }
                req.send(row).await?;
            }
            req.finalize().await?;
            Ok(())
        });
        if result.is_err() {
            // A bulk load that failed half-way leaves the connection unusable.
            self.client = None;
            self.in_tx = false;
        }
        result
    }

    /// Sends every buffered row.
    fn flush_all(&mut self) -> Result<()> {
        for i in 0..TABLES.len() {
            self.flush_table(i)?;
        }
        Ok(())
    }

    /// Encodes `row` into column data, checking every value against its column.
    fn encode_row(&self, row: &Row) -> Result<Vec<ColumnData<'static>>> {
        let def = row.table.def();
        let cols: Vec<&Column> = value_columns(def).collect();
        if cols.len() != row.values.len() {
            return Err(self.err(format!(
                "a {} row has {} values for {} columns",
                def.table,
                row.values.len(),
                cols.len()
            )));
        }
        cols.iter()
            .zip(&row.values)
            .map(|(c, v)| {
                encode(v, c).map_err(|e| self.err(format!("{}.{}: {e}", def.table, c.name)))
            })
            .collect()
    }

    /// Encodes the key values of `table` (in primary key order).
    fn encode_key(&self, table: Table, key: &[Value]) -> Result<Vec<ColumnData<'static>>> {
        let def = table.def();
        if key.len() != def.primary_key.len() {
            return Err(self.err(format!(
                "{table}: {} key values for a key of {} columns",
                key.len(),
                def.primary_key.len()
            )));
        }
        def.primary_key
            .iter()
            .zip(key)
            .map(|(name, v)| {
                let c = column(def, name).ok_or_else(|| self.err(format!("{table}.{name}?")))?;
                encode(v, c).map_err(|e| self.err(format!("{table}.{name}: {e}")))
            })
            .collect()
    }

    /// Every row of `table`, ordered by primary key, as this session sees it (connects if
    /// needed). For verification after a migration; identity columns are left out as in
    /// [`Row`].
    pub fn rows(&mut self, table: Table) -> Result<Vec<Row>> {
        self.ensure_connected()?;
        self.flush_all()?;
        let def = table.def();
        let rows = self.select(&format!("reading {table}"), &all_rows_sql(def), vec![])?;
        rows.into_iter()
            .map(|r| {
                let values = value_columns(def)
                    .zip(r)
                    .map(|(c, v)| {
                        decode(c.ty, v)
                            .map_err(|e| self.err(format!("reading {table}.{}: {e}", c.name)))
                    })
                    .collect::<Result<Vec<Value>>>()?;
                Ok(Row { table, values })
            })
            .collect()
    }

    fn create_schema(&mut self) -> Result<()> {
        for def in TABLES {
            let what = format!("creating table {}", def.table);
            self.batch(&what, &create_table_sql_server(def))?;
        }
        Ok(())
    }
}

impl Sink for MssqlSink {
    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn prepare(&mut self, existing: Existing) -> Result<()> {
        self.mode = existing;
        self.ensure_connected()?;
        // XACT_ABORT: any failed statement dooms the whole transaction, never a part of it.
        self.batch(
            "starting the transaction",
            "SET XACT_ABORT ON; BEGIN TRANSACTION",
        )?;
        self.in_tx = true;
        match self.check_schema()? {
            SchemaState::Complete => {}
            SchemaState::Absent if self.opts.create_schema => self.create_schema()?,
            state => return Err(self.err(state.advice(self.opts.create_schema))),
        }
        let busy = self.busy_tables()?;
        if !busy.is_empty() && existing == Existing::Refuse {
            return Err(ErrorKind::TargetNotEmpty {
                target: self.describe(),
                tables: busy,
            }
            .into());
        }
        Ok(())
    }

    fn insert(&mut self, row: Row) -> Result<()> {
        let values = self.encode_row(&row)?;
        let large = value_columns(row.table.def())
            .zip(&row.values)
            .any(|(c, v)| {
                c.ty == SqlType::NVarChar(None)
                    && matches!(v, Value::Text(t) if t.len() > BULK_MAX_TEXT)
            });
        if self.mode == Existing::Merge || large {
            let what = format!("inserting into {}", row.table);
            self.execute(&what, &insert_sql(row.table.def()), values)?;
            return Ok(());
        }
        let i = table_index(row.table);
        let bytes: usize = row.values.iter().map(estimated_bytes).sum();
        self.pending[i].rows.push(values);
        self.pending[i].bytes += bytes;
        self.pending_total += bytes;
        if self.pending[i].bytes >= self.opts.batch_bytes {
            self.flush_table(i)?;
        } else if self.pending_total >= self.opts.batch_bytes * TOTAL_BUFFER_FACTOR {
            self.flush_all()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.flush_all()?;
        let r = self.batch("committing", "COMMIT TRANSACTION");
        self.in_tx = false;
        if r.is_err() {
            // Whatever state the server is in, dropping the session rolls back what is open.
            self.client = None;
        }
        r
    }

    fn rollback(&mut self) -> Result<()> {
        for p in &mut self.pending {
            *p = Pending::default();
        }
        self.pending_total = 0;
        if self.in_tx && self.client.is_some() {
            // XACT_ABORT may already have rolled back: only roll back what is still open.
            let _ = self.batch("rolling back", "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION");
        }
        self.in_tx = false;
        // A fresh session for whatever comes next; the server discards this one's state.
        self.client = None;
        Ok(())
    }

    fn existing_ids(&mut self, table: Table) -> Result<Vec<String>> {
        self.ensure_connected()?;
        self.flush_all()?;
        let def = table.def();
        let id = column(def, "Id").ok_or_else(|| self.err(format!("{table} has no Id column")))?;
        let sql = format!("SELECT [Id] FROM {}", bracketed_table(def));
        let rows = self.select(&format!("reading {table}"), &sql, vec![])?;
        rows.into_iter()
            .map(|r| {
                let v = decode(id.ty, r.into_iter().next().unwrap_or(ColumnData::I32(None)));
                v.map(|v| v.to_text().unwrap_or_default())
                    .map_err(|e| self.err(format!("reading {table}.Id: {e}")))
            })
            .collect()
    }

    fn find(&mut self, table: Table, key: &[Value]) -> Result<Option<Row>> {
        self.flush_all()?;
        let params = self.encode_key(table, key)?;
        let def = table.def();
        let rows = self.select(&format!("reading {table}"), &find_sql(def), params)?;
        let Some(r) = rows.into_iter().next() else {
            return Ok(None);
        };
        let values = value_columns(def)
            .zip(r)
            .map(|(c, v)| {
                decode(c.ty, v).map_err(|e| self.err(format!("reading {table}.{}: {e}", c.name)))
            })
            .collect::<Result<Vec<Value>>>()?;
        Ok(Some(Row { table, values }))
    }

    fn update(&mut self, row: Row) -> Result<()> {
        self.flush_all()?;
        let def = row.table.def();
        let key: Vec<Value> = row.key().into_iter().cloned().collect();
        let mut params = self.encode_row(&row)?;
        params.extend(self.encode_key(row.table, &key)?);
        let what = format!("updating {}", row.table);
        self.execute(&what, &update_sql(def), params)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, column_name: &str, value: &Value) -> Result<u64> {
        self.flush_all()?;
        let def = table.def();
        let c = column(def, column_name)
            .ok_or_else(|| self.err(format!("{table} has no column {column_name}")))?;
        let p = encode(value, c).map_err(|e| self.err(format!("{table}.{}: {e}", c.name)))?;
        self.execute(
            &format!("deleting from {table}"),
            &delete_sql(def, c),
            vec![p],
        )
    }

    fn names(&mut self, table: Table, column_name: &str) -> Result<Vec<(String, String)>> {
        self.flush_all()?;
        let def = table.def();
        let (Some(id), Some(c)) = (column(def, "Id"), column(def, column_name)) else {
            return Err(self.err(format!("{table} has no Id and {column_name} columns")));
        };
        let rows = self.select(&format!("reading {table}"), &names_sql(def, c), vec![])?;
        rows.into_iter()
            .map(|r| {
                let mut it = r.into_iter();
                let mut next = |ty| decode(ty, it.next().unwrap_or(ColumnData::I32(None)));
                match (next(id.ty), next(c.ty)) {
                    (Ok(i), Ok(n)) => match (i.to_text(), n.to_text()) {
                        (Some(i), Some(n)) => Ok((i, n)),
                        _ => Err(self.err(format!("reading {table}: NULL in Id or {}", c.name))),
                    },
                    (Err(e), _) | (_, Err(e)) => Err(self.err(format!("reading {table}: {e}"))),
                }
            })
            .collect()
    }
}

impl Drop for MssqlSink {
    fn drop(&mut self) {
        // An abandoned sink must not leave an open transaction behind.
        let _ = self.rollback();
        if let Some(rt) = self.rt.take() {
            // A name lookup may still run on a blocking thread; do not wait for it.
            rt.shutdown_background();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connecting

/// Resolves, connects and logs in, all within `opts.connect_timeout`. Errors are messages for
/// people (they never contain the password; the target's Display redacts it).
async fn connect(t: &MssqlTarget, opts: &MssqlOptions) -> std::result::Result<Conn, String> {
    let deadline = Instant::now() + opts.connect_timeout;
    let secs = opts.connect_timeout.as_secs();
    let addr = format!("{}:{}", t.host, t.port);
    let reach = format!(
        "check that SQL Server runs on {}, that TCP/IP is enabled in its network configuration \
         and listens on port {}, and that no firewall blocks the port",
        t.host, t.port
    );
    let addrs: Vec<_> =
        match tokio::time::timeout_at(deadline, tokio::net::lookup_host((t.host.as_str(), t.port)))
            .await
        {
            Err(_) => {
                return Err(format!(
                "cannot resolve host {}: no answer within {secs} s (check the server name and DNS)",
                t.host
            ))
            }
            Ok(Err(e)) => {
                return Err(format!(
                    "cannot resolve host {} ({e}): check the server name and DNS",
                    t.host
                ))
            }
            Ok(Ok(a)) => a.collect(),
        };
    let mut last = None;
    let mut tcp = None;
    for a in addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(a)).await {
            Err(_) => {
                return Err(format!(
                    "connecting to {addr} timed out after {secs} s: {reach}"
                ))
            }
            Ok(Err(e)) => last = Some(e),
            Ok(Ok(s)) => {
                tcp = Some(s);
                break;
            }
        }
    }
    let tcp = match (tcp, last) {
        (Some(s), _) => s,
        (None, Some(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(format!("connection to {addr} refused: {reach}"))
        }
        (None, Some(e)) => return Err(format!("cannot connect to {addr} ({e}): {reach}")),
        (None, None) => return Err(format!("host {} resolves to no address", t.host)),
    };
    // Every bulk-load packet is flushed on its own: do not let Nagle hold them back.
    tcp.set_nodelay(true)
        .map_err(|e| format!("cannot configure the connection to {addr}: {e}"))?;
    let config = tds_config(t, opts, deadline.saturating_duration_since(Instant::now()));
    match tokio::time::timeout_at(deadline, Client::connect(config, tcp.compat_write())).await {
        Err(_) => Err(format!(
            "{addr} accepted the connection but the login did not finish within {secs} s: \
             check that this port is SQL Server's"
        )),
        Ok(Err(TdsError::Io {
            kind: std::io::ErrorKind::TimedOut,
            ..
        })) => Err(format!(
            "{addr} accepted the connection but the login did not finish within {secs} s: \
             check that this port is SQL Server's"
        )),
        Ok(Err(e)) => Err(login_error(t, &e)),
        Ok(Ok(c)) => Ok(c),
    }
}

/// The tiberius configuration for `t`.
fn tds_config(t: &MssqlTarget, opts: &MssqlOptions, handshake: Duration) -> Config {
    let mut c = Config::new();
    c.host(&t.host);
    c.port(t.port);
    c.database(&t.database);
    c.application_name("octo-migrate");
    c.authentication(AuthMethod::sql_server(&t.user, t.expose_password()));
    c.encryption(match t.encrypt {
        Encrypt::Required => EncryptionLevel::Required,
        // NotSupported still follows a server that requires TLS (tiberius negotiates On).
        Encrypt::Optional => EncryptionLevel::NotSupported,
        Encrypt::Strict => EncryptionLevel::Strict,
    });
    if t.trust_server_certificate {
        c.trust_cert();
    }
    // The largest TDS packet: at the default 4 KB, per-packet flushes limit bulk loads.
    c.packet_size(32767);
    c.handshake_timeout(Some(handshake));
    c.command_timeout(Some(opts.command_timeout));
    c
}

/// A login-phase error, with what to do about it.
fn login_error(t: &MssqlTarget, e: &TdsError) -> String {
    let addr = format!("{}:{}", t.host, t.port);
    match e {
        TdsError::Server(te) => server_login_error(t, te.code(), te.message()),
        TdsError::Tls(m) => format!(
            "TLS with {addr} failed ({m}): install a certificate the client trusts on the \
             server, or add trust_server_certificate=true (TrustServerCertificate=true) if you \
             trust this server"
        ),
        TdsError::Io { message, .. } => format!(
            "{addr} closed or broke the connection during the login ({message}): check that \
             this host and port are SQL Server's, that encrypt/trust settings fit the server, \
             and that no proxy or firewall interferes"
        ),
        TdsError::Protocol(m) if m.contains("encryption") => format!(
            "{addr} does not offer the required encryption ({m}): enable TLS on the server, or \
             add encrypt=false (Encrypt=false) for a test server"
        ),
        _ => format!("login to {addr} failed: {}", describe_tds_error(e)),
    }
}

/// A login refused by the server (error number `code`), with what to do about it.
fn server_login_error(t: &MssqlTarget, code: u32, message: &str) -> String {
    let addr = format!("{}:{}", t.host, t.port);
    match code {
        18456 | 18470 | 18486 | 18487 | 18488 => format!(
            "login failed for user {} on {addr}: check the user name and password, and that \
             SQL Server authentication is enabled (server says: {message})",
            t.user
        ),
        4060 | 911 | 4063 => format!(
            "database {} on {addr} does not exist or user {} may not open it (server says: \
             {message}): create it first, or grant the login access",
            t.database, t.user
        ),
        _ => format!("login to {addr} failed: SQL Server error {code}: {message}"),
    }
}

/// A tiberius error as one line (server errors with their number, which is what people search).
fn describe_tds_error(e: &TdsError) -> String {
    match e {
        TdsError::Server(te) => format!("SQL Server error {}: {}", te.code(), te.message()),
        other => other.to_string(),
    }
}

/// Whether `e` leaves the connection unusable.
fn connection_is_lost(e: &TdsError) -> bool {
    matches!(
        e,
        TdsError::Io { .. } | TdsError::Protocol(_) | TdsError::Tls(_) | TdsError::Routing { .. }
    )
}

// ---------------------------------------------------------------------------------------------
// SQL text: only names from TABLES, values always as @Pn parameters

/// `[dbo].[Table]`.
fn bracketed_table(def: &TableDef) -> String {
    format!("[dbo].[{}]", def.table.name())
}

/// The columns a [`Row`] carries values for (identity columns are generated by the server).
fn value_columns(def: &TableDef) -> impl Iterator<Item = &'static Column> {
    def.columns.iter().filter(|c| c.ty != SqlType::Identity)
}

/// The definition's column called `name` (so SQL text never holds a caller's string).
fn column(def: &TableDef, name: &str) -> Option<&'static Column> {
    def.columns.iter().find(|c| c.name == name)
}

fn table_index(t: Table) -> usize {
    TABLES
        .iter()
        .position(|d| d.table == t)
        .expect("every table is in TABLES")
}

fn bracketed_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("[{n}]"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[a] = @Pn AND [b] = @Pn+1`, parameters numbered from `first`.
fn key_condition(def: &TableDef, first: usize) -> String {
    def.primary_key
        .iter()
        .enumerate()
        .map(|(i, c)| format!("[{c}] = @P{}", first + i))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn insert_sql(def: &TableDef) -> String {
    let cols: Vec<&str> = value_columns(def).map(|c| c.name).collect();
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("@P{i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        bracketed_table(def),
        bracketed_list(cols.iter().copied()),
        params.join(", ")
    )
}

fn find_sql(def: &TableDef) -> String {
    format!(
        "SELECT {} FROM {} WHERE {}",
        bracketed_list(value_columns(def).map(|c| c.name)),
        bracketed_table(def),
        key_condition(def, 1)
    )
}

/// Sets every value column (as SQLite's sink does), then the key as parameters after them.
fn update_sql(def: &TableDef) -> String {
    let set: Vec<String> = value_columns(def)
        .enumerate()
        .map(|(i, c)| format!("[{}] = @P{}", c.name, i + 1))
        .collect();
    format!(
        "UPDATE {} SET {} WHERE {}",
        bracketed_table(def),
        set.join(", "),
        key_condition(def, set.len() + 1)
    )
}

fn delete_sql(def: &TableDef, c: &Column) -> String {
    format!(
        "DELETE FROM {} WHERE [{}] = @P1",
        bracketed_table(def),
        c.name
    )
}

fn names_sql(def: &TableDef, c: &Column) -> String {
    format!("SELECT [Id], [{}] FROM {}", c.name, bracketed_table(def))
}

fn all_rows_sql(def: &TableDef) -> String {
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        bracketed_list(value_columns(def).map(|c| c.name)),
        bracketed_table(def),
        bracketed_list(def.primary_key.iter().copied())
    )
}

/// One row of 0/1 per table of [`TABLES`], in order: 1 if the table has a row.
fn emptiness_sql() -> String {
    let cols: Vec<String> = TABLES
        .iter()
        .map(|d| {
            format!(
                "CASE WHEN EXISTS (SELECT * FROM {}) THEN 1 ELSE 0 END",
                bracketed_table(d)
            )
        })
        .collect();
    format!("SELECT {}", cols.join(",\n  "))
}

/// Every column of the schema `@P1`, with what the check needs.
const SCHEMA_QUERY: &str = "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, \
     c.CHARACTER_MAXIMUM_LENGTH, \
     COLUMNPROPERTY(OBJECT_ID(QUOTENAME(c.TABLE_SCHEMA) + '.' + QUOTENAME(c.TABLE_NAME)), \
     c.COLUMN_NAME, 'IsIdentity') \
     FROM INFORMATION_SCHEMA.COLUMNS c WHERE c.TABLE_SCHEMA = @P1";

// ---------------------------------------------------------------------------------------------
// The schema check, as a pure function over what INFORMATION_SCHEMA says

/// One column as the database has it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DbColumn {
    pub table: String,
    pub column: String,
    /// `DATA_TYPE`, e.g. `nvarchar`.
    pub data_type: String,
    /// `CHARACTER_MAXIMUM_LENGTH`: -1 for `max`, `None` for non-character types.
    pub max_length: Option<i32>,
    /// `COLUMNPROPERTY(..., 'IsIdentity')`; `None` when the server does not say (some
    /// SQL Server-compatible servers answer NULL), which the check does not hold against it.
    pub identity: Option<bool>,
}

impl DbColumn {
    fn from_row(r: Vec<ColumnData<'static>>) -> Option<DbColumn> {
        let mut it = r.into_iter();
        let text = |c: Option<ColumnData<'static>>| match c {
            Some(ColumnData::String(Some(s))) => Some(s.into_owned()),
            _ => None,
        };
        let table = text(it.next())?;
        let column = text(it.next())?;
        let data_type = text(it.next())?;
        let max_length = match it.next() {
            Some(ColumnData::I32(v)) => v,
            Some(ColumnData::I16(v)) => v.map(i32::from),
            _ => None,
        };
        let identity = match it.next() {
            Some(ColumnData::I32(Some(v))) => Some(v == 1),
            _ => None,
        };
        Some(DbColumn {
            table,
            column,
            data_type,
            max_length,
            identity,
        })
    }
}

/// How the database's schema compares with [`TABLES`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SchemaState {
    /// Every table and column is there with a compatible type.
    Complete,
    /// None of the tables exists (`--create-schema` may create them).
    Absent,
    /// Some exist: every missing table, missing column and type mismatch, one per entry.
    Mismatch(Vec<String>),
}

impl SchemaState {
    /// The error message for a state that does not let the migration start.
    fn advice(&self, create_schema: bool) -> String {
        match self {
            SchemaState::Complete => "the schema is complete".into(),
            SchemaState::Absent => "the database has none of the Octopus 3.x tables: install \
                 Octopus 3.x against this database first, or use --create-schema to create them"
                .into(),
            SchemaState::Mismatch(problems) => format!(
                "the database does not have the Octopus 3.x schema this tool writes ({}): install \
                 Octopus 3.x against this database, or use --create-schema on an empty \
                 database{}",
                problems.join("; "),
                if create_schema {
                    " (--create-schema only creates tables in a database that has none of them)"
                } else {
                    ""
                }
            ),
        }
    }
}

/// Compares what the database has with what [`TABLES`] needs.
pub(crate) fn compare_schema(db: &[DbColumn]) -> SchemaState {
    let mut problems = Vec::new();
    let mut any_table = false;
    for def in TABLES {
        let name = def.table.name();
        let cols: Vec<&DbColumn> = db
            .iter()
            .filter(|c| c.table.eq_ignore_ascii_case(name))
            .collect();
        if cols.is_empty() {
            problems.push(format!("table {name} is missing"));
            continue;
        }
        any_table = true;
        for c in def.columns {
            match cols.iter().find(|d| d.column.eq_ignore_ascii_case(c.name)) {
                None => problems.push(format!("column {name}.{} is missing", c.name)),
                Some(d) => {
                    if let Some(why) = type_mismatch(c.ty, d) {
                        problems.push(format!("column {name}.{} {why}", c.name));
                    }
                }
            }
        }
    }
    match (any_table, problems.is_empty()) {
        (false, _) => SchemaState::Absent,
        (true, true) => SchemaState::Complete,
        (true, false) => SchemaState::Mismatch(problems),
    }
}

/// Why the database column `d` cannot hold values of `ours` (None: it can).
fn type_mismatch(ours: SqlType, d: &DbColumn) -> Option<String> {
    let dt = d.data_type.to_ascii_lowercase();
    let want = super::mssql_target::sql_server_type(ours);
    let have = match d.max_length {
        Some(-1) => format!("{dt}(max)"),
        Some(n) if dt == "nvarchar" => format!("{dt}({n})"),
        _ => dt.clone(),
    };
    let ok = match ours {
        SqlType::NVarChar(Some(n)) => {
            dt == "nvarchar" && matches!(d.max_length, Some(-1)) || {
                dt == "nvarchar" && d.max_length.is_some_and(|m| m >= 0 && m as u32 >= n)
            }
        }
        SqlType::NVarChar(None) => dt == "nvarchar" && d.max_length == Some(-1),
        SqlType::Int => dt == "int",
        SqlType::Bit => dt == "bit",
        SqlType::DateTimeOffset => dt == "datetimeoffset",
        SqlType::UniqueIdentifier => dt == "uniqueidentifier",
        SqlType::Identity => dt == "int" && d.identity != Some(false),
    };
    (!ok).then(|| format!("is {have}, needs {want}"))
}

// ---------------------------------------------------------------------------------------------
// Values

/// A value bound as a query parameter exactly as [`encode`] made it.
struct Param(ColumnData<'static>);

impl<'a> IntoSql<'a> for Param {
    fn into_sql(self) -> ColumnData<'a> {
        self.0
    }
}

/// `v` as the TDS value of column `c`: the one place values meet SQL Server types. Refuses
/// what the column cannot hold instead of letting the server or a cast change it.
pub(crate) fn encode(v: &Value, c: &Column) -> std::result::Result<ColumnData<'static>, String> {
    use ColumnData as D;
    Ok(match (c.ty, v) {
        (SqlType::Identity, _) => return Err("is generated by the server, not sent".into()),
        (_, Value::Null) if !c.nullable => return Err("is NOT NULL but the value is NULL".into()),
        (SqlType::NVarChar(_), Value::Null) => D::String(None),
        (SqlType::Int, Value::Null) => D::I32(None),
        (SqlType::Bit, Value::Null) => D::Bit(None),
        (SqlType::DateTimeOffset, Value::Null) => D::DateTimeOffset(None),
        (SqlType::UniqueIdentifier, Value::Null) => D::Guid(None),
        (SqlType::NVarChar(max), Value::Text(s)) => {
            if let Some(n) = max {
                // nvarchar(n) counts UTF-16 code units.
                let len = s.encode_utf16().count();
                if len > n as usize {
                    return Err(format!(
                        "{len} characters do not fit nvarchar({n}) (text starts {:?})",
                        s.chars().take(40).collect::<String>()
                    ));
                }
            }
            D::String(Some(Cow::Owned(s.clone())))
        }
        (SqlType::Int, Value::Int(i)) => D::I32(Some(
            i32::try_from(*i).map_err(|_| format!("{i} is outside the range of int"))?,
        )),
        (SqlType::Bit, Value::Bool(b)) => D::Bit(Some(*b)),
        (SqlType::DateTimeOffset, Value::DateTime(d)) => IntoSql::into_sql(*d),
        (SqlType::UniqueIdentifier, Value::Guid(g)) => D::Guid(Some(*g)),
        (ty, v) => return Err(format!("{v:?} cannot be stored in a {ty:?} column")),
    })
}

/// A value read back, as the [`Value`] its column's type says it is.
pub(crate) fn decode(ty: SqlType, d: ColumnData<'static>) -> std::result::Result<Value, String> {
    use ColumnData as D;
    let null = matches!(
        d,
        D::String(None)
            | D::I32(None)
            | D::I64(None)
            | D::I16(None)
            | D::U8(None)
            | D::Bit(None)
            | D::Guid(None)
            | D::DateTimeOffset(None)
    );
    if null {
        return Ok(Value::Null);
    }
    Ok(match (ty, d) {
        (SqlType::NVarChar(_), D::String(Some(s))) => Value::Text(s.into_owned()),
        (SqlType::Int | SqlType::Identity, D::I32(Some(i))) => Value::Int(i64::from(i)),
        (SqlType::Int | SqlType::Identity, D::I64(Some(i))) => Value::Int(i),
        (SqlType::Bit, D::Bit(Some(b))) => Value::Bool(b),
        (SqlType::UniqueIdentifier, D::Guid(Some(g))) => Value::Guid(g),
        (SqlType::DateTimeOffset, d @ D::DateTimeOffset(Some(_))) => Value::DateTime(
            chrono::DateTime::<chrono::FixedOffset>::from_sql(&d)
                .map_err(|e| e.to_string())?
                .ok_or("NULL datetimeoffset")?,
        ),
        (ty, d) => return Err(format!("a {d:?} where {ty:?} was expected")),
    })
}

/// About what a value costs on the wire (text travels as UTF-16), for batch sizing.
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, FixedOffset};

    fn col(ty: SqlType, nullable: bool) -> Column {
        Column {
            name: "C",
            ty,
            nullable,
        }
    }

    #[test]
    fn text_goes_into_nvarchar_n_and_max_and_too_long_is_refused() {
        let short = col(SqlType::NVarChar(Some(5)), false);
        let max = col(SqlType::NVarChar(None), false);
        assert_eq!(
            encode(&Value::Text("héllo".into()), &short).unwrap(),
            ColumnData::String(Some("héllo".into()))
        );
        let long = "x".repeat(100_000);
        assert_eq!(
            encode(&Value::Text(long.clone()), &max).unwrap(),
            ColumnData::String(Some(long.into()))
        );
        let e = encode(&Value::Text("toolong".into()), &short).unwrap_err();
        assert!(
            e.contains("7 characters") && e.contains("nvarchar(5)"),
            "{e}"
        );
        // Length is in UTF-16 units: an emoji takes two.
        assert!(encode(&Value::Text("abc😀".into()), &short).is_ok());
        assert!(encode(&Value::Text("abcd😀".into()), &short).is_err());
    }

    #[test]
    fn ints_are_range_checked_not_wrapped() {
        let c = col(SqlType::Int, false);
        assert_eq!(
            encode(&Value::Int(-7), &c).unwrap(),
            ColumnData::I32(Some(-7))
        );
        assert_eq!(
            encode(&Value::Int(i32::MAX.into()), &c).unwrap(),
            ColumnData::I32(Some(i32::MAX))
        );
        let e = encode(&Value::Int(1 << 40), &c).unwrap_err();
        assert!(e.contains("outside the range of int"), "{e}");
        // The sink-level message names table and column.
        let sink = MssqlSink::new(
            MssqlTarget::parse("mssql://u:secret@h/db").unwrap(),
            MssqlOptions::default(),
        );
        let row = Row {
            table: Table::KeyAllocation,
            values: vec![Value::Text("Projects".into()), Value::Int(1 << 40)],
        };
        let e = sink.encode_row(&row).unwrap_err().to_string();
        assert!(
            e.contains("KeyAllocation.Allocated") && e.contains("outside the range"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn bits_guids_and_dates_keep_their_meaning() {
        assert_eq!(
            encode(&Value::Bool(true), &col(SqlType::Bit, false)).unwrap(),
            ColumnData::Bit(Some(true))
        );
        let g = uuid::Uuid::parse_str("6f9619ff-8b86-d011-b42d-00c04fc964ff").unwrap();
        let enc = encode(&Value::Guid(g), &col(SqlType::UniqueIdentifier, false)).unwrap();
        assert_eq!(enc, ColumnData::Guid(Some(g)));
        assert_eq!(
            decode(SqlType::UniqueIdentifier, enc).unwrap(),
            Value::Guid(g)
        );
        let d: DateTime<FixedOffset> =
            DateTime::parse_from_rfc3339("2015-06-30T10:11:12.1234567+10:00").unwrap();
        let enc = encode(&Value::DateTime(d), &col(SqlType::DateTimeOffset, false)).unwrap();
        let ColumnData::DateTimeOffset(Some(dto)) = enc.clone() else {
            panic!("{enc:?}")
        };
        assert_eq!(
            dto.offset(),
            600,
            "the original offset travels with the value"
        );
        let back = decode(SqlType::DateTimeOffset, enc).unwrap();
        let Value::DateTime(b) = back else {
            panic!("{back:?}")
        };
        assert_eq!(b, d);
        assert_eq!(b.offset(), d.offset());
        assert_eq!(
            super::super::format_datetime(&b),
            "2015-06-30T10:11:12.1234567+10:00"
        );
    }

    #[test]
    fn null_into_every_type_and_not_null_refused() {
        for (ty, want) in [
            (SqlType::NVarChar(Some(10)), ColumnData::String(None)),
            (SqlType::NVarChar(None), ColumnData::String(None)),
            (SqlType::Int, ColumnData::I32(None)),
            (SqlType::Bit, ColumnData::Bit(None)),
            (SqlType::DateTimeOffset, ColumnData::DateTimeOffset(None)),
            (SqlType::UniqueIdentifier, ColumnData::Guid(None)),
        ] {
            assert_eq!(encode(&Value::Null, &col(ty, true)).unwrap(), want);
            assert_eq!(decode(ty, want).unwrap(), Value::Null);
            assert!(encode(&Value::Null, &col(ty, false)).is_err(), "{ty:?}");
        }
        assert!(encode(&Value::Int(1), &col(SqlType::Identity, false)).is_err());
        assert!(encode(&Value::Text("1".into()), &col(SqlType::Int, false)).is_err());
    }

    /// The database columns of `TABLES`, exactly as `--create-schema` makes them.
    fn full_schema() -> Vec<DbColumn> {
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
                v.push(DbColumn {
                    table: def.table.name().into(),
                    column: c.name.into(),
                    data_type: dt.into(),
                    max_length: len,
                    identity: Some(c.ty == SqlType::Identity),
                });
            }
        }
        v
    }

    fn problems(db: &[DbColumn]) -> Vec<String> {
        match compare_schema(db) {
            SchemaState::Mismatch(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn schema_check_all_present_absent_and_every_problem_listed() {
        assert_eq!(compare_schema(&full_schema()), SchemaState::Complete);
        // A server that does not say whether a column is an identity is taken at its word
        // for the type; only a definite "not identity" is a problem.
        let mut unsure = full_schema();
        for c in &mut unsure {
            c.identity = None;
        }
        assert_eq!(compare_schema(&unsure), SchemaState::Complete);
        assert_eq!(compare_schema(&[]), SchemaState::Absent);
        // Unrelated tables do not count as ours.
        let other = DbColumn {
            table: "Orders".into(),
            column: "Id".into(),
            data_type: "int".into(),
            max_length: None,
            identity: Some(false),
        };
        assert_eq!(compare_schema(&[other]), SchemaState::Absent);

        // A missing table.
        let db: Vec<DbColumn> = full_schema()
            .into_iter()
            .filter(|c| c.table != "Feed")
            .collect();
        assert_eq!(problems(&db), vec!["table Feed is missing".to_string()]);

        // A missing column, a too-short nvarchar, a wrong type; a longer or max nvarchar is fine.
        let mut db = full_schema();
        db.retain(|c| !(c.table == "Project" && c.column == "Slug"));
        for c in &mut db {
            match (c.table.as_str(), c.column.as_str()) {
                ("Project", "Name") => c.max_length = Some(100),
                ("Project", "IsDisabled") => c.data_type = "int".into(),
                ("Feed", "Name") => c.max_length = Some(-1),
                ("Feed", "FeedUri") => c.max_length = Some(4000),
                ("EventRelatedDocument", "Id") => c.identity = Some(false),
                _ => {}
            }
        }
        let p = problems(&db);
        assert_eq!(
            p,
            vec![
                "column EventRelatedDocument.Id is int, needs int identity(1,1)".to_string(),
                "column Project.Name is nvarchar(100), needs nvarchar(200)".to_string(),
                "column Project.Slug is missing".to_string(),
                "column Project.IsDisabled is int, needs bit".to_string(),
            ]
        );
        let advice = SchemaState::Mismatch(p).advice(false);
        assert!(advice.contains("install Octopus 3.x") && advice.contains("--create-schema"));

        // nvarchar(max) columns must be max.
        let mut db = full_schema();
        for c in &mut db {
            if c.table == "Project" && c.column == "JSON" {
                c.max_length = Some(4000);
            }
        }
        assert_eq!(
            problems(&db),
            vec!["column Project.JSON is nvarchar(4000), needs nvarchar(max)".to_string()]
        );
    }

    /// Every `[name]` in `sql` is a table or column name of TABLES (or dbo), and every value
    /// position is a `@Pn` placeholder: no quote character ever appears.
    fn assert_only_names_and_placeholders(sql: &str) {
        assert!(!sql.contains('\''), "{sql}");
        let names: Vec<&str> = TABLES
            .iter()
            .flat_map(|d| std::iter::once(d.table.name()).chain(d.columns.iter().map(|c| c.name)))
            .chain(["dbo"])
            .collect();
        for part in sql.split('[').skip(1) {
            let name = part.split(']').next().unwrap();
            assert!(names.contains(&name), "{name} in {sql}");
        }
    }

    #[test]
    fn sql_text_holds_only_names_from_tables_and_placeholders() {
        for def in TABLES {
            let n = value_columns(def).count();
            let ins = insert_sql(def);
            assert_only_names_and_placeholders(&ins);
            assert!(ins.contains(&format!("@P{n})")), "{ins}");
            assert!(!ins.contains(&format!("@P{}", n + 1)));
            let upd = update_sql(def);
            assert_only_names_and_placeholders(&upd);
            let first_key = def.primary_key[0];
            assert!(
                upd.contains(&format!("WHERE [{first_key}] = @P{}", n + 1)),
                "{upd}"
            );
            assert_only_names_and_placeholders(&find_sql(def));
            assert_only_names_and_placeholders(&all_rows_sql(def));
            for c in def.columns {
                assert_only_names_and_placeholders(&delete_sql(def, c));
                assert_only_names_and_placeholders(&names_sql(def, c));
            }
        }
        assert_only_names_and_placeholders(&emptiness_sql());
        let erd = insert_sql(Table::EventRelatedDocument.def());
        assert_eq!(
            erd,
            "INSERT INTO [dbo].[EventRelatedDocument] ([RelatedDocumentId], [EventId]) VALUES (@P1, @P2)"
        );
        // The schema query takes the schema as a parameter.
        assert!(SCHEMA_QUERY.contains("TABLE_SCHEMA = @P1"));
    }

    #[test]
    fn config_follows_the_target_and_options() {
        let t = MssqlTarget::parse("mssql://u:pw@db01:1444/Octo?encrypt=false").unwrap();
        let c = tds_config(&t, &MssqlOptions::default(), Duration::from_secs(3));
        assert_eq!(c.get_addr(), "db01:1444");
        assert_eq!(c.get_packet_size(), Some(32767));
        assert_eq!(c.get_command_timeout(), Some(Duration::from_secs(600)));
        assert_eq!(c.get_handshake_timeout(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn login_errors_say_what_to_do_without_the_password() {
        let t = MssqlTarget::parse("mssql://octo:hunter2@db01:1433/Octopus").unwrap();
        let tls = login_error(&t, &TdsError::Tls("bad certificate".into()));
        assert!(tls.contains("db01:1433") && tls.contains("trust_server_certificate"));
        let enc = login_error(
            &t,
            &TdsError::Protocol("Server does not allow the requested encryption level.".into()),
        );
        assert!(enc.contains("encrypt=false"), "{enc}");
        let login = server_login_error(&t, 18456, "Login failed for user 'octo'.");
        assert!(
            login.contains("login failed for user octo on db01:1433"),
            "{login}"
        );
        assert!(login.contains("user name and password"), "{login}");
        let db = server_login_error(&t, 4060, "Cannot open database \"Octopus\"");
        assert!(
            db.contains("database Octopus on db01:1433 does not exist"),
            "{db}"
        );
        for m in [tls, enc, login, db] {
            assert!(!m.contains("hunter2"));
        }
    }

    #[test]
    fn byte_estimate_counts_text_as_utf16() {
        assert_eq!(estimated_bytes(&Value::Text("abcd".into())), 10);
        assert!(estimated_bytes(&Value::Null) > 0);
    }
}
