//! # octo-migrate-core
//!
//! Migrates an Octopus Deploy 2.6 backup (`.octobak` plus its master key) into the Octopus 3.x
//! SQL schema, streaming, with bounded memory, all-or-nothing.
//!
//! The pipeline, one folder per stage:
//!
//! | stage | module | what it does |
//! |---|---|---|
//! | container | [`backup`] | opens the ZIP, checks `Backup.json` and the key, stacks decryption and GZip readers |
//! | crypto | [`crypto`] | the master key, MK streams and MK values |
//! | parse | [`parse`] | the RavenDB Smuggler export, one document at a time |
//! | pass 1 | [`scan`] | a light index of ids, names and dates, so order in the dump does not matter |
//! | filter | [`filter`] | `--maxage`: which history to keep |
//! | transform | [`transform`] | 2.6 documents to 3.x rows, references, secrets, task logs |
//! | sink | [`sink`] | the target: SQLite (default), in-memory; one transaction |
//! | pipeline | [`pipeline`] | runs the stages, stages files, commits or rolls back |
//! | report | [`report`] | per-collection counts that add up, warnings, the summary table |
//!
//! Around the migration: [`inspect`] (what a backup holds, what `--maxage` would keep),
//! `verify` (a migrated SQLite target against its backup) and [`packages`] (the built-in NuGet
//! packages the backup does not contain). The backup writer and the deterministic sample
//! generator for tests and benchmarks live in the workspace crate `octo-migrate-sample`.
//!
//! Every decision the public record does not settle (\[model\] in the specification) lives in one
//! place: [`layout`] for the container, [`collections`] for collections and ids, the constants at
//! the top of [`transform`] for the mapping.
//!
//! ## Example
//!
//! Migrate the bundled sample backup into a new SQLite database:
//!
//! ```
//! use octo_migrate_core::crypto::MasterKey;
//! use octo_migrate_core::pipeline::{migrate, MigrateOptions};
//! use octo_migrate_core::sink::SqliteSink;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let key = MasterKey::parse(&std::fs::read_to_string("../testdata/sample.octobak.key")?)?;
//! let mut target = SqliteSink::new(dir.path().join("octopus3.db"));
//! let options = MigrateOptions {
//!     files_dir: Some(dir.path().to_path_buf()),
//!     skip_unsupported_steps: true, // the sample has an FTP step, which 3.x does not support
//!     ..MigrateOptions::default()
//! };
//! let report = migrate("../testdata/sample.octobak", &key, Some(&mut target), &options)?;
//! assert!(report.committed);
//! assert_eq!(report.collections["Projects"].migrated, 6);
//! println!("{report}");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod backup;
pub mod collections;
pub mod crypto;
pub mod error;
pub mod filter;
pub mod inspect;
pub mod layout;
pub mod merge;
pub mod packages;
pub mod parse;
pub mod pipeline;
pub mod preflight;
pub mod report;
pub mod scan;
pub mod sink;
mod stale;
pub mod transform;
#[cfg(feature = "sqlite")]
pub mod verify;

pub use crypto::MasterKey;
pub use error::{Error, ErrorKind, Result};
pub use pipeline::{migrate, MigrateOptions};
pub use report::Report;
pub use sink::Sink;
