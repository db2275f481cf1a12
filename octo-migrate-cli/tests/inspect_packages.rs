//! `inspect` as a preflight (what would block `migrate`, the backup's creation date, readable
//! dates) and `copy-packages`' dry run, JSON, byte totals and NuGet version comparison.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use octo_migrate_core::MasterKey;
use octo_migrate_sample::{BackupWriter, DumpOptions, EntryForm};
use serde_json::{json, Value as Json};

/// Absolute with a drive on Windows: cross-built there, `CARGO_MANIFEST_DIR` is the build
/// machine's `/work/...`, which a child started in a folder on another drive would look for on
/// that drive (scripts/windows.sh runs these tests under Wine).
fn testdata(name: &str) -> PathBuf {
    std::path::absolute(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(name),
    )
    .unwrap()
}

fn cmd() -> Command {
    let mut c = Command::cargo_bin("octo-migrate").unwrap();
    c.env_remove("OCTO_MIGRATE_MASTER_KEY");
    c
}

fn stdout(c: &mut Command) -> String {
    String::from_utf8(c.assert().success().get_output().stdout.clone()).unwrap()
}

/// Whether `text` has a fraction of seconds of exactly seven digits (.NET's `o` format).
fn has_seven_digit_fraction(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len()).any(|i| {
        b[i] == b'.'
            && i > 0
            && b[i - 1].is_ascii_digit()
            && b.len() >= i + 8
            && b[i + 1..i + 8].iter().all(u8::is_ascii_digit)
            && b.get(i + 8).is_none_or(|c| !c.is_ascii_digit())
    })
}

fn sample_inspect(json: bool) -> Command {
    let mut c = cmd();
    c.args([
        "inspect",
        "--file",
        testdata("sample.octobak").to_str().unwrap(),
        "--master-key-file",
        testdata("sample.octobak.key").to_str().unwrap(),
        "--as-of",
        "2015-06-30T00:00:00+00:00",
    ]);
    if json {
        c.arg("--json");
    }
    c
}

#[test]
fn inspect_names_the_samples_ftp_step_as_a_blocker() {
    let text = stdout(&mut sample_inspect(false));
    let section = text
        .split("Would block the migration")
        .nth(1)
        .unwrap_or_else(|| panic!("no blockers section:\n{text}"));
    assert!(section.contains("Octopus.Ftp"), "{section}");
    assert!(section.contains("project \"Marketing Site\""), "{section}");
    assert!(
        section.contains("step \"Publish static content\""),
        "{section}"
    );
    assert!(section.contains("action \"Upload to FTP\""), "{section}");
    assert!(!text.contains("Nothing blocks"), "{text}");

    let v: Json = serde_json::from_str(&stdout(&mut sample_inspect(true))).unwrap();
    let blockers = v["blockers"].as_array().unwrap();
    assert_eq!(blockers.len(), 1, "{blockers:?}");
    assert_eq!(blockers[0]["kind"], "UnsupportedStep");
    assert_eq!(blockers[0]["action_type"], "Octopus.Ftp");
    assert_eq!(blockers[0]["project"], "Marketing Site");
    assert_eq!(blockers[0]["action"], "Upload to FTP");
}

#[test]
fn inspect_shows_the_creation_date_and_readable_dates() {
    let text = stdout(&mut sample_inspect(false));
    // testdata/sample.octobak's Backup.json says 2015-06-29T23:30:00+00:00.
    assert!(
        text.contains("Created:         2015-06-29 23:30:00 +00:00"),
        "{text}"
    );
    assert!(text.contains("as of 2015-06-30 00:00:00 +00:00"), "{text}");
    assert!(!has_seven_digit_fraction(&text), "{text}");
    assert!(!text.contains("T23:30:00"), "{text}");

    // JSON keeps RFC 3339, as chrono writes it.
    let v: Json = serde_json::from_str(&stdout(&mut sample_inspect(true))).unwrap();
    assert_eq!(v["created"], "2015-06-29T23:30:00Z");
    let oldest = v["date_ranges"]["Deployments"]["oldest"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(oldest).unwrap();
}

fn doc(coll: &str, id: &str, mut body: Json) -> Json {
    body["@metadata"] = json!({"@id": id, "Raven-Entity-Name": coll});
    body
}

const KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";
const OTHER_KEY: &str = "DwAOAQ0CDAMLBAoFCQYIBw==";

/// A backup (key `KEY`) of `docs`, created at `created`, with its key file beside it.
fn write_backup(dir: &Path, created: &str, docs: &[Json]) -> (PathBuf, PathBuf) {
    let key = MasterKey::parse(KEY).unwrap();
    let mut w = BackupWriter::new(Cursor::new(Vec::new()), &key, EntryForm::MkStream);
    w.write_backup_json("2.6.5.1010", created).unwrap();
    w.write_master_key_check().unwrap();
    let mut d = w.start_dump(&DumpOptions::default()).unwrap();
    for doc in docs {
        d.write_doc(doc).unwrap();
    }
    d.finish().unwrap();
    let path = dir.join("blocked.octobak");
    std::fs::write(&path, w.finish().unwrap().into_inner()).unwrap();
    let key_file = dir.join("blocked.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    (path, key_file)
}

#[test]
fn inspect_lists_an_undecryptable_value_and_a_name_too_long_without_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let other = MasterKey::parse(OTHER_KEY).unwrap();
    let secret = BackupWriter::new(Cursor::new(Vec::new()), &other, EntryForm::MkStream)
        .encrypt_value("hunter2-secret");
    let long_name = "E".repeat(201); // DeploymentEnvironment.Name is nvarchar(200)
    let docs = [
        doc("Environments", "environments-1", json!({"Name": long_name})),
        doc(
            "Feeds",
            "feeds-1",
            json!({"Name": "NuGet", "FeedUri": "https://f", "Password": secret}),
        ),
        doc(
            "Deployments",
            "deployments-1",
            json!({"Name": "d", "Created": "2015-06-30T10:11:12.1234567+10:00"}),
        ),
    ];
    let (backup, key) = write_backup(dir.path(), "2015-06-30T10:11:12.1234567+10:00", &docs);
    let run = |json: bool| {
        let mut c = cmd();
        c.args([
            "inspect",
            "--file",
            backup.to_str().unwrap(),
            "--master-key-file",
            key.to_str().unwrap(),
        ]);
        if json {
            c.arg("--json");
        }
        stdout(&mut c)
    };
    let text = run(false);
    assert!(
        text.contains("Created:         2015-06-30 10:11:12 +10:00"),
        "{text}"
    );
    assert!(!has_seven_digit_fraction(&text), "{text}");
    let section = text
        .split("Would block the migration")
        .nth(1)
        .unwrap_or_else(|| panic!("no blockers section:\n{text}"));
    assert!(
        section.contains("document feeds-1, field Password"),
        "{section}"
    );
    assert!(
        section.contains("document environments-1, DeploymentEnvironment.Name holds 200 characters, the value has 201"),
        "{section}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains(&secret), "{text}");

    let out = run(true);
    assert!(!out.contains("hunter2") && !out.contains(&secret), "{out}");
    let v: Json = serde_json::from_str(&out).unwrap();
    let blockers = v["blockers"].as_array().unwrap();
    assert_eq!(blockers.len(), 2, "{blockers:?}");
    let undecryptable = blockers
        .iter()
        .find(|b| b["kind"] == "Undecryptable")
        .unwrap();
    assert_eq!(undecryptable["doc_id"], "feeds-1");
    assert_eq!(undecryptable["field"], "Password");
    let long = blockers.iter().find(|b| b["kind"] == "TooLong").unwrap();
    assert_eq!(long["doc_id"], "environments-1");
    assert_eq!(long["table"], "DeploymentEnvironment");
    assert_eq!(long["column"], "Name");
    assert_eq!(long["max"], 200);
    assert_eq!(long["length"], 201);
    assert_eq!(v["created"], "2015-06-30T10:11:12.123456700+10:00");
}

#[test]
fn inspect_says_when_nothing_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let docs = [doc(
        "Environments",
        "environments-1",
        json!({"Name": "Prod"}),
    )];
    let (backup, key) = write_backup(dir.path(), "2015-06-30T10:11:12+00:00", &docs);
    let text = stdout(cmd().args([
        "inspect",
        "--file",
        backup.to_str().unwrap(),
        "--master-key-file",
        key.to_str().unwrap(),
    ]));
    assert!(text.contains("Nothing blocks the migration"), "{text}");
    assert!(!text.contains("Would block"), "{text}");
}

fn write_package(path: &Path, id: &str, version: &str) -> u64 {
    use std::io::Write as _;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file(format!("{id}.nuspec"), opts).unwrap();
    write!(z, "<?xml version=\"1.0\"?><package><metadata><id>{id}</id><version>{version}</version></metadata></package>").unwrap();
    z.start_file("lib/net45/x.dll", opts).unwrap();
    z.write_all(b"MZ").unwrap();
    z.finish().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn copy(from: &Path, to: &Path, extra: &[&str]) -> Command {
    let mut c = cmd();
    c.args([
        "copy-packages",
        "--from",
        from.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ])
    .args(extra);
    c
}

fn out_of(c: &mut Command, code: i32) -> String {
    String::from_utf8(c.assert().code(code).get_output().stdout.clone()).unwrap()
}

#[test]
fn copy_packages_dry_run_checks_everything_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("Repository/Packages");
    let web = write_package(
        &from.join("Acme.Web/Acme.Web.1.0.0.nupkg"),
        "Acme.Web",
        "1.0.0",
    );
    let api = write_package(&from.join("Acme.Api.2.0.1.nupkg"), "Acme.Api", "2.0.1");
    std::fs::write(from.join("Broken.1.0.0.nupkg"), b"not a zip").unwrap();
    let to = dir.path().join("Packages");

    let text = out_of(&mut copy(&from, &to, &["--dry-run"]), 1);
    assert!(text.contains("would copy Acme.Api.2.0.1.nupkg"), "{text}");
    assert!(text.contains("rejected Broken.1.0.0.nupkg"), "{text}");
    assert!(
        text.contains(&format!(
            "would copy 2, skipped 0 (already there), rejected 1; bytes: {} to copy, 0 skipped, 9 rejected",
            web + api
        )),
        "{text}"
    );
    assert!(text.contains("nothing written"), "{text}");
    assert!(!to.exists(), "a dry run creates nothing");

    // An existing --to: still nothing written into it.
    std::fs::create_dir_all(&to).unwrap();
    out_of(&mut copy(&from, &to, &["--dry-run"]), 1);
    assert_eq!(std::fs::read_dir(&to).unwrap().count(), 0);

    // The real run does what the dry run said, and prints its byte totals.
    let text = out_of(&mut copy(&from, &to, &[]), 1);
    assert!(
        text.contains(&format!(
            "copied 2, skipped 0 (already there), rejected 1; bytes: {} copied, 0 skipped, 9 rejected",
            web + api
        )),
        "{text}"
    );
    assert!(!text.contains("nothing written"), "{text}");
    assert!(to.join("Acme.Web/Acme.Web.1.0.0.nupkg").is_file());
}

#[test]
fn copy_packages_json_lists_every_outcome_with_byte_totals() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("Repository/Packages");
    let web = write_package(
        &from.join("Acme.Web/Acme.Web.1.0.0.nupkg"),
        "Acme.Web",
        "1.0.0",
    );
    let api = write_package(&from.join("Acme.Api.2.0.1.nupkg"), "Acme.Api", "2.0.1");
    let wrong = write_package(&from.join("Acme.Db.3.0.0.nupkg"), "Acme.Db", "3.1.0");
    // Symbolic links need a privilege on Windows (and Wine makes none): Unix only.
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), from.join("linked")).unwrap();
    let to = dir.path().join("Packages");
    // Acme.Api is already there, the same file: skipped as identical.
    std::fs::create_dir_all(&to).unwrap();
    std::fs::copy(
        from.join("Acme.Api.2.0.1.nupkg"),
        to.join("Acme.Api.2.0.1.nupkg"),
    )
    .unwrap();

    let out = out_of(&mut copy(&from, &to, &["--json"]), 1);
    let v: Json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["dry_run"], false);
    // A relative path, with the platform's separator (`Acme.Web\...` on Windows).
    let web_path = Path::new("Acme.Web").join("Acme.Web.1.0.0.nupkg");
    assert_eq!(v["copied"], json!([web_path.to_str().unwrap()]));
    assert_eq!(v["skipped_identical"], json!(["Acme.Api.2.0.1.nupkg"]));
    let rejected = v["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["path"], "Acme.Db.3.0.0.nupkg");
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("Acme.Db.3.1.0.nupkg"),
        "{rejected:?}"
    );
    #[cfg(unix)]
    assert_eq!(v["symlinks"], json!(["linked"]));
    assert_eq!(v["copied_bytes"], web);
    assert_eq!(v["skipped_bytes"], api);
    assert_eq!(v["rejected_bytes"], wrong);

    // --dry-run --json: the same document, marked as a dry run.
    let to2 = dir.path().join("Packages2");
    let out = out_of(&mut copy(&from, &to2, &["--dry-run", "--json"]), 1);
    let v: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["copied"].as_array().unwrap().len(), 2);
    assert!(!to2.exists());
}

#[test]
fn copy_packages_compares_versions_as_nuget_does() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("Repository/Packages");
    // The .nuspec says 1.0, the file name 1.0.0.0: the same NuGet version.
    write_package(&from.join("Acme.Web.1.0.0.0.nupkg"), "Acme.Web", "1.0");
    // Prerelease labels compare without regard to case.
    write_package(
        &from.join("acme.api.2.0.0-BETA.nupkg"),
        "Acme.Api",
        "2.0-beta",
    );
    // 1.0.0.1 is another version than 1.0.
    write_package(&from.join("Acme.Db.1.0.0.1.nupkg"), "Acme.Db", "1.0");
    let to = dir.path().join("Packages");
    let out = out_of(&mut copy(&from, &to, &["--json"]), 1);
    let v: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["copied"],
        json!(["Acme.Web.1.0.0.0.nupkg", "acme.api.2.0.0-BETA.nupkg"]),
        "{out}"
    );
    assert_eq!(v["rejected"][0]["path"], "Acme.Db.1.0.0.1.nupkg", "{out}");
    assert!(to.join("Acme.Web.1.0.0.0.nupkg").is_file());
}
