//! A buffered reader over a shared file that reads at its own position (`pread`), so the ZIP
//! archive can be cloned for another thread: the clones share the parsed central directory
//! (zip's `ZipArchive` keeps it behind an `Arc`) and never move each other's file offset.

use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::sync::Arc;

/// Read-ahead per handle: large enough for the central directory and the dump's
/// sequential reads, small enough for thousands of short log entries.
const BUFFER: usize = 64 * 1024;

/// A positional, buffered, cloneable reader of one file.
pub struct SharedFile {
    file: Arc<File>,
    len: u64,
    /// File offset of `buf[0]`.
    buf_start: u64,
    buf: Vec<u8>,
    /// Read position inside `buf`.
    at: usize,
}

impl SharedFile {
    /// Wraps `file`.
    pub fn new(file: File) -> io::Result<SharedFile> {
        let len = file.metadata()?.len();
        Ok(SharedFile {
            file: Arc::new(file),
            len,
            buf_start: 0,
            buf: Vec::new(),
            at: 0,
        })
    }

    fn pos(&self) -> u64 {
        self.buf_start + self.at as u64
    }
}

impl Clone for SharedFile {
    /// Another handle at the same position with a buffer of its own.
    fn clone(&self) -> SharedFile {
        SharedFile {
            file: Arc::clone(&self.file),
            len: self.len,
            buf_start: self.pos(),
            buf: Vec::new(),
            at: 0,
        }
    }
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, offset)
}

#[cfg(windows)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, offset)
}

impl BufRead for SharedFile {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at >= self.buf.len() {
            let pos = self.pos();
            self.buf.resize(BUFFER, 0);
            let n = loop {
                match read_at(&self.file, &mut self.buf, pos) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            self.buf.truncate(n);
            self.buf_start = pos;
            self.at = 0;
        }
        Ok(&self.buf[self.at..])
    }

    fn consume(&mut self, amt: usize) {
        self.at = (self.at + amt).min(self.buf.len());
    }
}

impl Read for SharedFile {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // A large read with an empty buffer goes straight to the file.
        if self.at >= self.buf.len() && out.len() >= BUFFER {
            let pos = self.pos();
            let n = read_at(&self.file, out, pos)?;
            self.buf_start = pos + n as u64;
            self.buf.clear();
            self.at = 0;
            return Ok(n);
        }
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos().checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        // Keep the buffer when the target is inside it (zip seeks a lot over short distances).
        if target >= self.buf_start && target <= self.buf_start + self.buf.len() as u64 {
            self.at = (target - self.buf_start) as usize;
        } else {
            self.buf_start = target;
            self.buf.clear();
            self.at = 0;
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn clones_read_independently_and_seeks_agree() {
        let mut f = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        let mut a = SharedFile::new(f).unwrap();
        let mut head = [0u8; 10];
        a.read_exact(&mut head).unwrap();
        assert_eq!(&head, &data[..10]);
        let mut b = a.clone();
        a.seek(SeekFrom::Start(150_000)).unwrap();
        let mut x = [0u8; 5];
        a.read_exact(&mut x).unwrap();
        assert_eq!(&x, &data[150_000..150_005]);
        b.read_exact(&mut x).unwrap();
        assert_eq!(&x, &data[10..15], "the clone kept its own position");
        assert_eq!(b.seek(SeekFrom::End(-3)).unwrap(), 199_997);
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &data[199_997..]);
        assert_eq!(a.seek(SeekFrom::Current(-5)).unwrap(), 150_000);
        let mut big = vec![0u8; 50_000];
        a.read_exact(&mut big).unwrap();
        assert_eq!(big, &data[150_000..]);
        assert!(a.seek(SeekFrom::Current(-300_000)).is_err());
    }
}
