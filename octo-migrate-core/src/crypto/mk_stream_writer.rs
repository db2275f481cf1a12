//! The writing side of MK streams, for the sample generator and round-trip tests (the
//! migration only reads them).

use std::io::{self, Write};

use aes::cipher::{Array, BlockModeEncrypt, KeyIvInit};

use super::mk_stream::CHUNK;
use super::{Aes128CbcEnc, MasterKey, BLOCK};

/// Writes an MK stream: the IV first, then the ciphertext; [`MkStreamWriter::finish`] pads.
pub struct MkStreamWriter<W: Write> {
    inner: W,
    cipher: Aes128CbcEnc,
    pending: Vec<u8>,
}

#[cfg(feature = "internals")]
impl<W: Write> MkStreamWriter<W> {
    /// Starts a stream with a random IV.
    pub fn new(inner: W, key: &MasterKey) -> io::Result<MkStreamWriter<W>> {
        Self::with_iv(inner, key, super::random_iv())
    }

    /// Starts a stream with the given IV (deterministic sample backups only).
    pub fn with_iv(
        mut inner: W,
        key: &MasterKey,
        iv: [u8; BLOCK],
    ) -> io::Result<MkStreamWriter<W>> {
        inner.write_all(&iv)?;
        Ok(MkStreamWriter {
            inner,
            cipher: Aes128CbcEnc::new(key.bytes().into(), (&iv).into()),
            pending: Vec::with_capacity(CHUNK + BLOCK),
        })
    }

    fn flush_blocks(&mut self) -> io::Result<()> {
        let whole = self.pending.len() / BLOCK * BLOCK;
        let (blocks, _) = Array::slice_as_chunks_mut(&mut self.pending[..whole]);
        self.cipher.encrypt_blocks(blocks);
        self.inner.write_all(&self.pending[..whole])?;
        self.pending.drain(..whole);
        Ok(())
    }

    /// Pads, writes the last block, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let pad = BLOCK - self.pending.len() % BLOCK;
        self.pending.extend(std::iter::repeat_n(pad as u8, pad));
        self.flush_blocks()?;
        Ok(self.inner)
    }
}

#[cfg(feature = "internals")]
impl<W: Write> Write for MkStreamWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= CHUNK {
            self.flush_blocks()?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
