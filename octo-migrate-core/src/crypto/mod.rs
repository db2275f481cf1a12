//! The Octopus master-key cipher and the key type.
//!
//! Octopus 2.6 encrypts with AES-128-CBC and PKCS#7 padding, a fresh 16-byte IV each time, using
//! the 16 raw key bytes as the AES key. Files are *MK streams* (`IV || ciphertext`); sensitive
//! JSON fields are *MK values* (`Base64(ciphertext)|Base64(IV)`).

mod key;
mod mk_stream;
#[cfg(any(test, feature = "internals"))]
mod mk_stream_writer;
mod mk_value;

pub use key::{KeyFormatError, MasterKey, Secret};
pub use mk_stream::{MkStreamError, MkStreamReader};
#[cfg(any(test, feature = "internals"))]
pub use mk_stream_writer::MkStreamWriter;
pub use mk_value::{decrypt_value, encrypt_value};
#[cfg(feature = "internals")]
pub use mk_value::{encrypt_value_with_iv, MkValueError};

/// AES block size in bytes; also the IV length.
pub const BLOCK: usize = 16;

pub(crate) type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;
pub(crate) type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

/// IVs drawn from the operating system per refill: one system call per 256 IVs instead of
/// one per value (the syscall cost showed in `strace -c` on re-encryption-heavy backups).
const IVS_PER_REFILL: usize = 256;

/// A fresh random IV from the operating system's generator, served from a per-thread buffer.
/// IVs must be unpredictable, not secret; each buffered byte is handed out once.
pub fn random_iv() -> [u8; BLOCK] {
    use std::cell::RefCell;
    thread_local! {
        static POOL: RefCell<(Box<[u8; BLOCK * IVS_PER_REFILL]>, usize)> =
            RefCell::new((Box::new([0u8; BLOCK * IVS_PER_REFILL]), BLOCK * IVS_PER_REFILL));
    }
    POOL.with(|p| {
        let (buf, used) = &mut *p.borrow_mut();
        if *used == buf.len() {
            // The OS RNG failing is not something a migration can recover from or work around.
            getrandom::fill(&mut buf[..])
                .expect("the operating system's random number generator failed");
            *used = 0;
        }
        let mut iv = [0u8; BLOCK];
        iv.copy_from_slice(&buf[*used..*used + BLOCK]);
        *used += BLOCK;
        iv
    })
}

#[cfg(test)]
mod iv_tests {
    #[test]
    fn ivs_do_not_repeat_across_refills() {
        let ivs: std::collections::HashSet<[u8; 16]> = (0..3 * super::IVS_PER_REFILL)
            .map(|_| super::random_iv())
            .collect();
        assert_eq!(ivs.len(), 3 * super::IVS_PER_REFILL);
    }
}
