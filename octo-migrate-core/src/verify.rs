//! `verify`: after a migration, check the target against the backup, in both directions.
//!
//! The backup is migrated again, with the options of the migration being checked, into a
//! SQLite database and a files folder in a temporary folder (the expected result, spilled to
//! disk rather than held in memory). Then, table by table, the target is read in primary-key
//! order ([`TargetRows`]); each of its rows is looked up in the expected database by key:
//! found, its columns are compared (JSON columns property by property, sensitive values by
//! their plaintext under the target key); not found, it is *extra*. Expected rows no target
//! row matched are *missing*. Files are compared byte for byte with the expected ones, and
//! files in `TaskLogs/` and `Artifacts/` that no expected file explains are extra.
//!
//! After a merge (`Merge::BackupWins` / `Merge::TargetWins`) the expected result is the
//! target's own rows (copied into the temporary database) with the backup merged into them
//! again, in the same mode. A correct merge is a fixed point: merging the same backup again
//! changes nothing. The rows that second merge inserted, replaced, merged or kept (the backup's
//! rows, found by id or name) are compared; every other row of the target is its own and is
//! listed as *kept*, not as extra.
//!
//! Memory: one row of the target and one of the expected database at a time (differences go
//! to a callback as they are found, [`verify_each`]); the expected rows, and when merging the keys of the backup's rows, are in
//! scratch databases in the temporary folder. The migration into it costs what a migration
//! costs.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value as Json;

use crate::crypto::{decrypt_value, MasterKey};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::{ARTIFACT_DIR, TASK_LOG_DIR};
use crate::pipeline::{migrate, Merge, Migration, TaskLogs};
use crate::report::Report;
use crate::schema::{format_datetime, Value};
use crate::sink::sql::Dialect;
use crate::sink::{
    create_table_sql_without_unique_keys, from_sqlite, Existing, MergeSink, Row, Sink, SqliteRows,
    SqliteSink, Table, TargetRows, TABLES,
};

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// Expected from the backup, not in the target.
    Missing,
    /// In the target, not explained by the backup.
    Extra,
    /// In both, with another value.
    Differs,
    /// The target's own row or file, left alone by a merge: not a difference.
    Kept,
}

impl Kind {
    /// The word printed before the difference.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::Extra => "extra",
            Kind::Differs => "differs",
            Kind::Kept => "kept",
        }
    }
}

/// One difference between the backup and the target (or one kept row or file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Difference {
    /// What kind.
    pub kind: Kind,
    /// 3.x table, or `file` for a task-log or artifact file.
    pub table: String,
    /// The row's key (`EventId/RelatedDocumentId` for EventRelatedDocument), or the file's
    /// path below the files folder (`TaskLogs/servertasks-1.txt`).
    pub id: String,
    /// The column (`Name`), with the property path inside a JSON column (`JSON.Description`,
    /// `JSON.Variables[Id=…].Value`); empty for a whole row or file.
    pub column: String,
    /// The expected value as JSON text (`"Acme.Web"`, `3`, `null`; `NULL` for SQL NULL, absent
    /// for a JSON property that should not be there); never a sensitive value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The value found, as `expected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// Words, where values are not shown (sensitive values, files).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.kind.word(), self.table, self.id)?;
        if !self.column.is_empty() {
            write!(f, " {}", self.column)?;
        }
        if self.expected.is_some() || self.found.is_some() {
            write!(
                f,
                ": expected {}, found {}",
                self.expected.as_deref().unwrap_or("nothing"),
                self.found.as_deref().unwrap_or("nothing")
            )?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// The outcome of `verify`.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Verification {
    /// Rows compared or found missing, extra or kept.
    pub rows_checked: u64,
    /// Files compared or found missing, extra or kept.
    pub files_checked: u64,
    /// How many of each kind.
    pub missing: u64,
    /// See `missing`.
    pub extra: u64,
    /// See `missing`.
    pub differs: u64,
    /// See `missing` (not differences).
    pub kept: u64,
    /// How finely the target keeps times, in nanoseconds: 100 (SQL Server, SQLite's text),
    /// or more for a server that rounds (Babelfish: 1000). Times are compared to it.
    pub time_resolution_ns: u64,
    /// Every difference (and kept row or file), rows by table in primary-key order, then files.
    pub differences: Vec<Difference>,
}

impl Verification {
    /// Whether the target holds exactly what the backup gives (kept rows do not count).
    pub fn passed(&self) -> bool {
        self.missing + self.extra + self.differs == 0
    }

    fn count(&mut self, kind: Kind) {
        match kind {
            Kind::Missing => self.missing += 1,
            Kind::Extra => self.extra += 1,
            Kind::Differs => self.differs += 1,
            Kind::Kept => self.kept += 1,
        }
    }

    /// `N missing, N extra, N differing, N kept`.
    pub fn counts(&self) -> String {
        format!(
            "{} missing, {} extra, {} differing, {} kept",
            self.missing, self.extra, self.differs, self.kept
        )
    }
}

/// The migration that `report` records, of `backup` under `key`: its options (`--maxage` with
/// the "now" it counted from, task logs, `--skip-unsupported-steps`, the merge mode). The 3.x
/// key is not in the report; `target_key` is it, and must be given exactly when the report
/// says one was used.
pub fn migration_of_report(
    backup: impl Into<PathBuf>,
    key: &MasterKey,
    target_key: Option<&MasterKey>,
    report: &Report,
) -> Result<Migration> {
    let o = &report.options;
    if !report.committed {
        return Err(Error::usage(
            "the report is of a migration that did not commit (a failed or dry run): there is nothing to verify",
        ));
    }
    let mut m = Migration::new(backup, key)
        .skip_unsupported_steps(o.skip_unsupported_steps)
        // A run that only converted logs (`only`) completed an earlier run without them: the
        // target it leaves is a migration with its logs.
        .task_logs(match o.task_logs.as_str() {
            "convert" | "" | "only" => TaskLogs::Convert,
            "skip" => TaskLogs::Skip,
            other => {
                return Err(Error::usage(format!(
                    "the report's task logs option {other:?} is not known"
                )))
            }
        })
        .merge(match o.merge.as_str() {
            "refuse" | "" => Merge::Refuse,
            "backup_wins" => Merge::BackupWins,
            "target_wins" => Merge::TargetWins,
            other => {
                return Err(Error::usage(format!(
                    "the report's merge mode {other:?} is not known"
                )))
            }
        });
    match (o.target_key, target_key) {
        (true, Some(k)) => m = m.target_key(k),
        (false, None) => {}
        (true, None) => return Err(Error::usage(
            "the migration re-encrypted sensitive values under a 3.x key of its own: give that key",
        )),
        (false, Some(_)) => {
            return Err(Error::usage(
                "the migration kept the 2.6 key for sensitive values: no 3.x key was used",
            ))
        }
    }
    if let Some(days) = o.max_age_days {
        let Some(at) = o.as_of.as_deref() else {
            return Err(Error::usage(
                "the report records a maximum age without the time it counted from",
            ));
        };
        let at = chrono::DateTime::parse_from_rfc3339(at).map_err(|_| {
            Error::usage(format!(
                "the report's as-of time {at:?} is not an RFC 3339 time"
            ))
        })?;
        m = m.max_age_days(days).as_of(at);
    }
    Ok(m)
}

/// Verifies the SQLite database at `db` and, with `files_dir`, the task logs and artifacts
/// there, against the backup migrated as `migration` says (its own files folder is ignored).
pub fn verify_sqlite(
    migration: Migration,
    db: &Path,
    files_dir: Option<PathBuf>,
) -> Result<Verification> {
    let mut target = SqliteRows::open(db);
    verify(migration, &mut target, files_dir.as_deref())
}

/// Verifies `target` (and, with `files_dir`, the files there: a folder that does not exist is
/// an error) against the backup migrated as `migration` says, in both directions; every
/// difference is in the outcome's `differences`.
pub fn verify(
    migration: Migration,
    target: &mut dyn TargetRows,
    files_dir: Option<&Path>,
) -> Result<Verification> {
    let mut all = Vec::new();
    let mut v = verify_each(migration, target, files_dir, &mut |d| all.push(d.clone()))?;
    v.differences = all;
    Ok(v)
}

/// [`verify`], handing each difference (and kept row or file) to `each` as it is found
/// instead of collecting them: memory does not grow with the number of differences. The
/// outcome has the counts; its `differences` is empty.
pub fn verify_each(
    migration: Migration,
    target: &mut dyn TargetRows,
    files_dir: Option<&Path>,
    each: &mut dyn FnMut(&Difference),
) -> Result<Verification> {
    if let Some(d) = files_dir {
        if !d.is_dir() {
            return Err(Error::usage(format!(
                "the files folder {} does not exist: it is where the migration put TaskLogs and Artifacts",
                d.display()
            )));
        }
    }
    let (backup, key, mut opts) = migration.into_parts();
    if opts.task_logs == TaskLogs::Only {
        return Err(Error::usage(
            "a run that only converts task logs writes no rows: verify the migration itself",
        ));
    }
    let target_key = opts.target_key.clone().unwrap_or_else(|| key.clone());
    // The backup and its key first, then whether the target can be read at all: both before
    // the migration into the temporary folder, which takes as long as the migration did.
    drop(crate::backup::Backup::open(&backup, &key)?);
    target.has_table(Table::KeyAllocation)?;
    let tmp = tempfile::Builder::new()
        .prefix("octo-migrate-verify-")
        .tempdir()
        .map_err(|e| files_error(std::env::temp_dir(), e))?;
    let expected_db = tmp.path().join("expected.db");
    let expected_files = tmp.path().join("files");
    std::fs::create_dir(&expected_files).map_err(|e| files_error(expected_files.clone(), e))?;
    opts.files_dir = files_dir.map(|_| expected_files.clone());
    let merging = opts.merge != Merge::Refuse;
    let touched = if merging {
        // The target's own rows first, then the backup merged into them again. The copy has
        // no unique keys besides the primary keys: a backup row renamed in the target is no
        // longer matched by its name, and its second insertion must show as missing rows,
        // not stop the merge.
        let conn = rusqlite::Connection::open(&expected_db)
            .map_err(|e| Error::driver(format!("sqlite:{}", expected_db.display()), "", e))?;
        for def in TABLES {
            conn.execute_batch(&create_table_sql_without_unique_keys(def))
                .map_err(|e| Error::driver(format!("sqlite:{}", expected_db.display()), "", e))?;
        }
        drop(conn);
        let mut copy = SqliteSink::new(&expected_db);
        copy.prepare(Existing::Refuse)?;
        for def in TABLES {
            if target.has_table(def.table)? {
                target.each_row(def.table, &mut |r| copy.insert(r))?;
            }
        }
        copy.commit()?;
        drop(copy);
        let mut rec = Recorder {
            inner: SqliteSink::new(&expected_db),
            touched: Touched::create(&tmp.path().join("touched.db"))?,
        };
        migrate(&backup, &key, Some(&mut rec), &opts)?;
        rec.touched.finish()?;
        Some(rec.touched)
    } else {
        let mut sink = SqliteSink::new(&expected_db);
        migrate(&backup, &key, Some(&mut sink), &opts)?;
        None
    };
    let mut v = Out {
        v: Verification::default(),
        each,
    };
    let conn = rusqlite::Connection::open(&expected_db)
        .map_err(|e| Error::driver(format!("sqlite:{}", expected_db.display()), "", e))?;
    // A scratch database: no journal, no syncing, and one transaction for all the marks (a
    // commit per marked row would sync once per row).
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; BEGIN")
        .map_err(|e| Error::driver(format!("sqlite:{}", expected_db.display()), "", e))?;
    let resolution = target.time_resolution()?;
    v.v.time_resolution_ns = u64::try_from(resolution.as_nanos()).unwrap_or(u64::MAX);
    let cmp = Compare {
        cancel: &opts.cancel,
        key: &target_key,
        touched: touched.as_ref(),
        resolution: chrono::Duration::nanoseconds(
            i64::try_from(v.v.time_resolution_ns).unwrap_or(i64::MAX),
        ),
    };
    for def in TABLES {
        cmp.table(&conn, def.table, target, &mut v)?;
    }
    drop(conn);
    if let Some(dir) = files_dir {
        compare_files(&expected_files, dir, merging, &mut v)?;
    }
    Ok(v.v)
}

/// Where differences go as they are found: counted, and handed on.
struct Out<'a> {
    v: Verification,
    each: &'a mut dyn FnMut(&Difference),
}

impl Out<'_> {
    fn push(&mut self, d: Difference) {
        self.v.count(d.kind);
        (self.each)(&d);
    }
}

fn files_error(path: PathBuf, source: std::io::Error) -> Error {
    ErrorKind::Files { path, source }.into()
}

/// The columns a row is found by: the primary key, or for EventRelatedDocument (whose key is
/// an identity number the server gives) both its columns.
fn key_columns(table: Table) -> &'static [&'static str] {
    if table == Table::EventRelatedDocument {
        &["EventId", "RelatedDocumentId"]
    } else {
        table.def().primary_key
    }
}

/// A row's key as text, as differences name it.
fn key_text(table: Table, get: impl Fn(&str) -> Option<Value>) -> String {
    key_columns(table)
        .iter()
        .map(|c| {
            get(c)
                .and_then(|v| v.to_text())
                .unwrap_or_else(|| "NULL".into())
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The keys of the rows a merge inserted, updated or found (the backup's rows), kept in a
/// scratch database of their own rather than in memory: one per backup row.
struct Touched {
    conn: rusqlite::Connection,
    path: PathBuf,
    /// The first error while recording, returned by [`Touched::finish`] (the sink methods that
    /// record cannot all fail).
    failed: Option<Error>,
}

impl Touched {
    fn create(path: &Path) -> Result<Touched> {
        let err = |e| Error::driver(format!("sqlite:{}", path.display()), "", e);
        let conn = rusqlite::Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; \
             CREATE TABLE touched (tbl INTEGER NOT NULL, key TEXT NOT NULL, \
             PRIMARY KEY (tbl, key)) WITHOUT ROWID; BEGIN",
        )
        .map_err(err)?;
        Ok(Touched {
            conn,
            path: path.to_path_buf(),
            failed: None,
        })
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        Error::driver(format!("sqlite:{}", self.path.display()), "", e)
    }

    fn note(&mut self, row: &Row) {
        let k = key_text(row.table, |c| row.get(c).cloned());
        let done = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO touched (tbl, key) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(rusqlite::params![row.table as i64, k]));
        if let Err(e) = done {
            if self.failed.is_none() {
                self.failed = Some(self.err(e));
            }
        }
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))
    }

    fn contains(&self, table: Table, key: &str) -> Result<bool> {
        let mut s = self
            .conn
            .prepare_cached("SELECT 1 FROM touched WHERE tbl = ?1 AND key = ?2")
            .map_err(|e| self.err(e))?;
        s.exists(rusqlite::params![table as i64, key])
            .map_err(|e| self.err(e))
    }
}

/// A sink that records the key of every row a merge inserts, updates or finds: the backup's
/// rows. The target's own rows are the others.
struct Recorder {
    inner: SqliteSink,
    touched: Touched,
}

impl Recorder {
    fn note(&mut self, row: &Row) {
        self.touched.note(row);
    }
}

impl Sink for Recorder {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn prepare(&mut self, existing: Existing) -> Result<()> {
        self.inner.prepare(existing)
    }
    fn insert(&mut self, row: Row) -> Result<()> {
        self.note(&row);
        self.inner.insert(row)
    }
    fn commit(&mut self) -> Result<()> {
        self.inner.commit()
    }
    fn rollback(&mut self) -> Result<()> {
        self.inner.rollback()
    }
    fn as_merge(&mut self) -> Option<&mut dyn MergeSink> {
        Some(self)
    }
}

impl MergeSink for Recorder {
    fn existing_ids(&mut self, table: Table) -> Result<Vec<String>> {
        self.inner.existing_ids(table)
    }
    fn existing_names(&mut self, table: Table, column: &str) -> Result<Vec<(String, String)>> {
        self.inner.existing_names(table, column)
    }
    fn find(&mut self, table: Table, key: &[Value]) -> Result<Option<Row>> {
        let found = self.inner.find(table, key)?;
        if let Some(r) = &found {
            self.note(r);
        }
        Ok(found)
    }
    fn update(&mut self, row: Row) -> Result<()> {
        self.note(&row);
        self.inner.update(row)
    }
    fn delete(&mut self, table: Table, column: &str, value: &Value) -> Result<u64> {
        self.inner.delete(table, column, value)
    }
    fn names(&mut self, table: Table, column: &str) -> Result<Vec<(String, String)>> {
        self.inner.names(table, column)
    }
}

/// The column of the expected database that marks the rows a target row matched.
const SEEN: &str = "octo_verify_seen";

struct Compare<'a> {
    /// Checked per table and every 4096 rows: an interrupt stops the comparison too.
    cancel: &'a crate::pipeline::CancelToken,
    key: &'a MasterKey,
    /// When merging: the keys of the backup's rows.
    touched: Option<&'a Touched>,
    /// Times closer than this (with the same offset) are the same time as the target keeps it.
    resolution: chrono::Duration,
}

impl Compare<'_> {
    fn is_own(&self, table: Table, key: &str) -> Result<bool> {
        match self.touched {
            Some(t) => Ok(!t.contains(table, key)?),
            None => Ok(false),
        }
    }

    fn table(
        &self,
        conn: &rusqlite::Connection,
        table: Table,
        target: &mut dyn TargetRows,
        v: &mut Out<'_>,
    ) -> Result<()> {
        let def = table.def();
        let q = |n: &str| Dialect::Sqlite.name(n);
        let name = Dialect::Sqlite.table(def);
        let db_err = |e: rusqlite::Error| Error::driver("the expected rows", format!("{table}"), e);
        conn.execute_batch(&format!(
            "ALTER TABLE {name} ADD COLUMN {} INTEGER",
            q(SEEN)
        ))
        .map_err(db_err)?;
        let keys = key_columns(table);
        if table == Table::EventRelatedDocument {
            conn.execute_batch(&format!(
                "CREATE INDEX octo_verify_key ON {name} ({})",
                keys.iter().map(|k| q(k)).collect::<Vec<_>>().join(", ")
            ))
            .map_err(db_err)?;
        }
        let cols: Vec<_> = def.value_columns().collect();
        let col_list = cols
            .iter()
            .map(|c| q(c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let cond = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{} IS ?{}", q(k), i + 1))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut find = conn
            .prepare(&format!(
                "SELECT rowid, {col_list} FROM {name} WHERE {cond} AND {} IS NULL LIMIT 1",
                q(SEEN)
            ))
            .map_err(db_err)?;
        let mut mark = conn
            .prepare(&format!(
                "UPDATE {name} SET {} = 1 WHERE rowid = ?1",
                q(SEEN)
            ))
            .map_err(db_err)?;
        let read = |r: &rusqlite::Row<'_>, from: usize| -> Result<Vec<Value>> {
            cols.iter()
                .enumerate()
                .map(|(i, c)| {
                    let raw: rusqlite::types::Value = r.get(from + i).map_err(db_err)?;
                    from_sqlite(c.ty, raw).map_err(|e| {
                        Error::target("the expected rows", format!("{table}.{}: {e}", c.name))
                    })
                })
                .collect()
        };
        self.cancel.check()?;
        let present = target.has_table(table)?;
        if !present {
            v.push(Difference {
                kind: Kind::Missing,
                table: table.name().into(),
                id: "(the table)".into(),
                column: String::new(),
                expected: None,
                found: None,
                detail: String::new(),
            });
        }
        // A column the target lacks is named once, not as a NULL in every row.
        let absent = if present {
            target.missing_columns(table)?
        } else {
            Vec::new()
        };
        for c in &absent {
            v.push(Difference {
                kind: Kind::Missing,
                table: table.name().into(),
                id: format!("(the column {c})"),
                column: String::new(),
                expected: None,
                found: None,
                detail: String::new(),
            });
        }
        let mut each = |row: Row| -> Result<()> {
            v.v.rows_checked += 1;
            if v.v.rows_checked.is_multiple_of(4096) {
                self.cancel.check()?;
            }
            let id = key_text(table, |c| row.get(c).cloned());
            let key: Vec<&Value> = keys
                .iter()
                .map(|c| row.get(c).unwrap_or(&Value::Null))
                .collect();
            let mut rows = find
                .query(rusqlite::params_from_iter(key))
                .map_err(db_err)?;
            let hit = match rows.next().map_err(db_err)? {
                Some(r) => Some((r.get::<_, i64>(0).map_err(db_err)?, read(r, 1)?)),
                None => None,
            };
            drop(rows);
            let own = self.is_own(table, &id)?;
            match hit {
                Some((rowid, expected)) => {
                    mark.execute([rowid]).map_err(db_err)?;
                    if own {
                        v.push(row_difference(Kind::Kept, table, id));
                    } else {
                        self.row(table, &id, &expected, &row.values, &absent, v);
                    }
                }
                None if own => v.push(row_difference(Kind::Kept, table, id)),
                None => v.push(row_difference(Kind::Extra, table, id)),
            }
            Ok(())
        };
        if present {
            target.each_row(table, &mut each)?;
        }
        drop(find);
        drop(mark);
        let order = def
            .primary_key
            .iter()
            .map(|k| q(k))
            .collect::<Vec<_>>()
            .join(", ");
        let mut missing = conn
            .prepare(&format!(
                "SELECT {col_list} FROM {name} WHERE {} IS NULL ORDER BY {order}",
                q(SEEN)
            ))
            .map_err(db_err)?;
        let mut rows = missing.query([]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            let values = read(r, 0)?;
            let row = Row { table, values };
            v.v.rows_checked += 1;
            let id = key_text(table, |c| row.get(c).cloned());
            v.push(row_difference(Kind::Missing, table, id));
        }
        Ok(())
    }

    /// Compares a row's columns.
    fn row(
        &self,
        table: Table,
        id: &str,
        expected: &[Value],
        found: &[Value],
        absent: &[&str],
        v: &mut Out<'_>,
    ) {
        for ((c, e), f) in table.def().value_columns().zip(expected).zip(found) {
            if absent.contains(&c.name) {
                continue;
            }
            let mut diff = |column: String,
                            expected: Option<String>,
                            found: Option<String>,
                            detail: String| {
                v.push(Difference {
                    kind: Kind::Differs,
                    table: table.name().into(),
                    id: id.into(),
                    column,
                    expected,
                    found,
                    detail,
                })
            };
            if table == Table::KeyAllocation && c.name == "Allocated" {
                let (Value::Int(want), Value::Int(have)) = (e, f) else {
                    if e != f {
                        diff(
                            c.name.into(),
                            Some(render(e)),
                            Some(render(f)),
                            String::new(),
                        );
                    }
                    continue;
                };
                if have < want {
                    diff(
                        c.name.into(),
                        Some(format!("at least {want}")),
                        Some(have.to_string()),
                        String::new(),
                    );
                }
                continue;
            }
            if c.name == "JSON" {
                if let (Value::Text(e), Value::Text(f)) = (e, f) {
                    let want: Json = match serde_json::from_str(e) {
                        Ok(j) => j,
                        Err(_) => {
                            if e != f {
                                diff(
                                    c.name.into(),
                                    None,
                                    None,
                                    "the expected JSON does not parse".into(),
                                );
                            }
                            continue;
                        }
                    };
                    match serde_json::from_str::<Json>(f) {
                        Ok(have) => {
                            let mut out = Vec::new();
                            json_diff("JSON".into(), &want, &have, self.key, &mut out);
                            for (path, e, f, detail) in out {
                                diff(path, e, f, detail);
                            }
                        }
                        Err(err) => diff(
                            c.name.into(),
                            None,
                            None,
                            format!("found text that is not JSON ({err})"),
                        ),
                    }
                    continue;
                }
            }
            match (e, f) {
                (Value::Text(a), Value::Text(b)) => match compare_strings(a, b, self.key) {
                    Same::Yes => {}
                    Same::No => diff(
                        c.name.into(),
                        Some(render(e)),
                        Some(render(f)),
                        String::new(),
                    ),
                    Same::Sensitive(detail) => diff(c.name.into(), None, None, detail.into()),
                },
                (Value::DateTime(a), Value::DateTime(b))
                    if a.offset() == b.offset()
                        && self.resolution > chrono::Duration::nanoseconds(100)
                        && (*a - *b).abs() < self.resolution => {}
                _ if e.to_text() == f.to_text()
                    && std::mem::discriminant(e) == std::mem::discriminant(f) => {}
                _ => diff(
                    c.name.into(),
                    Some(render(e)),
                    Some(render(f)),
                    String::new(),
                ),
            }
        }
    }
}

fn row_difference(kind: Kind, table: Table, id: String) -> Difference {
    Difference {
        kind,
        table: table.name().into(),
        id,
        column: String::new(),
        expected: None,
        found: None,
        detail: String::new(),
    }
}

/// A column value as differences show it: text quoted as JSON strings are, NULL as `NULL`.
fn render(v: &Value) -> String {
    let quoted = |s: &str| serde_json::to_string(s).expect("a string serializes");
    match v {
        Value::Null => "NULL".into(),
        Value::Text(s) => quoted(&shorten(s)),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::DateTime(d) => quoted(&format_datetime(d)),
        Value::Guid(g) => quoted(&g.hyphenated().to_string()),
    }
}

/// How much of a long value a difference shows.
const SHOWN_CHARS: usize = 200;

fn shorten(s: &str) -> String {
    match s.char_indices().nth(SHOWN_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

enum Same {
    Yes,
    No,
    /// At least one side is a sensitive value: what differs, in words without either value.
    Sensitive(&'static str),
}

/// The plaintext of `s` if it is a sensitive value under `key`.
fn plaintext(s: &str, key: &MasterKey) -> Option<crate::crypto::Secret> {
    if !s.contains('|') {
        return None;
    }
    decrypt_value(key, s).ok()
}

/// Two texts compared: sensitive values (either side) by their plaintext, never shown.
fn compare_strings(e: &str, f: &str, key: &MasterKey) -> Same {
    match (plaintext(e, key), plaintext(f, key)) {
        (Some(a), Some(b)) if a.expose() == b.expose() => Same::Yes,
        (Some(_), Some(_)) => {
            Same::Sensitive("the sensitive value decrypts to another plaintext (values not shown)")
        }
        (Some(_), None) => Same::Sensitive(
            "the sensitive value is not one that decrypts under the target key (values not shown)",
        ),
        (None, Some(_)) => {
            Same::Sensitive("a sensitive value where a plain one was expected (values not shown)")
        }
        (None, None) if e == f => Same::Yes,
        (None, None) => Same::No,
    }
}

/// A JSON value as differences show it: compact, long text shortened, sensitive values
/// replaced by a mark.
fn render_json(j: &Json, key: &MasterKey) -> String {
    fn masked(j: &Json, key: &MasterKey) -> Json {
        match j {
            Json::String(s) if plaintext(s, key).is_some() => Json::String("(sensitive)".into()),
            Json::String(s) => Json::String(shorten(s)),
            Json::Array(a) => Json::Array(a.iter().map(|x| masked(x, key)).collect()),
            Json::Object(o) => {
                Json::Object(o.iter().map(|(k, x)| (k.clone(), masked(x, key))).collect())
            }
            other => other.clone(),
        }
    }
    let text = serde_json::to_string(&masked(j, key)).expect("JSON serializes");
    shorten(&text)
}

/// Whether two JSON numbers are the same number, however spelled (`1.50` and `1.5`, `1` and
/// `1.0`).
fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    a == b
        || (a.as_i64().is_some() && a.as_i64() == b.as_i64())
        || (a.as_u64().is_some() && a.as_u64() == b.as_u64())
        || matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
}

/// `(path, expected, found, detail)` of a JSON difference.
type JsonDiff = (String, Option<String>, Option<String>, String);

/// The `Id`s of an array's elements, when every element is an object with a distinct string
/// `Id` (variables, steps, actions): such arrays are compared element by `Id`, so one element
/// added or removed does not shift every later one.
fn ids_of(a: &[Json]) -> Option<Vec<&str>> {
    let ids: Vec<&str> = a
        .iter()
        .map(|x| x.get("Id").and_then(Json::as_str))
        .collect::<Option<_>>()?;
    let distinct: HashSet<&str> = ids.iter().copied().collect();
    (distinct.len() == ids.len()).then_some(ids)
}

/// Every difference between `want` and `have` below `path`: property order and number
/// spelling do not count, sensitive values are compared by plaintext.
fn json_diff(path: String, want: &Json, have: &Json, key: &MasterKey, out: &mut Vec<JsonDiff>) {
    let shown = |j: &Json| Some(render_json(j, key));
    match (want, have) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, x) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(y) => json_diff(p, x, y, key, out),
                    None => out.push((p, shown(x), None, String::new())),
                }
            }
            for (k, y) in b {
                if !a.contains_key(k) {
                    out.push((format!("{path}.{k}"), None, shown(y), String::new()));
                }
            }
        }
        (Json::Array(a), Json::Array(b)) => match (ids_of(a), ids_of(b)) {
            (Some(ia), Some(ib)) if !a.is_empty() || !b.is_empty() => {
                for (x, id) in a.iter().zip(&ia) {
                    let p = format!("{path}[Id={id}]");
                    match ib.iter().position(|j| j == id) {
                        Some(i) => json_diff(p, x, &b[i], key, out),
                        None => out.push((p, shown(x), None, String::new())),
                    }
                }
                for (y, id) in b.iter().zip(&ib) {
                    if !ia.contains(id) {
                        out.push((format!("{path}[Id={id}]"), None, shown(y), String::new()));
                    }
                }
            }
            _ => {
                for i in 0..a.len().max(b.len()) {
                    let p = format!("{path}[{i}]");
                    match (a.get(i), b.get(i)) {
                        (Some(x), Some(y)) => json_diff(p, x, y, key, out),
                        (Some(x), None) => out.push((p, shown(x), None, String::new())),
                        (None, Some(y)) => out.push((p, None, shown(y), String::new())),
                        (None, None) => {}
                    }
                }
            }
        },
        (Json::Number(x), Json::Number(y)) => {
            if !same_number(x, y) {
                out.push((path, shown(want), shown(have), String::new()));
            }
        }
        (Json::String(x), Json::String(y)) => match compare_strings(x, y, key) {
            Same::Yes => {}
            Same::No => out.push((path, shown(want), shown(have), String::new())),
            Same::Sensitive(d) => out.push((path, None, None, d.into())),
        },
        _ => {
            if want != have {
                out.push((path, shown(want), shown(have), String::new()));
            }
        }
    }
}

/// The folders of the files folder that verify compares.
const FILE_DIRS: [&str; 2] = [TASK_LOG_DIR, ARTIFACT_DIR];

/// Every expected file compared with the target's, byte for byte; then every target file no
/// expected file explains (extra, or kept after a merge).
fn compare_files(expected: &Path, target: &Path, merging: bool, v: &mut Out<'_>) -> Result<()> {
    let mut diffs = Vec::new();
    for top in FILE_DIRS {
        walk(&expected.join(top), &mut |path| {
            let rel = path.strip_prefix(expected).expect("below the folder");
            let found = target.join(rel);
            v.v.files_checked += 1;
            if let Some(d) = compare_file(path, &found, rel)? {
                diffs.push(d);
            }
            Ok(())
        })?;
    }
    for top in FILE_DIRS {
        walk(&target.join(top), &mut |path| {
            let rel = path.strip_prefix(target).expect("below the folder");
            if !expected.join(rel).is_file() {
                v.v.files_checked += 1;
                diffs.push(file_difference(
                    if merging { Kind::Kept } else { Kind::Extra },
                    rel,
                    String::new(),
                ));
            }
            Ok(())
        })?;
    }
    diffs.sort_by(|a, b| a.id.cmp(&b.id).then(a.kind.cmp(&b.kind)));
    for d in diffs {
        v.push(d);
    }
    Ok(())
}

fn file_difference(kind: Kind, rel: &Path, detail: String) -> Difference {
    Difference {
        kind,
        table: "file".into(),
        id: rel.to_string_lossy().replace('\\', "/"),
        column: String::new(),
        expected: None,
        found: None,
        detail,
    }
}

/// Calls `each` with every file below `dir` (none if `dir` does not exist).
fn walk(dir: &Path, each: &mut dyn FnMut(&Path) -> Result<()>) -> Result<()> {
    if dir.is_file() {
        // A file where the folder should be (`TaskLogs` as a file): a file like any other.
        return each(dir);
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(files_error(dir.to_path_buf(), e)),
    };
    for e in entries {
        let e = e.map_err(|e| files_error(dir.to_path_buf(), e))?;
        let path = e.path();
        let ty = e.file_type().map_err(|e| files_error(path.clone(), e))?;
        if ty.is_dir() {
            walk(&path, each)?;
        } else {
            each(&path)?;
        }
    }
    Ok(())
}

/// Compares two files as they stream (64 KiB at a time); `None` when they are equal.
fn compare_file(expected: &Path, found: &Path, rel: &Path) -> Result<Option<Difference>> {
    let mut b = match std::fs::File::open(found) {
        Ok(f) if found.is_file() => f,
        Ok(_) => {
            return Ok(Some(file_difference(
                Kind::Differs,
                rel,
                "a folder where a file was expected".into(),
            )))
        }
        // Not there, or a file where one of its folders should be.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Some(file_difference(Kind::Missing, rel, String::new())))
        }
        Err(e) => return Err(files_error(found.to_path_buf(), e)),
    };
    let mut a =
        std::fs::File::open(expected).map_err(|e| files_error(expected.to_path_buf(), e))?;
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let (mut offset, mut line) = (0u64, 1u64);
    loop {
        let na = read_full(&mut a, &mut ba).map_err(|e| files_error(expected.to_path_buf(), e))?;
        let nb = read_full(&mut b, &mut bb).map_err(|e| files_error(found.to_path_buf(), e))?;
        let n = na.min(nb);
        if let Some(i) = (0..n).find(|&i| ba[i] != bb[i]) {
            line += memchr::memchr_iter(b'\n', &ba[..i]).count() as u64;
            return Ok(Some(sizes_differ(
                rel,
                offset + i as u64,
                line,
                expected,
                found,
            )));
        }
        if na != nb {
            line += memchr::memchr_iter(b'\n', &ba[..n]).count() as u64;
            return Ok(Some(sizes_differ(
                rel,
                offset + n as u64,
                line,
                expected,
                found,
            )));
        }
        if na == 0 {
            return Ok(None);
        }
        line += memchr::memchr_iter(b'\n', &ba[..n]).count() as u64;
        offset += n as u64;
    }
}

fn sizes_differ(rel: &Path, at: u64, line: u64, expected: &Path, found: &Path) -> Difference {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    file_difference(
        Kind::Differs,
        rel,
        format!(
            "differs from byte {at} (line {line}): expected {} bytes, found {}",
            len(expected),
            len(found)
        ),
    )
}

/// Reads until `buf` is full or the file ends.
fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::parse("AAECAwQFBgcICQoLDA0ODw==").unwrap()
    }

    fn diffs(a: &str, b: &str) -> Vec<JsonDiff> {
        let mut out = Vec::new();
        json_diff(
            "JSON".into(),
            &serde_json::from_str(a).unwrap(),
            &serde_json::from_str(b).unwrap(),
            &key(),
            &mut out,
        );
        out
    }

    #[test]
    fn json_compares_values_not_spelling_and_names_the_path() {
        assert!(diffs(
            r#"{"a":1.50,"b":[1,2],"c":{"d":1}}"#,
            r#"{"c":{"d":1.0},"b":[1,2],"a":1.5}"#
        )
        .is_empty());
        assert_eq!(
            diffs(
                r#"{"Description":"x","N":1}"#,
                r#"{"N":1,"Description":"y"}"#
            ),
            vec![(
                "JSON.Description".into(),
                Some("\"x\"".into()),
                Some("\"y\"".into()),
                String::new()
            )]
        );
        assert_eq!(
            diffs(
                r#"{"V":[{"Id":"a","Value":"1"},{"Id":"b","Value":"2"}]}"#,
                r#"{"V":[{"Id":"b","Value":"3"}]}"#
            ),
            vec![
                (
                    "JSON.V[Id=a]".into(),
                    Some(r#"{"Id":"a","Value":"1"}"#.into()),
                    None,
                    String::new()
                ),
                (
                    "JSON.V[Id=b].Value".into(),
                    Some("\"2\"".into()),
                    Some("\"3\"".into()),
                    String::new()
                ),
            ]
        );
        assert_eq!(
            diffs(r#"{"a":1}"#, r#"{"a":1,"b":null}"#),
            vec![("JSON.b".into(), None, Some("null".into()), String::new())]
        );
    }

    #[test]
    fn sensitive_values_compare_by_plaintext_and_are_never_shown() {
        let k = key();
        let one = crate::crypto::encrypt_value(&k, "hunter2");
        let again = crate::crypto::encrypt_value(&k, "hunter2");
        let other = crate::crypto::encrypt_value(&k, "hunter3");
        assert_ne!(one, again);
        let doc = |v: &str| format!(r#"{{"Value":{}}}"#, serde_json::to_string(v).unwrap());
        assert!(diffs(&doc(&one), &doc(&again)).is_empty());
        for found in [other.as_str(), "hunter2"] {
            let d = diffs(&doc(&one), &doc(found));
            assert_eq!(d.len(), 1);
            assert_eq!(d[0].0, "JSON.Value");
            assert_eq!((d[0].1.as_deref(), d[0].2.as_deref()), (None, None));
            assert!(!d[0].3.contains("hunter"), "{}", d[0].3);
        }
    }

    #[test]
    fn differences_print_without_debug_formatting() {
        let d = Difference {
            kind: Kind::Differs,
            table: "Project".into(),
            id: "Projects-1".into(),
            column: "Name".into(),
            expected: Some(render(&Value::Text("Acme.Web".into()))),
            found: Some(render(&Value::Text("Acme.Web.HACKED".into()))),
            detail: String::new(),
        };
        assert_eq!(
            d.to_string(),
            r#"differs: Project Projects-1 Name: expected "Acme.Web", found "Acme.Web.HACKED""#
        );
        assert_eq!(render(&Value::Null), "NULL");
        let m = row_difference(Kind::Missing, Table::Project, "Projects-3".into());
        assert_eq!(m.to_string(), "missing: Project Projects-3");
    }
}
