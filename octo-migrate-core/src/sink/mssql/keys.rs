//! Merging at bulk speed (issue 12): which rows of a merge need a round trip. When the
//! transaction begins, the primary keys of every table that holds rows are read once and kept
//! as 64-bit hashes; afterwards a row whose key the target did not hold (and this run did not
//! insert) cannot be found, updated or clash, so `find` answers "not there" without asking the
//! server and `insert` puts the row in the bulk load. Only rows that match a target row go
//! through a statement of their own.
//!
//! Hashes err on the safe side only: keys are compared as SQL Server's default collation
//! compares them (case ignored, trailing spaces ignored), so two keys the server takes as one
//! always hash alike; two keys that merely collide, or that a case-sensitive collation would
//! tell apart, take the slow path, which asks the server and is always right.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use tiberius::ColumnData;

use crate::schema::{SqlType, TableDef, Value, TABLES};

/// Whether rows of `def` carry their primary key (an identity key is the server's to give, so
/// such rows never match and always go to the bulk load).
pub(super) fn has_natural_key(def: &TableDef) -> bool {
    def.primary_key
        .iter()
        .all(|k| def.column(k).is_some_and(|c| c.ty != SqlType::Identity))
}

/// A text as the default collation compares it.
fn canonical_text(s: &str) -> String {
    s.trim_end_matches(' ').to_lowercase()
}

/// The hash of a key (its values in primary-key order).
pub(super) fn key_hash<'a>(values: impl IntoIterator<Item = &'a Value>) -> u64 {
    let mut h = DefaultHasher::new();
    for v in values {
        match v {
            Value::Null => 0u8.hash(&mut h),
            Value::Text(t) => {
                1u8.hash(&mut h);
                canonical_text(t).hash(&mut h);
            }
            Value::Int(i) => {
                2u8.hash(&mut h);
                i.hash(&mut h);
            }
            Value::Bool(b) => {
                3u8.hash(&mut h);
                b.hash(&mut h);
            }
            Value::DateTime(d) => {
                // Equal instants are equal keys, whatever their offsets.
                4u8.hash(&mut h);
                d.timestamp_nanos_opt().hash(&mut h);
            }
            Value::Guid(g) => {
                5u8.hash(&mut h);
                g.hash(&mut h);
            }
        }
    }
    h.finish()
}

/// Whether two encoded values are equal as the server compares them (for dropping buffered
/// rows that a `DELETE` would have removed).
pub(super) fn same_value(a: &ColumnData<'_>, b: &ColumnData<'_>) -> bool {
    match (a, b) {
        (ColumnData::String(Some(x)), ColumnData::String(Some(y))) => {
            canonical_text(x) == canonical_text(y)
        }
        _ => a == b,
    }
}

/// The keys the target held and the keys this run inserted, per table (index in [`TABLES`]).
#[derive(Default)]
pub(super) struct KeySets {
    target: Vec<HashSet<u64>>,
    inserted: Vec<HashSet<u64>>,
}

/// Where a row's key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// Neither in the target nor inserted by this run: cannot be found.
    New,
    /// Held by the target when the transaction began.
    Target,
    /// Inserted by this run (perhaps still buffered).
    Inserted,
}

impl KeySets {
    pub(super) fn new() -> KeySets {
        KeySets {
            target: TABLES.iter().map(|_| HashSet::new()).collect(),
            inserted: TABLES.iter().map(|_| HashSet::new()).collect(),
        }
    }

    /// Records a key the target holds.
    pub(super) fn add_target(&mut self, table: usize, hash: u64) {
        self.target[table].insert(hash);
    }

    /// Records a key this run inserted.
    pub(super) fn add_inserted(&mut self, table: usize, hash: u64) {
        self.inserted[table].insert(hash);
    }

    pub(super) fn seen(&self, table: usize, hash: u64) -> Seen {
        if self.inserted[table].contains(&hash) {
            Seen::Inserted
        } else if self.target[table].contains(&hash) {
            Seen::Target
        } else {
            Seen::New
        }
    }

    /// Target keys held, over all tables (for the tests and the report of memory).
    #[cfg(test)]
    pub(super) fn target_len(&self) -> usize {
        self.target.iter().map(HashSet::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Table;

    #[test]
    fn keys_equal_to_the_server_hash_alike() {
        let t = |s: &str| key_hash([&Value::Text(s.into())]);
        assert_eq!(t("Projects-1"), t("projects-1"));
        assert_eq!(t("Projects-1"), t("Projects-1  "));
        assert_ne!(t("Projects-1"), t("Projects-2"));
        assert_ne!(t("a"), key_hash([&Value::Int(1)]));
        let two = key_hash([&Value::Text("a".into()), &Value::Text("b".into())]);
        assert_ne!(
            two,
            key_hash([&Value::Text("b".into()), &Value::Text("a".into())])
        );
    }

    #[test]
    fn identity_keyed_tables_have_no_natural_key() {
        assert!(!has_natural_key(Table::EventRelatedDocument.def()));
        assert!(has_natural_key(Table::Project.def()));
        assert!(has_natural_key(Table::KeyAllocation.def()));
    }

    #[test]
    fn inserted_wins_over_target_and_new_is_new() {
        let mut k = KeySets::new();
        k.add_target(0, 7);
        assert_eq!(k.seen(0, 7), Seen::Target);
        assert_eq!(k.seen(1, 7), Seen::New);
        k.add_inserted(0, 7);
        assert_eq!(k.seen(0, 7), Seen::Inserted);
        assert_eq!(k.target_len(), 1);
    }

    #[test]
    fn text_values_compare_as_the_collation() {
        let s = |x: &str| ColumnData::String(Some(x.to_owned().into()));
        assert!(same_value(&s("Events-1"), &s("events-1 ")));
        assert!(!same_value(&s("Events-1"), &s("Events-2")));
        assert!(same_value(
            &ColumnData::I32(Some(1)),
            &ColumnData::I32(Some(1))
        ));
    }
}
