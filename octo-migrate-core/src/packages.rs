//! `copy-packages`: the built-in NuGet repository's packages are not in the backup. Copies every
//! `.nupkg` under one folder to the same relative path under another, after checking that each
//! is a readable package whose `.nuspec` id and version match its file name. Never overwrites.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// What `copy_packages` did (or, in a dry run, would do). Paths are relative to `from`; in
/// JSON they are strings (lossy where not UTF-8).
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct CopyOutcome {
    /// A dry run: nothing was written, `copied` lists what would be.
    pub dry_run: bool,
    /// Packages copied (relative paths).
    #[serde(serialize_with = "paths")]
    pub copied: Vec<PathBuf>,
    /// Packages already present with the same content.
    #[serde(rename = "skipped_identical", serialize_with = "paths")]
    pub skipped: Vec<PathBuf>,
    /// Packages not copied, with the reason.
    pub rejected: Vec<Rejected>,
    /// Symbolic links below `from` (relative paths), files or folders: never followed, so
    /// nothing outside `from` is copied, and listed so none is skipped without a word.
    #[serde(serialize_with = "paths")]
    pub symlinks: Vec<PathBuf>,
    /// Bytes of the packages in `copied`.
    pub copied_bytes: u64,
    /// Bytes of the packages in `skipped`.
    pub skipped_bytes: u64,
    /// Bytes of the packages in `rejected`.
    pub rejected_bytes: u64,
}

/// A package not copied.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Rejected {
    /// Relative to `from`.
    #[serde(serialize_with = "path")]
    pub path: PathBuf,
    /// Why, in words.
    pub reason: String,
}

fn path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

fn paths<S: serde::Serializer>(ps: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ps.iter().map(|p| p.to_string_lossy()))
}

/// A NuGet version as NuGet compares them: numeric release parts, where `1.0`, `1.0.0` and
/// `1.0.0.0` are the same version (missing parts are 0; a fourth part of 0 is insignificant,
/// a fourth part of 1 is not), leading zeros ignored; the prerelease label compared without
/// regard to case; build metadata (`+...`) ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NuGetVersion {
    /// Exactly four parts: major, minor, patch, revision.
    release: [u64; 4],
    /// Lower-cased; empty for a release.
    prerelease: String,
}

impl NuGetVersion {
    fn parse(text: &str) -> Option<NuGetVersion> {
        let text = text.trim();
        let text = text.split_once('+').map_or(text, |(v, _)| v);
        let (release, prerelease) = text.split_once('-').unwrap_or((text, ""));
        let parts: Vec<&str> = release.split('.').collect();
        if parts.is_empty() || parts.len() > 4 {
            return None;
        }
        let mut numbers = [0u64; 4];
        for (n, p) in numbers.iter_mut().zip(&parts) {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *n = p.parse().ok()?;
        }
        Some(NuGetVersion {
            release: numbers,
            prerelease: prerelease.to_lowercase(),
        })
    }
}

/// Whether two version strings name the same NuGet version ([`NuGetVersion`]); strings that
/// are not versions are the same only when equal, case ignored.
pub fn same_version(a: &str, b: &str) -> bool {
    match (NuGetVersion::parse(a), NuGetVersion::parse(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
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
    if !name_matches(&name, id, version) {
        return Err(format!(
            "the .nuspec says {id} {version}, so the file should be named {expected}"
        ));
    }
    Ok((id.to_owned(), version.to_owned()))
}

/// `name` is `<id>.<version>.nupkg`, the id with case ignored and the version as NuGet compares
/// versions (`Acme.1.0.0.0.nupkg` for id `Acme`, version `1.0`).
fn name_matches(name: &str, id: &str, version: &str) -> bool {
    let lower = name.to_lowercase();
    let Some(rest) = lower.strip_prefix(&format!("{}.", id.to_lowercase())) else {
        return false;
    };
    let Some(named) = rest.strip_suffix(".nupkg") else {
        return false;
    };
    same_version(named, version)
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
    run(from, to, false)
}

/// What [`copy_packages`] would do, with every package checked and every destination looked
/// at, and nothing written (not even `to` is created).
pub fn copy_packages_dry_run(from: &Path, to: &Path) -> io::Result<CopyOutcome> {
    run(from, to, true)
}

fn run(from: &Path, to: &Path, dry_run: bool) -> io::Result<CopyOutcome> {
    if let Err(why) = check_folders(from, to)? {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    }
    let mut found = Vec::new();
    let mut links = Vec::new();
    walk(from, &mut found, &mut links)?;
    let mut out = CopyOutcome {
        dry_run,
        symlinks: links
            .iter()
            .map(|l| l.strip_prefix(from).unwrap_or(l).to_path_buf())
            .collect(),
        ..CopyOutcome::default()
    };
    for src in found {
        let rel = src.strip_prefix(from).unwrap_or(&src).to_path_buf();
        let bytes = fs::metadata(&src)?.len();
        if let Err(reason) = check_package(&src) {
            out.rejected.push(Rejected { path: rel, reason });
            out.rejected_bytes += bytes;
            continue;
        }
        let dst = to.join(&rel);
        if dst.exists() {
            if same_content(&src, &dst)? {
                out.skipped.push(rel);
                out.skipped_bytes += bytes;
            } else {
                out.rejected.push(Rejected {
                    path: rel,
                    reason: "a different file is already there; not overwritten".into(),
                });
                out.rejected_bytes += bytes;
            }
            continue;
        }
        if !dry_run {
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent)?;
            }
            // Copy under a temporary name and rename, so a crash leaves no half package.
            let tmp = dst.with_extension("nupkg.octo-migrate-tmp");
            fs::copy(&src, &tmp)?;
            fs::rename(&tmp, &dst)?;
        }
        out.copied.push(rel);
        out.copied_bytes += bytes;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{name_matches, same_version, tag_text};

    #[test]
    fn versions_compare_as_nuget_compares_them() {
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0", "1.0.0.0"),
            ("1.0.0", "1.0.0.0"),
            ("1", "1.0.0.0"),
            ("01.2.03", "1.2.3"),
            ("1.0-Beta", "1.0.0-beta"),
            ("1.0.0-RC.1", "1.0.0.0-rc.1"),
            ("1.0.0+build.7", "1.0.0"),
            (" 2.0.1 ", "2.0.1"),
        ] {
            assert!(same_version(a, b), "{a} == {b}");
            assert!(same_version(b, a), "{b} == {a}");
        }
        for (a, b) in [
            ("1.0.0.1", "1.0.0"),
            ("1.0.1", "1.0"),
            ("1.0-beta", "1.0"),
            ("1.0-beta", "1.0-beta2"),
            ("2.0", "1.0"),
            ("1.0.0.0.0", "1.0"),
            ("1..0", "1.0"),
        ] {
            assert!(!same_version(a, b), "{a} != {b}");
        }
        // Not versions: equal only as text.
        assert!(same_version("latest", "LATEST"));
        assert!(!same_version("latest", "1.0"));
    }

    #[test]
    fn file_names_match_the_nuspec_as_nuget_does() {
        assert!(name_matches("Acme.Web.1.0.0.0.nupkg", "Acme.Web", "1.0"));
        assert!(name_matches("acme.web.1.0.nupkg", "Acme.Web", "1.0.0.0"));
        assert!(name_matches(
            "Acme.Web.1.0.0-Beta.nupkg",
            "Acme.Web",
            "1.0-beta"
        ));
        assert!(!name_matches("Acme.Web.1.0.1.nupkg", "Acme.Web", "1.0"));
        assert!(!name_matches("Acme.Api.1.0.nupkg", "Acme.Web", "1.0"));
        assert!(!name_matches("Acme.Web.1.0.zip", "Acme.Web", "1.0"));
        // The id is the whole prefix, not a part of it.
        assert!(!name_matches("Acme.Web.Extra.1.0.nupkg", "Acme.Web", "1.0"));
    }

    #[test]
    fn nuspec_tags() {
        let x = r#"<package><metadata><identity>x</identity><id>Acme.Web</id><version>1.2.3</version></metadata></package>"#;
        assert_eq!(tag_text(x, "id"), Some("Acme.Web"));
        assert_eq!(tag_text(x, "version"), Some("1.2.3"));
        assert_eq!(tag_text("<id >A</id>", "id"), Some("A"));
        assert_eq!(tag_text("<idx>A</idx>", "id"), None);
    }
}
