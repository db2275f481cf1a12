//! `verify`: check a migrated SQLite target against the backup, row by row and file by file.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{default_files_dir, migration_of, source_key, target_key_of, target_of, TargetSpec};
use crate::args::VerifyArgs;
use crate::exit::{self, Failure};

pub(super) fn run(a: VerifyArgs) -> Result<ExitCode, Failure> {
    let key = source_key(&a.key, false)?;
    let db = sqlite_path(target_of(&a.target)?)?;
    let target_key = target_key_of(
        a.target.target_master_key.as_ref(),
        a.target.target_master_key_file.as_ref(),
    )?;
    let migration = migration_of(&a.file, &key, target_key, &a.content)?;
    let files = Some(
        a.target
            .files_dir
            .clone()
            .unwrap_or_else(|| default_files_dir(&db)),
    );
    let v = octo_migrate_core::verify::verify_sqlite(migration, &db, files)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("the outcome serializes")
        );
        return Ok(ExitCode::from(if v.differences.is_empty() {
            0
        } else {
            exit::WARNINGS
        }));
    }
    for d in &v.differences {
        println!("differs: {d}");
    }
    println!(
        "verified {} rows and {} files: {} difference(s)",
        v.rows_checked,
        v.files_checked,
        v.differences.len()
    );
    Ok(ExitCode::from(if v.differences.is_empty() {
        0
    } else {
        exit::WARNINGS
    }))
}

/// `sqlite:PATH` for the subcommands that only read SQLite targets.
fn sqlite_path(target: TargetSpec) -> Result<PathBuf, Failure> {
    match target {
        TargetSpec::Sqlite(p) => Ok(p),
        TargetSpec::Mssql(t) => Err(Failure::Usage(format!(
            "this subcommand reads SQLite targets only (got {t})"
        ))),
    }
}
