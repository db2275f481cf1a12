//! Reading a migrated target back, table by table: what `verify` compares. Narrow on purpose
//! (one method besides the name), so that every target that can be written can be read the
//! same way, with the same decoding of values as its sink ([`super::SqliteSink`],
//! [`super::MssqlSink`]).

use super::{Row, Table};
use crate::error::Result;

/// A target whose rows can be read back, one table at a time, without a transaction and
/// without writing anything.
pub trait TargetRows {
    /// The target as people should see it (never with a password).
    fn describe(&self) -> String;
    /// Calls `each` with every row of `table` (identity columns left out, as in [`Row`]), in
    /// primary-key order, holding no more than a few rows at a time. An error from `each`
    /// stops the reading and is returned.
    fn each_row(&mut self, table: Table, each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()>;
    /// Whether the target has `table` at all (a dropped table is all its rows missing, not an
    /// error that stops the comparison).
    fn has_table(&mut self, table: Table) -> Result<bool>;
    /// The value columns of `table` the target lacks; [`TargetRows::each_row`] hands out NULL
    /// for them.
    fn missing_columns(&mut self, table: Table) -> Result<Vec<&'static str>>;
    /// The finest difference between two times the target keeps in a `datetimeoffset`:
    /// 100 ns (SQL Server's and .NET's tick) unless the server rounds more.
    fn time_resolution(&mut self) -> Result<std::time::Duration> {
        Ok(std::time::Duration::from_nanos(100))
    }
}
