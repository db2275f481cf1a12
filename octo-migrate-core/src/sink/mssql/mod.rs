//! The SQL Server target, through tiberius (TDS 7.3+, TLS via rustls).
//!
//! The sink owns a current-thread tokio runtime and blocks on it inside every [`Sink`] method:
//! the public API stays synchronous and tokio never leaks out of this module.
//!
//! Loading: one transaction from [`Sink::prepare`] to [`Sink::commit`]. Rows are buffered per
//! table and sent with a bulk load (`INSERT BULK`) whenever a table's buffer passes
//! [`MssqlOptions::batch_bytes`], and at commit. When merging, the target's primary keys are
//! read once at `prepare` (`keys.rs`): a row whose key the target does not hold goes to the
//! bulk load as well, and `find` answers for it without a round trip; only rows that match a
//! target row are read, updated or inserted one statement at a time. Buffers are flushed only
//! where a statement could see the buffered rows (a row this run inserted is looked up again,
//! a read of a whole table, the commit).
//!
//! SQL text is only ever built from the table and column names of [`TABLES`]; values always
//! travel as `@Pn` parameters or bulk-load rows.
//!
//! This file holds the sink and its [`Sink`] implementation; the rest of the folder:
//! `connect.rs` (resolve, TCP, TLS, login; what a TDS error means), `sql.rs` (statement text),
//! `schema_check.rs` (checking, or creating, the 3.x tables on the server), `codec.rs` (values
//! to and from TDS column data). `target.rs` (the parsed `--target`) is not a submodule: it
//! needs no tiberius and the command line uses it without this feature, so `sink` declares it
//! as `sink::mssql_target`.

mod codec;
mod connect;
mod keys;
pub(super) mod read;
mod schema_check;

use std::time::Duration;

use tiberius::{ColumnData, Query, TokenRow};
use tokio::runtime::Runtime;

use self::codec::{decode, encode, estimated_bytes, split_nulls, Param};
use self::connect::{connect, connection_is_lost, describe_tds_error, Conn};
use self::keys::{has_natural_key, key_hash, same_value, KeySets, Seen};
use self::schema_check::SchemaState;
use super::mssql_target::MssqlTarget;
use super::sql::Dialect;
use super::{Existing, MergeSink, Row, Sink, Table, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::schema::{Column, SqlType, TABLES};

/// SQL Server's SQL text.
const SQL: Dialect = Dialect::SqlServer;

/// How a [`MssqlSink`] connects and loads.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// The UDP port of the SQL Server Browser, asked for a named instance's port (1434).
    pub browser_port: u16,
    /// A CA certificate file (PEM or DER) to validate the server's certificate with
    /// (`--target-ca-file`; a `TrustServerCertificateCA=` in the target wins).
    pub trust_cert_ca: Option<std::path::PathBuf>,
}

impl Default for MssqlOptions {
    fn default() -> Self {
        MssqlOptions {
            create_schema: false,
            connect_timeout: Duration::from_secs(15),
            command_timeout: Duration::from_secs(600),
            batch_bytes: 8 << 20,
            browser_port: 1434,
            trust_cert_ca: None,
        }
    }
}

/// All buffered tables together may hold this many times `batch_bytes` before the largest
/// buffer is flushed: bounds memory when many tables each stay just under their own threshold.
const TOTAL_BUFFER_FACTOR: usize = 4;

/// Rows with an `nvarchar(max)` value longer than this (UTF-8 bytes, so at most 8,000 bytes of
/// UTF-16) are inserted with a parameterized INSERT instead of the bulk load: tiberius 0.13's
/// bulk encoder refuses nvarchar(max) values over 65,535 bytes, and SQL Server has answered
/// large bulk-loaded values with error 4816 (tiberius issue #322, open). Large documents (big
/// deployment processes, variable sets) are few; the bulk path keeps the rest.
const BULK_MAX_TEXT: usize = 4000;

/// A `delete` scans at most this many buffered rows of its table for ones it removes; a larger
/// buffer is bulk loaded first (so an `--overwrite` rerun, which deletes per event, keeps its
/// bulk loads of a useful size and its scans short).
const DELETE_SCAN_ROWS: usize = 4096;

/// Rows of one table waiting for a bulk load, already encoded (so a bad value fails at the
/// `insert` of its row, not at some later flush).
#[derive(Default)]
struct Pending {
    rows: Vec<Vec<ColumnData<'static>>>,
    bytes: usize,
}

fn table_index(t: Table) -> usize {
    TABLES
        .iter()
        .position(|d| d.table == t)
        .expect("every table is in TABLES")
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
    /// When merging: the keys the target held and the keys this run inserted.
    keys: KeySets,
    /// Per table (index in [`TABLES`]): whether it held rows at `prepare`, or this run has
    /// written to it since. A table with neither has nothing to read: merging reads the names
    /// of every table it matches by name, and on a fresh 3.x database most are empty.
    touched: Vec<bool>,
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
            keys: KeySets::new(),
            touched: vec![true; TABLES.len()],
        }
    }

    /// A target error, its message redacted (`mssql_target::redact`, as every message that
    /// may meet the target's text is).
    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::target(self.describe(), self.target.redact(&e.to_string()))
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
            .map_err(|m| Error::target(target.to_string(), target.redact(&m)))?;
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
                let reason = self
                    .target
                    .redact(&format!("{what}: {}", describe_tds_error(&e)));
                Err(Error::target_caused_by(self.describe(), reason, e))
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

    /// The tables of ours that hold at least one row (one round trip for all of them).
    fn busy_tables(&mut self) -> Result<Vec<String>> {
        let rows = self.select(
            "checking that the tables are empty",
            &SQL.emptiness_sql(),
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
        let table = SQL.table(def);
        let cols: Vec<String> = def
            .value_columns()
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
        let cols: Vec<&Column> = def.value_columns().collect();
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
                let c = def
                    .column(name)
                    .ok_or_else(|| self.err(format!("{table}.{name}?")))?;
                encode(v, c).map_err(|e| self.err(format!("{table}.{name}: {e}")))
            })
            .collect()
    }

    /// Reads the primary keys of `TABLES[i]` into the target's key set (merging).
    fn read_target_keys(&mut self, i: usize) -> Result<()> {
        let def = &TABLES[i];
        if !has_natural_key(def) {
            return Ok(());
        }
        let tys: Vec<SqlType> = def
            .primary_key
            .iter()
            .map(|k| def.column(k).map_or(SqlType::NVarChar(None), |c| c.ty))
            .collect();
        let rows = self.select(
            &format!("reading the keys of {}", def.table),
            &SQL.keys_sql(def),
            vec![],
        )?;
        for r in rows {
            let values = tys
                .iter()
                .zip(r)
                .map(|(ty, v)| decode(*ty, v))
                .collect::<std::result::Result<Vec<Value>, String>>()
                .map_err(|e| self.err(format!("reading the keys of {}: {e}", def.table)))?;
            self.keys.add_target(i, key_hash(&values));
        }
        Ok(())
    }

    /// Where `key` of `TABLES[i]` stands, when merging; a buffered row with it is sent first
    /// so that the server sees it.
    fn seen_flushed(&mut self, i: usize, key: &[Value]) -> Result<Seen> {
        let seen = self.keys.seen(i, key_hash(key));
        if seen == Seen::Inserted {
            self.flush_table(i)?;
        }
        Ok(seen)
    }

    /// Every row of `table`, ordered by primary key, as this session sees it (connects if
    /// needed). For verification after a migration; identity columns are left out as in
    /// [`Row`].
    pub fn rows(&mut self, table: Table) -> Result<Vec<Row>> {
        self.ensure_connected()?;
        self.flush_all()?;
        let def = table.def();
        let rows = self.select(&format!("reading {table}"), &SQL.all_rows_sql(def), vec![])?;
        rows.into_iter()
            .map(|r| {
                let values = def
                    .value_columns()
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
        self.keys = KeySets::new();
        self.touched = TABLES
            .iter()
            .map(|d| busy.iter().any(|b| b == d.table.name()))
            .collect();
        if existing == Existing::Merge {
            for name in &busy {
                if let Some(i) = TABLES.iter().position(|d| d.table.name() == name) {
                    self.read_target_keys(i)?;
                }
            }
        }
        Ok(())
    }

    fn insert(&mut self, row: Row) -> Result<()> {
        let values = self.encode_row(&row)?;
        self.touched[table_index(row.table)] = true;
        let large = row
            .table
            .def()
            .value_columns()
            .zip(&row.values)
            .any(|(c, v)| {
                c.ty == SqlType::NVarChar(None)
                    && matches!(v, Value::Text(t) if t.len() > BULK_MAX_TEXT)
            });
        let i = table_index(row.table);
        // Merging: a row whose key the target holds is sent on its own, so that the server
        // decides what a collation-equal key means; any other goes to the bulk load.
        let mut alone = large;
        if self.mode == Existing::Merge && has_natural_key(row.table.def()) {
            let h = key_hash(row.key());
            alone |= self.keys.seen(i, h) == Seen::Target;
            self.keys.add_inserted(i, h);
        }
        if alone {
            let what = format!("inserting into {}", row.table);
            let (null, params) = split_nulls(values);
            let sql = SQL.insert_sql_nulls(row.table.def(), &null);
            self.execute(&what, &sql, params)?;
            return Ok(());
        }
        let bytes: usize = row.values.iter().map(estimated_bytes).sum();
        self.pending[i].rows.push(values);
        self.pending[i].bytes += bytes;
        self.pending_total += bytes;
        if self.pending[i].bytes >= self.opts.batch_bytes {
            self.flush_table(i)?;
        } else if self.pending_total >= self.opts.batch_bytes * TOTAL_BUFFER_FACTOR {
            // Only the largest buffer: flushing every table would send each small one as a
            // bulk load of its own (a few round trips each) and again at commit.
            let largest = (0..TABLES.len())
                .max_by_key(|&t| self.pending[t].bytes)
                .unwrap_or(i);
            self.flush_table(largest)?;
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

    fn as_merge(&mut self) -> Option<&mut dyn MergeSink> {
        Some(self)
    }
}

impl MergeSink for MssqlSink {
    fn existing_ids(&mut self, table: Table) -> Result<Vec<String>> {
        self.ensure_connected()?;
        self.flush_all()?;
        let def = table.def();
        let id = def
            .column("Id")
            .ok_or_else(|| self.err(format!("{table} has no Id column")))?;
        let sql = SQL.ids_sql(def);
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
        let params = self.encode_key(table, key)?;
        if self.mode == Existing::Merge && self.seen_flushed(table_index(table), key)? == Seen::New
        {
            // Neither the target nor this run has the key: nothing to ask the server.
            return Ok(None);
        }
        if self.mode != Existing::Merge {
            self.flush_all()?;
        }
        let def = table.def();
        let rows = self.select(&format!("reading {table}"), &SQL.find_sql(def), params)?;
        let Some(r) = rows.into_iter().next() else {
            return Ok(None);
        };
        let values = def
            .value_columns()
            .zip(r)
            .map(|(c, v)| {
                decode(c.ty, v).map_err(|e| self.err(format!("reading {table}.{}: {e}", c.name)))
            })
            .collect::<Result<Vec<Value>>>()?;
        Ok(Some(Row { table, values }))
    }

    fn update(&mut self, row: Row) -> Result<()> {
        let def = row.table.def();
        let key: Vec<Value> = row.key().into_iter().cloned().collect();
        if self.mode == Existing::Merge {
            self.seen_flushed(table_index(row.table), &key)?;
        } else {
            self.flush_all()?;
        }
        let (null, mut params) = split_nulls(self.encode_row(&row)?);
        params.extend(self.encode_key(row.table, &key)?);
        let what = format!("updating {}", row.table);
        self.execute(&what, &SQL.update_sql_nulls(def, &null), params)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, column_name: &str, value: &Value) -> Result<u64> {
        let def = table.def();
        let c = def
            .column(column_name)
            .ok_or_else(|| self.err(format!("{table} has no column {column_name}")))?;
        if *value == Value::Null {
            // `= NULL` matches nothing, and a NULL parameter is not sent (codec::split_nulls).
            return Ok(0);
        }
        let p = encode(value, c).map_err(|e| self.err(format!("{table}.{}: {e}", c.name)))?;
        // Buffered rows of this table the DELETE would have removed are dropped here; a large
        // buffer is sent first instead, so that this scan stays short.
        let i = table_index(table);
        let mut dropped = 0;
        if self.pending[i].rows.len() > DELETE_SCAN_ROWS {
            self.flush_table(i)?;
        } else if let Some(pos) = def.value_columns().position(|v| v.name == c.name) {
            let before = self.pending[i].rows.len();
            self.pending[i].rows.retain(|r| !same_value(&r[pos], &p));
            dropped = (before - self.pending[i].rows.len()) as u64;
        } else {
            self.flush_table(i)?;
        }
        let deleted = self.execute(
            &format!("deleting from {table}"),
            &SQL.delete_sql(def, c),
            vec![p],
        )?;
        Ok(deleted + dropped)
    }

    fn existing_names(&mut self, table: Table, column: &str) -> Result<Vec<(String, String)>> {
        self.ensure_connected()?;
        // Read without a transaction: what `prepare` learnt does not apply.
        self.touched = vec![true; TABLES.len()];
        self.names(table, column)
    }

    fn names(&mut self, table: Table, column_name: &str) -> Result<Vec<(String, String)>> {
        if self.in_tx && !self.touched[table_index(table)] {
            // Empty at prepare and not written since: nothing to ask the server.
            return Ok(Vec::new());
        }
        self.flush_all()?;
        let def = table.def();
        let (Some(id), Some(c)) = (def.column("Id"), def.column(column_name)) else {
            return Err(self.err(format!("{table} has no Id and {column_name} columns")));
        };
        let rows = self.select(&format!("reading {table}"), &SQL.names_sql(def, c), vec![])?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A merging sink that never connected: any statement it tried would fail with "the
    /// connection is closed", so what succeeds here took no round trip.
    fn merging_sink() -> MssqlSink {
        let t = MssqlTarget::parse("mssql://u:secret@h/db").unwrap();
        let mut s = MssqlSink::new(t, MssqlOptions::default());
        s.mode = Existing::Merge;
        s
    }

    fn group(id: &str) -> Row {
        Row {
            table: Table::ProjectGroup,
            values: vec![
                Value::Text(id.into()),
                Value::Text(format!("name of {id}")),
                Value::Text("{}".into()),
            ],
        }
    }

    fn erd(doc: &str, event: &str) -> Row {
        Row {
            table: Table::EventRelatedDocument,
            values: vec![Value::Text(doc.into()), Value::Text(event.into())],
        }
    }

    fn key(id: &str) -> Vec<Value> {
        vec![Value::Text(id.into())]
    }

    /// Issue 12: merging at bulk speed. Only a row that matches a target row needs the server;
    /// a new row is found missing and inserted without a round trip, into the bulk load.
    #[test]
    fn only_rows_that_match_the_target_take_a_round_trip() {
        let mut s = merging_sink();
        let i = table_index(Table::ProjectGroup);
        s.keys.add_target(i, key_hash(&key("ProjectGroups-1")));
        // New: answered locally, buffered for the bulk load.
        assert_eq!(
            s.find(Table::ProjectGroup, &key("ProjectGroups-2"))
                .unwrap(),
            None
        );
        s.insert(group("ProjectGroups-2")).unwrap();
        assert_eq!(s.pending[i].rows.len(), 1);
        // Held by the target, in any case: the server is asked (and here cannot be).
        for id in ["ProjectGroups-1", "projectgroups-1 "] {
            let e = s.find(Table::ProjectGroup, &key(id)).unwrap_err();
            assert!(e.to_string().contains("connection is closed"), "{e}");
        }
        // The buffered row is not flushed by those reads...
        assert_eq!(s.pending[i].rows.len(), 1);
        // ...but is, before its own key is looked up again (the flush needs the server).
        assert!(s
            .find(Table::ProjectGroup, &key("ProjectGroups-2"))
            .is_err());
        // A row whose key the target holds is sent on its own, never bulk loaded.
        let mut s = merging_sink();
        s.keys.add_target(i, key_hash(&key("ProjectGroups-1")));
        assert!(s.insert(group("PROJECTGROUPS-1")).is_err());
        assert!(s.pending[i].rows.is_empty());
        assert!(!s.to_string_for_test().contains("secret"));
    }

    /// Merging reads the names of every table it matches by name: a table that was empty at
    /// `prepare` and not written since is answered without a round trip.
    #[test]
    fn names_of_a_table_empty_at_prepare_need_no_round_trip() {
        let mut s = merging_sink();
        s.in_tx = true;
        s.touched = vec![false; TABLES.len()];
        s.touched[table_index(Table::User)] = true;
        assert_eq!(s.names(Table::Project, "Name").unwrap(), vec![]);
        assert!(s.names(Table::User, "Username").is_err(), "asks the server");
        // Written since: asked too.
        s.insert(group("ProjectGroups-9")).unwrap();
        assert!(s.names(Table::ProjectGroup, "Name").is_err());
        s.in_tx = false;
    }

    /// Past the bound on all buffers together, only the largest is sent (here the send fails:
    /// no server), the others stay buffered for bulk loads of a useful size.
    #[test]
    fn past_the_total_bound_only_the_largest_buffer_is_sent() {
        let t = MssqlTarget::parse("mssql://u:secret@h/db").unwrap();
        let mut s = MssqlSink::new(
            t,
            MssqlOptions {
                batch_bytes: 1000,
                ..MssqlOptions::default()
            },
        );
        let text = |n: usize| Value::Text("x".repeat(n));
        let tables = [
            Table::ProjectGroup,
            Table::Feed,
            Table::Lifecycle,
            Table::Team,
            Table::UserRole,
        ];
        let mut result = Ok(());
        for (k, table) in tables.iter().enumerate() {
            // About 900 estimated bytes each (UTF-16), the third a little more.
            let size = if k == 2 { 460 } else { 440 };
            let values = table
                .def()
                .value_columns()
                .map(|c| match c.ty {
                    SqlType::NVarChar(_) if c.name == "JSON" => text(size),
                    SqlType::NVarChar(_) => text(1),
                    SqlType::Bit => Value::Bool(true),
                    SqlType::UniqueIdentifier => Value::Guid(uuid::Uuid::nil()),
                    _ => Value::Int(1),
                })
                .collect();
            result = s.insert(Row {
                table: *table,
                values,
            });
            if result.is_err() {
                break;
            }
        }
        assert!(
            result.is_err(),
            "the fifth row passes the bound and a flush is tried"
        );
        let left: Vec<usize> = tables
            .iter()
            .map(|t| s.pending[table_index(*t)].rows.len())
            .collect();
        assert_eq!(left, vec![1, 1, 0, 1, 1], "only the largest was taken");
    }

    #[test]
    fn a_delete_also_removes_the_buffered_rows_it_matches() {
        let mut s = merging_sink();
        let i = table_index(Table::EventRelatedDocument);
        s.insert(erd("Projects-1", "Events-1")).unwrap();
        s.insert(erd("Projects-2", "Events-2")).unwrap();
        s.insert(erd("Projects-3", "events-1")).unwrap();
        assert_eq!(s.pending[i].rows.len(), 3);
        // The DELETE itself needs the server; the buffer is already right.
        assert!(s
            .delete(
                Table::EventRelatedDocument,
                "EventId",
                &Value::Text("Events-1".into())
            )
            .is_err());
        assert_eq!(s.pending[i].rows.len(), 1);
        assert_eq!(
            s.pending[i].rows[0][1],
            ColumnData::String(Some("Events-2".into()))
        );
    }

    impl MssqlSink {
        fn to_string_for_test(&self) -> String {
            format!("{} {:?}", self.describe(), self.target)
        }
    }
}
