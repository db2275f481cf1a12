//! Who may write a target: an exclusive operating-system lock on a small file beside it, held
//! by one migration from before it looks at the target until its files are in place. A second
//! migration into the same target is refused, naming the first; and because the lock dies with
//! its process (a kill, a power loss), whatever a locked-out run finds of another run is
//! abandoned and may be cleaned up. This replaces asking whether a process id still runs,
//! which fails where every process id may be the same (PID 1 in a container).
//!
//! The lock file holds the owner's process id and start time, for the message only. On
//! Windows they are kept in a file of their own beside it (`<lock>.owner`): a lock there is
//! mandatory, and std's `File::try_lock` locks every byte of the file, so another process could
//! not read a locked file's text.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// An exclusive lock, released (and its file removed) when dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
    path: PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Another process holds it; what its file says about that process.
    Busy(String),
    /// The lock file could not be created or locked.
    Io(io::Error),
}

impl Lock {
    /// Takes the lock at `path` (the file is created when absent) without waiting.
    pub(crate) fn try_acquire(path: &Path) -> Result<Lock, LockError> {
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(LockError::Io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = match owner_path(path) {
                        Some(owner) => {
                            File::open(owner).and_then(|mut f| f.read_to_string(&mut holder))
                        }
                        None => file.read_to_string(&mut holder),
                    };
                    let holder = holder.trim();
                    return Err(LockError::Busy(if holder.is_empty() {
                        "another migration".to_owned()
                    } else {
                        format!("another migration ({holder})")
                    }));
                }
                Err(fs::TryLockError::Error(e)) => return Err(LockError::Io(e)),
            }
            // The previous owner may have removed the file between our open and our lock: then
            // we hold a lock nobody else can see. Take it again on the file at `path`.
            if !same_file(&file, path) {
                continue;
            }
            let holder = format!(
                "process {}, since {}",
                std::process::id(),
                chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
            );
            let _ = match owner_path(path) {
                Some(owner) => fs::write(owner, holder.as_bytes()),
                None => file
                    .set_len(0)
                    .and_then(|()| file.write_all(holder.as_bytes())),
            };
            return Ok(Lock {
                file,
                path: path.to_path_buf(),
            });
        }
    }
}

/// Where the holder's description is kept when not in the lock file itself: on Windows.
fn owner_path(lock: &Path) -> Option<PathBuf> {
    cfg!(windows).then(|| {
        let mut p = lock.as_os_str().to_owned();
        p.push(".owner");
        PathBuf::from(p)
    })
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Elsewhere an open file cannot be removed, so the file at `path` is the one we hold.
#[cfg(not(unix))]
fn same_file(_: &File, path: &Path) -> bool {
    path.exists()
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still locked, so no other process can lock this file after us; one
        // that opened it meanwhile sees it is gone (`same_file`) and starts over.
        if let Some(owner) = owner_path(&self.path) {
            let _ = fs::remove_file(owner);
        }
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Removes the entries of `dir` named `<prefix>...<suffix>`: leftovers of runs that held the
/// lock we now hold, so none of them is alive.
pub(crate) fn remove_leftovers(dir: &Path, prefix: &str, suffix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(prefix) && name.ends_with(suffix)) {
            continue;
        }
        let p = e.path();
        let _ = if p.is_dir() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let first = Lock::try_acquire(&p).unwrap();
        match Lock::try_acquire(&p) {
            Err(LockError::Busy(who)) => {
                assert!(who.contains(&std::process::id().to_string()), "{who}")
            }
            other => panic!("{other:?}"),
        }
        drop(first);
        assert!(!p.exists(), "the lock file goes with the lock");
        if let Some(owner) = owner_path(&p) {
            assert!(!owner.exists(), "and its holder's description");
        }
        let again = Lock::try_acquire(&p).unwrap();
        drop(again);
    }
}
