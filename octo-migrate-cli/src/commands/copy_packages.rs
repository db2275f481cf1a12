//! `copy-packages`: copy the built-in NuGet repository's packages to the 3.x folder.

use std::process::ExitCode;

use crate::args::CopyArgs;
use crate::exit::{self, Failure};

pub(super) fn run(a: CopyArgs) -> Result<ExitCode, Failure> {
    if !a.from.is_dir() {
        return Err(Failure::Usage(format!(
            "--from {} is not a folder",
            a.from.display()
        )));
    }
    let o = octo_migrate_core::packages::copy_packages(&a.from, &a.to)
        .map_err(|e| Failure::Io(format!("copying packages to {}: {e}", a.to.display())))?;
    for (p, why) in &o.rejected {
        println!("rejected {}: {why}", p.display());
    }
    println!(
        "copied {}, skipped {} (already there), rejected {}",
        o.copied.len(),
        o.skipped.len(),
        o.rejected.len()
    );
    Ok(ExitCode::from(if o.rejected.is_empty() {
        0
    } else {
        exit::WARNINGS
    }))
}
