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

/// Reads the central directory of the ZIP in `file` (of `len` bytes), keeping every entry
/// whose name `is_log` maps to a task id in the log table and copying the others' records.
/// Errors are `InvalidData` with what is wrong and where.
pub(super) fn scan(
    file: &SharedFile,
    len: u64,
    is_log: &dyn Fn(&str) -> Option<String>,
) -> io::Result<Directory> {
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
        return Err(bad("a multi-disk archive"));
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
            return Err(bad("a ZIP64 end record is announced but missing"));
        }
        let mut loc = [0u8; LOCATOR_LEN as usize];
        read_at(&mut f, eocd_pos - LOCATOR_LEN, &mut loc)?;
        if u32_at(&loc, 0) != LOCATOR_SIG {
            return Err(bad(
                "a ZIP64 end record is announced but its locator is missing",
            ));
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
                return Err(bad("the ZIP64 end record is not where its locator says"));
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

    let mut r = io::BufReader::with_capacity(256 * 1024, {
        let mut c = file.clone();
        c.seek(SeekFrom::Start(cd_start))?;
        c.take(cd_size)
    });
    let mut small = Vec::new();
    let mut others = 0u64;
    let mut logs = LogTable::default();
    let mut rec = Vec::with_capacity(512);
    for n in 0..count {
        let at = cd_start + r_pos(cd_size, &r);
        let mut head = [0u8; CDFH_LEN];
        r.read_exact(&mut head).map_err(|_| {
            bad(format!(
                "the central directory ends at entry #{n} of {count}"
            ))
        })?;
        if u32_at(&head, 0) != CDFH_SIG {
            return Err(bad(format!(
                "entry #{n} of the central directory (byte {at}) has no record signature"
            )));
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
        let name = String::from_utf8_lossy(&rec[CDFH_LEN..CDFH_LEN + name_len]);
        match is_log(&name) {
            Some(task) if !name.ends_with('/') => {
                let extra = &rec[CDFH_LEN + name_len..CDFH_LEN + name_len + extra_len];
                let sizes = Sizes::of(&head, extra);
                let i = logs.len() as u32;
                logs.push(&task, sizes.offset + shift, sizes.size);
                if u16_at(&head, 8) & 0x08 != 0 {
                    logs.described
                        .push((i, sizes.compressed, sizes.size, u32_at(&head, 16)));
                }
            }
            _ => {
                small.extend_from_slice(&rec);
                others += 1;
            }
        }
    }
    logs.offsets.shrink_to_fit();
    logs.names.shrink_to_fit();
    logs.ends.shrink_to_fit();
    logs.by_hash.sort_unstable();
    logs.by_hash.shrink_to_fit();
    end_records(&mut small, others, cd_offset);
    Ok(Directory {
        cd_start,
        small,
        logs,
    })
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
        let d = scan(&file, bytes.len() as u64, &log_name).unwrap();
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
        let d = scan(&file, bytes.len() as u64, &log_name).unwrap();
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
        assert!(scan(&shared(&[]), 0, &log_name).is_err());
        assert!(scan(&shared(b"PK\x05\x06"), 4, &log_name).is_err());
        for cut in (0..bytes.len()).step_by(7) {
            let _ = scan(&shared(&bytes[..cut]), cut as u64, &log_name);
        }
        for at in 0..bytes.len() {
            let mut b = bytes.clone();
            b[at] ^= 0xFF;
            let _ = scan(&shared(&b), b.len() as u64, &log_name);
        }
        // The directory's first record without its signature.
        let d = scan(&shared(&bytes), bytes.len() as u64, &log_name).unwrap();
        let mut b = bytes.clone();
        b[d.cd_start as usize] = 0;
        let e = scan(&shared(&b), b.len() as u64, &log_name).err().unwrap();
        assert!(e.to_string().contains("no record signature"), "{e}");
    }
}
