//! Pass 2 (`transform::transform`) on structured documents built with `arbitrary`.
//!
//! The input is decoded into a small batch of 2.6 documents: a collection from
//! `collections::COLLECTIONS` (or an unknown/absent one), an id from a small pool of prefixes and
//! numbers in mixed case (numbered ids, owned `variableset-`/`deploymentprocess-` ids, system
//! `Raven/...` ids, odd ones), and a handful of properties: Name, Slug, ProjectId, TaskId,
//! ReleaseId, EnvironmentId(s), RelatedDocumentIds, dates as strings (valid and not), IsFrozen,
//! IsPending, State, CommunicationStyle, GrantedPermissions, Steps/Actions (ActionType sometimes
//! `Octopus.Ftp`/`Octopus.Azure`, feed ids, SensitiveProperties), Variables (IsSensitive, scopes),
//! Password/Certificate/SmtpPassword (valid MK values, other-key values, junk) and arbitrary
//! extra properties. Every document is added to a `scan::Index` first (documents whose `add`
//! fails, e.g. a duplicate id, are dropped), then transformed with `skip_unsupported_steps`
//! chosen by the input.
//!
//! Properties:
//! * nothing panics;
//! * every row has exactly one value per non-identity column of its table;
//! * row ids (the `Id` of rows of tables with an `Id` column, except EventRelatedDocument,
//!   Configuration, DeploymentHistory, KeyAllocation) are unique across the batch, and each
//!   equals `collections::rewrite_id(<id>)` of an input document of that row's collection;
//! * EventRelatedDocument / DeploymentHistory rows belong to a migrated input document;
//! * `out.report.collections`: every collection's counts are balanced (`st.balanced()`),
//!   `read` equals the number of non-system documents transformed, and the number of
//!   `Migrated` dispositions equals the sum of `migrated`;
//! * `Failed` dispositions add up to `failed` and each left at least one preflight problem;
//! * `reencrypted_values` never exceeds the number of sensitive values in the input.
#![no_main]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use octo_migrate_core::internals::collections::COLLECTIONS;
use octo_migrate_core::internals::ids::rewrite_id;
use octo_migrate_core::internals::crypto::{encrypt_value_with_iv, MasterKey};
use octo_migrate_core::internals::parse::{Document, Item};
use octo_migrate_sample::sample_key;
use octo_migrate_core::internals::index::Index;
use octo_migrate_core::sink::{SqlType, Table, Value};
use octo_migrate_core::internals::transform::{self, Context, Disposition, Output};
use serde_json::{json, Map, Value as Json};

fn keys() -> &'static (MasterKey, MasterKey, MasterKey) {
    static KEYS: OnceLock<(MasterKey, MasterKey, MasterKey)> = OnceLock::new();
    // source, target, and an unrelated key (values that must not decrypt)
    KEYS.get_or_init(|| (sample_key(0xF022), sample_key(0xF023), sample_key(0xBAD)))
}

const MAX_DOCS: usize = 12;
/// Properties per document: past the width from which a body indexes its keys, so the index
/// (its lookups, removals and renumbering) is transformed too.
const MAX_PROPS: usize = octo_migrate_core::internals::parse::body::INDEXED_FROM + 16;
const MAX_LIST: usize = 4;

// ---------------------------------------------------------------------------------------------
// Input model

#[derive(Debug, Arbitrary)]
struct Input {
    skip_unsupported_steps: bool,
    docs: Vec<ADoc>,
}

#[derive(Debug, Arbitrary)]
struct ADoc {
    /// Index into COLLECTIONS; past the end: an unknown collection or none.
    collection: u8,
    /// Use the collection's own prefix for the id (most of the time) or the id's own.
    own_prefix: bool,
    id: AId,
    props: Vec<Prop>,
}

#[derive(Debug, Arbitrary)]
struct AId {
    prefix: u8,
    num: u8,
    case: u8,
}

#[derive(Debug, Arbitrary)]
enum AStr {
    Pool(u8),
    Any(String),
}

#[derive(Debug, Arbitrary)]
enum ADate {
    Pool(u8),
    Parts {
        y: u16,
        mo: u8,
        d: u8,
        h: u8,
        mi: u8,
        s: u8,
        frac: u32,
        off: i8,
    },
    Any(String),
}

#[derive(Debug, Arbitrary)]
enum ASecret {
    Valid(AStr, [u8; 16]),
    OtherKey(AStr, [u8; 16]),
    Junk(AStr),
    Empty,
    NotString(i32),
}

#[derive(Debug, Arbitrary)]
enum AJson {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(AStr),
    Id(AId),
    Ids(Vec<AId>),
}

#[derive(Debug, Arbitrary)]
struct AStep {
    name: AStr,
    actions: Vec<AAction>,
    extra: Option<(u8, AJson)>,
}

#[derive(Debug, Arbitrary)]
struct AAction {
    name: AStr,
    action_type: u8,
    feed: Option<AId>,
    environments: Option<Vec<AId>>,
    sensitive: Vec<(AStr, ASecret)>,
    props: Vec<(AStr, AJson)>,
}

#[derive(Debug, Arbitrary)]
struct AVar {
    name: AStr,
    value: ASecret,
    is_sensitive: Option<bool>,
    scope: Option<(Vec<AId>, Vec<AId>, Vec<AStr>)>,
}

#[derive(Debug, Arbitrary)]
enum Prop {
    Name(AStr),
    Slug(AStr),
    RefId(u8, AId),
    RefIds(u8, Vec<AId>),
    Date(u8, ADate),
    Flag(u8, bool),
    State(u8),
    CommunicationStyle(u8),
    Uri(AStr),
    GrantedPermissions(Vec<u8>),
    Steps(Vec<AStep>),
    Variables(Vec<AVar>),
    Secret(u8, ASecret),
    Phases(Vec<(AStr, Vec<AId>, Vec<AId>)>),
    HiloMax(u64),
    Extra(AStr, AJson),
}

// ---------------------------------------------------------------------------------------------
// Pools

const PREFIXES: &[&str] = &[
    "projects",
    "environments",
    "machines",
    "releases",
    "deployments",
    "servertasks",
    "events",
    "projectgroups",
    "lifecycles",
    "feeds",
    "users",
    "teams",
    "userroles",
    "variableset-projects",
    "variableset-librarysets",
    "variableset-libraryvariablesets",
    "deploymentprocess-projects",
    "artifacts",
    "interruptions",
    "apikeys",
    "certificates",
    "libraryvariablesets",
    "actiontemplates",
    "raven/hilo/projects",
    "Raven/Hilo/servertasks",
    "widgets",
    "",
];

const STRINGS: &[&str] = &[
    "",
    " ",
    "Web",
    "My Project",
    "Deploy to Production",
    "x|y",
    "AdministerSystem",
    "ProjectView",
    "AccountView",
    "Octopus.Action.Package.NuGetFeedId",
    "Octopus.Action.Azure.Password",
    "feeds-builtin",
    "Ünïcödé ☃",
    "a-very-long-server-task-name-over-twenty",
    "Octopus.Action.Script.ScriptBody",
    "\u{0}",
    "Deploy",
];

const DATES: &[&str] = &[
    "2015-06-30T10:11:12.1234567+10:00",
    "2015-06-30T10:11:12Z",
    "2015-06-30T10:11:12",
    "2015-06-30 10:11:12.5",
    "2015-06-30T10:11:12.123",
    "0001-01-01T00:00:00+00:00",
    "9999-12-31T23:59:59.9999999-14:00",
    "2015-02-30T00:00:00Z",
    "/Date(1435622400000)/",
    "",
    "yesterday",
];

const REF_FIELDS: &[&str] = &[
    "ProjectId",
    "ProjectGroupId",
    "EnvironmentId",
    "ReleaseId",
    "TaskId",
    "DeploymentId",
    "LifecycleId",
    "OwnerId",
    "DeploymentProcessId",
    "VariableSetId",
    "MachineId",
    "UserId",
    "UserRoleId",
    "CorrelationId",
    "ServerTaskId",
];

const REF_LIST_FIELDS: &[&str] = &[
    "EnvironmentIds",
    "RelatedDocumentIds",
    "MemberUserIds",
    "IncludedLibraryVariableSetIds",
    "ProjectIds",
    "Roles",
    "Ids",
];

const DATE_FIELDS: &[&str] = &[
    "Created",
    "QueueTime",
    "StartTime",
    "CompletedTime",
    "Assembled",
    "Occurred",
    "LastModifiedOn",
    "Expires",
];

const FLAGS: &[&str] = &[
    "IsFrozen",
    "IsPending",
    "IsDisabled",
    "IsActive",
    "IsService",
    "HasPendingInterruptions",
    "HasWarningsOrErrors",
];

const STATES: &[&str] = &[
    "Success", "Failed", "Queued", "Executing", "Cancelling", "Canceled", "TimedOut", "",
];

const STYLES: &[&str] = &["TentaclePassive", "TentacleActive", "Ssh", "", "tentaclepassive"];

const ACTION_TYPES: &[&str] = &[
    "Octopus.Ftp",
    "Octopus.Azure",
    "Octopus.TentaclePackage",
    "Octopus.Script",
    "Octopus.Email",
    "octopus.ftp",
    "",
];

const SECRET_FIELDS: &[&str] = &["Password", "Certificate", "SmtpPassword", "ApiKey"];

fn pick<'a>(pool: &[&'a str], i: u8) -> &'a str {
    pool[i as usize % pool.len()]
}

// ---------------------------------------------------------------------------------------------
// Building JSON

struct Builder<'k> {
    source: &'k MasterKey,
    other: &'k MasterKey,
}

fn id_text(a: &AId, prefix: Option<&str>) -> String {
    let p = prefix.unwrap_or_else(|| pick(PREFIXES, a.prefix));
    let n = a.num % 16;
    let mut s = match a.num / 16 {
        0 => p.to_owned(),
        _ if p.is_empty() => format!("{n}"),
        1 => format!("{p}-{n}-s-{}", a.num % 3),
        2 => format!("{p}-x"),
        3 => format!("{p}-00{n}"),
        _ => format!("{p}-{n}"),
    };
    if p.is_empty() && a.num / 16 == 0 {
        s = "builtin".to_owned();
    }
    match a.case % 4 {
        0 => s,
        1 => s.to_uppercase(),
        2 => s
            .char_indices()
            .map(|(i, c)| if i == 0 { c.to_ascii_uppercase() } else { c })
            .collect(),
        _ => s.to_lowercase(),
    }
}

fn str_text(s: &AStr) -> String {
    match s {
        AStr::Pool(i) => pick(STRINGS, *i).to_owned(),
        AStr::Any(s) => s.chars().take(64).collect(),
    }
}

fn date_text(d: &ADate) -> String {
    match d {
        ADate::Pool(i) => pick(DATES, *i).to_owned(),
        ADate::Parts {
            y,
            mo,
            d,
            h,
            mi,
            s,
            frac,
            off,
        } => {
            let off = *off as i32 % 15;
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{}{}{:02}:00",
                y % 10000,
                mo % 13,
                d % 32,
                h % 25,
                mi % 61,
                s % 61,
                frac % 10_000_000,
                if off < 0 { '-' } else { '+' },
                off.abs()
            )
        }
        ADate::Any(s) => s.chars().take(40).collect(),
    }
}

fn ids_json(ids: &[AId]) -> Json {
    Json::Array(ids.iter().take(MAX_LIST).map(|a| Json::String(id_text(a, None))).collect())
}

impl Builder<'_> {
    fn secret(&mut self, s: &ASecret) -> Json {
        match s {
            ASecret::Valid(p, iv) => {
                Json::String(encrypt_value_with_iv(self.source, &str_text(p), *iv))
            }
            ASecret::OtherKey(p, iv) => {
                // May (rarely) still decrypt with the source key to some text.
                Json::String(encrypt_value_with_iv(self.other, &str_text(p), *iv))
            }
            ASecret::Junk(p) => Json::String(str_text(p)),
            ASecret::Empty => Json::String(String::new()),
            ASecret::NotString(i) => json!(i),
        }
    }

    fn value(&mut self, v: &AJson) -> Json {
        match v {
            AJson::Null => Json::Null,
            AJson::Bool(b) => json!(b),
            AJson::Int(i) => json!(i),
            AJson::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            AJson::Str(s) => Json::String(str_text(s)),
            AJson::Id(a) => Json::String(id_text(a, None)),
            AJson::Ids(a) => ids_json(a),
        }
    }

    fn action(&mut self, a: &AAction) -> Json {
        let mut o = Map::new();
        o.insert("Name".into(), Json::String(str_text(&a.name)));
        o.insert(
            "ActionType".into(),
            Json::String(pick(ACTION_TYPES, a.action_type).to_owned()),
        );
        if let Some(e) = &a.environments {
            o.insert("Environments".into(), ids_json(e));
        }
        let mut props = Map::new();
        if let Some(f) = &a.feed {
            props.insert(
                "Octopus.Action.Package.NuGetFeedId".into(),
                Json::String(id_text(f, None)),
            );
        }
        for (k, v) in a.props.iter().take(MAX_LIST) {
            props.insert(str_text(k), self.value(v));
        }
        o.insert("Properties".into(), Json::Object(props));
        if !a.sensitive.is_empty() {
            let mut sp = Map::new();
            for (k, v) in a.sensitive.iter().take(MAX_LIST) {
                let k = str_text(k);
                if sp.contains_key(&k) {
                    continue;
                }
                sp.insert(k, self.secret(v));
            }
            o.insert("SensitiveProperties".into(), Json::Object(sp));
        }
        Json::Object(o)
    }

    fn variable(&mut self, v: &AVar) -> Json {
        let mut o = Map::new();
        o.insert("Name".into(), Json::String(str_text(&v.name)));
        let sensitive = v.is_sensitive == Some(true);
        let value = if sensitive {
            self.secret(&v.value)
        } else {
            match &v.value {
                ASecret::Junk(s) => Json::String(str_text(s)),
                ASecret::NotString(i) => json!(i),
                _ => Json::String("plain".into()),
            }
        };
        o.insert("Value".into(), value);
        if let Some(b) = v.is_sensitive {
            o.insert("IsSensitive".into(), json!(b));
        }
        if let Some((envs, machines, roles)) = &v.scope {
            o.insert(
                "Scope".into(),
                json!({
                    "Environment": ids_json(envs),
                    "Machine": ids_json(machines),
                    "Role": roles.iter().take(MAX_LIST).map(str_text).collect::<Vec<_>>(),
                }),
            );
        }
        Json::Object(o)
    }

    fn prop(&mut self, body: &mut Map<String, Json>, p: &Prop) {
        let (k, v): (String, Json) = match p {
            Prop::Name(s) => ("Name".into(), Json::String(str_text(s))),
            Prop::Slug(s) => ("Slug".into(), Json::String(str_text(s))),
            Prop::RefId(f, a) => (pick(REF_FIELDS, *f).into(), Json::String(id_text(a, None))),
            Prop::RefIds(f, a) => (pick(REF_LIST_FIELDS, *f).into(), ids_json(a)),
            Prop::Date(f, d) => (pick(DATE_FIELDS, *f).into(), Json::String(date_text(d))),
            Prop::Flag(f, b) => (pick(FLAGS, *f).into(), json!(b)),
            Prop::State(s) => ("State".into(), Json::String(pick(STATES, *s).into())),
            Prop::CommunicationStyle(s) => (
                "CommunicationStyle".into(),
                Json::String(pick(STYLES, *s).into()),
            ),
            Prop::Uri(s) => ("Uri".into(), Json::String(str_text(s))),
            Prop::GrantedPermissions(ps) => (
                "GrantedPermissions".into(),
                ps.iter()
                    .take(MAX_LIST)
                    .map(|i| Json::String(pick(STRINGS, *i).into()))
                    .collect(),
            ),
            Prop::Steps(steps) => {
                let mut out = Vec::new();
                for s in steps.iter().take(MAX_LIST) {
                    let mut o = Map::new();
                    o.insert("Name".into(), Json::String(str_text(&s.name)));
                    let actions: Vec<Json> =
                        s.actions.iter().take(MAX_LIST).map(|a| self.action(a)).collect();
                    o.insert("Actions".into(), Json::Array(actions));
                    if let Some((k, v)) = &s.extra {
                        o.insert(pick(REF_FIELDS, *k).into(), self.value(v));
                    }
                    out.push(Json::Object(o));
                }
                ("Steps".into(), Json::Array(out))
            }
            Prop::Variables(vars) => {
                let vs: Vec<Json> = vars.iter().take(MAX_LIST).map(|v| self.variable(v)).collect();
                ("Variables".into(), Json::Array(vs))
            }
            Prop::Secret(f, s) => (pick(SECRET_FIELDS, *f).into(), self.secret(s)),
            Prop::Phases(ps) => (
                "Phases".into(),
                ps.iter()
                    .take(MAX_LIST)
                    .map(|(n, a, o)| {
                        json!({
                            "Name": str_text(n),
                            "AutomaticDeploymentTargets": ids_json(a),
                            "OptionalDeploymentTargets": ids_json(o),
                        })
                    })
                    .collect(),
            ),
            Prop::HiloMax(m) => ("Max".into(), json!(m)),
            Prop::Extra(k, v) => (str_text(k), self.value(v)),
        };
        if k == "Id" || k == "@metadata" {
            return; // the parser never hands these out in a body
        }
        body.insert(k, v);
    }
}

// ---------------------------------------------------------------------------------------------

fn non_identity_columns(t: Table) -> usize {
    t.def()
        .columns
        .iter()
        .filter(|c| c.ty != SqlType::Identity)
        .count()
}

/// How many values of `body` could be re-encrypted: non-empty strings of the top-level secret
/// fields, of `Variables[*].Value` and of `Steps[*].Actions[*].SensitiveProperties.*`. An upper
/// bound whatever collection the document is in and whatever built it.
fn sensitive_upper_bound(body: &Map<String, Json>) -> u64 {
    let s = |v: Option<&Json>| u64::from(matches!(v, Some(Json::String(x)) if !x.is_empty()));
    let mut n = 0;
    for f in ["Password", "Certificate", "SmtpPassword"] {
        n += s(body.get(f));
    }
    if let Some(Json::Array(vars)) = body.get("Variables") {
        n += vars.iter().map(|v| s(v.get("Value"))).sum::<u64>();
    }
    if let Some(Json::Array(steps)) = body.get("Steps") {
        for step in steps {
            if let Some(Json::Array(actions)) = step.get("Actions") {
                for a in actions {
                    if let Some(Json::Object(sp)) = a.get("SensitiveProperties") {
                        n += sp.values().map(|v| s(Some(v))).sum::<u64>();
                    }
                }
            }
        }
    }
    n
}

fn text(v: Option<&Value>) -> Option<&str> {
    match v {
        Some(Value::Text(s)) => Some(s),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    let (source_key, target_key, other_key) = keys();
    let mut b = Builder {
        source: source_key,
        other: other_key,
    };

    // Build the documents.
    let mut docs = Vec::new();
    for ad in input.docs.iter().take(MAX_DOCS) {
        let ci = ad.collection as usize;
        let collection = if ci < COLLECTIONS.len() {
            Some(COLLECTIONS[ci].name.to_owned())
        } else {
            match ci % 4 {
                0 => None,
                1 => Some("Widgets".to_owned()),
                2 => Some(COLLECTIONS[ci % COLLECTIONS.len()].name.to_lowercase()),
                _ => Some(COLLECTIONS[ci % COLLECTIONS.len()].name.to_uppercase()),
            }
        };
        let own = match (&collection, ad.own_prefix) {
            (Some(c), true) => Some(c.to_lowercase()),
            _ => None,
        };
        let mut id = id_text(&ad.id, own.as_deref());
        if id.trim().is_empty() {
            id = "empty".into(); // the parser rejects blank ids
        }
        let mut body = Map::new();
        for p in ad.props.iter().take(MAX_PROPS) {
            b.prop(&mut body, p);
        }
        let sens = sensitive_upper_bound(&body);
        docs.push((
            Document {
                id,
                collection,
                // From text, as the reader makes it (values parsed when first read).
                body: serde_json::from_str(&serde_json::to_string(&body).unwrap()).unwrap(),
            },
            sens,
        ));
    }

    // Pass 1: index; drop documents whose id repeats (the pipeline refuses such a backup).
    let mut index = Index::default();
    let mut kept = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (doc, sens) in docs {
        if !seen.insert(octo_migrate_core::internals::ids::id_hash(&doc.id)) {
            continue;
        }
        index.add(&Item::Doc(doc.clone()));
        kept.push((doc, sens));
    }
    assert!(index.finish().is_ok(), "ids were made unique above");

    // Pass 2.
    let ctx = Context {
        index: &index,
        source_key,
        target_key,
        skip_unsupported_steps: input.skip_unsupported_steps,
    };
    let mut out = Output::default();
    // 3.x id -> 2.6 collection names of the input documents that map to it
    let mut by_new_id: HashMap<String, Vec<String>> = HashMap::new();
    let mut migrated_ids: HashSet<String> = HashSet::new();
    let mut transformed = 0u64;
    let mut migrated = 0u64;
    let mut failed = 0u64;
    let mut sensitive = 0u64;
    for (doc, sens) in kept {
        let new_id = rewrite_id(&doc.id);
        let coll = doc.collection.clone();
        let is_system = doc.id.to_lowercase().starts_with("raven/");
        let problems_before = out.problems.len();
        let disp = transform::transform(doc, &ctx, &mut out);
        if is_system {
            assert_eq!(disp, Disposition::System);
            assert_eq!(out.problems.len(), problems_before);
            continue;
        }
        assert_ne!(disp, Disposition::System);
        transformed += 1;
        sensitive += sens;
        by_new_id
            .entry(new_id.clone())
            .or_default()
            .push(coll.unwrap_or_default());
        match disp {
            Disposition::Migrated => {
                migrated += 1;
                migrated_ids.insert(new_id);
            }
            Disposition::Failed => {
                failed += 1;
                assert!(
                    out.problems.len() > problems_before,
                    "a Failed document left no preflight problem"
                );
            }
            _ => {}
        }
    }

    // Report counts.
    let mut read = 0;
    let (mut st_migrated, mut st_failed) = (0, 0);
    for (name, st) in &out.report.collections {
        assert!(st.balanced(), "unbalanced counts for {name}: {st:?}");
        let reasons: u64 = st.skipped_reasons.values().sum();
        assert_eq!(reasons, st.skipped, "skip reasons of {name} do not add up");
        read += st.read;
        st_migrated += st.migrated;
        st_failed += st.failed;
    }
    assert_eq!(read, transformed, "report.read != documents transformed");
    assert_eq!(st_migrated, migrated, "report.migrated != Migrated dispositions");
    assert_eq!(st_failed, failed, "report.failed != Failed dispositions");
    assert!(
        out.report.reencrypted_values <= sensitive,
        "re-encrypted {} values, only {sensitive} sensitive ones in the input",
        out.report.reencrypted_values
    );

    // Rows.
    let mut seen: BTreeMap<String, Table> = BTreeMap::new();
    for row in &out.rows {
        assert_eq!(
            row.values.len(),
            non_identity_columns(row.table),
            "{:?} row has the wrong number of values",
            row.table
        );
        match row.table {
            Table::Configuration | Table::KeyAllocation => {}
            Table::EventRelatedDocument => {
                let ev = text(row.values.get(1)).expect("EventRelatedDocument.EventId is text");
                assert!(migrated_ids.contains(ev), "related row of unknown event {ev:?}");
            }
            Table::DeploymentHistory => {
                let id = text(row.values.first()).expect("DeploymentHistory id is text");
                assert!(migrated_ids.contains(id), "history row of unknown deployment {id:?}");
            }
            t if t.has_column("Id") => {
                let id = text(row.get("Id"))
                    .unwrap_or_else(|| panic!("{t:?} row without a text Id: {row:?}"));
                let Some(colls) = by_new_id.get(id) else {
                    panic!("{t:?} row id {id:?} is not rewrite_id of any input document");
                };
                assert!(
                    colls.iter().any(|c| COLLECTIONS
                        .iter()
                        .any(|k| k.name.eq_ignore_ascii_case(c) && k.table == Some(t))),
                    "{t:?} row {id:?} comes from a document of collection(s) {colls:?}"
                );
                assert!(migrated_ids.contains(id), "row {id:?} of a document not Migrated");
                if let Some(prev) = seen.insert(id.to_owned(), t) {
                    panic!("row id {id:?} written twice ({prev:?} and {t:?})");
                }
            }
            _ => {}
        }
    }
});
