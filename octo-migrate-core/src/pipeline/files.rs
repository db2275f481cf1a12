//! Task-log and artifact files: written into a staging folder beside their destination and
//! moved into place only after the database committed, so a crash never leaves a half-written
//! file where Octopus 3.x would read it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{ErrorKind, Result};
use crate::layout;
use crate::lock::{Lock, LockError};
use crate::sink::CommitEvidence;

/// Name of a staging folder, before the process id.
pub const STAGING_PREFIX: &str = ".octo-migrate-staging-";

/// The staging folder of one migration.
#[derive(Debug)]
pub struct Staging {
    final_dir: PathBuf,
    dir: PathBuf,
    /// Set once the commit may have happened: from then on the folder is never deleted by
    /// this run, only rolled forward (now or by the next run).
    keep: bool,
    /// Whether `TaskLogs/` exists in the staging folder (saves a `stat` per task log).
    log_dir_made: std::sync::atomic::AtomicBool,
}

fn files_err(path: &Path, source: io::Error) -> crate::error::Error {
    ErrorKind::Files {
        path: path.to_path_buf(),
        source,
    }
    .into()
}

/// The longest file or folder name every file system Octopus runs on takes, in bytes of
/// UTF-8: ext4, XFS and APFS count 255 bytes, NTFS 255 UTF-16 units (never more than bytes).
pub const MAX_NAME_BYTES: usize = 255;

/// Keeps a file name to one path component that any file system takes \[model\]: `/`, `\`,
/// `:` and control characters become `_`, whitespace around goes, and an empty or all-dots
/// name becomes `artifact`. A name that needed none of that and fits in [`MAX_NAME_BYTES`] is
/// kept exactly. Any other gets `~` and 16 hex digits of a hash of the original name before
/// its extension, shortened (at a character) to fit: two names that clean up alike (`a:b`,
/// `a_b`) stay apart, and the same name gives the same file on every run.
pub fn safe_file_name(name: &str) -> String {
    fit_name(name, MAX_NAME_BYTES)
}

/// The file name of a task's log: `<task id, lowercase>.txt`, made safe as [`safe_file_name`].
pub fn task_log_file_name(task_id: &str) -> String {
    const EXT: &str = ".txt";
    format!(
        "{}{EXT}",
        fit_name(&task_id.to_lowercase(), MAX_NAME_BYTES - EXT.len())
    )
}

fn fit_name(name: &str, max: usize) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '\0' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim();
    let base = if trimmed.is_empty() || trimmed.chars().all(|c| c == '.') {
        "artifact"
    } else {
        trimmed
    };
    if base == name && base.len() <= max {
        return base.to_owned();
    }
    // FNV-1a: fixed, so the name is the same on every run and every platform.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let suffix = format!("~{hash:016x}");
    // Keep an extension (up to 15 letters or digits), so the file opens with the right program.
    let is_ext =
        |e: &str| (1..=15).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric());
    let (stem, ext) = match base.rfind('.') {
        Some(i) if i > 0 && is_ext(&base[i + 1..]) => base.split_at(i),
        _ => (base, ""),
    };
    let room = max.saturating_sub(suffix.len() + ext.len());
    let mut end = stem.len().min(room);
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}{ext}", &stem[..end])
}

impl Staging {
    /// Creates `<final_dir>/.octo-migrate-staging-<pid>-<time>`; the caller holds the files
    /// folder's lock ([`lock_and_recover`]). The name is new even where process ids repeat
    /// (PID 1 in a container), so a kept folder of an earlier run is never reused.
    pub fn new(final_dir: &Path) -> Result<Staging> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = final_dir.join(format!("{STAGING_PREFIX}{}-{stamp}", std::process::id()));
        fs::create_dir_all(dir.join("blobs")).map_err(|e| files_err(&dir, e))?;
        Ok(Staging {
            final_dir: final_dir.to_path_buf(),
            dir,
            keep: false,
            log_dir_made: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Where the artifact attachment for `artifact_id` (3.x id) waits for its artifact.
    pub fn blob_path(&self, artifact_id: &str) -> PathBuf {
        self.dir
            .join("blobs")
            .join(safe_file_name(&artifact_id.to_lowercase()))
    }

    /// Writes an attachment's bytes to its blob.
    pub fn write_blob(&self, artifact_id: &str, data: &[u8]) -> Result<()> {
        let p = self.blob_path(artifact_id);
        fs::write(&p, data).map_err(|e| files_err(&p, e))
    }

    /// The staged path of `TaskLogs/<task id lowercased>.txt` (its folder created).
    pub fn task_log_path(&self, task_id: &str) -> Result<PathBuf> {
        use std::sync::atomic::Ordering;
        let d = self.dir.join(layout::TASK_LOG_DIR);
        if !self.log_dir_made.load(Ordering::Relaxed) {
            fs::create_dir_all(&d).map_err(|e| files_err(&d, e))?;
            self.log_dir_made.store(true, Ordering::Relaxed);
        }
        Ok(d.join(task_log_file_name(task_id)))
    }

    /// Moves an artifact's blob to `Artifacts/<id lowercased>/<file name>`; false when the
    /// backup had no content for it.
    pub fn place_artifact(&self, artifact_id: &str, file_name: &str) -> Result<bool> {
        let blob = self.blob_path(artifact_id);
        if !blob.exists() {
            return Ok(false);
        }
        let d = self
            .dir
            .join(layout::ARTIFACT_DIR)
            .join(safe_file_name(&artifact_id.to_lowercase()));
        fs::create_dir_all(&d).map_err(|e| files_err(&d, e))?;
        let to = d.join(safe_file_name(file_name));
        fs::rename(&blob, &to).map_err(|e| files_err(&to, e))?;
        Ok(true)
    }

    /// Called just before the target commits: records how a later run tells whether the
    /// commit happened ([`crate::sink::Sink::commit_evidence`]). From here on this run never
    /// deletes the folder: if it dies, the next run decides.
    pub fn committing(&mut self, evidence: Option<&CommitEvidence>) -> Result<()> {
        let text = match evidence {
            Some(CommitEvidence::Appears(p)) => format!("{COMMITTED_IF_EXISTS}{}\n", p.display()),
            Some(CommitEvidence::Disappears(p)) => format!("{COMMITTED_IF_GONE}{}\n", p.display()),
            None => String::new(),
        };
        // Whole or not at all: a kill while writing leaves only the temporary name, which
        // reads as "not committing" (the target's commit has not begun).
        let temp = self.dir.join(format!("{COMMITTING_MARKER}.tmp"));
        let marker = self.dir.join(COMMITTING_MARKER);
        write_synced(&temp, text.as_bytes())?;
        fs::rename(&temp, &marker).map_err(|e| files_err(&marker, e))?;
        self.keep = true;
        Ok(())
    }

    /// The target refused or failed its commit: nothing was committed, the folder goes.
    pub fn abandon(mut self) {
        self.keep = false;
    }

    /// Called once the target has committed: marks the folder committed (a crash from here on
    /// is rolled forward by the next run), moves everything into the files folder and
    /// removes the staging folder. An error here leaves the folder for the next run.
    pub fn commit(mut self) -> Result<()> {
        self.keep = true;
        write_synced(&self.dir.join(COMMITTED_MARKER), b"")?;
        roll_forward(&self.dir, &self.final_dir)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .map_err(|e| files_err(path, e))
}

/// Written into a staging folder just before the target commits; says how to tell whether it
/// did (`committed if gone: <path>`, or nothing when the target cannot tell).
const COMMITTING_MARKER: &str = "COMMITTING";
const COMMITTED_IF_GONE: &str = "committed if gone: ";
const COMMITTED_IF_EXISTS: &str = "committed if it exists: ";
/// Written into a staging folder once the target has committed.
const COMMITTED_MARKER: &str = "COMMITTED";

/// What became of an interrupted run's staging folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Its target committed: the files go into place.
    RollForward,
    /// Its target did not commit: the files go.
    RollBack,
    /// It was committing and the target cannot say whether it did: kept, never deleted.
    Keep,
}

fn fate(staging: &Path) -> Fate {
    if staging.join(COMMITTED_MARKER).exists() {
        return Fate::RollForward;
    }
    match fs::read_to_string(staging.join(COMMITTING_MARKER)) {
        Err(_) => Fate::RollBack,
        Ok(text) => {
            let text = text.trim_end();
            let committed = if let Some(p) = text.strip_prefix(COMMITTED_IF_GONE) {
                !Path::new(p).exists()
            } else if let Some(p) = text.strip_prefix(COMMITTED_IF_EXISTS) {
                Path::new(p).exists()
            } else {
                return Fate::Keep;
            };
            if committed {
                Fate::RollForward
            } else {
                Fate::RollBack
            }
        }
    }
}

fn roll_forward(staging: &Path, final_dir: &Path) -> Result<()> {
    for top in [layout::TASK_LOG_DIR, layout::ARTIFACT_DIR] {
        let from = staging.join(top);
        if from.is_dir() {
            move_tree(&from, &final_dir.join(top))?;
        }
    }
    fs::remove_dir_all(staging).map_err(|e| files_err(staging, e))
}

/// Finishes what interrupted migrations left in `final_dir`, whose lock the caller holds (so
/// none of them is alive): a staging folder whose target committed is moved into place
/// (rolled forward), one whose target did not is removed (rolled back), and one whose target
/// cannot say is kept; its path is returned, for the report.
pub fn recover(final_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut kept = Vec::new();
    let Ok(entries) = fs::read_dir(final_dir) else {
        return Ok(kept);
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_str().is_some_and(|n| n.starts_with(STAGING_PREFIX)) {
            continue;
        }
        let dir = e.path();
        match fate(&dir) {
            Fate::RollForward => roll_forward(&dir, final_dir)?,
            Fate::RollBack => fs::remove_dir_all(&dir).map_err(|e| files_err(&dir, e))?,
            Fate::Keep => kept.push(dir),
        }
    }
    Ok(kept)
}

/// The lock of a files folder, which one migration at a time may fill.
pub const LOCK_FILE: &str = ".octo-migrate.lock";

/// Takes the lock of the files folder `final_dir` (created when missing), then finishes what
/// interrupted runs left there ([`recover`]). The lock is held until dropped: by the migration
/// until its files are in place.
pub fn lock_and_recover(final_dir: &Path) -> Result<(Lock, Vec<PathBuf>)> {
    fs::create_dir_all(final_dir).map_err(|e| files_err(final_dir, e))?;
    let path = final_dir.join(LOCK_FILE);
    let lock = match Lock::try_acquire(&path) {
        Ok(l) => l,
        Err(LockError::Busy(holder)) => {
            return Err(ErrorKind::Busy {
                target: final_dir.display().to_string(),
                holder,
            }
            .into())
        }
        Err(LockError::Io(e)) => return Err(files_err(&path, e)),
    };
    let kept = recover(final_dir)?;
    Ok((lock, kept))
}

fn move_tree(from: &Path, to: &Path) -> Result<()> {
    // A first migration has no such folder yet: one rename moves it all (per-file renames of
    // half a million task logs cost seconds).
    if !to.exists() {
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| files_err(parent, e))?;
        }
        if fs::rename(from, to).is_ok() {
            return Ok(());
        }
    }
    fs::create_dir_all(to).map_err(|e| files_err(to, e))?;
    for entry in fs::read_dir(from).map_err(|e| files_err(from, e))? {
        let entry = entry.map_err(|e| files_err(from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            move_tree(&src, &dst)?;
        } else {
            fs::rename(&src, &dst).map_err(|e| files_err(&dst, e))?;
        }
    }
    Ok(())
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        fate, Fate, COMMITTED_IF_EXISTS, COMMITTED_IF_GONE, COMMITTED_MARKER, COMMITTING_MARKER,
    };

    #[test]
    fn an_interrupted_runs_fate_follows_its_markers() {
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path().join("staging");
        std::fs::create_dir(&st).unwrap();
        let evidence = dir.path().join("octopus3.db");
        assert_eq!(fate(&st), Fate::RollBack, "no marker: not committing");
        // Killed while writing the marker: only its temporary name exists.
        std::fs::write(st.join(format!("{COMMITTING_MARKER}.tmp")), b"").unwrap();
        assert_eq!(fate(&st), Fate::RollBack);
        let marker = st.join(COMMITTING_MARKER);
        std::fs::write(
            &marker,
            format!("{COMMITTED_IF_EXISTS}{}\n", evidence.display()),
        )
        .unwrap();
        assert_eq!(fate(&st), Fate::RollBack, "the new database never appeared");
        std::fs::write(&evidence, b"db").unwrap();
        assert_eq!(fate(&st), Fate::RollForward);
        let journal = dir.path().join("octopus3.db-journal");
        std::fs::write(
            &marker,
            format!("{COMMITTED_IF_GONE}{}\n", journal.display()),
        )
        .unwrap();
        assert_eq!(fate(&st), Fate::RollForward, "the journal is gone");
        std::fs::write(&journal, b"hot").unwrap();
        assert_eq!(fate(&st), Fate::RollBack);
        std::fs::write(&marker, b"").unwrap();
        assert_eq!(fate(&st), Fate::Keep, "a target that cannot tell");
        std::fs::write(st.join(COMMITTED_MARKER), b"").unwrap();
        assert_eq!(fate(&st), Fate::RollForward);
    }

    use super::{safe_file_name, task_log_file_name, MAX_NAME_BYTES};

    #[test]
    fn file_names_cannot_escape() {
        let escaped = safe_file_name("../../etc/passwd");
        assert!(escaped.starts_with(".._.._etc_passwd~"), "{escaped}");
        assert!(safe_file_name("..").starts_with("artifact~"));
        let drive = safe_file_name("C:\\x.txt");
        assert!(
            drive.starts_with("C__x~") && drive.ends_with(".txt"),
            "{drive}"
        );
        assert_eq!(safe_file_name("report.html"), "report.html");
    }

    #[test]
    fn names_that_clean_up_alike_stay_apart_and_long_ones_fit() {
        assert_ne!(safe_file_name("a:b"), safe_file_name("a_b"));
        assert_ne!(safe_file_name("a:b"), safe_file_name("a/b"));
        assert_eq!(safe_file_name("a_b"), "a_b");
        assert_eq!(safe_file_name("a:b"), safe_file_name("a:b"), "stable");
        let exactly = "x".repeat(MAX_NAME_BYTES);
        assert_eq!(safe_file_name(&exactly), exactly);
        for long in [
            "é".repeat(128),
            format!("{}.html", "😀".repeat(97)),
            "y".repeat(300),
        ] {
            let short = safe_file_name(&long);
            assert!(short.len() <= MAX_NAME_BYTES, "{short}");
            assert!(short.contains('~'), "{short}");
            assert_eq!(short.ends_with(".html"), long.ends_with(".html"));
        }
        // Two long names with the same beginning differ.
        let a = format!("{}a", "é".repeat(200));
        let b = format!("{}b", "é".repeat(200));
        assert_ne!(safe_file_name(&a), safe_file_name(&b));
        assert_eq!(task_log_file_name("ServerTasks-12"), "servertasks-12.txt");
        assert!(task_log_file_name(&"t".repeat(300)).len() <= MAX_NAME_BYTES);
    }
}
