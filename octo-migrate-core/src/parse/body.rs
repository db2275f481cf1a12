//! A document's top-level properties, each kept as its JSON text until something reads it.
//!
//! Most of a document is never looked at by the transform (messages, package lists, form
//! values): it only goes into the 3.x `JSON` column. Parsing all of it into a `Value` tree and
//! serializing it again was most of pass 2's time (perf: parse, allocation, re-escaping). A
//! `Body` parses the top level only; a value becomes a `Value` the first time it is read, and
//! one that is never changed is written back as the very text it came in.
//!
//! Keys are found by a linear scan while a body is small (every real document: the scan is
//! what the hot path costs least). From [`INDEXED_FROM`] properties on, a body keeps a hash
//! index of its keys ([`KeyIndex`]), so a document of a million properties is read, deduplicated
//! and transformed in linear time instead of quadratic (docs/DESIGN.md "Hostile inputs").

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::hash::BuildHasher;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One property: 56 bytes, plus its key and its text. A document of tiny properties has
/// millions of these (docs/DESIGN.md "Hostile inputs"), so the parsed value, which the
/// transform makes for a few properties only, is boxed. A key the code names (pass 1's index
/// properties, what the transform adds) is borrowed, not allocated.
#[derive(Clone)]
struct Prop {
    key: Cow<'static, str>,
    /// The value's text as it came, while it is unchanged.
    raw: Option<Box<RawValue>>,
    /// The parsed value, once read (`None` inside: the text nests deeper than serde_json
    /// parses; such a value is left as it is).
    value: OnceCell<Option<Box<Value>>>,
}

impl Prop {
    fn parsed(&self) -> Option<&Value> {
        self.value
            .get_or_init(|| {
                self.raw
                    .as_ref()
                    .and_then(|r| serde_json::from_str(r.get()).ok())
                    .map(Box::new)
            })
            .as_deref()
    }

    /// For changing: the text no longer stands for the value.
    fn parsed_mut(&mut self) -> Option<&mut Value> {
        self.parsed()?;
        self.raw = None;
        self.value.get_mut().and_then(Option::as_deref_mut)
    }

    fn into_value(self) -> Option<Value> {
        match self.value.into_inner() {
            Some(parsed) => parsed.map(|v| *v),
            // Never read: parsed straight out, not through the box `parsed` would make.
            None => self.raw.and_then(|r| serde_json::from_str(r.get()).ok()),
        }
    }

    fn new(key: Cow<'static, str>, v: Value) -> Prop {
        Prop {
            key,
            raw: None,
            value: OnceCell::from(Some(Box::new(v))),
        }
    }
}

/// From this many properties on, a body keeps a [`KeyIndex`]. Below it a linear scan is
/// cheaper than hashing the key (documents of the export have 5 to 30 properties); above it
/// the scan's cost grows with the width a backup chooses.
pub const INDEXED_FROM: usize = 32;

/// Positions of a body's keys in an open-addressing table (linear probing, at most half full):
/// a lookup hashes the key once and compares it with the few keys of its run, whatever the
/// body's width. SipHash with keys drawn per table, so a backup cannot aim keys at one run.
#[derive(Clone)]
struct KeyIndex {
    hasher: std::collections::hash_map::RandomState,
    /// [`EMPTY`], [`GONE`] (a removed key: probing goes on past it), or a position in `props`.
    slots: Vec<u32>,
    /// Slots that are not [`EMPTY`].
    used: usize,
}

const EMPTY: u32 = u32::MAX;
const GONE: u32 = u32::MAX - 1;

impl KeyIndex {
    /// The index of `props`, whose keys are distinct; `None` for more than `u32` positions.
    fn build(props: &[Prop]) -> Option<KeyIndex> {
        if props.len() >= GONE as usize {
            return None;
        }
        let mut ix = KeyIndex {
            hasher: Default::default(),
            slots: vec![
                EMPTY;
                (props.len() * 2 + 2)
                    .next_power_of_two()
                    .max(2 * INDEXED_FROM)
            ],
            used: 0,
        };
        for (i, p) in props.iter().enumerate() {
            ix.put(&p.key, i);
        }
        Some(ix)
    }

    fn start(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) & (self.slots.len() - 1)
    }

    /// The slot of `key` and its position in `props`.
    fn find(&self, props: &[Prop], key: &str) -> Option<(usize, usize)> {
        let mask = self.slots.len() - 1;
        let mut i = self.start(key);
        loop {
            match self.slots[i] {
                EMPTY => return None,
                GONE => {}
                p if *props[p as usize].key == *key => return Some((i, p as usize)),
                _ => {}
            }
            i = (i + 1) & mask;
        }
    }

    /// Records that `key`, which is not in the table, is at `pos`. The caller keeps the table
    /// at most half full.
    fn put(&mut self, key: &str, pos: usize) {
        let mask = self.slots.len() - 1;
        let mut i = self.start(key);
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = pos as u32;
        self.used += 1;
    }

    /// `props[pos]`, found in `slot`, was removed and the properties after it moved up one.
    fn removed(&mut self, slot: usize, pos: usize) {
        self.slots[slot] = GONE;
        let pos = pos as u32;
        for s in &mut self.slots {
            if *s != EMPTY && *s != GONE && *s > pos {
                *s -= 1;
            }
        }
    }
}

/// A JSON object's properties in document order, parsed lazily (see the module docs).
/// The methods mirror `serde_json::Map`'s.
#[derive(Clone, Default)]
pub struct Body {
    props: Vec<Prop>,
    /// Where each key is, once there are [`INDEXED_FROM`] properties.
    index: Option<Box<KeyIndex>>,
}

impl Body {
    /// An empty body.
    pub fn new() -> Body {
        Body::default()
    }

    fn at(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.find(&self.props, key).map(|(_, pos)| pos),
            None => self.props.iter().position(|p| *p.key == *key),
        }
    }

    /// Appends `p`, whose key is not in the body.
    fn push(&mut self, p: Prop) {
        let pos = self.props.len();
        match &mut self.index {
            Some(ix) if (ix.used + 1) * 2 <= ix.slots.len() => {
                ix.put(&p.key, pos);
                self.props.push(p);
            }
            _ => {
                self.props.push(p);
                if self.props.len() >= INDEXED_FROM {
                    self.index = KeyIndex::build(&self.props).map(Box::new);
                }
            }
        }
    }

    /// Removes the property at `pos`.
    fn remove_at(&mut self, pos: usize) -> Prop {
        if let Some(ix) = &mut self.index {
            if let Some((slot, _)) = ix.find(&self.props, &self.props[pos].key) {
                ix.removed(slot, pos);
            }
        }
        self.props.remove(pos)
    }

    /// The value of `key`, parsed.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.props[self.at(key)?].parsed()
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let i = self.at(key)?;
        self.props[i].parsed_mut()
    }

    /// The properties whose key `pred` accepts, parsed, to change.
    pub fn iter_mut_where<'a>(
        &'a mut self,
        pred: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = (&'a str, &'a mut Value)> + 'a {
        self.props
            .iter_mut()
            .filter(move |p| pred(&p.key))
            .filter_map(|p| {
                p.parsed()?;
                p.raw = None;
                let Prop { key, value, .. } = p;
                Some((&**key, value.get_mut()?.as_deref_mut()?))
            })
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.at(key).is_some()
    }

    /// Sets `key` (in place when present, else at the end); returns the value it replaced.
    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, v: Value) -> Option<Value> {
        let key = key.into();
        match self.at(&key) {
            Some(i) => {
                let old = std::mem::replace(&mut self.props[i], Prop::new(key, v));
                old.into_value()
            }
            None => {
                self.push(Prop::new(key, v));
                None
            }
        }
    }

    /// Removes `key`, keeping the order of the others; returns its value.
    pub fn shift_remove(&mut self, key: &str) -> Option<Value> {
        let i = self.at(key)?;
        self.remove_at(i).into_value()
    }

    /// Removes `key` and reads it from its text when it still has it (`from_text`), else from
    /// its value: for a caller that wants a typed struct, not a `Value` tree.
    pub(crate) fn shift_remove_with<T>(
        &mut self,
        key: &str,
        from_text: impl FnOnce(&str) -> T,
        from_value: impl FnOnce(Option<Value>) -> T,
    ) -> Option<T> {
        let i = self.at(key)?;
        let p = self.remove_at(i);
        Some(match &p.raw {
            Some(raw) => from_text(raw.get()),
            None => from_value(p.into_value()),
        })
    }

    /// Keeps only the properties whose key `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.props.retain(|p| keep(&p.key));
        self.index = if self.props.len() >= INDEXED_FROM {
            KeyIndex::build(&self.props).map(Box::new)
        } else {
            None
        };
    }

    #[cfg(feature = "internals")]
    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.props.iter().map(|p| &*p.key)
    }

    /// How many properties.
    pub fn len(&self) -> usize {
        self.props.len()
    }

    #[cfg(feature = "internals")]
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    #[cfg(feature = "internals")]
    /// Every property parsed, as a `serde_json::Map`.
    pub fn into_map(self) -> Map<String, Value> {
        self.props
            .into_iter()
            .filter_map(|p| {
                let k = p.key.to_string();
                p.into_value().map(|v| (k, v))
            })
            .collect()
    }
}

impl From<Map<String, Value>> for Body {
    fn from(m: Map<String, Value>) -> Body {
        let props: Vec<Prop> = m
            .into_iter()
            .map(|(k, v)| Prop::new(Cow::Owned(k), v))
            .collect();
        // A map's keys are distinct.
        let index = if props.len() >= INDEXED_FROM {
            KeyIndex::build(&props).map(Box::new)
        } else {
            None
        };
        Body { props, index }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.props.iter().map(|p| (&p.key, p.parsed())))
            .finish()
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        self.len() == other.len()
            && self
                .props
                .iter()
                .all(|p| other.get(&p.key).is_some_and(|v| p.parsed() == Some(v)))
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.props.len()))?;
        for p in &self.props {
            // Unchanged text goes out as it came (serde_json writes a RawValue verbatim).
            match (&p.raw, p.value.get()) {
                (Some(raw), _) => m.serialize_entry(&p.key, raw)?,
                (None, Some(Some(v))) => m.serialize_entry(&p.key, &**v)?,
                (None, _) => m.serialize_entry(&p.key, &Value::Null)?,
            }
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Body, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Body;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Body, A::Error> {
                let mut b = Body {
                    props: Vec::with_capacity(a.size_hint().unwrap_or(16)),
                    index: None,
                };
                while let Some((key, raw)) = a.next_entry::<String, Box<RawValue>>()? {
                    let p = Prop {
                        key: Cow::Owned(key),
                        raw: Some(raw),
                        value: OnceCell::new(),
                    };
                    // A repeated key: the last value wins, in the first one's place (as a map).
                    match b.at(&p.key) {
                        Some(i) => b.props[i] = p,
                        None => b.push(p),
                    }
                }
                Ok(b)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unread_values_go_out_as_they_came_and_changed_ones_as_changed() {
        let text = r#"{"A":{"x": [1, 2,  3]},"B":"caf\u00e9","C":"x","D":1.50}"#;
        let mut b: Body = serde_json::from_str(text).unwrap();
        assert_eq!(b.get("C"), Some(&json!("x")));
        *b.get_mut("D").unwrap() = json!(2);
        b.insert("E", json!([true]));
        assert_eq!(b.shift_remove("C"), Some(json!("x")));
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"A":{"x": [1, 2,  3]},"B":"caf\u00e9","D":2,"E":[true]}"#
        );
        assert_eq!(b.keys().collect::<Vec<_>>(), ["A", "B", "D", "E"]);
        assert_eq!(
            serde_json::Value::Object(b.clone().into_map()),
            json!({"A": {"x": [1, 2, 3]}, "B": "café", "D": 2, "E": [true]})
        );
        // Replacing keeps the place; a repeated key in the text keeps the last value.
        b.insert("A", json!(0));
        assert_eq!(b.keys().next(), Some("A"));
        let r: Body = serde_json::from_str(r#"{"K":1,"L":2,"K":3}"#).unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"K":3,"L":2}"#);
        assert!(serde_json::from_str::<Body>("[1]").is_err());
        assert!(serde_json::from_str::<Body>(r#"{"A":}"#).is_err());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Get(u8),
        Set(u8, i64),
        Insert(u8, i64),
        Remove(u8),
        RetainNot(u8),
        Clone,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            any::<u8>().prop_map(Op::Get),
            (any::<u8>(), any::<i64>()).prop_map(|(k, v)| Op::Set(k, v)),
            (any::<u8>(), any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            any::<u8>().prop_map(Op::Remove),
            any::<u8>().prop_map(Op::RetainNot),
            Just(Op::Clone),
        ]
    }

    proptest::proptest! {
        /// A body behaves as `serde_json::Map` (insertion order kept, a repeated key's last
        /// value in its first place), below and above [`INDEXED_FROM`], through removals.
        #[test]
        fn a_body_is_a_map_whatever_its_width(
            text_keys in proptest::collection::vec(0u8..100, 0..120),
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let key = |k: u8| format!("k{}", k % 100);
            let mut text = String::from("{");
            for (i, k) in text_keys.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(&format!(r#""{}":{i}"#, key(*k)));
            }
            text.push('}');
            let mut b: Body = serde_json::from_str(&text).unwrap();
            let mut m: Map<String, Value> = serde_json::from_str(&text).unwrap();
            for op in ops {
                match op {
                    Op::Get(k) => {
                        proptest::prop_assert_eq!(b.get(&key(k)), m.get(&key(k)));
                        proptest::prop_assert_eq!(b.contains_key(&key(k)), m.contains_key(&key(k)));
                    }
                    Op::Set(k, v) => {
                        if let Some(x) = b.get_mut(&key(k)) {
                            *x = json!(v);
                        }
                        if let Some(x) = m.get_mut(&key(k)) {
                            *x = json!(v);
                        }
                    }
                    Op::Insert(k, v) => {
                        proptest::prop_assert_eq!(
                            b.insert(key(k), json!(v)),
                            m.insert(key(k), json!(v))
                        );
                    }
                    Op::Remove(k) => {
                        proptest::prop_assert_eq!(b.shift_remove(&key(k)), m.shift_remove(&key(k)));
                    }
                    Op::RetainNot(k) => {
                        b.retain(|x| x != key(k));
                        m.retain(|x, _| *x != key(k));
                    }
                    Op::Clone => b = b.clone(),
                }
                proptest::prop_assert_eq!(b.len(), m.len());
            }
            proptest::prop_assert!(b.keys().eq(m.keys().map(String::as_str)));
            for k in 0..100 {
                proptest::prop_assert_eq!(b.get(&key(k)), m.get(&key(k)));
            }
            let out: Map<String, Value> = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
            proptest::prop_assert!(out.iter().eq(m.iter()));
        }
    }

    #[test]
    fn a_property_record_is_small() {
        // Millions of them in a document of tiny properties (docs/DESIGN.md "Hostile inputs").
        assert!(
            std::mem::size_of::<Prop>() <= 56,
            "{}",
            std::mem::size_of::<Prop>()
        );
    }

    #[test]
    fn a_value_nested_beyond_the_parser_is_kept_but_not_read() {
        let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
        let text = format!(r#"{{"Deep":{deep},"N":1}}"#);
        let mut b: Body = serde_json::from_str(&text).unwrap();
        assert_eq!(b.get("Deep"), None);
        assert!(b.get_mut("Deep").is_none());
        assert_eq!(serde_json::to_string(&b).unwrap(), text);
    }
}
