//! Hostile inputs (the issue "Nothing lost, whatever happens", findings 11 to 13): what a small
//! backup can make the migration hold in memory or spend in time, and that nothing it holds is
//! lost. Memory is measured with a counting global allocator (this binary only); every test
//! here runs alone (`serial`), so the peak is the test's own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use octo_migrate_core::error::ErrorKind;
use octo_migrate_core::internals::layout::{MAX_DOCUMENT_BYTES, MAX_LOG_LINE_BYTES};
use octo_migrate_core::internals::transform::task_log;
use octo_migrate_core::report::BAD_LINE_EXAMPLES;

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Both blocks exist for a moment: count the new one before releasing the old.
            let now = HELD.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
            HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

static SERIAL: Mutex<()> = Mutex::new(());

/// Every test of this file holds this while it runs: the allocator's peak is then its own.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` and returns what it returned and the most it held at once beyond what was held
/// when it started, in bytes. Call with [`serial`] held.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = HELD.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let r = f();
    (r, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Input made on the fly
// ---------------------------------------------------------------------------------------------

/// Reads as the concatenation of its parts, each a pattern repeated to a length, without ever
/// holding more than the patterns.
struct Repeat {
    parts: Vec<(Vec<u8>, u64)>,
    part: usize,
    /// Bytes of the current part handed out.
    done: u64,
}

impl Repeat {
    fn new() -> Repeat {
        Repeat {
            parts: Vec::new(),
            part: 0,
            done: 0,
        }
    }
    /// `text` once.
    fn then(mut self, text: impl AsRef<[u8]>) -> Repeat {
        let t = text.as_ref().to_vec();
        let n = t.len() as u64;
        self.parts.push((t, n));
        self
    }
    /// `pattern` repeated, cut at `len` bytes.
    fn repeat(mut self, pattern: impl AsRef<[u8]>, len: u64) -> Repeat {
        self.parts.push((pattern.as_ref().to_vec(), len));
        self
    }
}

impl Read for Repeat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some((pattern, len)) = self.parts.get(self.part) {
            if self.done == *len || pattern.is_empty() {
                self.part += 1;
                self.done = 0;
                continue;
            }
            let mut n = 0;
            while n < buf.len() && self.done < *len {
                let at = (self.done % pattern.len() as u64) as usize;
                let take = (pattern.len() - at)
                    .min(buf.len() - n)
                    .min((*len - self.done) as usize);
                buf[n..n + take].copy_from_slice(&pattern[at..at + take]);
                n += take;
                self.done += take as u64;
            }
            return Ok(n);
        }
        Ok(0)
    }
}

/// A writer that keeps only how much it was given, a checksum, and its first bytes.
#[derive(Default)]
struct Tally {
    len: u64,
    sum: u64,
    head: Vec<u8>,
}

impl Tally {
    fn of(mut r: impl Read) -> Tally {
        let mut t = Tally::default();
        io::copy(&mut r, &mut t).unwrap();
        t
    }
}

impl Write for Tally {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &b in buf {
            // FNV-1a: the order of the bytes matters.
            self.sum = (self.sum ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        self.len += buf.len() as u64;
        let room = 256usize.saturating_sub(self.head.len());
        self.head.extend_from_slice(&buf[..room.min(buf.len())]);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A backup (MK streams, GZip dump) whose dump is `dump`, with the key check and the given
/// activity logs.
fn backup_with(
    dump: impl Read,
    logs: Vec<(&str, Box<dyn Read>)>,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    octo_migrate_core::MasterKey,
) {
    use octo_migrate_sample::{BackupWriter, EntryForm};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.octobak");
    let key = octo_migrate_core::MasterKey::generate();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = BackupWriter::new(file, &key, EntryForm::MkStream);
    w.write_backup_json("2.6.5.1010", "2015-06-30T10:11:12+00:00")
        .unwrap();
    w.write_master_key_check().unwrap();
    let mut e = w.start_entry("RavenDB/Raven.dump", true, false).unwrap();
    let mut dump = dump;
    io::copy(&mut dump, &mut e).unwrap();
    e.finish().unwrap();
    for (task, mut log) in logs {
        let mut e = w.start_activity_log(task, true).unwrap();
        io::copy(&mut log, &mut e).unwrap();
        e.finish().unwrap();
    }
    w.finish().unwrap();
    (dir, path, key)
}

// ---------------------------------------------------------------------------------------------
// Finding 11: task-log lines
// ---------------------------------------------------------------------------------------------

const TASK: &str = "ServerTasks-1";
const GOOD_LINE: &str = "servertasks-1/abc|2015-06-01T10:00:00+10:00|200||\"Deploying\"\n";

#[test]
fn finding_11_unparsable_log_lines_are_counted_not_kept() {
    let _g = serial();
    // 1,000,000 lines that do not parse: 15 MB of log, a few KB once compressed.
    let n = 1_000_000u64;
    let line = b"not a log line\n";
    let input = BufReader::new(Repeat::new().repeat(line, n * line.len() as u64));
    let (stats, peak) = peak_of(|| task_log::convert(input, io::sink(), TASK, None).unwrap());
    eprintln!("{n} unparsable lines: peak {peak} bytes");
    // 64 B a line before: 64 MB here.
    assert!(peak < MIB, "converting held {peak} bytes at its peak");
    assert_eq!((stats.lines, stats.unparsable), (n, n));
    assert_eq!(
        stats.bad.iter().map(|b| b.0).collect::<Vec<_>>(),
        (1..=BAD_LINE_EXAMPLES as u64).collect::<Vec<_>>(),
        "the first lines are the examples"
    );
}

/// The 3.x form of a message: `\` doubled, a line feed as `\n` (transform/task_log.rs).
fn escaped(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

#[test]
fn finding_11_a_line_longer_than_the_cap_is_kept_whole_in_bounded_memory() {
    let _g = serial();
    // Multi-byte characters, a backslash and a pipe; 15 bytes, so characters straddle every
    // buffer boundary. 64 MiB of them on one line, between two good lines.
    let pattern = "ab\\c|é€😀 ";
    let reps = (64 * MIB / pattern.len() + 1) as u64;
    let long = reps * pattern.len() as u64;
    let input = || {
        Repeat::new()
            .then(GOOD_LINE)
            .repeat(pattern, long)
            .then("\r\n")
            .then(GOOD_LINE)
    };
    let good = "Info|2015-06-01T10:00:00+10:00|servertasks-1/abc|Deploying\n";
    let header = "Error|2015-06-01T10:00:00+10:00|ServerTasks-1|";
    let want = Tally::of(
        Repeat::new()
            .then(good)
            .then(header)
            .repeat(escaped(pattern), reps * escaped(pattern).len() as u64)
            .then("\n")
            .then(good),
    );
    let mut got = Tally::default();
    let (stats, peak) =
        peak_of(|| task_log::convert(BufReader::new(input()), &mut got, TASK, None).unwrap());
    eprintln!("a line of {long} bytes: peak {peak} bytes");
    // The whole line was held (and copied twice) before: 323 MB here.
    assert!(peak < 4 * MIB, "converting held {peak} bytes at its peak");
    assert_eq!(
        (got.len, got.sum, &got.head),
        (want.len, want.sum, &want.head),
        "the long line is written in full, escaped, as an Error line"
    );
    assert_eq!((stats.lines, stats.unparsable), (3, 1));
    assert_eq!(stats.bad.len(), 1);
    let (line, reason) = &stats.bad[0];
    assert_eq!(*line, 2);
    assert!(
        reason.contains(&MAX_LOG_LINE_BYTES.to_string()),
        "the reason names the limit: {reason}"
    );
}

/// A few pseudo-random bytes (xorshift), the same on every run.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn finding_11_a_long_line_reads_as_the_same_line_would_if_short() {
    let _g = serial();
    // A line over the cap made of everything a line can hold: text, backslashes, lone `\r`,
    // characters of every width, invalid and truncated UTF-8; another one at the very end of
    // the log, ending in an incomplete character and a `\r` with no line feed after it.
    let pieces: &[&[u8]] = &[
        b"plain ",
        b"\\",
        b"\r",
        "é€😀".as_bytes(),
        b"\xff",
        b"\xc0\x80",
        b"\x80",
        b"\xe2\x82",
        b"\xf0\x9f\x98",
        b"|",
    ];
    let make = |seed: u64, len: usize| {
        let mut line = Vec::with_capacity(len + 16);
        for r in noise(seed, len) {
            if line.len() >= len {
                break;
            }
            line.extend_from_slice(pieces[usize::from(r) % pieces.len()]);
        }
        line
    };
    let first = make(1, 5 * MIB / 2);
    let mut last = make(2, 3 * MIB / 2);
    last.extend_from_slice(b"\xe2\x82\r");
    let mut log = GOOD_LINE.as_bytes().to_vec();
    log.extend_from_slice(&first);
    log.extend_from_slice(b"\r\n");
    log.extend_from_slice(GOOD_LINE.as_bytes());
    log.extend_from_slice(&last);
    let mut want = String::new();
    let good = "Info|2015-06-01T10:00:00+10:00|servertasks-1/abc|Deploying\n";
    let header = "Error|2015-06-01T10:00:00+10:00|ServerTasks-1|";
    // One `\r` before the line feed (or the end) is the line ending, not the line's.
    let last_content = &last[..last.len() - 1];
    for (line, text) in [
        (None, good),
        (Some(&first[..]), ""),
        (None, good),
        (Some(last_content), ""),
    ] {
        match line {
            None => want.push_str(text),
            Some(l) => {
                want.push_str(header);
                want.push_str(&escaped(&String::from_utf8_lossy(l)));
                want.push('\n');
            }
        }
    }
    assert!(first.len() > MAX_LOG_LINE_BYTES && last.len() > MAX_LOG_LINE_BYTES);
    // Small odd buffers: the line's pieces fall across every kind of boundary.
    for capacity in [4099, 64 * 1024] {
        let mut out = Vec::new();
        let stats = task_log::convert(
            BufReader::with_capacity(capacity, &log[..]),
            &mut out,
            TASK,
            None,
        )
        .unwrap();
        assert_eq!(stats.lines, 4);
        assert_eq!(stats.bad.iter().map(|b| b.0).collect::<Vec<_>>(), [2, 4]);
        assert!(
            out == want.as_bytes(),
            "buffer of {capacity}: the output differs"
        );
    }
}

#[test]
fn finding_11_the_report_counts_every_unparsable_line_and_keeps_the_first() {
    use octo_migrate_core::{Migration, SqliteSink};
    let _g = serial();
    // 100,000 bad lines, one whose category field is 200 KB, one line of 3 MiB, good lines.
    let task = r#"{"Name":"Deploy","State":"Success","QueueTime":"2015-06-01T09:00:00+00:00","@metadata":{"@id":"ServerTasks-1","Raven-Entity-Name":"ServerTasks"}}"#;
    let dump = format!(r#"{{"Docs":[{task}]}}"#);
    let bad = 100_000u64;
    let long = 3 * MIB as u64;
    let log = || {
        Repeat::new()
            .then(GOOD_LINE)
            .repeat("garbage\n", bad * 8)
            .then("servertasks-1/abc|2015-06-01T10:00:00+10:00|")
            .repeat("9", 200_000)
            .then("||\"x\"\n")
            .repeat("x", long)
            .then("\n")
            .then(GOOD_LINE)
    };
    let (dir, path, key) = backup_with(dump.as_bytes(), vec![("ServerTasks-1", Box::new(log()))]);
    let db = dir.path().join("o.db");
    let report = Migration::new(&path, &key)
        .files_dir(dir.path())
        .run(&mut SqliteSink::new(&db))
        .unwrap();
    assert_eq!(report.task_logs, 1);
    assert_eq!(report.task_log_lines, bad + 4);
    assert_eq!(report.unparsable_log_line_count, bad + 2);
    let examples = &report.unparsable_log_lines;
    assert_eq!(examples.len(), BAD_LINE_EXAMPLES);
    assert_eq!(
        examples.iter().map(|l| l.line).collect::<Vec<_>>(),
        (2..2 + BAD_LINE_EXAMPLES as u64).collect::<Vec<_>>()
    );
    assert!(examples.iter().all(|l| l.task_id == "ServerTasks-1"));
    // Every line is in the file, the long one whole.
    let file = dir.path().join("TaskLogs").join("servertasks-1.txt");
    let text = std::fs::read(&file).unwrap();
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    assert_eq!(
        lines.len() as u64,
        bad + 4 + 1,
        "one line each, and the end"
    );
    let long_line = lines[bad as usize + 2];
    assert!(long_line.starts_with(b"Error|2015-06-01T10:00:00+10:00|ServerTasks-1|xxx"));
    assert_eq!(
        long_line.len() as u64,
        "Error|2015-06-01T10:00:00+10:00|ServerTasks-1|".len() as u64 + long
    );
}

#[test]
fn finding_11_a_reason_quotes_only_the_start_of_a_long_field() {
    let _g = serial();
    let mut log = b"servertasks-1/abc|2015-06-01T10:00:00+10:00|".to_vec();
    log.extend(std::iter::repeat_n(b'9', 200_000));
    log.extend_from_slice(b"||\"x\"\n");
    let stats = task_log::convert(&log[..], io::sink(), TASK, None).unwrap();
    let (line, reason) = &stats.bad[0];
    assert_eq!(*line, 1);
    assert!(reason.starts_with("category \"999"), "{reason}");
    assert!(reason.len() <= 210, "{} bytes of reason", reason.len());
}

// ---------------------------------------------------------------------------------------------
// Finding 12: a document's size
// ---------------------------------------------------------------------------------------------

const DOC_LIMIT: u64 = MAX_DOCUMENT_BYTES as u64;

fn project_json(id: &str) -> String {
    format!(r#"{{"Name":"{id}","@metadata":{{"@id":"{id}","Raven-Entity-Name":"Projects"}}}}"#)
}

#[test]
fn finding_12_an_oversized_document_fails_early_naming_it() {
    use octo_migrate_core::internals::parse::split_export;
    let _g = serial();
    // A normal document, then one whose string runs on for 256 MiB (made on the fly).
    let head = format!(r#"{{"Docs":[{},{{"Big":""#, project_json("projects-1"));
    let big_at = head.len() as u64 - r#"{"Big":""#.len() as u64;
    let input = Repeat::new()
        .then(&head)
        .repeat("a", 4 * DOC_LIMIT)
        .then(format!(r#""}},{}]}}"#, project_json("projects-2")));
    let mut seen = 0;
    let (res, peak) = peak_of(|| {
        split_export(
            BufReader::new(input),
            octo_migrate_core::error::Location::default(),
            &mut |_| {
                seen += 1;
                Ok(())
            },
        )
    });
    let e = res.expect_err("a document over the limit is refused");
    assert!(e.is_corrupt_backup(), "{e}");
    let ErrorKind::DocumentTooLarge { at, limit } = e.kind() else {
        panic!("not DocumentTooLarge: {e}")
    };
    assert_eq!(*limit, DOC_LIMIT);
    assert_eq!((at.doc_index, at.offset), (Some(1), Some(big_at)), "{e}");
    assert_eq!(e.location(), Some(at));
    assert!(e.to_string().contains("64 MiB"), "{e}");
    assert_eq!(seen, 1, "the documents before it were handed out");
    eprintln!(
        "a document of {} bytes refused: peak {peak} bytes",
        4 * DOC_LIMIT
    );
    // Refused before more than the limit was held: the buffer's capacity stops at the limit
    // (its last growth, from half the limit, counts both blocks here). The whole document was
    // held before, in a buffer grown to twice its size.
    assert!(
        peak < DOC_LIMIT as usize * 3 / 2 + MIB,
        "cutting held {peak} bytes at its peak"
    );
}

#[test]
fn finding_12_a_document_at_the_limit_is_read() {
    use octo_migrate_core::internals::parse::split_export;
    let _g = serial();
    let head = r#"{"Docs":[{"Big":""#;
    let tail = r#""}]}"#;
    let fill = DOC_LIMIT - (head.len() - r#"{"Docs":["#.len() + tail.len() - 2) as u64;
    let input = Repeat::new().then(head).repeat("a", fill).then(tail);
    let mut sizes = Vec::new();
    split_export(
        BufReader::new(input),
        octo_migrate_core::error::Location::default(),
        &mut |raw| {
            sizes.push((raw.bytes.len(), raw.bytes.capacity()));
            Ok(())
        },
    )
    .unwrap();
    let limit = DOC_LIMIT as usize;
    assert_eq!(sizes, [(limit, limit)], "held whole, in a buffer no larger");
}

#[test]
fn finding_12_an_oversized_document_stops_the_migration_before_anything_is_written() {
    use octo_migrate_core::{Migration, SqliteSink};
    let _g = serial();
    // One byte over the limit; pass 1 would read it, pass 2 write it (the row's JSON column).
    let head = format!(r#"{{"Docs":[{},{{"Big":""#, project_json("projects-1"));
    let tail = r#"","@metadata":{"@id":"projects-2","Raven-Entity-Name":"Projects"}}]}"#;
    let fill = DOC_LIMIT + 1 - (r#"{"Big":""#.len() + tail.len() - 2) as u64;
    let dump = Repeat::new().then(&head).repeat("a", fill).then(tail);
    let (dir, path, key) = backup_with(dump, Vec::new());
    let db = dir.path().join("o.db");
    let e = Migration::new(&path, &key)
        .run(&mut SqliteSink::new(&db))
        .expect_err("a document over the limit is refused");
    assert!(
        matches!(e.kind(), ErrorKind::DocumentTooLarge { .. }),
        "{e}"
    );
    assert_eq!(e.location().and_then(|l| l.doc_index), Some(1), "{e}");
    assert!(!db.exists(), "nothing is written");
}

#[test]
fn finding_12_a_document_of_tiny_properties_costs_a_bounded_multiple_of_its_size() {
    use octo_migrate_core::internals::parse::split_export;
    let _g = serial();
    // A document at the limit made of the smallest properties there are (5.7 M of them):
    // each becomes a property record, a key and a value text.
    let mut text = String::from(r#"{"Docs":[{"#);
    let mut n = 0;
    while text.len() < DOC_LIMIT as usize - 100 {
        text.push_str(&format!(r#""{n}":0,"#));
        n += 1;
    }
    text.push_str(r#""@metadata":{"@id":"projects-1","Raven-Entity-Name":"Projects"}}]}"#);
    let mut raws = Vec::new();
    split_export(
        text.as_bytes(),
        octo_migrate_core::error::Location::default(),
        &mut |r| {
            raws.push(r);
            Ok(())
        },
    )
    .unwrap();
    drop(text);
    let raw = raws.pop().unwrap();
    let size = raw.bytes.len();
    let (item, peak) = peak_of(move || raw.parse().unwrap());
    drop(item);
    eprintln!("{n} properties in {size} bytes: parsing held {peak} bytes at its peak");
    // 120 B a property record before: 1.48 GB, 22 times the document. Now 56 B: 771 MB,
    // 11.5 times (the record vector's last growth, both blocks counted, is most of it).
    assert!(
        peak < 14 * size,
        "parsing held {peak} bytes at its peak, {:.1} times the document",
        peak as f64 / size as f64
    );
}

#[test]
fn finding_12_many_large_documents_are_not_all_held_at_once() {
    use octo_migrate_core::Migration;
    let _g = serial();
    // 400 documents of 256 KiB each (100 MiB of export, a few hundred KB of backup): each one
    // fine, together far more than a migration should hold.
    let docs = 400;
    let big = 256 * 1024u64;
    let mut dump = Repeat::new().then(r#"{"Docs":["#);
    for i in 1..=docs {
        if i > 1 {
            dump = dump.then(",");
        }
        dump = dump
            .then(r#"{"Description":""#)
            .repeat("a", big)
            .then(format!(
                r#"","Name":"P{i}","@metadata":{{"@id":"projects-{i}","Raven-Entity-Name":"Projects"}}}}"#
            ));
    }
    let (_dir, path, key) = backup_with(dump.then("]}"), Vec::new());
    let (report, peak) = peak_of(|| Migration::new(&path, &key).dry_run().unwrap());
    assert_eq!(report.collections["Projects"].migrated, docs);
    eprintln!("{docs} documents of {big} bytes: peak {peak} bytes");
    // Batches of 256 documents held 64 MiB each, several at a time.
    assert!(
        peak < 48 * MIB,
        "the migration held {peak} bytes at its peak"
    );
}
// ---------------------------------------------------------------------------------------------
// Finding 13: wide documents
// ---------------------------------------------------------------------------------------------

/// Runs `f` on a thread of its own and fails when it has not finished within `limit` (the
/// thread is then left running; the test binary ends with the test run).
fn within<T: Send + 'static>(
    limit: std::time::Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {limit:?}")
        }
        Err(e) => panic!("{what} failed: {e}"),
    }
}

/// Parses `export` as pass 1 and pass 2 do, indexes it, and transforms every document: the
/// rows.
fn transform_export(export: &[u8]) -> Vec<octo_migrate_core::sink::Row> {
    use octo_migrate_core::internals::crypto::MasterKey;
    use octo_migrate_core::internals::index::Index;
    use octo_migrate_core::internals::parse::{split_export, Item};
    use octo_migrate_core::internals::transform::{transform, Context, Output};
    let mut index = Index::new(None);
    let mut docs = Vec::new();
    split_export(
        export,
        octo_migrate_core::error::Location::default(),
        &mut |raw| {
            index.add(&raw.clone().parse_for_index()?);
            if let Item::Doc(d) = raw.parse()? {
                docs.push(d);
            }
            Ok(())
        },
    )
    .unwrap();
    index.finish().unwrap();
    let (source, target) = (
        MasterKey::from_bytes([7; 16]),
        MasterKey::from_bytes([9; 16]),
    );
    let ctx = Context {
        index: &index,
        source_key: &source,
        target_key: &target,
        skip_unsupported_steps: false,
    };
    let mut out = Output::default();
    for d in docs {
        transform(d, &ctx, &mut out);
    }
    assert!(out.problems.is_empty(), "{:?}", out.problems.first());
    out.rows
}

#[test]
fn finding_13_a_document_with_a_million_properties_is_read_in_linear_time() {
    use octo_migrate_core::sink::{Table, Value};
    let _g = serial();
    // 1,000,000 properties, then the first 100,000 again with other values (a repeated key
    // keeps its first place and takes the last value), each value as the backup spells it.
    let n = 1_000_000;
    let again = 100_000;
    let value = |i: usize, round: usize| match (i + round) % 3 {
        0 => format!("{}.50", i),
        1 => format!(r#""caf\u00e9 {i}""#),
        _ => format!(r#"{{"x": [{i}, "y"]}}"#),
    };
    let mut export = String::from(r#"{"Docs":[{"Name":"Wide","#);
    let mut json = String::from("{");
    for i in 0..n {
        export.push_str(&format!(r#""P{i}":{},"#, value(i, 0)));
        let last = if i < again { 1 } else { 0 };
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(r#""P{i}":{}"#, value(i, last)));
    }
    json.push('}');
    for i in 0..again {
        export.push_str(&format!(r#""P{i}":{},"#, value(i, 1)));
    }
    export.push_str(r#""@metadata":{"@id":"projects-1","Raven-Entity-Name":"Projects"}}]}"#);
    // Quadratic lookups are 5 * 10^11 key comparisons here (the issue measured 20 s for
    // 100,000 properties): they did not finish in 60 s. Linear takes a few seconds in a debug
    // build.
    let t0 = std::time::Instant::now();
    let rows = within(
        std::time::Duration::from_secs(60),
        "a document with 1,000,000 properties",
        move || transform_export(export.as_bytes()),
    );
    eprintln!("1,000,000 properties transformed in {:?}", t0.elapsed());
    let project = rows.iter().find(|r| r.table == Table::Project).unwrap();
    assert_eq!(project.get("Name"), Some(&Value::Text("Wide".into())));
    let Some(Value::Text(got)) = project.get("JSON") else {
        panic!("no JSON column")
    };
    assert!(
        got == &json,
        "the JSON column is not the properties as they came"
    );
}

#[test]
fn finding_13_wide_nested_objects_are_walked_in_linear_time() {
    use octo_migrate_core::sink::Table;
    use serde_json::{json, Map, Value as Json};
    let _g = serial();
    // What the transform walks inside a document, each 100,000 wide (quadratic would be 10^10
    // steps; linear takes 5 to 10 s in a debug build on a busy machine): variables, a variable's
    // properties and scope, an action's environments, properties and sensitive properties,
    // lifecycle phases and their targets.
    let n = 100_000;
    let wide = |prefix: &str, v: Json| -> Map<String, Json> {
        (0..n)
            .map(|i| (format!("{prefix}{i}"), v.clone()))
            .collect()
    };
    let envs: Vec<Json> = (0..n).map(|i| json!(format!("environments-{i}"))).collect();
    let mut variables: Vec<Json> = (0..n)
        .map(|i| json!({"Id": format!("v{i}"), "Name": "N", "Value": "x", "IsSensitive": false, "Scope": {"Environment": ["environments-1"]}}))
        .collect();
    let mut one = wide("Extra", json!(1));
    one.insert("IsSensitive".into(), json!(false));
    let mut scope = wide("Other", json!(["x"]));
    scope.insert("Environment".into(), Json::Array(envs.clone()));
    one.insert("Scope".into(), Json::Object(scope));
    variables.push(Json::Object(one));
    let phases: Vec<Json> = (0..n)
        .map(|i| json!({"Name": format!("p{i}"), "AutomaticDeploymentTargets": ["environments-1"]}))
        .chain([json!({"Name": "all", "OptionalDeploymentTargets": envs.clone()})])
        .collect();
    let docs = [
        json!({"OwnerId": "projects-1", "Variables": variables,
            "@metadata": {"@id": "variableset-projects-1", "Raven-Entity-Name": "VariableSets"}}),
        json!({"OwnerId": "projects-1", "Steps": [{"Name": "s", "Actions": [{
            "Name": "a", "ActionType": "Octopus.TentaclePackage", "Environments": envs,
            "Properties": wide("Octopus.Action.P", json!("v")),
            "SensitiveProperties": wide("Secret", json!(""))}]}],
            "@metadata": {"@id": "deploymentprocess-projects-1", "Raven-Entity-Name": "DeploymentProcesses"}}),
        json!({"Name": "L", "Phases": phases,
            "@metadata": {"@id": "lifecycles-1", "Raven-Entity-Name": "Lifecycles"}}),
    ];
    let export = format!(
        r#"{{"Docs":[{}]}}"#,
        docs.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    drop(docs);
    let t0 = std::time::Instant::now();
    let rows = within(
        std::time::Duration::from_secs(120),
        "documents 100,000 wide inside",
        move || transform_export(export.as_bytes()),
    );
    eprintln!("transformed in {:?}", t0.elapsed());
    for t in [
        Table::VariableSet,
        Table::DeploymentProcess,
        Table::Lifecycle,
    ] {
        assert!(rows.iter().any(|r| r.table == t), "{t:?}");
    }
}
