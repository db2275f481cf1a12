//! Problems that stop a migration before anything is committed (docs/cli.md "Order of work"). The
//! migration collects all of them and reports them together, not the first one only.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One problem found by the preflight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
#[non_exhaustive]
pub enum Problem {
    /// A step action that Octopus 3.x does not support (FTP, Azure cloud service), found while
    /// `--skip-unsupported-steps` was not given.
    UnsupportedStep {
        /// The deployment process (3.x id).
        process_id: String,
        /// The owning project's name (or its id when the project is missing).
        project: String,
        /// Step name.
        step: String,
        /// Action name.
        action: String,
        /// `ActionType`, e.g. `Octopus.Ftp`.
        action_type: String,
    },
    /// A sensitive value that does not decrypt with the backup's master key.
    Undecryptable {
        /// The 2.6 document id.
        doc_id: String,
        /// Path of the field inside the document.
        field: String,
        /// Why (never the value).
        reason: String,
    },
    /// A document whose name equals another document's once case and trailing spaces are
    /// ignored: SQL Server's case-insensitive collation keeps only one of them (its unique
    /// index refuses the other), whatever the target, so the two must be told apart in 2.6.
    DuplicateName {
        /// The 2.6 document id.
        doc_id: String,
        /// The 3.x table.
        table: String,
        /// The unique column (`Name`, `Username`).
        column: String,
        /// The document's name.
        name: String,
        /// The documents it clashes with: `(3.x id, name)`.
        others: Vec<(String, String)>,
    },
    /// A text longer than its 3.x `nvarchar(n)` column (in UTF-16 code units, as SQL Server
    /// counts them): SQL Server would refuse it, and truncating it would lose data.
    TooLong {
        /// The 2.6 document id.
        doc_id: String,
        /// The 3.x table.
        table: String,
        /// The column.
        column: String,
        /// The column's length, `n` of `nvarchar(n)`.
        max: u32,
        /// The value's length.
        length: usize,
    },
    /// A document that cannot be turned into a 3.x row.
    Unmappable {
        /// The 2.6 document id.
        doc_id: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnsupportedStep {
                process_id,
                project,
                step,
                action,
                action_type,
            } => write!(
                f,
                "project {project:?}, step {step:?}, action {action:?} uses {action_type}, which Octopus 3.x \
                 does not support ({process_id}); remove the step in 2.6 or run with --skip-unsupported-steps"
            ),
            Problem::Undecryptable {
                doc_id,
                field,
                reason,
            } => write!(f, "document {doc_id}, field {field}: {reason}"),
            Problem::DuplicateName {
                doc_id,
                table,
                column,
                name,
                others,
            } => {
                let others: Vec<String> = others
                    .iter()
                    .map(|(id, n)| format!("{id} ({n:?})"))
                    .collect();
                write!(
                    f,
                    "document {doc_id}: {table}.{column} {name:?} is the same as that of {} once case \
                     and trailing spaces are ignored, as SQL Server compares names; rename all but one in 2.6",
                    others.join(", ")
                )
            }
            Problem::TooLong {
                doc_id,
                table,
                column,
                max,
                length,
            } => write!(
                f,
                "document {doc_id} cannot be migrated: {table}.{column} is nvarchar({max}) but the \
                 value has {length} characters"
            ),
            Problem::Unmappable { doc_id, reason } => {
                write!(f, "document {doc_id} cannot be migrated: {reason}")
            }
        }
    }
}
