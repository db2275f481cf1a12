//! `generate-sample`: write a deterministic sample 2.6 backup and its test master key file.

use std::path::PathBuf;
use std::process::ExitCode;

use octo_migrate_sample::{self as sample, EntryForm, SampleOptions};

use crate::args::GenerateArgs;
use crate::exit::Failure;

pub(super) fn run(a: GenerateArgs) -> Result<ExitCode, Failure> {
    let key = sample::sample_key(a.seed);
    let opts = SampleOptions {
        scale: a.scale,
        seed: a.seed,
        form: if a.winzip_aes {
            EntryForm::WinZipAes
        } else {
            EntryForm::MkStream
        },
        ..SampleOptions::default()
    };
    let summary = sample::write_sample_file(&a.out, &key, &opts)
        .map_err(|e| Failure::Io(format!("cannot write {}: {e}", a.out.display())))?;
    let key_file = a.key_file.clone().unwrap_or_else(|| {
        let mut p = a.out.clone().into_os_string();
        p.push(".key");
        PathBuf::from(p)
    });
    std::fs::write(&key_file, format!("{}\n", key.expose_base64()))
        .map_err(|e| Failure::Io(format!("cannot write {}: {e}", key_file.display())))?;
    println!(
        "wrote {} ({} bytes, {} documents) and its test master key {}",
        a.out.display(),
        summary.bytes,
        summary.total_documents(),
        key_file.display()
    );
    Ok(ExitCode::SUCCESS)
}
