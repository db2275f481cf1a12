//! The 2.6 collections and their 3.x homes (docs/mapping.md's table), and the id rules, in one place.

use crate::schema::Table;

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
    /// \[model\] History: the field that dates a document, which `--maxage` compares.
    pub age_field: Option<&'static str>,
    /// Frozen snapshots (variable sets and processes of releases): history without a date of
    /// its own, kept with the releases that need them.
    pub snapshot: bool,
}

const fn coll(name: &'static str, table: Table, kind: Kind) -> Collection {
    Collection {
        name,
        table: Some(table),
        kind,
        age_field: None,
        snapshot: false,
    }
}

/// A history collection, dated by `age_field`.
const fn history(name: &'static str, table: Table, age_field: &'static str) -> Collection {
    Collection {
        age_field: Some(age_field),
        ..coll(name, table, History)
    }
}

/// A configuration collection whose documents are also frozen snapshots of releases.
const fn snapshots(name: &'static str, table: Table) -> Collection {
    Collection {
        snapshot: true,
        ..coll(name, table, Configuration)
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
    snapshots("VariableSets", Table::VariableSet),
    snapshots("DeploymentProcesses", Table::DeploymentProcess),
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
        age_field: None,
        snapshot: false,
    },
    history("Releases", Table::Release, "Assembled"),
    history("Deployments", Table::Deployment, "Created"),
    history("ServerTasks", Table::ServerTask, "QueueTime"),
    history("Events", Table::Event, "Occurred"),
    history("Artifacts", Table::Artifact, "Created"),
    history("Interruptions", Table::Interruption, "Created"),
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
}
