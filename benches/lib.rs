//! Benchmarks live in the `[[bench]]` targets (`read_backup.rs`, `stages.rs`); this library is
//! empty on purpose.
