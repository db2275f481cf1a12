use std::collections::{BTreeMap, HashSet};
use std::io::{Cursor, Read};

use flate2::read::GzDecoder;
use serde_json::Value;

use super::*;
use octo_migrate_core::internals::crypto::{decrypt_value, MkStreamReader};

fn key() -> MasterKey {
    MasterKey::parse("bG9yZW1pcHN1bWRvbG9yIQ==").unwrap()
}

fn sample(opts: &SampleOptions) -> (Vec<u8>, SampleSummary) {
    let mut buf = Cursor::new(Vec::new());
    let s = write_sample(&mut buf, &key(), opts).unwrap();
    (buf.into_inner(), s)
}

/// The payload of an entry: MK stream decrypted (or WinZip-AES decrypted), then gunzipped when
/// it starts with the GZip magic.
fn payload(bytes: &[u8], name: &str, form: EntryForm) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut raw = Vec::new();
    match form {
        EntryForm::MkStream => {
            let f = zip.by_name(name).unwrap();
            MkStreamReader::new(f, &key())
                .read_to_end(&mut raw)
                .unwrap();
        }
        EntryForm::WinZipAes => {
            let mut f = zip
                .by_name_decrypt(name, key().expose_base64().as_bytes())
                .unwrap();
            f.read_to_end(&mut raw).unwrap();
        }
    }
    if raw.starts_with(&[0x1f, 0x8b, 0x08]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        raw
    }
}

fn dump(bytes: &[u8], form: EntryForm) -> Value {
    serde_json::from_slice(&payload(bytes, DUMP_ENTRY, form)).unwrap()
}

fn meta<'a>(doc: &'a Value, field: &str) -> Option<&'a str> {
    doc["@metadata"][field].as_str()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let opts = SampleOptions::new(1, 42);
    let (a, sa) = sample(&opts);
    let (b, sb) = sample(&opts);
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    let (c, _) = sample(&SampleOptions::new(1, 43));
    assert_ne!(a, c);
}

#[test]
fn scale_one_is_small_and_has_everything() {
    let opts = SampleOptions::new(1, 7);
    let (bytes, s) = sample(&opts);
    assert_eq!(s.bytes, bytes.len() as u64);
    assert!(bytes.len() < 1_000_000, "{} bytes", bytes.len());

    let mut zip = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    assert!(names.iter().any(|n| n == BACKUP_JSON_ENTRY));
    assert!(names.iter().any(|n| n == MASTER_KEY_CHECK_ENTRY));
    assert!(names.iter().any(|n| n == DUMP_ENTRY));
    let logs = names
        .iter()
        .filter(|n| n.starts_with("ActivityLogs/"))
        .count() as u64;
    assert_eq!(logs, s.activity_logs);
    assert!(names
        .iter()
        .any(|n| n.starts_with("ActivityLogs/ServerTasks-")));

    let mut bj = String::new();
    zip.by_name(BACKUP_JSON_ENTRY)
        .unwrap()
        .read_to_string(&mut bj)
        .unwrap();
    let bj: Value = serde_json::from_str(&bj).unwrap();
    assert_eq!(bj["OctopusVersion"], "2.6.5.1010");
    assert_eq!(bj["ServerInstance"], "OctopusServer");

    assert_eq!(
        payload(&bytes, MASTER_KEY_CHECK_ENTRY, EntryForm::MkStream),
        b"Hello, Octopus"
    );

    // The dump: gzip inside the MK stream, the four arrays, every collection.
    let mut zip = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
    let mut raw = Vec::new();
    MkStreamReader::new(zip.by_name(DUMP_ENTRY).unwrap(), &key())
        .read_to_end(&mut raw)
        .unwrap();
    assert_eq!(&raw[..3], &[0x1f, 0x8b, 0x08]);
    let d = dump(&bytes, EntryForm::MkStream);
    let top: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        top,
        [
            "Indexes",
            "Docs",
            "Attachments",
            "Transformers",
            "Identities"
        ]
    );
    let docs = d["Docs"].as_array().unwrap();
    let mut per: BTreeMap<String, u64> = BTreeMap::new();
    let mut system = 0;
    for doc in docs {
        let id = meta(doc, "@id").unwrap();
        if id.starts_with("Raven/") {
            system += 1;
            continue;
        }
        *per.entry(meta(doc, "Raven-Entity-Name").unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per, s.documents);
    assert_eq!(system, s.system_documents);
    for c in MAPPED_COLLECTIONS {
        assert!(s.count(c) > 0, "no {c}");
    }
    assert_eq!(s.unknown_collections, ["OctopusServerNodes"]);
    assert_eq!(
        d["Attachments"].as_array().unwrap().len() as u64,
        s.attachments
    );
    assert_eq!(s.attachments, s.count("Artifacts"));

    // Rough shape of scale 1.
    assert_eq!(s.count("Projects"), 6);
    assert_eq!(s.count("Environments"), 3);
    assert_eq!(s.count("Machines"), 4);
    assert_eq!(s.count("Releases"), 40);
    assert_eq!(s.count("Deployments"), 80);
    assert!((100..=160).contains(&s.count("ServerTasks")), "{s:?}");
    assert!((120..=260).contains(&s.count("Events")), "{s:?}");
    assert!(s.count("Interruptions") >= 2);
    assert!(s.unparsable_log_lines >= 2);
    assert!(s.system_events >= 1);
    assert!(s.listening_machines >= 1 && s.polling_machines >= 1);
    assert!(s.tasks_without_log >= 1);
    assert!(s.gzipped_activity_logs >= 1 && s.gzipped_activity_logs < s.activity_logs);
    // --maxage 90 keeps a real share, not everything.
    for c in ["Releases", "Deployments", "ServerTasks", "Events"] {
        let recent = s.recent.get(c).copied().unwrap_or(0);
        assert!(recent > 0 && recent < s.count(c) / 2, "{c}: {recent}");
    }
}

/// Every top-level `*Id`/`*Ids`, `RelatedDocumentIds`, phase target, scope and action
/// environment reference resolves, case-insensitively; hilo maxima exceed the ids.
#[test]
fn references_resolve_and_hilo_is_high_enough() {
    let (bytes, s) = sample(&SampleOptions::new(2, 3));
    let d = dump(&bytes, EntryForm::MkStream);
    let docs = d["Docs"].as_array().unwrap();
    let ids: HashSet<String> = docs
        .iter()
        .map(|doc| meta(doc, "@id").unwrap().to_lowercase())
        .collect();
    let mut refs: Vec<(String, String)> = Vec::new();
    let mut push = |from: &str, v: &Value| match v {
        Value::String(x) => refs.push((from.to_owned(), x.clone())),
        Value::Array(a) => {
            for x in a {
                if let Some(x) = x.as_str() {
                    refs.push((from.to_owned(), x.to_owned()));
                }
            }
        }
        _ => {}
    };
    let mut highest: BTreeMap<String, u64> = BTreeMap::new();
    let mut mixed_case = 0;
    for doc in docs {
        let id = meta(doc, "@id").unwrap();
        if id.starts_with("Raven/") {
            continue;
        }
        if let Some((prefix, n)) = id.rsplit_once('-') {
            if let Ok(n) = n.parse::<u64>() {
                if !prefix.contains('-') {
                    let h = highest.entry(prefix.to_lowercase()).or_default();
                    *h = (*h).max(n);
                }
            }
        }
        for (k, v) in doc.as_object().unwrap() {
            // `CorrelationId` (Interruptions) is `<task id>/<guid>`: not a document id.
            if k != "Id" && k != "CorrelationId" && (k.ends_with("Id") || k.ends_with("Ids")) {
                push(id, v);
                if v.as_str()
                    .is_some_and(|x| x.chars().next().unwrap().is_uppercase())
                {
                    mixed_case += 1;
                }
            }
        }
        for phase in doc["Phases"].as_array().into_iter().flatten() {
            push(id, &phase["AutomaticDeploymentTargets"]);
            push(id, &phase["OptionalDeploymentTargets"]);
        }
        for var in doc["Variables"].as_array().into_iter().flatten() {
            push(id, &var["Scope"]["Environment"]);
            push(id, &var["Scope"]["Machine"]);
        }
        for step in doc["Steps"].as_array().into_iter().flatten() {
            for action in step["Actions"].as_array().unwrap() {
                push(id, &action["Environments"]);
                push(
                    id,
                    &action["Properties"]["Octopus.Action.Package.NuGetFeedId"],
                );
            }
        }
    }
    assert!(mixed_case > 10);
    let dangling: Vec<_> = refs
        .iter()
        .filter(|(_, r)| !ids.contains(&r.to_lowercase()))
        .collect();
    assert!(dangling.is_empty(), "{dangling:?}");
    for (prefix, h) in highest {
        let name = if prefix == "events" {
            "Events".to_owned()
        } else {
            prefix.clone()
        };
        if let Some(max) = s.hilo.get(&name) {
            assert!(*max > h, "{prefix}: {max} <= {h}");
        }
    }
    for c in [
        "projects",
        "servertasks",
        "deployments",
        "releases",
        "Events",
    ] {
        assert!(s.hilo.contains_key(c));
    }
}

#[test]
fn secrets_are_only_in_mk_values_and_ftp_is_unique() {
    let (bytes, s) = sample(&SampleOptions::new(1, 11));
    let text = String::from_utf8(payload(&bytes, DUMP_ENTRY, EntryForm::MkStream)).unwrap();
    assert!(!text.contains("s3cr3t-"));
    let d: Value = serde_json::from_str(&text).unwrap();
    // Count the MK values by decrypting every string that looks like one.
    fn walk(v: &Value, key: &MasterKey, found: &mut Vec<String>) {
        match v {
            Value::String(x) if x.contains('|') && x.ends_with("==") => {
                if let Ok(p) = decrypt_value(key, x) {
                    found.push(p.expose().to_owned());
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, key, found)),
            Value::Object(o) => o.values().for_each(|x| walk(x, key, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&d["Docs"], &key(), &mut found);
    assert_eq!(found.len() as u64, s.mk_values);
    assert!(found.iter().all(|p| p.starts_with("s3cr3t-")));
    let mut distinct: Vec<String> = found.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct, s.secrets);

    let mut ftp = Vec::new();
    for doc in d["Docs"].as_array().unwrap() {
        for step in doc["Steps"].as_array().into_iter().flatten() {
            for action in step["Actions"].as_array().unwrap() {
                if action["ActionType"] == "Octopus.Ftp" {
                    ftp.push((
                        meta(doc, "@id").unwrap().to_owned(),
                        step["Name"].as_str().unwrap().to_owned(),
                        action["Name"].as_str().unwrap().to_owned(),
                        step["Actions"].as_array().unwrap().len(),
                    ));
                }
            }
        }
    }
    assert_eq!(
        ftp,
        [(
            s.ftp.process_id.clone(),
            s.ftp.step_name.clone(),
            s.ftp.action_name.clone(),
            2
        )]
    );
    assert_eq!(s.ftp.project_name, "Marketing Site");
}

#[test]
fn activity_logs_match_the_summary() {
    let (bytes, s) = sample(&SampleOptions::new(1, 5));
    let zip = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .filter(|n| n.starts_with("ActivityLogs/"))
        .collect();
    drop(zip);
    let (mut lines, mut bad, mut nested) = (0u64, 0u64, 0u64);
    for name in &names {
        let text = String::from_utf8(payload(&bytes, name, EntryForm::MkStream)).unwrap();
        for line in text.lines() {
            lines += 1;
            let parts: Vec<&str> = line.splitn(5, '|').collect();
            let ok = parts.len() == 5
                && chrono::DateTime::parse_from_rfc3339(parts[1]).is_ok()
                && parts[2].parse::<u32>().is_ok()
                && serde_json::from_str::<String>(parts[4]).is_ok();
            if !ok {
                bad += 1;
            } else if parts[0].matches('/').count() >= 2 {
                nested += 1;
            }
        }
    }
    assert_eq!(lines, s.log_lines);
    assert_eq!(bad, s.unparsable_log_lines);
    assert!(bad >= 2);
    assert!(nested > 0);
}

#[test]
fn winzip_aes_form_decrypts_with_the_key_text() {
    let opts = SampleOptions {
        form: EntryForm::WinZipAes,
        ..SampleOptions::new(1, 9)
    };
    let (bytes, s) = sample(&opts);
    let mut zip = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
    assert!(zip.by_name(DUMP_ENTRY).is_err(), "needs a password");
    drop(zip);
    assert_eq!(
        payload(&bytes, MASTER_KEY_CHECK_ENTRY, EntryForm::WinZipAes),
        b"Hello, Octopus"
    );
    let d = dump(&bytes, EntryForm::WinZipAes);
    assert_eq!(
        d["Docs"].as_array().unwrap().len() as u64,
        s.total_documents() + s.system_documents
    );
    // Same content as the MK-stream form of the same seed.
    let (_, s2) = sample(&SampleOptions::new(1, 9));
    assert_eq!(s.documents, s2.documents);
    assert_eq!(s.secrets, s2.secrets);
}

#[test]
fn plain_dump_attachments_first_without_key_check() {
    let opts = SampleOptions {
        gzip_dump: false,
        attachments_first: true,
        master_key_check: false,
        ..SampleOptions::new(1, 4)
    };
    let (bytes, s) = sample(&opts);
    let mut zip = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
    assert!(zip.by_name(MASTER_KEY_CHECK_ENTRY).is_err());
    drop(zip);
    let raw = payload(&bytes, DUMP_ENTRY, EntryForm::MkStream);
    assert_eq!(raw[0], b'{');
    let d: Value = serde_json::from_slice(&raw).unwrap();
    let top: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        top,
        [
            "Indexes",
            "Attachments",
            "Docs",
            "Transformers",
            "Identities"
        ]
    );
    assert_eq!(
        d["Attachments"].as_array().unwrap().len() as u64,
        s.attachments
    );
    let keys: Vec<&str> = d["Attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"artifacts/artifacts-1"));
    assert!(keys.contains(&"Artifacts/Artifacts-2"));
}

#[test]
fn scale_two_is_bigger() {
    let (a, sa) = sample(&SampleOptions::new(1, 1));
    let (b, sb) = sample(&SampleOptions::new(2, 1));
    assert!(b.len() > a.len() * 3 / 2, "{} vs {}", b.len(), a.len());
    assert!(sb.total_documents() > sa.total_documents() * 3 / 2);
    assert_eq!(sb.count("Releases"), 80);
}

#[test]
fn dump_writer_sections() {
    let mut buf = Cursor::new(Vec::new());
    let mut bw = BackupWriter::with_seed(&mut buf, &key(), EntryForm::MkStream, 1);
    {
        let mut d = bw
            .start_dump(&DumpOptions {
                gzip: false,
                ..DumpOptions::default()
            })
            .unwrap();
        d.write_attachment("a", &serde_json::json!({}), b"x")
            .unwrap();
        assert!(d.write_doc(&serde_json::json!({"x": 1})).is_err());
        d.finish().unwrap();
    }
    bw.write_activity_log("servertasks-1", b"x|y\n", true)
        .unwrap();
    bw.finish().unwrap();
    let bytes = buf.into_inner();
    let text = payload(&bytes, DUMP_ENTRY, EntryForm::MkStream);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        r#"{"Indexes":[],"Docs":[],"Attachments":[{"Key":"a","Metadata":{},"Data":"eA=="}],"Transformers":[]}"#
    );
    assert_eq!(
        payload(
            &bytes,
            "ActivityLogs/servertasks-1.log",
            EntryForm::MkStream
        ),
        b"x|y\n"
    );
}
