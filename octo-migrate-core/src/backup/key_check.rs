//! The key check, before anything else is read (docs/backup-format.md section 3).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use aes::cipher::{Array, BlockCipherDecrypt, KeyInit};

use super::{Backup, EntryKind};
use crate::crypto::{MkStreamError, BLOCK};
use crate::error::{Error, ErrorKind, Result};
use crate::layout;

pub(super) fn check(b: &mut Backup) -> Result<()> {
    if let Some(index) = b
        .entries()
        .iter()
        .find(|e| e.kind == EntryKind::MasterKeyCheck)
        .map(|e| e.index)
    {
        return check_text(b, index);
    }
    let dump = b.catalog.dump;
    if b.is_winzip_aes(dump) {
        // zip verifies the password against the entry's verifier when opening it.
        b.payload(dump)?;
        return Ok(());
    }
    check_dump_blocks(b, dump)
}

fn wrong(b: &Backup, index: usize) -> Error {
    ErrorKind::WrongKey {
        entry: b.entry_name(index),
    }
    .into()
}

fn check_text(b: &mut Backup, index: usize) -> Result<()> {
    let mut text = Vec::new();
    let res = b.payload(index)?.take(4096).read_to_end(&mut text);
    match res {
        Ok(_) => {}
        Err(e) if MkStreamError::from_io(&e) == Some(MkStreamError::BadPadding) => {
            return Err(wrong(b, index))
        }
        Err(e) if e.to_string().to_lowercase().contains("password") => return Err(wrong(b, index)),
        Err(e) => {
            let loc = b.loc(Some(&b.entry_name(index)));
            return Err(super::io_to_error(&loc, &e));
        }
    }
    let body = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
    match std::str::from_utf8(body) {
        Ok(t) if t.trim() == layout::MASTER_KEY_CHECK_TEXT => Ok(()),
        _ => Err(wrong(b, index)),
    }
}

/// Decrypts the dump's first and last blocks only: the first must start a GZip stream or a JSON
/// object, the last must end in valid PKCS#7 padding. A wrong key fails both checks but with a
/// chance of about 1 in 10^5.
fn check_dump_blocks(b: &mut Backup, index: usize) -> Result<()> {
    let name = b.entry_name(index);
    let loc = b.loc(Some(&name));
    // The MK stream is the entry's content: for a stored entry the bytes in the file, for a
    // deflated one what inflating gives, whose length is the directory's uncompressed size
    // (the compressed size says nothing about AES blocks).
    let (stored, start, len) = {
        let f = b
            .archive
            .by_index_raw(index)
            .map_err(|e| super::zip_error(loc.clone(), e))?;
        let stored = f.compression() == zip::CompressionMethod::Stored;
        let len = if stored {
            f.compressed_size()
        } else {
            f.size()
        };
        (stored, f.data_start(), len)
    };
    if len < (2 * BLOCK) as u64 {
        return Err(Error::corrupt(
            loc,
            "the dump is shorter than an IV and one AES block",
        ));
    }
    if !(len - BLOCK as u64).is_multiple_of(BLOCK as u64) {
        return Err(Error::corrupt(
            loc,
            MkStreamError::Truncated(len - BLOCK as u64).to_string(),
        ));
    }
    let (head, tail) = match (stored, start) {
        (true, Some(start)) => {
            let read = |at: u64| -> std::io::Result<[u8; 2 * BLOCK]> {
                let mut f = File::open(b.path())?;
                f.seek(SeekFrom::Start(at))?;
                let mut buf = [0u8; 2 * BLOCK];
                f.read_exact(&mut buf)?;
                Ok(buf)
            };
            let head = read(start).map_err(|e| super::io_to_error(&loc, &e))?;
            let tail =
                read(start + len - 2 * BLOCK as u64).map_err(|e| super::io_to_error(&loc, &e))?;
            (head, tail)
        }
        _ => {
            // A deflated MK stream cannot be read from the end: decrypt it through once.
            let mut payload = b.payload(index)?;
            let mut first = [0u8; BLOCK];
            let mut got = 0;
            loop {
                match payload.read(&mut first[got..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        got += n;
                        if got == BLOCK {
                            break;
                        }
                    }
                    Err(e) if MkStreamError::from_io(&e) == Some(MkStreamError::BadPadding) => {
                        drop(payload);
                        return Err(wrong(b, index));
                    }
                    Err(e) => return Err(super::io_to_error(&loc, &e)),
                }
            }
            if !plausible_start(&first[..got]) {
                drop(payload);
                return Err(wrong(b, index));
            }
            match std::io::copy(&mut payload, &mut std::io::sink()) {
                Ok(_) => return Ok(()),
                Err(e) if MkStreamError::from_io(&e) == Some(MkStreamError::BadPadding) => {
                    drop(payload);
                    return Err(wrong(b, index));
                }
                Err(e) => return Err(super::io_to_error(&loc, &e)),
            }
        }
    };
    let cipher = aes::Aes128::new(b.key.bytes().into());
    let mut first: Array<u8, _> = Array::try_from(&head[BLOCK..]).expect("16 bytes");
    cipher.decrypt_block(&mut first);
    for (p, iv) in first.iter_mut().zip(&head[..BLOCK]) {
        *p ^= iv;
    }
    let mut last: Array<u8, _> = Array::try_from(&tail[BLOCK..]).expect("16 bytes");
    cipher.decrypt_block(&mut last);
    for (p, prev) in last.iter_mut().zip(&tail[..BLOCK]) {
        *p ^= prev;
    }
    let pad = last[BLOCK - 1] as usize;
    let padding_ok =
        (1..=BLOCK).contains(&pad) && last[BLOCK - pad..].iter().all(|&x| x as usize == pad);
    if !padding_ok || !plausible_start(&first) {
        return Err(wrong(b, index));
    }
    Ok(())
}

/// GZip magic, or a JSON object after an optional BOM and whitespace.
fn plausible_start(block: &[u8]) -> bool {
    if block.starts_with(&[0x1f, 0x8b, 0x08]) {
        return true;
    }
    let rest = block.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(block);
    match rest.iter().find(|c| !c.is_ascii_whitespace()) {
        Some(&c) => c == b'{',
        // All whitespace so far: nothing contradicts a JSON document yet.
        None => !rest.is_empty() || block.len() < BLOCK,
    }
}

#[cfg(test)]
mod tests {
    use super::plausible_start;

    #[test]
    fn starts() {
        assert!(plausible_start(&[
            0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ]));
        assert!(plausible_start(b"\xEF\xBB\xBF  {\"Docs\":[]}.."));
        assert!(plausible_start(b"{\"Indexes\":[],\"D"));
        assert!(!plausible_start(b"[1,2,3]         "));
        assert!(!plausible_start(b"\x00\x01garbage......."));
    }
}
