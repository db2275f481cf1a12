//! Task logs: 2.6 activity-log lines to the 3.x task-log file format (docs/backup-format.md section 5,
//! docs/schema-3x.md "Files beside the database"). A line that does not parse never stops the
//! migration: it is kept verbatim as an Error line and counted; neither does one of any length
//! (docs/DESIGN.md "Hostile inputs").

use std::io::{self, BufRead, Write};

use chrono::{DateTime, FixedOffset};

use crate::layout::MAX_LOG_LINE_BYTES;
use crate::report::{BAD_LINE_EXAMPLES, BAD_LINE_REASON_MAX};
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
    /// Lines that did not parse, each written as an Error line.
    pub unparsable: u64,
    /// The first [`BAD_LINE_EXAMPLES`] of them: (1-based line number, reason). Only the count
    /// covers them all: a log of millions of bad lines costs no more than one of a hundred.
    pub bad: Vec<(u64, String)>,
}

impl LogStats {
    fn unparsable(&mut self, line: u64, reason: impl FnOnce() -> String) {
        self.unparsable += 1;
        if self.bad.len() < BAD_LINE_EXAMPLES {
            self.bad.push((line, bounded_reason(reason())));
        }
    }
}

/// A reason quotes the field that did not parse, which may be most of a long line: only its
/// start is kept.
fn bounded_reason(mut reason: String) -> String {
    if reason.len() > BAD_LINE_REASON_MAX {
        let mut end = BAD_LINE_REASON_MAX;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push_str("...");
    }
    reason
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
/// `queue_time` the time given to an unparsable first line. Memory stays within
/// [`MAX_LOG_LINE_BYTES`] and a few buffers whatever the log: a longer line is written whole
/// as an Error line without being held.
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
        let line = next_line(&mut input, &mut raw, MAX_LOG_LINE_BYTES)?;
        if line == Line::End {
            break;
        }
        line_no += 1;
        text.clear();
        if line == Line::Long {
            stats.unparsable(line_no, || {
                format!("longer than {MAX_LOG_LINE_BYTES} bytes: kept verbatim, not parsed")
            });
            error_prefix(&last_time, task_id, &mut text);
            stream_rest(&mut input, &raw, &mut out, &mut text)?;
            stats.lines += 1;
            continue;
        }
        if raw.last() == Some(&b'\r') {
            raw.pop();
        }
        if raw.is_empty() {
            continue; // blank lines carry no entry
        }
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
                error_prefix(&last_time, task_id, &mut text);
                escape(&String::from_utf8_lossy(&raw), &mut text);
                stats.unparsable(line_no, || reason);
            }
        }
        text.push('\n');
        out.write_all(text.as_bytes())?;
        stats.lines += 1;
    }
    Ok(stats)
}

/// `Error|<time>|<task id>|`: the start of the line an unparsable line becomes.
fn error_prefix(time: &DateTime<FixedOffset>, task_id: &str, text: &mut String) {
    text.push_str("Error|");
    text.push_str(&format_datetime(time));
    text.push('|');
    text.push_str(task_id);
    text.push('|');
}

#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// The log has ended.
    End,
    /// A whole line is in the buffer, without its line feed.
    Whole,
    /// The buffer holds the line's first bytes, as many as allowed; the rest is still unread.
    Long,
}

/// Reads the next line into `raw` (cleared first), holding at most `max` bytes of it.
fn next_line<R: BufRead>(input: &mut R, raw: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    raw.clear();
    let mut any = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(if any { Line::Whole } else { Line::End });
        }
        any = true;
        let room = max - raw.len();
        // A line feed right after `room` bytes still ends a line that fits.
        let look = buf.len().min(room + 1);
        match memchr::memchr(b'\n', &buf[..look]) {
            Some(i) => {
                raw.extend_from_slice(&buf[..i]);
                input.consume(i + 1);
                return Ok(Line::Whole);
            }
            None if buf.len() > room => {
                raw.extend_from_slice(&buf[..room]);
                input.consume(room);
                return Ok(Line::Long);
            }
            None => {
                let n = buf.len();
                raw.extend_from_slice(buf);
                input.consume(n);
            }
        }
    }
}

/// How much of a long line is escaped and written at a time.
const PIECE: usize = 64 * 1024;

/// Writes a long line as the message of the Error line `text` starts: `start` (the bytes held)
/// and the rest of the line from `input`, a piece at a time, exactly as
/// `escape(&String::from_utf8_lossy(line))` would render the whole line (without one `\r`
/// before its end), then the line feed.
fn stream_rest<R: BufRead, W: Write>(
    input: &mut R,
    start: &[u8],
    out: &mut W,
    text: &mut String,
) -> io::Result<()> {
    let mut v = Verbatim::default();
    for piece in start.chunks(PIECE) {
        v.feed(piece, text);
        out.write_all(text.as_bytes())?;
        text.clear();
    }
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        let (n, used, end) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i, i + 1, true),
            None => (buf.len(), buf.len(), false),
        };
        for piece in buf[..n].chunks(PIECE) {
            v.feed(piece, text);
            out.write_all(text.as_bytes())?;
            text.clear();
        }
        input.consume(used);
        if end {
            break;
        }
    }
    v.finish(text);
    text.push('\n');
    out.write_all(text.as_bytes())?;
    text.clear();
    Ok(())
}

/// A line's bytes turned into its escaped message a piece at a time (see [`stream_rest`]).
#[derive(Default)]
struct Verbatim {
    /// The end of the previous piece that the next one decides: an incomplete character, or a
    /// `\r` that is the line's ending if nothing follows it.
    held: Vec<u8>,
    scratch: Vec<u8>,
}

impl Verbatim {
    fn feed(&mut self, bytes: &[u8], out: &mut String) {
        if bytes.is_empty() {
            return;
        }
        self.scratch.clear();
        self.scratch.append(&mut self.held);
        self.scratch.extend_from_slice(bytes);
        let mut s = &self.scratch[..];
        if let Some(rest) = s.strip_suffix(b"\r") {
            self.held.push(b'\r');
            s = rest;
        }
        let mut chunks = s.utf8_chunks().peekable();
        while let Some(c) = chunks.next() {
            escape(c.valid(), out);
            let bad = c.invalid();
            if bad.is_empty() {
                continue;
            }
            // A character cut at the end of the piece may be completed by the next one.
            let incomplete = std::str::from_utf8(bad).is_err_and(|e| e.error_len().is_none());
            if chunks.peek().is_none() && self.held.is_empty() && incomplete {
                self.held.extend_from_slice(bad);
            } else {
                out.push(char::REPLACEMENT_CHARACTER);
            }
        }
    }

    /// The line has ended: a held `\r` was its ending, a held incomplete character is one
    /// replacement character.
    fn finish(&mut self, out: &mut String) {
        if !self.held.is_empty() && self.held != b"\r" {
            out.push(char::REPLACEMENT_CHARACTER);
        }
        self.held.clear();
    }
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
        assert_eq!((stats.lines, stats.unparsable), (5, 3));
        assert_eq!(
            stats.bad.iter().map(|b| b.0).collect::<Vec<_>>(),
            vec![1, 5, 6]
        );
    }
}
