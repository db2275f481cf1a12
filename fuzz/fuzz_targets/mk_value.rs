//! `crypto::decrypt_value` / `encrypt_value` (MK values, `Base64(ciphertext)|Base64(IV)`) on
//! arbitrary strings.
//!
//! Properties:
//! * `decrypt_value` never panics, whatever the input (non-UTF-8 inputs are made UTF-8 lossily);
//! * on `Ok(p)`: `encrypt_value(key, p)` decrypts back to exactly `p` (a fresh IV each time);
//! * any valid UTF-8 input `s`: `decrypt_value(key, encrypt_value(key, s)) == s`, and the same
//!   with a fixed IV taken from the input (`encrypt_value_with_iv`), which is also deterministic;
//! * the encrypted form is `<Base64>|<Base64>` with a 24-character IV part and a ciphertext of
//!   `(len / 16 + 1)` whole blocks.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use octo_migrate_core::internals::crypto::{
    decrypt_value, encrypt_value, encrypt_value_with_iv, MasterKey, BLOCK,
};
use octo_migrate_sample::sample_key;

/// Seed of the fixed key (the same as the other targets').
const FUZZ_SEED: u64 = 0xF022;

fn key() -> &'static MasterKey {
    static KEY: OnceLock<MasterKey> = OnceLock::new();
    KEY.get_or_init(|| sample_key(FUZZ_SEED))
}

fn check_roundtrip(key: &MasterKey, plain: &str, iv: [u8; BLOCK]) {
    let enc = encrypt_value(key, plain);
    let back = decrypt_value(key, &enc)
        .unwrap_or_else(|e| panic!("encrypt_value output does not decrypt: {e}"));
    assert_eq!(back.expose(), plain, "encrypt/decrypt round trip changed the text");

    let (ct, iv_b64) = enc.split_once('|').expect("encrypted form has a '|'");
    assert_eq!(iv_b64.len(), 24, "IV part is not 16 bytes of Base64");
    let blocks = plain.len() / BLOCK + 1;
    assert_eq!(ct.len(), 4 * (blocks * BLOCK).div_ceil(3), "ciphertext length");

    let fixed = encrypt_value_with_iv(key, plain, iv);
    assert_eq!(fixed, encrypt_value_with_iv(key, plain, iv), "fixed IV is not deterministic");
    let back = decrypt_value(key, &fixed)
        .unwrap_or_else(|e| panic!("encrypt_value_with_iv output does not decrypt: {e}"));
    assert_eq!(back.expose(), plain);
}

fuzz_target!(|data: &[u8]| {
    let key = key();
    let mut iv = [0u8; BLOCK];
    for (i, b) in data.iter().take(BLOCK).enumerate() {
        iv[i] = *b;
    }

    let text = String::from_utf8_lossy(data);
    if let Ok(p) = decrypt_value(key, &text) {
        check_roundtrip(key, p.expose(), iv);
    }
    // Any text (an MK value or not) encrypts and decrypts back to itself.
    if let Ok(s) = std::str::from_utf8(data) {
        check_roundtrip(key, s, iv);
    }
});
