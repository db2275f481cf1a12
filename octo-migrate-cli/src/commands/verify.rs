//! `verify`: check a migrated target (SQLite or SQL Server) against the backup, in both
//! directions, row by row and file by file. Differences go to stdout (one line each, or one
//! JSON document), errors to stderr; exit 0 only when nothing differs.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use octo_migrate_core::report::Report;
use octo_migrate_core::sink::TargetRows;
use octo_migrate_core::verify::{self, Difference, Verification};
use octo_migrate_core::Merge;

use super::{default_files_dir, migration_of, source_key, target_key_of, target_of, TargetSpec};
use crate::args::VerifyArgs;
use crate::exit::{self, Failure};

pub(super) fn run(a: VerifyArgs) -> Result<ExitCode, Failure> {
    let key = source_key(&a.key, false)?;
    let target_key = target_key_of(
        a.target.target_master_key.as_ref(),
        a.target.target_master_key_file.as_ref(),
    )?;
    let spec = target_of(&a.target)?;
    let files_dir = match (&spec, &a.target.files_dir) {
        (_, Some(d)) => d.clone(),
        (TargetSpec::Sqlite(db), None) => default_files_dir(db),
        (TargetSpec::Mssql(_), None) => {
            return Err(Failure::Usage(
                "--files-dir is required with a SQL Server target: it is where the migration \
                 put TaskLogs/ and Artifacts/"
                    .into(),
            ))
        }
    };
    let migration = match &a.report {
        Some(path) => {
            let report = read_report(path)?;
            check_agrees(&a, &report)?;
            verify::migration_of_report(&a.file, &key, target_key.as_ref(), &report)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?
        }
        None => {
            let m = migration_of(&a.file, &key, target_key, &a.content)?;
            m.merge(merge_of(&a))
        }
    };
    // The backup is migrated again into a temporary folder first, which takes as long as the
    // migration did: its progress goes to stderr as migrate's does (Ctrl-C stops it).
    let reporter = crate::progress::Reporter::new(false).map(std::sync::Arc::new);
    let mut migration = migration.cancel_token(crate::signals::cancel_on_interrupt());
    if let Some(r) = &reporter {
        eprintln!("verify: migrating the backup again into a temporary folder, then comparing");
        migration = migration.progress(r.clone());
    }
    let mut target = open_target(spec, a.target.target_ca_file.as_deref())?;
    // Each difference is printed as it is found: nothing is held per difference.
    let mut out = Printer::new(a.json);
    let v = verify::verify_each(migration, target.as_mut(), Some(&files_dir), &mut |d| {
        out.difference(d)
    });
    if let Some(r) = &reporter {
        r.finish();
    }
    let v = v?;
    if v.time_resolution_ns > 100 {
        eprintln!(
            "note: {} keeps times to {} ns, not 100 ns; times are compared to {} ns",
            target.describe(),
            v.time_resolution_ns,
            v.time_resolution_ns
        );
    }
    out.finish(&v)?;
    Ok(ExitCode::from(if v.passed() {
        exit::SUCCESS
    } else {
        exit::WARNINGS
    }))
}

fn merge_of(a: &VerifyArgs) -> Merge {
    match (a.overwrite, a.nooverwrite) {
        (true, _) => Merge::BackupWins,
        (_, true) => Merge::TargetWins,
        _ => Merge::Refuse,
    }
}

fn read_report(path: &PathBuf) -> Result<Report, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read the report {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::Usage(format!(
            "{} is not a report written by migrate --report: {e}",
            path.display()
        ))
    })
}

/// Options given on the command line must say what the report says: a contradiction is a
/// usage error, never a silent choice of one of the two.
fn check_agrees(a: &VerifyArgs, r: &Report) -> Result<(), Failure> {
    let o = &r.options;
    let mut clash = Vec::new();
    // The report of another backup: told by its size, which the report records.
    if let Ok(m) = std::fs::metadata(&a.file) {
        if r.backup_bytes != 0 && m.len() != r.backup_bytes {
            clash.push(format!(
                "--file {} ({} bytes; the report's backup, {}, had {})",
                a.file.display(),
                m.len(),
                r.backup,
                r.backup_bytes
            ));
        }
    }
    let c = &a.content;
    if c.skip_unsupported_steps && !o.skip_unsupported_steps {
        clash.push("--skip-unsupported-steps (the migration ran without it)".to_owned());
    }
    if c.nologs && o.task_logs != "skip" {
        clash.push("--nologs (the migration converted task logs)".to_owned());
    }
    if let Some(days) = c.maxage {
        if o.max_age_days != Some(days) {
            clash.push(match o.max_age_days {
                Some(d) => format!("--maxage {days} (the migration kept {d} days)"),
                None => format!("--maxage {days} (the migration kept all history)"),
            });
        }
    }
    if let Some(t) = &c.as_of {
        let given = chrono::DateTime::parse_from_rfc3339(t.trim()).ok();
        let recorded = o
            .as_of
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if given.is_none() || given != recorded {
            clash.push(format!(
                "--as-of {t} (the migration counted from {})",
                o.as_of.as_deref().unwrap_or("no time: it kept all history")
            ));
        }
    }
    let recorded_merge = match o.merge.as_str() {
        "backup_wins" => Merge::BackupWins,
        "target_wins" => Merge::TargetWins,
        _ => Merge::Refuse,
    };
    if (a.overwrite || a.nooverwrite) && merge_of(a) != recorded_merge {
        let given = if a.overwrite {
            "--overwrite"
        } else {
            "--nooverwrite"
        };
        clash.push(format!(
            "{given} (the migration's merge mode was {})",
            match recorded_merge {
                Merge::BackupWins => "--overwrite",
                Merge::TargetWins => "--nooverwrite",
                _ => "none: it migrated into an empty target",
            }
        ));
    }
    if clash.is_empty() {
        return Ok(());
    }
    Err(Failure::Usage(format!(
        "options that contradict the report {}: {}; leave them out, --report gives them",
        a.report.as_ref().expect("checked with a report").display(),
        clash.join("; ")
    )))
}

fn open_target(
    spec: TargetSpec,
    ca: Option<&std::path::Path>,
) -> Result<Box<dyn TargetRows>, Failure> {
    match spec {
        TargetSpec::Sqlite(db) => Ok(Box::new(octo_migrate_core::sink::SqliteRows::open(db))),
        TargetSpec::Mssql(t) => open_mssql(t, ca),
    }
}

#[cfg(feature = "mssql")]
fn open_mssql(
    t: octo_migrate_core::sink::mssql_target::MssqlTarget,
    ca: Option<&std::path::Path>,
) -> Result<Box<dyn TargetRows>, Failure> {
    use octo_migrate_core::sink::{MssqlOptions, MssqlRows};
    if t.trust_server_certificate && ca.is_some() {
        return Err(Failure::Usage(
            "--target-ca-file and TrustServerCertificate=true exclude each other: give one".into(),
        ));
    }
    let mut opts = MssqlOptions::default();
    opts.trust_cert_ca = ca.map(std::path::Path::to_path_buf);
    Ok(Box::new(MssqlRows::open(t, opts)))
}

#[cfg(not(feature = "mssql"))]
fn open_mssql(
    t: octo_migrate_core::sink::mssql_target::MssqlTarget,
    ca: Option<&std::path::Path>,
) -> Result<Box<dyn TargetRows>, Failure> {
    let _ = ca;
    Err(Failure::Usage(format!(
        "SQL Server targets ({t}) are not available in this version; use --target sqlite:PATH"
    )))
}

/// Differences to stdout as they come (lines, or the `differences` array of one JSON
/// document), then the summary line (or the document's counts). The first write error is
/// kept and reported at the end; a closed pipe is not an error.
struct Printer {
    out: std::io::BufWriter<std::io::Stdout>,
    json: bool,
    first: bool,
    failed: Option<std::io::Error>,
}

impl Printer {
    fn new(json: bool) -> Printer {
        Printer {
            out: std::io::BufWriter::new(std::io::stdout()),
            json,
            first: true,
            failed: None,
        }
    }

    fn write(
        &mut self,
        f: impl FnOnce(&mut std::io::BufWriter<std::io::Stdout>) -> std::io::Result<()>,
    ) {
        if self.failed.is_none() {
            if let Err(e) = f(&mut self.out) {
                self.failed = Some(e);
            }
        }
    }

    fn difference(&mut self, d: &Difference) {
        let (json, first) = (self.json, self.first);
        self.first = false;
        self.write(|o| {
            if !json {
                return writeln!(o, "{d}");
            }
            let text = serde_json::to_string(d).map_err(std::io::Error::from)?;
            write!(
                o,
                "{}\n    {text}",
                if first {
                    "{\n  \"differences\": ["
                } else {
                    ","
                }
            )
        });
    }

    fn finish(mut self, v: &Verification) -> Result<(), Failure> {
        let (json, first) = (self.json, self.first);
        self.write(|o| {
            if json {
                // The counts after the differences, in the same document.
                let serde_json::Value::Object(mut fields) =
                    serde_json::to_value(v).map_err(std::io::Error::from)?
                else {
                    unreachable!("a struct serializes to an object")
                };
                fields.remove("differences");
                write!(o, "{}", if first { "{\n  \"differences\": [" } else { "" })?;
                write!(o, "\n  ]")?;
                for (k, val) in fields {
                    write!(o, ",\n  {}: {}", serde_json::Value::String(k), val)?;
                }
                writeln!(o, "\n}}")
            } else {
                writeln!(
                    o,
                    "verified {} rows and {} files: {}: {}",
                    v.rows_checked,
                    v.files_checked,
                    v.counts(),
                    if v.passed() {
                        "the target holds what the backup gives"
                    } else {
                        "the target differs from the backup"
                    }
                )
            }
        });
        self.write(|o| o.flush());
        match self.failed {
            Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(Failure::Io(format!("cannot write to stdout: {e}")))
            }
            _ => Ok(()),
        }
    }
}
