//! Ids in one place: a 2.6 id rewritten to its 3.x form, hashed for pass 1's index, slugs,
//! the match key of releases, and the map of ids that merging renumbers (docs/mapping.md "Ids").

use std::collections::HashMap;
use std::hash::Hasher;

use crate::collections::{by_prefix, Collection, OWNED_HEADS};

/// Splits `<prefix>-<n>` into its collection and number, if the prefix is a known collection
/// with numbered ids.
pub fn numbered(id: &str) -> Option<(&'static Collection, u64)> {
    let (c, digits) = numbered_digits(id)?;
    Some((c, digits.parse().ok()?))
}

/// [`numbered`] without parsing: the collection and the number's digits as written.
fn numbered_digits(id: &str) -> Option<(&'static Collection, &str)> {
    let (prefix, num) = id.rsplit_once('-')?;
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || num.len() > 18 {
        return None;
    }
    Some((by_prefix(prefix)?, num))
}

/// The 3.x form of a numbered id in two pieces, `(Name, n)`, without building it.
pub(crate) fn numbered_canonical(id: &str) -> Option<(&'static str, &str)> {
    let (c, digits) = numbered_digits(id)?;
    // The digits without leading zeros are `n`.
    let digits = match digits.trim_start_matches('0') {
        "" => "0",
        d => d,
    };
    Some((c.name, digits))
}

/// Rewrites a 2.6 id to its 3.x form (docs/mapping.md "Ids"): `projects-1` -> `Projects-1`,
/// `variableset-projects-1-s-2` -> `variableset-Projects-1-s-2`, anything else lowercase
/// (`feeds-builtin`, `certificate-global`). The same function serves documents and references,
/// so they always agree.
pub fn rewrite_id(id: &str) -> String {
    rewrite_id_with(id, numbered_canonical(id))
}

/// [`rewrite_id`] when the caller has already taken `id` apart ([`numbered_canonical`]).
pub(crate) fn rewrite_id_with(id: &str, canonical: Option<(&str, &str)>) -> String {
    if let Some((name, digits)) = canonical {
        // `<Name>-<n>` built directly: this runs for every id and reference (callgrind had
        // `format!` here at 8 % of a dry run).
        let mut out = String::with_capacity(name.len() + 1 + digits.len());
        out.push_str(name);
        out.push('-');
        out.push_str(digits);
        return out;
    }
    let lower = id.to_lowercase();
    for head in OWNED_HEADS {
        if let Some(rest) = lower.strip_prefix(head).and_then(|r| r.strip_prefix('-')) {
            // rest = <owner prefix>-<n>[-s-<m>...]: rewrite the owner, keep the tail lowercase.
            let mut parts = rest.splitn(3, '-');
            if let (Some(p), Some(n)) = (parts.next(), parts.next()) {
                if let Some((c, num)) = numbered(&format!("{p}-{n}")) {
                    let tail = parts.next().map(|t| format!("-{t}")).unwrap_or_default();
                    return format!("{head}-{}-{num}{tail}", c.name);
                }
            }
        }
    }
    lower
}

/// The collection a 2.6 id belongs to by its prefix, for ids of numbered documents.
pub fn collection_of_id(id: &str) -> Option<&'static Collection> {
    numbered(id).map(|(c, _)| c)
}

/// A 64-bit hash of a document id in its 3.x form (so any spelling of one id hashes alike).
pub fn id_hash(id: &str) -> u64 {
    id_hash_with(id, numbered_canonical(id))
}

/// [`id_hash`] when the caller has already taken `id` apart.
pub(crate) fn id_hash_with(id: &str, canonical: Option<(&str, &str)>) -> u64 {
    // SipHash with fixed keys: deterministic across runs, no id strings kept in memory.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match canonical {
        // Numbered ids (nearly all of them) are hashed in pieces, without building the string.
        Some((name, digits)) => {
            h.write(name.as_bytes());
            h.write_u8(b'-');
            h.write(digits.as_bytes());
        }
        None => h.write(rewrite_id(id).as_bytes()),
    }
    h.finish()
}

/// A URL slug from a name, as Octopus makes them: lowercase, runs of anything but letters and
/// digits become one `-`, no leading or trailing `-`.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut dash = false;
    for ch in name.chars() {
        if ch.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.extend(ch.to_lowercase());
        } else {
            dash = true;
        }
    }
    out
}

/// \[model\] Releases have no name but a unique (Version, ProjectId): two servers that both
/// released "1.0" of project "Web" hold the same release, which must be matched rather than
/// break the unique key. The match key: the version (case-insensitive, as SQL Server's default
/// collation compares) and the project's id in the target.
pub fn release_key(version: &str, project_id: &str) -> String {
    format!("{}\u{1f}{project_id}", version.to_lowercase())
}

/// Backup ids (3.x form) that become different ids in the target, and back.
#[derive(Debug, Default, Clone)]
pub struct IdMap {
    forward: HashMap<String, String>,
    reverse: HashMap<String, String>,
}

impl IdMap {
    /// Records that backup id `from` becomes `to` in the target.
    pub(crate) fn insert(&mut self, from: String, to: String) {
        self.reverse.insert(to.clone(), from.clone());
        self.forward.insert(from, to);
    }

    /// The target id of the backup id `id` (3.x form). Owned documents follow their owner:
    /// `variableset-Projects-1` becomes `variableset-Projects-7` when `Projects-1` does.
    pub fn map(&self, id: String) -> String {
        if self.forward.is_empty() {
            return id;
        }
        if let Some(to) = self.forward.get(&id) {
            return to.clone();
        }
        match split_owned(&id) {
            Some((head, owner, tail)) => match self.forward.get(owner) {
                Some(to) => format!("{head}-{to}{tail}"),
                None => id,
            },
            None => id,
        }
    }

    /// The backup id a target id stands for (the inverse of [`IdMap::map`] for whole ids), so
    /// pass 1's index can still be asked about a rewritten reference.
    pub fn original<'a>(&'a self, id: &'a str) -> &'a str {
        self.reverse.get(id).map(String::as_str).unwrap_or(id)
    }
}

/// `variableset-Projects-1-s-2` -> (`variableset`, `Projects-1`, `-s-2`).
fn split_owned(id: &str) -> Option<(&str, &str, &str)> {
    let head = OWNED_HEADS
        .iter()
        .find(|h| id.len() > h.len() && id.starts_with(*h) && id.as_bytes()[h.len()] == b'-')?;
    let rest = &id[head.len() + 1..];
    // The owner is `<Prefix>-<n>`: up to the second hyphen.
    let first = rest.find('-')?;
    let end = rest[first + 1..]
        .find('-')
        .map(|i| first + 1 + i)
        .unwrap_or(rest.len());
    Some((&id[..head.len()], &rest[..end], &rest[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_mapping_md() {
        for (from, to) in [
            ("projects-1", "Projects-1"),
            ("Projects-65", "Projects-65"),
            ("environments-2", "Environments-2"),
            ("userroles-3", "UserRoles-3"),
            ("apikeys-1", "ApiKeys-1"),
            ("SERVERTASKS-881", "ServerTasks-881"),
            ("variableset-projects-1-s-2", "variableset-Projects-1-s-2"),
            ("variableset-projects-1", "variableset-Projects-1"),
            (
                "VariableSet-LibraryVariableSets-1",
                "variableset-LibraryVariableSets-1",
            ),
            (
                "deploymentprocess-projects-65",
                "deploymentprocess-Projects-65",
            ),
            ("feeds-builtin", "feeds-builtin"),
            ("Certificate-Global", "certificate-global"),
            ("license", "license"),
            ("projects-x", "projects-x"),
            ("widgets-4", "widgets-4"),
            ("projects-007", "Projects-7"),
            ("projects-0", "Projects-0"),
            ("projects-000", "Projects-0"),
        ] {
            assert_eq!(rewrite_id(from), to, "{from}");
        }
    }

    #[test]
    fn rewrite_is_idempotent_and_case_blind() {
        for id in [
            "projects-1",
            "variableset-projects-1-s-2",
            "feeds-builtin",
            "Raven/Hilo/x",
        ] {
            let once = rewrite_id(id);
            assert_eq!(rewrite_id(&once), once);
            assert_eq!(rewrite_id(&id.to_uppercase()), once);
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("My  Web--Site 2!"), "my-web-site-2");
    }
}
