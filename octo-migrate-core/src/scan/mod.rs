//! Pass 1: a light read of the whole dump that records what the transform needs to know about
//! documents that may come later in the file (the dump is ordered by RavenDB etag, not by
//! collection): which ids exist, names and dates for derived rows, HiLo maxima, attachment keys.
//! It holds a few dozen bytes per document, never a document itself.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::collections::{self, rewrite_id};
use crate::error::{Error, Location, Result};
use crate::filter::HistoryIndex;
use crate::layout;
use crate::parse::{Document, Item, Position};
use crate::transform::values::parse_datetime;

/// What a project contributes to other rows.
#[derive(Debug, Clone, Default)]
pub struct ProjectInfo {
    /// Name.
    pub name: String,
    /// Slug (derived from the name when absent).
    pub slug: String,
    /// 3.x project group id.
    pub group_id: String,
}

/// What a server task contributes to DeploymentHistory and task logs.
#[derive(Debug, Clone, Default)]
pub struct TaskInfo {
    /// State.
    pub state: String,
    /// QueueTime.
    pub queue_time: Option<DateTime<FixedOffset>>,
    /// StartTime.
    pub start_time: Option<DateTime<FixedOffset>>,
    /// CompletedTime.
    pub completed_time: Option<DateTime<FixedOffset>>,
}

/// The result of pass 1. Keys are 3.x ids (see [`rewrite_id`]), so lookups are case-blind.
#[derive(Debug, Default)]
pub struct Index {
    ids: HashSet<u64>,
    attachments: HashSet<u64>,
    /// Projects by 3.x id.
    pub projects: HashMap<String, ProjectInfo>,
    /// Environment names by 3.x id.
    pub environments: HashMap<String, String>,
    /// Release versions by 3.x id.
    pub releases: HashMap<String, String>,
    /// Server tasks by 3.x id.
    pub tasks: HashMap<String, TaskInfo>,
    /// `(3.x id, name)` of the documents of tables matched by name when merging
    /// ([`crate::merge::match_column`]): configuration, so a few per project at most.
    pub named: HashMap<crate::sink::Table, Vec<(String, String)>>,
    /// `Raven/Hilo/<collection>` maxima by lowercased collection name.
    pub hilo: HashMap<String, u64>,
    /// Documents seen (system documents included).
    pub docs: u64,
    /// Bytes of the export.
    pub bytes: u64,
    /// What `--maxage` needs, and its decision.
    pub history: HistoryIndex,
    /// When merging into a target with data: the backup ids that take other ids there
    /// ([`crate::merge::plan`]); empty otherwise.
    pub id_map: crate::merge::IdMap,
}

/// A 64-bit hash of a document id in its 3.x form (so any spelling of one id hashes alike).
pub fn id_hash(id: &str) -> u64 {
    // SipHash with fixed keys: deterministic across runs, no id strings kept in memory.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    rewrite_id(id).hash(&mut h);
    h.finish()
}

impl Index {
    /// An empty index; `cutoff` turns on the `--maxage` bookkeeping.
    pub fn new(cutoff: Option<crate::filter::Cutoff>) -> Index {
        Index {
            history: HistoryIndex::new(cutoff),
            ..Index::default()
        }
    }

    /// Whether a document with this id (any case) is in the backup.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(&id_hash(id))
    }
    /// Whether the backup has an attachment with this key (any case).
    pub fn has_attachment(&self, key: &str) -> bool {
        self.attachments.contains(&id_hash(key))
    }

    /// Records one item of the export. `at` locates errors.
    pub fn add(&mut self, item: &Item, pos: Position, at: &Location) -> Result<()> {
        match item {
            Item::Attachment(a) => {
                self.attachments.insert(id_hash(&a.key));
            }
            Item::Doc(d) => self.add_doc(d, pos, at)?,
        }
        Ok(())
    }

    fn add_doc(&mut self, d: &Document, pos: Position, at: &Location) -> Result<()> {
        self.docs += 1;
        let lower = d.id.to_lowercase();
        if lower.starts_with(layout::SYSTEM_DOC_PREFIX) {
            if let Some(c) = lower.strip_prefix(layout::HILO_PREFIX) {
                if let Some(max) = d.body.get("Max").and_then(Value::as_u64) {
                    let e = self.hilo.entry(c.to_owned()).or_insert(0);
                    *e = (*e).max(max);
                }
            }
            return Ok(());
        }
        if !self.ids.insert(id_hash(&d.id)) {
            return Err(Error::corrupt(
                Location {
                    offset: Some(pos.offset),
                    doc_index: Some(pos.index),
                    doc_id: Some(d.id.clone()),
                    ..at.clone()
                },
                "the same document id appears twice in the dump",
            ));
        }
        let Some(c) = d.collection.as_deref().and_then(collections::by_name) else {
            return Ok(());
        };
        self.history.add(c.name, &d.id, &d.body);
        let id = rewrite_id(&d.id);
        if let Some(table) = c.table {
            if let Some(col) = crate::merge::match_column(table) {
                if let Some(name) = d.body.get(col).and_then(Value::as_str) {
                    let names = self.named.entry(table).or_default();
                    names.push((id.clone(), name.to_owned()));
                }
            }
        }
        let s = |k: &str| {
            d.body
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let date = |k: &str| {
            d.body
                .get(k)
                .and_then(Value::as_str)
                .and_then(|v| parse_datetime(v).ok())
        };
        match c.name {
            "Projects" => {
                let name = s("Name");
                let slug = match d.body.get("Slug").and_then(Value::as_str) {
                    Some(slug) if !slug.is_empty() => slug.to_owned(),
                    _ => crate::transform::values::slugify(&name),
                };
                let group = d
                    .body
                    .get("ProjectGroupId")
                    .and_then(Value::as_str)
                    .map(rewrite_id);
                self.projects.insert(
                    id,
                    ProjectInfo {
                        name,
                        slug,
                        group_id: group.unwrap_or_default(),
                    },
                );
            }
            "Environments" => {
                self.environments.insert(id, s("Name"));
            }
            "Releases" => {
                self.releases.insert(id, s("Version"));
            }
            "ServerTasks" => {
                self.tasks.insert(
                    id,
                    TaskInfo {
                        state: s("State"),
                        queue_time: date("QueueTime"),
                        start_time: date("StartTime"),
                        completed_time: date("CompletedTime"),
                    },
                );
            }
            _ => {}
        }
        Ok(())
    }
}
