//! Task logs: 2.6 activity-log lines to the 3.x task-log file format (docs/backup-format.md section 5,
//! docs/schema-3x.md "Files beside the database"). A line that does not parse never stops the
//! migration: it is kept verbatim as an Error line and counted.

use std::io::{self, BufRead, Write};

use chrono::{DateTime, FixedOffset};

use crate::schema::format_datetime;
use crate::schema::parse_datetime;

/// \[public\] Category numbers and their names.
pub const CATEGORIES: &[(u32, &str)] = &[
    (1, "Trace"),
    (100, "Verbose"),
    (200, "Info"),
    (250, "Alert"),
    (300, "Warning"),
    (400, "Error"),
    (500, "Fatal"),
];

/// What converting one log did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogStats {
    /// Lines written.
    pub lines: u64,
    /// Unparsable lines: (1-based line number, reason).
    pub bad: Vec<(u64, String)>,
}

fn escape(msg: &str, out: &mut String) {
    for ch in msg.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

struct Parsed<'a> {
    correlation: &'a str,
    occurred: DateTime<FixedOffset>,
    category: &'static str,
    message: String,
}

fn parse_line(line: &str) -> Result<Parsed<'_>, String> {
    let mut parts = line.splitn(5, '|');
    let (Some(correlation), Some(occurred), Some(category), Some(_actor), Some(message)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err("not five |-separated fields".into());
    };
    if correlation.is_empty() {
        return Err("empty correlation id".into());
    }
    let occurred = parse_datetime(occurred).map_err(|e| format!("bad time: {e}"))?;
    let num: u32 = category
        .trim()
        .parse()
        .map_err(|_| format!("category {category:?} is not a number"))?;
    let category = CATEGORIES
        .iter()
        .find(|(n, _)| *n == num)
        .map(|(_, name)| *name)
        .ok_or_else(|| format!("unknown category {num}"))?;
    let message: String =
        serde_json::from_str(message).map_err(|_| "the message is not a JSON string".to_owned())?;
    Ok(Parsed {
        correlation,
        occurred,
        category,
        message,
    })
}

/// Converts one task's log. `task_id` is the 3.x id (the correlation id of unparsable lines),
/// `queue_time` the time given to an unparsable first line.
pub fn convert<R: BufRead, W: Write>(
    mut input: R,
    mut out: W,
    task_id: &str,
    queue_time: Option<DateTime<FixedOffset>>,
) -> io::Result<LogStats> {
    let mut stats = LogStats::default();
    let mut last_time = queue_time.unwrap_or_default();
    let mut raw = Vec::new();
    let mut line_no = 0u64;
    let mut text = String::new();
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        line_no += 1;
        if raw.last() == Some(&b'\n') {
            raw.pop();
        }
        if raw.last() == Some(&b'\r') {
            raw.pop();
        }
        if raw.is_empty() {
            continue; // blank lines carry no entry
        }
        text.clear();
        let parsed = match std::str::from_utf8(&raw) {
            Ok(line) => parse_line(line).map(|p| {
                text.push_str(p.category);
                text.push('|');
                text.push_str(&format_datetime(&p.occurred));
                text.push('|');
                text.push_str(p.correlation);
                text.push('|');
                escape(&p.message, &mut text);
                p.occurred
            }),
            Err(_) => Err("not UTF-8".to_owned()),
        };
        match parsed {
            Ok(t) => last_time = t,
            Err(reason) => {
                text.clear();
                text.push_str("Error|");
                text.push_str(&format_datetime(&last_time));
                text.push('|');
                text.push_str(task_id);
                text.push('|');
                escape(&String::from_utf8_lossy(&raw), &mut text);
                stats.bad.push((line_no, reason));
            }
        }
        text.push('\n');
        out.write_all(text.as_bytes())?;
        stats.lines += 1;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_and_keeps_bad_lines() {
        let log = concat!(
            "garbage first line\n",
            "servertasks-1/abc|2015-06-01T10:00:00+10:00|200||\"Deploying \\\\ to\\nweb | 01\"\n",
            "servertasks-1/abc/def|2015-06-01T10:00:01+10:00|400|users-1|\"failed\"\r\n",
            "\n",
            "servertasks-1/abc|not a date|200||\"x\"\n",
            "servertasks-1/abc|2015-06-01T10:00:02+10:00|999||\"x\"\n",
        );
        let q = parse_datetime("2015-06-01T09:00:00Z").unwrap();
        let mut out = Vec::new();
        let stats = convert(log.as_bytes(), &mut out, "ServerTasks-1", Some(q)).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "Error|2015-06-01T09:00:00+00:00|ServerTasks-1|garbage first line"
        );
        assert_eq!(
            lines[1],
            "Info|2015-06-01T10:00:00+10:00|servertasks-1/abc|Deploying \\\\ to\\nweb | 01"
        );
        assert_eq!(
            lines[2],
            "Error|2015-06-01T10:00:01+10:00|servertasks-1/abc/def|failed"
        );
        assert_eq!(
            lines[3],
            "Error|2015-06-01T10:00:01+10:00|ServerTasks-1|servertasks-1/abc|not a date|200||\"x\""
        );
        assert!(lines[4].starts_with("Error|2015-06-01T10:00:01+10:00|ServerTasks-1|"));
        assert_eq!(stats.lines, 5);
        assert_eq!(
            stats.bad.iter().map(|b| b.0).collect::<Vec<_>>(),
            vec![1, 5, 6]
        );
    }
}
