//! Writes the seed corpus of `backup_open` (tiny backups, under 2 KB each) and
//! `smuggler_parse` (hand-made Smuggler exports) into `seeds/<target>/`.
//!
//! Run from `fuzz/`: `cargo run --example make_seeds`. Deterministic except the WinZip-AES
//! seed (the zip crate draws a random salt).

use std::fs;
use std::io::{self, Cursor};
use std::path::Path;

use octo_migrate_core::MasterKey;
use octo_migrate_sample::{edit_directory, sample_key, BackupWriter, DumpOptions, EntryForm};
use serde_json::json;

/// Seed of the fixed key; must match `fuzz_targets/backup_open.rs`.
const FUZZ_SEED: u64 = 0xF022;

struct Tiny {
    form: EntryForm,
    version: &'static str,
    key_check: bool,
    gzip: bool,
    attachments_first: bool,
    log: Option<bool>,
    /// MK streams deflated in the ZIP, as a re-packing zip tool may.
    deflate_mk: bool,
}

impl Default for Tiny {
    fn default() -> Tiny {
        Tiny {
            form: EntryForm::MkStream,
            version: "2.6.5.1010",
            key_check: true,
            gzip: true,
            attachments_first: false,
            log: Some(true),
            deflate_mk: false,
        }
    }
}

fn tiny(key: &MasterKey, t: &Tiny) -> io::Result<Vec<u8>> {
    let mut bw = BackupWriter::with_seed(Cursor::new(Vec::new()), key, t.form, 1);
    bw.deflate_mk_streams(t.deflate_mk);
    bw.write_backup_json(t.version, "2015-06-29T23:30:00+00:00")?;
    if t.key_check {
        bw.write_master_key_check()?;
    }
    let secret = bw.encrypt_value("s3cr3t-pw");
    {
        let mut d = bw.start_dump(&DumpOptions {
            gzip: t.gzip,
            attachments_first: t.attachments_first,
            identities: true,
            large_file: false,
            indexes: vec![json!({"name": "Raven/DocumentsByEntityName"})],
        })?;
        let att = |d: &mut octo_migrate_sample::DumpWriter<'_, _>| {
            d.write_attachment("artifacts/artifacts-1", &json!({}), b"hello")
        };
        if t.attachments_first {
            att(&mut d)?;
        }
        d.write_doc(&json!({"Name": "Web", "Id": "Projects-1",
            "@metadata": {"@id": "projects-1", "Raven-Entity-Name": "Projects"}}))?;
        d.write_doc(&json!({"OwnerId": "projects-1",
            "Variables": [{"Name": "Pw", "Value": secret, "IsSensitive": true}],
            "@metadata": {"@id": "variableset-projects-1", "Raven-Entity-Name": "VariableSets"}}))?;
        d.write_doc(&json!({"State": "Success", "Name": "Deploy",
            "@metadata": {"@id": "servertasks-1", "Raven-Entity-Name": "ServerTasks"}}))?;
        d.write_doc(&json!({"Max": 32, "@metadata": {"@id": "Raven/Hilo/projects"}}))?;
        if !t.attachments_first {
            att(&mut d)?;
        }
        d.finish()?;
    }
    if let Some(gz) = t.log {
        bw.write_activity_log(
            "ServerTasks-1",
            b"2015-06-01 10:00:00 +00:00 | Info | Deploying\n",
            gz,
        )?;
    }
    Ok(bw.finish()?.into_inner())
}

fn put(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), data)?;
    println!("{:>6} bytes  {}", data.len(), dir.join(name).display());
    Ok(())
}

fn main() -> io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let key = sample_key(FUZZ_SEED);

    let b = root.join("backup_open");
    put(&b, "mk_gzip.octobak", &tiny(&key, &Tiny::default())?)?;
    put(&b, "mk_plain_no_keycheck.octobak", &tiny(&key, &Tiny {
        key_check: false,
        gzip: false,
        log: Some(false),
        ..Tiny::default()
    })?)?;
    put(&b, "mk_attachments_first_no_log.octobak", &tiny(&key, &Tiny {
        attachments_first: true,
        log: None,
        ..Tiny::default()
    })?)?;
    put(&b, "winzip_aes.octobak", &tiny(&key, &Tiny {
        form: EntryForm::WinZipAes,
        ..Tiny::default()
    })?)?;
    put(&b, "unsupported_version.octobak", &tiny(&key, &Tiny {
        version: "2.5.0",
        log: None,
        ..Tiny::default()
    })?)?;
    put(&b, "mk_deflated_no_keycheck.octobak", &tiny(&key, &Tiny {
        key_check: false,
        deflate_mk: true,
        ..Tiny::default()
    })?)?;
    // The activity log's directory record three times (the reader refuses it as corrupt).
    let repeated = edit_directory(&tiny(&key, &Tiny::default())?, |records| {
        if let Some(log) = records.iter().find(|r| r.name().starts_with("ActivityLogs/")) {
            let log = log.clone();
            records.extend([log.clone(), log]);
        }
    })?;
    put(&b, "repeated_log_record.octobak", &repeated)?;
    put(&b, "wrong_key.octobak", &tiny(&sample_key(1), &Tiny { log: None, ..Tiny::default() })?)?;

    let s = root.join("smuggler_parse");
    put(&s, "minimal.json", br#"{"Docs":[],"Attachments":[]}"#)?;
    put(&s, "empty_object.json", b"{}")?;
    put(&s, "null_sections.json", br#"{"Docs":null,"Attachments":null}"#)?;
    put(&s, "typical.json", br#"{"Indexes":[{"name":"Raven/DocumentsByEntityName","definition":{"Map":"from doc in docs select new { doc }"}}],
"Docs":[{"Name":"Web","Id":"Projects-1","@metadata":{"@id":"projects-1","Raven-Entity-Name":"Projects","Last-Modified":"2015-06-01T10:00:00.0000000Z"}},
{"OwnerId":"projects-1","Variables":[{"Name":"Pw","Value":"q83hzK0=|AAECAwQFBgcICQoLDA0ODw==","IsSensitive":true}],"@metadata":{"@id":"variableset-projects-1","Raven-Entity-Name":"VariableSets"}},
{"Max":32,"@metadata":{"@id":"Raven/Hilo/projects"}}],
"Attachments":[{"Key":"artifacts/artifacts-1","Metadata":{"Content-Type":"text/plain"},"Data":"aGVsbG8="}],
"Transformers":[],"Identities":[{"Key":"a","Value":1}]}"#)?;
    put(&s, "attachments_first.json", br#"{"Attachments":[{"Key":"artifacts/ARTIFACTS-2","Metadata":{},"Data":""},{"Key":"k"}],"Docs":[{"@metadata":{"@id":"events-1","Raven-Entity-Name":"Events"},"Occurred":"2015-01-01T00:00:00+00:00","UserId":null}]}"#)?;
    put(&s, "unicode_and_escapes.json", "{\"Docs\":[{\"Name\":\"Caf\\u00e9 \u{1F419} \\\"q\\\"\",\"N\":1.5e300,\"B\":[true,false,null,-0,{}],\"@metadata\":{\"@id\":\"machines-\\u0031\",\"Raven-Entity-Name\":\"Machines\"}}]}".as_bytes())?;
    put(&s, "bad_empty_id.json", br#"{"Docs":[{"@metadata":{"@id":"  "}}]}"#)?;
    put(&s, "bad_base64.json", br#"{"Attachments":[{"Key":"k","Data":"***"}]}"#)?;
    put(&s, "truncated.json", br#"{"Docs":[{"@metadata":{"@id":"a"}},{"@metadata":"#)?;
    Ok(())
}
