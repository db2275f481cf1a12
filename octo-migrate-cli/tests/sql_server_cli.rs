//! SQL Server targets on the command line (issue 12): the password never in any output, the
//! target and its password from a file or the environment, and the 3.x master key required.
//! No server is needed: every target here is unreachable or refused before connecting.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;

const SECRET: &str = "S3cretPW";

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

fn key_file() -> String {
    testdata("sample.octobak.key").to_str().unwrap().to_owned()
}

/// `migrate` of the sample into whatever the caller adds, with the keys and a report.
fn migrate(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("octo-migrate").unwrap();
    for v in [
        "OCTO_MIGRATE_MASTER_KEY",
        "OCTO_MIGRATE_TARGET",
        "OCTO_MIGRATE_TARGET_PASSWORD",
        "OCTO_MIGRATE_TARGET_MASTER_KEY",
    ] {
        c.env_remove(v);
    }
    c.current_dir(dir)
        .args([
            "migrate",
            "--file",
            testdata("sample.octobak").to_str().unwrap(),
        ])
        .args(["--master-key-file", &key_file()])
        .args(["--files-dir", dir.to_str().unwrap()])
        .args(["--report", "report.json"]);
    c
}

/// Runs `c`; returns (exit code, stdout + stderr + the report if written, seconds).
fn run(mut c: Command, dir: &Path) -> (Option<i32>, String, f64) {
    let _ = std::fs::remove_file(dir.join("report.json"));
    let started = Instant::now();
    let out = c.output().unwrap();
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all += &String::from_utf8_lossy(&out.stderr);
    if let Ok(r) = std::fs::read_to_string(dir.join("report.json")) {
        all += &r;
    }
    (out.status.code(), all, started.elapsed().as_secs_f64())
}

/// A local port with nothing listening on it.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Targets as people type and mistype them, each holding SECRET.
fn hostile_targets() -> Vec<String> {
    let p = closed_port();
    vec![
        "sqlserver://u:S3cretPW@h/db".into(),
        "mssql:/u:S3cretPW@h/db".into(),
        "postgres://u:S3cretPW@h/db".into(),
        "Password=S3cretPW;Server =h;Database=d".into(),
        "Password=S3cretPW;Server =h;...".into(),
        r#"Server=h;Database=d;User Id=u;Password="S3cretPW;w=""1x"#.into(),
        "Server=h;Database=d;User Id=u;Password=S3cretPW;w=\"\"1x\"".into(),
        "Server=h;Database=d;User Id=u;Password={S3cretPW".into(),
        "Server=h;Database=d;User Id=u;Password=S3cretPW;Colour=blue".into(),
        "mssql://u:S3cretPW@h:notaport/db".into(),
        "mssql://u:S3cretPW@h".into(),
        "S3cretPW".into(),
        "u:S3cretPW@h/db".into(),
        format!("mssql://u:S3cretPW@127.0.0.1:{p}/db?encrypt=false"),
        format!("Server=127.0.0.1,{p};Database=d;User Id=u;Password=\"S3cretPW\";Encrypt=false"),
        format!("mssql://u:S3cretPW@127.0.0.1%5CNOSUCH/db?encrypt=false"),
    ]
}

#[test]
fn no_password_in_any_output_for_any_target_from_any_source() {
    let dir = tempfile::tempdir().unwrap();
    for t in hostile_targets() {
        // On the command line, from a file, from the environment.
        let file = dir.path().join("target.txt");
        std::fs::write(&file, format!("{t}\n")).unwrap();
        let mut a = migrate(dir.path());
        a.args(["--target-master-key-file", &key_file(), "--target", &t]);
        let mut b = migrate(dir.path());
        b.args(["--target-master-key-file", &key_file(), "--target-file"])
            .arg(&file);
        let mut c = migrate(dir.path());
        c.args(["--target-master-key-file", &key_file()])
            .env("OCTO_MIGRATE_TARGET", &t);
        for (how, cmd) in [("--target", a), ("--target-file", b), ("env", c)] {
            let (code, all, secs) = run(cmd, dir.path());
            assert!(
                matches!(code, Some(2) | Some(5)),
                "{how} {t}: {code:?} {all}"
            );
            assert!(!all.contains(SECRET), "{how} {t}: {all}");
            assert!(all.contains("error:"), "{how} {t}: {all}");
            assert!(secs < 30.0, "{how} {t}: {secs:.1} s");
        }
    }
}

#[test]
fn the_target_comes_from_exactly_one_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.txt");
    std::fs::write(&file, "sqlite:x.db").unwrap();
    let mut c = migrate(dir.path());
    c.args(["--target", "sqlite:y.db", "--target-file"])
        .arg(&file);
    let (code, all, _) = run(c, dir.path());
    assert_eq!(code, Some(2), "{all}");
    assert!(
        all.contains("at most once") && all.contains("OCTO_MIGRATE_TARGET"),
        "{all}"
    );
    let mut c = migrate(dir.path());
    c.args(["--target", "sqlite:y.db"])
        .env("OCTO_MIGRATE_TARGET", "sqlite:z.db");
    assert_eq!(run(c, dir.path()).0, Some(2));
    // From the environment alone, the SQLite target is used.
    let mut c = migrate(dir.path());
    c.args(["--skip-unsupported-steps"])
        .env("OCTO_MIGRATE_TARGET", "sqlite:from-env.db");
    let (code, all, _) = run(c, dir.path());
    assert_eq!(code, Some(1), "{all}");
    assert!(dir.path().join("from-env.db").exists());
}

#[test]
fn the_password_alone_from_a_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let target = format!("Server=127.0.0.1,{port};Database=d;User Id=u;Encrypt=false");
    let pw = dir.path().join("pw.txt");
    std::fs::write(&pw, format!("{SECRET}\n")).unwrap();
    let mut c = migrate(dir.path());
    c.args(["--target-master-key-file", &key_file(), "--target", &target])
        .arg("--target-password-file")
        .arg(&pw);
    let (code, all, _) = run(c, dir.path());
    // It got as far as connecting.
    assert_eq!(code, Some(5), "{all}");
    assert!(all.contains(&format!("127.0.0.1:{port}")), "{all}");
    assert!(!all.contains(SECRET), "{all}");
    let mut c = migrate(dir.path());
    c.args(["--target-master-key-file", &key_file(), "--target", &target])
        .env("OCTO_MIGRATE_TARGET_PASSWORD", SECRET);
    let (code, all, _) = run(c, dir.path());
    assert_eq!(code, Some(5), "{all}");
    assert!(!all.contains(SECRET), "{all}");
    // Twice (in the target and on its own), or for SQLite: a usage error.
    let twice = format!("{target};Password=other");
    let mut c = migrate(dir.path());
    c.args(["--target-master-key-file", &key_file(), "--target", &twice])
        .env("OCTO_MIGRATE_TARGET_PASSWORD", SECRET);
    let (code, all, _) = run(c, dir.path());
    assert_eq!(code, Some(2), "{all}");
    assert!(
        all.contains("given twice") && !all.contains(SECRET),
        "{all}"
    );
    let mut c = migrate(dir.path());
    c.args(["--target", "sqlite:x.db"])
        .env("OCTO_MIGRATE_TARGET_PASSWORD", SECRET);
    assert_eq!(run(c, dir.path()).0, Some(2));
}

#[test]
fn a_sql_server_target_without_the_3x_master_key_exits_2_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut c = migrate(dir.path());
    c.args([
        "--target",
        &format!("mssql://u:{SECRET}@127.0.0.1:{port}/Octopus?encrypt=false"),
    ]);
    let (code, all, _) = run(c, dir.path());
    assert_eq!(code, Some(2), "{all}");
    assert!(all.contains("Octopus.Server.exe show-master-key"), "{all}");
    assert!(all.contains("--target-master-key-file"), "{all}");
    assert!(all.contains("OCTO_MIGRATE_TARGET_MASTER_KEY"), "{all}");
    assert!(!all.contains(SECRET), "{all}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(listener.accept().is_err(), "the server was contacted");
    // The key from the environment is enough to get to the server.
    let key = std::fs::read_to_string(key_file()).unwrap();
    let mut c = migrate(dir.path());
    c.args([
        "--target",
        &format!(
            "mssql://u:{SECRET}@127.0.0.1:{}/Octopus?encrypt=false",
            closed_port()
        ),
    ])
    .env("OCTO_MIGRATE_TARGET_MASTER_KEY", key.trim());
    let (code, all, _) = run(c, dir.path());
    assert_eq!(code, Some(5), "{all}");
    // Two sources of the 3.x key are refused.
    let mut c = migrate(dir.path());
    c.args([
        "--target",
        "sqlite:x.db",
        "--target-master-key-file",
        &key_file(),
    ])
    .env("OCTO_MIGRATE_TARGET_MASTER_KEY", key.trim());
    assert_eq!(run(c, dir.path()).0, Some(2));
}

#[test]
fn help_names_every_source_of_the_target_and_its_secrets() {
    let out = Command::cargo_bin("octo-migrate")
        .unwrap()
        .args(["migrate", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for s in [
        "--target-file",
        "OCTO_MIGRATE_TARGET",
        "--target-password-file",
        "OCTO_MIGRATE_TARGET_PASSWORD",
        "--target-ca-file",
        "OCTO_MIGRATE_TARGET_MASTER_KEY",
        "show-master-key",
    ] {
        assert!(help.contains(s), "{s} missing from migrate --help");
    }
}
