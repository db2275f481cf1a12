//! # octo-migrate-core
//!
//! Migrates an Octopus Deploy 2.6 backup (`.octobak` plus its master key) into the Octopus 3.x
//! SQL schema, streaming, with bounded memory, all-or-nothing.
//!
//! ## The front door
//!
//! - [`Migration`]: one backup, set up step by step ([`Migration::max_age_days`],
//!   [`Migration::merge`], [`Migration::task_logs`], [`Migration::progress`],
//!   [`Migration::cancel_token`], ...), then [`Migration::run`] into a target or
//!   [`Migration::dry_run`].
//! - [`MasterKey`]: the 2.6 (and 3.x) master key, parsed and checked, zeroed on drop.
//! - The targets, in [`sink`]: [`SqliteSink`] (the embedded default), `MssqlSink` (feature
//!   `mssql`), [`sink::MemorySink`]; or your own, implementing [`Sink`].
//! - [`Report`]: what a migration did, counts that add up; also carried by a failed run's error.
//! - [`Error`], [`ErrorKind`], [`Result`]: one error type with predicates
//!   ([`Error::is_wrong_key`], [`Error::is_corrupt_backup`], [`Error::is_target`]).
//! - Around the migration: [`inspect::inspect`] (what a backup holds), [`verify::verify_sqlite`]
//!   (a migrated target against its backup), [`packages::copy_packages`] (the built-in NuGet
//!   repository, which the backup does not contain).
//!
//! ## Inside, one folder per stage
//!
//! Each stage uses only those below it (docs/DESIGN.md "Layers"; `tests/layers.rs` keeps it so):
//!
//! | layer | modules | what |
//! |---|---|---|
//! | ground | `crypto` | the master key, MK streams and MK values |
//! | shared types | `schema`, `layout`, `collections`, `ids`, `report`, `error` | tables and rows, the container's \[model\] decisions, collections, ids, the report, the error |
//! | container | `backup` | opens the ZIP, checks `Backup.json` and the key, stacks decryption and GZip readers |
//! | parse | `parse` | the RavenDB Smuggler export, one document at a time |
//! | history | `maxage` | `--maxage`: which history to keep |
//! | pass 1 | `index` | a light index of ids, names and dates, so order in the dump does not matter |
//! | target | `sink` | SQLite, SQL Server, in-memory; one transaction |
//! | merging | `merge` | a target that already holds data |
//! | transform | `transform` | 2.6 documents to 3.x rows, references, secrets, task logs |
//! | pipeline | `pipeline` | runs the stages, stages files, commits or rolls back |
//! | around | `inspect`, `verify`, `packages` | |
//!
//! Every decision the public record does not settle (\[model\] in docs/) lives in one place:
//! `layout` for the container, `collections` and `ids` for collections and ids, the constants
//! at the top of `transform` for the mapping.
//!
//! The backup writer and the deterministic sample generator for tests and benchmarks live in
//! the workspace crate `octo-migrate-sample`.
//!
//! ## Example
//!
//! Migrate the bundled sample backup into a new SQLite database:
//!
//! ```
//! use octo_migrate_core::{MasterKey, Migration, SqliteSink};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let key = MasterKey::parse(&std::fs::read_to_string("../testdata/sample.octobak.key")?)?;
//! let mut target = SqliteSink::new(dir.path().join("octopus3.db"));
//! let report = Migration::new("../testdata/sample.octobak", &key)
//!     .files_dir(dir.path())
//!     .skip_unsupported_steps(true) // the sample has an FTP step, which 3.x does not support
//!     .run(&mut target)?;
//! assert!(report.committed);
//! assert_eq!(report.collections["Projects"].migrated, 6);
//! println!("{report}");
//! # Ok(())
//! # }
//! ```
//!
//! `examples/embed.rs` adds progress, cancellation and error handling.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod backup;
mod collections;
mod crypto;
pub mod error;
mod ids;
mod index;
pub mod inspect;
mod layout;
mod lock;
mod maxage;
mod merge;
pub mod packages;
mod parse;
mod pipeline;
mod preflight;
pub mod report;
mod schema;
pub mod sink;
mod transform;
#[cfg(feature = "sqlite")]
pub mod verify;

pub use crypto::{KeyFormatError, MasterKey, Secret};
pub use error::{Error, ErrorKind, Location, Result};
pub use pipeline::{CancelToken, Merge, Migration, Phase, Progress, ProgressSink, TaskLogs};
pub use preflight::Problem;
pub use report::Report;
pub use sink::Sink;
#[cfg(feature = "sqlite")]
pub use sink::SqliteSink;

/// The stages' own items, for this workspace's tests, benchmarks, fuzz targets and sample
/// generator. Not part of the API: anything here may change in any release.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    #![allow(missing_docs)]
    pub mod backup {
        pub use crate::backup::*;
    }
    pub mod collections {
        pub use crate::collections::*;
    }
    pub mod crypto {
        pub use crate::crypto::*;
    }
    pub mod ids {
        pub use crate::ids::*;
    }
    pub mod index {
        pub use crate::index::*;
    }
    pub mod layout {
        pub use crate::layout::*;
    }
    pub mod maxage {
        pub use crate::maxage::*;
    }
    pub mod parse {
        pub use crate::parse::*;
    }
    pub mod schema {
        pub use crate::schema::*;
    }
    pub mod transform {
        pub use crate::transform::*;
    }
}
