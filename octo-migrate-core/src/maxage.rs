//! `--maxage=N`: keep N days of history, and the older documents the current state needs
//! (docs/mapping.md "`--maxage=N`"). Pass 1 feeds [`HistoryIndex`] a few numbers per history
//! document; [`HistoryIndex::decide`] applies the keep rules once the whole dump is seen, so the
//! result depends neither on document order nor on threads; pass 2 asks [`HistoryIndex::keep`].

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, FixedOffset};
use serde_json::Value;

use crate::collections::{self, Kind};
use crate::ids::id_hash;
use crate::ids::numbered;
use crate::parse::Body;
use crate::schema::parse_datetime;

/// The cut-off: history dated before it is left out unless a kept document needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoff(pub DateTime<FixedOffset>);

impl Cutoff {
    /// `as_of - days`; a day count reaching before the earliest date chrono represents
    /// (about 262,000 BC) gives that date, which keeps everything \[model\].
    pub fn new(days: u32, as_of: DateTime<FixedOffset>) -> Cutoff {
        let earliest = DateTime::<chrono::Utc>::MIN_UTC.fixed_offset();
        Cutoff(
            Duration::try_days(i64::from(days))
                .and_then(|d| as_of.checked_sub_signed(d))
                .unwrap_or(earliest),
        )
    }
}

/// The age field of a history collection ([`crate::collections::Collection::age_field`]).
pub fn age_field(collection: &str) -> Option<&'static str> {
    collections::by_name(collection).and_then(|c| c.age_field)
}

/// Whether the collection holds frozen snapshots ([`crate::collections::Collection::snapshot`]).
pub fn is_snapshot(collection: &str) -> bool {
    collections::by_name(collection).is_some_and(|c| c.snapshot)
}

fn str_hash(body: &Body, k: &str) -> u64 {
    body.get(k)
        .and_then(Value::as_str)
        .map(id_hash)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy)]
struct Dep {
    id: u64,
    num: u64,
    project: u64,
    env: u64,
    created: Option<DateTime<FixedOffset>>,
    release: u64,
    task: u64,
    recent: bool,
}

/// What pass 1 records for the keep rules, then the decision.
#[derive(Debug, Default)]
pub struct HistoryIndex {
    cutoff: Option<Cutoff>,
    deployments: Vec<Dep>,
    /// release -> (recent, snapshot ids)
    releases: HashMap<u64, (bool, Vec<u64>)>,
    recent_tasks: HashSet<u64>,
    /// (id, recent, task) of artifacts and interruptions.
    task_children: Vec<(u64, bool, u64)>,
    keep: HashSet<u64>,
}

impl HistoryIndex {
    /// An index for `cutoff`; `None` records nothing and keeps everything.
    pub fn new(cutoff: Option<Cutoff>) -> HistoryIndex {
        HistoryIndex {
            cutoff,
            ..HistoryIndex::default()
        }
    }

    fn recent(&self, collection: &str, body: &Body) -> bool {
        let (Some(cut), Some(field)) = (self.cutoff, age_field(collection)) else {
            return true;
        };
        match body.get(field).and_then(Value::as_str).map(parse_datetime) {
            Some(Ok(d)) => d >= cut.0,
            // No date, or one we cannot read: never drop what we cannot judge [model].
            _ => true,
        }
    }

    /// Pass 1: records one document of `collection`.
    pub fn add(&mut self, collection: &str, id: &str, body: &Body) {
        if self.cutoff.is_none() {
            return;
        }
        let h = id_hash(id);
        let recent = self.recent(collection, body);
        match collection {
            "Deployments" => self.deployments.push(Dep {
                id: h,
                num: numbered(id).map(|(_, n)| n).unwrap_or(0),
                project: str_hash(body, "ProjectId"),
                env: str_hash(body, "EnvironmentId"),
                created: body
                    .get("Created")
                    .and_then(Value::as_str)
                    .and_then(|c| parse_datetime(c).ok()),
                release: str_hash(body, "ReleaseId"),
                task: str_hash(body, "TaskId"),
                recent,
            }),
            "Releases" => {
                let mut snaps = vec![
                    str_hash(body, "ProjectVariableSetSnapshotId"),
                    str_hash(body, "ProjectDeploymentProcessSnapshotId"),
                ];
                if let Some(Value::Array(ids)) = body.get("LibraryVariableSetSnapshotIds") {
                    snaps.extend(ids.iter().filter_map(Value::as_str).map(id_hash));
                }
                self.releases.insert(h, (recent, snaps));
            }
            "ServerTasks" if recent => {
                self.recent_tasks.insert(h);
            }
            "Artifacts" => self
                .task_children
                .push((h, recent, str_hash(body, "ServerTaskId"))),
            "Interruptions" => self
                .task_children
                .push((h, recent, str_hash(body, "TaskId"))),
            _ => {}
        }
    }

    /// After pass 1: applies the keep rules.
    pub fn decide(&mut self) {
        if self.cutoff.is_none() {
            return;
        }
        // 1. The latest deployment of each (project, environment), whatever its age.
        let mut latest: HashMap<(u64, u64), Dep> = HashMap::new();
        for d in &self.deployments {
            latest
                .entry((d.project, d.env))
                .and_modify(|best| {
                    if (d.created, d.num) > (best.created, best.num) {
                        *best = *d;
                    }
                })
                .or_insert(*d);
        }
        let latest_ids: HashSet<u64> = latest.values().map(|d| d.id).collect();
        let mut keep = HashSet::new();
        let mut kept_releases = HashSet::new();
        let mut kept_tasks = self.recent_tasks.clone();
        // 2. A kept deployment keeps its release and its server task.
        for d in &self.deployments {
            if d.recent || latest_ids.contains(&d.id) {
                keep.insert(d.id);
                kept_releases.insert(d.release);
                kept_tasks.insert(d.task);
            }
        }
        // 3. A kept release keeps its frozen snapshots.
        for (id, (recent, snaps)) in &self.releases {
            if *recent || kept_releases.contains(id) {
                keep.insert(*id);
                keep.extend(snaps.iter().copied().filter(|s| *s != 0));
            }
        }
        // 4. A kept task keeps its artifacts and interruptions (and its log: see the pipeline).
        for (id, recent, task) in &self.task_children {
            if *recent || kept_tasks.contains(task) {
                keep.insert(*id);
            }
        }
        keep.extend(kept_tasks);
        self.keep = keep;
        self.deployments = Vec::new();
        self.releases = HashMap::new();
        self.task_children = Vec::new();
    }

    /// Pass 2: whether a document survives `--maxage`. Configuration always does.
    pub fn keep(&self, collection: &str, kind: Kind, id: &str, body: &Body) -> bool {
        if self.cutoff.is_none() {
            return true;
        }
        let frozen = body
            .get("IsFrozen")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let date = age_field(collection)
            .and_then(|f| body.get(f))
            .and_then(Value::as_str)
            .and_then(|d| parse_datetime(d).ok());
        self.keep_fields(collection, kind, id_hash(id), date, frozen)
    }

    /// [`HistoryIndex::keep`] from what a document's keep depends on: its collection, id
    /// hash, age date (if readable) and `IsFrozen`.
    pub fn keep_fields(
        &self,
        collection: &str,
        kind: Kind,
        id: u64,
        date: Option<DateTime<FixedOffset>>,
        frozen: bool,
    ) -> bool {
        let Some(cut) = self.cutoff else {
            return true;
        };
        if is_snapshot(collection) {
            return !frozen || self.keep.contains(&id);
        }
        if kind != Kind::History {
            return true;
        }
        let recent = date.is_none_or(|d| d >= cut.0);
        match collection {
            "Events" => recent,
            _ => recent || self.keep.contains(&id),
        }
    }
}
