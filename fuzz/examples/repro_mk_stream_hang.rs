//! Reproduces the hang found by `backup_open`: `MkStreamReader` spins forever (100 % CPU, no
//! error) when the ciphertext after the IV is longer than one block and not a multiple of 16.
//! Run from `fuzz/`: `cargo run --example repro_mk_stream_hang`.

use std::io::{Cursor, Read};
use std::sync::mpsc;
use std::time::Duration;

use octo_migrate_core::internals::crypto::MkStreamReader;
use octo_migrate_sample::sample_key;

fn main() {
    for len in [16usize, 17, 20, 31, 32, 33] {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // 16-byte IV, then `len` bytes of "ciphertext".
            let data = vec![0u8; 16 + len];
            let mut r = MkStreamReader::new(Cursor::new(data), &sample_key(1));
            let mut out = Vec::new();
            let res = r.read_to_end(&mut out).map_err(|e| e.to_string());
            let _ = tx.send(res);
        });
        match rx.recv_timeout(Duration::from_secs(3)) {
            Ok(res) => println!("ciphertext {len:>2} bytes: returned {res:?}"),
            Err(_) => println!("ciphertext {len:>2} bytes: HANG (no result after 3 s)"),
        }
    }
    std::process::exit(0);
}
