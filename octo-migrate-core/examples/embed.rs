//! Embedding octo-migrate in a program of your own: a migration with progress, a way to
//! cancel it, and errors handled by kind.
//!
//!     cargo run -p octo-migrate-core --example embed [BACKUP KEYFILE [TARGET.db]]
//!
//! Without arguments it migrates the bundled sample backup into a temporary SQLite file. Set
//! `EMBED_CANCEL_AFTER_MS=N` to see a cancellation: the migration stops, rolls back, and leaves
//! no database behind.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use octo_migrate_core::{
    CancelToken, ErrorKind, MasterKey, Migration, Progress, ProgressSink, SqliteSink,
};

/// Prints one line per pass and per tenth of the dump.
#[derive(Default)]
struct Printer {
    last_tenth: AtomicU64,
}

impl ProgressSink for Printer {
    fn report(&self, p: &Progress) {
        let Some(total) = p.dump_total.filter(|t| *t > 0) else {
            return; // pass 1 does not know the size yet
        };
        let tenth = p.dump_bytes * 10 / total;
        if self.last_tenth.swap(tenth, Ordering::Relaxed) != tenth {
            println!("pass {}: {}0 % ({} documents)", p.pass, tenth, p.items);
        }
    }
}

fn main() -> std::process::ExitCode {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let backup = args.next().unwrap_or_else(|| here.join("sample.octobak"));
    let key_file = args
        .next()
        .unwrap_or_else(|| here.join("sample.octobak.key"));
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let db = args
        .next()
        .unwrap_or_else(|| scratch.path().join("octopus3.db"));

    let key = match std::fs::read_to_string(&key_file)
        .map_err(|e| e.to_string())
        .and_then(|k| MasterKey::parse(&k).map_err(|e| e.to_string()))
    {
        Ok(k) => k,
        Err(e) => {
            eprintln!("cannot use the key in {}: {e}", key_file.display());
            return std::process::ExitCode::from(2);
        }
    };

    let cancel = CancelToken::new();
    if let Some(ms) = std::env::var("EMBED_CANCEL_AFTER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        let c = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            c.cancel();
        });
    }

    let mut target = SqliteSink::new(&db);
    let outcome = Migration::new(&backup, &key)
        .files_dir(db.parent().unwrap_or(scratch.path()))
        .skip_unsupported_steps(true) // the sample has an FTP step, which 3.x does not support
        .progress(Arc::new(Printer::default()))
        .cancel_token(cancel)
        .run(&mut target);

    match outcome {
        Ok(report) => {
            let totals = report.totals();
            println!(
                "migrated {} documents into {} ({} task logs); warnings: {}",
                totals.migrated,
                db.display(),
                report.task_logs,
                report.has_warnings()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            // The predicates answer the usual questions; the kind has the details.
            let code = if e.is_wrong_key() {
                3
            } else if e.is_corrupt_backup() {
                4
            } else {
                match e.kind() {
                    ErrorKind::Cancelled => {
                        assert!(!db.exists(), "a cancelled migration leaves no database");
                        130
                    }
                    ErrorKind::Preflight(problems) => {
                        for p in problems {
                            eprintln!("  problem: {p}");
                        }
                        6
                    }
                    _ => 1,
                }
            };
            eprintln!("migration failed: {e}");
            if let Some(r) = e.report() {
                eprintln!("(it had read {} bytes of the dump)", r.dump_bytes);
            }
            std::process::ExitCode::from(code)
        }
    }
}
