//! `migrate`: open the target named by `--target` (or none for a dry run), run the pipeline,
//! print the report and write it as JSON and tentacles.csv with `--report`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use octo_migrate_core::report::Report;
use octo_migrate_core::sink::mssql_target::MssqlTarget;
#[cfg(feature = "mssql")]
use octo_migrate_core::sink::{MssqlOptions, MssqlSink};
use octo_migrate_core::sink::{Sink, SqliteSink};
use octo_migrate_core::{Merge, TaskLogs};

use super::{default_files_dir, migration_of, source_key, target_key_of, target_spec, TargetSpec};
use crate::args::MigrateArgs;
use crate::exit::{self, Failure};

/// The SQL Server sink for `t`. Nothing is contacted here: the pipeline's `prepare` connects,
/// so an unreachable server is a target failure (exit 5), not a usage error.
#[cfg(feature = "mssql")]
fn open_mssql(t: MssqlTarget, create_schema: bool) -> Result<Box<dyn Sink>, Failure> {
    let mut opts = MssqlOptions::default();
    opts.create_schema = create_schema;
    Ok(Box::new(MssqlSink::new(t, opts)))
}

/// Without the `mssql` feature there is no SQL Server sink.
#[cfg(not(feature = "mssql"))]
fn open_mssql(t: MssqlTarget, create_schema: bool) -> Result<Box<dyn Sink>, Failure> {
    let _ = create_schema;
    Err(Failure::Usage(format!(
        "SQL Server targets ({t}) are not available in this version; use --target sqlite:PATH"
    )))
}

/// The path as it will be once it exists: canonical folder, same file name.
fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), p.file_name()) {
        (Ok(d), Some(n)) => d.join(n),
        _ => p.to_path_buf(),
    }
}

/// Checked before anything runs: the report and `tentacles.csv` beside it may not be one of
/// the migration's own files (the backup, a key file, the target database) nor each other,
/// and their folder must take a new file; so that a run never fails, after committing, for a
/// report it cannot write, nor overwrites what it reads.
fn check_report_path(report: &Path, own: &[&Path]) -> Result<(), Failure> {
    let csv = report.with_file_name("tentacles.csv");
    let (r, c) = (resolved(report), resolved(&csv));
    if r == c {
        return Err(Failure::Usage(format!(
            "--report {} would be overwritten by the tentacles.csv written beside it; name the report otherwise",
            report.display()
        )));
    }
    for o in own {
        let o = resolved(o);
        for (what, p) in [("--report", &r), ("the tentacles.csv beside --report", &c)] {
            if *p == o {
                return Err(Failure::Usage(format!(
                    "{what} ({}) is {}, which the migration reads or writes; choose another path",
                    p.display(),
                    o.display()
                )));
            }
        }
    }
    for p in [report, csv.as_path()] {
        if p.is_dir() {
            return Err(Failure::Usage(format!(
                "--report: {} is a folder, not a file",
                p.display()
            )));
        }
        let existed = p.exists();
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(p)
            .map_err(|e| Failure::Usage(format!("--report: cannot write {}: {e}", p.display())))?;
        if !existed {
            let _ = std::fs::remove_file(p);
        }
    }
    Ok(())
}

pub(super) fn run(a: MigrateArgs) -> Result<ExitCode, Failure> {
    if let Some(report) = &a.report {
        let mut own: Vec<&Path> = vec![a.file.as_path()];
        own.extend(a.key.master_key_file.as_deref());
        own.extend(a.target.target_master_key_file.as_deref());
        if let Ok(TargetSpec::Sqlite(db)) = target_spec(&a.target.target) {
            check_report_path(report, &[own.as_slice(), &[db.as_path()]].concat())?;
        } else {
            check_report_path(report, &own)?;
        }
    }
    let key = source_key(&a.key, a.quiet)?;
    let target_key = target_key_of(
        a.target.target_master_key.as_ref(),
        a.target.target_master_key_file.as_ref(),
    )?;
    let spec = target_spec(&a.target.target)?;
    let files_dir = match (&spec, &a.target.files_dir) {
        _ if a.dry_run => None,
        (_, Some(dir)) => Some(dir.clone()),
        (TargetSpec::Sqlite(db), None) => Some(default_files_dir(db)),
        (TargetSpec::Mssql(_), None) => {
            return Err(Failure::Usage(
                "--files-dir is required with a SQL Server target: it is where the 3.x server \
                 reads TaskLogs/ and Artifacts/"
                    .into(),
            ))
        }
    };
    let merge = match (a.overwrite, a.nooverwrite) {
        (true, _) => Merge::BackupWins,
        (_, true) => Merge::TargetWins,
        _ => Merge::Refuse,
    };
    let reporter = crate::progress::Reporter::new(a.quiet).map(std::sync::Arc::new);
    let mut migration = migration_of(&a.file, &key, target_key, &a.content)?
        .merge(merge)
        .cancel_token(crate::signals::cancel_on_interrupt());
    if a.onlylogs {
        migration = migration.task_logs(TaskLogs::Only);
    }
    if let Some(n) = std::num::NonZeroUsize::new(a.threads) {
        migration = migration.threads(n);
    }
    if let Some(r) = &reporter {
        migration = migration.progress(r.clone());
    }
    if let Some(dir) = files_dir {
        migration = migration.files_dir(dir);
    }
    // A dry run neither opens nor creates the target.
    let mut target: Option<Box<dyn Sink>> = match spec {
        _ if a.dry_run => None,
        TargetSpec::Sqlite(db) => Some(Box::new(SqliteSink::new(db))),
        TargetSpec::Mssql(t) => Some(open_mssql(t, a.create_schema)?),
    };
    let outcome = match target.as_deref_mut() {
        Some(sink) => migration.run(sink),
        None => migration.dry_run(),
    };
    if let Some(r) = &reporter {
        r.finish();
    }
    match outcome {
        Ok(report) => {
            print_report(&report, a.quiet);
            if let Some(p) = &a.report {
                write_report(&report, p).map_err(|f| match f {
                    Failure::Io(m) if report.committed => Failure::NotFinished(m),
                    other => other,
                })?;
            }
            Ok(ExitCode::from(if report.has_warnings() {
                exit::WARNINGS
            } else {
                0
            }))
        }
        Err(e) => {
            if let (Some(p), Some(r)) = (&a.report, e.report()) {
                let _ = write_report(r, p);
            }
            Err(Failure::Core(e))
        }
    }
}

fn print_report(r: &Report, quiet: bool) {
    let t = r.totals();
    let summary = format!(
        "{}: {} documents read, {} migrated, {} filtered, {} skipped, {} failed; {} rows{} in {:.2} s",
        if r.dry_run { "dry run" } else { "migrated" },
        t.read,
        t.migrated,
        t.filtered_by_maxage,
        t.skipped,
        t.failed,
        r.tables.values().sum::<u64>(),
        r.target.as_deref().map(|t| format!(" into {t}")).unwrap_or_default(),
        r.elapsed_seconds
    );
    let mut out = std::io::stdout().lock();
    if !quiet {
        let _ = write!(out, "{r}");
    }
    let _ = writeln!(out, "{summary}");
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn write_report(r: &Report, path: &Path) -> Result<(), Failure> {
    let io =
        |e: std::io::Error, p: &Path| Failure::Io(format!("cannot write {}: {e}", p.display()));
    let json = serde_json::to_string_pretty(r).expect("the report serializes");
    std::fs::write(path, json).map_err(|e| io(e, path))?;
    let csv = path.with_file_name("tentacles.csv");
    let mut text =
        String::from("Name,Uri,Thumbprint,CommunicationStyle,Environments,Roles,IsDisabled\n");
    for t in &r.tentacles {
        let row = [
            csv_field(&t.name),
            csv_field(&t.uri),
            csv_field(&t.thumbprint),
            t.mode.clone(),
            csv_field(&t.environments.join(";")),
            csv_field(&t.roles.join(";")),
            t.disabled.to_string(),
        ];
        text.push_str(&row.join(","));
        text.push('\n');
    }
    std::fs::write(&csv, text).map_err(|e| io(e, &csv))
}
