//! What a migration did: per-collection counts that add up, warnings, and the summary table.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

use crate::preflight::Problem;

/// Counts for one 2.6 collection. `read = migrated + filtered_by_maxage + skipped + failed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CollectionStats {
    /// Documents read from the dump.
    pub read: u64,
    /// Documents that became 3.x rows.
    pub migrated: u64,
    /// Documents left out by `--maxage`.
    pub filtered_by_maxage: u64,
    /// Documents not migrated on purpose, with the reasons.
    pub skipped: u64,
    /// Reasons for `skipped`, with counts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped_reasons: BTreeMap<String, u64>,
    /// Documents that failed to map (a preflight problem).
    pub failed: u64,
}

impl AddAssign<&CollectionStats> for CollectionStats {
    fn add_assign(&mut self, o: &CollectionStats) {
        self.read += o.read;
        self.migrated += o.migrated;
        self.filtered_by_maxage += o.filtered_by_maxage;
        self.skipped += o.skipped;
        self.failed += o.failed;
        for (k, v) in &o.skipped_reasons {
            *self.skipped_reasons.entry(k.clone()).or_insert(0) += v;
        }
    }
}

impl CollectionStats {
    /// Whether the counts add up.
    pub fn balanced(&self) -> bool {
        self.read == self.migrated + self.filtered_by_maxage + self.skipped + self.failed
    }
}

/// References to documents that are not in the backup, for one field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Dangling {
    /// How many references.
    pub count: u64,
    /// The first few, as `<document id> -> <missing id>`.
    pub examples: Vec<String>,
}

/// Documents of a collection this tool does not know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Unknown {
    /// How many documents.
    pub count: u64,
    /// The first few ids.
    pub first_ids: Vec<String>,
}

/// A task-log line that could not be parsed (kept verbatim as an Error line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BadLogLine {
    /// 3.x task id.
    pub task_id: String,
    /// 1-based line number in the 2.6 log.
    pub line: u64,
    /// Why it did not parse.
    pub reason: String,
}

/// An unsupported action removed by `--skip-unsupported-steps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RemovedAction {
    /// The deployment process.
    pub process_id: String,
    /// Project name.
    pub project: String,
    /// Step name.
    pub step: String,
    /// Action name.
    pub action: String,
    /// `ActionType`.
    pub action_type: String,
    /// Whether the whole step went because no action was left.
    pub step_removed: bool,
}

/// A Tentacle to upgrade to 3.x after the migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tentacle {
    /// 3.x machine id.
    pub id: String,
    /// Machine name.
    pub name: String,
    /// Tentacle URI.
    pub uri: String,
    /// Certificate thumbprint.
    pub thumbprint: String,
    /// `listening` or `polling`.
    pub mode: String,
    /// Environment ids (as in the backup).
    pub environments: Vec<String>,
    /// Environment names, in the same order (the id where the backup has no such
    /// environment).
    #[serde(default)]
    pub environment_names: Vec<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// Whether the machine is disabled.
    pub disabled: bool,
}

/// An entry of the backup this tool does not use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UnknownEntry {
    /// Entry name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// What one thread of pass 2 did: where the time went. The transform workers' documents add
/// up to the documents read; the writer's rows to the rows in `tables`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerStats {
    /// `reader` (decrypt, inflate, cut into documents), `transform N` (parse and map),
    /// `writer` (the target's inserts), `task logs` (inflate and convert activity logs).
    pub worker: String,
    /// Documents and attachments (reader, transform), rows (writer) or task logs.
    pub items: u64,
    /// Bytes of dump read or parsed (reader, transform); 0 for the others.
    pub bytes: u64,
    /// Seconds spent working, not waiting for the other threads.
    pub busy_seconds: f64,
}

/// What merging did, per 3.x table; the report's `merge` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MergeReport {
    /// `--overwrite` or `--nooverwrite`.
    pub mode: String,
    /// Per table: rows inserted, replaced, merged, and left as the target had them.
    pub tables: BTreeMap<String, MergeCounts>,
    /// Backup documents matched to a target row of the same name (releases: the same version
    /// of the same project) with another id (`backup id -> target id`), first few.
    pub matched_by_name: Vec<String>,
    /// How many documents were matched by name to a different id.
    pub matched_by_name_count: u64,
    /// Backup documents given a new id because theirs was taken by a different document in the
    /// target (`backup id -> new id`), first few.
    pub renumbered: Vec<String>,
    /// How many documents were given a new id.
    pub renumbered_count: u64,
}

/// Rows of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MergeCounts {
    /// New rows.
    pub inserted: u64,
    /// Target rows replaced by the backup's (`--overwrite`).
    pub replaced: u64,
    /// Teams and variable sets whose members or variables were combined (`--overwrite`).
    pub merged: u64,
    /// Rows the target already had and kept.
    pub kept: u64,
}

/// The report of a migration (also of a failed or dry one).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Report {
    /// The version of octo-migrate that ran.
    pub tool_version: String,
    /// How the run ended.
    pub status: Status,
    /// The error that ended a failed run, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the run started and ended (RFC 3339, UTC).
    pub started_at: Option<String>,
    /// See `started_at`.
    pub finished_at: Option<String>,
    /// Every option that changes what the run writes, as it was given.
    pub options: RunOptions,
    /// The backup file.
    pub backup: String,
    /// Octopus version from `Backup.json`.
    pub octopus_version: Option<String>,
    /// The target, without secrets; `None` for a dry run.
    pub target: Option<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether the target transaction committed.
    pub committed: bool,
    /// Per 2.6 collection.
    pub collections: BTreeMap<String, CollectionStats>,
    /// Rows per 3.x table (written, or that would be written on a dry run).
    pub tables: BTreeMap<String, u64>,
    /// Sensitive values decrypted and re-encrypted.
    pub reencrypted_values: u64,
    /// Dangling references per `<Collection>.<field>`.
    pub dangling_references: BTreeMap<String, Dangling>,
    /// Documents of unknown collections.
    pub unknown_collections: BTreeMap<String, Unknown>,
    /// Entries of the backup that were not used: the first [`UNKNOWN_ENTRY_EXAMPLES`].
    pub unknown_entries: Vec<UnknownEntry>,
    /// How many entries of the backup were not used (listed or not).
    pub unknown_entry_count: u64,
    /// Retention policies, which 3.x keeps on lifecycles: not migrated.
    pub retention_policies_not_migrated: Vec<String>,
    /// Task-log files written.
    pub task_logs: u64,
    /// Task-log lines converted.
    pub task_log_lines: u64,
    /// Count of task-log lines that did not parse.
    pub unparsable_log_line_count: u64,
    /// The first unparsable lines.
    pub unparsable_log_lines: Vec<BadLogLine>,
    /// Artifact files written.
    pub artifact_files: u64,
    /// Artifacts whose content attachment is missing from the backup.
    pub artifacts_without_content: Vec<String>,
    /// Unsupported actions removed under `--skip-unsupported-steps`.
    pub removed_actions: Vec<RemovedAction>,
    /// What happened to the license.
    pub license: Option<String>,
    /// Tentacles to upgrade.
    pub tentacles: Vec<Tentacle>,
    /// What merging into a target with data did (`--overwrite` / `--nooverwrite`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeReport>,
    /// Preflight problems (on a failed run).
    pub problems: Vec<Problem>,
    /// Every warning of the run, one entry per kind (and per field or collection where the
    /// detail lists above have one), with how many and the first few: the one list to read.
    pub warnings: Vec<Warning>,
    /// Wall-clock seconds of pass 1 (reading the dump for the index).
    pub index_seconds: f64,
    /// Pass 2 per thread (one `transform` row per worker of the pool).
    pub workers: Vec<WorkerStats>,
    /// Bytes of decrypted, decompressed dump read (per pass).
    pub dump_bytes: u64,
    /// Size of the backup file.
    pub backup_bytes: u64,
    /// Wall-clock seconds.
    pub elapsed_seconds: f64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// Still running (a report taken before the end).
    #[default]
    Running,
    /// Committed, no warning.
    Migrated,
    /// Committed, with warnings.
    MigratedWithWarnings,
    /// A dry run that would migrate.
    DryRun,
    /// A dry run that would migrate, with warnings.
    DryRunWithWarnings,
    /// Nothing was committed.
    Failed,
    /// The target committed, but finishing (moving files into place) failed: the next run
    /// completes it.
    CommittedNotFinished,
}

/// The options of a run that change what it writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RunOptions {
    /// `--maxage`: days of history kept.
    pub max_age_days: Option<u32>,
    /// The "now" `--maxage` counts back from (RFC 3339).
    pub as_of: Option<String>,
    /// `convert`, `skip` (`--nologs`) or `only` (`--onlylogs`).
    pub task_logs: String,
    /// `--skip-unsupported-steps`.
    pub skip_unsupported_steps: bool,
    /// `refuse`, `backup_wins` (`--overwrite`) or `target_wins` (`--nooverwrite`).
    pub merge: String,
    /// Whether sensitive values were re-encrypted under a 3.x key of their own (otherwise
    /// under the 2.6 key).
    pub target_key: bool,
    /// Worker threads asked for (`None`: one per core); does not change the result.
    pub threads: Option<usize>,
}

/// One kind of warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Warning {
    /// A stable name: `dangling_reference`, `unknown_collection`, `removed_action`,
    /// `unparsable_log_line`, `artifact_without_content`, `unknown_entry`, or `other`.
    pub kind: String,
    /// How many.
    pub count: u64,
    /// What it is, in words.
    pub message: String,
    /// The first few occurrences (at most [`EXAMPLES`]).
    pub examples: Vec<String>,
}

impl Warning {
    /// A warning of `kind`.
    pub fn new(
        kind: &str,
        count: u64,
        message: impl Into<String>,
        examples: Vec<String>,
    ) -> Warning {
        Warning {
            kind: kind.to_owned(),
            count,
            message: message.into(),
            examples: examples.into_iter().take(EXAMPLES).collect(),
        }
    }
}

/// How many examples of a kind the report keeps.
pub const EXAMPLES: usize = 5;
/// How many unparsable task-log lines the report keeps (the count covers them all).
pub const BAD_LINE_EXAMPLES: usize = 100;
/// How long the reason of a kept unparsable line may be, in bytes: a reason quotes the field
/// that did not parse, which a hostile log can make as long as a line.
pub const BAD_LINE_REASON_MAX: usize = 200;
/// How many artifacts without content the report names (the count covers them all).
pub const MISSING_CONTENT_EXAMPLES: usize = EXAMPLES * 20;
/// How many unused entries of the backup the report (and `inspect`) names; the count covers
/// them all. A backup may hold any number, and the report must stay readable.
pub const UNKNOWN_ENTRY_EXAMPLES: usize = EXAMPLES * 20;

/// Now, as the report writes times.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Appends `from` to `to`, keeping at most `cap` items.
fn extend_capped<T>(to: &mut Vec<T>, from: Vec<T>, cap: usize) {
    let room = cap.saturating_sub(to.len());
    to.extend(from.into_iter().take(room));
}

/// Combines the report of a part of a migration (a worker's documents, the task-log thread)
/// into the whole: counts add up, lists are appended (examples up to their caps), and what
/// only one part knows (the license, the merge section, the backup) is taken from the part
/// that has it.
impl AddAssign<Report> for Report {
    fn add_assign(&mut self, o: Report) {
        if self.backup.is_empty() {
            self.backup = o.backup;
        }
        self.octopus_version = self.octopus_version.take().or(o.octopus_version);
        self.target = self.target.take().or(o.target);
        for (k, v) in &o.collections {
            *self.collections.entry(k.clone()).or_default() += v;
        }
        for (k, v) in o.tables {
            *self.tables.entry(k).or_default() += v;
        }
        self.reencrypted_values += o.reencrypted_values;
        for (k, v) in o.dangling_references {
            let d = self.dangling_references.entry(k).or_default();
            d.count += v.count;
            extend_capped(&mut d.examples, v.examples, EXAMPLES);
        }
        for (k, v) in o.unknown_collections {
            let u = self.unknown_collections.entry(k).or_default();
            u.count += v.count;
            extend_capped(&mut u.first_ids, v.first_ids, EXAMPLES);
        }
        self.unknown_entry_count += o.unknown_entry_count;
        extend_capped(
            &mut self.unknown_entries,
            o.unknown_entries,
            UNKNOWN_ENTRY_EXAMPLES,
        );
        self.retention_policies_not_migrated
            .extend(o.retention_policies_not_migrated);
        self.task_logs += o.task_logs;
        self.task_log_lines += o.task_log_lines;
        self.unparsable_log_line_count += o.unparsable_log_line_count;
        extend_capped(
            &mut self.unparsable_log_lines,
            o.unparsable_log_lines,
            BAD_LINE_EXAMPLES,
        );
        self.artifact_files += o.artifact_files;
        extend_capped(
            &mut self.artifacts_without_content,
            o.artifacts_without_content,
            MISSING_CONTENT_EXAMPLES,
        );
        self.removed_actions.extend(o.removed_actions);
        if o.license.is_some() {
            self.license = o.license;
        }
        self.tentacles.extend(o.tentacles);
        if o.merge.is_some() {
            self.merge = o.merge;
        }
        self.problems.extend(o.problems);
        self.warnings.extend(o.warnings);
        self.index_seconds += o.index_seconds;
        self.workers.extend(o.workers);
        self.dump_bytes += o.dump_bytes;
        self.backup_bytes = self.backup_bytes.max(o.backup_bytes);
        self.elapsed_seconds = self.elapsed_seconds.max(o.elapsed_seconds);
    }
}

impl Report {
    /// Whether the run finished with warnings (exit code 1 in the CLI).
    pub fn has_warnings(&self) -> bool {
        !self.dangling_references.is_empty()
            || self.unparsable_log_line_count > 0
            || !self.removed_actions.is_empty()
            || !self.unknown_collections.is_empty()
            || !self.artifacts_without_content.is_empty()
            || !self.warnings.is_empty()
    }

    /// A warning of a kind the detail lists do not have (`other`).
    pub(crate) fn warn(&mut self, message: impl Into<String>) {
        self.warnings
            .push(Warning::new("other", 1, message, Vec::new()));
    }

    /// Rebuilds [`Report::warnings`] from the detail lists (keeping the `other` ones), so it
    /// is complete: called when the run ends.
    pub(crate) fn collect_warnings(&mut self) {
        let others: Vec<Warning> = self
            .warnings
            .drain(..)
            .filter(|w| w.kind == "other")
            .collect();
        let mut w = Vec::new();
        for (field, d) in &self.dangling_references {
            w.push(Warning::new(
                "dangling_reference",
                d.count,
                format!("{field} refers to documents that are not in the backup"),
                d.examples.clone(),
            ));
        }
        for (c, u) in &self.unknown_collections {
            w.push(Warning::new(
                "unknown_collection",
                u.count,
                format!("documents of the unknown collection {c} were not migrated"),
                u.first_ids.clone(),
            ));
        }
        if !self.removed_actions.is_empty() {
            w.push(Warning::new(
                "removed_action",
                self.removed_actions.len() as u64,
                "actions 3.x does not support were removed (--skip-unsupported-steps)",
                self.removed_actions
                    .iter()
                    .map(|r| {
                        format!(
                            "{} action {:?} of step {:?} in project {:?}",
                            r.action_type, r.action, r.step, r.project
                        )
                    })
                    .collect(),
            ));
        }
        if self.unparsable_log_line_count > 0 {
            w.push(Warning::new(
                "unparsable_log_line",
                self.unparsable_log_line_count,
                "task-log lines did not parse and were kept verbatim as error lines",
                self.unparsable_log_lines
                    .iter()
                    .map(|l| format!("task log {} line {}: {}", l.task_id, l.line, l.reason))
                    .collect(),
            ));
        }
        if !self.artifacts_without_content.is_empty() {
            w.push(Warning::new(
                "artifact_without_content",
                self.artifacts_without_content.len() as u64,
                "artifacts have no content in the backup",
                self.artifacts_without_content.clone(),
            ));
        }
        w.extend(others);
        self.warnings = w;
    }

    /// Marks the end of a run that succeeded (migrated, or a dry run that would).
    pub(crate) fn finish_ok(&mut self) {
        self.finish(if self.dry_run {
            Status::DryRun
        } else {
            Status::Migrated
        });
    }

    /// Marks the end of the run: its status, time and complete warnings.
    pub(crate) fn finish(&mut self, status: Status) {
        self.collect_warnings();
        let warned = self.has_warnings();
        self.status = match status {
            Status::Migrated if warned => Status::MigratedWithWarnings,
            Status::DryRun if warned => Status::DryRunWithWarnings,
            s => s,
        };
        self.finished_at = Some(now());
    }

    /// Totals over every collection.
    pub fn totals(&self) -> CollectionStats {
        let mut t = CollectionStats::default();
        for s in self.collections.values() {
            t += s;
        }
        t
    }

    pub(crate) fn dangling(&mut self, field: String, example: impl FnOnce() -> String) {
        let d = self.dangling_references.entry(field).or_default();
        d.count += 1;
        if d.examples.len() < EXAMPLES {
            d.examples.push(example());
        }
    }
}

/// The summary for people: the per-collection table, totals, where the time went, the merge
/// table and the license. The warnings are in [`Report::warnings`] (the command line prints
/// them on stderr).
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:>10} {:>10} {:>10} {:>10} {:>8}",
            "collection", "read", "migrated", "filtered", "skipped", "failed"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, s: &CollectionStats| {
            writeln!(
                f,
                "{:<28} {:>10} {:>10} {:>10} {:>10} {:>8}",
                name, s.read, s.migrated, s.filtered_by_maxage, s.skipped, s.failed
            )
        };
        for (name, s) in &self.collections {
            row(f, name, s)?;
        }
        row(f, "TOTAL", &self.totals())?;
        let mb = self.dump_bytes as f64 / (1024.0 * 1024.0);
        let rate = if self.elapsed_seconds > 0.0 {
            mb / self.elapsed_seconds
        } else {
            0.0
        };
        writeln!(
            f,
            "{} re-encrypted values, {} task logs ({} lines, {} unparsable), {} artifact files; {:.1} MiB of dump in {:.2} s ({:.1} MiB/s)",
            self.reencrypted_values,
            self.task_logs,
            self.task_log_lines,
            self.unparsable_log_line_count,
            self.artifact_files,
            mb,
            self.elapsed_seconds,
            rate
        )?;
        if !self.workers.is_empty() {
            writeln!(f, "pass 1 (index): {:.2} s", self.index_seconds)?;
            writeln!(
                f,
                "{:<28} {:>10} {:>10} {:>10}",
                "pass 2 thread", "items", "MiB", "busy s"
            )?;
            for w in &self.workers {
                writeln!(
                    f,
                    "{:<28} {:>10} {:>10.1} {:>10.2}",
                    w.worker,
                    w.items,
                    w.bytes as f64 / (1024.0 * 1024.0),
                    w.busy_seconds
                )?;
            }
        }
        if self.unknown_entry_count > 0 {
            let listed: Vec<String> = self
                .unknown_entries
                .iter()
                .map(|e| format!("{} ({} bytes)", e.name, e.size))
                .collect();
            let more = self
                .unknown_entry_count
                .saturating_sub(self.unknown_entries.len() as u64);
            writeln!(
                f,
                "note: {} entr{} of the backup not used: {}{}",
                self.unknown_entry_count,
                if self.unknown_entry_count == 1 {
                    "y"
                } else {
                    "ies"
                },
                listed.join(", "),
                if more > 0 {
                    format!(", and {more} more")
                } else {
                    String::new()
                }
            )?;
        }
        if !self.retention_policies_not_migrated.is_empty() {
            writeln!(
                f,
                "note: retention policies are kept on lifecycles in 3.x; not migrated: {}",
                self.retention_policies_not_migrated.join(", ")
            )?;
        }
        if let Some(m) = &self.merge {
            writeln!(f, "merge ({}) into a target that held data:", m.mode)?;
            writeln!(
                f,
                "  {:<26} {:>10} {:>10} {:>10} {:>10}",
                "table", "inserted", "replaced", "merged", "kept"
            )?;
            for (t, c) in &m.tables {
                writeln!(
                    f,
                    "  {:<26} {:>10} {:>10} {:>10} {:>10}",
                    t, c.inserted, c.replaced, c.merged, c.kept
                )?;
            }
            if m.matched_by_name_count > 0 {
                writeln!(
                    f,
                    "merge: {} document(s) matched a target row of the same name, e.g. {}",
                    m.matched_by_name_count,
                    m.matched_by_name.join(", ")
                )?;
            }
            if m.renumbered_count > 0 {
                writeln!(
                    f,
                    "merge: {} document(s) got a new id (theirs is another document's in the target), e.g. {}",
                    m.renumbered_count,
                    m.renumbered.join(", ")
                )?;
            }
        }
        if let Some(l) = &self.license {
            writeln!(f, "license: {l}")?;
        }
        Ok(())
    }
}
