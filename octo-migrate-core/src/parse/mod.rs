//! The RavenDB Smuggler export, read as a stream. A small scanner ([`split_export`]) cuts the
//! export into one byte slice per document or attachment, tracking only strings and nesting;
//! `Indexes`, `Transformers` and unknown properties are skipped without being built; property
//! order does not matter. Each slice is then parsed on its own ([`RawItem::parse`]), which the
//! pipeline does on its worker threads. [`read_export`] does both, in order, on one thread.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use base64::Engine as _;
use serde_json::Value;

pub mod body;
mod top_level;

pub use body::Body;

use crate::error::{Error, ErrorKind, Location, Result};
use crate::layout::MAX_DOCUMENT_BYTES;

/// One document of the export, `@metadata` taken apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `@metadata.@id`, as written in the backup.
    pub id: String,
    /// `@metadata.Raven-Entity-Name` (the collection); `None` for most system documents.
    pub collection: Option<String>,
    /// The document's own properties, without `@metadata` and without a body `Id`.
    pub body: Body,
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
    /// Byte offset of the item's first byte in the export.
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

/// One element of `Docs` or `Attachments`, not yet parsed.
#[derive(Debug, Clone)]
pub struct RawItem {
    /// Whether it came from `Docs` (else `Attachments`).
    pub is_doc: bool,
    /// The element's JSON text.
    pub bytes: Vec<u8>,
    /// Where it starts.
    pub pos: Position,
    /// File and entry, for errors.
    pub at: Location,
}

impl RawItem {
    fn loc(&self, extra: u64, doc_id: Option<String>) -> Location {
        Location {
            offset: Some(self.pos.offset + extra),
            doc_index: Some(self.pos.index),
            doc_id,
            ..self.at.clone()
        }
    }

    /// A document's id and collection from its `@metadata` (docs/backup-format.md section 4):
    /// the one place that decides what a document without a usable id is.
    fn identity(
        &self,
        meta: Option<Meta>,
        id_hint: Option<String>,
    ) -> Result<(String, Option<String>)> {
        let Some(meta) = meta else {
            return Err(Error::corrupt(
                self.loc(0, id_hint),
                "a document without @metadata",
            ));
        };
        let Some(id) = meta.id.as_ref().and_then(Value::as_str).map(str::to_owned) else {
            return Err(Error::corrupt(
                self.loc(0, None),
                "a document whose @metadata has no @id",
            ));
        };
        if id.trim().is_empty() {
            return Err(Error::corrupt(
                self.loc(0, None),
                "a document with an empty @id",
            ));
        }
        let collection = meta
            .entity
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok((id, collection))
    }

    /// Parses the element into a document or attachment.
    pub fn parse(self) -> Result<Item> {
        let section = if self.is_doc { "Docs" } else { "Attachments" };
        let json_err = |e: serde_json::Error, me: &RawItem| {
            let extra = if e.line() == 1 {
                e.column().saturating_sub(1) as u64
            } else {
                0
            };
            let what = match e.classify() {
                serde_json::error::Category::Eof => "the export ends in the middle",
                serde_json::error::Category::Syntax => "the export is not valid JSON",
                _ => "the export has an unexpected shape",
            };
            Error::corrupt(me.loc(extra, None), format!("{what} (in {section}): {e}"))
        };
        if self.is_doc {
            let mut body: Body =
                serde_json::from_slice(&self.bytes).map_err(|e| json_err(e, &self))?;
            let id_hint = body.get("Id").and_then(Value::as_str).map(str::to_owned);
            let meta = body
                .shift_remove_with("@metadata", Meta::from_text, |v| {
                    v.and_then(Meta::from_value)
                })
                .flatten();
            let (id, collection) = self.identity(meta, id_hint)?;
            // RavenDB keeps the id in @metadata; a body `Id` is ignored (docs/backup-format.md).
            body.shift_remove("Id");
            Ok(Item::Doc(Document {
                id,
                collection,
                body,
            }))
        } else {
            #[derive(serde::Deserialize)]
            struct Raw {
                #[serde(rename = "Key")]
                key: String,
                #[serde(rename = "Data", default)]
                data: Option<String>,
            }
            let raw: Raw = serde_json::from_slice(&self.bytes).map_err(|e| json_err(e, &self))?;
            let data = match raw.data.as_deref() {
                None => Vec::new(),
                Some(s) => base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_err(|_| {
                        Error::corrupt(
                            self.loc(0, Some(raw.key.clone())),
                            "an attachment whose Data is not Base64",
                        )
                    })?,
            };
            Ok(Item::Attachment(Attachment { key: raw.key, data }))
        }
    }
}

/// The two `@metadata` properties a document's identity needs; the others (a dozen RavenDB
/// keeps) are skipped without being built.
#[derive(serde::Deserialize)]
struct Meta {
    #[serde(rename = "@id")]
    id: Option<Value>,
    #[serde(rename = "Raven-Entity-Name")]
    entity: Option<Value>,
}

impl Meta {
    /// `None` when `@metadata` is not an object.
    fn from_value(v: Value) -> Option<Meta> {
        let Value::Object(mut m) = v else {
            return None;
        };
        Some(Meta {
            id: m.remove("@id"),
            entity: m.remove("Raven-Entity-Name"),
        })
    }

    fn from_text(text: &str) -> Option<Meta> {
        // The typed read refuses what a map accepts (a repeated key): then the slow way.
        serde_json::from_str(text)
            .ok()
            .or_else(|| serde_json::from_str(text).ok().and_then(Meta::from_value))
    }
}

/// One list, two forms: the constant, and a `match` the compiler turns into a length switch.
macro_rules! index_properties {
    ($($k:literal),* $(,)?) => {
        /// The properties pass 1 (the index and `--maxage`) reads: names, dates, references.
        /// The rest of a document is skipped without being built.
        pub const INDEX_PROPERTIES: &[&str] = &[$($k),*];

        /// The index property `key` names, as the constant (no allocation for its key).
        fn index_property(key: &str) -> Option<&'static str> {
            match key {
                $($k => Some($k),)*
                _ => None,
            }
        }
    };
}

index_properties!(
    "Name",
    "Username",
    "Slug",
    "ProjectGroupId",
    "Version",
    "State",
    "QueueTime",
    "StartTime",
    "CompletedTime",
    "Max",
    "Assembled",
    "Created",
    "Occurred",
    "ProjectId",
    "EnvironmentId",
    "ReleaseId",
    "TaskId",
    "ServerTaskId",
    "ProjectVariableSetSnapshotId",
    "ProjectDeploymentProcessSnapshotId",
    "LibraryVariableSetSnapshotIds",
    "IsFrozen",
);

impl RawItem {
    /// Like [`RawItem::parse`], but a document's body holds only [`INDEX_PROPERTIES`] (a null
    /// one is left out).
    pub fn parse_for_index(self) -> Result<Item> {
        if !self.is_doc {
            return self.parse();
        }
        // The fast path reads the structure only; anything unusual goes to the full parser,
        // which also produces the errors.
        let mut body = Body::new();
        let mut meta = None;
        let mut usual = true;
        let read = top_level::properties(&self.bytes, &mut |key, text| {
            if key == "@metadata" {
                // serde's typed read of a small object is as fast as the scanner here.
                meta = std::str::from_utf8(text).ok().and_then(Meta::from_text);
            } else if let Some(key) = index_property(key) {
                match serde_json::from_slice::<Option<Value>>(text) {
                    Ok(Some(v)) => {
                        body.insert(key, v);
                    }
                    Ok(None) => {
                        body.shift_remove(key);
                    }
                    Err(_) => usual = false,
                }
            }
        });
        if read.is_none() || !usual {
            let Item::Doc(mut d) = self.parse()? else {
                unreachable!("a document parses as a document")
            };
            d.body.retain(|k| INDEX_PROPERTIES.contains(&k));
            return Ok(Item::Doc(d));
        }
        let (id, collection) = self.identity(meta, None)?;
        Ok(Item::Doc(Document {
            id,
            collection,
            body,
        }))
    }
}

/// Reads the export from `reader` (already decrypted and decompressed), calling `on_item` for
/// each document and attachment in file order. `at` names the file and entry in errors.
pub fn read_export<R: Read>(
    reader: R,
    at: Location,
    on_item: &mut dyn FnMut(Item, Position) -> Result<()>,
) -> Result<ExportSummary> {
    split_export(
        BufReader::with_capacity(64 * 1024, reader),
        at,
        &mut |raw| {
            let pos = raw.pos;
            on_item(raw.parse()?, pos)
        },
    )
}

/// Cuts the export into its `Docs` and `Attachments` elements, in file order, without parsing
/// them. Everything else is skipped. Structure errors are typed, with the byte offset.
pub fn split_export<R: BufRead>(
    reader: R,
    at: Location,
    on_raw: &mut dyn FnMut(RawItem) -> Result<()>,
) -> Result<ExportSummary> {
    let mut s = Scanner {
        r: reader,
        offset: 0,
        at,
        index: None,
    };
    let mut summary = ExportSummary::default();
    s.skip_ws()?;
    match s.peek()? {
        Some(b'{') => s.bump(),
        Some(_) => return Err(s.err("the export is not a JSON object")),
        None => return Err(s.err("the export is empty")),
    }
    let mut first = true;
    loop {
        s.skip_ws()?;
        match s.peek()? {
            Some(b'}') => {
                s.bump();
                break;
            }
            Some(b',') if !first => {
                s.bump();
                s.skip_ws()?;
            }
            Some(_) if first => {}
            Some(_) => return Err(s.err("expected , or } between the export's properties")),
            None => return Err(s.err("the export ends in the middle")),
        }
        first = false;
        if s.peek()? != Some(b'"') {
            return Err(s.err("expected a property name"));
        }
        let mut key_raw = Vec::new();
        if !s.capture(Some(&mut key_raw), MAX_DOCUMENT_BYTES)? {
            return Err(s.err("a property name of the export is longer than any document"));
        }
        let key: String = serde_json::from_slice(&key_raw)
            .map_err(|_| s.err("a property name is not a valid JSON string"))?;
        s.skip_ws()?;
        if s.peek()? != Some(b':') {
            return Err(s.err("expected : after a property name"));
        }
        s.bump();
        s.skip_ws()?;
        let is_doc = match key.as_str() {
            "Docs" => true,
            "Attachments" => false,
            _ => {
                // Indexes, Transformers, Identities...: skipped without being built.
                s.capture(None, usize::MAX)?;
                continue;
            }
        };
        match s.peek()? {
            Some(b'[') => s.bump(),
            Some(b'n') => {
                let mut v = Vec::new();
                if !s.capture(Some(&mut v), b"null".len())? || v != b"null" {
                    return Err(s.err(format!("{key} is not an array")));
                }
                continue;
            }
            Some(_) => return Err(s.err(format!("{key} is not an array"))),
            None => return Err(s.err("the export ends in the middle")),
        }
        let mut index = 0u64;
        let mut first_el = true;
        loop {
            s.skip_ws()?;
            match s.peek()? {
                Some(b']') => {
                    s.bump();
                    break;
                }
                Some(b',') if !first_el => {
                    s.bump();
                    s.skip_ws()?;
                }
                Some(_) if first_el => {}
                Some(_) => return Err(s.err(format!("expected , or ] in {key}"))),
                None => return Err(s.err("the export ends in the middle")),
            }
            first_el = false;
            s.index = Some(index);
            let pos = Position {
                offset: s.offset,
                index,
            };
            let mut bytes = Vec::new();
            // A document is held whole from here on: one over the limit is refused before it
            // is (attachments are artifacts' files, whatever their size).
            let limit = if is_doc {
                MAX_DOCUMENT_BYTES
            } else {
                usize::MAX
            };
            if !s.capture(Some(&mut bytes), limit)? {
                return Err(ErrorKind::DocumentTooLarge {
                    at: Location {
                        offset: Some(pos.offset),
                        doc_index: Some(index),
                        ..s.at.clone()
                    },
                    limit: limit as u64,
                }
                .into());
            }
            on_raw(RawItem {
                is_doc,
                bytes,
                pos,
                at: s.at.clone(),
            })?;
            if is_doc {
                summary.docs += 1;
            } else {
                summary.attachments += 1;
            }
            index += 1;
        }
        s.index = None;
    }
    s.skip_ws()?;
    if s.peek()?.is_some() {
        return Err(s.err("the export has trailing characters after its object"));
    }
    summary.bytes = s.offset;
    Ok(summary)
}

struct Scanner<R> {
    r: R,
    offset: u64,
    at: Location,
    index: Option<u64>,
}

impl<R: BufRead> Scanner<R> {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::corrupt(
            Location {
                offset: Some(self.offset),
                doc_index: self.index,
                ..self.at.clone()
            },
            reason,
        )
    }

    fn io(&self, e: std::io::Error) -> Error {
        let loc = Location {
            offset: Some(self.offset),
            doc_index: self.index,
            ..self.at.clone()
        };
        crate::backup::io_to_error(&loc, &e)
    }

    fn peek(&mut self) -> Result<Option<u8>> {
        loop {
            match self.r.fill_buf() {
                Ok(b) => return Ok(b.first().copied()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(e)),
            }
        }
    }

    fn bump(&mut self) {
        self.r.consume(1);
        self.offset += 1;
    }

    fn skip_ws(&mut self) -> Result<()> {
        loop {
            let buf = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            };
            if buf.is_empty() {
                return Ok(());
            }
            let n = buf
                .iter()
                .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(buf.len());
            let all = n == buf.len();
            self.r.consume(n);
            self.offset += n as u64;
            if !all {
                return Ok(());
            }
        }
    }

    /// Reads one JSON value (object, array, string or scalar), appending its bytes to `out`
    /// when given. Tracks strings and nesting only; the value's content is checked later by
    /// the parser (for skipped values, never). `false` when the value is longer than `limit`
    /// bytes: then `out` holds at most `limit` bytes (its capacity too) and the reader is
    /// somewhere inside the value.
    fn capture(&mut self, mut out: Option<&mut Vec<u8>>, limit: usize) -> Result<bool> {
        let first = match self.peek()? {
            Some(c) => c,
            None => return Err(self.err("the export ends in the middle")),
        };
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        let mut depth: u64 = 0;
        let mut in_str = false;
        let mut esc = false;
        let mut started = false;
        loop {
            let buf = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            };
            if buf.is_empty() {
                if scalar && started {
                    return Ok(true);
                }
                return Err(self.err("the export ends in the middle"));
            }
            let mut i = 0;
            let mut done = false;
            while i < buf.len() {
                let c = buf[i];
                if scalar {
                    if matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        done = true;
                        break;
                    }
                } else if in_str {
                    if esc {
                        esc = false;
                    } else {
                        // Strings are most of the bytes: jump to the next quote or backslash
                        // (memchr searches many bytes at a time; this loop is the reader
                        // thread's, which every other stage waits on).
                        match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                            None => {
                                i = buf.len();
                                continue;
                            }
                            Some(k) => {
                                i += k;
                                if buf[i] == b'\\' {
                                    esc = true;
                                } else {
                                    in_str = false;
                                    if depth == 0 {
                                        i += 1;
                                        done = true;
                                        break;
                                    }
                                }
                            }
                        }
                    }
                } else {
                    match c {
                        b'"' => in_str = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                i += 1;
                                done = true;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
            started = true;
            if let Some(o) = out.as_deref_mut() {
                if !append_within(o, &buf[..i], limit) {
                    return Ok(false);
                }
            }
            self.r.consume(i);
            self.offset += i as u64;
            if done {
                if scalar && i == 0 && !started {
                    return Err(self.err("expected a value"));
                }
                return Ok(true);
            }
        }
    }
}

/// Appends `bytes` to `out` unless that makes it longer than `limit` (then `false`, and
/// nothing is appended); its capacity grows by doubling as usual, but never past `limit`.
/// Out of line: the scanning loop it ends is the reader thread's, and stays as tight.
#[inline(never)]
fn append_within(out: &mut Vec<u8>, bytes: &[u8], limit: usize) -> bool {
    let need = out.len() + bytes.len();
    if need > limit {
        return false;
    }
    if need > out.capacity() {
        let cap = out.capacity().saturating_mul(2).clamp(need, limit);
        out.reserve_exact(cap - out.len());
    }
    out.extend_from_slice(bytes);
    true
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
