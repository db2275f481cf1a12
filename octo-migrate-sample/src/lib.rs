//! Writing Octopus 2.6 backups: [`BackupWriter`] (the inverse of the reader) and a deterministic,
//! realistic sample generator ([`write_sample`]) for tests, benchmarks and demos.
//!
//! The sample is a small company's Octopus server: projects, environments, listening and polling
//! Tentacles, lifecycles, variables (some sensitive), deployment processes (one project with an
//! unsupported `Octopus.Ftp` action), users and teams, and about two years of history (releases,
//! their frozen snapshots, deployments, server tasks with activity logs, events, artifacts with
//! attachments, interruptions) before 2015-06-30T00:00:00Z. Every collection of mapping.md is
//! present, plus RavenDB system documents and one collection mapping.md does not know.
//!
//! Everything is derived from [`SampleOptions::seed`] with a small built-in PRNG: the same
//! options give the same bytes ([`EntryForm::MkStream`]). Documents are generated and written one
//! at a time, so memory stays small at any scale (the generator keeps per-project state and a
//! few dozen bytes per server task for the activity logs written after the dump).
//!
//! A workspace crate of its own (`publish = false`), used by the core's integration tests, the
//! benchmarks, the fuzz targets and the CLI's `generate-sample` command: the generator is test
//! data, so it stays out of every embedder's build of `octo-migrate-core`. It reaches the core
//! through its public API only (`octo_migrate_core::crypto`).
#![deny(missing_docs)]

mod directory;
mod generate;
mod rng;
mod writer;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::Path;

use octo_migrate_core::MasterKey;

pub use directory::{edit_directory, DirectoryRecord};
pub use writer::{
    BackupWriter, DumpOptions, DumpWriter, EntryForm, EntryWriter, ACTIVITY_LOGS_DIR,
    BACKUP_JSON_ENTRY, DUMP_ENTRY, MASTER_KEY_CHECK_ENTRY, MASTER_KEY_CHECK_TEXT,
};

/// The collections of mapping.md's table (Raven-Entity-Name), all present in every sample.
pub const MAPPED_COLLECTIONS: [&str; 26] = [
    "Projects",
    "ProjectGroups",
    "Environments",
    "Machines",
    "Lifecycles",
    "VariableSets",
    "DeploymentProcesses",
    "LibraryVariableSets",
    "ActionTemplates",
    "Feeds",
    "Users",
    "Teams",
    "UserRoles",
    "ApiKeys",
    "Certificates",
    "Invitations",
    "Licenses",
    "SmtpConfigurations",
    "MaintenanceConfigurations",
    "RetentionPolicies",
    "Releases",
    "Deployments",
    "ServerTasks",
    "Events",
    "Artifacts",
    "Interruptions",
];

/// The Octopus version written to `Backup.json`.
pub const SAMPLE_OCTOPUS_VERSION: &str = "2.6.5.1010";
/// The sample's "now": all history is before it. Use it as `--as-of`.
pub const SAMPLE_AS_OF: &str = "2015-06-30T00:00:00+00:00";
/// `Backup.json`'s `Created`.
pub const SAMPLE_CREATED: &str = "2015-06-29T23:30:00+00:00";

/// What sample to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleOptions {
    /// Size: 1 is a small server (6 projects, 40 releases, 80 deployments, ~210 KB); history
    /// and a little configuration grow linearly with it (about 225 KB and 500 documents per
    /// unit: scale 100 is ~22 MB, scale 2000 ~450 MB, ~1 GiB needs ~4700). 0 is treated as 1.
    pub scale: u32,
    /// Everything (ids' case, dates, IVs, contents) follows from the seed.
    pub seed: u64,
    /// MK streams (as Octopus writes) or WinZip-AES entries (as re-packed by 7-Zip).
    pub form: EntryForm,
    /// GZip the Raven dump (default `true`; `false` writes plain JSON, which readers accept).
    pub gzip_dump: bool,
    /// Write the dump's `"Attachments"` array before `"Docs"` (default `false`).
    pub attachments_first: bool,
    /// Write `MasterKeyCheck.txt` (default `true`; without it the key is checked on the dump).
    pub master_key_check: bool,
}

impl Default for SampleOptions {
    fn default() -> SampleOptions {
        SampleOptions {
            scale: 1,
            seed: 1,
            form: EntryForm::MkStream,
            gzip_dump: true,
            attachments_first: false,
            master_key_check: true,
        }
    }
}

impl SampleOptions {
    /// Default options with the given scale and seed.
    pub fn new(scale: u32, seed: u64) -> SampleOptions {
        SampleOptions {
            scale,
            seed,
            ..SampleOptions::default()
        }
    }
}

/// The one unsupported step of the sample (mapping.md "Steps that 3.x does not support").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FtpStep {
    /// The project's id (`projects-5`).
    pub project_id: String,
    /// The project's name.
    pub project_name: String,
    /// The live deployment process holding the step (`deploymentprocess-projects-5`). Its frozen
    /// snapshots have no FTP step.
    pub process_id: String,
    /// The step's name; the step has a second, supported action, so it survives skipping.
    pub step_name: String,
    /// The FTP action's name.
    pub action_name: String,
    /// `Octopus.Ftp`.
    pub action_type: String,
}

/// What [`write_sample`] wrote: the figures a test checks a migration against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleSummary {
    /// Documents per collection (`Raven-Entity-Name`), system documents excluded. Includes the
    /// frozen snapshots under `VariableSets` / `DeploymentProcesses` and the unknown collection.
    pub documents: BTreeMap<String, u64>,
    /// RavenDB system documents (`Raven/...`): the hilo documents and one other.
    pub system_documents: u64,
    /// `Raven/Hilo/<name>` -> `Max`, name as written (one is capitalised: `Events`). Each
    /// maximum is above the highest id of its collection.
    pub hilo: BTreeMap<String, u64>,
    /// Collections not in mapping.md (`OctopusServerNodes`).
    pub unknown_collections: Vec<String>,
    /// Frozen variable sets (release snapshots of projects and library sets).
    pub frozen_variable_sets: u64,
    /// Frozen deployment processes (release snapshots).
    pub frozen_deployment_processes: u64,
    /// Attachments in the dump (one per artifact, key `artifacts/<artifact id>`, some in
    /// other case).
    pub attachments: u64,
    /// `ActivityLogs/*.log` entries (one entry name is capitalised: `ServerTasks-<n>.log`).
    pub activity_logs: u64,
    /// Of which GZip-compressed inside the encryption.
    pub gzipped_activity_logs: u64,
    /// Server tasks without an activity log (queued ones and a few others).
    pub tasks_without_log: u64,
    /// Log lines written, the unparsable ones included.
    pub log_lines: u64,
    /// Log lines a reader cannot parse (no separators, or an impossible date).
    pub unparsable_log_lines: u64,
    /// `(task id, line)` of each unparsable line.
    pub unparsable_examples: Vec<(String, String)>,
    /// MK values in the documents (each occurrence, snapshots included).
    pub mk_values: u64,
    /// Every plaintext behind an MK value (all start with `s3cr3t-`), sorted: none of them may
    /// appear in any output of a migration.
    pub secrets: Vec<String>,
    /// The one `Octopus.Ftp` action.
    pub ftp: FtpStep,
    /// History documents dated at or after [`SAMPLE_AS_OF`] minus [`SampleSummary::recent_days`]
    /// days, per collection (what `--maxage` keeps by date alone, before the keep-rules).
    pub recent: BTreeMap<String, u64>,
    /// The day count of [`SampleSummary::recent`] (90).
    pub recent_days: u32,
    /// [`SAMPLE_AS_OF`].
    pub as_of: String,
    /// The oldest history date, Unix milliseconds.
    pub first_history_ms: Option<i64>,
    /// Documents that also carry a body `"Id"` (in a different case from `@id`).
    pub docs_with_body_id: Vec<String>,
    /// Documents with a property mapping.md does not name (`ExtraSetting`).
    pub docs_with_extra_property: Vec<String>,
    /// Listening Tentacles (`TentaclePassive`).
    pub listening_machines: u64,
    /// Polling Tentacles (`TentacleActive`).
    pub polling_machines: u64,
    /// Events without a user (`UserId` null).
    pub system_events: u64,
    /// Size of the written archive in bytes.
    pub bytes: u64,
}

impl SampleSummary {
    /// Documents of `collection` (0 when none).
    pub fn count(&self, collection: &str) -> u64 {
        self.documents.get(collection).copied().unwrap_or(0)
    }

    /// All non-system documents.
    pub fn total_documents(&self) -> u64 {
        self.documents.values().sum()
    }
}

/// Writes a sample backup to `w` (see the module documentation) and returns what it contains.
pub fn write_sample<W: Write + Seek>(
    w: W,
    key: &MasterKey,
    opts: &SampleOptions,
) -> io::Result<SampleSummary> {
    let mut bw = BackupWriter::with_seed(w, key, opts.form, opts.seed);
    bw.write_backup_json(SAMPLE_OCTOPUS_VERSION, SAMPLE_CREATED)?;
    if opts.master_key_check {
        bw.write_master_key_check()?;
    }
    let mut g = generate::Gen::new(key, opts);
    let attachments = g.planned_artifacts();
    {
        let dump_opts = DumpOptions {
            gzip: opts.gzip_dump,
            attachments_first: opts.attachments_first,
            identities: true,
            large_file: generate::needs_zip64(opts),
            indexes: generate::sample_indexes(),
        };
        let mut dump = bw.start_dump(&dump_opts)?;
        if opts.attachments_first {
            generate::write_attachments(&mut dump, opts.seed, attachments)?;
        }
        g.configuration(&mut dump)?;
        g.history(&mut dump)?;
        g.tail(&mut dump)?;
        if !opts.attachments_first {
            generate::write_attachments(&mut dump, opts.seed, attachments)?;
        }
        dump.finish()?;
    }
    g.activity_logs(&mut bw)?;
    let mut w = bw.finish()?;
    let bytes = w.stream_position()?;
    let mut summary = g.into_summary();
    debug_assert_eq!(summary.count("Artifacts"), attachments);
    summary.attachments = attachments;
    summary.recent_days = generate::RECENT_DAYS as u32;
    summary.as_of = SAMPLE_AS_OF.to_owned();
    summary.bytes = bytes;
    Ok(summary)
}

/// [`write_sample`] into a new file at `path` (replaced if it exists).
pub fn write_sample_file(
    path: impl AsRef<Path>,
    key: &MasterKey,
    opts: &SampleOptions,
) -> io::Result<SampleSummary> {
    let file = File::create(path)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let summary = write_sample(&mut out, key, opts)?;
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(summary)
}

#[cfg(test)]
mod tests;

/// The master key of the sample made from `seed`: derived from the seed, so a sample and its
/// key file can be regenerated exactly. A test key, never for real use.
pub fn sample_key(seed: u64) -> MasterKey {
    let mut rng = rng::SplitMix64::derive(seed, 0x6b6579, 0);
    let mut raw = [0u8; 16];
    rng.fill(&mut raw);
    MasterKey::from_bytes(raw)
}
