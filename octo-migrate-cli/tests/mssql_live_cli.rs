//! The binary against a live SQL Server (issue 12): skipped, not failed, unless
//! `OCTO_MIGRATE_MSSQL_URL` names a scratch database (mssql://user:pass@host:port/db; its
//! Octopus tables are merged into and may be created). The target comes from a file as an
//! ADO.NET string with a quoted password, the 3.x key is given, both merge reruns add no row,
//! and a wrong password fails with exit 5 without the password in any output or the report.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn testdata(name: &str) -> PathBuf {
    // Absolute, with a drive letter on Windows: the tests run the .exe from another folder
    // (and, under Wine, another drive), where `/work/...` would name the wrong file.
    std::path::absolute(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(name),
    )
    .unwrap()
}

/// The scratch database as its parts: (host, port, database, user, password, encrypt).
fn live() -> Option<(String, String, String, String, String, bool)> {
    let url = std::env::var("OCTO_MIGRATE_MSSQL_URL")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let Some(url) = url else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: set OCTO_MIGRATE_MSSQL_URL=mssql://user:pass@host:port/db (a scratch \
             database) to run the command line against SQL Server"
        );
        return None;
    };
    // mssql://user:pass@host:port/db?encrypt=false (the form the live tests document).
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(&url);
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (auth, hostpath) = main.rsplit_once('@').expect("user:pass@");
    let (user, pass) = auth.split_once(':').expect("user:pass");
    let (hostport, db) = hostpath.split_once('/').expect("/db");
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "1433"));
    Some((
        host.into(),
        port.into(),
        db.into(),
        user.into(),
        pass.into(),
        !query.contains("encrypt=false"),
    ))
}

/// Runs `migrate` of the sample into the target in `target_file`, with `extra` options;
/// returns (exit code, stdout + stderr + report).
fn migrate(dir: &Path, target_file: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let key = testdata("sample.octobak.key");
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let out = Command::cargo_bin("octo-migrate")
        .unwrap()
        .env_remove("OCTO_MIGRATE_TARGET")
        .env_remove("OCTO_MIGRATE_MASTER_KEY")
        .current_dir(dir)
        .args([
            "migrate",
            "--file",
            testdata("sample.octobak").to_str().unwrap(),
        ])
        .arg("--master-key-file")
        .arg(&key)
        .arg("--target-master-key-file")
        .arg(&key)
        .arg("--target-file")
        .arg(target_file)
        .arg("--files-dir")
        .arg(dir.join("files"))
        .args(["--skip-unsupported-steps", "--report", "report.json"])
        .args(extra)
        .output()
        .unwrap();
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all += &String::from_utf8_lossy(&out.stderr);
    all += &std::fs::read_to_string(&report).unwrap_or_default();
    (out.status.code(), all)
}

#[test]
fn migrate_and_both_merge_reruns_through_the_command_line_never_showing_the_password() {
    let Some((host, port, db, user, pass, encrypt)) = live() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ado = |password: &str| {
        format!(
            "Data Source=tcp:{host},{port};Initial Catalog={db};User ID={user};\
             Password=\"{}\";Encrypt={};TrustServerCertificate=True",
            password.replace('"', "\"\""),
            if encrypt { "True" } else { "False" }
        )
    };
    let target = dir.path().join("target.txt");
    std::fs::write(&target, ado(&pass)).unwrap();
    // Into whatever the database holds (created if it has no tables, merged otherwise), then
    // the two reruns: neither adds a row.
    let (code, all) = migrate(dir.path(), &target, &["--create-schema", "--overwrite"]);
    assert!(matches!(code, Some(0) | Some(1)), "{all}");
    assert!(!all.contains(&pass), "the password was shown");
    for mode in ["--nooverwrite", "--overwrite"] {
        let (code, all) = migrate(dir.path(), &target, &[mode]);
        assert!(matches!(code, Some(0) | Some(1)), "{mode}: {all}");
        assert!(!all.contains(&pass), "{mode}: the password was shown");
        if mode == "--nooverwrite" {
            assert!(
                all.contains("merged (--nooverwrite): 0 rows inserted"),
                "{all}"
            );
        }
    }
    // A wrong password: the target refuses (exit 5), naming the login, never the password.
    let wrong = "Wr0ng;P\"w=d";
    std::fs::write(&target, ado(wrong)).unwrap();
    let (code, all) = migrate(dir.path(), &target, &["--nooverwrite"]);
    assert_eq!(code, Some(5), "{all}");
    assert!(all.contains("login failed for user"), "{all}");
    assert!(!all.contains("Wr0ng") && !all.contains(&pass), "{all}");
}
