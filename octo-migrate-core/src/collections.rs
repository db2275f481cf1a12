//! The 2.6 collections and their 3.x homes (mapping.md's table), and the id rules, in one place.

use crate::sink::Table;

/// How `--maxage` treats a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Never filtered.
    Configuration,
    /// A singleton written as a `Configuration` row with this id.
    Singleton(&'static str),
    /// History: filtered by `--maxage`.
    History,
    /// Read and reported, not migrated.
    NotMigrated,
}

/// A 2.6 collection.
#[derive(Debug)]
pub struct Collection {
    /// `Raven-Entity-Name`, which is also the 3.x id prefix (`Projects-1`).
    pub name: &'static str,
    /// The 3.x table (`Configuration` for singletons; `None` when not migrated).
    pub table: Option<Table>,
    /// Its kind.
    pub kind: Kind,
}

const fn coll(name: &'static str, table: Table, kind: Kind) -> Collection {
    Collection {
        name,
        table: Some(table),
        kind,
    }
}

use Kind::*;

/// Every collection this tool knows.
pub static COLLECTIONS: &[Collection] = &[
    coll("Projects", Table::Project, Configuration),
    coll("ProjectGroups", Table::ProjectGroup, Configuration),
    coll("Environments", Table::DeploymentEnvironment, Configuration),
    coll("Machines", Table::Machine, Configuration),
    coll("Lifecycles", Table::Lifecycle, Configuration),
    coll("VariableSets", Table::VariableSet, Configuration),
    coll(
        "DeploymentProcesses",
        Table::DeploymentProcess,
        Configuration,
    ),
    coll(
        "LibraryVariableSets",
        Table::LibraryVariableSet,
        Configuration,
    ),
    coll("ActionTemplates", Table::ActionTemplate, Configuration),
    coll("Feeds", Table::Feed, Configuration),
    coll("Users", Table::User, Configuration),
    coll("Teams", Table::Team, Configuration),
    coll("UserRoles", Table::UserRole, Configuration),
    coll("ApiKeys", Table::ApiKey, Configuration),
    coll("Certificates", Table::Certificate, Configuration),
    coll("Invitations", Table::Invitation, Configuration),
    coll("Licenses", Table::Configuration, Singleton("License")),
    coll(
        "SmtpConfigurations",
        Table::Configuration,
        Singleton("SmtpConfiguration"),
    ),
    coll(
        "MaintenanceConfigurations",
        Table::Configuration,
        Singleton("MaintenanceConfiguration"),
    ),
    Collection {
        name: "RetentionPolicies",
        table: None,
        kind: NotMigrated,
    },
    coll("Releases", Table::Release, History),
    coll("Deployments", Table::Deployment, History),
    coll("ServerTasks", Table::ServerTask, History),
    coll("Events", Table::Event, History),
    coll("Artifacts", Table::Artifact, History),
    coll("Interruptions", Table::Interruption, History),
];

/// The collection named `name` (case-insensitive).
pub fn by_name(name: &str) -> Option<&'static Collection> {
    // Called for every id and reference: only names of the same length are compared.
    static BY_LENGTH: std::sync::LazyLock<Vec<Vec<&'static Collection>>> =
        std::sync::LazyLock::new(|| {
            let longest = COLLECTIONS.iter().map(|c| c.name.len()).max().unwrap_or(0);
            let mut v = vec![Vec::new(); longest + 1];
            for c in COLLECTIONS {
                v[c.name.len()].push(c);
            }
            v
        });
    let same_length = BY_LENGTH.get(name.len())?;
    same_length
        .iter()
        .copied()
        .find(|c| letters_eq_ignore_case(c.name.as_bytes(), name.as_bytes()))
}

/// `letters` (ASCII letters only, as every collection name is) equals `other` in any case,
/// eight bytes at a time: `| 0x20` lowercases a letter, and maps no other byte onto one.
fn letters_eq_ignore_case(letters: &[u8], other: &[u8]) -> bool {
    fn fold(c: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w) | 0x2020_2020_2020_2020
    }
    letters.len() == other.len()
        && letters
            .chunks(8)
            .zip(other.chunks(8))
            .all(|(a, b)| fold(a) == fold(b))
}

/// The collection whose 3.x id prefix is `prefix` (case-insensitive), e.g. `projects`.
pub fn by_prefix(prefix: &str) -> Option<&'static Collection> {
    by_name(prefix).filter(|c| c.table.is_some())
}

/// Heads of owned documents' ids, kept in lowercase (`variableset-Projects-1`).
pub const OWNED_HEADS: &[&str] = &["variableset", "deploymentprocess"];

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

/// Rewrites a 2.6 id to its 3.x form (mapping.md "Ids"): `projects-1` -> `Projects-1`,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_are_letters_and_match_in_any_case_only() {
        for c in COLLECTIONS {
            assert!(
                c.name.bytes().all(|b| b.is_ascii_alphabetic()),
                "{}",
                c.name
            );
            assert_eq!(
                by_name(&c.name.to_lowercase()).map(|x| x.name),
                Some(c.name)
            );
            assert_eq!(
                by_name(&c.name.to_uppercase()).map(|x| x.name),
                Some(c.name)
            );
            // One byte off, or a non-letter where a letter was, is another name.
            let mut near = c.name.as_bytes().to_vec();
            let last = near.len() - 1;
            near[last] ^= 0x01;
            assert!(by_name(std::str::from_utf8(&near).unwrap()).is_none_or(|x| x.name != c.name));
            near[last] = b'[';
            assert!(by_name(std::str::from_utf8(&near).unwrap()).is_none());
        }
        assert!(by_name("").is_none());
        assert!(by_name("Projectsx").is_none());
    }

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
}
