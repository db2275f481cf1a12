//! Our own pass over the ZIP central directory, one record at a time.
//!
//! The zip crate parses the whole central directory into memory, about 210 bytes per entry,
//! and a large backup has one entry per task log: 540,000 entries made 115 MB of a 1 GiB
//! backup's peak. So the directory is streamed here once: each activity log keeps about
//! 40 bytes in a [`LogTable`] (where its local header is, its task id), and the records of the
//! few other entries are copied, byte for byte, into a small directory of their own that zip
//! parses through [`ZipView`]: the real file up to the directory, then the small one. Logs are
//! opened from their local headers with zip's streaming reader (see `Backup::open_log_at`).

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use super::file::SharedFile;

const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD64_SIG: u32 = 0x0606_4b50;
const LOCATOR_SIG: u32 = 0x0706_4b50;
const CDFH_SIG: u32 = 0x0201_4b50;
/// End record without comment; a comment adds at most 65,535 bytes.
const EOCD_LEN: u64 = 22;
const LOCATOR_LEN: u64 = 20;
const EOCD64_LEN: u64 = 56;
const CDFH_LEN: usize = 46;

/// Where each activity log is, without zip's per-entry record.
#[derive(Debug, Default)]
pub(super) struct LogTable {
    /// File offset of each log's local header, in directory order; the position is the log's
    /// number.
    pub offsets: Vec<u64>,
    /// The task ids (normalized entry names, see `log_task_id`), one after another.
    names: String,
    /// `names[ends[i-1]..ends[i]]` is log `i`'s task id.
    ends: Vec<u32>,
    /// (`id_hash` of the task id, log number), sorted.
    pub by_hash: Vec<(u64, u32)>,
    /// Logs whose sizes and CRC follow their data (flag bit 3), which the streaming reader
    /// must be told: (log number, compressed size, size, CRC-32), by number.
    pub described: Vec<(u32, u64, u64, u32)>,
    /// Stored bytes of all logs.
    pub bytes: u64,
}

impl LogTable {
    /// How many logs.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Log `i`'s task id, as stored (normalized).
    pub fn task(&self, i: u32) -> Option<&str> {
        let i = i as usize;
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.names.get(start..end)
    }

    /// How zip's streaming reader must read log `i`: with the directory's sizes and CRC when
    /// its local header does not have them.
    pub fn read_options<'a>(&self, i: u32, password: Option<&'a [u8]>) -> zip::ZipReadOptions<'a> {
        let opts = zip::ZipReadOptions::new().password(password);
        match self.described.binary_search_by_key(&i, |d| d.0) {
            Ok(at) => {
                let (_, compressed, size, crc) = self.described[at];
                opts.override_compressed_size(compressed)
                    .override_uncompressed_size(size)
                    .override_crc(crc)
            }
            Err(_) => opts,
        }
    }

    fn push(&mut self, task: &str, offset: u64, size: u64) {
        let n = self.offsets.len() as u32;
        self.offsets.push(offset);
        self.names.push_str(task);
        self.ends.push(self.names.len() as u32);
        self.by_hash.push((crate::ids::id_hash(task), n));
        self.bytes += size;
    }
}

/// The result of [`scan`].
pub(super) struct Directory {
    /// Where the central directory starts in the file (also where [`ZipView`] puts `small`).
    pub cd_start: u64,
    /// The other entries' directory records and an end record pointing at them.
    pub small: Vec<u8>,
    pub logs: LogTable,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn read_at(f: &mut SharedFile, at: u64, buf: &mut [u8]) -> io::Result<()> {
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(buf)
}

/// Why [`scan`] refused a directory.
#[derive(Debug)]
pub(super) enum ScanError {
    /// Not a ZIP directory we can read (`InvalidData` with what is wrong and where, or an I/O
    /// error).
    Zip(io::Error),
    /// A readable directory whose entry `entry` (as named in the archive) makes the backup
    /// ambiguous: listed twice, or claiming bytes another entry claims.
    Entry { entry: String, reason: String },
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> ScanError {
        ScanError::Zip(e)
    }
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Zip(e) => e.fmt(f),
            ScanError::Entry { entry, reason } => write!(f, "{entry}: {reason}"),
        }
    }
}

/// The task id of an entry name, if the entry is an activity log.
type IsLog = dyn Fn(&str) -> Option<String>;

/// Where the central directory is: `count` records in `size` bytes from `start`; `shift` is
/// added to every offset the archive states (bytes before the archive).
struct Cd {
    start: u64,
    size: u64,
    count: u64,
    shift: u64,
}

/// One record of the directory: its bytes (fixed part, name, extra field, comment).
struct Record<'a> {
    bytes: &'a [u8],
    name_len: usize,
    extra_len: usize,
}

impl Record<'_> {
    fn head(&self) -> &[u8] {
        &self.bytes[..CDFH_LEN]
    }
    fn name_raw(&self) -> &[u8] {
        &self.bytes[CDFH_LEN..CDFH_LEN + self.name_len]
    }
    fn name(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.name_raw())
    }
    fn extra(&self) -> &[u8] {
        &self.bytes[CDFH_LEN + self.name_len..CDFH_LEN + self.name_len + self.extra_len]
    }
    /// A folder, as zip tells them (the name ends in `/` or `\`).
    fn is_dir(&self) -> bool {
        matches!(self.name_raw().last(), Some(b'/' | b'\\'))
    }
    /// Sizes and where the local header is in the file (`shift` added).
    fn sizes(&self, shift: u64) -> io::Result<Sizes> {
        let mut s = Sizes::of(self.head(), self.extra());
        s.offset = s
            .offset
            .checked_add(shift)
            .ok_or_else(|| bad("an entry's local header lies beyond any file"))?;
        Ok(s)
    }
}

/// Calls `each` with every record of the directory, in order.
fn for_each_record(
    file: &SharedFile,
    cd: &Cd,
    each: &mut dyn FnMut(&Record<'_>) -> Result<(), ScanError>,
) -> Result<(), ScanError> {
    let mut r = io::BufReader::with_capacity(256 * 1024, {
        let mut c = file.clone();
        c.seek(SeekFrom::Start(cd.start))?;
        c.take(cd.size)
    });
    let (count, cd_size) = (cd.count, cd.size);
    let mut rec = Vec::with_capacity(512);
    for n in 0..count {
        let at = cd.start + r_pos(cd_size, &r);
        let mut head = [0u8; CDFH_LEN];
        r.read_exact(&mut head).map_err(|_| {
            bad(format!(
                "the central directory ends at entry #{n} of {count}"
            ))
        })?;
        if u32_at(&head, 0) != CDFH_SIG {
            return Err(bad(format!(
                "entry #{n} of the central directory (byte {at}) has no record signature"
            ))
            .into());
        }
        let (name_len, extra_len, comment_len) = (
            u16_at(&head, 28) as usize,
            u16_at(&head, 30) as usize,
            u16_at(&head, 32) as usize,
        );
        rec.clear();
        rec.extend_from_slice(&head);
        rec.resize(CDFH_LEN + name_len + extra_len + comment_len, 0);
        r.read_exact(&mut rec[CDFH_LEN..]).map_err(|_| {
            bad(format!(
                "entry #{n} of the central directory (byte {at}) is cut off"
            ))
        })?;
        each(&Record {
            bytes: &rec,
            name_len,
            extra_len,
        })?;
    }
    Ok(())
}

/// Reads the central directory of the ZIP in `file` (of `len` bytes), keeping every entry
/// whose name `is_log` maps to a task id in the log table and copying the others' records.
///
/// A directory that lists one entry twice (the same name, compared as `entry_key` compares
/// them; for activity logs, the same task), or two records whose local headers and data
/// overlap, is refused ([`ScanError::Entry`]): each entry would be read as often as it is
/// listed, and readers disagree on which of two same-named entries counts. Both checks sort
/// what the scan keeps anyway, plus 16 bytes per record while it runs.
pub(super) fn scan(
    file: &SharedFile,
    len: u64,
    is_log: &IsLog,
    entry_key: &dyn Fn(&str) -> String,
) -> Result<Directory, ScanError> {
    let mut f = file.clone();
    // The end record: the last signature whose comment reaches exactly the end of the file.
    let tail_len = len.min(EOCD_LEN + u16::MAX as u64);
    let mut tail = vec![0u8; tail_len as usize];
    read_at(&mut f, len - tail_len, &mut tail)?;
    let eocd_at = (0..tail.len().saturating_sub(EOCD_LEN as usize - 1))
        .rev()
        .find(|&i| {
            u32_at(&tail, i) == EOCD_SIG
                && i + EOCD_LEN as usize + u16_at(&tail, i + 20) as usize == tail.len()
        })
        .ok_or_else(|| bad("no end-of-central-directory record"))?;
    let eocd = &tail[eocd_at..eocd_at + EOCD_LEN as usize];
    let eocd_pos = len - tail_len + eocd_at as u64;
    if u16_at(eocd, 4) != 0 || u16_at(eocd, 6) != 0 {
        return Err(bad("a multi-disk archive").into());
    }
    let (mut count, mut cd_size, mut cd_offset) = (
        u16_at(eocd, 10) as u64,
        u32_at(eocd, 12) as u64,
        u32_at(eocd, 16) as u64,
    );
    // Where the directory's end (the end record, or the ZIP64 one) really is.
    let mut cd_end = eocd_pos;
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        if eocd_pos < LOCATOR_LEN + EOCD64_LEN {
            return Err(bad("a ZIP64 end record is announced but missing").into());
        }
        let mut loc = [0u8; LOCATOR_LEN as usize];
        read_at(&mut f, eocd_pos - LOCATOR_LEN, &mut loc)?;
        if u32_at(&loc, 0) != LOCATOR_SIG {
            return Err(bad("a ZIP64 end record is announced but its locator is missing").into());
        }
        // It normally sits right before the locator; its stated offset is the fallback.
        let mut rec = [0u8; EOCD64_LEN as usize];
        let before = eocd_pos - LOCATOR_LEN - EOCD64_LEN;
        read_at(&mut f, before, &mut rec)?;
        let mut rec_pos = before;
        if u32_at(&rec, 0) != EOCD64_SIG {
            rec_pos = u64_at(&loc, 8);
            read_at(&mut f, rec_pos, &mut rec)?;
            if u32_at(&rec, 0) != EOCD64_SIG {
                return Err(bad("the ZIP64 end record is not where its locator says").into());
            }
        }
        count = u64_at(&rec, 32);
        cd_size = u64_at(&rec, 40);
        cd_offset = u64_at(&rec, 48);
        cd_end = rec_pos;
    }
    // Bytes before the archive (a self-extractor stub) shift every stated offset.
    let cd_start = cd_end
        .checked_sub(cd_size)
        .ok_or_else(|| bad("the central directory is larger than the file"))?;
    let shift = cd_start
        .checked_sub(cd_offset)
        .ok_or_else(|| bad("the central directory is not where the end record says"))?;
    let cd = Cd {
        start: cd_start,
        size: cd_size,
        count,
        shift,
    };

    let mut small = Vec::new();
    let mut others = 0u64;
    let mut logs = LogTable::default();
    // What every record claims of the file: its local header's fixed part and its data,
    // `[local header, + 30 + compressed size)` (the local name and extra field may differ in
    // length from the directory's, so they are left out: a legitimate archive never fails it).
    // (Each record takes at least 46 bytes of the directory, which is inside the file.)
    let mut claims: Vec<(u64, u64)> = Vec::with_capacity(count.min(cd_size / 46) as usize);
    // The other files (not folders): (hash of the name as compared, where its record starts
    // in `small`).
    let mut other_keys: Vec<(u64, usize)> = Vec::new();
    for_each_record(file, &cd, &mut |rec| {
        let sizes = rec.sizes(shift)?;
        claims.push((
            sizes.offset,
            sizes
                .offset
                .saturating_add(LOCAL_LEN)
                .saturating_add(sizes.compressed),
        ));
        let name = rec.name();
        match is_log(&name) {
            Some(task) if !name.ends_with('/') => {
                let i = logs.len() as u32;
                logs.push(&task, sizes.offset, sizes.size);
                if u16_at(rec.head(), 8) & 0x08 != 0 {
                    logs.described
                        .push((i, sizes.compressed, sizes.size, u32_at(rec.head(), 16)));
                }
            }
            _ => {
                if !rec.is_dir() {
                    other_keys.push((key_hash(&entry_key(&name)), small.len()));
                }
                small.extend_from_slice(rec.bytes);
                others += 1;
            }
        }
        Ok(())
    })?;
    logs.offsets.shrink_to_fit();
    logs.names.shrink_to_fit();
    logs.ends.shrink_to_fit();
    logs.by_hash.sort_unstable();
    logs.by_hash.shrink_to_fit();

    // One task, two logs (the same name twice, or two spellings of one task id).
    let task_of = |i: u32| logs.task(i).map(crate::ids::rewrite_id).unwrap_or_default();
    if let Some((a, b)) = first_duplicate(&logs.by_hash, task_of) {
        let starts = [logs.offsets[a as usize], logs.offsets[b as usize]];
        let [first, second] = names_at(file, &cd, starts, Some(is_log));
        return Err(listed_twice(first, second, Some(&task_of(a))));
    }
    // One other entry twice (the dump, say).
    other_keys.sort_unstable();
    let name_in_small = |at: usize| {
        let rec = &small[at..];
        let n = u16_at(rec, 28) as usize;
        String::from_utf8_lossy(&rec[CDFH_LEN..CDFH_LEN + n]).into_owned()
    };
    if let Some((a, b)) = first_duplicate(&other_keys, |at| entry_key(&name_in_small(at))) {
        return Err(listed_twice(name_in_small(a), name_in_small(b), None));
    }
    drop(other_keys);
    // Two records over the same bytes.
    claims.sort_unstable();
    let mut reach: Option<(u64, u64)> = None; // (end, start) of the claim reaching furthest
    for &(start, end) in &claims {
        if let Some((far, from)) = reach {
            if start < far {
                let [first, second] = names_at(file, &cd, [from, start], None);
                let reason = if from == start {
                    format!(
                        "{second:?} has the same local header (byte {start}): \
                         entries of a ZIP archive do not share their bytes"
                    )
                } else {
                    format!(
                        "{second:?} starts at byte {start}, inside this entry \
                         (bytes {from}..{far}): entries of a ZIP archive do not overlap"
                    )
                };
                return Err(ScanError::Entry {
                    entry: first,
                    reason,
                });
            }
        }
        if reach.is_none_or(|(far, _)| end > far) {
            reach = Some((end, start));
        }
    }
    drop(claims);
    end_records(&mut small, others, cd_offset);
    Ok(Directory {
        cd_start,
        small,
        logs,
    })
}

/// The error for entry `first` listed again as `second` (of `task`'s activity log).
fn listed_twice(first: String, second: String, task: Option<&str>) -> ScanError {
    let reason = if first == second {
        "the ZIP directory lists this entry more than once: a backup holds each entry once"
            .to_owned()
    } else if let Some(task) = task {
        format!(
            "{second:?} is also the activity log of task {task}: a backup holds at most one \
             per task"
        )
    } else {
        format!(
            "{second:?} is the same entry (names are compared with case ignored and `\\` as \
             `/`): a backup holds each entry once"
        )
    };
    ScanError::Entry {
        entry: first,
        reason,
    }
}

/// Fixed part of a local header.
const LOCAL_LEN: u64 = 30;

/// A 64-bit hash of an entry name as compared (SipHash with fixed keys).
fn key_hash(key: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(key.as_bytes());
    h.finish()
}

/// In `sorted` ((hash, item), sorted by hash then item), the first two items whose `key` is
/// the same, earlier item first. Only items of equal hash are compared, by sorting each such
/// run by key: n log n in all, whatever collisions an input may hold.
fn first_duplicate<T: Copy + Ord>(
    sorted: &[(u64, T)],
    key: impl Fn(T) -> String,
) -> Option<(T, T)> {
    let mut found: Option<(T, T)> = None;
    for run in sorted.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
        let mut keyed: Vec<(String, T)> = run.iter().map(|&(_, t)| (key(t), t)).collect();
        keyed.sort_unstable();
        for w in keyed.windows(2) {
            if w[0].0 == w[1].0 && found.is_none_or(|f| (w[0].1, w[1].1) < f) {
                found = Some((w[0].1, w[1].1));
            }
        }
    }
    found
}

/// The names of the records whose local headers are at `starts` (only activity logs, when
/// `is_log` is given). Two equal starts give the first and the second record there. For error
/// messages: reads the directory again.
fn names_at(file: &SharedFile, cd: &Cd, starts: [u64; 2], is_log: Option<&IsLog>) -> [String; 2] {
    let mut out: [Option<String>; 2] = [None, None];
    let _ = for_each_record(file, cd, &mut |rec| {
        let Ok(sizes) = rec.sizes(cd.shift) else {
            return Ok(());
        };
        if !starts.contains(&sizes.offset)
            || is_log.is_some_and(|is_log| is_log(&rec.name()).is_none())
        {
            return Ok(());
        }
        if let Some(slot) = (0..2).find(|&k| out[k].is_none() && starts[k] == sizes.offset) {
            out[slot] = Some(rec.name().into_owned());
        }
        Ok(())
    });
    out.map(Option::unwrap_or_default)
}

/// Bytes of the directory read so far.
fn r_pos(cd_size: u64, r: &io::BufReader<io::Take<SharedFile>>) -> u64 {
    cd_size - r.get_ref().limit() - r.buffer().len() as u64
}

/// A directory record's sizes and local-header offset, from its ZIP64 extra field where the
/// record says 0xFFFFFFFF.
struct Sizes {
    size: u64,
    compressed: u64,
    offset: u64,
}

impl Sizes {
    fn of(head: &[u8], extra: &[u8]) -> Sizes {
        let mut s = Sizes {
            compressed: u32_at(head, 20) as u64,
            size: u32_at(head, 24) as u64,
            offset: u32_at(head, 42) as u64,
        };
        let mut e = extra;
        while e.len() >= 4 {
            let (id, n) = (u16_at(e, 0), u16_at(e, 2) as usize);
            let body = &e[4..(4 + n).min(e.len())];
            if id == 0x0001 {
                let mut at = 0;
                let mut next = |v: &mut u64| {
                    if *v == 0xFFFF_FFFF && at + 8 <= body.len() {
                        *v = u64_at(body, at);
                        at += 8;
                    }
                };
                next(&mut s.size);
                next(&mut s.compressed);
                next(&mut s.offset);
            }
            e = &e[(4 + n).min(e.len())..];
        }
        s
    }
}

/// Appends the end records for `count` directory records that start at `cd_offset` (as the
/// archive states offsets): ZIP64 ones when the numbers need them.
fn end_records(small: &mut Vec<u8>, count: u64, cd_offset: u64) {
    let size = small.len() as u64;
    let zip64 = count >= 0xFFFF || size >= 0xFFFF_FFFF || cd_offset >= 0xFFFF_FFFF;
    if zip64 {
        let rec_offset = cd_offset + size;
        small.extend_from_slice(&EOCD64_SIG.to_le_bytes());
        small.extend_from_slice(&(EOCD64_LEN - 12).to_le_bytes());
        small.extend_from_slice(&45u16.to_le_bytes());
        small.extend_from_slice(&45u16.to_le_bytes());
        small.extend_from_slice(&0u32.to_le_bytes());
        small.extend_from_slice(&0u32.to_le_bytes());
        small.extend_from_slice(&count.to_le_bytes());
        small.extend_from_slice(&count.to_le_bytes());
        small.extend_from_slice(&size.to_le_bytes());
        small.extend_from_slice(&cd_offset.to_le_bytes());
        small.extend_from_slice(&LOCATOR_SIG.to_le_bytes());
        small.extend_from_slice(&0u32.to_le_bytes());
        small.extend_from_slice(&rec_offset.to_le_bytes());
        small.extend_from_slice(&1u32.to_le_bytes());
    }
    let c16 = if zip64 { 0xFFFF } else { count as u16 };
    small.extend_from_slice(&EOCD_SIG.to_le_bytes());
    small.extend_from_slice(&[0, 0, 0, 0]);
    small.extend_from_slice(&c16.to_le_bytes());
    small.extend_from_slice(&c16.to_le_bytes());
    small.extend_from_slice(&(if zip64 { 0xFFFF_FFFF } else { size as u32 }).to_le_bytes());
    small.extend_from_slice(&(if zip64 { 0xFFFF_FFFF } else { cd_offset as u32 }).to_le_bytes());
    small.extend_from_slice(&0u16.to_le_bytes());
}

/// The backup as zip sees it: the file up to its central directory, then the small directory
/// of [`scan`] in its place.
#[derive(Clone)]
pub(super) struct ZipView {
    file: SharedFile,
    cd_start: u64,
    small: Arc<[u8]>,
    pos: u64,
}

impl ZipView {
    pub fn new(file: SharedFile, cd_start: u64, small: Vec<u8>) -> ZipView {
        ZipView {
            file,
            cd_start,
            small: small.into(),
            pos: 0,
        }
    }

    fn len(&self) -> u64 {
        self.cd_start + self.small.len() as u64
    }
}

impl Read for ZipView {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = if self.pos < self.cd_start {
            let room = (self.cd_start - self.pos).min(out.len() as u64) as usize;
            self.file.seek(SeekFrom::Start(self.pos))?;
            self.file.read(&mut out[..room])?
        } else {
            let at = ((self.pos - self.cd_start) as usize).min(self.small.len());
            let src = &self.small[at..];
            let n = src.len().min(out.len());
            out[..n].copy_from_slice(&src[..n]);
            n
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ZipView {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn log_name(name: &str) -> Option<String> {
        name.strip_prefix("ActivityLogs/")
            .and_then(|n| n.strip_suffix(".log"))
            .map(str::to_owned)
    }

    fn key(name: &str) -> String {
        name.to_lowercase()
    }

    fn shared(bytes: &[u8]) -> SharedFile {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        SharedFile::new(f).unwrap()
    }

    /// Reads log `i` through zip's streaming reader as `Backup` does.
    fn read_log(file: &SharedFile, logs: &LogTable, i: u32) -> Vec<u8> {
        let mut f = file.clone();
        f.seek(SeekFrom::Start(logs.offsets[i as usize])).unwrap();
        let opts = logs.read_options(i, None);
        let mut z = zip::read::read_zipfile_from_stream_with_options(&mut f, opts)
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        z.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn over_65535_entries_use_zip64_and_the_small_directory_still_opens() {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file("Backup.json", o).unwrap();
        w.write_all(b"{}").unwrap();
        for i in 0..66_000u32 {
            w.start_file(format!("ActivityLogs/servertasks-{i}.log"), o)
                .unwrap();
            write!(w, "log {i}").unwrap();
        }
        w.start_file("RavenDB/Raven.dump", o).unwrap();
        w.write_all(b"dump").unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let file = shared(&bytes);
        let d = scan(&file, bytes.len() as u64, &log_name, &key).unwrap();
        assert_eq!(d.logs.len(), 66_000);
        assert_eq!(d.logs.task(65_999), Some("servertasks-65999"));
        assert_eq!(read_log(&file, &d.logs, 65_432), b"log 65432");
        let at = d
            .logs
            .by_hash
            .binary_search_by_key(&crate::ids::id_hash("servertasks-7"), |x| x.0)
            .unwrap();
        assert_eq!(d.logs.task(d.logs.by_hash[at].1), Some("servertasks-7"));
        // zip reads the two other entries from the small directory.
        let mut z = zip::ZipArchive::new(ZipView::new(file, d.cd_start, d.small)).unwrap();
        assert_eq!(z.len(), 2);
        let mut dump = String::new();
        z.by_name("RavenDB/Raven.dump")
            .unwrap()
            .read_to_string(&mut dump)
            .unwrap();
        assert_eq!(dump, "dump");
    }

    #[test]
    fn entries_with_data_descriptors_and_zip64_extras_read_back() {
        // A streamed archive has no sizes in its local headers (flag bit 3).
        let mut w = zip::ZipWriter::new_stream(Vec::new());
        let deflated = SimpleFileOptions::default().large_file(true);
        w.start_file("ActivityLogs/servertasks-1.log", deflated)
            .unwrap();
        w.write_all(&b"a line of log\n".repeat(500)).unwrap();
        w.start_file("RavenDB/Raven.dump", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"dump").unwrap();
        w.start_file(
            "ActivityLogs/servertasks-2.log",
            SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(b"second").unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let file = shared(&bytes);
        let d = scan(&file, bytes.len() as u64, &log_name, &key).unwrap();
        assert_eq!(d.logs.len(), 2);
        assert_eq!(d.logs.described.len(), 2, "both logs were streamed");
        assert_eq!(read_log(&file, &d.logs, 0), b"a line of log\n".repeat(500));
        assert_eq!(read_log(&file, &d.logs, 1), b"second");
        assert_eq!(d.logs.bytes, 14 * 500 + 6);
        let mut z = zip::ZipArchive::new(ZipView::new(file, d.cd_start, d.small)).unwrap();
        assert_eq!(z.len(), 1);
        let mut dump = String::new();
        z.by_index(0).unwrap().read_to_string(&mut dump).unwrap();
        assert_eq!(dump, "dump");
    }

    #[test]
    fn duplicates_are_found_inside_runs_of_equal_hashes_only() {
        let key = |i: u32| ["a", "b", "a", "c", "b"][i as usize].to_owned();
        // Colliding hashes with different keys are not duplicates.
        assert_eq!(first_duplicate(&[(7, 0), (7, 1), (7, 3)], key), None);
        assert_eq!(first_duplicate(&[(1, 0), (2, 2)], key), None);
        // The earliest pair, earlier item first, whatever the runs' order.
        let sorted = [(3, 1), (3, 4), (5, 0), (5, 2), (5, 3)];
        assert_eq!(first_duplicate(&sorted, key), Some((0, 2)));
        // Many colliding, all different: sorted, not compared pairwise.
        let many: Vec<(u64, u32)> = (0..200_000).map(|i| (9, i)).collect();
        assert_eq!(first_duplicate(&many, |i| i.to_string()), None);
    }

    #[test]
    fn damaged_directories_are_errors_not_panics() {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for i in 0..20 {
            w.start_file(
                format!("ActivityLogs/servertasks-{i}.log"),
                SimpleFileOptions::default(),
            )
            .unwrap();
            w.write_all(b"x").unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        assert!(scan(&shared(&[]), 0, &log_name, &key).is_err());
        assert!(scan(&shared(b"PK\x05\x06"), 4, &log_name, &key).is_err());
        for cut in (0..bytes.len()).step_by(7) {
            let _ = scan(&shared(&bytes[..cut]), cut as u64, &log_name, &key);
        }
        for at in 0..bytes.len() {
            let mut b = bytes.clone();
            b[at] ^= 0xFF;
            let _ = scan(&shared(&b), b.len() as u64, &log_name, &key);
        }
        // The directory's first record without its signature.
        let d = scan(&shared(&bytes), bytes.len() as u64, &log_name, &key).unwrap();
        let mut b = bytes.clone();
        b[d.cd_start as usize] = 0;
        let e = scan(&shared(&b), b.len() as u64, &log_name, &key)
            .err()
            .unwrap();
        assert!(e.to_string().contains("no record signature"), "{e}");
    }
}
