//! Subcommands: validate the raw arguments into library options, run, print. One file per
//! subcommand; this one dispatches and holds what several of them share (the master keys,
//! `--target`, `--maxage`/`--as-of`, the default files folder).

mod completions;
mod copy_packages;
mod generate_sample;
mod inspect;
mod man;
mod migrate;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use octo_migrate_core::sink::mssql_target::MssqlTarget;
use octo_migrate_core::{MasterKey, Migration, TaskLogs};

use zeroize::Zeroizing;

use crate::args::{Cli, Command, KeyArgs};
use crate::exit::Failure;

/// The environment variable that may hold the 2.6 master key (docs/cli.md).
pub const KEY_ENV: &str = "OCTO_MIGRATE_MASTER_KEY";

pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Migrate(a) => migrate::run(a),
        Command::GenerateSample(a) => generate_sample::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Verify(a) => verify::run(a),
        Command::CopyPackages(a) => copy_packages::run(a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
    }
}

/// Prints what `completions` or `man` generated. A reader that stops early (`| head`) is not
/// an error.
fn print_generated(text: &[u8]) -> Result<ExitCode, Failure> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::Io(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
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

/// The migration the options that change its result describe (shared by `migrate` and
/// `verify`, so that both mean the same by them).
fn migration_of(
    file: &Path,
    key: &MasterKey,
    target_key: Option<MasterKey>,
    content: &crate::args::ContentArgs,
) -> Result<Migration, Failure> {
    let mut m = Migration::new(file, key)
        .skip_unsupported_steps(content.skip_unsupported_steps)
        .task_logs(if content.nologs {
            TaskLogs::Skip
        } else {
            TaskLogs::Convert
        });
    if let Some(k) = &target_key {
        m = m.target_key(k);
    }
    if let Some(days) = content.maxage {
        m = m
            .max_age_days(days)
            .as_of(parse_as_of(content.as_of.as_deref())?);
    }
    Ok(m)
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

fn parse_key(text: &str, source: &str) -> Result<MasterKey, Failure> {
    MasterKey::parse(text)
        .map_err(|e| Failure::Usage(format!("the master key from {source} is not valid: {e}")))
}

fn read_key_file(path: &Path, what: &str) -> Result<MasterKey, Failure> {
    let cannot = |e: &dyn std::fmt::Display| {
        Failure::Usage(format!(
            "cannot read the {what} file {}: {e}",
            path.display()
        ))
    };
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| cannot(&e))?);
    let text = zeroize_string(key_text(&bytes).map_err(|e| cannot(&e))?);
    parse_key(&text, &format!("{}", path.display()))
}

/// The text of a key file as Windows tools write it too: UTF-8 with or without a byte-order
/// mark, or UTF-16 with one (Windows PowerShell 5.1's `>` and `Out-File` write UTF-16LE).
fn key_text(bytes: &[u8]) -> Result<String, &'static str> {
    let utf16 = |b: &[u8], from: fn([u8; 2]) -> u16| {
        if !b.len().is_multiple_of(2) {
            return Err("an odd number of bytes in UTF-16 text");
        }
        let units = b.chunks_exact(2).map(|c| from([c[0], c[1]]));
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| "not valid UTF-16 text")
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => std::str::from_utf8(rest).map(str::to_owned),
        [0xFF, 0xFE, rest @ ..] => return utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => return utf16(rest, u16::from_be_bytes),
        _ => std::str::from_utf8(bytes).map(str::to_owned),
    }
    .map_err(|_| "not UTF-8 or UTF-16 text")
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

#[cfg(test)]
mod tests {
    use super::key_text;

    #[test]
    fn key_files_in_utf8_with_or_without_bom_and_in_utf16_read_alike() {
        let key = "c2FtcGxlLWtleS0xMjM0NQ==\r\n";
        let utf16 = |bom: [u8; 2], f: fn(u16) -> [u8; 2]| {
            let mut b = bom.to_vec();
            b.extend(key.encode_utf16().flat_map(f));
            b
        };
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend(key.as_bytes());
        for bytes in [
            key.as_bytes().to_vec(),
            bom8,
            utf16([0xFF, 0xFE], u16::to_le_bytes),
            utf16([0xFE, 0xFF], u16::to_be_bytes),
        ] {
            assert_eq!(key_text(&bytes).unwrap(), key, "{bytes:?}");
        }
        assert!(key_text(&[0xFF, 0xFE, 0x41]).is_err());
        assert!(key_text(&[0xFF, 0xFE, 0x00, 0xD8]).is_err());
        assert!(key_text(&[0xC3, 0x28]).is_err());
    }
}
