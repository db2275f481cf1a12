//! MK streams (`IV || AES-128-CBC ciphertext`, PKCS#7) as `io::Read` / `io::Write` adapters.

use std::io::{self, Read};

use aes::cipher::{Array, BlockModeDecrypt, KeyIvInit};

use super::{Aes128CbcDec, MasterKey, BLOCK};

/// Why an MK stream could not be decrypted. Carried inside `io::Error` (kind `InvalidData`) so
/// that the stream stacks with other readers; recover it with [`MkStreamError::from_io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MkStreamError {
    /// Fewer than 16 bytes: not even an IV.
    #[error("the encrypted stream is shorter than its 16-byte IV")]
    MissingIv,
    /// The ciphertext is not a whole number of 16-byte blocks (a truncated or damaged entry).
    #[error("the encrypted stream is not a whole number of AES blocks ({0} bytes after the IV)")]
    Truncated(u64),
    /// The last block does not end in valid PKCS#7 padding: a wrong key, or a damaged entry.
    #[error("the encrypted stream's last block has invalid padding")]
    BadPadding,
}

impl MkStreamError {
    /// The `MkStreamError` inside an `io::Error` produced by [`MkStreamReader`], if any.
    pub fn from_io(e: &io::Error) -> Option<MkStreamError> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<MkStreamError>())
            .copied()
    }
}

impl From<MkStreamError> for io::Error {
    fn from(e: MkStreamError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

pub(super) const CHUNK: usize = 64 * 1024;

/// Decrypts an MK stream while reading it. The last block is held back until the end of the
/// input so the padding can be checked and stripped; the padding error (a wrong key or damage)
/// therefore surfaces at the end, as with any CBC stream.
pub struct MkStreamReader<R> {
    inner: R,
    key: [u8; 16],
    cipher: Option<Aes128CbcDec>,
    /// Ciphertext read but not yet decrypted (always < one chunk + one block).
    pending: Vec<u8>,
    /// Plaintext ready to hand out: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    ciphertext_len: u64,
    done: bool,
}

impl<R: Read> MkStreamReader<R> {
    /// Wraps `inner`, which starts with the 16-byte IV.
    pub fn new(inner: R, key: &MasterKey) -> MkStreamReader<R> {
        MkStreamReader {
            inner,
            key: *key.bytes(),
            cipher: None,
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            ciphertext_len: 0,
            done: false,
        }
    }

    fn start(&mut self) -> io::Result<()> {
        let mut iv = [0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            match self.inner.read(&mut iv[got..]) {
                Ok(0) => return Err(MkStreamError::MissingIv.into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.cipher = Some(Aes128CbcDec::new((&self.key).into(), (&iv).into()));
        Ok(())
    }

    /// Reads more ciphertext and decrypts every block but the last one seen.
    fn refill(&mut self) -> io::Result<()> {
        if self.cipher.is_none() {
            self.start()?;
        }
        self.out.clear();
        self.out_pos = 0;
        let mut eof = false;
        // Read until we have more than one block to release, or the input ends.
        while self.pending.len() < 2 * BLOCK {
            let old = self.pending.len();
            // Grow with what the source gives: small entries keep small buffers.
            let want = if self.ciphertext_len == 0 {
                4 * 1024
            } else {
                CHUNK
            };
            self.pending.resize(old + want, 0);
            let n = loop {
                match self.inner.read(&mut self.pending[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.pending.truncate(old);
                        return Err(e);
                    }
                }
            };
            self.pending.truncate(old + n);
            self.ciphertext_len += n as u64;
            if n == 0 {
                eof = true;
                break;
            }
        }
        let cipher = self.cipher.as_mut().expect("started above");
        if eof {
            if self.pending.is_empty() || !self.pending.len().is_multiple_of(BLOCK) {
                return Err(MkStreamError::Truncated(self.ciphertext_len).into());
            }
            let (blocks, _) = Array::slice_as_chunks_mut(&mut self.pending[..]);
            cipher.decrypt_blocks(blocks);
            let pad = *self.pending.last().expect("non-empty") as usize;
            let len = self.pending.len();
            if pad == 0
                || pad > BLOCK
                || !self.pending[len - pad..].iter().all(|&b| b as usize == pad)
            {
                return Err(MkStreamError::BadPadding.into());
            }
            self.pending.truncate(len - pad);
            std::mem::swap(&mut self.out, &mut self.pending);
            self.pending.clear();
            self.done = true;
            return Ok(());
        }
        // Release whole blocks, keeping the last whole block (and any partial one) back.
        let whole = self.pending.len() / BLOCK * BLOCK;
        let release = whole - BLOCK;
        let (blocks, _) = Array::slice_as_chunks_mut(&mut self.pending[..release]);
        cipher.decrypt_blocks(blocks);
        self.out.extend_from_slice(&self.pending[..release]);
        self.pending.drain(..release);
        Ok(())
    }
}

impl<R: Read> Read for MkStreamReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.refill()?;
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MkStreamWriter;
    use std::io::Write;

    fn roundtrip(len: usize) {
        let key = MasterKey::generate();
        let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = MkStreamWriter::new(Vec::new(), &key).unwrap();
        w.write_all(&plain).unwrap();
        let enc = w.finish().unwrap();
        assert_eq!(enc.len(), BLOCK + (len / BLOCK + 1) * BLOCK);
        let mut out = Vec::new();
        MkStreamReader::new(&enc[..], &key)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn roundtrips_every_boundary() {
        for len in [
            0,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            3 * CHUNK + 5,
        ] {
            roundtrip(len);
        }
    }

    #[test]
    fn matches_openssl_vector() {
        // openssl enc -aes-128-cbc -K 000102...0f -iv 0f0e..00 <<< "Hello, Octopus" (no newline)
        let key = MasterKey::from_bytes(core::array::from_fn(|i| i as u8));
        let iv: [u8; 16] = core::array::from_fn(|i| 15 - i as u8);
        let mut w = MkStreamWriter::with_iv(Vec::new(), &key, iv).unwrap();
        w.write_all(b"Hello, Octopus").unwrap();
        let enc = w.finish().unwrap();
        let mut out = Vec::new();
        MkStreamReader::new(&enc[..], &key)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"Hello, Octopus");
    }

    #[test]
    fn wrong_key_is_bad_padding_or_garbage() {
        let key = MasterKey::generate();
        let mut w = MkStreamWriter::new(Vec::new(), &key).unwrap();
        w.write_all(b"Hello, Octopus").unwrap();
        let enc = w.finish().unwrap();
        let other = MasterKey::generate();
        let mut out = Vec::new();
        match MkStreamReader::new(&enc[..], &other).read_to_end(&mut out) {
            Err(e) => assert_eq!(MkStreamError::from_io(&e), Some(MkStreamError::BadPadding)),
            Ok(_) => assert_ne!(out, b"Hello, Octopus"),
        }
    }

    /// Found by fuzz target backup_open (fuzz/regressions/backup_open/hang-mk-stream-partial-block.octobak):
    /// a ciphertext of 17..31 bytes made `read` loop forever instead of reporting truncation.
    #[test]
    fn fuzz_hang_partial_block_is_truncation_not_a_loop() {
        let key = MasterKey::generate();
        for ct_len in [1usize, 15, 17, 20, 31, 33, 47, 65] {
            let input = vec![0u8; BLOCK + ct_len];
            let e = MkStreamReader::new(&input[..], &key)
                .read_to_end(&mut Vec::new())
                .unwrap_err();
            assert_eq!(
                MkStreamError::from_io(&e),
                Some(MkStreamError::Truncated(ct_len as u64)),
                "{ct_len}"
            );
        }
    }

    #[test]
    fn truncation_is_typed() {
        let key = MasterKey::generate();
        let mut w = MkStreamWriter::new(Vec::new(), &key).unwrap();
        w.write_all(&[7u8; 100]).unwrap();
        let enc = w.finish().unwrap();
        let e = MkStreamReader::new(&enc[..enc.len() - 3], &key)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(matches!(
            MkStreamError::from_io(&e),
            Some(MkStreamError::Truncated(_))
        ));
        let e = MkStreamReader::new(&enc[..10], &key)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(MkStreamError::from_io(&e), Some(MkStreamError::MissingIv));
        let e = MkStreamReader::new(&enc[..16], &key)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(matches!(
            MkStreamError::from_io(&e),
            Some(MkStreamError::Truncated(0))
        ));
    }
}
