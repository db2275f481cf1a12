//! MK values: `Base64(ciphertext) + "|" + Base64(IV)`, the form of every sensitive JSON field.

use aes::cipher::{block_padding::Pkcs7, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine as _;
use zeroize::Zeroizing;

use super::{Aes128CbcDec, Aes128CbcEnc, MasterKey, Secret, BLOCK};

/// Why an MK value did not decrypt. Never carries the value or its plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MkValueError {
    /// Not `<base64>|<base64>`.
    #[error("not an encrypted value of the form <Base64 ciphertext>|<Base64 IV>")]
    Format,
    /// The IV is not 16 bytes, or the ciphertext is not whole blocks.
    #[error("the encrypted value has a malformed IV or ciphertext length")]
    Length,
    /// Bad padding: encrypted with another key, or damaged.
    #[error("the encrypted value does not decrypt with the master key")]
    Padding,
    /// Decrypted, but the plaintext is not UTF-8.
    #[error("the encrypted value decrypts to something that is not UTF-8 text")]
    NotUtf8,
}

/// Decrypts an MK value with `key`.
pub fn decrypt_value(key: &MasterKey, value: &str) -> Result<Secret, MkValueError> {
    let (ct, iv) = value.split_once('|').ok_or(MkValueError::Format)?;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let iv = b64.decode(iv.trim()).map_err(|_| MkValueError::Format)?;
    let mut buf = Zeroizing::new(b64.decode(ct.trim()).map_err(|_| MkValueError::Format)?);
    let iv: [u8; BLOCK] = iv.try_into().map_err(|_| MkValueError::Length)?;
    if buf.is_empty() || buf.len() % BLOCK != 0 {
        return Err(MkValueError::Length);
    }
    let plain = Aes128CbcDec::new(key.bytes().into(), (&iv).into())
        .decrypt_padded::<Pkcs7>(&mut buf)
        .map_err(|_| MkValueError::Padding)?;
    let text = std::str::from_utf8(plain).map_err(|_| MkValueError::NotUtf8)?;
    Ok(Secret::new(text.to_owned()))
}

/// Encrypts `plain` under `key` with a fresh random IV.
pub fn encrypt_value(key: &MasterKey, plain: &str) -> String {
    encrypt_value_with_iv(key, plain, super::random_iv())
}

/// Encrypts `plain` under `key` with the given IV (deterministic sample backups only).
pub fn encrypt_value_with_iv(key: &MasterKey, plain: &str, iv: [u8; BLOCK]) -> String {
    let len = plain.len();
    let mut buf = Zeroizing::new(vec![0u8; (len / BLOCK + 1) * BLOCK]);
    buf[..len].copy_from_slice(plain.as_bytes());
    let ct = Aes128CbcEnc::new(key.bytes().into(), (&iv).into())
        .encrypt_padded::<Pkcs7>(&mut buf, len)
        .expect("the buffer has room for a full padding block");
    let b64 = &base64::engine::general_purpose::STANDARD;
    format!("{}|{}", b64.encode(ct), b64.encode(iv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_fresh_iv() {
        let key = MasterKey::generate();
        let a = encrypt_value(&key, "p@ss wörd");
        let b = encrypt_value(&key, "p@ss wörd");
        assert_ne!(a, b);
        assert_eq!(decrypt_value(&key, &a).unwrap().expose(), "p@ss wörd");
        assert_eq!(decrypt_value(&key, "").unwrap_err(), MkValueError::Format);
        assert_eq!(
            decrypt_value(&key, "abc|").unwrap_err(),
            MkValueError::Format
        );
        assert_eq!(
            decrypt_value(&key, "AAAA|AAAA").unwrap_err(),
            MkValueError::Length
        );
    }

    #[test]
    fn wrong_key_fails_or_differs() {
        let key = MasterKey::generate();
        let v = encrypt_value(&key, "secret");
        match decrypt_value(&MasterKey::generate(), &v) {
            Err(e) => assert!(matches!(e, MkValueError::Padding | MkValueError::NotUtf8)),
            Ok(s) => assert_ne!(s.expose(), "secret"),
        }
    }
}
