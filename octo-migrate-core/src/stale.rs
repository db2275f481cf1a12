//! Leftovers of a migration that was killed (SIGKILL, power loss): its staging folder and the
//! temporary database it was building carry its process id in their names. The next run removes
//! those whose process is gone, so a rerun ends exactly like an uninterrupted run.

use std::fs;
use std::path::Path;

/// Whether the process `pid` still runs. Where this cannot be known, it is assumed to run, so
/// nothing of a live migration is ever removed.
pub(crate) fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes entries of `dir` named `<prefix><pid><suffix>` whose process is gone.
pub(crate) fn remove_dead(dir: &Path, prefix: &str, suffix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || alive(pid) {
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
