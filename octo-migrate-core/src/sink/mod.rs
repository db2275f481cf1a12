//! Targets: where 3.x rows go. A push-model trait with explicit commit and rollback, so that a
//! migration is one transaction whatever the target; SQLite and an in-memory sink are provided.

mod memory;
#[cfg(feature = "mssql")]
mod mssql;
// Parsing a SQL Server target needs no feature (the CLI names such targets in every build), so
// it lives in the sink's folder but is declared here.
#[path = "mssql/target.rs"]
pub mod mssql_target;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use crate::schema::{format_datetime, Column, Row, SqlType, Table, TableDef, Value, TABLES};
pub use memory::MemorySink;
#[cfg(feature = "mssql")]
pub use mssql::{MssqlOptions, MssqlSink};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteSink;

use crate::error::Result;

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
