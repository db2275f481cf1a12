//! The embedded default target: a SQLite file with the 3.x tables.
//!
//! Settings (measured in ../shared/research, re-measured in docs/PERFORMANCE.md): 16 KiB pages,
//! rollback journal (`journal_mode=DELETE`) and `synchronous=FULL`, one transaction for the
//! whole migration, cached prepared statements. WAL would write every page twice for one huge
//! transaction; journal OFF would break the all-or-nothing promise.
//!
//! A target file that does not exist yet is built under a temporary name beside it and renamed
//! into place after the commit, so a crash or an error never leaves a half-made database where
//! the user asked for one.

use std::path::{Path, PathBuf};

use rusqlite::{types::ToSqlOutput, Connection, ToSql};

use super::sql::Dialect;
use super::{CommitEvidence, Existing, MergeSink, Row, Sink, Table, TargetRows, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::lock::{remove_leftovers, Lock, LockError};
use crate::schema::{SqlType, TableDef, TABLES};

/// Writes to a SQLite database file.
pub struct SqliteSink {
    path: PathBuf,
    /// Where we actually write: `path`, or a temporary file when `path` did not exist.
    work_path: Option<PathBuf>,
    conn: Option<Connection>,
    in_tx: bool,
    /// The target's lock (`<db>.octo-migrate.lock`), from `prepare` (or `existing_ids`) until
    /// the commit or rollback is done (the files folder has a lock of its own, held until
    /// the files are in place).
    lock: Option<Lock>,
    /// INSERT statement text per table (index = `Table as usize`), built once.
    inserts: Vec<String>,
}

impl SqliteSink {
    /// A sink for the database file at `path` (created if absent).
    pub fn new(path: impl Into<PathBuf>) -> SqliteSink {
        SqliteSink {
            path: path.into(),
            work_path: None,
            conn: None,
            in_tx: false,
            lock: None,
            inserts: TABLES.iter().map(|d| SQL.insert_sql(d)).collect(),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::target(self.describe(), e)
    }

    /// The open connection; `what` names the call made before [`Sink::prepare`] otherwise.
    fn open_conn(&self, what: &str) -> Result<&Connection> {
        self.conn
            .as_ref()
            .ok_or_else(|| Error::usage(format!("{what} called before prepare")))
    }

    /// SQLite's error `e` while doing `context` (empty: its message alone).
    fn driver(&self, context: impl std::fmt::Display, e: rusqlite::Error) -> Error {
        Error::driver(self.describe(), context, e)
    }

    /// Takes the target's lock, once: before anything of the target is looked at.
    fn lock(&mut self) -> Result<()> {
        if self.lock.is_some() {
            return Ok(());
        }
        let mut name = self
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "octopus3.db".into());
        name.push(".octo-migrate.lock");
        let path = self.path.with_file_name(name);
        match Lock::try_acquire(&path) {
            Ok(l) => {
                self.lock = Some(l);
                Ok(())
            }
            Err(LockError::Busy(holder)) => Err(ErrorKind::Busy {
                target: self.describe(),
                holder,
            }
            .into()),
            Err(LockError::Io(e)) => {
                Err(self.err(format!("cannot take the lock {}: {e}", path.display())))
            }
        }
    }

    /// Opens (or creates) the database file at `path` as a plain path: never as an SQLite URI,
    /// so `file:x.db` is the file of that name.
    fn open(&self, path: &Path) -> Result<Connection> {
        use rusqlite::OpenFlags as F;
        // The bundled SQLite may read any name starting with `file:` as a URI whatever the
        // flags say; `./file:x.db` is the same file and no URI.
        let path = if path.is_relative() && path.to_str().is_some_and(|p| p.starts_with("file:")) {
            Path::new(".").join(path)
        } else {
            path.to_path_buf()
        };
        #[cfg(windows)]
        let path = verbatim_if_long(path);
        Connection::open_with_flags(
            &path,
            F::SQLITE_OPEN_READ_WRITE | F::SQLITE_OPEN_CREATE | F::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| self.driver("", e))
    }

    /// Moves the new database into place, never over a file that appeared there meanwhile (a
    /// hard link fails if the name is taken; where links are not supported, a rename after a
    /// check, which the target's lock makes safe from other migrations).
    fn move_into_place(&self, work: &Path) -> std::io::Result<()> {
        match std::fs::hard_link(work, &self.path) {
            Ok(()) => std::fs::remove_file(work),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
            Err(_) if self.path.exists() => Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file of that name appeared during the migration",
            )),
            Err(_) => std::fs::rename(work, &self.path),
        }
    }

    fn temp_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "octopus3.db".into());
        name.push(format!(".octo-migrate-{}.tmp", std::process::id()));
        self.path.with_file_name(name)
    }
}

/// SQLite's SQL text.
const SQL: Dialect = Dialect::Sqlite;

/// `CREATE TABLE` for one table: SQLite types per docs/schema-3x.md's embedded-default rules.
pub(crate) fn create_table_sql(def: &TableDef) -> String {
    table_sql(def, true)
}

/// `CREATE TABLE` without the unique keys besides the primary key: `verify` merges a backup
/// again into a copy of a tampered target, where a renamed row must not stop the merge.
pub(crate) fn create_table_sql_without_unique_keys(def: &TableDef) -> String {
    table_sql(def, false)
}

fn table_sql(def: &TableDef, unique: bool) -> String {
    let mut cols = Vec::new();
    for c in def.columns {
        let ty = match c.ty {
            SqlType::Identity => {
                cols.push(format!(
                    "{} INTEGER PRIMARY KEY AUTOINCREMENT",
                    SQL.name(c.name)
                ));
                continue;
            }
            SqlType::Int | SqlType::Bit => "INTEGER",
            SqlType::NVarChar(_) | SqlType::DateTimeOffset | SqlType::UniqueIdentifier => "TEXT",
        };
        let null = if c.nullable { "NULL" } else { "NOT NULL" };
        cols.push(format!("{} {ty} {null}", SQL.name(c.name)));
    }
    let identity = def.columns.iter().any(|c| c.ty == SqlType::Identity);
    if !identity {
        cols.push(format!("PRIMARY KEY ({})", quoted(def.primary_key)));
    }
    for u in def.unique.iter().filter(|_| unique) {
        cols.push(format!("UNIQUE ({})", quoted(u)));
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  {}\n)",
        SQL.table(def),
        cols.join(",\n  ")
    )
}

fn quoted(cols: &[&str]) -> String {
    cols.iter()
        .map(|c| SQL.name(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stored value back as the [`Value`] its column's type says it is.
pub(crate) fn from_sqlite(
    ty: SqlType,
    v: rusqlite::types::Value,
) -> std::result::Result<Value, String> {
    use rusqlite::types::Value as S;
    Ok(match (ty, v) {
        (_, S::Null) => Value::Null,
        (SqlType::Bit, S::Integer(i)) => Value::Bool(i != 0),
        (SqlType::Int | SqlType::Identity, S::Integer(i)) => Value::Int(i),
        (SqlType::DateTimeOffset, S::Text(t)) => {
            Value::DateTime(crate::schema::parse_datetime(&t).map_err(|e| e.to_string())?)
        }
        (SqlType::UniqueIdentifier, S::Text(t)) => {
            Value::Guid(uuid::Uuid::parse_str(&t).map_err(|e| e.to_string())?)
        }
        (SqlType::NVarChar(_), S::Text(t)) => Value::Text(t),
        (ty, v) => return Err(format!("a {:?} where {ty:?} was expected", v.data_type())),
    })
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::from(rusqlite::types::Null),
            Value::Text(s) => ToSqlOutput::from(s.as_str()),
            Value::Int(i) => ToSqlOutput::from(*i),
            Value::Bool(b) => ToSqlOutput::from(i64::from(*b)),
            other => ToSqlOutput::from(other.to_text().unwrap_or_default()),
        })
    }
}

impl Sink for SqliteSink {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn prepare(&mut self, existing: Existing) -> Result<()> {
        // The lock first: whether the target exists, and what it holds, is only known while
        // no other migration can change it.
        self.lock()?;
        let exists = self.path.exists();
        let work = if exists {
            self.path.clone()
        } else {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if !dir.is_dir() {
                    return Err(self.err(format!("the folder {} does not exist", dir.display())));
                }
            }
            let t = self.temp_path();
            let _ = std::fs::remove_file(&t);
            self.remove_dead_temps();
            t
        };
        let conn = self.open(&work)?;
        // One cached INSERT per table; the default capacity (16) is below the table count.
        conn.set_prepared_statement_cache_capacity(TABLES.len() * 2);
        if !exists {
            self.work_path = Some(work);
            // page_size only takes effect before the first table is created.
            conn.execute_batch("PRAGMA page_size = 16384;")
                .map_err(|e| self.driver("", e))?;
        }
        conn.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL;")
            .map_err(|e| self.driver("", e))?;
        // Refuse a target that already holds Octopus data (before any write).
        let mut busy = Vec::new();
        for def in TABLES {
            let present: bool = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [def.table.name()],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n > 0)
                .map_err(|e| self.driver("", e))?;
            if present {
                let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", SQL.table(def));
                let has_rows: bool = conn
                    .query_row(&sql, [], |r| r.get(0))
                    .map_err(|e| self.driver("", e))?;
                if has_rows {
                    busy.push(def.table.name().to_owned());
                }
            }
        }
        if !busy.is_empty() && existing == Existing::Refuse {
            return Err(ErrorKind::TargetNotEmpty {
                target: self.describe(),
                tables: busy,
            }
            .into());
        }
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.driver("", e))?;
        self.in_tx = true;
        for def in TABLES {
            conn.execute_batch(&create_table_sql(def))
                .map_err(|e| self.driver("", e))?;
        }
        self.conn = Some(conn);
        Ok(())
    }

    fn insert(&mut self, row: Row) -> Result<()> {
        let conn = self.open_conn("insert")?;
        let def = row.table.def();
        let mut stmt = conn
            .prepare_cached(&self.inserts[row.table as usize])
            .map_err(|e| Error::driver(format!("sqlite:{}", self.path.display()), "", e))?;
        stmt.execute(rusqlite::params_from_iter(row.values.iter()))
            .map_err(|e| {
                Error::driver(
                    format!("sqlite:{}", self.path.display()),
                    format!("inserting into {}", def.table.name()),
                    e,
                )
            })?;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| Error::usage("commit called before prepare"))?;
        if let Err(e) = conn.execute_batch("COMMIT") {
            let err = self.driver("", e);
            let _ = conn.execute_batch("ROLLBACK");
            drop(conn);
            self.discard_temp();
            return Err(err);
        }
        self.in_tx = false;
        conn.close().map_err(|(_, e)| self.driver("", e))?;
        if let Some(work) = self.work_path.take() {
            self.move_into_place(&work).map_err(|e| {
                let _ = std::fs::remove_file(&work);
                self.err(format!("moving the new database into place: {e}"))
            })?;
        }
        self.lock = None;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if let Some(conn) = self.conn.take() {
            if self.in_tx {
                let _ = conn.execute_batch("ROLLBACK");
                self.in_tx = false;
            }
        }
        self.discard_temp();
        self.lock = None;
        Ok(())
    }

    fn commit_evidence(&self) -> Option<CommitEvidence> {
        // Absolute, so a next run from another working folder looks at the same file.
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        Some(match &self.work_path {
            // A new database appears under its name only by the commit (the lock keeps any
            // other migration from making it; the move never replaces a file).
            Some(_) => CommitEvidence::Appears(path),
            // An existing one is committed when its rollback journal is gone (journal_mode =
            // DELETE). A rollback deletes it too, but a rollback also deletes the staging
            // folder; only a kill leaves both, and a kill leaves a hot journal.
            None => {
                let mut journal = path.into_os_string();
                journal.push("-journal");
                CommitEvidence::Disappears(PathBuf::from(journal))
            }
        })
    }

    fn as_merge(&mut self) -> Option<&mut dyn MergeSink> {
        Some(self)
    }
}

impl MergeSink for SqliteSink {
    fn existing_ids(&mut self, table: super::Table) -> Result<Vec<String>> {
        self.lock()?;
        let conn = self.read_only()?;
        let sql = SQL.ids_sql(table.def());
        let mut stmt = conn
            .prepare(&sql)
            .map_err(|e| self.driver(format!("reading {table}"), e))?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            .map_err(|e| self.driver(format!("reading {table}"), e))?;
        Ok(ids)
    }

    fn find(&mut self, table: Table, key: &[Value]) -> Result<Option<Row>> {
        let def = table.def();
        let sql = SQL.find_sql(def);
        let conn = self.open_conn("find")?;
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.driver("", e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(key.iter()))
            .map_err(|e| self.driver(format!("reading {table}"), e))?;
        let Some(r) = rows
            .next()
            .map_err(|e| self.driver(format!("reading {table}"), e))?
        else {
            return Ok(None);
        };
        let mut values = Vec::with_capacity(def.columns.len());
        for (i, c) in def.value_columns().enumerate() {
            let v: rusqlite::types::Value = r
                .get(i)
                .map_err(|e| self.driver(format!("reading {table}"), e))?;
            values.push(
                from_sqlite(c.ty, v)
                    .map_err(|e| self.err(format!("reading {table}.{}: {e}", c.name)))?,
            );
        }
        Ok(Some(Row { table, values }))
    }

    fn update(&mut self, row: Row) -> Result<()> {
        let def = row.table.def();
        let sql = SQL.update_sql(def);
        let key: Vec<Value> = row.key().into_iter().cloned().collect();
        let conn = self.open_conn("update")?;
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.driver("", e))?;
        stmt.execute(rusqlite::params_from_iter(
            row.values.iter().chain(key.iter()),
        ))
        .map_err(|e| self.driver(format!("updating {}", def.table.name()), e))?;
        Ok(())
    }

    fn delete(&mut self, table: Table, column: &str, value: &Value) -> Result<u64> {
        let def = table.def();
        let Some(c) = def.column(column) else {
            return Err(self.err(format!("{table} has no column {column}")));
        };
        let sql = SQL.delete_sql(def, c);
        let conn = self.open_conn("delete")?;
        let n = conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.execute([value]))
            .map_err(|e| self.driver(format!("deleting from {table}"), e))?;
        Ok(n as u64)
    }

    fn existing_names(&mut self, table: Table, column: &str) -> Result<Vec<(String, String)>> {
        self.lock()?;
        let conn = self.read_only()?;
        self.names_on(&conn, table, column)
    }

    fn names(&mut self, table: Table, column: &str) -> Result<Vec<(String, String)>> {
        let conn = self.open_conn("names")?;
        self.names_on(conn, table, column)
    }
}

impl SqliteSink {
    /// The migrated database, opened read-only outside any transaction.
    fn read_only(&self) -> Result<Connection> {
        if !self.path.exists() {
            return Err(
                self.err("the database does not exist (--onlylogs needs a migrated target)")
            );
        }
        Connection::open_with_flags(&self.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| self.driver("", e))
    }

    fn names_on(
        &self,
        conn: &Connection,
        table: Table,
        column: &str,
    ) -> Result<Vec<(String, String)>> {
        let def = table.def();
        let (Some(c), true) = (def.column(column), table.has_column("Id")) else {
            return Err(self.err(format!("{table} has no Id and {column} columns")));
        };
        let sql = SQL.names_sql(def, c);
        let mut stmt = conn.prepare(&sql).map_err(|e| self.driver("", e))?;
        let names = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.driver(format!("reading {table}"), e))?;
        Ok(names)
    }
}

impl SqliteSink {
    /// Temporary databases (and their journals) of killed runs into the same file.
    fn remove_dead_temps(&self) {
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // Called with the target's lock held: no run that made one of these is alive.
        let prefix = format!("{name}.octo-migrate-");
        remove_leftovers(&dir, &prefix, ".tmp");
        remove_leftovers(&dir, &prefix, ".tmp-journal");
    }

    fn discard_temp(&mut self) {
        if let Some(work) = self.work_path.take() {
            let _ = std::fs::remove_file(&work);
            let mut journal = work.into_os_string();
            journal.push("-journal");
            let _ = std::fs::remove_file(journal);
        }
    }
}

impl Drop for SqliteSink {
    fn drop(&mut self) {
        // An abandoned sink (a panic, an early return) must not leave anything behind.
        let _ = self.rollback();
    }
}

/// A stored value as its column's type says, or as it is when the type cannot hold it (only
/// dates and GUIDs are parsed, and only their short text is copied for that).
fn read_value(ty: SqlType, v: rusqlite::types::Value) -> Value {
    use rusqlite::types::Value as S;
    match (ty, v) {
        (ty @ (SqlType::DateTimeOffset | SqlType::UniqueIdentifier), S::Text(t)) => {
            from_sqlite(ty, S::Text(t.clone())).unwrap_or(Value::Text(t))
        }
        (ty, v)
            if matches!(
                (ty, &v),
                (_, S::Null)
                    | (
                        SqlType::Bit | SqlType::Int | SqlType::Identity,
                        S::Integer(_)
                    )
                    | (SqlType::NVarChar(_), S::Text(_))
            ) =>
        {
            from_sqlite(ty, v).expect("a value its column's type holds")
        }
        (_, v) => as_stored(v),
    }
}

/// A stored value as it is, whatever its column's type.
fn as_stored(v: rusqlite::types::Value) -> Value {
    use rusqlite::types::Value as S;
    match v {
        S::Null => Value::Null,
        S::Integer(i) => Value::Int(i),
        S::Real(f) => Value::Text(f.to_string()),
        S::Text(t) => Value::Text(t),
        S::Blob(b) => Value::Text(format!("(a blob of {} bytes)", b.len())),
    }
}

/// Reads a SQLite target back for `verify`: opened read-only (never created) when first
/// read, rows decoded as [`SqliteSink`] reads them when merging.
pub struct SqliteRows {
    path: PathBuf,
    conn: Option<Connection>,
}

impl SqliteRows {
    /// The database at `path`; nothing is opened before the first read, which fails if the
    /// file does not exist.
    pub fn open(path: impl Into<PathBuf>) -> SqliteRows {
        SqliteRows {
            path: path.into(),
            conn: None,
        }
    }

    fn conn(&mut self) -> Result<&Connection> {
        if self.conn.is_none() {
            let describe = self.describe();
            if !self.path.is_file() {
                return Err(Error::target(describe, "the database does not exist"));
            }
            let plain = if self.path.is_relative()
                && self.path.to_str().is_some_and(|p| p.starts_with("file:"))
            {
                Path::new(".").join(&self.path)
            } else {
                self.path.clone()
            };
            // Windows: a long path only opens verbatim, as for the sink.
            #[cfg(windows)]
            let plain = verbatim_if_long(plain);
            let conn = Connection::open_with_flags(
                &plain,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| Error::driver(&describe, "", e))?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_ref().expect("just opened"))
    }
}

impl TargetRows for SqliteRows {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn missing_columns(&mut self, table: Table) -> Result<Vec<&'static str>> {
        let describe = self.describe();
        let have: Vec<String> = self
            .conn()?
            .prepare(&format!("PRAGMA table_info({})", SQL.table(table.def())))
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(1))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(|e| Error::driver(&describe, format!("reading {table}'s columns"), e))?;
        Ok(table
            .def()
            .value_columns()
            .map(|c| c.name)
            .filter(|n| !have.iter().any(|h| h.eq_ignore_ascii_case(n)))
            .collect())
    }

    fn has_table(&mut self, table: Table) -> Result<bool> {
        let describe = self.describe();
        self.conn()?
            .prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
            .and_then(|mut s| s.exists([table.name()]))
            .map_err(|e| Error::driver(&describe, format!("looking for {table}"), e))
    }

    fn each_row(&mut self, table: Table, each: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let def = table.def();
        let what = format!("reading {table}");
        let describe = self.describe();
        let absent = self.missing_columns(table)?;
        let mut stmt = self
            .conn()?
            .prepare(&SQL.rows_sql_without(def, &absent))
            .map_err(|e| Error::driver(&describe, &what, e))?;
        let mut rows = stmt
            .query([])
            .map_err(|e| Error::driver(&describe, &what, e))?;
        while let Some(r) = rows
            .next()
            .map_err(|e| Error::driver(&describe, &what, e))?
        {
            let mut values = Vec::with_capacity(def.columns.len());
            for (i, c) in def.value_columns().enumerate() {
                let v: rusqlite::types::Value =
                    r.get(i).map_err(|e| Error::driver(&describe, &what, e))?;
                // A value its column's type cannot hold (SQLite stores what it is given: text
                // in an INTEGER column, a malformed date) is handed out as what it is, for
                // verify to show as differing rather than to fail on.
                values.push(read_value(c.ty, v));
            }
            each(Row { table, values })?;
        }
        Ok(())
    }
}

/// Windows: SQLite gives the file name to `CreateFileW` as it is, which refuses a path of
/// MAX_PATH (260) characters or more unless it is verbatim (`\\?\C:\...`,
/// `\\?\UNC\server\share\...`); Rust's own file functions add that prefix themselves. So a
/// database whose path (or its `-journal` beside it) would be that long is opened by its
/// verbatim absolute path. Shorter paths, and paths that are not UTF-8, are left as they are.
#[cfg(windows)]
fn verbatim_if_long(path: PathBuf) -> PathBuf {
    use std::path::{Component, Prefix};
    const MAX_PATH: usize = 260;
    let Ok(abs) = std::path::absolute(&path) else {
        return path;
    };
    let Some(text) = abs.to_str() else {
        return path;
    };
    if text.len() + "-journal".len() < MAX_PATH {
        return path;
    }
    match abs.components().next() {
        Some(Component::Prefix(p)) => match p.kind() {
            Prefix::Disk(_) => PathBuf::from(format!(r"\\?\{text}")),
            // `\\server\share\...` -> `\\?\UNC\server\share\...`
            Prefix::UNC(..) => PathBuf::from(format!(r"\\?\UNC{}", &text[1..])),
            _ => path,
        },
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Table;

    #[cfg(windows)]
    #[test]
    fn long_database_paths_are_opened_verbatim_on_windows() {
        let short = PathBuf::from(r"C:\Octopus\octopus3.db");
        assert_eq!(verbatim_if_long(short.clone()), short);
        let deep = format!(r"C:\{}\octopus3.db", "d".repeat(250));
        assert_eq!(
            verbatim_if_long(PathBuf::from(&deep)),
            PathBuf::from(format!(r"\\?\{deep}"))
        );
        // Forward slashes become backslashes: a verbatim path takes no other separator.
        assert_eq!(
            verbatim_if_long(PathBuf::from(deep.replace('\\', "/"))),
            PathBuf::from(format!(r"\\?\{deep}"))
        );
        let unc = format!(r"\\db01\share\{}\octopus3.db", "d".repeat(250));
        assert_eq!(
            verbatim_if_long(PathBuf::from(&unc)),
            PathBuf::from(format!(r"\\?\UNC{}", &unc[1..]))
        );
        let verbatim = PathBuf::from(format!(r"\\?\{deep}"));
        assert_eq!(verbatim_if_long(verbatim.clone()), verbatim);
    }

    fn project_row(id: &str, name: &str) -> Row {
        Row {
            table: Table::Project,
            values: vec![
                Value::Text(id.into()),
                Value::Text(name.into()),
                Value::Text(name.to_lowercase()),
                Value::Bool(false),
                Value::Null,
                Value::Null,
                Value::Text("ProjectGroups-1".into()),
                Value::Text("Lifecycles-1".into()),
                Value::Bool(true),
                Value::Text("{}".into()),
            ],
        }
    }

    #[test]
    fn new_file_appears_only_on_commit_and_refuses_second_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        let mut s = SqliteSink::new(&path);
        s.prepare(Existing::Refuse).unwrap();
        s.insert(project_row("Projects-1", "Web")).unwrap();
        assert!(!path.exists());
        s.commit().unwrap();
        assert!(path.exists());
        let conn = Connection::open(&path).unwrap();
        let (name, auto): (String, i64) = conn
            .query_row("SELECT Name, AutoCreateRelease FROM Project", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((name.as_str(), auto), ("Web", 1));
        let mut again = SqliteSink::new(&path);
        let e = again.prepare(Existing::Refuse).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::TargetNotEmpty { .. }), "{e}");
    }

    #[test]
    fn rollback_leaves_no_file_and_unique_names_hold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        let mut s = SqliteSink::new(&path);
        s.prepare(Existing::Refuse).unwrap();
        s.insert(project_row("Projects-1", "Web")).unwrap();
        assert!(s.insert(project_row("Projects-2", "Web")).is_err());
        s.rollback().unwrap();
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
