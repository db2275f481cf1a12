//! The RavenDB Smuggler export, read as a stream: one document or attachment at a time is
//! handed to a callback; `Indexes`, `Transformers` and unknown properties are skipped without
//! being built in memory. Property order does not matter.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Error, Location, Result};

/// One document of the export, `@metadata` taken apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `@metadata.@id`, as written in the backup.
    pub id: String,
    /// `@metadata.Raven-Entity-Name` (the collection); `None` for most system documents.
    pub collection: Option<String>,
    /// The document's own properties, without `@metadata` and without a body `Id`.
    pub body: Map<String, Value>,
}

/// One attachment of the export.
#[derive(Clone, PartialEq)]
pub struct Attachment {
    /// `Key`, as written.
    pub key: String,
    /// The decoded `Data`.
    pub data: Vec<u8>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("key", &self.key)
            .field("len", &self.data.len())
            .finish()
    }
}

/// What the export yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A document.
    Doc(Document),
    /// An attachment.
    Attachment(Attachment),
}

/// Where the reader is when an item is handed out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// Bytes of the export consumed so far.
    pub offset: u64,
    /// 0-based index of the document (or attachment) in its array.
    pub index: u64,
}

/// Counts of one read of the export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Documents handed out.
    pub docs: u64,
    /// Attachments handed out.
    pub attachments: u64,
    /// Bytes of export read.
    pub bytes: u64,
}

/// A buffer that counts the bytes handed out, exactly. serde_json reads one byte per call;
/// serving those from a concrete buffer (not through the `dyn` reader stack) keeps that cheap.
struct Counting<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    #[inline]
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            self.len = self.inner.read(&mut self.buf)?;
            self.pos = 0;
            if self.len == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

type Callback<'a> = dyn FnMut(Item, Position) -> Result<()> + 'a;

struct State<'a> {
    cb: &'a mut Callback<'a>,
    offset: Rc<Cell<u64>>,
    /// An error from the callback, or a typed problem found while visiting: takes precedence
    /// over the serde error used to unwind.
    failure: Option<Error>,
    summary: ExportSummary,
    /// Which array we are in, for error messages.
    section: &'static str,
    index: u64,
    base: Location,
}

impl State<'_> {
    fn loc(&self, doc_id: Option<String>) -> Location {
        Location {
            offset: Some(self.offset.get()),
            doc_index: Some(self.index),
            doc_id,
            ..self.base.clone()
        }
    }
    fn fail<E: de::Error>(&mut self, e: Error) -> E {
        self.failure = Some(e);
        E::custom("stopped")
    }
    fn emit<E: de::Error>(&mut self, item: Item) -> std::result::Result<(), E> {
        let pos = Position {
            offset: self.offset.get(),
            index: self.index,
        };
        match (self.cb)(item, pos) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }
}

/// Reads the export from `reader` (already decrypted and decompressed), calling `on_item` for
/// each document and attachment in file order. `at` names the file and entry in errors.
pub fn read_export<R: Read>(
    reader: R,
    at: Location,
    on_item: &mut dyn FnMut(Item, Position) -> Result<()>,
) -> Result<ExportSummary> {
    let offset = Rc::new(Cell::new(0));
    let counting = Counting {
        inner: reader,
        buf: vec![0u8; 64 * 1024].into_boxed_slice(),
        pos: 0,
        len: 0,
        count: offset.clone(),
    };
    let mut state = State {
        cb: on_item,
        offset: offset.clone(),
        failure: None,
        summary: ExportSummary::default(),
        section: "",
        index: 0,
        base: at,
    };
    let mut de = serde_json::Deserializer::from_reader(counting);
    let res = de::Deserializer::deserialize_any(&mut de, Top(&mut state)).and_then(|()| de.end());
    if let Some(e) = state.failure.take() {
        return Err(e);
    }
    match res {
        Ok(()) => {
            state.summary.bytes = offset.get();
            Ok(state.summary)
        }
        Err(e) => Err(json_error(&state, e)),
    }
}

fn json_error(state: &State<'_>, e: serde_json::Error) -> Error {
    let mut loc = state.loc(None);
    if state.section.is_empty() {
        loc.doc_index = None;
    }
    if e.is_io() {
        let ioe: io::Error = e.into();
        return crate::backup::io_to_error(&loc, &ioe);
    }
    let what = match e.classify() {
        serde_json::error::Category::Eof => "the export ends in the middle",
        serde_json::error::Category::Syntax => "the export is not valid JSON",
        _ => "the export has an unexpected shape",
    };
    let section = if state.section.is_empty() {
        String::new()
    } else {
        format!(" (in {})", state.section)
    };
    Error::corrupt(loc, format!("{what}{section}: {e}"))
}

struct Top<'s, 'a>(&'s mut State<'a>);

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Smuggler export object with Docs and Attachments")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "Docs" => {
                    self.0.section = "Docs";
                    self.0.index = 0;
                    map.next_value_seed(Section {
                        state: &mut *self.0,
                        docs: true,
                    })?;
                }
                "Attachments" => {
                    self.0.section = "Attachments";
                    self.0.index = 0;
                    map.next_value_seed(Section {
                        state: &mut *self.0,
                        docs: false,
                    })?;
                }
                _ => {
                    // Indexes, Transformers, Identities...: skipped without building them.
                    map.next_value::<IgnoredAny>()?;
                }
            }
            self.0.section = "";
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

struct Section<'s, 'a> {
    state: &'s mut State<'a>,
    docs: bool,
}

impl<'de> DeserializeSeed<'de> for Section<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Section<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let st = self.state;
        if self.docs {
            while let Some(mut body) = seq.next_element::<Map<String, Value>>()? {
                let meta = match body.shift_remove("@metadata") {
                    Some(Value::Object(m)) => m,
                    _ => {
                        let id = body.get("Id").and_then(Value::as_str).map(str::to_owned);
                        let e = Error::corrupt(st.loc(id), "a document without @metadata");
                        return Err(st.fail(e));
                    }
                };
                let Some(id) = meta.get("@id").and_then(Value::as_str).map(str::to_owned) else {
                    let e = Error::corrupt(st.loc(None), "a document whose @metadata has no @id");
                    return Err(st.fail(e));
                };
                if id.trim().is_empty() {
                    let e = Error::corrupt(st.loc(None), "a document with an empty @id");
                    return Err(st.fail(e));
                }
                let collection = meta
                    .get("Raven-Entity-Name")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                // RavenDB keeps the id in @metadata; a body `Id` is ignored (backup-format.md).
                body.shift_remove("Id");
                st.emit(Item::Doc(Document {
                    id,
                    collection,
                    body,
                }))?;
                st.summary.docs += 1;
                st.index += 1;
            }
        } else {
            #[derive(serde::Deserialize)]
            struct Raw {
                #[serde(rename = "Key")]
                key: String,
                #[serde(rename = "Data", default)]
                data: Option<String>,
            }
            while let Some(raw) = seq.next_element::<Raw>()? {
                let data = match raw.data.as_deref() {
                    None => Vec::new(),
                    Some(s) => match base64::engine::general_purpose::STANDARD.decode(s.trim()) {
                        Ok(d) => d,
                        Err(_) => {
                            let e = Error::corrupt(
                                st.loc(Some(raw.key.clone())),
                                "an attachment whose Data is not Base64",
                            );
                            return Err(st.fail(e));
                        }
                    },
                };
                st.emit(Item::Attachment(Attachment { key: raw.key, data }))?;
                st.summary.attachments += 1;
                st.index += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        read_export(json.as_bytes(), Location::default(), &mut |i, _| {
            items.push(i);
            Ok(())
        })?;
        Ok(items)
    }

    #[test]
    fn reads_docs_and_attachments_in_any_order() {
        let items = read(
            r#"{"Attachments":[{"Key":"artifacts/artifacts-1","Metadata":{},"Data":"aGk="}],
                "Indexes":[{"name":"x","definition":{"Map":"from doc in docs select new { doc }"}}],
                "Docs":[{"Name":"Web","Id":"ignored","@metadata":{"@id":"projects-1","Raven-Entity-Name":"Projects"}},
                        {"Max":3,"@metadata":{"@id":"Raven/Hilo/projects"}}],
                "Transformers":[], "Identities":[{"Key":"a","Value":1}]}"#,
        )
        .unwrap();
        assert_eq!(items.len(), 3);
        let Item::Attachment(a) = &items[0] else {
            panic!()
        };
        assert_eq!(
            (a.key.as_str(), a.data.as_slice()),
            ("artifacts/artifacts-1", &b"hi"[..])
        );
        let Item::Doc(d) = &items[1] else { panic!() };
        assert_eq!(d.id, "projects-1");
        assert_eq!(d.collection.as_deref(), Some("Projects"));
        assert_eq!(serde_json::to_string(&d.body).unwrap(), r#"{"Name":"Web"}"#);
        let Item::Doc(h) = &items[2] else { panic!() };
        assert_eq!(h.collection, None);
    }

    #[test]
    fn absent_or_null_sections_are_empty() {
        assert!(read("{}").unwrap().is_empty());
        assert!(read(r#"{"Docs":null}"#).unwrap().is_empty());
    }

    #[test]
    fn bad_shapes_are_typed_errors() {
        for bad in [
            "[]",
            "42",
            r#"{"Docs":[{"Name":"x"}]}"#,
            r#"{"Docs":[{"@metadata":{}}]}"#,
            r#"{"Docs":[1]}"#,
            r#"{"Docs":[{"@metadata":{"@id":"a"}}"#,
            r#"{"Attachments":[{"Key":"k","Data":"***"}]}"#,
            r#"{"Docs":[]} trailing"#,
        ] {
            let e = read(bad).unwrap_err();
            assert!(e.is_corrupt_backup(), "{bad}: {e}");
        }
        let deep = format!(
            "{{\"Docs\":[{}{}]}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(read(&deep).unwrap_err().is_corrupt_backup());
    }

    #[test]
    fn error_names_offset_and_document() {
        let e = read(r#"{"Docs":[{"@metadata":{"@id":"a"}},{"@metadata":{"@id":"b"}}, {"x":}]}"#)
            .unwrap_err();
        let loc = e.location().unwrap();
        assert_eq!(loc.doc_index, Some(2));
        assert!(loc.offset.unwrap() > 60, "{loc:?}");
    }
}
