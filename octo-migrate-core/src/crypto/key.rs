use std::fmt;

use base64::Engine as _;
use zeroize::Zeroizing;

/// An Octopus master key: 16 bytes, shown to users as 24 characters of Base64.
///
/// The bytes and the text are zeroed on drop, and `Debug` never prints them.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; 16]>,
    text: Zeroizing<String>,
}

/// Why a string is not a master key. Never contains the string itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFormatError {
    /// Not 24 characters after trimming surrounding whitespace.
    #[error("a master key is 24 characters of Base64 ending in '==' (16 bytes); this one has {0} characters")]
    Length(usize),
    /// 24 characters, but not valid Base64 of 16 bytes (or with whitespace inside).
    #[error("a master key is 24 characters of Base64 ending in '==' (16 bytes); this one is not valid Base64")]
    NotBase64,
}

impl MasterKey {
    /// Parses the Base64 form shown by Octopus `show-master-key`. Surrounding whitespace (a key
    /// file's trailing newline) is ignored; anything else that is not 16 bytes of Base64 is refused.
    pub fn parse(text: &str) -> Result<MasterKey, KeyFormatError> {
        let trimmed = text.trim();
        let chars = trimmed.chars().count();
        if chars != 24 {
            return Err(KeyFormatError::Length(chars));
        }
        let mut bytes = Zeroizing::new([0u8; 16]);
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(trimmed.as_bytes())
                .map_err(|_| KeyFormatError::NotBase64)?,
        );
        if decoded.len() != 16 {
            return Err(KeyFormatError::NotBase64);
        }
        bytes.copy_from_slice(&decoded);
        Ok(MasterKey {
            bytes,
            text: Zeroizing::new(trimmed.to_owned()),
        })
    }

    /// A key from its 16 raw bytes.
    pub fn from_bytes(raw: [u8; 16]) -> MasterKey {
        let text = base64::engine::general_purpose::STANDARD.encode(raw);
        MasterKey {
            bytes: Zeroizing::new(raw),
            text: Zeroizing::new(text),
        }
    }

    /// A new random key (for tests and sample backups).
    pub fn generate() -> MasterKey {
        MasterKey::from_bytes(super::random_iv())
    }

    /// The raw AES key bytes.
    pub(crate) fn bytes(&self) -> &[u8; 16] {
        &self.bytes
    }

    /// The Base64 text: the WinZip-AES password of re-packed backups, and what a key file holds.
    /// Handle with care: this is the secret itself.
    pub fn expose_base64(&self) -> &str {
        &self.text
    }
}

impl PartialEq for MasterKey {
    fn eq(&self, other: &MasterKey) -> bool {
        // Constant time is not needed between two keys the caller already holds, but it is cheap.
        self.bytes
            .iter()
            .zip(other.bytes.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}
impl Eq for MasterKey {}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// A decrypted sensitive value: zeroed on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a plaintext.
    pub fn new(s: String) -> Secret {
        Secret(Zeroizing::new(s))
    }
    /// The plaintext. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_show_master_key_output_with_newline() {
        let k = MasterKey::parse("bG9yZW1pcHN1bWRvbG9yIQ==\n").unwrap();
        assert_eq!(k.bytes(), b"loremipsumdolor!");
        assert_eq!(k.expose_base64(), "bG9yZW1pcHN1bWRvbG9yIQ==");
    }

    #[test]
    fn refuses_malformed_keys_without_echoing_them() {
        assert_eq!(MasterKey::parse("short"), Err(KeyFormatError::Length(5)));
        assert_eq!(
            MasterKey::parse("bG9yZW1pc HN1bWRvbG9yIQ="),
            Err(KeyFormatError::NotBase64)
        );
        assert_eq!(
            MasterKey::parse("bG9yZW1pcHN1bWRvbG9yIQ=!"),
            Err(KeyFormatError::NotBase64)
        );
        // 24 characters of Base64 that decode to 18 bytes are not a key either.
        assert_eq!(
            MasterKey::parse("bG9yZW1pcHN1bWRvbG9yIQab"),
            Err(KeyFormatError::NotBase64)
        );
        let msg = MasterKey::parse("secretsecretsecret")
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("secret"));
    }

    #[test]
    fn debug_is_redacted() {
        let k = MasterKey::parse("bG9yZW1pcHN1bWRvbG9yIQ==").unwrap();
        assert_eq!(format!("{k:?}"), "MasterKey(<redacted>)");
        assert_eq!(
            format!("{:?}", Secret::new("pw".into())),
            "Secret(<redacted>)"
        );
    }
}
