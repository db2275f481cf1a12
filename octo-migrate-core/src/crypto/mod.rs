//! The Octopus master-key cipher and the key type.
//!
//! Octopus 2.6 encrypts with AES-128-CBC and PKCS#7 padding, a fresh 16-byte IV each time, using
//! the 16 raw key bytes as the AES key. Files are *MK streams* (`IV || ciphertext`); sensitive
//! JSON fields are *MK values* (`Base64(ciphertext)|Base64(IV)`).

mod key;
mod mk_stream;
mod mk_value;

pub use key::{KeyFormatError, MasterKey, Secret};
pub use mk_stream::{MkStreamError, MkStreamReader, MkStreamWriter};
pub use mk_value::{decrypt_value, encrypt_value, encrypt_value_with_iv, MkValueError};

/// AES block size in bytes; also the IV length.
pub const BLOCK: usize = 16;

pub(crate) type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;
pub(crate) type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

/// A fresh random IV from the operating system.
pub(crate) fn random_iv() -> [u8; BLOCK] {
    let mut iv = [0u8; BLOCK];
    // The OS RNG failing is not something a migration can recover from or work around.
    getrandom::fill(&mut iv).expect("the operating system's random number generator failed");
    iv
}
