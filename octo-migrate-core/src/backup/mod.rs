//! The `.octobak` container: a ZIP whose entries are MK streams or WinZip-AES entries.
//!
//! Everything here is a stack of `io::Read` adapters over the file: the ZIP entry, then the
//! MK-stream decryptor (or zip's own AES), then GZip when present. Nothing is read whole.

mod directory;
mod file;
mod key_check;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use directory::{LogTable, ZipView};
use file::SharedFile;

use flate2::bufread::MultiGzDecoder;
use zip::result::ZipError;
use zip::ZipArchive;

use crate::crypto::{MasterKey, MkStreamError, MkStreamReader};
use crate::error::{Error, ErrorKind, Location, Result};
use crate::layout;

/// What an entry is, by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// `MasterKeyCheck.txt`.
    MasterKeyCheck,
    /// `Backup.json`.
    BackupJson,
    /// `RavenDB/Raven.dump`.
    Dump,
    /// Anything else: reported and ignored.
    Unknown,
}

/// One entry of the backup other than an activity log (those are counted in
/// [`ActivityLogs`]: a large backup has hundreds of thousands).
#[derive(Debug, Clone)]
pub struct EntryInfo {
    /// The name as stored in the archive.
    pub name: String,
    /// Uncompressed size in bytes (of the stored payload, i.e. still encrypted for MK streams).
    pub size: u64,
    /// Whether the entry is WinZip-AES encrypted (plain payload) rather than an MK stream.
    pub winzip_aes: bool,
    /// What the entry is.
    pub kind: EntryKind,
    /// Index in the ZIP directory.
    index: usize,
}

/// `Backup.json`, when present.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BackupInfo {
    /// `OctopusVersion`.
    pub octopus_version: Option<String>,
    /// `Created`.
    pub created: Option<String>,
    /// `ServerInstance`.
    pub server_instance: Option<String>,
}

/// The activity-log entries of a backup, in summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ActivityLogs {
    /// How many.
    pub count: u64,
    /// Their stored size in bytes, in total.
    pub bytes: u64,
}

/// What `Backup::open` learnt from the ZIP directory, shared by every handle of one backup.
/// Activity logs are not zip's entries but rows of a [`LogTable`]: about 40 bytes a log.
#[derive(Debug, Default)]
struct Catalog {
    entries: Vec<EntryInfo>,
    /// Archive index of the dump.
    dump: usize,
    logs: LogTable,
    info: BackupInfo,
}

/// An opened backup whose key has been checked.
pub struct Backup {
    path: PathBuf,
    /// Every entry but the activity logs (see `directory`).
    archive: ZipArchive<ZipView>,
    /// Reads activity logs from their local headers.
    log_file: SharedFile,
    /// The WinZip-AES password (the key in Base64), for the logs' streaming reader.
    password: zeroize::Zeroizing<Vec<u8>>,
    key: MasterKey,
    catalog: Arc<Catalog>,
    file_size: u64,
}

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup")
            .field("path", &self.path)
            .field("entries", &self.catalog.entries.len())
            .field("activity_logs", &self.activity_logs())
            .field("info", &self.catalog.info)
            .finish_non_exhaustive()
    }
}

/// A decrypted, decompressed entry being read.
pub type EntryReader<'a> = Box<dyn BufRead + 'a>;

impl Backup {
    /// Opens `path`, checks `Backup.json`'s version, then the key. Reads no document.
    pub fn open(path: impl AsRef<Path>, key: &MasterKey) -> Result<Backup> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| ErrorKind::BackupIo {
            path: path.clone(),
            source,
        })?;
        let file_size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let shared = SharedFile::new(file).map_err(|source| ErrorKind::BackupIo {
            path: path.clone(),
            source,
        })?;
        let not_zip = |e: &dyn std::fmt::Display| {
            Error::corrupt(
                Location {
                    file: Some(path.clone()),
                    ..Location::default()
                },
                format!("not a readable ZIP archive: {e}"),
            )
        };
        let dir = directory::scan(
            &shared,
            file_size,
            &|name| log_task_id(&layout::normalize_entry_name(name)).map(str::to_owned),
            &layout::normalize_entry_name,
        )
        .map_err(|e| match e {
            directory::ScanError::Zip(e) => not_zip(&e),
            directory::ScanError::Entry { entry, reason } => Error::corrupt(
                Location {
                    file: Some(path.clone()),
                    entry: Some(entry),
                    ..Location::default()
                },
                reason,
            ),
        })?;
        let view = ZipView::new(shared.clone(), dir.cd_start, dir.small);
        let archive = ZipArchive::new(view).map_err(|e| not_zip(&e))?;
        let mut entries = Vec::new();
        let mut dump = None;
        for i in 0..archive.len() {
            let e = archive.by_index_data(i).map_err(|e| {
                Error::corrupt(
                    Location {
                        file: Some(path.clone()),
                        ..Location::default()
                    },
                    format!("entry #{i} of the ZIP directory: {e}"),
                )
            })?;
            let name = String::from_utf8_lossy(e.name_raw()).into_owned();
            let norm = layout::normalize_entry_name(&name);
            let kind = if e.is_dir() {
                continue;
            } else if norm == layout::DUMP_ENTRY {
                dump = Some(entries.len());
                EntryKind::Dump
            } else if norm == layout::MASTER_KEY_CHECK_ENTRY {
                EntryKind::MasterKeyCheck
            } else if norm == layout::BACKUP_JSON_ENTRY {
                EntryKind::BackupJson
            } else {
                EntryKind::Unknown
            };
            entries.push(EntryInfo {
                name,
                size: e.size(),
                winzip_aes: e.encrypted(),
                kind,
                index: i,
            });
        }
        let dump_pos = dump.ok_or_else(|| {
            Error::corrupt(
                Location {
                    file: Some(path.clone()),
                    ..Location::default()
                },
                "there is no RavenDB/Raven.dump entry: this is not an Octopus 2.6 backup",
            )
        })?;
        // `entries` skips directories, so they keep their archive indexes.
        let mut backup = Backup {
            path,
            archive,
            log_file: shared,
            password: zeroize::Zeroizing::new(key.expose_base64().as_bytes().to_vec()),
            key: key.clone(),
            catalog: Arc::new(Catalog {
                dump: entries[dump_pos].index,
                entries,
                logs: dir.logs,
                info: BackupInfo::default(),
            }),
            file_size,
        };
        let info = backup.read_backup_json()?;
        if let Some(c) = Arc::get_mut(&mut backup.catalog) {
            c.info = info;
        }
        key_check::check(&mut backup)?;
        Ok(backup)
    }

    /// Another handle on the same backup for another thread: it shares the parsed ZIP
    /// directory and reads the file at its own position.
    pub fn handle(&self) -> Backup {
        Backup {
            path: self.path.clone(),
            archive: self.archive.clone(),
            log_file: self.log_file.clone(),
            password: self.password.clone(),
            key: self.key.clone(),
            catalog: Arc::clone(&self.catalog),
            file_size: self.file_size,
        }
    }

    /// The activity logs, in summary.
    pub fn activity_logs(&self) -> ActivityLogs {
        ActivityLogs {
            count: self.catalog.logs.len() as u64,
            bytes: self.catalog.logs.bytes,
        }
    }

    /// Numbers of the activity logs, in file order (reading them in this order is sequential
    /// on disk).
    pub(crate) fn log_indexes(&self) -> Vec<u32> {
        let offsets = &self.catalog.logs.offsets;
        let mut v: Vec<u32> = (0..offsets.len() as u32).collect();
        v.sort_unstable_by_key(|&i| offsets[i as usize]);
        v
    }

    /// The number of the activity log of the task whose [`crate::ids::id_hash`] is `h`.
    pub(crate) fn log_index_by_hash(&self, h: u64) -> Option<u32> {
        let logs = &self.catalog.logs.by_hash;
        let at = logs.partition_point(|(k, _)| *k < h);
        logs.get(at).filter(|(k, _)| *k == h).map(|(_, i)| *i)
    }

    /// The task id (lowercase, as stored) of activity log number `index`.
    pub(crate) fn log_task_at(&self, index: u32) -> Option<&str> {
        self.catalog.logs.task(index)
    }

    /// (Tests and fuzz targets: the whole catalog, and one log by task id.)
    #[cfg(feature = "internals")]
    /// The task ids of every activity log (lowercase, as stored), in file order. Builds the
    /// whole list: for tests and tools, not for the migration.
    pub fn log_task_ids(&self) -> Vec<String> {
        self.log_indexes()
            .into_iter()
            .filter_map(|i| self.log_task_at(i).map(str::to_owned))
            .collect()
    }

    /// Activity log number `index`, decrypted and decompressed, with its entry name. Read from
    /// its local header with zip's streaming reader (zip has no directory record of it).
    pub(crate) fn open_log_at(&mut self, index: u32) -> Result<(String, EntryReader<'_>)> {
        let logs = &self.catalog.logs;
        let (Some(&offset), Some(task)) = (logs.offsets.get(index as usize), logs.task(index))
        else {
            return Err(Error::corrupt(
                self.loc(None),
                format!("no activity log #{index}"),
            ));
        };
        let expected = format!(
            "{}{task}{}",
            layout::ACTIVITY_LOG_PREFIX,
            layout::ACTIVITY_LOG_SUFFIX
        );
        let loc = self.loc(Some(&expected));
        let opts = logs.read_options(index, Some(&self.password));
        self.log_file
            .seek(io::SeekFrom::Start(offset))
            .map_err(|e| io_to_error(&loc, &e))?;
        let file = zip::read::read_zipfile_from_stream_with_options(&mut self.log_file, opts)
            .map_err(|e| zip_error(loc.clone(), e))?
            .ok_or_else(|| {
                Error::corrupt(
                    loc.clone(),
                    format!("no local header at byte {offset}, where the directory puts it"),
                )
            })?;
        let name = String::from_utf8_lossy(file.name_raw()).into_owned();
        if log_task_id(&layout::normalize_entry_name(&name)) != Some(task) {
            return Err(Error::corrupt(
                loc,
                format!("the local header at byte {offset} names another entry: {name:?}"),
            ));
        }
        let size = file.size();
        let payload: Box<dyn Read + '_> = if file.encrypted() {
            Box::new(file)
        } else {
            Box::new(MkStreamReader::new(file, &self.key))
        };
        let reader = decode(
            payload,
            size,
            &Location {
                entry: Some(name.clone()),
                ..loc
            },
        )?;
        Ok((name, reader))
    }

    /// The backup file.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Size of the backup file in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }
    /// Every entry except directories and activity logs (see [`Backup::activity_logs`]).
    pub fn entries(&self) -> &[EntryInfo] {
        &self.catalog.entries
    }
    /// `Backup.json`'s content (empty when absent).
    pub fn info(&self) -> &BackupInfo {
        &self.catalog.info
    }
    /// The master key the backup was opened with.
    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    pub(crate) fn loc(&self, entry: Option<&str>) -> Location {
        Location {
            file: Some(self.path.clone()),
            entry: entry.map(str::to_owned),
            ..Location::default()
        }
    }

    fn entry_name(&self, index: usize) -> String {
        self.archive
            .by_index_data(index)
            .map(|e| String::from_utf8_lossy(e.name_raw()).into_owned())
            .unwrap_or_else(|_| format!("#{index}"))
    }

    fn is_winzip_aes(&self, index: usize) -> bool {
        self.archive
            .by_index_data(index)
            .map(|e| e.encrypted())
            .unwrap_or(false)
    }

    /// The payload of archive entry `index`: decrypted (MK stream or WinZip AES), not yet
    /// decompressed from GZip.
    fn payload(&mut self, index: usize) -> Result<Box<dyn Read + '_>> {
        let name = self.entry_name(index);
        let password = self.key.expose_base64().as_bytes().to_vec();
        let key = self.key.clone();
        let encrypted = self.is_winzip_aes(index);
        let loc = self.loc(Some(&name));
        let file = self
            .archive
            .by_index_decrypt(index, &password)
            .map_err(|e| zip_error(loc, e))?;
        Ok(if encrypted {
            Box::new(file)
        } else {
            Box::new(MkStreamReader::new(file, &key))
        })
    }

    /// A decrypted payload with GZip removed when its magic is present.
    fn decoded(&mut self, index: usize) -> Result<EntryReader<'_>> {
        let name = self.entry_name(index);
        let loc = self.loc(Some(&name));
        let size = self
            .archive
            .by_index_data(index)
            .map(|e| e.size())
            .unwrap_or(0);
        let payload = self.payload(index)?;
        decode(payload, size, &loc)
    }

    /// The Smuggler export, decrypted and decompressed, as a byte stream.
    pub fn open_dump(&mut self) -> Result<EntryReader<'_>> {
        let i = self.catalog.dump;
        self.decoded(i)
    }

    /// The dump entry's name as stored.
    pub fn dump_entry_name(&self) -> String {
        self.entry_name(self.catalog.dump)
    }

    /// The number of `task_id`'s log (any case). The table is keyed by a 64-bit hash, so the
    /// log's own name confirms the match.
    #[cfg(feature = "internals")]
    fn log_index(&self, task_id: &str) -> Option<u32> {
        let i = self.log_index_by_hash(crate::ids::id_hash(task_id))?;
        let stored = self.log_task_at(i)?;
        crate::ids::rewrite_id(stored)
            .eq(&crate::ids::rewrite_id(task_id))
            .then_some(i)
    }

    /// (Tests and fuzz targets: the whole catalog, and one log by task id.)
    #[cfg(feature = "internals")]
    /// The activity log of `task_id`, decrypted and decompressed, if the backup has one.
    pub fn open_activity_log(
        &mut self,
        task_id: &str,
    ) -> Result<Option<(String, EntryReader<'_>)>> {
        let Some(i) = self.log_index(task_id) else {
            return Ok(None);
        };
        self.open_log_at(i).map(Some)
    }

    fn read_backup_json(&mut self) -> Result<BackupInfo> {
        let Some(i) = self
            .catalog
            .entries
            .iter()
            .find(|e| e.kind == EntryKind::BackupJson)
            .map(|e| e.index)
        else {
            return Ok(BackupInfo::default());
        };
        let name = self.entry_name(i);
        let loc = self.loc(Some(&name));
        let password = self.key.expose_base64().as_bytes().to_vec();
        let mut text = Vec::new();
        {
            let file = self
                .archive
                .by_index_decrypt(i, &password)
                .map_err(|e| match e {
                    ZipError::InvalidPassword => Error::from(ErrorKind::WrongKey {
                        entry: name.clone(),
                    }),
                    other => Error::corrupt(loc.clone(), other.to_string()),
                })?;
            file.take(layout::BACKUP_JSON_MAX + 1)
                .read_to_end(&mut text)
                .map_err(|e| io_to_error(&loc, &e))?;
        }
        if text.len() as u64 > layout::BACKUP_JSON_MAX {
            return Err(Error::corrupt(loc, "Backup.json is larger than 64 KiB"));
        }
        let body = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Raw {
            octopus_version: Option<String>,
            created: Option<String>,
            server_instance: Option<String>,
        }
        let raw: Raw = serde_json::from_slice(body).map_err(|e| {
            Error::corrupt(loc.clone(), format!("Backup.json is not valid JSON: {e}"))
        })?;
        if let Some(v) = &raw.octopus_version {
            let parts: Vec<u64> = v
                .split('.')
                .map(|p| p.trim().parse::<u64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    Error::corrupt(
                        loc.clone(),
                        format!("Backup.json has an unreadable OctopusVersion {v:?}"),
                    )
                })?;
            let major_minor = [
                parts.first().copied().unwrap_or(0),
                parts.get(1).copied().unwrap_or(0),
            ];
            if major_minor < layout::MIN_VERSION {
                return Err(ErrorKind::UnsupportedVersion { found: v.clone() }.into());
            }
        }
        Ok(BackupInfo {
            octopus_version: raw.octopus_version,
            created: raw.created,
            server_instance: raw.server_instance,
        })
    }
}

/// `payload` (of `size` bytes) with GZip removed when its magic is present, and a UTF-8
/// byte-order mark too.
fn decode<'a>(payload: Box<dyn Read + 'a>, size: u64, loc: &Location) -> Result<EntryReader<'a>> {
    // Buffers sized to the entry: thousands of small task logs must not each map and unmap
    // 256 KiB buffers (that showed up as system time).
    let cap = (size as usize).clamp(8 * 1024, 256 * 1024);
    let mut buf = BufReader::with_capacity(cap, payload);
    let head = buf.fill_buf().map_err(|e| io_to_error(loc, &e))?;
    let gz = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let mut reader: EntryReader<'_> = if gz {
        Box::new(BufReader::with_capacity(cap, MultiGzDecoder::new(buf)))
    } else {
        Box::new(buf)
    };
    // A UTF-8 byte-order mark (as .NET writers add) is not part of the JSON or the log.
    let head = reader.fill_buf().map_err(|e| io_to_error(loc, &e))?;
    if head.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(reader)
}

/// The task id of an activity-log entry name (normalized), if it is one.
fn log_task_id(norm: &str) -> Option<&str> {
    norm.strip_prefix(layout::ACTIVITY_LOG_PREFIX)
        .and_then(|r| r.strip_suffix(layout::ACTIVITY_LOG_SUFFIX))
        .filter(|t| !t.is_empty() && !t.contains('/'))
}

/// Maps a zip error on an entry to ours: a wrong AES password is a wrong key.
pub(crate) fn zip_error(loc: Location, e: ZipError) -> Error {
    match e {
        ZipError::InvalidPassword => ErrorKind::WrongKey {
            entry: loc.entry.unwrap_or_default(),
        }
        .into(),
        other => Error::corrupt(loc, other.to_string()),
    }
}

/// Turns an I/O error met while reading an entry into a typed error for that entry.
pub(crate) fn io_to_error(loc: &Location, e: &io::Error) -> Error {
    match MkStreamError::from_io(e) {
        Some(m) => Error::corrupt(loc.clone(), m.to_string()),
        None => Error::corrupt(loc.clone(), format!("read failed: {e}")),
    }
}
