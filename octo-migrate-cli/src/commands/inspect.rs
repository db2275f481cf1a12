//! `inspect`: what is in a backup (entries, collections, date ranges, what --maxage keeps) and
//! what would block `migrate`, as tables or JSON.

use std::process::ExitCode;

use chrono::{DateTime, FixedOffset};
use octo_migrate_core::Problem;

use super::{parse_as_of, source_key};
use crate::args::InspectArgs;
use crate::exit::Failure;

pub(super) fn run(a: InspectArgs) -> Result<ExitCode, Failure> {
    let key = source_key(&a.key, a.json)?;
    let as_of = parse_as_of(a.as_of.as_deref())?;
    let i = octo_migrate_core::inspect::inspect(&a.file, &key, as_of)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&i).expect("serializes"));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "Octopus version: {}",
        i.octopus_version.as_deref().unwrap_or("(no Backup.json)")
    );
    let _ = writeln!(
        out,
        "Created:         {}",
        i.created
            .as_ref()
            .map_or_else(|| "(not recorded)".to_owned(), readable)
    );
    let _ = writeln!(out, "\n{:<40} {:>12} form", "entry", "bytes");
    for e in &i.entries {
        let _ = writeln!(
            out,
            "{:<40} {:>12} {}",
            e.name,
            e.size,
            if e.winzip_aes {
                "WinZip-AES"
            } else {
                "MK stream"
            }
        );
    }
    // Entries the tool does not use are listed up to a cap; the count covers them all.
    let more = i.entry_count.saturating_sub(i.entries.len() as u64);
    if more > 0 {
        let _ = writeln!(out, "... and {more} more");
    }
    let _ = writeln!(
        out,
        "{:<40} {:>12} ({} task logs)",
        "ActivityLogs/*.log", i.activity_logs.bytes, i.activity_logs.count
    );
    let _ = writeln!(
        out,
        "\n{:<28} {:>10}   {:<26} newest",
        "collection", "documents", "oldest"
    );
    for (c, n) in &i.collections {
        let (a, z) = i
            .date_ranges
            .get(c)
            .map(|r| (readable(&r.oldest), readable(&r.newest)))
            .unwrap_or_default();
        let line = format!("{c:<28} {n:>10}   {a:<26} {z}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(
        out,
        "({} system documents, {} attachments)",
        i.system_documents, i.attachments
    );
    let days: Vec<u32> = i.maxage_keeps.keys().copied().collect();
    let _ = write!(
        out,
        "\nkept by --maxage N (as of {})\n{:<28}",
        readable(&i.as_of),
        "collection"
    );
    for d in &days {
        let _ = write!(out, " {:>8}", format!("N={d}"));
    }
    let _ = writeln!(out, " {:>8}", "all");
    let mut names: Vec<&String> = i.maxage_keeps.values().flat_map(|m| m.keys()).collect();
    names.sort();
    names.dedup();
    for c in names {
        let _ = write!(out, "{c:<28}");
        for d in &days {
            let _ = write!(
                out,
                " {:>8}",
                i.maxage_keeps[d].get(c).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(out, " {:>8}", i.collections.get(c).copied().unwrap_or(0));
    }
    if i.blockers.is_empty() {
        let _ = writeln!(out, "\nNothing blocks the migration.");
    } else {
        let _ = writeln!(
            out,
            "\nWould block the migration ({}; migrate stops with exit 6 and writes nothing):",
            i.blockers.len()
        );
        for b in &i.blockers {
            let _ = writeln!(out, "  {}", blocker(b));
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// A date as people read it: seconds, no fraction, the offset as written in the backup.
fn readable(d: &DateTime<FixedOffset>) -> String {
    d.format("%Y-%m-%d %H:%M:%S %:z").to_string()
}

/// One blocker on one line: what it is, then where. Never a sensitive value (the core's
/// problems do not carry one).
fn blocker(p: &Problem) -> String {
    match p {
        Problem::UnsupportedStep {
            project,
            step,
            action,
            action_type,
            ..
        } => format!(
            "unsupported step: project {project:?}, step {step:?}, action {action:?} ({action_type}); \
             remove it in 2.6 or migrate with --skip-unsupported-steps"
        ),
        Problem::Undecryptable { doc_id, field, .. } => format!(
            "sensitive value that does not decrypt with this key: document {doc_id}, field {field}"
        ),
        Problem::TooLong {
            doc_id,
            table,
            column,
            max,
            length,
        } => format!(
            "too long for 3.x: document {doc_id}, {table}.{column} holds {max} characters, the \
             value has {length}"
        ),
        other => other.to_string(),
    }
}
