//! Pass 1: a light read of the whole dump that records what the transform needs to know about
//! documents that may come later in the file (the dump is ordered by RavenDB etag, not by
//! collection): which ids exist, names and dates for derived rows, HiLo maxima, attachment keys.
//! It holds a few dozen bytes per document, never a document itself.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::collections;
use crate::ids::{id_hash, rewrite_id};
use crate::layout;
use crate::maxage::HistoryIndex;
use crate::parse::{Document, Item};
use crate::schema::parse_datetime;

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

/// What a server task contributes to DeploymentHistory and task logs. One per task (a large
/// backup has hundreds of thousands), so packed into 32 bytes: times as .NET ticks (100 ns,
/// the resolution .NET dates have) with their offset in minutes, the state as an index into
/// [`Index`]'s table of state names.
#[derive(Debug, Clone, Copy)]
pub struct TaskInfo {
    /// QueueTime, StartTime, CompletedTime: ticks, then offsets (apart, so nothing is padded).
    ticks: [i64; 3],
    offsets: [i16; 3],
    state: u16,
}

/// A date with its offset, packed; `ticks == i64::MIN` is "no date".
#[derive(Debug, Clone, Copy)]
struct Stamp {
    /// 100 ns units since 1970-01-01T00:00:00Z.
    ticks: i64,
    offset_minutes: i16,
}

impl Stamp {
    const NONE: Stamp = Stamp {
        ticks: i64::MIN,
        offset_minutes: 0,
    };

    fn pack(d: Option<DateTime<FixedOffset>>) -> Stamp {
        let Some(d) = d else {
            return Stamp::NONE;
        };
        let ticks = d
            .timestamp()
            .checked_mul(10_000_000)
            .and_then(|t| t.checked_add(i64::from(d.timestamp_subsec_nanos() / 100)));
        let offset = d.offset().local_minus_utc();
        match (ticks, i16::try_from(offset / 60)) {
            (Some(ticks), Ok(m)) if offset % 60 == 0 && ticks != i64::MIN => Stamp {
                ticks,
                offset_minutes: m,
            },
            // Not representable (no .NET date is): treated as absent.
            _ => Stamp::NONE,
        }
    }

    fn unpack(self) -> Option<DateTime<FixedOffset>> {
        if self.ticks == i64::MIN {
            return None;
        }
        let secs = self.ticks.div_euclid(10_000_000);
        let nanos = (self.ticks.rem_euclid(10_000_000) * 100) as u32;
        let offset = FixedOffset::east_opt(i32::from(self.offset_minutes) * 60)?;
        Some(DateTime::from_timestamp(secs, nanos)?.with_timezone(&offset))
    }
}

impl TaskInfo {
    fn new(times: [Option<DateTime<FixedOffset>>; 3], state: u16) -> TaskInfo {
        let s = times.map(Stamp::pack);
        TaskInfo {
            ticks: s.map(|x| x.ticks),
            offsets: s.map(|x| x.offset_minutes),
            state,
        }
    }
    fn time(&self, i: usize) -> Option<DateTime<FixedOffset>> {
        Stamp {
            ticks: self.ticks[i],
            offset_minutes: self.offsets[i],
        }
        .unpack()
    }
    /// QueueTime.
    pub fn queue_time(&self) -> Option<DateTime<FixedOffset>> {
        self.time(0)
    }
    /// StartTime.
    pub fn start_time(&self) -> Option<DateTime<FixedOffset>> {
        self.time(1)
    }
    /// CompletedTime.
    pub fn completed_time(&self) -> Option<DateTime<FixedOffset>> {
        self.time(2)
    }
}

/// The result of pass 1. Keys are 3.x ids (see [`rewrite_id`]), so lookups are case-blind.
#[derive(Debug, Default)]
pub struct Index {
    /// Hashes of every document id: appended by pass 1, sorted by [`Index::finish`]. A
    /// sorted vector is 8 bytes a document, where a hash set costs twice that and more while
    /// it grows.
    ids: Vec<u64>,
    /// Where each top-16-bit prefix starts in `ids` (and in `tasks`): a lookup then searches a
    /// few dozen entries instead of the whole vector (binary search over millions of hashes
    /// showed in perf).
    id_starts: Vec<u32>,
    task_starts: Vec<u32>,
    finished: bool,
    attachments: HashSet<u64>,
    /// Projects by 3.x id.
    pub projects: HashMap<String, ProjectInfo>,
    /// Environment names by 3.x id.
    pub environments: HashMap<String, String>,
    /// Release versions by [`id_hash`] of the id.
    pub releases: HashMap<u64, Box<str>>,
    /// Server tasks with the [`id_hash`] of their id, sorted by [`Index::finish`].
    tasks: Vec<(u64, TaskInfo)>,
    /// Task state names, each kept once ([`TaskInfo`] holds an index).
    states: Vec<Box<str>>,
    /// `(3.x id, name)` of the documents of tables matched by name when merging
    /// ([`crate::schema::match_column`]): configuration, so a few per project at most.
    pub named: HashMap<crate::schema::Table, Vec<(String, String)>>,
    /// Also keep each release's merge key ([`crate::ids::release_key`]) in `named`: set
    /// before pass 1 when merging, as releases are history and can be many.
    pub merge_keys: bool,
    /// Documents whose name (see `named`) equals another's once case and trailing spaces are
    /// ignored, as SQL Server's default collation compares: by [`id_hash`], the table and
    /// column, its name and the `(3.x id, name)` of the others. Found by [`Index::finish`].
    pub name_clashes: HashMap<u64, NameClash>,
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
    pub id_map: crate::ids::IdMap,
}

/// A document whose name clashes with others' ([`Index::name_clashes`]).
#[derive(Debug, Clone)]
pub struct NameClash {
    /// Its table.
    pub table: crate::schema::Table,
    /// The unique column: `Name` or `Username`.
    pub column: &'static str,
    /// Its name.
    pub name: String,
    /// `(3.x id, name)` of the documents it clashes with, in dump order.
    pub others: Vec<(String, String)>,
}

/// For sorted hashes: `starts[p]` is the index of the first hash whose top 16 bits are `>= p`
/// (65,537 entries, the last one the length).
fn prefix_starts(sorted: impl Iterator<Item = u64>) -> Vec<u32> {
    let mut starts = vec![0u32; (1 << 16) + 1];
    let mut n = 0u32;
    for h in sorted {
        starts[(h >> 48) as usize + 1] += 1;
        n += 1;
    }
    for p in 1..starts.len() {
        starts[p] += starts[p - 1];
    }
    debug_assert_eq!(starts[1 << 16], n);
    starts
}

/// The part of a sorted vector where `h` can be.
fn prefix_range(starts: &[u32], h: u64) -> std::ops::Range<usize> {
    let p = (h >> 48) as usize;
    starts[p] as usize..starts[p + 1] as usize
}

impl Index {
    /// An empty index; `cutoff` turns on the `--maxage` bookkeeping.
    pub fn new(cutoff: Option<crate::maxage::Cutoff>) -> Index {
        Index {
            history: HistoryIndex::new(cutoff),
            ..Index::default()
        }
    }

    /// The State of a server task.
    pub fn task_state(&self, t: &TaskInfo) -> &str {
        self.states.get(usize::from(t.state)).map_or("", |s| s)
    }

    /// Ends pass 1: sorts what lookups search. Returns the hashes of ids that appear more than
    /// once (the backup is corrupt; [`Index::add`] cannot tell, as it only appends).
    pub fn finish(&mut self) -> std::result::Result<(), Vec<u64>> {
        self.ids.sort_unstable();
        self.ids.shrink_to_fit();
        self.tasks.sort_unstable_by_key(|(h, _)| *h);
        self.tasks.shrink_to_fit();
        self.id_starts = prefix_starts(self.ids.iter().copied());
        self.task_starts = prefix_starts(self.tasks.iter().map(|(h, _)| *h));
        self.finished = true;
        let mut dups: Vec<u64> = self
            .ids
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        dups.dedup();
        self.find_name_clashes();
        if dups.is_empty() {
            Ok(())
        } else {
            Err(dups)
        }
    }

    /// \[model\] Names that SQL Server would take for one: Octopus 3.x's unique name columns
    /// (`Name`, `Username`) live under a case-insensitive, accent-sensitive collation that also
    /// ignores trailing spaces, so `Prod`, `PROD` and `prod ` cannot all be rows; SQLite would
    /// take them. Every document of such a group becomes a preflight problem.
    fn find_name_clashes(&mut self) {
        self.name_clashes.clear();
        for (table, names) in &self.named {
            let Some(column) = crate::schema::match_column(*table) else {
                continue; // release keys (merging only) are not names
            };
            let mut groups: HashMap<String, Vec<&(String, String)>> = HashMap::new();
            for entry in names {
                let key = entry.1.trim_end_matches(' ').to_lowercase();
                groups.entry(key).or_default().push(entry);
            }
            for group in groups.values().filter(|g| g.len() > 1) {
                for (id, name) in group.iter().map(|e| (&e.0, &e.1)) {
                    let others = group
                        .iter()
                        .filter(|e| &e.0 != id)
                        .map(|e| (e.0.clone(), e.1.clone()))
                        .collect();
                    self.name_clashes.insert(
                        id_hash(id),
                        NameClash {
                            table: *table,
                            column,
                            name: name.clone(),
                            others,
                        },
                    );
                }
            }
        }
    }

    /// Whether a document whose [`id_hash`] is `h` is in the backup.
    pub(crate) fn contains_hash(&self, h: u64) -> bool {
        if self.finished {
            let r = prefix_range(&self.id_starts, h);
            self.ids[r].binary_search(&h).is_ok()
        } else {
            // Before `finish` (pass 1 itself): correct, if slow.
            self.ids.contains(&h)
        }
    }

    /// The server task whose id has this [`id_hash`].
    pub fn task(&self, h: u64) -> Option<&TaskInfo> {
        if self.finished {
            let r = prefix_range(&self.task_starts, h);
            let part = &self.tasks[r];
            let at = part.partition_point(|(k, _)| *k < h);
            part.get(at).filter(|(k, _)| *k == h).map(|(_, t)| t)
        } else {
            self.tasks.iter().find(|(k, _)| *k == h).map(|(_, t)| t)
        }
    }

    /// Whether the backup has an attachment with this key (any case).
    pub fn has_attachment(&self, key: &str) -> bool {
        self.attachments.contains(&id_hash(key))
    }

    /// Records one item of the export. Call [`Index::finish`] after the last one.
    pub fn add(&mut self, item: &Item) {
        match item {
            Item::Attachment(a) => {
                self.attachments.insert(id_hash(&a.key));
            }
            Item::Doc(d) => self.add_doc(d),
        }
    }

    fn add_doc(&mut self, d: &Document) {
        self.docs += 1;
        let lower = d.id.to_lowercase();
        if lower.starts_with(layout::SYSTEM_DOC_PREFIX) {
            if let Some(c) = lower.strip_prefix(layout::HILO_PREFIX) {
                if let Some(max) = d.body.get("Max").and_then(Value::as_u64) {
                    let e = self.hilo.entry(c.to_owned()).or_insert(0);
                    *e = (*e).max(max);
                }
            }
            return;
        }
        // Duplicates are found by `finish`, on the sorted hashes.
        self.ids.push(id_hash(&d.id));
        let Some(c) = d.collection.as_deref().and_then(collections::by_name) else {
            return;
        };
        self.history.add(c.name, &d.id, &d.body);
        let id = rewrite_id(&d.id);
        if let Some(table) = c.table {
            if let Some(col) = crate::schema::match_column(table) {
                if let Some(name) = d.body.get(col).and_then(Value::as_str) {
                    let names = self.named.entry(table).or_default();
                    names.push((id.clone(), name.to_owned()));
                }
            } else if self.merge_keys && table == crate::schema::Table::Release {
                let get = |k: &str| d.body.get(k).and_then(Value::as_str);
                if let (Some(v), Some(p)) = (get("Version"), get("ProjectId")) {
                    let key = crate::ids::release_key(v, &rewrite_id(p));
                    self.named.entry(table).or_default().push((id.clone(), key));
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
                    _ => crate::ids::slugify(&name),
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
                self.releases.insert(id_hash(&id), s("Version").into());
            }
            "ServerTasks" => {
                let name = s("State");
                let state = match self.states.iter().position(|x| **x == *name) {
                    Some(i) => i,
                    None => {
                        self.states.push(name.into());
                        self.states.len() - 1
                    }
                };
                self.tasks.push((
                    id_hash(&id),
                    TaskInfo::new(
                        [date("QueueTime"), date("StartTime"), date("CompletedTime")],
                        u16::try_from(state).unwrap_or(u16::MAX),
                    ),
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_times_keep_offset_and_dotnet_precision() {
        for t in [
            "2015-06-30T10:11:12.1234567+10:00",
            "2015-06-30T10:11:12-05:30",
            "0001-01-01T00:00:00+00:00",
            "9999-12-31T23:59:59.9999999+14:00",
        ] {
            let d = parse_datetime(t).unwrap();
            let back = Stamp::pack(Some(d)).unpack().unwrap();
            assert_eq!(back, d, "{t}");
            assert_eq!(back.offset(), d.offset(), "{t}");
        }
        assert!(Stamp::pack(None).unpack().is_none());
    }

    #[test]
    fn lookups_after_finish_find_exactly_what_was_added() {
        let mut index = Index::default();
        let ids: Vec<String> = (0..5000).map(|i| format!("projects-{i}")).collect();
        for id in &ids {
            let doc = crate::parse::Document {
                id: id.clone(),
                collection: Some("Projects".into()),
                body: crate::parse::Body::new(),
            };
            index.add(&Item::Doc(doc));
        }
        assert!(
            index.contains_hash(id_hash("Projects-17")),
            "before finish, the slow path"
        );
        index.finish().unwrap();
        for id in &ids {
            assert!(index.contains_hash(id_hash(id)), "{id}");
        }
        assert!(!index.contains_hash(id_hash("projects-5000")));
        assert!(!index.contains_hash(id_hash("environments-1")));
        assert!(std::mem::size_of::<TaskInfo>() <= 32);
    }
}
