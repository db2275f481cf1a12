//! Subcommands: validate the raw arguments into library options, run, print.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use octo_migrate_core::crypto::MasterKey;
use octo_migrate_core::filter::Cutoff;
use octo_migrate_core::pipeline::{migrate, Merge, MigrateOptions};
use octo_migrate_core::report::Report;
use octo_migrate_core::sink::mssql_target::MssqlTarget;
#[cfg(feature = "mssql")]
use octo_migrate_core::sink::{MssqlOptions, MssqlSink};
use octo_migrate_core::sink::{Sink, SqliteSink};
use octo_migrate_sample::{self as sample, EntryForm, SampleOptions};

use zeroize::Zeroizing;

use crate::args::{
    Cli, Command, CopyArgs, GenerateArgs, InspectArgs, KeyArgs, MigrateArgs, VerifyArgs,
};
use crate::exit::{self, Failure};

/// The environment variable that may hold the 2.6 master key (cli.md).
pub const KEY_ENV: &str = "OCTO_MIGRATE_MASTER_KEY";

pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Migrate(a) => run_migrate(a),
        Command::GenerateSample(a) => run_generate(a),
        Command::Inspect(a) => run_inspect(a),
        Command::Verify(a) => run_verify(a),
        Command::CopyPackages(a) => run_copy(a),
    }
}

fn run_copy(a: CopyArgs) -> Result<ExitCode, Failure> {
    if !a.from.is_dir() {
        return Err(Failure::Usage(format!(
            "--from {} is not a folder",
            a.from.display()
        )));
    }
    let o = octo_migrate_core::packages::copy_packages(&a.from, &a.to)
        .map_err(|e| Failure::Io(format!("copying packages to {}: {e}", a.to.display())))?;
    for (p, why) in &o.rejected {
        println!("rejected {}: {why}", p.display());
    }
    println!(
        "copied {}, skipped {} (already there), rejected {}",
        o.copied.len(),
        o.skipped.len(),
        o.rejected.len()
    );
    Ok(ExitCode::from(if o.rejected.is_empty() {
        0
    } else {
        exit::WARNINGS
    }))
}

fn default_files_dir(db: &Path) -> PathBuf {
    db.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_key_of(
    key: Option<&String>,
    file: Option<&PathBuf>,
) -> Result<Option<MasterKey>, Failure> {
    match (key, file) {
        (Some(t), _) => Ok(Some(parse_key(t, "--target-master-key")?)),
        (None, Some(p)) => Ok(Some(read_key_file(p, "target master key")?)),
        (None, None) => Ok(None),
    }
}

fn maxage_of(days: Option<u32>, as_of: Option<&str>) -> Result<Option<Cutoff>, Failure> {
    match days {
        None => Ok(None),
        Some(d) => Ok(Some(Cutoff::new(d, parse_as_of(as_of)?))),
    }
}

fn run_verify(a: VerifyArgs) -> Result<ExitCode, Failure> {
    let key = source_key(&a.key, false)?;
    let db = sqlite_path(&a.target.target)?;
    let opts = MigrateOptions {
        target_key: target_key_of(
            a.target.target_master_key.as_ref(),
            a.target.target_master_key_file.as_ref(),
        )?,
        skip_unsupported_steps: a.content.skip_unsupported_steps,
        nologs: a.content.nologs,
        maxage: maxage_of(a.content.maxage, a.content.as_of.as_deref())?,
        ..MigrateOptions::default()
    };
    let files = Some(
        a.target
            .files_dir
            .clone()
            .unwrap_or_else(|| default_files_dir(&db)),
    );
    let v = octo_migrate_core::verify::verify_sqlite(&a.file, &key, &db, files, &opts)?;
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

fn parse_as_of(t: Option<&str>) -> Result<chrono::DateTime<chrono::FixedOffset>, Failure> {
    match t {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t.trim()).map_err(|_| {
            Failure::Usage(format!(
                "--as-of {t:?} is not an ISO-8601 time with an offset, e.g. 2015-06-30T00:00:00+00:00"
            ))
        }),
        None => Ok(chrono::Utc::now().fixed_offset()),
    }
}

fn run_inspect(a: InspectArgs) -> Result<ExitCode, Failure> {
    let key = source_key(&a.key, a.json)?;
    let as_of = parse_as_of(a.as_of.as_deref())?;
    let i = octo_migrate_core::inspect::inspect(&a.file, &key, as_of)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&i).expect("serializes"));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "Octopus version: {}",
        i.octopus_version.as_deref().unwrap_or("(no Backup.json)")
    );
    let _ = writeln!(out, "\n{:<40} {:>12} form", "entry", "bytes");
    for e in &i.entries {
        let _ = writeln!(
            out,
            "{:<40} {:>12} {}",
            e.name,
            e.size,
            if e.winzip_aes {
                "WinZip-AES"
            } else {
                "MK stream"
            }
        );
    }
    let _ = writeln!(
        out,
        "{:<40} {:>12} ({} task logs)",
        "ActivityLogs/*.log", i.activity_logs.bytes, i.activity_logs.count
    );
    let _ = writeln!(
        out,
        "\n{:<28} {:>10}   {:<34} {:<34}",
        "collection", "documents", "oldest", "newest"
    );
    for (c, n) in &i.collections {
        let (a, z) = i
            .date_ranges
            .get(c)
            .map(|r| (r.oldest.as_str(), r.newest.as_str()))
            .unwrap_or(("", ""));
        let _ = writeln!(out, "{c:<28} {n:>10}   {a:<34} {z:<34}");
    }
    let _ = writeln!(
        out,
        "({} system documents, {} attachments)",
        i.system_documents, i.attachments
    );
    let days: Vec<u32> = i.maxage_keeps.keys().copied().collect();
    let _ = write!(
        out,
        "\nkept by --maxage N (as of {})\n{:<28}",
        i.as_of, "collection"
    );
    for d in &days {
        let _ = write!(out, " {:>8}", format!("N={d}"));
    }
    let _ = writeln!(out, " {:>8}", "all");
    let mut names: Vec<&String> = i.maxage_keeps.values().flat_map(|m| m.keys()).collect();
    names.sort();
    names.dedup();
    for c in names {
        let _ = write!(out, "{c:<28}");
        for d in &days {
            let _ = write!(
                out,
                " {:>8}",
                i.maxage_keeps[d].get(c).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(out, " {:>8}", i.collections.get(c).copied().unwrap_or(0));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn parse_key(text: &str, source: &str) -> Result<MasterKey, Failure> {
    MasterKey::parse(text)
        .map_err(|e| Failure::Usage(format!("the master key from {source} is not valid: {e}")))
}

fn read_key_file(path: &Path, what: &str) -> Result<MasterKey, Failure> {
    let text = zeroize_string(std::fs::read_to_string(path).map_err(|e| {
        Failure::Usage(format!(
            "cannot read the {what} file {}: {e}",
            path.display()
        ))
    })?);
    parse_key(&text, &format!("{}", path.display()))
}

/// Key text read from a file or the environment, zeroed when dropped.
fn zeroize_string(s: String) -> Zeroizing<String> {
    Zeroizing::new(s)
}

fn source_key(k: &KeyArgs, quiet: bool) -> Result<MasterKey, Failure> {
    let env = std::env::var(KEY_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(zeroize_string);
    let given = [
        k.master_key.is_some(),
        k.master_key_file.is_some(),
        env.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if given != 1 {
        return Err(Failure::Usage(format!(
            "give the 2.6 master key exactly once: --master-key-file PATH, the environment variable {KEY_ENV}, or --master-key KEY ({given} given)"
        )));
    }
    if let Some(text) = &k.master_key {
        if !quiet {
            eprintln!(
                "warning: a master key on the command line is visible to other users of this machine; prefer --master-key-file or {KEY_ENV}"
            );
        }
        return parse_key(text, "--master-key");
    }
    if let Some(p) = &k.master_key_file {
        return read_key_file(p, "master key");
    }
    parse_key(env.as_ref().map(|s| s.as_str()).unwrap_or(""), KEY_ENV)
}

/// What `--target` names.
enum TargetSpec {
    /// `sqlite:PATH`.
    Sqlite(PathBuf),
    /// A SQL Server database (URL or ADO.NET connection string).
    Mssql(MssqlTarget),
}

fn target_spec(target: &str) -> Result<TargetSpec, Failure> {
    if let Some(p) = target.strip_prefix("sqlite:") {
        if p.is_empty() {
            return Err(Failure::Usage("--target sqlite: needs a file path".into()));
        }
        return Ok(TargetSpec::Sqlite(PathBuf::from(p)));
    }
    let lower = target.to_lowercase();
    if lower.starts_with("mssql://") || lower.contains("server=") || lower.contains("data source=")
    {
        return MssqlTarget::parse(target)
            .map(TargetSpec::Mssql)
            .map_err(|e| Failure::Usage(e.to_string()));
    }
    Err(Failure::Usage(format!(
        "--target must be sqlite:PATH or a SQL Server target (got {:?})",
        target.split(['@', ';']).next().unwrap_or("")
    )))
}

/// `sqlite:PATH` for the subcommands that only read SQLite targets.
fn sqlite_path(target: &str) -> Result<PathBuf, Failure> {
    match target_spec(target)? {
        TargetSpec::Sqlite(p) => Ok(p),
        TargetSpec::Mssql(t) => Err(Failure::Usage(format!(
            "this subcommand reads SQLite targets only (got {t})"
        ))),
    }
}

/// The SQL Server sink for `t`. Nothing is contacted here: the pipeline's `prepare` connects,
/// so an unreachable server is a target failure (exit 5), not a usage error.
#[cfg(feature = "mssql")]
fn open_mssql(t: MssqlTarget, create_schema: bool) -> Result<Box<dyn Sink>, Failure> {
    let opts = MssqlOptions {
        create_schema,
        ..MssqlOptions::default()
    };
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

fn run_migrate(a: MigrateArgs) -> Result<ExitCode, Failure> {
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
        (true, _) => Some(Merge::Overwrite),
        (_, true) => Some(Merge::Keep),
        _ => None,
    };
    let maxage = maxage_of(a.content.maxage, a.content.as_of.as_deref())?;
    let reporter = crate::progress::Reporter::new(a.quiet).map(std::sync::Arc::new);
    let opts = MigrateOptions {
        progress: reporter
            .clone()
            .map(|r| r as std::sync::Arc<dyn octo_migrate_core::pipeline::ProgressSink>),
        threads: a.threads,
        onlylogs: a.onlylogs,
        maxage,
        target_key,
        files_dir,
        skip_unsupported_steps: a.content.skip_unsupported_steps,
        nologs: a.content.nologs,
        merge,
    };
    // A dry run neither opens nor creates the target.
    let mut target: Option<Box<dyn Sink>> = match spec {
        _ if a.dry_run => None,
        TargetSpec::Sqlite(db) => Some(Box::new(SqliteSink::new(db))),
        TargetSpec::Mssql(t) => Some(open_mssql(t, a.create_schema)?),
    };
    let sink: Option<&mut dyn Sink> = target.as_deref_mut().map(|s| s as &mut dyn Sink);
    let outcome = migrate(&a.file, &key, sink, &opts);
    if let Some(r) = &reporter {
        r.finish();
    }
    match outcome {
        Ok(report) => {
            print_report(&report, a.quiet);
            if let Some(p) = &a.report {
                write_report(&report, p)?;
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

fn run_generate(a: GenerateArgs) -> Result<ExitCode, Failure> {
    let key = sample::sample_key(a.seed);
    let opts = SampleOptions {
        scale: a.scale,
        seed: a.seed,
        form: if a.winzip_aes {
            EntryForm::WinZipAes
        } else {
            EntryForm::MkStream
        },
        ..SampleOptions::default()
    };
    let summary = sample::write_sample_file(&a.out, &key, &opts)
        .map_err(|e| Failure::Io(format!("cannot write {}: {e}", a.out.display())))?;
    let key_file = a.key_file.clone().unwrap_or_else(|| {
        let mut p = a.out.clone().into_os_string();
        p.push(".key");
        PathBuf::from(p)
    });
    std::fs::write(&key_file, format!("{}\n", key.expose_base64()))
        .map_err(|e| Failure::Io(format!("cannot write {}: {e}", key_file.display())))?;
    println!(
        "wrote {} ({} bytes, {} documents) and its test master key {}",
        a.out.display(),
        summary.bytes,
        summary.total_documents(),
        key_file.display()
    );
    Ok(ExitCode::SUCCESS)
}
