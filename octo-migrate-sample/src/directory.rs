//! Editing a written backup's ZIP central directory, for tests of hostile containers: records
//! repeated, renamed or pointed at another entry's bytes. The zip crate's writer refuses to
//! write such archives, so they are made by rewriting a good one's directory.

use std::io;

const EOCD_SIG: u32 = 0x0605_4b50;
const CDFH_SIG: u32 = 0x0201_4b50;
const EOCD_LEN: usize = 22;
const CDFH_LEN: usize = 46;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_owned())
}

/// One central-directory record, as bytes (fixed part, name, extra field, comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRecord(pub Vec<u8>);

impl DirectoryRecord {
    /// The entry's name (lossy UTF-8).
    pub fn name(&self) -> String {
        let n = u16_at(&self.0, 28) as usize;
        String::from_utf8_lossy(&self.0[CDFH_LEN..CDFH_LEN + n]).into_owned()
    }

    /// The record under another name (the local header keeps the old one).
    pub fn renamed(&self, name: &str) -> DirectoryRecord {
        let n = u16_at(&self.0, 28) as usize;
        let mut b = self.0[..CDFH_LEN].to_vec();
        b[28..30].copy_from_slice(&(name.len() as u16).to_le_bytes());
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(&self.0[CDFH_LEN + n..]);
        DirectoryRecord(b)
    }

    /// Where the entry's local header is (as the archive states it; no ZIP64).
    pub fn local_header(&self) -> u32 {
        u32_at(&self.0, 42)
    }

    /// The record pointing at another local header.
    pub fn at_local_header(&self, offset: u32) -> DirectoryRecord {
        let mut b = self.0.clone();
        b[42..46].copy_from_slice(&offset.to_le_bytes());
        DirectoryRecord(b)
    }
}

/// Rewrites the central directory of the ZIP `zip` after `edit` has changed its records:
/// the entries' bytes stay as they are, the directory and its end record are written anew.
/// Only archives without ZIP64 records or an archive comment, as a small
/// [`crate::BackupWriter`] writes them.
pub fn edit_directory(
    zip: &[u8],
    edit: impl FnOnce(&mut Vec<DirectoryRecord>),
) -> io::Result<Vec<u8>> {
    let at = zip
        .len()
        .checked_sub(EOCD_LEN)
        .filter(|&at| u32_at(zip, at) == EOCD_SIG)
        .ok_or_else(|| invalid("no end record without comment at the end"))?;
    let eocd = &zip[at..];
    let (count, size, offset) = (
        u16_at(eocd, 10) as usize,
        u32_at(eocd, 12) as usize,
        u32_at(eocd, 16) as usize,
    );
    if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF || offset + size != at {
        return Err(invalid(
            "a ZIP64 archive or one with bytes around its directory",
        ));
    }
    let mut records = Vec::with_capacity(count);
    let mut p = offset;
    for _ in 0..count {
        let head = zip
            .get(p..p + CDFH_LEN)
            .filter(|h| u32_at(h, 0) == CDFH_SIG)
            .ok_or_else(|| invalid("a damaged central directory"))?;
        let len = CDFH_LEN
            + u16_at(head, 28) as usize
            + u16_at(head, 30) as usize
            + u16_at(head, 32) as usize;
        let rec = zip
            .get(p..p + len)
            .ok_or_else(|| invalid("a damaged central directory"))?;
        records.push(DirectoryRecord(rec.to_vec()));
        p += len;
    }
    edit(&mut records);
    let count = u16::try_from(records.len())
        .ok()
        .filter(|&c| c != 0xFFFF)
        .ok_or_else(|| invalid("too many records for an end record without ZIP64"))?;
    let mut out = zip[..offset].to_vec();
    for r in &records {
        out.extend_from_slice(&r.0);
    }
    let size = (out.len() - offset) as u32;
    out.extend_from_slice(&EOCD_SIG.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&(offset as u32).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}
