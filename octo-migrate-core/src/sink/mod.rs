//! Targets: where 3.x rows go. A push-model trait with explicit commit and rollback, so that a
//! migration is one transaction whatever the target; SQLite and an in-memory sink are provided.

pub mod schema;

mod memory;
#[cfg(feature = "mssql")]
mod mssql;
// Parsing a SQL Server target needs no feature (the CLI names such targets in every build), so
// it lives in the sink's folder but is declared here.
#[path = "mssql/target.rs"]
pub mod mssql_target;
#[cfg(feature = "sqlite")]
mod sqlite;

use chrono::{DateTime, FixedOffset, SecondsFormat};

pub use memory::MemorySink;
#[cfg(feature = "mssql")]
pub use mssql::{MssqlOptions, MssqlSink};
pub use schema::{Column, SqlType, Table, TableDef, TABLES};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteSink;

use crate::error::Result;

/// One column value, typed as the 3.x schema types it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// `nvarchar`.
    Text(String),
    /// `int`.
    Int(i64),
    /// `bit`.
    Bool(bool),
    /// `datetimeoffset`, with its original offset.
    DateTime(DateTime<FixedOffset>),
    /// `uniqueidentifier`.
    Guid(uuid::Uuid),
}

impl Value {
    /// The value as SQLite/text shows it (`None` for NULL): dates in ISO-8601 with their offset,
    /// GUIDs lowercase with hyphens, bits as 0/1.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Text(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
            Value::DateTime(d) => Some(format_datetime(d)),
            Value::Guid(g) => Some(g.hyphenated().to_string()),
        }
    }
}

/// How every `datetimeoffset` is written as text: ISO-8601 with the original offset and only
/// the fraction digits that are not zero (`2015-06-30T10:11:12.1234567+10:00`, as .NET wrote it).
pub fn format_datetime(d: &DateTime<FixedOffset>) -> String {
    let base = d.to_rfc3339_opts(SecondsFormat::Secs, false);
    let nanos = d.timestamp_subsec_nanos() % 1_000_000_000;
    if nanos == 0 {
        return base;
    }
    let frac = format!("{nanos:09}");
    let frac = frac.trim_end_matches('0');
    // base is `YYYY-MM-DDTHH:MM:SS+hh:mm`: the fraction goes before the offset.
    let (secs, offset) = base.split_at(19);
    format!("{secs}.{frac}{offset}")
}

/// One row of a table: `values` in the order of the table's columns, identity columns left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The table.
    pub table: Table,
    /// The values.
    pub values: Vec<Value>,
}

impl Row {
    /// The value of `column`, if the table has it (identity columns have none).
    pub fn get(&self, column: &str) -> Option<&Value> {
        let cols = self.table.def().columns;
        let mut i = 0;
        for c in cols {
            if c.ty == SqlType::Identity {
                continue;
            }
            if c.name == column {
                return self.values.get(i);
            }
            i += 1;
        }
        None
    }

    /// The primary key values, in primary key order.
    pub fn key(&self) -> Vec<&Value> {
        self.table
            .def()
            .primary_key
            .iter()
            .filter_map(|c| self.get(c))
            .collect()
    }
}

/// Whether [`Sink::prepare`] accepts a target that already holds Octopus data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// Refuse it (the default): nothing is written.
    #[default]
    Refuse,
    /// Accept it: the pipeline merges (`--overwrite` / `--nooverwrite`) through
    /// [`Sink::find`], [`Sink::update`], [`Sink::delete`] and [`Sink::names`].
    Merge,
}

/// A migration target. The pipeline calls [`Sink::prepare`] once before any write, then
/// [`Sink::insert`] per row (and, when merging, the reading and updating methods), then exactly
/// one of [`Sink::commit`] or [`Sink::rollback`]. Nothing may be visible to other readers of the
/// target before `commit` returns.
pub trait Sink {
    /// The target as people should see it (never with a password).
    fn describe(&self) -> String;
    /// Opens and checks the target: reachable, schema present or created, and empty unless
    /// `existing` is [`Existing::Merge`]. Starts the transaction. An error here means nothing
    /// was written.
    fn prepare(&mut self, existing: Existing) -> Result<()>;
    /// Adds one row to the open transaction.
    fn insert(&mut self, row: Row) -> Result<()>;
    /// Commits everything inserted since `prepare`.
    fn commit(&mut self) -> Result<()>;
    /// Discards everything inserted since `prepare`; the target is as it was before.
    fn rollback(&mut self) -> Result<()>;
    /// The ids already in `table` of an existing target (for `--onlylogs`), read without
    /// writing anything. The default says the target cannot be read back.
    fn existing_ids(&mut self, table: Table) -> Result<Vec<String>> {
        Err(self.cannot(format!("list the rows of {table}")))
    }
    /// Merging: the row of `table` whose primary key columns equal `key` (in primary key
    /// order), as the open transaction sees it.
    fn find(&mut self, table: Table, key: &[Value]) -> Result<Option<Row>> {
        let _ = key;
        Err(self.cannot(format!("read rows of {table} back")))
    }
    /// Merging: replaces the row with the same primary key as `row`.
    fn update(&mut self, row: Row) -> Result<()> {
        Err(self.cannot(format!("update rows of {}", row.table)))
    }
    /// Merging: deletes the rows of `table` whose `column` equals `value`; returns how many.
    fn delete(&mut self, table: Table, column: &str, value: &Value) -> Result<u64> {
        let _ = (column, value);
        Err(self.cannot(format!("delete rows of {table}")))
    }
    /// Merging: `(Id, value of column)` for every row of `table` (the names that documents
    /// are matched by).
    fn names(&mut self, table: Table, column: &str) -> Result<Vec<(String, String)>> {
        let _ = column;
        Err(self.cannot(format!("list the names in {table}")))
    }
    /// The error of an operation this target does not support.
    fn cannot(&self, what: String) -> crate::error::Error {
        crate::error::Error::target(self.describe(), format!("this target cannot {what}"))
    }
}
