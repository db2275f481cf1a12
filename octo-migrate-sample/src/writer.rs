//! [`BackupWriter`]: writes an Octopus 2.6 backup (`.octobak`), the inverse of the reader.
//!
//! Layout (backup-format.md section 3): a ZIP with `Backup.json` (plain), `MasterKeyCheck.txt`,
//! `RavenDB/Raven.dump` and `ActivityLogs/<task id>.log`. Each entry but `Backup.json` is either
//! an MK stream ([`EntryForm::MkStream`]) or a WinZip-AES entry holding the plain payload
//! ([`EntryForm::WinZipAes`]).

use std::io::{self, BufWriter, Seek, SeekFrom, Write};

use base64::Engine as _;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use zip::write::SimpleFileOptions;
use zip::{AesMode, CompressionMethod, DateTime, System, ZipWriter};

use super::rng::SplitMix64;
use octo_migrate_core::internals::crypto::{
    encrypt_value_with_iv, MasterKey, MkStreamWriter, BLOCK,
};

/// Name of the key-check entry.
pub const MASTER_KEY_CHECK_ENTRY: &str = "MasterKeyCheck.txt";
/// The plaintext of the key-check entry.
pub const MASTER_KEY_CHECK_TEXT: &str = "Hello, Octopus";
/// Name of the (never encrypted) backup description entry.
pub const BACKUP_JSON_ENTRY: &str = "Backup.json";
/// Name of the RavenDB Smuggler export entry.
pub const DUMP_ENTRY: &str = "RavenDB/Raven.dump";
/// Folder of the per-task activity log entries.
pub const ACTIVITY_LOGS_DIR: &str = "ActivityLogs";

/// How the encrypted entries of a backup are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntryForm {
    /// As Octopus writes them: each entry is an MK stream (`IV || AES-128-CBC ciphertext`).
    #[default]
    MkStream,
    /// As re-packed with 7-Zip/WinZip: each entry is WinZip-AES-256 encrypted with the master
    /// key's Base64 text as password and holds the plain payload. Not byte-reproducible (the
    /// zip crate draws a random salt).
    WinZipAes,
}

/// Options of the Raven dump ([`BackupWriter::start_dump`]).
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// GZip the JSON (as the Smuggler does). `false` writes plain JSON, which readers accept too.
    pub gzip: bool,
    /// Write the `"Attachments"` array before `"Docs"` (property order is not guaranteed).
    pub attachments_first: bool,
    /// Append an (empty) `"Identities"` array: a property readers must skip.
    pub identities: bool,
    /// Mark the entry as ZIP64 (needed when the entry may exceed 4 GiB).
    pub large_file: bool,
    /// The elements of the `"Indexes"` array (readers skip them).
    pub indexes: Vec<Value>,
}

impl Default for DumpOptions {
    fn default() -> DumpOptions {
        DumpOptions {
            gzip: true,
            attachments_first: false,
            identities: false,
            large_file: false,
            indexes: Vec::new(),
        }
    }
}

/// Writes a backup archive entry by entry. Call [`BackupWriter::finish`] at the end.
pub struct BackupWriter<W: Write + Seek> {
    zip: ZipWriter<W>,
    key: MasterKey,
    form: EntryForm,
    /// `None`: IVs from the OS RNG; `Some`: deterministic IVs.
    ivs: Option<SplitMix64>,
    modified: DateTime,
    /// Deflate MK-stream entries in the ZIP ([`BackupWriter::deflate_mk_streams`]).
    deflate_mk: bool,
}

/// The fixed ZIP timestamp of every entry: 2015-06-29 23:30:00.
fn fixed_zip_time() -> DateTime {
    DateTime::from_date_and_time(2015, 6, 29, 23, 30, 0).unwrap_or_default()
}

impl<W: Write + Seek> BackupWriter<W> {
    /// A writer whose MK-stream and MK-value IVs come from the operating system's RNG, like a
    /// real Octopus backup.
    pub fn new(w: W, key: &MasterKey, form: EntryForm) -> BackupWriter<W> {
        BackupWriter {
            zip: ZipWriter::new(w),
            key: key.clone(),
            form,
            ivs: None,
            modified: fixed_zip_time(),
            deflate_mk: false,
        }
    }

    /// A writer whose IVs are derived from `seed`: the same calls give the same bytes
    /// ([`EntryForm::MkStream`]; WinZip-AES salts stay random).
    pub fn with_seed(w: W, key: &MasterKey, form: EntryForm, seed: u64) -> BackupWriter<W> {
        BackupWriter {
            ivs: Some(SplitMix64::derive(seed, 0x1f, 0)),
            ..BackupWriter::new(w, key, form)
        }
    }

    /// Deflates the MK-stream entries written from now on, as a zip tool that re-packs the
    /// backup may (Octopus stores them: ciphertext does not compress). The reader must then find
    /// the key check's blocks behind the compression.
    pub fn deflate_mk_streams(&mut self, yes: bool) -> &mut Self {
        self.deflate_mk = yes;
        self
    }

    /// The entry form this writer uses.
    pub fn form(&self) -> EntryForm {
        self.form
    }

    fn next_iv(&mut self) -> [u8; BLOCK] {
        match &mut self.ivs {
            Some(r) => r.iv(),
            None => octo_migrate_core::internals::crypto::random_iv(),
        }
    }

    /// Encrypts a sensitive value as an MK value (`Base64(ciphertext)|Base64(IV)`) under this
    /// backup's key, with the next IV of this writer.
    pub fn encrypt_value(&mut self, plain: &str) -> String {
        let iv = self.next_iv();
        encrypt_value_with_iv(&self.key, plain, iv)
    }

    fn options(&self, method: CompressionMethod) -> SimpleFileOptions {
        SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(self.modified)
            .system(System::Unix)
            .unix_permissions(0o644)
    }

    /// Writes an unencrypted entry with the given bytes (deflated).
    pub fn write_plain_entry(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let opts = self.options(CompressionMethod::Deflated);
        self.zip.start_file(name, opts)?;
        self.zip.write_all(data)
    }

    /// Writes `Backup.json`: `{"OctopusVersion":..,"Created":..,"ServerInstance":"OctopusServer"}`.
    pub fn write_backup_json(&mut self, octopus_version: &str, created: &str) -> io::Result<()> {
        let body = serde_json::json!({
            "OctopusVersion": octopus_version,
            "Created": created,
            "ServerInstance": "OctopusServer",
        });
        let text = serde_json::to_vec_pretty(&body).map_err(io::Error::other)?;
        self.write_plain_entry(BACKUP_JSON_ENTRY, &text)
    }

    /// Writes `MasterKeyCheck.txt` (`Hello, Octopus`, encrypted in this writer's form).
    pub fn write_master_key_check(&mut self) -> io::Result<()> {
        self.write_entry(
            MASTER_KEY_CHECK_ENTRY,
            MASTER_KEY_CHECK_TEXT.as_bytes(),
            false,
        )
    }

    /// Starts an encrypted entry (in this writer's form) whose payload is optionally GZip
    /// compressed before encryption. Write the payload, then call [`EntryWriter::finish`].
    pub fn start_entry(
        &mut self,
        name: &str,
        gzip: bool,
        large_file: bool,
    ) -> io::Result<EntryWriter<'_, W>> {
        let iv = self.next_iv();
        let sink = match self.form {
            EntryForm::MkStream => {
                // Ciphertext does not compress: store it (unless told otherwise).
                let method = if self.deflate_mk {
                    CompressionMethod::Deflated
                } else {
                    CompressionMethod::Stored
                };
                let opts = self.options(method).large_file(large_file);
                self.zip.start_file(name, opts)?;
                Sink::Mk(Box::new(MkStreamWriter::with_iv(
                    &mut self.zip,
                    &self.key,
                    iv,
                )?))
            }
            EntryForm::WinZipAes => {
                let method = if gzip {
                    CompressionMethod::Stored
                } else {
                    CompressionMethod::Deflated
                };
                let opts = self
                    .options(method)
                    .large_file(large_file)
                    .with_aes_encryption(AesMode::Aes256, self.key.expose_base64());
                self.zip.start_file(name, opts)?;
                Sink::Plain(&mut self.zip)
            }
        };
        let layer = if gzip {
            Layer::Gz(Box::new(GzEncoder::new(sink, Compression::default())))
        } else {
            Layer::Raw(sink)
        };
        Ok(EntryWriter {
            inner: BufWriter::with_capacity(64 * 1024, layer),
        })
    }

    /// Writes a whole encrypted entry (see [`BackupWriter::start_entry`]).
    pub fn write_entry(&mut self, name: &str, data: &[u8], gzip: bool) -> io::Result<()> {
        let mut e = self.start_entry(name, gzip, false)?;
        e.write_all(data)?;
        e.finish()
    }

    /// Starts `ActivityLogs/<task id>.log`; write the log lines, then [`EntryWriter::finish`].
    pub fn start_activity_log(
        &mut self,
        task_id: &str,
        gzip: bool,
    ) -> io::Result<EntryWriter<'_, W>> {
        self.start_entry(&format!("{ACTIVITY_LOGS_DIR}/{task_id}.log"), gzip, false)
    }

    /// Writes `ActivityLogs/<task id>.log` with the given UTF-8 log text.
    pub fn write_activity_log(&mut self, task_id: &str, text: &[u8], gzip: bool) -> io::Result<()> {
        let mut e = self.start_activity_log(task_id, gzip)?;
        e.write_all(text)?;
        e.finish()
    }

    /// Starts `RavenDB/Raven.dump`: documents and attachments are then written one at a time
    /// (constant memory); call [`DumpWriter::finish`] at the end.
    pub fn start_dump(&mut self, opts: &DumpOptions) -> io::Result<DumpWriter<'_, W>> {
        let mut out = self.start_entry(DUMP_ENTRY, opts.gzip, opts.large_file)?;
        out.write_all(b"{\"Indexes\":[")?;
        for (i, index) in opts.indexes.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut out, index).map_err(io::Error::other)?;
        }
        out.write_all(b"]")?;
        let order = if opts.attachments_first {
            [Section::Attachments, Section::Docs]
        } else {
            [Section::Docs, Section::Attachments]
        };
        Ok(DumpWriter {
            out,
            order,
            open: None,
            next: 0,
            first: true,
            identities: opts.identities,
            docs: 0,
            attachments: 0,
        })
    }

    /// Writes the ZIP central directory and returns the underlying writer, positioned at its end.
    pub fn finish(self) -> io::Result<W> {
        let mut w = self.zip.finish()?;
        w.seek(SeekFrom::End(0))?;
        Ok(w)
    }
}

enum Sink<'a, W: Write + Seek> {
    Mk(Box<MkStreamWriter<&'a mut ZipWriter<W>>>),
    Plain(&'a mut ZipWriter<W>),
}

impl<W: Write + Seek> Sink<'_, W> {
    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Mk(mk) => (*mk).finish()?.flush(),
            Sink::Plain(z) => z.flush(),
        }
    }
}

impl<W: Write + Seek> Write for Sink<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Mk(mk) => mk.write(buf),
            Sink::Plain(z) => z.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Mk(mk) => mk.flush(),
            Sink::Plain(z) => z.flush(),
        }
    }
}

enum Layer<'a, W: Write + Seek> {
    Gz(Box<GzEncoder<Sink<'a, W>>>),
    Raw(Sink<'a, W>),
}

impl<W: Write + Seek> Write for Layer<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Layer::Gz(g) => g.write(buf),
            Layer::Raw(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Layer::Gz(g) => g.flush(),
            Layer::Raw(s) => s.flush(),
        }
    }
}

/// One encrypted entry being written (optionally GZip, then MK stream or WinZip-AES).
///
/// [`EntryWriter::finish`] must be called: it writes the GZip trailer and the final padded
/// cipher block; an entry dropped without it is truncated.
pub struct EntryWriter<'a, W: Write + Seek> {
    inner: BufWriter<Layer<'a, W>>,
}

impl<W: Write + Seek> EntryWriter<'_, W> {
    /// Completes the entry.
    pub fn finish(self) -> io::Result<()> {
        let layer = self.inner.into_inner().map_err(|e| e.into_error())?;
        let sink = match layer {
            Layer::Gz(g) => (*g).finish()?,
            Layer::Raw(s) => s,
        };
        sink.finish()
    }
}

impl<W: Write + Seek> Write for EntryWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Docs,
    Attachments,
}

impl Section {
    fn name(self) -> &'static str {
        match self {
            Section::Docs => "Docs",
            Section::Attachments => "Attachments",
        }
    }
}

/// Streams the Smuggler export: `{"Indexes":[..],"Docs":[..],"Attachments":[..],"Transformers":[]}`
/// (or attachments first). Documents and attachments are written as they are given; once the
/// writer has moved past a section it cannot go back to it (an `InvalidInput` error).
pub struct DumpWriter<'a, W: Write + Seek> {
    out: EntryWriter<'a, W>,
    order: [Section; 2],
    /// Index into `order` of the open section.
    open: Option<usize>,
    /// Index into `order` of the first section not yet opened.
    next: usize,
    first: bool,
    identities: bool,
    docs: u64,
    attachments: u64,
}

impl<W: Write + Seek> DumpWriter<'_, W> {
    fn enter(&mut self, s: Section) -> io::Result<()> {
        let i = if self.order[0] == s { 0 } else { 1 };
        if self.open == Some(i) {
            if !self.first {
                self.out.write_all(b",")?;
            }
            self.first = false;
            return Ok(());
        }
        if i < self.next {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the dump's \"{}\" array is already closed", s.name()),
            ));
        }
        self.close_open()?;
        for j in self.next..i {
            write!(self.out, ",\"{}\":[]", self.order[j].name())?;
        }
        write!(self.out, ",\"{}\":[", s.name())?;
        self.open = Some(i);
        self.next = i + 1;
        self.first = false;
        Ok(())
    }

    fn close_open(&mut self) -> io::Result<()> {
        if self.open.take().is_some() {
            self.out.write_all(b"]")?;
        }
        self.first = true;
        Ok(())
    }

    /// Writes one document (its properties plus `"@metadata"`).
    pub fn write_doc(&mut self, doc: &Value) -> io::Result<()> {
        self.enter(Section::Docs)?;
        serde_json::to_writer(&mut self.out, doc).map_err(io::Error::other)?;
        self.docs += 1;
        Ok(())
    }

    /// Writes one attachment `{"Key":..,"Metadata":{..},"Data":"<Base64>"}`.
    pub fn write_attachment(&mut self, key: &str, metadata: &Value, data: &[u8]) -> io::Result<()> {
        self.enter(Section::Attachments)?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        let att = serde_json::json!({ "Key": key, "Metadata": metadata, "Data": b64 });
        serde_json::to_writer(&mut self.out, &att).map_err(io::Error::other)?;
        self.attachments += 1;
        Ok(())
    }

    /// Documents written so far.
    pub fn docs_written(&self) -> u64 {
        self.docs
    }

    /// Attachments written so far.
    pub fn attachments_written(&self) -> u64 {
        self.attachments
    }

    /// Closes the arrays (writing empty ones for sections never used), writes
    /// `"Transformers":[]`, and completes the entry.
    pub fn finish(mut self) -> io::Result<()> {
        self.close_open()?;
        for j in self.next..2 {
            write!(self.out, ",\"{}\":[]", self.order[j].name())?;
        }
        self.out.write_all(b",\"Transformers\":[]")?;
        if self.identities {
            self.out.write_all(b",\"Identities\":[]")?;
        }
        self.out.write_all(b"}")?;
        self.out.finish()
    }
}
