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
    let folders = octo_migrate_core::packages::check_folders(&a.from, &a.to)
        .map_err(|e| Failure::Usage(format!("cannot resolve --from or --to: {e}")))?;
    if let Err(why) = folders {
        return Err(Failure::Usage(why));
    }
    let o = if a.dry_run {
        octo_migrate_core::packages::copy_packages_dry_run(&a.from, &a.to)
    } else {
        octo_migrate_core::packages::copy_packages(&a.from, &a.to)
    }
    .map_err(|e| Failure::Io(format!("copying packages to {}: {e}", a.to.display())))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&o).expect("serializes"));
    } else {
        for r in &o.rejected {
            println!("rejected {}: {}", r.path.display(), r.reason);
        }
        for p in &o.symlinks {
            println!("not followed (symbolic link) {}", p.display());
        }
        if o.dry_run {
            for p in &o.copied {
                println!("would copy {}", p.display());
            }
        }
        let links = match o.symlinks.len() {
            0 => String::new(),
            n => format!(", {n} symbolic link(s) not followed"),
        };
        println!(
            "{} {}, skipped {} (already there), rejected {}{links}; bytes: {} {}, {} skipped, {} \
             rejected{}",
            if o.dry_run { "would copy" } else { "copied" },
            o.copied.len(),
            o.skipped.len(),
            o.rejected.len(),
            o.copied_bytes,
            if o.dry_run { "to copy" } else { "copied" },
            o.skipped_bytes,
            o.rejected_bytes,
            if o.dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            }
        );
    }
    // A link not followed may hide packages: a warning, like a rejected package.
    Ok(ExitCode::from(
        if o.rejected.is_empty() && o.symlinks.is_empty() {
            0
        } else {
            exit::WARNINGS
        },
    ))
}
