//! `copy-packages`: the built-in NuGet repository's packages are not in the backup. Copies every
//! `.nupkg` under one folder to the same relative path under another, after checking that each
//! is a readable package whose `.nuspec` id and version match its file name. Never overwrites.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// What `copy_packages` did.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct CopyOutcome {
    /// Packages copied (relative paths).
    pub copied: Vec<PathBuf>,
    /// Packages already present with the same content.
    pub skipped: Vec<PathBuf>,
    /// Packages not copied, with the reason.
    pub rejected: Vec<(PathBuf, String)>,
    /// Symbolic links below `from` (relative paths), files or folders: never followed, so
    /// nothing outside `from` is copied, and listed so none is skipped without a word.
    pub symlinks: Vec<PathBuf>,
}

/// The `.nuspec` is small; anything larger is not one.
const NUSPEC_MAX: u64 = 1024 * 1024;

fn tag_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}");
    let mut from = 0;
    while let Some(i) = xml[from..].find(&open) {
        let start = from + i + open.len();
        // `<id>` or `<id attr="...">`, not `<identity>`.
        match xml[start..].chars().next() {
            Some('>') | Some(' ') | Some('\t') | Some('\r') | Some('\n') => {
                let gt = start + xml[start..].find('>')?;
                let close = format!("</{tag}>");
                let end = gt + 1 + xml[gt + 1..].find(&close)?;
                return Some(xml[gt + 1..end].trim());
            }
            _ => from = start,
        }
    }
    None
}

/// Checks a package: a readable ZIP with a `.nuspec` at its root whose id and version match
/// `file_name` (`<id>.<version>.nupkg`, case-insensitive).
pub fn check_package(path: &Path) -> Result<(String, String), String> {
    let file = fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file))
        .map_err(|e| format!("not a readable package (ZIP): {e}"))?;
    let idx = (0..zip.len())
        .find(|&i| {
            zip.by_index_data(i)
                .map(|e| {
                    let n = String::from_utf8_lossy(e.name_raw()).to_lowercase();
                    n.ends_with(".nuspec") && !n.contains('/') && !n.contains('\\')
                })
                .unwrap_or(false)
        })
        .ok_or("no .nuspec at the package root")?;
    let mut text = String::new();
    zip.by_index(idx)
        .map_err(|e| format!("the .nuspec cannot be read: {e}"))?
        .take(NUSPEC_MAX)
        .read_to_string(&mut text)
        .map_err(|e| format!("the .nuspec cannot be read: {e}"))?;
    let id = tag_text(&text, "id").ok_or("the .nuspec has no <id>")?;
    let version = tag_text(&text, "version").ok_or("the .nuspec has no <version>")?;
    let expected = format!("{id}.{version}.nupkg");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.eq_ignore_ascii_case(&expected) {
        return Err(format!(
            "the .nuspec says {id} {version}, so the file should be named {expected}"
        ));
    }
    Ok((id.to_owned(), version.to_owned()))
}

fn same_content(a: &Path, b: &Path) -> io::Result<bool> {
    if fs::metadata(a)?.len() != fs::metadata(b)?.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (
        io::BufReader::new(fs::File::open(a)?),
        io::BufReader::new(fs::File::open(b)?),
    );
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, links: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ty = e.file_type()?;
        let p = e.path();
        if ty.is_symlink() {
            links.push(p);
        } else if ty.is_dir() {
            walk(&p, out, links)?;
        } else if ty.is_file()
            && p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("nupkg"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// `path` made absolute without symbolic links, also when its last components do not exist
/// yet: the longest existing beginning is resolved, the rest appended (`..` taken lexically).
fn resolve(path: &Path) -> io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut out = fs::canonicalize(existing)?;
    for name in rest.iter().rev() {
        match name.to_str() {
            Some("..") => {
                out.pop();
            }
            Some(".") => {}
            _ => out.push(name),
        }
    }
    Ok(out)
}

/// \[model\] `to` inside `from` would copy the packages into themselves on every rerun (the
/// next run finds the copies); `from` inside `to` mixes the source into the destination. Either,
/// or the same folder twice, is refused; the reason in words.
pub fn check_folders(from: &Path, to: &Path) -> io::Result<Result<(), String>> {
    let (f, t) = (resolve(from)?, resolve(to)?);
    Ok(if f == t {
        Err(format!(
            "--from and --to are the same folder ({})",
            f.display()
        ))
    } else if t.starts_with(&f) {
        Err(format!(
            "--to {} is inside --from {}: the copies would be copied again on every run; choose a folder outside it",
            t.display(),
            f.display()
        ))
    } else if f.starts_with(&t) {
        Err(format!(
            "--from {} is inside --to {}: the packages would be copied into the folder they are read from; choose a --to outside it",
            f.display(),
            t.display()
        ))
    } else {
        Ok(())
    })
}

/// Copies every valid `.nupkg` under `from` to the same relative path under `to`. Refuses
/// (`InvalidInput`) folders inside one another ([`check_folders`]).
pub fn copy_packages(from: &Path, to: &Path) -> io::Result<CopyOutcome> {
    if let Err(why) = check_folders(from, to)? {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    }
    let mut found = Vec::new();
    let mut links = Vec::new();
    walk(from, &mut found, &mut links)?;
    let mut out = CopyOutcome {
        symlinks: links
            .iter()
            .map(|l| l.strip_prefix(from).unwrap_or(l).to_path_buf())
            .collect(),
        ..CopyOutcome::default()
    };
    for src in found {
        let rel = src.strip_prefix(from).unwrap_or(&src).to_path_buf();
        if let Err(reason) = check_package(&src) {
            out.rejected.push((rel, reason));
            continue;
        }
        let dst = to.join(&rel);
        if dst.exists() {
            if same_content(&src, &dst)? {
                out.skipped.push(rel);
            } else {
                out.rejected.push((
                    rel,
                    "a different file is already there; not overwritten".into(),
                ));
            }
            continue;
        }
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)?;
        }
        // Copy under a temporary name and rename, so a crash leaves no half package.
        let tmp = dst.with_extension("nupkg.octo-migrate-tmp");
        fs::copy(&src, &tmp)?;
        fs::rename(&tmp, &dst)?;
        out.copied.push(rel);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::tag_text;

    #[test]
    fn nuspec_tags() {
        let x = r#"<package><metadata><identity>x</identity><id>Acme.Web</id><version>1.2.3</version></metadata></package>"#;
        assert_eq!(tag_text(x, "id"), Some("Acme.Web"));
        assert_eq!(tag_text(x, "version"), Some("1.2.3"));
        assert_eq!(tag_text("<id >A</id>", "id"), Some("A"));
        assert_eq!(tag_text("<idx>A</idx>", "id"), None);
    }
}
