//! `read_export` (the streaming RavenDB Smuggler parser) on arbitrary bytes.
//!
//! Properties:
//! * nothing panics or overflows the stack (deep nesting, huge numbers, bad UTF-8, ...);
//! * every document handed out has a non-empty (non-blank) id;
//! * item positions are monotonic: offsets never go backwards and never exceed the input;
//! * on success the summary's counts equal the items handed out and `bytes` is within the input;
//! * every error is a corrupt-backup error (`is_corrupt_backup()`);
//! * pass 1's fast read of a document (`parse_for_index`) agrees with the full parse on its id,
//!   collection and every index property, whenever the full parse succeeds;
//! * a document's body holds what `serde_json::Map` makes of the same text (without
//!   `@metadata` and `Id`): the same keys in the same order (a repeated key's last value in its
//!   first place), the same values, however wide the body (narrow ones are scanned, wide ones
//!   indexed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use octo_migrate_core::error::Location;
use octo_migrate_core::internals::parse::{read_export, split_export, Item, INDEX_PROPERTIES};
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let (mut docs, mut attachments) = (0u64, 0u64);
    let mut last_offset = 0u64;
    let len = data.len() as u64;
    let res = read_export(data, Location::default(), &mut |item, pos| {
        assert!(pos.offset >= last_offset, "offset went backwards");
        assert!(pos.offset <= len, "offset past the end of the input");
        last_offset = pos.offset;
        match item {
            Item::Doc(d) => {
                assert!(!d.id.trim().is_empty(), "a document with an empty id");
                assert!(!d.body.contains_key("@metadata"), "@metadata left in the body");
                docs += 1;
            }
            Item::Attachment(_) => attachments += 1,
        }
        Ok(())
    });
    match res {
        Ok(s) => {
            assert_eq!(s.docs, docs);
            assert_eq!(s.attachments, attachments);
            assert!(s.bytes <= len);
        }
        Err(e) => assert!(e.is_corrupt_backup(), "untyped error {:?}: {e}", e.kind()),
    }
    let _ = split_export(data, Location::default(), &mut |raw| {
        let fast = raw.clone().parse_for_index();
        let bytes = raw.bytes.clone();
        match (raw.parse(), fast) {
            (Ok(Item::Doc(full)), Ok(Item::Doc(f))) => {
                assert_eq!((&f.id, &f.collection), (&full.id, &full.collection));
                for k in INDEX_PROPERTIES {
                    let want = full.body.get(k).filter(|v| !v.is_null());
                    assert_eq!(f.body.get(k).filter(|v| !v.is_null()), want, "{k}");
                }
                // A map of the same text is the reference (it fails where a value nests
                // deeper than serde_json reads, which a body keeps unread).
                if let Ok(mut m) = serde_json::from_slice::<Map<String, Value>>(&bytes) {
                    m.shift_remove("@metadata");
                    m.shift_remove("Id");
                    assert!(full.body.keys().eq(m.keys().map(String::as_str)), "keys");
                    for (k, v) in &m {
                        assert_eq!(full.body.get(k), Some(v), "{k}");
                    }
                }
            }
            (Ok(Item::Doc(_)), other) => panic!("the full parse read a document, pass 1: {other:?}"),
            (_, Err(e)) => assert!(e.is_corrupt_backup(), "untyped error {e}"),
            _ => {}
        }
        Ok(())
    });
});
