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

use octo_migrate_core::sink::mssql_target::{redact, MssqlTarget};
use octo_migrate_core::{MasterKey, Migration, TaskLogs};

use zeroize::Zeroizing;

use crate::args::{Cli, Command, KeyArgs, TargetArgs};
use crate::exit::Failure;

/// The environment variable that may hold the 2.6 master key (docs/cli.md).
pub const KEY_ENV: &str = "OCTO_MIGRATE_MASTER_KEY";
/// The environment variable that may hold the 3.x master key.
pub const TARGET_KEY_ENV: &str = "OCTO_MIGRATE_TARGET_MASTER_KEY";
/// The environment variable that may hold the target (instead of `--target`).
pub const TARGET_ENV: &str = "OCTO_MIGRATE_TARGET";
/// The environment variable that may hold a SQL Server target's password.
pub const TARGET_PASSWORD_ENV: &str = "OCTO_MIGRATE_TARGET_PASSWORD";
/// The target when none is given.
pub const DEFAULT_TARGET: &str = "sqlite:octopus3.db";

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

/// The 3.x master key from exactly one of `--target-master-key`, `--target-master-key-file`
/// and `OCTO_MIGRATE_TARGET_MASTER_KEY`, or none.
fn target_key_of(
    key: Option<&String>,
    file: Option<&PathBuf>,
) -> Result<Option<MasterKey>, Failure> {
    let env = env_text(TARGET_KEY_ENV);
    let given =
        usize::from(key.is_some()) + usize::from(file.is_some()) + usize::from(env.is_some());
    if given > 1 {
        return Err(Failure::Usage(format!(
            "give the 3.x master key at most once: --target-master-key-file PATH, the \
             environment variable {TARGET_KEY_ENV}, or --target-master-key KEY ({given} given)"
        )));
    }
    match (key, file, env) {
        (Some(t), _, _) => Ok(Some(parse_key(t, "--target-master-key")?)),
        (None, Some(p), _) => Ok(Some(read_key_file(p, "target master key")?)),
        (None, None, Some(e)) => Ok(Some(parse_key(&e, TARGET_KEY_ENV)?)),
        (None, None, None) => Ok(None),
    }
}

/// Issue 12, a project decision (docs/cli.md "Where we depart"): a SQL Server target is an
/// installed 3.x server's database, which has its own master key; values re-encrypted under the
/// 2.6 key (the spec's default) would be unreadable by that server, silently. So its key must
/// be given, and the run stops before connecting without it.
fn require_target_key(spec: &TargetSpec, key: &Option<MasterKey>) -> Result<(), Failure> {
    if key.is_none() && matches!(spec, TargetSpec::Mssql(_)) {
        return Err(Failure::Usage(format!(
            "a SQL Server target needs the 3.x server's master key: sensitive values are \
             re-encrypted with it, and the 3.x server cannot read values under any other key. \
             Run `Octopus.Server.exe show-master-key` on the 3.x server and pass the key with \
             --target-master-key-file PATH (or the environment variable {TARGET_KEY_ENV}). If \
             that server was really installed with the 2.6 master key, give the same key again"
        )));
    }
    Ok(())
}

/// A non-empty environment variable, zeroed when dropped.
fn env_text(name: &str) -> Option<Zeroizing<String>> {
    std::env::var(name)
        .ok()
        .map(zeroize_string)
        .filter(|s| !s.trim().is_empty())
}

/// The target's text from exactly one of `--target`, `--target-file` and `OCTO_MIGRATE_TARGET`
/// (`sqlite:octopus3.db` when none is given). The text is registered for redaction: no message
/// of this run shows its password, whatever it is.
fn target_text(t: &TargetArgs) -> Result<Zeroizing<String>, Failure> {
    let env = env_text(TARGET_ENV);
    let given = usize::from(t.target.is_some())
        + usize::from(t.target_file.is_some())
        + usize::from(env.is_some());
    if given > 1 {
        return Err(Failure::Usage(format!(
            "give the target at most once: --target, --target-file PATH, or the environment \
             variable {TARGET_ENV} ({given} given)"
        )));
    }
    let text = if let Some(s) = &t.target {
        Zeroizing::new(s.clone())
    } else if let Some(p) = &t.target_file {
        let s = zeroize_string(std::fs::read_to_string(p).map_err(|e| {
            Failure::Usage(format!(
                "cannot read the --target-file {}: {e}",
                p.display()
            ))
        })?);
        Zeroizing::new(s.trim().to_owned())
    } else if let Some(e) = env {
        Zeroizing::new(e.trim().to_owned())
    } else {
        Zeroizing::new(DEFAULT_TARGET.to_owned())
    };
    crate::exit::register_secret(&text);
    Ok(text)
}

/// A SQL Server target's password given on its own: `--target-password-file` or
/// `OCTO_MIGRATE_TARGET_PASSWORD` (at most one). Registered for redaction.
fn target_password(t: &TargetArgs) -> Result<Option<Zeroizing<String>>, Failure> {
    let env = env_text(TARGET_PASSWORD_ENV);
    let pw = match (&t.target_password_file, env) {
        (Some(_), Some(_)) => {
            return Err(Failure::Usage(format!(
                "give the SQL Server password at most once: --target-password-file PATH or the \
                 environment variable {TARGET_PASSWORD_ENV}"
            )))
        }
        (Some(p), None) => {
            let s = zeroize_string(std::fs::read_to_string(p).map_err(|e| {
                Failure::Usage(format!(
                    "cannot read the --target-password-file {}: {e}",
                    p.display()
                ))
            })?);
            // A file ends in a line break; the password does not.
            Some(Zeroizing::new(s.trim_end_matches(['\r', '\n']).to_owned()))
        }
        (None, e) => e,
    };
    if let Some(p) = &pw {
        crate::exit::register_secret(p);
    }
    Ok(pw)
}

/// What the target options name, the SQL Server password from its own source applied.
fn target_of(t: &TargetArgs) -> Result<TargetSpec, Failure> {
    let text = target_text(t)?;
    let password = target_password(t)?;
    let mut spec = target_spec(&text)?;
    match (&mut spec, password) {
        (TargetSpec::Mssql(m), Some(p)) => {
            if !m.expose_password().is_empty() {
                return Err(Failure::Usage(format!(
                    "the SQL Server password is given twice: in the target and in \
                     --target-password-file or {TARGET_PASSWORD_ENV}; give it once"
                )));
            }
            if m.integrated_security {
                return Err(Failure::Usage(
                    "a password was given for a target with Integrated Security, which logs \
                     in as the running user without one"
                        .into(),
                ));
            }
            m.set_password(&p);
        }
        (TargetSpec::Sqlite(_), Some(_)) => {
            return Err(Failure::Usage(format!(
                "--target-password-file and {TARGET_PASSWORD_ENV} are for SQL Server targets; \
                 a SQLite file has no password"
            )))
        }
        _ => {}
    }
    if let (TargetSpec::Sqlite(_), Some(_)) = (&spec, &t.target_ca_file) {
        return Err(Failure::Usage(
            "--target-ca-file is for SQL Server targets".into(),
        ));
    }
    Ok(spec)
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
    if lower.starts_with("mssql://") || lower.starts_with("sqlserver://") || lower.contains('=') {
        return MssqlTarget::parse(target)
            .map(TargetSpec::Mssql)
            .map_err(|e| Failure::Usage(redact(&e.to_string(), &[target])));
    }
    // Never echo the text: a mistyped target may hold a password anywhere. Its scheme, if it
    // has one, is letters only and says enough.
    let scheme: String = target
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "+.-".contains(*c))
        .collect();
    let what = match target[scheme.len()..].chars().next() {
        Some(':') if !scheme.is_empty() && scheme.len() <= 20 => {
            format!("a target starting {scheme}: is not one of them")
        }
        _ => "the text given is neither (it is not shown: it may hold a password)".to_owned(),
    };
    Err(Failure::Usage(format!(
        "the target must be sqlite:PATH, mssql://user:password@host:port/database or an ADO.NET \
         connection string (Server=...;Database=...;...): {what}"
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
