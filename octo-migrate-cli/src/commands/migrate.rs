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

use super::{
    default_files_dir, migration_of, require_target_key, source_key, target_key_of, target_of,
    TargetSpec,
};
use crate::args::MigrateArgs;
use crate::exit::{self, Failure};

/// The SQL Server sink for `t`. Nothing is contacted here: the pipeline's `prepare` connects,
/// so an unreachable server is a target failure (exit 5), not a usage error.
#[cfg(feature = "mssql")]
fn open_mssql(
    t: MssqlTarget,
    create_schema: bool,
    ca: Option<&Path>,
) -> Result<Box<dyn Sink>, Failure> {
    let mut opts = MssqlOptions::default();
    opts.create_schema = create_schema;
    opts.trust_cert_ca = ca.map(Path::to_path_buf);
    if t.trust_server_certificate && ca.is_some() {
        return Err(Failure::Usage(
            "--target-ca-file and TrustServerCertificate=true exclude each other: give one".into(),
        ));
    }
    Ok(Box::new(MssqlSink::new(t, opts)))
}

/// Without the `mssql` feature there is no SQL Server sink.
#[cfg(not(feature = "mssql"))]
fn open_mssql(
    t: MssqlTarget,
    create_schema: bool,
    ca: Option<&Path>,
) -> Result<Box<dyn Sink>, Failure> {
    let _ = (create_schema, ca);
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

/// Whether two resolved paths name one file. Windows' file systems ignore case
/// (`OCTOPUS3.DB` is `octopus3.db`), so there they are compared without it.
fn same_file_name(a: &Path, b: &Path) -> bool {
    if cfg!(windows) {
        a.as_os_str().to_string_lossy().to_lowercase()
            == b.as_os_str().to_string_lossy().to_lowercase()
    } else {
        a == b
    }
}

/// Checked before anything runs: the report and `tentacles.csv` beside it may not be one of
/// the migration's own files (the backup, a key file, the target database) nor each other,
/// and their folder must take a new file; so that a run never fails, after committing, for a
/// report it cannot write, nor overwrites what it reads.
fn check_report_path(report: &Path, own: &[&Path]) -> Result<(), Failure> {
    let csv = report.with_file_name("tentacles.csv");
    let (r, c) = (resolved(report), resolved(&csv));
    if same_file_name(&r, &c) {
        return Err(Failure::Usage(format!(
            "--report {} would be overwritten by the tentacles.csv written beside it; name the report otherwise",
            report.display()
        )));
    }
    for o in own {
        let o = resolved(o);
        for (what, p) in [("--report", &r), ("the tentacles.csv beside --report", &c)] {
            if same_file_name(p, &o) {
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
    let report_path = a.report.as_deref().filter(|p| *p != Path::new("-"));
    // Its errors wait until the key's source is checked, as they always have.
    let spec = target_of(&a.target);
    if let Some(report) = report_path {
        let mut own: Vec<&Path> = vec![a.file.as_path()];
        own.extend(a.key.master_key_file.as_deref());
        own.extend(a.target.target_master_key_file.as_deref());
        own.extend(a.target.target_file.as_deref());
        own.extend(a.target.target_password_file.as_deref());
        if let Ok(TargetSpec::Sqlite(db)) = &spec {
            check_report_path(report, &[own.as_slice(), &[db.as_path()]].concat())?;
        } else {
            check_report_path(report, &own)?;
        }
    }
    let key = source_key(&a.key, a.quiet)?;
    let spec = spec?;
    let target_key = target_key_of(
        a.target.target_master_key.as_ref(),
        a.target.target_master_key_file.as_ref(),
    )?;
    // Only a run that writes sensitive values needs the 3.x key: not a dry run, nor
    // --onlylogs (task logs only).
    if !a.dry_run && !a.onlylogs {
        require_target_key(&spec, &target_key)?;
    }
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
        TargetSpec::Mssql(t) => Some(open_mssql(
            t,
            a.create_schema,
            a.target.target_ca_file.as_deref(),
        )?),
    };
    let outcome = match target.as_deref_mut() {
        Some(sink) => migration.run(sink),
        None => migration.dry_run(),
    };
    if let Some(r) = &reporter {
        r.finish();
    }
    // Results on stdout (the table, or one JSON document with --json or --report -), every
    // diagnostic on stderr.
    let json_out = a.json || a.report.as_deref() == Some(Path::new("-"));
    match outcome {
        Ok(report) => {
            if json_out {
                print_json(&report);
            } else {
                print_report(&report, a.quiet);
            }
            if !a.quiet {
                print_warnings(&report, report_path.is_some());
            }
            if let Some(p) = report_path {
                write_report(&report, p).map_err(|f| match f {
                    Failure::Io(m) if report.committed => Failure::NotFinished(m),
                    other => other,
                })?;
            }
            if !a.quiet && !json_out {
                print_next_steps(&a, &report, report_path);
            }
            Ok(ExitCode::from(if report.has_warnings() && !a.warnings_ok {
                exit::WARNINGS
            } else {
                0
            }))
        }
        Err(e) => {
            if let Some(r) = e.report() {
                // The failed run's report says why, in the words stderr does: redacted.
                let mut r = r.clone();
                r.error = r.error.map(|m| exit::redacted(&m));
                r.target = r.target.map(|m| exit::redacted(&m));
                if json_out {
                    print_json(&r);
                }
                if let Some(p) = report_path {
                    let _ = write_report(&r, p);
                }
            }
            Err(Failure::Core(e))
        }
    }
}

/// The report as one JSON document on stdout.
fn print_json(r: &Report) {
    let json = serde_json::to_string_pretty(r).expect("the report serializes");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{json}");
}

/// How many examples of a kind of warning are printed; the report has them all.
const PRINTED_EXAMPLES: usize = 3;

/// Each kind of warning once on stderr, with its count and the first few occurrences.
fn print_warnings(r: &Report, report_written: bool) {
    let mut err = std::io::stderr().lock();
    for w in &r.warnings {
        let _ = writeln!(err, "warning: {} x {}", w.count, w.message);
        for e in w.examples.iter().take(PRINTED_EXAMPLES) {
            let _ = writeln!(err, "  {e}");
        }
        let shown = w.examples.len().min(PRINTED_EXAMPLES) as u64;
        if w.count > shown && shown > 0 {
            let more = w.count - shown;
            let _ = if report_written {
                writeln!(err, "  and {more} more (see the report)")
            } else {
                writeln!(
                    err,
                    "  and {more} more (--report FILE lists the first ones)"
                )
            };
        }
    }
}

/// The rows the run inserted (or would), as the last line says them: a merge inserts only
/// what the target lacks.
fn summary_line(r: &Report) -> String {
    let t = r.totals();
    let rows = match &r.merge {
        Some(m) => {
            let (mut ins, mut rep, mut mer, mut kept) = (0, 0, 0, 0);
            for c in m.tables.values() {
                ins += c.inserted;
                rep += c.replaced;
                mer += c.merged;
                kept += c.kept;
            }
            format!(
                "merged ({}): {ins} rows inserted, {rep} replaced, {mer} combined, {kept} kept as the target had them",
                m.mode
            )
        }
        None => format!("{} rows", r.tables.values().sum::<u64>()),
    };
    format!(
        "{}: {} documents read, {} migrated, {} filtered, {} skipped, {} failed; {rows}{} in {:.2} s{}",
        if r.dry_run { "dry run" } else { "migrated" },
        t.read,
        t.migrated,
        t.filtered_by_maxage,
        t.skipped,
        t.failed,
        r.target.as_deref().map(|t| format!(" into {t}")).unwrap_or_default(),
        r.elapsed_seconds,
        match r.warnings.iter().map(|w| w.count).sum::<u64>() {
            0 => String::new(),
            n => format!("; {n} warning(s)"),
        }
    )
}

/// What to do next: the `verify` command that checks this very migration, and where the
/// report and the Tentacle list are.
fn print_next_steps(a: &MigrateArgs, r: &Report, report: Option<&Path>) {
    let mut out = std::io::stdout().lock();
    if r.dry_run {
        let _ = writeln!(
            out,
            "next: run the same command without --dry-run to migrate"
        );
        return;
    }
    if let Some(p) = report {
        let _ = writeln!(
            out,
            "report: {}; Tentacles to upgrade: {}",
            p.display(),
            p.with_file_name("tentacles.csv").display()
        );
    }
    let mut cmd = format!(
        "octo-migrate verify --file {}",
        quote(&a.file.display().to_string())
    );
    match (&a.key.master_key_file, &a.key.master_key) {
        (Some(f), _) => cmd += &format!(" --master-key-file {}", quote(&f.display().to_string())),
        (None, Some(_)) => cmd += " --master-key <KEY>",
        (None, None) => {} // from the environment, as this run took it
    }
    if a.target.target_master_key_file.is_some() || a.target.target_master_key.is_some() {
        match &a.target.target_master_key_file {
            Some(f) => {
                cmd += &format!(
                    " --target-master-key-file {}",
                    quote(&f.display().to_string())
                )
            }
            None => cmd += " --target-master-key <KEY>",
        }
    }
    match (&a.target.target, &a.target.target_file) {
        (Some(t), _) if t.starts_with("sqlite:") => cmd += &format!(" --target {}", quote(t)),
        (None, Some(f)) => cmd += &format!(" --target-file {}", quote(&f.display().to_string())),
        (Some(_), _) => cmd += " --target <the same target>",
        (None, None) => {} // the default, or from the environment, as this run took it
    }
    if let Some(d) = &a.target.files_dir {
        cmd += &format!(" --files-dir {}", quote(&d.display().to_string()));
    }
    if let Some(p) = report {
        // The report records every option that shapes the target, the "now" of --maxage too.
        cmd += &format!(" --report {}", quote(&p.display().to_string()));
    } else {
        if a.content.skip_unsupported_steps {
            cmd += " --skip-unsupported-steps";
        }
        if a.content.nologs {
            cmd += " --nologs";
        }
        if let (Some(days), Some(as_of)) = (r.options.max_age_days, &r.options.as_of) {
            cmd += &format!(" --maxage {days} --as-of {as_of}");
        }
        if a.overwrite {
            cmd += " --overwrite";
        } else if a.nooverwrite {
            cmd += " --nooverwrite";
        }
    }
    let _ = writeln!(out, "next: check it with: {cmd}");
}

/// `s`, quoted when it needs it for the shell people use there: POSIX sh on Unix, PowerShell on
/// Windows (where `\` and `:` are plain path characters, `,` and `@` are not, and a quote inside
/// single quotes is doubled).
fn quote(s: &str) -> String {
    let plain = if cfg!(windows) {
        "-_./:=+\\"
    } else {
        "-_./:=+,@"
    };
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || plain.contains(c))
    {
        s.to_owned()
    } else if cfg!(windows) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn print_report(r: &Report, quiet: bool) {
    let summary = summary_line(r);
    let mut out = std::io::stdout().lock();
    if !quiet {
        let _ = write!(out, "{r}");
    }
    let _ = writeln!(out, "{summary}");
}

/// A cell a spreadsheet will not run: one that starts like a formula (`=`, `+`, `-`, `@`, a
/// tab or a carriage return) gets a leading `'`, as OWASP advises for CSV injection.
fn inert(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

fn write_report(r: &Report, path: &Path) -> Result<(), Failure> {
    let io =
        |e: std::io::Error, p: &Path| Failure::Io(format!("cannot write {}: {e}", p.display()));
    let json = serde_json::to_string_pretty(r).expect("the report serializes");
    std::fs::write(path, json).map_err(|e| io(e, path))?;
    let csv_path = path.with_file_name("tentacles.csv");
    write_tentacles(r, &csv_path).map_err(|e| io(e, &csv_path))
}

/// `tentacles.csv`: one machine a row, what an administrator hands over to upgrade them.
fn write_tentacles(r: &Report, path: &Path) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "Id",
        "Name",
        "Uri",
        "Thumbprint",
        "CommunicationStyle",
        "Environments",
        "Roles",
        "IsDisabled",
    ])?;
    for t in &r.tentacles {
        w.write_record([
            inert(&t.id),
            inert(&t.name),
            inert(&t.uri),
            inert(&t.thumbprint),
            t.mode.clone(),
            inert(&t.environment_names.join(";")),
            inert(&t.roles.join(";")),
            t.disabled.to_string(),
        ])?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn words_of_the_next_command_are_quoted_for_this_platform_s_shell() {
        assert_eq!(quote("sqlite:octopus3.db"), "sqlite:octopus3.db");
        assert_eq!(quote("a b"), "'a b'");
        if cfg!(windows) {
            assert_eq!(quote(r"C:\Octopus\x.octobak"), r"C:\Octopus\x.octobak");
            assert_eq!(quote("it's here"), "'it''s here'");
            assert_eq!(quote("a,b"), "'a,b'");
        } else {
            assert_eq!(quote(r"C:\Octopus"), r"'C:\Octopus'");
            assert_eq!(quote("it's"), r"'it'\''s'");
            assert_eq!(quote("a,b"), "a,b");
        }
    }
}
