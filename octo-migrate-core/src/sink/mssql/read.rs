//! Reading a SQL Server target back for `verify` ([`TargetRows`]): its own connection (the
//! sink's `connect`, so the same deadline, TLS and messages), each table streamed in
//! primary-key order and decoded by the sink's own `decode`, so a value reads back as the
//! [`Value`] it was written from. Nothing is written and no transaction is opened.

use futures_util::TryStreamExt;
use tiberius::Query;
use tokio::runtime::Runtime;

use super::codec::decode;
use super::connect::{connect, describe_tds_error, Conn};
use super::MssqlOptions;
use crate::error::{Error, Result};
use crate::schema::Value;
use crate::sink::mssql_target::MssqlTarget;
use crate::sink::sql::Dialect;
use crate::sink::{Row, Table, TargetRows};

/// A SQL Server target, read table by table.
pub struct MssqlRows {
    target: MssqlTarget,
    opts: MssqlOptions,
    conn: Option<(Runtime, Conn)>,
}

impl MssqlRows {
    /// The target; nothing is contacted before the first read, which connects (one deadline
    /// for resolving, connecting, TLS and login).
    pub fn open(target: MssqlTarget, opts: MssqlOptions) -> MssqlRows {
        MssqlRows {
            target,
            opts,
            conn: None,
        }
    }

    fn connect(&mut self) -> Result<()> {
        if self.conn.is_some() {
            return Ok(());
        }
        let target = &self.target;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| {
                Error::target(
                    target.to_string(),
                    format!("cannot start the network runtime: {e}"),
                )
            })?;
        let client = rt
            .block_on(connect(target, &self.opts))
            .map_err(|m| Error::target(target.to_string(), m))?;
        self.conn = Some((rt, client));
        Ok(())
    }
}

impl TargetRows for MssqlRows {
    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn missing_columns(&mut self, table: Table) -> Result<Vec<&'static str>> {
        let describe = self.target.to_string();
        self.connect()?;
        let (rt, client) = self.conn.as_mut().expect("just connected");
        let mut q = Query::new(
            "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = N'dbo' AND TABLE_NAME = @P1",
        );
        q.bind(table.name());
        let rows = rt
            .block_on(async { q.query(client).await?.into_first_result().await })
            .map_err(|e| {
                Error::target(
                    &describe,
                    format!("reading {table}'s columns: {}", describe_tds_error(&e)),
                )
            })?;
        let have: Vec<String> = rows
            .iter()
            .filter_map(|r| r.get::<&str, _>(0).map(str::to_owned))
            .collect();
        Ok(table
            .def()
            .value_columns()
            .map(|c| c.name)
            .filter(|n| !have.iter().any(|h| h.eq_ignore_ascii_case(n)))
            .collect())
    }

    fn has_table(&mut self, table: Table) -> Result<bool> {
        let describe = self.target.to_string();
        self.connect()?;
        let (rt, client) = self.conn.as_mut().expect("just connected");
        let mut q = Query::new(
            "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = N'dbo' AND TABLE_NAME = @P1",
        );
        q.bind(table.name());
        let row = rt
            .block_on(async { q.query(client).await?.into_row().await })
            .map_err(|e| {
                Error::target(
                    &describe,
                    format!("looking for {table}: {}", describe_tds_error(&e)),
                )
            })?;
        Ok(row.and_then(|r| r.get::<i32, _>(0)).unwrap_or(0) > 0)
    }

    /// Asks the server: a time with all seven fraction digits, read back. SQL Server keeps
    /// them; Babelfish (on PostgreSQL) rounds to the microsecond.
    fn time_resolution(&mut self) -> Result<std::time::Duration> {
        const PROBE: &str =
            "SELECT CAST(N'2000-01-01T00:00:00.1234567+00:00' AS datetimeoffset(7))";
        let describe = self.target.to_string();
        self.connect()?;
        let (rt, client) = self.conn.as_mut().expect("just connected");
        let row = rt
            .block_on(async { Query::new(PROBE).query(client).await?.into_row().await })
            .map_err(|e| {
                Error::target(
                    &describe,
                    format!("reading a time back: {}", describe_tds_error(&e)),
                )
            })?;
        let value = row
            .and_then(|r| r.into_iter().next())
            .map(|d| decode(crate::schema::SqlType::DateTimeOffset, d));
        let Some(Ok(Value::DateTime(t))) = value else {
            return Err(Error::target(
                describe,
                "reading a time back: no time came back",
            ));
        };
        Ok(std::time::Duration::from_nanos(resolution_of(
            chrono::Timelike::nanosecond(&t),
        )))
    }

    fn each_row(&mut self, table: Table, each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let def = table.def();
        let absent = self.missing_columns(table)?;
        let sql = Dialect::SqlServer.rows_sql_without(def, &absent);
        let describe = self.target.to_string();
        self.connect()?;
        let (rt, client) = self.conn.as_mut().expect("just connected");
        rt.block_on(async {
            let tds = |e: tiberius::error::Error| {
                Error::target(
                    &describe,
                    format!("reading {table}: {}", describe_tds_error(&e)),
                )
            };
            let mut rows = Query::new(sql)
                .query(client)
                .await
                .map_err(tds)?
                .into_row_stream();
            while let Some(r) = rows.try_next().await.map_err(tds)? {
                let values = def
                    .value_columns()
                    .zip(r)
                    // A value of another SQL type than the column should have (an altered
                    // column) is handed out as what it is, for verify to show as differing.
                    .map(|(c, v)| decode(c.ty, v.clone()).unwrap_or_else(|_| as_stored(v)))
                    .collect::<Vec<Value>>();
                each(Row { table, values })?;
            }
            Ok(())
        })
    }
}

/// A value as the server sent it, whatever the column's type in the 3.x schema.
fn as_stored(d: tiberius::ColumnData<'static>) -> Value {
    use tiberius::ColumnData as D;
    match d {
        D::String(Some(s)) => Value::Text(s.into_owned()),
        D::U8(Some(i)) => Value::Int(i64::from(i)),
        D::I16(Some(i)) => Value::Int(i64::from(i)),
        D::I32(Some(i)) => Value::Int(i64::from(i)),
        D::I64(Some(i)) => Value::Int(i),
        D::F32(Some(f)) => Value::Text(f.to_string()),
        D::F64(Some(f)) => Value::Text(f.to_string()),
        D::Bit(Some(b)) => Value::Bool(b),
        D::Guid(Some(g)) => Value::Guid(g),
        D::Numeric(Some(n)) => Value::Text(n.to_string()),
        D::U8(None)
        | D::I16(None)
        | D::I32(None)
        | D::I64(None)
        | D::F32(None)
        | D::F64(None)
        | D::Bit(None)
        | D::String(None)
        | D::Guid(None)
        | D::Binary(None)
        | D::Numeric(None)
        | D::Xml(None)
        | D::DateTime(None)
        | D::SmallDateTime(None)
        | D::Time(None)
        | D::Date(None)
        | D::DateTime2(None)
        | D::DateTimeOffset(None) => Value::Null,
        _ => Value::Text("(a value of another SQL type)".into()),
    }
}

/// The largest power of ten, from 100 ns to a second, that divides `nanos`: how finely a
/// server kept .1234567 seconds.
fn resolution_of(nanos: u32) -> u64 {
    let mut r = 100u64;
    while r < 1_000_000_000 && u64::from(nanos) % (r * 10) == 0 {
        r *= 10;
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn resolution_is_what_the_server_kept() {
        assert_eq!(super::resolution_of(123_456_700), 100);
        assert_eq!(super::resolution_of(123_457_000), 1_000);
        assert_eq!(super::resolution_of(123_000_000), 1_000_000);
        assert_eq!(super::resolution_of(0), 1_000_000_000);
    }
}
