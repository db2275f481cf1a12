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
//!
//! This file holds the sink and its [`Sink`] implementation; the rest of the folder:
//! `connect.rs` (resolve, TCP, TLS, login; what a TDS error means), `sql.rs` (statement text),
//! `schema_check.rs` (checking, or creating, the 3.x tables on the server), `codec.rs` (values
//! to and from TDS column data). `target.rs` (the parsed `--target`) is not a submodule: it
//! needs no tiberius and the command line uses it without this feature, so `sink` declares it
//! as `sink::mssql_target`.

mod codec;
mod connect;
pub(super) mod read;
mod schema_check;

use std::time::Duration;

use tiberius::{ColumnData, Query, TokenRow};
use tokio::runtime::Runtime;

use self::codec::{decode, encode, estimated_bytes, Param};
use self::connect::{connect, connection_is_lost, describe_tds_error, Conn};
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
                let reason = format!("{what}: {}", describe_tds_error(&e));
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
        Ok(())
    }

    fn insert(&mut self, row: Row) -> Result<()> {
        let values = self.encode_row(&row)?;
        let large = row
            .table
            .def()
            .value_columns()
            .zip(&row.values)
            .any(|(c, v)| {
                c.ty == SqlType::NVarChar(None)
                    && matches!(v, Value::Text(t) if t.len() > BULK_MAX_TEXT)
            });
        if self.mode == Existing::Merge || large {
            let what = format!("inserting into {}", row.table);
            self.execute(&what, &SQL.insert_sql(row.table.def()), values)?;
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
        self.flush_all()?;
        let params = self.encode_key(table, key)?;
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
        self.flush_all()?;
        let def = row.table.def();
        let key: Vec<Value> = row.key().into_iter().cloned().collect();
        let mut params = self.encode_row(&row)?;
        params.extend(self.encode_key(row.table, &key)?);
        let what = format!("updating {}", row.table);
        self.execute(&what, &SQL.update_sql(def), params)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, column_name: &str, value: &Value) -> Result<u64> {
        self.flush_all()?;
        let def = table.def();
        let c = def
            .column(column_name)
            .ok_or_else(|| self.err(format!("{table} has no column {column_name}")))?;
        let p = encode(value, c).map_err(|e| self.err(format!("{table}.{}: {e}", c.name)))?;
        self.execute(
            &format!("deleting from {table}"),
            &SQL.delete_sql(def, c),
            vec![p],
        )
    }

    fn existing_names(&mut self, table: Table, column: &str) -> Result<Vec<(String, String)>> {
        self.ensure_connected()?;
        self.names(table, column)
    }

    fn names(&mut self, table: Table, column_name: &str) -> Result<Vec<(String, String)>> {
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
