//! `inspect`: what is in a backup, without migrating anything. One pass over the dump gives the
//! documents per collection, the date range of each history collection, and how many documents
//! `--maxage N` would keep for several N (the same rules as the migration). Then the migration's
//! own dry run (without task logs) names what would block `migrate`: the preflight's problems,
//! found by the very checks the migration makes, never re-implemented here.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use serde_json::Value;

use crate::backup::{Backup, EntryKind};
use crate::collections::{self, Kind};
use crate::crypto::MasterKey;
use crate::error::Result;
use crate::ids::id_hash;
use crate::maxage::{age_field, Cutoff, HistoryIndex};
use crate::parse::{read_export, Item};
use crate::pipeline::{Migration, TaskLogs};
use crate::preflight::Problem;
use crate::report::UNKNOWN_ENTRY_EXAMPLES;
use crate::schema::parse_datetime;

/// The day counts `inspect` evaluates (docs/cli.md).
pub const MAXAGE_DAYS: &[u32] = &[30, 90, 180, 365];

/// One entry of the backup.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct EntrySummary {
    /// Name as stored.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// WinZip-AES encrypted (rather than an MK stream).
    pub winzip_aes: bool,
}

/// The oldest and newest date of a history collection (RFC 3339 in JSON, as chrono writes it).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct DateRange {
    /// Oldest.
    pub oldest: DateTime<FixedOffset>,
    /// Newest.
    pub newest: DateTime<FixedOffset>,
}

/// What `inspect` found.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Inspection {
    /// `Backup.json`'s `OctopusVersion`.
    pub octopus_version: Option<String>,
    /// `Backup.json`'s `Created`, when it is a date.
    pub created: Option<DateTime<FixedOffset>>,
    /// Every entry except the activity logs, in the archive's order, of the entries this tool
    /// does not use only the first [`crate::report::UNKNOWN_ENTRY_EXAMPLES`].
    pub entries: Vec<EntrySummary>,
    /// How many entries there are except the activity logs (listed or not).
    pub entry_count: u64,
    /// The activity logs (one per task), in summary.
    pub activity_logs: crate::backup::ActivityLogs,
    /// Documents per collection (`Raven-Entity-Name`), system documents left out.
    pub collections: BTreeMap<String, u64>,
    /// RavenDB system documents.
    pub system_documents: u64,
    /// Attachments.
    pub attachments: u64,
    /// Date range per history collection.
    pub date_ranges: BTreeMap<String, DateRange>,
    /// The "now" of the `--maxage` figures.
    pub as_of: DateTime<FixedOffset>,
    /// For each N of [`MAXAGE_DAYS`]: documents `--maxage N` would keep, per history collection
    /// (and the frozen snapshots).
    pub maxage_keeps: BTreeMap<u32, BTreeMap<String, u64>>,
    /// What would stop `migrate` (without `--skip-unsupported-steps` and `--maxage`): the
    /// problems of the migration's preflight, every one of them. Sensitive values are named by
    /// document and field, never shown.
    pub blockers: Vec<Problem>,
}

struct Rec {
    collection: &'static str,
    kind: Kind,
    id: u64,
    date: Option<DateTime<FixedOffset>>,
    frozen: bool,
}

/// Inspects the backup at `path`: one pass of its own over the dump, then the migration's dry
/// run for the [`Inspection::blockers`] (two more passes, no task logs, nothing written; memory
/// bounded as the migration's). An error other than the preflight's (a duplicate id, say)
/// ends the inspection as it would end the migration.
pub fn inspect(
    path: impl AsRef<Path>,
    key: &MasterKey,
    as_of: DateTime<FixedOffset>,
) -> Result<Inspection> {
    let mut b = Backup::open(path.as_ref(), key)?;
    let loc = b.loc(Some(&b.dump_entry_name()));
    let mut histories: Vec<(u32, HistoryIndex)> = MAXAGE_DAYS
        .iter()
        .map(|d| (*d, HistoryIndex::new(Some(Cutoff::new(*d, as_of)))))
        .collect();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut ranges: BTreeMap<String, (DateTime<FixedOffset>, DateTime<FixedOffset>)> =
        BTreeMap::new();
    let mut recs = Vec::new();
    let mut system = 0u64;
    let mut attachments = 0u64;
    read_export(b.open_dump()?, loc, &mut |item, _| {
        let d = match item {
            Item::Attachment(_) => {
                attachments += 1;
                return Ok(());
            }
            Item::Doc(d) => d,
        };
        if d.id
            .to_lowercase()
            .starts_with(crate::layout::SYSTEM_DOC_PREFIX)
        {
            system += 1;
            return Ok(());
        }
        let name = d.collection.clone().unwrap_or_else(|| "(none)".into());
        *counts.entry(name).or_insert(0) += 1;
        let Some(c) = d.collection.as_deref().and_then(collections::by_name) else {
            return Ok(());
        };
        for (_, h) in &mut histories {
            h.add(c.name, &d.id, &d.body);
        }
        let date = age_field(c.name)
            .and_then(|f| d.body.get(f))
            .and_then(Value::as_str)
            .and_then(|s| parse_datetime(s).ok());
        if let Some(dt) = date {
            let r = ranges.entry(c.name.to_owned()).or_insert((dt, dt));
            r.0 = r.0.min(dt);
            r.1 = r.1.max(dt);
        }
        if c.kind == Kind::History || c.snapshot {
            recs.push(Rec {
                collection: c.name,
                kind: c.kind,
                id: id_hash(&d.id),
                date,
                frozen: d
                    .body
                    .get("IsFrozen")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            });
        }
        Ok(())
    })?;
    let mut unknown = 0usize;
    // The dry run opens the backup again; this one's readers are done.
    let blockers = match Migration::new(path.as_ref(), key)
        .task_logs(TaskLogs::Skip)
        .dry_run()
    {
        Ok(report) => report.problems,
        Err(e) if !e.problems().is_empty() => e.problems().to_vec(),
        Err(e) => return Err(e),
    };
    let mut keeps = BTreeMap::new();
    for (days, h) in &mut histories {
        h.decide();
        let mut per: BTreeMap<String, u64> = BTreeMap::new();
        for r in &recs {
            if h.keep_fields(r.collection, r.kind, r.id, r.date, r.frozen) {
                *per.entry(r.collection.to_owned()).or_insert(0) += 1;
            }
        }
        keeps.insert(*days, per);
    }
    Ok(Inspection {
        octopus_version: b.info().octopus_version.clone(),
        created: b
            .info()
            .created
            .as_deref()
            .and_then(|c| parse_datetime(c).ok()),
        entries: b
            .entries()
            .iter()
            .filter(|e| {
                e.kind != EntryKind::Unknown || {
                    unknown += 1;
                    unknown <= UNKNOWN_ENTRY_EXAMPLES
                }
            })
            .map(|e| EntrySummary {
                name: e.name.clone(),
                size: e.size,
                winzip_aes: e.winzip_aes,
            })
            .collect(),
        entry_count: b.entries().len() as u64,
        activity_logs: b.activity_logs(),
        collections: counts,
        system_documents: system,
        attachments,
        date_ranges: ranges
            .into_iter()
            .map(|(k, (oldest, newest))| (k, DateRange { oldest, newest }))
            .collect(),
        as_of,
        maxage_keeps: keeps,
        blockers,
    })
}
