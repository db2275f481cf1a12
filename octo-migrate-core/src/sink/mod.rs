//! Targets: where 3.x rows go. A push-model trait with explicit commit and rollback, so that a
//! migration is one transaction whatever the target; SQLite and an in-memory sink are provided.

mod memory;
#[cfg(feature = "mssql")]
mod mssql;
mod rows;
pub(crate) mod sql;
// Parsing a SQL Server target needs no feature (the CLI names such targets in every build), so
// it lives in the sink's folder but is declared here.
#[path = "mssql/target.rs"]
pub mod mssql_target;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use crate::schema::{format_datetime, Column, Row, SqlType, Table, TableDef, Value, TABLES};
pub use memory::MemorySink;
#[cfg(feature = "mssql")]
pub use mssql::read::MssqlRows;
#[cfg(feature = "mssql")]
pub use mssql::{MssqlOptions, MssqlSink};
pub use rows::TargetRows;
#[cfg(feature = "sqlite")]
pub(crate) use sqlite::{create_table_sql_without_unique_keys, from_sqlite};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteRows, SqliteSink};

use crate::error::Result;

/// A file whose presence tells whether a target's commit happened ([`Sink::commit_evidence`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitEvidence {
    /// Committed if and only if this file exists (a new database appears only by its commit).
    Appears(std::path::PathBuf),
    /// Committed if this file is gone (a rollback journal, deleted by the commit).
    Disappears(std::path::PathBuf),
}

/// Whether [`Sink::prepare`] accepts a target that already holds Octopus data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Existing {
    /// Refuse it (the default): nothing is written.
    #[default]
    Refuse,
    /// Accept it: the pipeline merges through [`MergeSink`].
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
    /// How the next run can tell whether a run killed while committing this target did
    /// commit. `None` (the default) when the target cannot say: the files of such an
    /// interrupted commit are then kept, never deleted.
    fn commit_evidence(&self) -> Option<CommitEvidence> {
        None
    }
    /// The target's reading and updating side, which merging ([`crate::Merge`]) and
    /// [`crate::TaskLogs::Only`] need; `None` (the default) for a target that can only be
    /// written.
    fn as_merge(&mut self) -> Option<&mut dyn MergeSink> {
        None
    }
}

/// A target that can also be read back and changed inside the open transaction: what
/// merging into a target that already holds data needs. Called between [`Sink::prepare`] and
/// [`Sink::commit`] / [`Sink::rollback`], except [`MergeSink::existing_ids`].
pub trait MergeSink: Sink {
    /// The ids already in `table` of a migrated target (for [`crate::TaskLogs::Only`]), read
    /// without a transaction and without writing anything.
    fn existing_ids(&mut self, table: Table) -> Result<Vec<String>>;
    /// `(Id, value of column)` for every row of `table` of a migrated target, read like
    /// [`MergeSink::existing_ids`] (for [`crate::TaskLogs::Only`], which checks that the
    /// backup's server tasks are the target's). The default calls [`MergeSink::names`], for
    /// targets that can read without a transaction.
    fn existing_names(&mut self, table: Table, column: &str) -> Result<Vec<(String, String)>> {
        self.names(table, column)
    }
    /// The row of `table` whose primary key columns equal `key` (in primary key order), as
    /// the open transaction sees it.
    fn find(&mut self, table: Table, key: &[Value]) -> Result<Option<Row>>;
    /// Replaces the row with the same primary key as `row`.
    fn update(&mut self, row: Row) -> Result<()>;
    /// Deletes the rows of `table` whose `column` equals `value`; returns how many.
    fn delete(&mut self, table: Table, column: &str, value: &Value) -> Result<u64>;
    /// `(Id, value of column)` for every row of `table` (the names that documents are
    /// matched by).
    fn names(&mut self, table: Table, column: &str) -> Result<Vec<(String, String)>>;
}
