//! `verify`: after a migration, check the target against the backup. The backup is migrated
//! again into memory with the same options; every expected row must be in the target with the
//! same column values and an equivalent JSON (sensitive values compared by their plaintext
//! under the target key), KeyAllocation must be high enough, and the files must be there.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value as Json;

use crate::crypto::{decrypt_value, MasterKey};
use crate::error::{Error, Result};
use crate::pipeline::{migrate, Migration};
use crate::schema::{Row, Table, TABLES};
use crate::sink::sql::Dialect;
use crate::sink::MemorySink;

/// One difference between the backup and the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Difference {
    /// 3.x table.
    pub table: String,
    /// Row id (or key).
    pub id: String,
    /// Column, or `(row)` when the row is missing, or a file path.
    pub column: String,
    /// What differs.
    pub detail: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}: {}",
            self.table, self.id, self.column, self.detail
        )
    }
}

/// The outcome of `verify`.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Verification {
    /// Rows checked.
    pub rows_checked: u64,
    /// Files checked.
    pub files_checked: u64,
    /// Every difference found.
    pub differences: Vec<Difference>,
}

/// Replaces MK values (under `key`) by their plaintext, so two encryptions of one secret compare
/// equal and a value encrypted under another key does not.
fn normalize(v: &mut Json, key: &MasterKey) {
    match v {
        Json::String(s) if s.contains('|') => {
            if let Ok(p) = decrypt_value(key, s) {
                *s = format!("\u{0}plaintext:{}", p.expose());
            }
        }
        Json::Array(a) => a.iter_mut().for_each(|x| normalize(x, key)),
        Json::Object(o) => o.values_mut().for_each(|x| normalize(x, key)),
        _ => {}
    }
}

/// Verifies the SQLite database at `db` (and the files under `files_dir`, when it exists)
/// against the backup migrated as `migration` says (its files folder is ignored).
pub fn verify_sqlite(
    migration: Migration,
    db: &Path,
    files_dir: Option<PathBuf>,
) -> Result<Verification> {
    let (backup, key, mut opts) = migration.into_parts();
    let target_key = opts.target_key.clone().unwrap_or_else(|| key.clone());
    let mut expected = MemorySink::new();
    opts.files_dir = None;
    let backup_path = backup.as_path();
    let report = migrate(backup_path, &key, Some(&mut expected), &opts)?;
    let target = format!("sqlite:{}", db.display());
    if !db.exists() {
        return Err(Error::target(target, "the database does not exist"));
    }
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| Error::target(&target, e))?;
    let mut v = Verification::default();
    let mut by_table: BTreeMap<Table, Vec<&Row>> = BTreeMap::new();
    for r in expected.rows() {
        by_table.entry(r.table).or_default().push(r);
    }
    for def in TABLES {
        let rows = by_table.remove(&def.table).unwrap_or_default();
        let cols: Vec<_> = def.value_columns().collect();
        let sql = Dialect::Sqlite.all_rows_sql(def);
        let mut stmt = match conn.prepare(&sql) {
            Ok(s) => s,
            Err(e) => {
                if !rows.is_empty() {
                    v.differences.push(Difference {
                        table: def.table.name().into(),
                        id: "(table)".into(),
                        column: "(table)".into(),
                        detail: format!("cannot read the table: {e}"),
                    });
                }
                continue;
            }
        };
        let actual: Vec<Vec<Option<String>>> = stmt
            .query_map([], |r| {
                (0..cols.len())
                    .map(|i| {
                        Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                            rusqlite::types::Value::Null => None,
                            rusqlite::types::Value::Integer(n) => Some(n.to_string()),
                            rusqlite::types::Value::Text(t) => Some(t),
                            other => Some(format!("{other:?}")),
                        })
                    })
                    .collect()
            })
            .and_then(|it| it.collect::<rusqlite::Result<_>>())
            .map_err(|e| Error::target(&target, e))?;
        // Key: the primary key's columns (EventRelatedDocument: the whole row).
        let key_of = |vals: &[Option<String>]| -> String {
            if def.table == Table::EventRelatedDocument {
                return format!("{:?}", vals);
            }
            def.primary_key
                .iter()
                .map(|pk| {
                    let i = cols.iter().position(|c| c.name == *pk).expect("pk column");
                    vals[i].clone().unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join("|")
        };
        let mut actual_by_key: HashMap<String, Vec<Option<String>>> = HashMap::new();
        for a in actual {
            actual_by_key.insert(key_of(&a), a);
        }
        for row in rows {
            v.rows_checked += 1;
            let want: Vec<Option<String>> = row.values.iter().map(|x| x.to_text()).collect();
            let k = key_of(&want);
            let Some(have) = actual_by_key.get(&k) else {
                v.differences.push(Difference {
                    table: def.table.name().into(),
                    id: k,
                    column: "(row)".into(),
                    detail: "missing from the target".into(),
                });
                continue;
            };
            for (i, c) in cols.iter().enumerate() {
                let (w, h) = (&want[i], &have[i]);
                let same = if def.table == Table::KeyAllocation && c.name == "Allocated" {
                    let wn: i64 = w.as_deref().and_then(|x| x.parse().ok()).unwrap_or(0);
                    let hn: i64 = h.as_deref().and_then(|x| x.parse().ok()).unwrap_or(-1);
                    hn >= wn
                } else if c.name == "JSON" {
                    match (
                        w.as_deref().map(serde_json::from_str::<Json>),
                        h.as_deref().map(serde_json::from_str::<Json>),
                    ) {
                        (Some(Ok(mut a)), Some(Ok(mut b))) => {
                            normalize(&mut a, &target_key);
                            normalize(&mut b, &target_key);
                            a == b
                        }
                        _ => false,
                    }
                } else {
                    w == h
                };
                if !same {
                    v.differences.push(Difference {
                        table: def.table.name().into(),
                        id: k.clone(),
                        column: c.name.into(),
                        detail: if c.name == "JSON" {
                            "the JSON is not equivalent".into()
                        } else {
                            format!("expected {:?}, found {:?}", w, h)
                        },
                    });
                }
            }
        }
    }
    if let Some(dir) = files_dir.filter(|d| d.is_dir()) {
        let b = crate::backup::Backup::open(backup_path, &key)?;
        let missing = |v: &mut Verification, table: &str, id: &str, path: PathBuf| {
            v.files_checked += 1;
            if !path.is_file() {
                v.differences.push(Difference {
                    table: table.into(),
                    id: id.into(),
                    column: "(file)".into(),
                    detail: format!("{} is missing", path.display()),
                });
            }
        };
        if opts.task_logs == crate::pipeline::TaskLogs::Convert {
            for t in expected.table(Table::ServerTask) {
                if let Some(crate::sink::Value::Text(id)) = t.get("Id") {
                    if b.has_activity_log(id) {
                        let path = dir
                            .join(crate::layout::TASK_LOG_DIR)
                            .join(crate::pipeline::files::task_log_file_name(id));
                        missing(&mut v, "ServerTask", id, path);
                    }
                }
            }
        }
        for a in expected.table(Table::Artifact) {
            if let (Some(crate::sink::Value::Text(id)), Some(crate::sink::Value::Text(name))) =
                (a.get("Id"), a.get("Filename"))
            {
                if report.artifacts_without_content.contains(id) {
                    continue;
                }
                let path = dir
                    .join(crate::layout::ARTIFACT_DIR)
                    .join(crate::pipeline::files::safe_file_name(&id.to_lowercase()))
                    .join(crate::pipeline::files::safe_file_name(name));
                missing(&mut v, "Artifact", id, path);
            }
        }
    }
    Ok(v)
}
