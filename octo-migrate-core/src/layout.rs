//! Every \[model\] decision about the backup's layout, in one place (docs/backup-format.md, docs/schema-3x.md):
//! a real backup that disagrees changes a constant here, not code elsewhere.

/// The key-check entry.
pub const MASTER_KEY_CHECK_ENTRY: &str = "masterkeycheck.txt";
/// What the key-check entry decrypts to.
pub const MASTER_KEY_CHECK_TEXT: &str = "Hello, Octopus";
/// The unencrypted description entry.
pub const BACKUP_JSON_ENTRY: &str = "backup.json";
/// The RavenDB Smuggler export.
pub const DUMP_ENTRY: &str = "ravendb/raven.dump";
/// Folder of per-task activity logs (`<folder><task id>.log`).
pub const ACTIVITY_LOG_PREFIX: &str = "activitylogs/";
/// Extension of activity-log entries.
pub const ACTIVITY_LOG_SUFFIX: &str = ".log";
/// The oldest Octopus version whose backups we migrate.
pub const MIN_VERSION: [u64; 2] = [2, 6];
/// Attachment key prefix of artifact content (`artifacts/<artifact id>`).
pub const ARTIFACT_ATTACHMENT_PREFIX: &str = "artifacts/";
/// Prefix of RavenDB system documents.
pub const SYSTEM_DOC_PREFIX: &str = "raven/";
/// Prefix of RavenDB HiLo documents (`Raven/Hilo/<collection>`).
pub const HILO_PREFIX: &str = "raven/hilo/";
/// Folder of converted task logs in the 3.x files directory.
pub const TASK_LOG_DIR: &str = "TaskLogs";
/// Folder of artifact files in the 3.x files directory.
pub const ARTIFACT_DIR: &str = "Artifacts";
/// How long a `Backup.json` may be; anything larger is not a description file.
pub const BACKUP_JSON_MAX: u64 = 64 * 1024;
/// The largest document of the dump that is read ([model]): an element of `Docs` longer than
/// this is refused as a damaged backup while the export is cut into documents, before it is
/// held. Octopus 2.6's largest documents are variable sets, deployment processes and their
/// release snapshots: a few MB for a project with thousands of variables. 64 MiB is ten times
/// that and more; a document is held about four times over while it is parsed, transformed
/// and written (its text, its parsed properties, the values read, the JSON column), so this
/// also bounds what one document costs.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024 * 1024;
/// The most of one activity-log line held in memory (bytes before its line feed). A longer
/// line is not parsed: it is streamed through whole, as the message of an Error line, and
/// counted as unparsable. 2.6 writes one message per line, with line breaks escaped; 1 MiB
/// is far beyond any real message, and bounds what one line costs whatever the log.
pub const MAX_LOG_LINE_BYTES: usize = 1024 * 1024;

/// An entry name as compared: `\` as `/`, no leading `./` or `/`, lowercase.
pub fn normalize_entry_name(name: &str) -> String {
    let s = name.replace('\\', "/");
    let s = s.trim_start_matches("./").trim_start_matches('/');
    s.to_lowercase()
}
