//! Task logs: each activity log of a migrated server task converted to a 3.x task-log file in
//! the staging folder (or nowhere on a dry run), on a thread of its own beside pass 2.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, FixedOffset};

use super::files::{task_log_file_name, Staging};
use super::pass1::locate_duplicate;
use super::Options;
use crate::backup::Backup;
use crate::error::{ErrorKind, Location, Result};
use crate::ids::{id_hash, rewrite_id};
use crate::index::Index;
use crate::parse::{read_export, Item};
use crate::report::{BadLogLine, Report, WorkerStats, BAD_LINE_EXAMPLES};
use crate::schema::Table;
use crate::sink::MergeSink;
use crate::transform::task_log;
use crate::transform::values::to_column;

/// The QueueTime of a task to convert (the time of lines that have none), or `None` when its
/// log is not wanted.
type Pick<'a> = dyn Fn(&str) -> Option<Option<DateTime<FixedOffset>>> + 'a;

/// The tasks pass 2 will migrate, as pass 1 predicts them: all, or those `--maxage` keeps.
pub(super) fn predicted(
    index: &Index,
) -> impl Fn(&str) -> Option<Option<DateTime<FixedOffset>>> + '_ {
    move |task: &str| {
        let h = id_hash(task);
        let t = index.task(h)?;
        let queue = t.queue_time();
        let keep = index.history.keep_fields(
            "ServerTasks",
            crate::collections::Kind::History,
            h,
            queue,
            false,
        );
        keep.then_some(queue)
    }
}

/// Pass 2 has the final word on which logs belong to migrated tasks: converts those the
/// thread beside it did not (all of them with one worker), and removes from the staging folder
/// those it converted for tasks the target kept. Adds the "task logs" row to the report.
pub(super) fn reconcile(
    b: &mut Backup,
    index: &Index,
    mut migrated: Vec<u32>,
    converted: &[u32],
    staging: Option<&Staging>,
    report: &mut Report,
    busy_before: std::time::Duration,
) -> Result<()> {
    let started = Instant::now();
    migrated.sort_unstable();
    migrated.dedup();
    for &i in &migrated {
        if converted.binary_search(&i).is_ok() {
            continue;
        }
        if let Some(task) = b.log_task_at(i).map(rewrite_id) {
            let queue = index.task(id_hash(&task)).and_then(|t| t.queue_time());
            convert_one(b, i, &task, queue, staging, report)?;
        }
    }
    // Converted but not migrated (kept by the target when merging): not placed.
    if let Some(st) = staging {
        for &i in converted {
            if migrated.binary_search(&i).is_ok() {
                continue;
            }
            if let Some(task) = b.log_task_at(i).map(rewrite_id) {
                let _ = std::fs::remove_file(st.task_log_path(&task)?);
            }
        }
    }
    report.workers.push(WorkerStats {
        worker: "task logs".into(),
        items: report.task_logs,
        bytes: 0,
        busy_seconds: (busy_before + started.elapsed()).as_secs_f64(),
    });
    Ok(())
}

/// Converts, in file order, the activity logs whose task `pick` wants (it returns the task's
/// QueueTime, the time of lines that have none), into `staging` or nowhere on a dry run.
/// Returns the numbers of the converted logs, ascending (file order need not be: the directory
/// may list entries in another order). Stops early, without error, when `cancel` is set (pass 2
/// failed).
pub(super) fn convert_logs(
    b: &mut Backup,
    pick: &Pick<'_>,
    staging: Option<&Staging>,
    report: &mut Report,
    stopped: &dyn Fn() -> bool,
) -> Result<Vec<u32>> {
    let mut done = Vec::new();
    for i in b.log_indexes() {
        if stopped() {
            break;
        }
        let Some(task) = b.log_task_at(i).map(rewrite_id) else {
            continue;
        };
        if let Some(queue) = pick(&task) {
            convert_one(b, i, &task, queue, staging, report)?;
            done.push(i);
        }
    }
    // The caller binary-searches it.
    done.sort_unstable();
    Ok(done)
}

/// Converts activity log number `i`, of `task` (3.x id).
fn convert_one(
    b: &mut Backup,
    i: u32,
    task: &str,
    queue: Option<DateTime<FixedOffset>>,
    staging: Option<&Staging>,
    report: &mut Report,
) -> Result<()> {
    let (name, reader) = b.open_log_at(i)?;
    let entry_loc = b_loc(report, &name);
    let stats = match staging {
        Some(st) => {
            let path = st.task_log_path(task)?;
            let file = std::fs::File::create(&path).map_err(|source| ErrorKind::Files {
                path: path.clone(),
                source,
            })?;
            let mut w = std::io::BufWriter::new(file);
            let s = task_log::convert(reader, &mut w, task, queue);
            use std::io::Write as _;
            s.and_then(|s| w.flush().map(|()| s))
        }
        None => task_log::convert(reader, std::io::sink(), task, queue),
    }
    .map_err(|e| crate::backup::io_to_error(&entry_loc, &e))?;
    report.task_logs += 1;
    report.task_log_lines += stats.lines;
    report.unparsable_log_line_count += stats.unparsable;
    for (line, reason) in stats.bad {
        if report.unparsable_log_lines.len() < BAD_LINE_EXAMPLES {
            report.unparsable_log_lines.push(BadLogLine {
                task_id: task.to_owned(),
                line,
                reason,
            });
        }
    }
    Ok(())
}

/// `--onlylogs`: convert the logs of the tasks already in the target; write no row. Refuses,
/// before any file is written, a backup whose tasks are not the target's (same id, another
/// name or description), and, unless the merge mode says who wins, task-log files already
/// there; [`super::Merge::TargetWins`] keeps them, [`super::Merge::BackupWins`] replaces them.
pub(super) fn only_logs(
    b: &mut Backup,
    sink: Option<&mut dyn MergeSink>,
    opts: &Options,
    mut report: Report,
    started: Instant,
) -> Result<Report> {
    let loc = b.loc(Some(&b.dump_entry_name()));
    let mut index = Index::new(None);
    // The backup's tasks as their ServerTask rows would say: id hash -> hash of Name and
    // Description (16 bytes a task).
    let mut described: HashMap<u64, u64> = HashMap::new();
    let summary = read_export(b.open_dump()?, loc.clone(), &mut |item, _| {
        if let Item::Doc(d) = &item {
            let is_task = d
                .collection
                .as_deref()
                .and_then(crate::collections::by_name)
                .is_some_and(|c| c.name == "ServerTasks");
            if is_task
                && !d
                    .id
                    .to_lowercase()
                    .starts_with(crate::layout::SYSTEM_DOC_PREFIX)
            {
                let text = |c: &str| {
                    let col = Table::ServerTask.def().column(c);
                    col.and_then(|col| to_column(col, d.body.get(c).cloned()).ok())
                        .and_then(|v| v.to_text())
                        .unwrap_or_default()
                };
                described.insert(
                    id_hash(&d.id),
                    task_hash(&text("Name"), &text("Description")),
                );
            }
        }
        index.add(&item);
        Ok(())
    })
    .map_err(|e| e.with_report(report.clone()))?;
    if let Err(dups) = index.finish() {
        return Err(locate_duplicate(b, &loc, &dups).with_report(report));
    }
    report.dump_bytes = summary.bytes;
    let mut existing: Option<HashSet<u64>> = None;
    let mut kept: HashSet<u64> = HashSet::new();
    let staging = match sink {
        Some(s) => {
            let target = s.describe();
            let ids =
                same_tasks(s, &described, target).map_err(|e| e.with_report(report.clone()))?;
            existing = Some(ids);
            match &opts.files_dir {
                Some(dir) => {
                    let have = existing.as_ref();
                    let wanted = |task: &str| {
                        let h = id_hash(task);
                        have.is_some_and(|e| e.contains(&h)) && index.task(h).is_some()
                    };
                    let there = logs_already_there(b, dir, &wanted);
                    match opts.merge {
                        super::Merge::BackupWins => {}
                        super::Merge::TargetWins => {
                            kept = there.into_iter().map(|(h, _)| h).collect()
                        }
                        _ if there.is_empty() => {}
                        _ => {
                            let e: crate::error::Error = ErrorKind::TaskLogsExist {
                                dir: dir.join(crate::layout::TASK_LOG_DIR),
                                count: there.len() as u64,
                                examples: there
                                    .into_iter()
                                    .take(EXAMPLES)
                                    .map(|(_, n)| n)
                                    .collect(),
                            }
                            .into();
                            return Err(e.with_report(report));
                        }
                    }
                    Some(Staging::new(dir).map_err(|e| e.with_report(report.clone()))?)
                }
                None => None,
            }
        }
        None => None,
    };
    // The backup's tasks that the target has (all of them on a dry run), except those whose
    // log the target keeps.
    let pick = |task: &str| {
        let h = id_hash(task);
        if existing.as_ref().is_some_and(|e| !e.contains(&h)) || kept.contains(&h) {
            return None;
        }
        index.task(h).map(|t| t.queue_time())
    };
    convert_logs(b, &pick, staging.as_ref(), &mut report, &|| {
        opts.cancel.is_cancelled()
    })
    .and_then(|_| opts.cancel.check())
    .map_err(|e| e.with_report(report.clone()))?;
    if let Some(st) = staging {
        st.commit().map_err(|e| e.with_report(report.clone()))?;
        report.committed = true;
    }
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    report.finish_ok();
    Ok(report)
}

/// Examples named in the errors of [`only_logs`].
const EXAMPLES: usize = 5;

/// A task's Name and Description, hashed together (FNV-1a, with a separator no text has).
fn task_hash(name: &str, description: &str) -> u64 {
    name.bytes()
        .chain(std::iter::once(0xff))
        .chain(description.bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// \[model\] The target's server-task ids (hashed), after checking that every task the backup
/// and the target share has the same Name and Description in both: the same id on another
/// server is another task, whose log must not replace the target's.
fn same_tasks(
    s: &mut dyn MergeSink,
    backup: &HashMap<u64, u64>,
    target: String,
) -> Result<HashSet<u64>> {
    let names = s.existing_names(Table::ServerTask, "Name")?;
    let mut rows: HashMap<u64, (String, String)> = names
        .into_iter()
        .map(|(id, name)| (id_hash(&id), (id, name)))
        .collect();
    let mut differ: Vec<(String, String)> = Vec::new();
    let mut count = 0u64;
    for (id, description) in s.existing_names(Table::ServerTask, "Description")? {
        let h = id_hash(&id);
        let name = rows.get(&h).map(|(_, n)| n.as_str()).unwrap_or("");
        if backup
            .get(&h)
            .is_some_and(|b| *b != task_hash(name, &description))
        {
            count += 1;
            differ.push((id, description));
        }
        rows.entry(h)
            .or_insert_with(|| (String::new(), String::new()));
    }
    if count > 0 {
        // The lowest ids first, whatever order the target returned them in.
        differ.sort_by_key(|(id, _)| crate::ids::numbered(id).map(|(_, n)| n));
        differ.truncate(EXAMPLES);
        return Err(ErrorKind::ForeignTasks {
            target,
            count,
            examples: differ,
        }
        .into());
    }
    Ok(rows.into_keys().collect())
}

/// `(task id hash, file name)` of the task logs `wanted` that are already in `dir`, in the
/// order of the backup's logs.
fn logs_already_there(
    b: &Backup,
    dir: &std::path::Path,
    wanted: &dyn Fn(&str) -> bool,
) -> Vec<(u64, String)> {
    let logs = dir.join(crate::layout::TASK_LOG_DIR);
    if !logs.is_dir() {
        return Vec::new();
    }
    b.log_indexes()
        .into_iter()
        .filter_map(|i| b.log_task_at(i).map(rewrite_id))
        .filter(|task| wanted(task))
        .filter_map(|task| {
            let name = task_log_file_name(&task);
            logs.join(&name).exists().then(|| (id_hash(&task), name))
        })
        .collect()
}

fn b_loc(report: &Report, entry: &str) -> Location {
    Location {
        file: Some(PathBuf::from(&report.backup)),
        entry: Some(entry.to_owned()),
        ..Default::default()
    }
}
