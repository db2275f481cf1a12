//! The command line as typed (clap), before validation.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Migrate an Octopus Deploy 2.6 backup into the Octopus 3.x schema.
#[derive(Debug, Parser)]
#[command(name = "octo-migrate", version, about)]
#[command(after_help = crate::help::top())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub fn verbose(&self) -> bool {
        match &self.command {
            Command::Migrate(m) => m.verbose,
            Command::Verify(v) => v.verbose,
            Command::Inspect(i) => i.verbose,
            Command::GenerateSample(_) | Command::CopyPackages(_) => false,
            Command::Completions(_) | Command::Man(_) => false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate a 2.6 backup into a 3.x database (SQLite by default).
    #[command(after_help = crate::help::migrate())]
    Migrate(MigrateArgs),
    /// Check a migrated target against the backup: every row, column and file.
    #[command(after_help = crate::help::verify())]
    Verify(VerifyArgs),
    /// Show what is in a backup (version, creation date, entries, documents per collection,
    /// history date ranges, what --maxage 30/90/180/365 would keep) and what would block migrate.
    #[command(after_help = crate::help::inspect())]
    Inspect(InspectArgs),
    /// Copy the built-in NuGet repository's packages (not in the backup) to the 3.x folder.
    #[command(after_help = crate::help::copy_packages())]
    CopyPackages(CopyArgs),
    /// Write a deterministic sample 2.6 backup and its (test) master key file.
    // Test data for developers (tests, benchmarks, fuzz seeds): works, but not listed.
    #[command(hide = true, after_help = crate::help::generate_sample())]
    GenerateSample(GenerateArgs),
    /// Print the completion script of a shell to stdout.
    #[command(after_help = crate::help::completions())]
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout, or write one page per command into a folder.
    #[command(after_help = crate::help::man())]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The 2.6 backup (.octobak).
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
    #[command(flatten)]
    pub key: KeyArgs,
    /// The "now" of the --maxage figures, ISO-8601 with offset (default: now).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Print more detail on errors.
    #[arg(short, long)]
    pub verbose: bool,
}

// Where the 2.6 master key comes from: exactly one of these. (Not a doc comment: clap would make
// a flattened struct's doc comment the about text of each command that flattens it.)
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The 2.6 master key (Base64). Visible to other users of this machine: prefer a file.
    #[arg(long, value_name = "KEY")]
    pub master_key: Option<String>,
    /// A file holding the 2.6 master key.
    #[arg(long, value_name = "PATH")]
    pub master_key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The 2.6 backup (.octobak).
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub content: ContentArgs,
    /// Read, decrypt, transform and check everything; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Worker threads (default: all cores); 1 keeps the whole migration on one core.
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub threads: usize,
    /// Only convert task logs, for tasks already in the target.
    #[arg(long, conflicts_with = "nologs")]
    pub onlylogs: bool,
    /// Merge into a target that holds data; the backup wins on matching documents (teams and
    /// variable sets are merged: members and variables added, none removed).
    #[arg(long, conflicts_with = "nooverwrite")]
    pub overwrite: bool,
    /// Merge into a target that holds data; the target wins, only new documents are inserted.
    #[arg(long)]
    pub nooverwrite: bool,
    /// SQL Server only: create the 3.x tables in an empty database.
    #[arg(long)]
    pub create_schema: bool,
    /// Also write the report as JSON (and tentacles.csv beside it); `-` writes it to stdout.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Print only errors and the final summary line.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print the report as one JSON document on stdout instead of the tables (diagnostics
    /// stay on stderr).
    #[arg(long)]
    pub json: bool,
    /// Exit 0, not 1, when the migration succeeded with warnings (for scripts under `set -e`).
    #[arg(long)]
    pub warnings_ok: bool,
    /// Print more detail on errors.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The backup to write.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Size: history grows linearly with it (1 is about 200 KB).
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// Seed of the generator; the same seed gives the same backup and key.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the master key (default: <out>.key).
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Write entries as WinZip-AES (as 7-Zip re-packing would) instead of MK streams.
    #[arg(long)]
    pub winzip_aes: bool,
}

#[derive(Debug, Args)]
// The shared options' help, as verify reads them: it checks what migrate wrote with them.
#[command(
    mut_arg("target", |a| {
        a.help(
            "The migrated target: sqlite:PATH, mssql://user:pass@host:port/database, or an \
             ADO.NET connection string",
        )
    }),
    mut_arg("files_dir", |a| {
        a.help(
            "Where TaskLogs/ and Artifacts/ are (default: beside the SQLite file; required \
             with SQL Server); a folder that does not exist is an error",
        )
    }),
    mut_arg("skip_unsupported_steps", |a| {
        a.help(
            "The migration was given --skip-unsupported-steps: expect FTP and Azure actions \
             removed",
        )
    }),
    mut_arg("nologs", |a| a.help("The migration was given --nologs: expect no task logs")),
    mut_arg("maxage", |a| {
        a.help("The migration was given --maxage N: expect N days of history")
    }),
    mut_arg("as_of", |a| {
        a.help(
            "The \"now\" of --maxage: the migration's --as-of, or the time it ran; ISO-8601 \
             with offset (default: now)",
        )
    })
)]
pub struct VerifyArgs {
    /// The 2.6 backup (.octobak).
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
    #[command(flatten)]
    pub key: KeyArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub content: ContentArgs,
    /// The migration's report (migrate --report): its options (--maxage and the time it
    /// counted from, --nologs, --skip-unsupported-steps, the merge mode) are used; options
    /// given here must agree with it.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// The migration was given --overwrite: check the backup's rows, list the target's own
    /// as kept.
    #[arg(long, conflicts_with = "nooverwrite")]
    pub overwrite: bool,
    /// The migration was given --nooverwrite: check the backup's rows, list the target's
    /// own as kept.
    #[arg(long)]
    pub nooverwrite: bool,
    /// Print the outcome as one JSON document on stdout (rows and files checked, and one
    /// object per difference).
    #[arg(long)]
    pub json: bool,
    /// Print more detail on errors.
    #[arg(short, long)]
    pub verbose: bool,
}

// The target and its key, shared by migrate and verify (not a doc comment: see KeyArgs).
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// sqlite:PATH (default sqlite:octopus3.db), mssql://user:pass@host:port/database, or an
    /// ADO.NET connection string (Server=host,port;Database=...;User Id=...;Password=...).
    /// Visible to other users of this machine when it holds a password: prefer --target-file or
    /// the environment variable OCTO_MIGRATE_TARGET (exactly one of the three).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// A file holding the target (as --target takes it), e.g. the connection string.
    #[arg(long, value_name = "PATH")]
    pub target_file: Option<PathBuf>,
    /// SQL Server: a file holding only the password, for a target given without one (or the
    /// environment variable OCTO_MIGRATE_TARGET_PASSWORD).
    #[arg(long, value_name = "PATH")]
    pub target_password_file: Option<PathBuf>,
    /// SQL Server: the CA certificate (PEM or DER) that issued the server's certificate, when
    /// this machine does not trust it already (or TrustServerCertificate=true in the target).
    #[arg(long, value_name = "PATH")]
    pub target_ca_file: Option<PathBuf>,
    /// The 3.x server's master key for sensitive values (`Octopus.Server.exe show-master-key`
    /// on the 3.x server). Required for SQL Server targets; default for SQLite: the 2.6 key.
    /// Also --target-master-key-file or OCTO_MIGRATE_TARGET_MASTER_KEY (exactly one).
    #[arg(long, value_name = "KEY", conflicts_with = "target_master_key_file")]
    pub target_master_key: Option<String>,
    /// A file holding the 3.x master key.
    #[arg(long, value_name = "PATH")]
    pub target_master_key_file: Option<PathBuf>,
    /// Where TaskLogs/ and Artifacts/ are (default: beside the SQLite file; required with
    /// SQL Server).
    #[arg(long, value_name = "PATH")]
    pub files_dir: Option<PathBuf>,
}

// What lands in the target: migrate and verify must be given the same (not a doc comment: see
// KeyArgs; verify words these options' help its own way).
#[derive(Debug, Args)]
pub struct ContentArgs {
    /// Remove FTP and Azure cloud-service actions (unsupported by 3.x) instead of refusing.
    #[arg(long)]
    pub skip_unsupported_steps: bool,
    /// Migrate the data, not the task logs.
    #[arg(long)]
    pub nologs: bool,
    /// Keep N days of history (and the older documents the current state needs).
    #[arg(long, value_name = "N")]
    pub maxage: Option<u32>,
    /// The "now" of --maxage, ISO-8601 with offset (default: the time of the run).
    #[arg(long, value_name = "TIME", requires = "maxage")]
    pub as_of: Option<String>,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The 2.6 packages folder (...\\OctopusServer\\Repository\\Packages).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The 3.x packages folder.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Check every package and say what would be copied; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as one JSON document instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write octo-migrate.1 and one page per command (octo-migrate-migrate.1, ...) into DIR
    /// instead of printing the overview page.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}
