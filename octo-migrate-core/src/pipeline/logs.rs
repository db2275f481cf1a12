//! Task logs: each activity log of a migrated server task converted to a 3.x task-log file in
//! the staging folder (or nowhere on a dry run), on a thread of its own beside pass 2.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, FixedOffset};

use super::files::Staging;
use super::pass1::locate_duplicate;
use super::Options;
use crate::backup::Backup;
use crate::error::{ErrorKind, Location, Result};
use crate::ids::{id_hash, rewrite_id};
use crate::index::Index;
use crate::parse::read_export;
use crate::report::{BadLogLine, Report, WorkerStats, BAD_LINE_EXAMPLES};
use crate::schema::Table;
use crate::sink::MergeSink;
use crate::transform::task_log;

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

/// `--onlylogs`: convert the logs of the tasks already in the target; write no row.
pub(super) fn only_logs(
    b: &mut Backup,
    sink: Option<&mut dyn MergeSink>,
    opts: &Options,
    mut report: Report,
    started: Instant,
) -> Result<Report> {
    let loc = b.loc(Some(&b.dump_entry_name()));
    let mut index = Index::new(None);
    let summary = read_export(b.open_dump()?, loc.clone(), &mut |item, _| {
        index.add(&item);
        Ok(())
    })
    .map_err(|e| e.with_report(report.clone()))?;
    if let Err(dups) = index.finish() {
        return Err(locate_duplicate(b, &loc, &dups).with_report(report));
    }
    report.dump_bytes = summary.bytes;
    let mut existing: Option<HashSet<u64>> = None;
    let staging = match sink {
        Some(s) => {
            existing = Some(
                s.existing_ids(Table::ServerTask)
                    .map_err(|e| e.with_report(report.clone()))?
                    .iter()
                    .map(|id| id_hash(id))
                    .collect(),
            );
            match &opts.files_dir {
                Some(dir) => Some(Staging::new(dir).map_err(|e| e.with_report(report.clone()))?),
                None => None,
            }
        }
        None => None,
    };
    // The backup's tasks that the target has (all of them on a dry run).
    let pick = |task: &str| {
        let h = id_hash(task);
        if existing.as_ref().is_some_and(|e| !e.contains(&h)) {
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
    Ok(report)
}

fn b_loc(report: &Report, entry: &str) -> Location {
    Location {
        file: Some(PathBuf::from(&report.backup)),
        entry: Some(entry.to_owned()),
        ..Default::default()
    }
}
