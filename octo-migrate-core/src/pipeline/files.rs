//! Task-log and artifact files: written into a staging folder beside their destination and
//! moved into place only after the database committed, so a crash never leaves a half-written
//! file where Octopus 3.x would read it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{ErrorKind, Result};
use crate::layout;

/// Name of a staging folder, before the process id.
pub const STAGING_PREFIX: &str = ".octo-migrate-staging-";

/// The staging folder of one migration.
#[derive(Debug)]
pub struct Staging {
    final_dir: PathBuf,
    dir: PathBuf,
    done: bool,
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

/// Keeps a file name to one path component: separators and `..` cannot escape the folder.
pub fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '\0' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '.') {
        "artifact".to_owned()
    } else {
        trimmed.to_owned()
    }
}

impl Staging {
    /// Creates `<final_dir>/.octo-migrate-staging-<pid>` (and `final_dir` when missing).
    pub fn new(final_dir: &Path) -> Result<Staging> {
        fs::create_dir_all(final_dir).map_err(|e| files_err(final_dir, e))?;
        recover(final_dir)?;
        let dir = final_dir.join(format!("{STAGING_PREFIX}{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| files_err(&dir, e))?;
        }
        fs::create_dir_all(dir.join("blobs")).map_err(|e| files_err(&dir, e))?;
        Ok(Staging {
            final_dir: final_dir.to_path_buf(),
            dir,
            done: false,
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
        Ok(d.join(format!("{}.txt", safe_file_name(&task_id.to_lowercase()))))
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

    /// Called once the database has committed: marks the staging folder as committed (so a
    /// crash from here on is rolled forward by the next run), moves everything into the files
    /// directory and removes the staging folder.
    pub fn commit(mut self) -> Result<()> {
        let marker = self.dir.join(COMMITTED_MARKER);
        fs::File::create(&marker)
            .and_then(|f| f.sync_all())
            .map_err(|e| files_err(&marker, e))?;
        self.done = true;
        roll_forward(&self.dir, &self.final_dir)
    }
}

/// Written into a staging folder once its database transaction has committed.
const COMMITTED_MARKER: &str = "COMMITTED";

fn roll_forward(staging: &Path, final_dir: &Path) -> Result<()> {
    for top in [layout::TASK_LOG_DIR, layout::ARTIFACT_DIR] {
        let from = staging.join(top);
        if from.is_dir() {
            move_tree(&from, &final_dir.join(top))?;
        }
    }
    fs::remove_dir_all(staging).map_err(|e| files_err(staging, e))
}

/// Finishes what killed migrations left in `final_dir`: a staging folder whose database
/// committed is moved into place (rolled forward); any other is removed (rolled back).
/// Folders of live processes are left alone.
pub fn recover(final_dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(final_dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(STAGING_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || crate::stale::alive(pid) {
            continue;
        }
        let dir = e.path();
        if dir.join(COMMITTED_MARKER).exists() {
            roll_forward(&dir, final_dir)?;
        } else {
            fs::remove_dir_all(&dir).map_err(|e| files_err(&dir, e))?;
        }
    }
    Ok(())
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
        if !self.done {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn file_names_cannot_escape() {
        assert_eq!(safe_file_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(safe_file_name(".."), "artifact");
        assert_eq!(safe_file_name("C:\\x.txt"), "C__x.txt");
        assert_eq!(safe_file_name("report.html"), "report.html");
    }
}
