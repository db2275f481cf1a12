//! The content of a sample backup: a plausible Octopus 2.6 server with about two years of
//! history, generated document by document (nothing but small per-project state is kept).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Seek, Write};

use chrono::{FixedOffset, TimeZone as _};
use serde_json::{json, Map, Value};

use super::rng::SplitMix64;
use super::writer::{BackupWriter, DumpWriter};
use super::{FtpStep, SampleOptions, SampleSummary};
use octo_migrate_core::internals::crypto::{encrypt_value_with_iv, MasterKey};

/// 2015-06-30T00:00:00Z in Unix milliseconds: the sample's "now".
pub(super) const BASE_MS: i64 = 1_435_622_400_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// History starts this long before [`BASE_MS`].
const HISTORY_DAYS: i64 = 730;
/// The day count [`SampleSummary::recent`] is computed for.
pub(super) const RECENT_DAYS: i64 = 90;

/// The project whose live deployment process holds the one `Octopus.Ftp` action.
const FTP_PROJECT: u32 = 5;
const FTP_STEP: &str = "Publish static content";
const FTP_ACTION: &str = "Upload to FTP";
/// The project that is disabled and only has old releases.
const ARCHIVED_PROJECT: u32 = 6;

/// Deployments per release, cycling; its mean (2) makes 80 deployments per 40 releases.
const DEPLOYMENT_PATTERN: [u32; 8] = [2, 1, 3, 2, 2, 1, 3, 2];
/// Every deployment whose global index `d` has `d % ARTIFACT_EVERY == ARTIFACT_AT` gets one.
const ARTIFACT_EVERY: u64 = 20;
const ARTIFACT_AT: u64 = 7;

/// `(collection, Raven-Clr-Type namespace and class)`.
const CLR: &[(&str, &str)] = &[
    ("Projects", "Projects.Project"),
    ("ProjectGroups", "Projects.ProjectGroup"),
    ("Environments", "Environments.DeploymentEnvironment"),
    ("Machines", "Machines.Machine"),
    ("Lifecycles", "Lifecycles.Lifecycle"),
    ("VariableSets", "Variables.VariableSet"),
    ("DeploymentProcesses", "Projects.DeploymentProcess"),
    ("LibraryVariableSets", "Variables.LibraryVariableSet"),
    ("ActionTemplates", "Projects.ActionTemplate"),
    ("Feeds", "Feeds.Feed"),
    ("Users", "Users.User"),
    ("Teams", "Users.Team"),
    ("UserRoles", "Users.UserRole"),
    ("ApiKeys", "Users.ApiKey"),
    ("Certificates", "Certificates.Certificate"),
    ("Invitations", "Users.Invitation"),
    ("Licenses", "Licensing.License"),
    ("SmtpConfigurations", "Configuration.SmtpConfiguration"),
    (
        "MaintenanceConfigurations",
        "Configuration.MaintenanceConfiguration",
    ),
    ("RetentionPolicies", "Retention.RetentionPolicy"),
    ("Releases", "Projects.Release"),
    ("Deployments", "Projects.Deployment"),
    ("ServerTasks", "Tasks.ServerTask"),
    ("Events", "Events.Event"),
    ("Artifacts", "Artifacts.Artifact"),
    ("Interruptions", "Interruptions.Interruption"),
    ("OctopusServerNodes", "Nodes.OctopusServerNode"),
];

/// Id prefix -> the collection's own spelling (for mixed-case references).
const CAPS: &[(&str, &str)] = &[
    ("projects", "Projects"),
    ("projectgroups", "ProjectGroups"),
    ("environments", "Environments"),
    ("machines", "Machines"),
    ("lifecycles", "Lifecycles"),
    ("libraryvariablesets", "LibraryVariableSets"),
    ("feeds", "Feeds"),
    ("users", "Users"),
    ("teams", "Teams"),
    ("userroles", "UserRoles"),
    ("releases", "Releases"),
    ("deployments", "Deployments"),
    ("servertasks", "ServerTasks"),
    ("events", "Events"),
    ("artifacts", "Artifacts"),
];

/// Collections with a `Raven/Hilo/<name>` document, by id prefix.
const HILO: &[&str] = &[
    "projects",
    "projectgroups",
    "environments",
    "machines",
    "lifecycles",
    "libraryvariablesets",
    "actiontemplates",
    "feeds",
    "users",
    "teams",
    "userroles",
    "apikeys",
    "invitations",
    "retentionpolicies",
    "releases",
    "deployments",
    "servertasks",
    "events",
    "artifacts",
    "interruptions",
];

fn mix(x: u64) -> u64 {
    SplitMix64::new(x).next_u64()
}

/// ISO-8601 with 7 fractional digits and the offset, as JSON.NET writes a `DateTimeOffset`.
pub(super) fn ts(ms: i64, off_min: i32) -> String {
    let off = FixedOffset::east_opt(off_min * 60).expect("offset in range");
    let t = off
        .timestamp_millis_opt(ms)
        .single()
        .expect("time in range");
    let frac = ms.rem_euclid(1000) * 10_000 + (mix(ms as u64) % 10_000) as i64;
    format!(
        "{}.{:07}{}",
        t.format("%Y-%m-%dT%H:%M:%S"),
        frac,
        t.format("%:z")
    )
}

/// ISO-8601 with milliseconds and the offset (log lines).
fn ts3(ms: i64, off_min: i32) -> String {
    let off = FixedOffset::east_opt(off_min * 60).expect("offset in range");
    let t = off
        .timestamp_millis_opt(ms)
        .single()
        .expect("time in range");
    t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// RavenDB's `Last-Modified`: UTC with a `Z`.
fn utc(ms: i64) -> String {
    let s = ts(ms, 0);
    format!("{}Z", &s[..s.len() - 6])
}

fn id(prefix: &str, n: u64) -> String {
    format!("{prefix}-{n}")
}

/// A message's `MessageReferences`: where each named document's text stands in it.
fn message_refs(msg: &str, refs: &[(&str, &str)]) -> Value {
    let v: Vec<Value> = refs
        .iter()
        .filter_map(|(doc, text)| {
            msg.find(text).map(|start| {
                json!({
                    "ReferencedDocumentId": doc,
                    "StartIndex": msg[..start].chars().count(),
                    "Length": text.chars().count(),
                })
            })
        })
        .collect();
    Value::Array(v)
}

struct Project {
    no: u32,
    name: String,
    slug: String,
    lifecycle: u32,
    libs: Vec<u32>,
    manual_step: bool,
    db_script: bool,
    feed: &'static str,
    uses_template: bool,
    disabled: bool,
    snapshots: u32,
    releases: u32,
}

impl Project {
    fn envs(&self) -> &'static [u32] {
        if self.lifecycle == 2 {
            &[2, 3]
        } else {
            &[1, 2, 3]
        }
    }
}

struct Env {
    own_id: String,
    name: String,
}

struct Machine {
    name: String,
    envs: Vec<u32>,
    roles: Vec<&'static str>,
    listening: bool,
    disabled: bool,
}

struct User {
    username: String,
    offset: i32,
}

struct Lib {
    snapshots: u32,
    current: Option<u32>,
    uses: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TaskKind {
    Deploy,
    Health,
    Backup,
    Retention,
    AdHocScript,
    Upgrade,
}

impl TaskKind {
    fn name(self) -> &'static str {
        match self {
            TaskKind::Deploy => "Deploy",
            TaskKind::Health => "Health",
            TaskKind::Backup => "Backup",
            TaskKind::Retention => "Retention",
            TaskKind::AdHocScript => "AdHocScript",
            TaskKind::Upgrade => "Upgrade",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    Executing,
    Success,
    Failed,
    Canceled,
    TimedOut,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Queued => "Queued",
            State::Executing => "Executing",
            State::Success => "Success",
            State::Failed => "Failed",
            State::Canceled => "Canceled",
            State::TimedOut => "TimedOut",
        }
    }
    fn finished(self) -> bool {
        !matches!(self, State::Queued | State::Executing)
    }
}

/// What a task's activity log is generated from after the dump (a few dozen bytes per task).
struct TaskLog {
    task: u64,
    kind: TaskKind,
    state: State,
    queued: i64,
    offset: i32,
    duration: i64,
    project: u32,
    env: u32,
    release: u32,
    user: u32,
}

/// One task as the generator plans it.
struct TaskPlan {
    kind: TaskKind,
    state: State,
    queued: i64,
    started: i64,
    completed: i64,
    offset: i32,
    project: u32,
    env: u32,
    release: u32,
    user: u32,
    description: String,
    arguments: Value,
    warnings: bool,
    pending_interruption: bool,
}

/// The highest number handed out per id prefix (`projects` -> 6).
struct Counters(BTreeMap<&'static str, u64>);

impl Counters {
    fn next(&mut self, prefix: &'static str) -> u64 {
        let c = self.0.entry(prefix).or_insert(0);
        *c += 1;
        *c
    }
    fn get(&self, prefix: &str) -> u64 {
        self.0.get(prefix).copied().unwrap_or(0)
    }
}

pub(super) struct Gen<'k> {
    key: &'k MasterKey,
    seed: u64,
    scale: u32,
    rng: SplitMix64,
    ivs: SplitMix64,
    etag: u64,
    ids: Counters,
    secrets: BTreeSet<String>,
    summary: SampleSummary,
    projects: Vec<Project>,
    envs: Vec<Env>,
    machines: Vec<Machine>,
    users: Vec<User>,
    libs: Vec<Lib>,
    logs: Vec<TaskLog>,
}

impl<'k> Gen<'k> {
    pub(super) fn new(key: &'k MasterKey, opts: &SampleOptions) -> Gen<'k> {
        Gen {
            key,
            seed: opts.seed,
            scale: opts.scale.max(1),
            rng: SplitMix64::derive(opts.seed, 1, 0),
            ivs: SplitMix64::derive(opts.seed, 2, 0),
            etag: 0,
            ids: Counters(BTreeMap::new()),
            secrets: BTreeSet::new(),
            summary: SampleSummary::default(),
            projects: Vec::new(),
            envs: Vec::new(),
            machines: Vec::new(),
            users: Vec::new(),
            libs: Vec::new(),
            logs: Vec::new(),
        }
    }

    fn releases_total(&self) -> u64 {
        40 * u64::from(self.scale)
    }

    fn planned_deployments(&self) -> u64 {
        (0..self.releases_total())
            .map(|r| u64::from(DEPLOYMENT_PATTERN[(r % 8) as usize]))
            .sum()
    }

    /// How many artifacts (and so attachments) the history will have: known before it is made,
    /// so the attachments can be written before the documents.
    pub(super) fn planned_artifacts(&self) -> u64 {
        let d = self.planned_deployments();
        (0..d).filter(|d| d % ARTIFACT_EVERY == ARTIFACT_AT).count() as u64
    }

    /// The file name and bytes of artifact number `k` (a pure function of the seed and `k`).
    pub(super) fn artifact_content(seed: u64, k: u64) -> (String, Vec<u8>) {
        let mut r = SplitMix64::derive(seed, 3, k);
        match k % 4 {
            0 => {
                let mut s = String::from(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<test-results>\r\n",
                );
                for i in 0..r.range(5, 40) {
                    s.push_str(&format!(
                        "  <test-case name=\"Smoke.Test{i}\" result=\"{}\" time=\"0.{}\" />\r\n",
                        if r.chance(1, 10) {
                            "Failure"
                        } else {
                            "Success"
                        },
                        r.below(999)
                    ));
                }
                s.push_str("</test-results>\r\n");
                ("TestResults.xml".into(), s.into_bytes())
            }
            1 => {
                let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
                let mut rest = vec![0u8; r.range(300, 3000) as usize];
                r.fill(&mut rest);
                b.extend_from_slice(&rest);
                ("screenshot.png".into(), b)
            }
            2 => {
                let s = format!(
                    "<configuration>\r\n  <appSettings>\r\n    <add key=\"Build\" value=\"{}\" />\r\n  </appSettings>\r\n</configuration>\r\n",
                    r.below(100_000)
                );
                ("web.config.transformed".into(), s.into_bytes())
            }
            _ => {
                let mut s = String::new();
                for i in 0..r.range(3, 30) {
                    s.push_str(&format!("Step {i}: ok ({} ms)\n", r.below(5000)));
                }
                ("deploy-summary.txt".into(), s.into_bytes())
            }
        }
    }

    /// The attachment key of artifact `k` (mostly lowercase, sometimes not).
    pub(super) fn artifact_key(k: u64) -> String {
        if k % 5 == 2 {
            format!("Artifacts/Artifacts-{k}")
        } else {
            format!("artifacts/artifacts-{k}")
        }
    }

    /// A reference to `<prefix>-<n>`, written in the collection's capitalised spelling about one
    /// time in seven (ids are case-insensitive in Octopus 2.x).
    fn rf(&mut self, prefix: &str, n: u64) -> String {
        if self.rng.chance(1, 7) {
            if let Some((_, cap)) = CAPS.iter().find(|(p, _)| *p == prefix) {
                return format!("{cap}-{n}");
            }
        }
        id(prefix, n)
    }

    /// An MK value of `plain` with the next IV of the main IV stream.
    fn mk(&mut self, plain: &str) -> String {
        let iv = self.ivs.iv();
        self.mk_with(plain, iv)
    }

    fn mk_with(&mut self, plain: &str, iv: [u8; 16]) -> String {
        self.summary.mk_values += 1;
        if !self.secrets.contains(plain) {
            self.secrets.insert(plain.to_owned());
        }
        encrypt_value_with_iv(self.key, plain, iv)
    }

    fn user_ref(&mut self, u: u32) -> String {
        self.rf("users", u64::from(u))
    }

    /// A random human user (not the service account `users-4`).
    fn human(&mut self) -> u32 {
        loop {
            let u = self.rng.below(self.users.len() as u64) as u32 + 1;
            if u != 4 {
                return u;
            }
        }
    }

    fn emit<W: Write + Seek>(
        &mut self,
        dump: &mut DumpWriter<'_, W>,
        collection: &str,
        doc_id: &str,
        modified: i64,
        mut body: Value,
    ) -> io::Result<()> {
        self.etag += 1;
        let clr = CLR
            .iter()
            .find(|(c, _)| *c == collection)
            .map(|(_, t)| format!("Octopus.Core.Model.{t}, Octopus.Core"))
            .unwrap_or_else(|| "Octopus.Core.Model.Unknown, Octopus.Core".into());
        let meta = json!({
            "Raven-Entity-Name": collection,
            "Raven-Clr-Type": clr,
            "Last-Modified": utc(modified),
            "@id": doc_id,
            "@etag": format!("01000000-0000-0001-0000-{:012X}", self.etag),
        });
        body.as_object_mut()
            .expect("documents are objects")
            .insert("@metadata".into(), meta);
        dump.write_doc(&body)?;
        *self
            .summary
            .documents
            .entry(collection.to_owned())
            .or_insert(0) += 1;
        Ok(())
    }

    fn emit_history<W: Write + Seek>(
        &mut self,
        dump: &mut DumpWriter<'_, W>,
        collection: &str,
        doc_id: &str,
        dated: i64,
        body: Value,
    ) -> io::Result<()> {
        if dated >= BASE_MS - RECENT_DAYS * DAY {
            *self
                .summary
                .recent
                .entry(collection.to_owned())
                .or_insert(0) += 1;
        }
        self.summary.first_history_ms = Some(
            self.summary
                .first_history_ms
                .map_or(dated, |f: i64| f.min(dated)),
        );
        self.emit(dump, collection, doc_id, dated, body)
    }

    fn emit_system<W: Write + Seek>(
        &mut self,
        dump: &mut DumpWriter<'_, W>,
        doc_id: &str,
        entity: Option<Value>,
        mut body: Value,
    ) -> io::Result<()> {
        self.etag += 1;
        let mut meta = Map::new();
        if let Some(e) = entity {
            meta.insert("Raven-Entity-Name".into(), e);
        }
        meta.insert("@id".into(), doc_id.into());
        meta.insert(
            "@etag".into(),
            format!("01000000-0000-0001-0000-{:012X}", self.etag).into(),
        );
        body.as_object_mut()
            .expect("documents are objects")
            .insert("@metadata".into(), Value::Object(meta));
        dump.write_doc(&body)?;
        self.summary.system_documents += 1;
        Ok(())
    }

    // ------------------------------------------------------------------ configuration

    pub(super) fn configuration<W: Write + Seek>(
        &mut self,
        dump: &mut DumpWriter<'_, W>,
    ) -> io::Result<()> {
        let s = self.scale;
        let t0 = BASE_MS - (HISTORY_DAYS + 60) * DAY;
        let mut t = t0;
        let mut tick = |r: &mut SplitMix64| {
            t += r.range(10 * MINUTE, 6 * HOUR);
            t
        };

        // Users first: everything else is "created by" one of them.
        let base_users = [
            ("admin", "Octopus Administrator", 600),
            ("jsmith", "Jane Smith", 0),
            ("mbrown", "Mark Brown", 600),
            ("deploybot", "Deployment Bot", 0),
        ];
        let n_users = 4 + (s - 1) / 2;
        for u in 1..=n_users {
            let (username, display, offset) = match base_users.get(u as usize - 1) {
                Some(&(a, b, o)) => (a.to_owned(), b.to_owned(), o),
                None => (
                    format!("user{u}"),
                    format!("User {u}"),
                    if u % 3 == 0 { -300 } else { 0 },
                ),
            };
            self.users.push(User {
                username: username.clone(),
                offset,
            });
            let when = tick(&mut self.rng);
            let mut body = json!({
                "Username": username,
                "DisplayName": display,
                "EmailAddress": format!("{username}@acme.example"),
                "IsActive": u != n_users || n_users < 5,
                "IsService": u == 4,
            });
            let o = body.as_object_mut().expect("object");
            if u != 3 {
                o.insert("IdentificationToken".into(), self.rng.guid().into());
            }
            let mut salt = [0u8; 16];
            self.rng.fill(&mut salt);
            o.insert(
                "PasswordHash".into(),
                format!(
                    "$PBKDF2$V1$1000${}",
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, salt)
                )
                .into(),
            );
            self.ids.next("users");
            self.emit(dump, "Users", &id("users", u.into()), when, body)?;
        }

        // User roles and teams.
        let roles: [(&str, &str, &[&str]); 3] = [
            (
                "System administrator",
                "Can do everything",
                &[
                    "AdministerSystem",
                    "ProjectEdit",
                    "ProjectView",
                    "EnvironmentEdit",
                    "DeploymentCreate",
                    "TaskView",
                ],
            ),
            (
                "Project deployer",
                "Deploys releases",
                &["ProjectView", "ReleaseView", "DeploymentCreate", "TaskView"],
            ),
            (
                "Environment viewer",
                "Sees environments",
                &["EnvironmentView", "MachineView"],
            ),
        ];
        for (name, desc, perms) in roles {
            let n = self.ids.next("userroles");
            let when = tick(&mut self.rng);
            let body = json!({"Name": name, "Description": desc, "GrantedPermissions": perms});
            self.emit(dump, "UserRoles", &id("userroles", n), when, body)?;
        }

        // Feeds, library variable sets, action templates.
        let when = tick(&mut self.rng);
        self.emit(
            dump,
            "Feeds",
            "feeds-builtin",
            when,
            json!({"Name": "Octopus Server (built-in)", "FeedUri": "http://octopus.acme.example/nuget/packages"}),
        )?;
        let pw = self.mk("s3cr3t-feed-myget-password");
        let n = self.ids.next("feeds");
        let when = tick(&mut self.rng);
        self.emit(
            dump,
            "Feeds",
            &id("feeds", n),
            when,
            json!({
                "Name": "MyGet",
                "FeedUri": "https://www.myget.org/F/acme/api/v2",
                "Username": "acme-ci",
                "Password": pw,
            }),
        )?;

        let n_libs = 2 + s / 25;
        for l in 1..=n_libs {
            let name = match l {
                1 => "Shared Settings".to_owned(),
                2 => "Notification Secrets".to_owned(),
                _ => format!("Library Set {l}"),
            };
            self.ids.next("libraryvariablesets");
            self.libs.push(Lib {
                snapshots: 0,
                current: None,
                uses: 0,
            });
            let when = tick(&mut self.rng);
            self.emit(
                dump,
                "LibraryVariableSets",
                &id("libraryvariablesets", l.into()),
                when,
                json!({
                    "Name": name,
                    "Description": "Variables shared between projects",
                    "VariableSetId": format!("variableset-libraryvariablesets-{l}"),
                    "ContentType": "Variables",
                }),
            )?;
            let vs = self.library_variable_set(l, 1, None);
            self.emit(
                dump,
                "VariableSets",
                &format!("variableset-libraryvariablesets-{l}"),
                when,
                vs,
            )?;
        }

        let templates = [
            (
                "IIS AppPool - Restart",
                "Octopus.Script",
                "Import-Module WebAdministration\r\nRestart-WebAppPool $AppPoolName",
            ),
            (
                "HTTP - Test URL",
                "Octopus.Script",
                "$r = Invoke-WebRequest $Url -UseBasicParsing\r\nif ($r.StatusCode -ne 200) { exit 1 }",
            ),
        ];
        for (name, action_type, script) in templates {
            let n = self.ids.next("actiontemplates");
            let when = tick(&mut self.rng);
            let body = json!({
                "Name": name,
                "Description": format!("{name} (from the community library)"),
                "ActionType": action_type,
                "Version": 3,
                "Properties": {"Octopus.Action.Script.ScriptBody": script},
                "SensitiveProperties": {},
                "Parameters": [{"Name": "AppPoolName", "Label": "App pool", "HelpText": null, "DefaultValue": null}],
            });
            self.emit(
                dump,
                "ActionTemplates",
                &id("actiontemplates", n),
                when,
                body,
            )?;
        }

        // Environments and machines.
        let n_envs = 3 + s / 10;
        for e in 1..=n_envs {
            let name = match e {
                1 => "Development".to_owned(),
                2 => "Test".to_owned(),
                3 => "Production".to_owned(),
                _ => format!("Staging {e}"),
            };
            let own_id = if e == 3 {
                "Environments-3".to_owned()
            } else {
                id("environments", e.into())
            };
            let mut body = json!({
                "Name": name,
                "Description": format!("The {name} environment"),
                "SortOrder": e - 1,
                "UseGuidedFailure": e == 3,
            });
            let o = body.as_object_mut().expect("object");
            if e == 1 {
                o.insert("Id".into(), "Environments-1".into());
                self.summary.docs_with_body_id.push(own_id.clone());
            }
            if e == 2 {
                o.insert("ExtraSetting".into(), "keep-me".into());
                self.summary.docs_with_extra_property.push(own_id.clone());
            }
            self.ids.next("environments");
            let when = tick(&mut self.rng);
            self.emit(dump, "Environments", &own_id, when, body)?;
            self.envs.push(Env { own_id, name });
        }

        let n_machines = 4 + 2 * (s - 1);
        for m in 1..=n_machines {
            let (name, envs, roles, listening, disabled): (
                String,
                Vec<u32>,
                Vec<&'static str>,
                bool,
                bool,
            ) = match m {
                1 => ("WEB01".into(), vec![1], vec!["web-server"], true, false),
                2 => ("WEB02".into(), vec![2, 3], vec!["web-server"], false, false),
                3 => (
                    "DB01".into(),
                    vec![3],
                    vec!["db-server", "web-server"],
                    true,
                    false,
                ),
                4 => (
                    "OLDWEB01".into(),
                    vec![1, 2],
                    vec!["web-server"],
                    true,
                    true,
                ),
                _ => (
                    format!("APP{m:03}"),
                    vec![(m % n_envs) + 1],
                    vec![if m % 2 == 0 {
                        "web-server"
                    } else {
                        "app-server"
                    }],
                    m % 3 != 0,
                    false,
                ),
            };
            let uri = if listening {
                format!("https://{}:10933/", name.to_lowercase())
            } else {
                format!("poll://{}/", self.rng.hex(20).to_lowercase())
            };
            let env_refs: Vec<String> = envs.iter().map(|&e| self.env_ref(e)).collect();
            let mut body = json!({
                "Name": name,
                "Thumbprint": self.rng.hex(40),
                "Uri": uri,
                "CommunicationStyle": if listening { "TentaclePassive" } else { "TentacleActive" },
                "EnvironmentIds": env_refs,
                "Roles": roles,
                "IsDisabled": disabled,
                "Status": if disabled { "Offline" } else { "Online" },
                "StatusSummary": if disabled { "Tentacle could not be contacted" } else { "Tentacle is responding" },
            });
            if m == 1 {
                body.as_object_mut()
                    .expect("object")
                    .insert("ExtraSetting".into(), 42.into());
                self.summary
                    .docs_with_extra_property
                    .push("machines-1".into());
            }
            if listening {
                self.summary.listening_machines += 1;
            } else {
                self.summary.polling_machines += 1;
            }
            self.ids.next("machines");
            let when = tick(&mut self.rng);
            self.emit(dump, "Machines", &id("machines", m.into()), when, body)?;
            self.machines.push(Machine {
                name,
                envs,
                roles,
                listening,
                disabled,
            });
        }

        // Lifecycles.
        let lcs: [(&str, &[u32]); 2] = [("Default Lifecycle", &[1, 2, 3]), ("Hotfix", &[2, 3])];
        for (name, envs) in lcs {
            let n = self.ids.next("lifecycles");
            let mut phases = Vec::new();
            for (i, &e) in envs.iter().enumerate() {
                let target = self.env_ref(e);
                let (auto, optional): (Vec<String>, Vec<String>) = if i == 0 {
                    (vec![target], vec![])
                } else {
                    (vec![], vec![target])
                };
                phases.push(json!({
                    "Id": self.rng.guid(),
                    "Name": self.envs[e as usize - 1].name.clone(),
                    "AutomaticDeploymentTargets": auto,
                    "OptionalDeploymentTargets": optional,
                    "MinimumEnvironmentsBeforePromotion": 0,
                }));
            }
            let when = tick(&mut self.rng);
            let body = json!({
                "Name": name,
                "Description": format!("{name}: promote through each phase"),
                "Phases": phases,
                "ReleaseRetentionPolicy": {"Unit": "Days", "QuantityToKeep": 30, "ShouldKeepForever": false},
                "TentacleRetentionPolicy": {"Unit": "Items", "QuantityToKeep": 3, "ShouldKeepForever": false},
            });
            self.emit(dump, "Lifecycles", &id("lifecycles", n), when, body)?;
        }

        // Project groups and projects.
        let n_groups = 2 + s / 10;
        for g in 1..=n_groups {
            let name = match g {
                1 => "All projects".to_owned(),
                2 => "Back office".to_owned(),
                _ => format!("Group {g}"),
            };
            self.ids.next("projectgroups");
            let when = tick(&mut self.rng);
            let env_refs: Vec<String> = vec![];
            let body = json!({
                "Name": name,
                "Description": "",
                "EnvironmentIds": env_refs,
                "RetentionPolicyId": null,
            });
            self.emit(
                dump,
                "ProjectGroups",
                &id("projectgroups", g.into()),
                when,
                body,
            )?;
        }

        let n_projects = 6 + s / 2;
        for p in 1..=n_projects {
            #[allow(clippy::type_complexity)]
            let (name, group, lc, libs, manual, db, feed, template): (
                String,
                u32,
                u32,
                Vec<u32>,
                bool,
                bool,
                &'static str,
                bool,
            ) = match p {
                1 => (
                    "Acme.Web".into(),
                    1,
                    1,
                    vec![1],
                    false,
                    false,
                    "feeds-builtin",
                    false,
                ),
                2 => (
                    "Acme.Api".into(),
                    1,
                    1,
                    vec![1, 2],
                    true,
                    true,
                    "feeds-1",
                    true,
                ),
                3 => (
                    "Billing Service".into(),
                    2,
                    1,
                    vec![2],
                    false,
                    true,
                    "Feeds-1",
                    false,
                ),
                4 => (
                    "Customer Portal".into(),
                    1,
                    2,
                    vec![],
                    true,
                    false,
                    "feeds-builtin",
                    false,
                ),
                5 => (
                    "Marketing Site".into(),
                    2,
                    1,
                    vec![1],
                    false,
                    false,
                    "feeds-builtin",
                    false,
                ),
                6 => (
                    "Archived Tools".into(),
                    2,
                    1,
                    vec![],
                    false,
                    false,
                    "feeds-1",
                    false,
                ),
                _ => (
                    format!("Service {p:03}"),
                    (p % n_groups) + 1,
                    1 + p % 2,
                    vec![1 + p % n_libs],
                    p % 3 == 0,
                    p % 2 == 0,
                    "feeds-builtin",
                    false,
                ),
            };
            let slug = name.to_lowercase().replace(['.', ' '], "-");
            let project = Project {
                no: p,
                name,
                slug,
                lifecycle: lc,
                libs,
                manual_step: manual,
                db_script: db,
                feed,
                uses_template: template,
                disabled: p == ARCHIVED_PROJECT,
                snapshots: 0,
                releases: 0,
            };
            let lib_refs: Vec<String> = project
                .libs
                .iter()
                .map(|&l| self.rf("libraryvariablesets", l.into()))
                .collect();
            let mut body = json!({
                "Name": project.name,
                "Slug": project.slug,
                "Description": format!("Deploys {}.\nOwner: team {}", project.name, group),
                "IsDisabled": project.disabled,
                "ProjectGroupId": self.rf("projectgroups", group.into()),
                "LifecycleId": self.rf("lifecycles", lc.into()),
                "VariableSetId": format!("variableset-projects-{p}"),
                "DeploymentProcessId": format!("deploymentprocess-projects-{p}"),
                "AutoCreateRelease": false,
                "IncludedLibraryVariableSetIds": lib_refs,
                "DefaultToSkipIfAlreadyInstalled": p % 2 == 0,
            });
            let o = body.as_object_mut().expect("object");
            if p == 1 {
                o.insert(
                    "ExtraSetting".into(),
                    json!({"Nested": [1, 2, 3], "Flag": true, "Note": "not in mapping.md"}),
                );
                self.summary
                    .docs_with_extra_property
                    .push("projects-1".into());
            }
            if p == 2 {
                o.insert("Id".into(), "Projects-2".into());
                self.summary.docs_with_body_id.push("projects-2".into());
            }
            self.ids.next("projects");
            let when = tick(&mut self.rng);
            self.emit(dump, "Projects", &id("projects", p.into()), when, body)?;
            self.projects.push(project);
        }

        // Teams (they name projects and environments).
        let n_teams = 3 + s / 20;
        let all_users: Vec<u32> = (1..=self.users.len() as u32).collect();
        for t_no in 1..=n_teams {
            let (name, members, roles, projects, envs): (
                String,
                Vec<u32>,
                Vec<u32>,
                Vec<u32>,
                Vec<u32>,
            ) = match t_no {
                1 => (
                    "Octopus Administrators".into(),
                    vec![1],
                    vec![1],
                    vec![],
                    vec![],
                ),
                2 => ("Everyone".into(), all_users.clone(), vec![], vec![], vec![]),
                3 => (
                    "Developers".into(),
                    vec![2, 3],
                    vec![2, 3],
                    vec![1, 2],
                    vec![1, 2],
                ),
                _ => (
                    format!("Team {t_no}"),
                    vec![1 + t_no % self.users.len() as u32],
                    vec![2],
                    vec![1 + t_no % n_projects],
                    vec![3],
                ),
            };
            let members: Vec<String> = members.iter().map(|&u| self.user_ref(u)).collect();
            let roles: Vec<String> = roles
                .iter()
                .map(|&r| self.rf("userroles", r.into()))
                .collect();
            let projects: Vec<String> = projects
                .iter()
                .map(|&p| self.rf("projects", p.into()))
                .collect();
            let envs: Vec<String> = envs.iter().map(|&e| self.env_ref(e)).collect();
            self.ids.next("teams");
            let when = tick(&mut self.rng);
            let body = json!({
                "Name": name,
                "MemberUserIds": members,
                "UserRoleIds": roles,
                "ProjectIds": projects,
                "EnvironmentIds": envs,
                "CanBeDeleted": t_no > 2,
            });
            self.emit(dump, "Teams", &id("teams", t_no.into()), when, body)?;
        }

        // Api keys, invitations, singletons, retention policies.
        for (purpose, user) in [("Build server", 4u32), ("Release notes script", 2)] {
            let n = self.ids.next("apikeys");
            let mut hash = [0u8; 32];
            self.rng.fill(&mut hash);
            let when = tick(&mut self.rng);
            let body = json!({
                "Purpose": purpose,
                "UserId": self.user_ref(user),
                "ApiKeyHashed": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, hash),
                "Created": ts(when, self.users[user as usize - 1].offset),
            });
            self.emit(dump, "ApiKeys", &id("apikeys", n), when, body)?;
        }
        let n = self.ids.next("invitations");
        let when = tick(&mut self.rng);
        let body = json!({
            "InvitationCode": self.rng.hex(32),
            "AddToTeamIds": [self.rf("teams", 3)],
            "Expires": ts(when + 7 * DAY, 600),
        });
        self.emit(dump, "Invitations", &id("invitations", n), when, body)?;

        let mut pfx = [0u8; 48];
        self.rng.fill(&mut pfx);
        let pfx_text = format!(
            "s3cr3t-pfx-{}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pfx)
        );
        let cert = self.mk(&pfx_text);
        let when = tick(&mut self.rng);
        let body = json!({
            "Name": "Octopus Portal",
            "Thumbprint": self.rng.hex(40),
            "Certificate": cert,
        });
        self.emit(dump, "Certificates", "certificate-global", when, body)?;

        let when = tick(&mut self.rng);
        let license = format!(
            "<License Signature=\"{}\">\r\n  <LicensedTo>Acme Corporation</LicensedTo>\r\n  <LicenseKey>{}</LicenseKey>\r\n  <Version>2.0</Version>\r\n  <ValidFrom>2013-07-01</ValidFrom>\r\n  <MaintenanceExpires>2016-07-01</MaintenanceExpires>\r\n  <ProjectLimit>Unlimited</ProjectLimit>\r\n  <MachineLimit>Unlimited</MachineLimit>\r\n  <UserLimit>Unlimited</UserLimit>\r\n</License>",
            self.rng.hex(64),
            self.rng.hex(24)
        );
        self.emit(
            dump,
            "Licenses",
            "license",
            when,
            json!({"LicenseText": license}),
        )?;

        let smtp_pw = self.mk("s3cr3t-smtp-password");
        let when = tick(&mut self.rng);
        let body = json!({
            "SmtpHost": "smtp.acme.example",
            "SmtpPort": 587,
            "SendEmailFrom": "octopus@acme.example",
            "SmtpLogin": "octopus",
            "EnableSsl": true,
            "SmtpPassword": smtp_pw,
        });
        self.emit(dump, "SmtpConfigurations", "smtpconfiguration", when, body)?;
        let when = tick(&mut self.rng);
        self.emit(
            dump,
            "MaintenanceConfigurations",
            "maintenanceconfiguration",
            when,
            json!({"IsInMaintenanceMode": false}),
        )?;
        for (name, unit, qty) in [
            ("Keep 30 days", "Days", 30),
            ("Keep 3 releases", "Items", 3),
        ] {
            let n = self.ids.next("retentionpolicies");
            let when = tick(&mut self.rng);
            let body = json!({
                "Name": name,
                "Description": null,
                "Unit": unit,
                "QuantityToKeep": qty,
                "DaysToKeepRelease": if unit == "Days" { qty } else { 0 },
            });
            self.emit(
                dump,
                "RetentionPolicies",
                &id("retentionpolicies", n),
                when,
                body,
            )?;
        }

        // "Created" events of the configuration (history: old, so --maxage drops them).
        let created: Vec<(String, String, String)> = self
            .projects
            .iter()
            .map(|p| {
                (
                    "project".into(),
                    id("projects", p.no.into()),
                    p.name.clone(),
                )
            })
            .chain(
                self.envs
                    .iter()
                    .map(|e| ("environment".into(), e.own_id.clone(), e.name.clone())),
            )
            .collect();
        for (kind, doc, name) in created {
            let when = tick(&mut self.rng);
            self.event(
                dump,
                when,
                "Created",
                Some(1),
                format!("Created {kind} {name}"),
                vec![doc.clone()],
                &[(&doc, &name)],
            )?;
        }
        Ok(())
    }

    fn env_ref(&mut self, e: u32) -> String {
        self.rf("environments", e.into())
    }

    /// A variable set of a library (live when `snapshot` is `None`).
    fn library_variable_set(&mut self, l: u32, version: u32, snapshot: Option<u32>) -> Value {
        let mut r = SplitMix64::derive(self.seed, 10, l.into());
        let (id1, id2, iv) = (r.guid(), r.guid(), r.iv());
        let mut vars = vec![json!({
            "Id": id1,
            "Name": format!("Shared.Url{l}"),
            "Value": format!("https://shared{l}.acme.example/v{version}"),
            "Scope": {},
            "IsSensitive": false,
            "IsEditable": true,
            "Prompt": null,
        })];
        if l == 2 {
            let secret = self.mk_with("s3cr3t-lib-slack-webhook", iv);
            vars.push(json!({
                "Id": id2,
                "Name": "Slack.Webhook",
                "Value": secret,
                "Scope": {"Environment": [self.env_ref(3)]},
                "IsSensitive": true,
                "IsEditable": true,
                "Prompt": null,
            }));
        }
        json!({
            "OwnerId": self.rf("libraryvariablesets", l.into()),
            "Version": version,
            "IsFrozen": snapshot.is_some(),
            "Variables": vars,
        })
    }

    /// A project's variable set (live when `snapshot` is `None`).
    fn project_variable_set(&mut self, pi: usize, version: u32, snapshot: Option<u32>) -> Value {
        let p = &self.projects[pi];
        let (no, slug) = (p.no, p.slug.clone());
        let envs = p.envs();
        let mut r = SplitMix64::derive(self.seed, 11, no.into());
        let ids: Vec<String> = (0..8).map(|_| r.guid()).collect();
        let (iv_db, iv_api) = (r.iv(), r.iv());
        let mut vars = Vec::new();
        for (i, &e) in envs.iter().enumerate() {
            let scope = json!({"Environment": [self.env_ref(e)]});
            if e == 3 {
                let v = self.mk_with(&format!("s3cr3t-{slug}-db-prod"), iv_db);
                vars.push(
                    json!({"Id": ids[i], "Name": "ConnectionString", "Value": v, "Scope": scope,
                    "IsSensitive": true, "IsEditable": true, "Prompt": null}),
                );
            } else {
                vars.push(json!({"Id": ids[i], "Name": "ConnectionString",
                    "Value": format!("Server=db-{e};Database={slug};Integrated Security=true"),
                    "Scope": scope, "IsSensitive": false, "IsEditable": true, "Prompt": null}));
            }
        }
        let api = self.mk_with(&format!("s3cr3t-{slug}-apikey"), iv_api);
        vars.push(
            json!({"Id": ids[3], "Name": "ApiKey", "Value": api, "Scope": {},
            "IsSensitive": true, "IsEditable": true, "Prompt": null}),
        );
        vars.push(json!({"Id": ids[4], "Name": "LogLevel", "Value": "Debug",
            "Scope": {"Role": ["web-server"], "Environment": [self.env_ref(envs[0])]},
            "IsSensitive": false, "IsEditable": true, "Prompt": null}));
        let machine = 1 + (no % 3);
        vars.push(json!({"Id": ids[5], "Name": "LogLevel", "Value": "Verbose",
            "Scope": {"Machine": [self.rf("machines", machine.into())]},
            "IsSensitive": false, "IsEditable": true, "Prompt": null}));
        vars.push(
            json!({"Id": ids[6], "Name": "AppVersionTag", "Value": format!("v{version}"),
            "Scope": {}, "IsSensitive": false, "IsEditable": true, "Prompt": null}),
        );
        vars.push(json!({"Id": ids[7], "Name": "Greeting",
            "Value": "Grüße | \"quoted\" \\ C:\\Octopus\nsecond line",
            "Scope": {}, "IsSensitive": false, "IsEditable": true,
            "Prompt": if no % 2 == 0 { json!({"Label": "Greeting", "Description": "Shown on the home page", "Required": false}) } else { Value::Null }}));
        json!({
            "OwnerId": self.rf("projects", no.into()),
            "Version": version,
            "IsFrozen": snapshot.is_some(),
            "Variables": vars,
        })
    }

    /// A project's deployment process (live when `snapshot` is `None`: only the live process of
    /// the FTP project has the FTP step).
    fn deployment_process(&mut self, pi: usize, version: u32, snapshot: Option<u32>) -> Value {
        let p = &self.projects[pi];
        let (no, name, manual, db, feed, template) = (
            p.no,
            p.name.clone(),
            p.manual_step,
            p.db_script,
            p.feed,
            p.uses_template,
        );
        let mut r = SplitMix64::derive(self.seed, 12, no.into());
        let ids: Vec<String> = (0..12).map(|_| r.guid()).collect();
        let iv = r.iv();
        let feed_ref = if feed.starts_with("Feeds") || feed == "feeds-builtin" {
            feed.to_owned()
        } else {
            self.rf("feeds", 1)
        };
        let mut steps = vec![json!({
            "Id": ids[0],
            "Name": "Deploy package",
            "RequiresPackagesToBeAcquired": true,
            "Properties": {"Octopus.Action.TargetRoles": "web-server"},
            "Condition": "Success",
            "StartTrigger": "StartAfterPrevious",
            "Actions": [{
                "Id": ids[1],
                "Name": "Deploy package",
                "ActionType": "Octopus.TentaclePackage",
                "Environments": [],
                "Properties": {
                    "Octopus.Action.Package.NuGetPackageId": name.replace(' ', "."),
                    "Octopus.Action.Package.NuGetFeedId": feed_ref,
                    "Octopus.Action.Package.AutomaticallyRunConfigurationTransformationFiles": "True",
                    "Octopus.Action.Package.AutomaticallyUpdateAppSettingsAndConnectionStrings": "True",
                    "Octopus.Action.EnabledFeatures": "Octopus.Features.IISWebSite,Octopus.Features.ConfigurationTransforms",
                    "Octopus.Action.Package.CustomInstallationDirectory": "C:\\inetpub\\wwwroot\\app",
                },
                "SensitiveProperties": {},
            }],
        })];
        if db {
            let pw = self.mk_with(&format!("s3cr3t-{}-dbmigrate", self.projects[pi].slug), iv);
            steps.push(json!({
                "Id": ids[2],
                "Name": "Run database migrations",
                "RequiresPackagesToBeAcquired": false,
                "Properties": {"Octopus.Action.TargetRoles": "db-server"},
                "Condition": "Success",
                "StartTrigger": "StartAfterPrevious",
                "Actions": [{
                    "Id": ids[3],
                    "Name": "Run database migrations",
                    "ActionType": "Octopus.Script",
                    "Environments": [],
                    "Properties": {
                        "Octopus.Action.Script.ScriptBody": "$ErrorActionPreference = 'Stop'\r\n& .\\Migrate.exe --connection \"$ConnectionString\" | Write-Host\r\nexit $LASTEXITCODE",
                    },
                    "SensitiveProperties": {"Octopus.Action.Script.DbPassword": pw},
                }],
            }));
        }
        if template {
            steps.push(json!({
                "Id": ids[4],
                "Name": "Restart app pool",
                "RequiresPackagesToBeAcquired": false,
                "Properties": {"Octopus.Action.TargetRoles": "web-server"},
                "Condition": "Success",
                "StartTrigger": "StartAfterPrevious",
                "Actions": [{
                    "Id": ids[5],
                    "Name": "Restart app pool",
                    "ActionType": "Octopus.Script",
                    "Environments": [self.env_ref(2), self.env_ref(3)],
                    "Properties": {
                        "Octopus.Action.Template.Id": "actiontemplates-1",
                        "Octopus.Action.Template.Version": "3",
                        "AppPoolName": "AcmeApi",
                    },
                    "SensitiveProperties": {},
                }],
            }));
        }
        if manual {
            steps.push(json!({
                "Id": ids[6],
                "Name": "Approve production",
                "RequiresPackagesToBeAcquired": false,
                "Properties": {},
                "Condition": "Success",
                "StartTrigger": "StartAfterPrevious",
                "Actions": [{
                    "Id": ids[7],
                    "Name": "Approve production",
                    "ActionType": "Octopus.Manual",
                    "Environments": [self.env_ref(3)],
                    "Properties": {
                        "Octopus.Action.Manual.Instructions": "Check the smoke tests, then approve.",
                        "Octopus.Action.Manual.ResponsibleTeamIds": "teams-1",
                    },
                    "SensitiveProperties": {},
                }],
            }));
        }
        if no == FTP_PROJECT && snapshot.is_none() {
            let pw = self.mk("s3cr3t-ftp-password");
            steps.push(json!({
                "Id": ids[8],
                "Name": FTP_STEP,
                "RequiresPackagesToBeAcquired": true,
                "Properties": {},
                "Condition": "Success",
                "StartTrigger": "StartAfterPrevious",
                "Actions": [
                    {
                        "Id": ids[9],
                        "Name": FTP_ACTION,
                        "ActionType": "Octopus.Ftp",
                        "Environments": [],
                        "Properties": {
                            "Octopus.Action.Ftp.Host": "ftp.acme.example",
                            "Octopus.Action.Ftp.Username": "marketing",
                            "Octopus.Action.Ftp.RootDirectory": "/public_html",
                            "Octopus.Action.Package.NuGetPackageId": "Marketing.Static",
                            "Octopus.Action.Package.NuGetFeedId": "feeds-builtin",
                        },
                        "SensitiveProperties": {"Octopus.Action.Ftp.Password": pw},
                    },
                    {
                        "Id": ids[10],
                        "Name": "Purge CDN cache",
                        "ActionType": "Octopus.Script",
                        "Environments": [self.env_ref(3)],
                        "Properties": {"Octopus.Action.Script.ScriptBody": "Invoke-RestMethod -Method Post https://cdn.acme.example/purge"},
                        "SensitiveProperties": {},
                    },
                ],
            }));
        }
        json!({
            "OwnerId": self.rf("projects", no.into()),
            "Version": version,
            "IsFrozen": snapshot.is_some(),
            "Steps": steps,
        })
    }

    // ------------------------------------------------------------------ history

    #[allow(clippy::too_many_arguments)]
    fn event<W: Write + Seek>(
        &mut self,
        dump: &mut DumpWriter<'_, W>,
        when: i64,
        category: &str,
        user: Option<u32>,
        message: String,
        related: Vec<String>,
        refs: &[(&str, &str)],
    ) -> io::Result<()> {
        let n = self.ids.next("events");
        let (user_id, username, offset) = match user {
            Some(u) => {
                let r = self.user_ref(u);
                let usr = &self.users[u as usize - 1];
                (Value::from(r), usr.username.clone(), usr.offset)
            }
            None => {
                self.summary.system_events += 1;
                (Value::Null, "system".to_owned(), 0)
            }
        };
        let body = json!({
            "RelatedDocumentIds": related,
            "Category": category,
            "UserId": user_id,
            "Username": username,
            "Occurred": ts(when, offset),
            "Message": message,
            "MessageReferences": message_refs(&message, refs),
            "Comments": null,
            "Details": null,
        });
        self.emit_history(dump, "Events", &id("events", n), when, body)
    }

    fn task<W: Write + Seek>(
        &mut self,
        dump: &mut DumpWriter<'_, W>,
        plan: &TaskPlan,
    ) -> io::Result<u64> {
        let n = self.ids.next("servertasks");
        let task_id = id("servertasks", n);
        let mut body = json!({
            "Name": plan.kind.name(),
            "Description": plan.description,
            "Arguments": plan.arguments,
            "State": plan.state.name(),
            "QueueTime": ts(plan.queued, plan.offset),
            "StartTime": if plan.state == State::Queued { Value::Null } else { ts(plan.started, plan.offset).into() },
            "CompletedTime": if plan.state.finished() { ts(plan.completed, plan.offset).into() } else { Value::Null },
            "ErrorMessage": match plan.state {
                State::Failed => "The deployment failed because one or more steps failed. Please see the deployment log for details.".into(),
                State::TimedOut => "The task timed out after 00:30:00".into(),
                State::Canceled => "The task was canceled".into(),
                _ => Value::Null,
            },
            "ConcurrencyTag": if plan.kind == TaskKind::Deploy {
                format!("projects-{}/environments-{}", plan.project, plan.env).into()
            } else { Value::Null },
            "HasPendingInterruptions": plan.pending_interruption,
            "HasWarningsOrErrors": plan.warnings || matches!(plan.state, State::Failed | State::TimedOut),
        });
        let o = body.as_object_mut().expect("object");
        if plan.kind == TaskKind::Deploy {
            o.insert(
                "ProjectId".into(),
                self.rf("projects", plan.project.into()).into(),
            );
            o.insert("EnvironmentId".into(), self.env_ref(plan.env).into());
        } else {
            o.insert("ProjectId".into(), Value::Null);
            o.insert("EnvironmentId".into(), Value::Null);
        }
        self.emit_history(dump, "ServerTasks", &task_id, plan.queued, body)?;
        // Most tasks have a log; queued ones never do, and every 11th task lost its log.
        if plan.state != State::Queued && n % 11 != 4 {
            self.logs.push(TaskLog {
                task: n,
                kind: plan.kind,
                state: plan.state,
                queued: plan.queued,
                offset: plan.offset,
                duration: if plan.state.finished() {
                    plan.completed - plan.queued
                } else {
                    BASE_MS - plan.queued
                },
                project: plan.project,
                env: plan.env,
                release: plan.release,
                user: plan.user,
            });
        } else {
            self.summary.tasks_without_log += 1;
        }
        Ok(n)
    }

    fn periodic_task<W: Write + Seek>(
        &mut self,
        dump: &mut DumpWriter<'_, W>,
        kind: TaskKind,
        when: i64,
    ) -> io::Result<()> {
        let dur = match kind {
            TaskKind::Health => self.rng.range(20_000, 5 * MINUTE),
            TaskKind::Backup => self.rng.range(MINUTE, 20 * MINUTE),
            _ => self.rng.range(5_000, 2 * MINUTE),
        };
        let machines: Vec<String> = (1..=self.machines.len().min(3) as u64)
            .map(|m| self.rf("machines", m))
            .collect();
        let (description, arguments) = match kind {
            TaskKind::Health => (
                "Check Tentacle health".to_owned(),
                json!({"Timeout": "00:05:00", "EnvironmentId": null}),
            ),
            TaskKind::Backup => ("Backup Octopus database".to_owned(), json!({})),
            TaskKind::Retention => ("Apply retention policies".to_owned(), json!({})),
            TaskKind::Upgrade => (
                "Upgrade Tentacles".to_owned(),
                json!({"MachineIds": machines}),
            ),
            _ => (
                format!("Run script on {} machines", machines.len()),
                json!({"MachineIds": machines, "ScriptBody": "Get-Service | Where-Object { $_.Status -eq 'Running' }\r\nWrite-Host \"C:\\Temp\""}),
            ),
        };
        let user = if matches!(kind, TaskKind::AdHocScript | TaskKind::Upgrade) {
            1
        } else {
            0
        };
        let state = if self.rng.chance(1, 25) {
            State::Failed
        } else {
            State::Success
        };
        let plan = TaskPlan {
            kind,
            state,
            queued: when,
            started: when + self.rng.range(500, 5_000),
            completed: when + dur,
            offset: 600,
            project: 0,
            env: 0,
            release: 0,
            user,
            description,
            arguments,
            warnings: kind == TaskKind::Health && self.rng.chance(1, 4),
            pending_interruption: false,
        };
        let n = self.task(dump, &plan)?;
        if kind == TaskKind::Health && n % 4 == 1 {
            // A system event: no user.
            let m = self.machines.len() as u64;
            let machine = 1 + self.rng.below(m);
            let mname = self.machines[machine as usize - 1].name.clone();
            let mid = id("machines", machine);
            self.event(
                dump,
                when + dur,
                "MachineHealthChanged",
                None,
                format!("Machine {mname} changed health status to Unavailable"),
                vec![mid.clone()],
                &[(&mid, &mname)],
            )?;
        }
        if kind == TaskKind::Health && self.rng.chance(1, 2) {
            let u = self.human();
            let uname = self.users[u as usize - 1].username.clone();
            let uref = self.user_ref(u);
            let at = when + self.rng.range(MINUTE, HOUR);
            self.event(
                dump,
                at,
                "LoginSucceeded",
                Some(u),
                format!("User {uname} logged in"),
                vec![uref.clone()],
                &[(&uref, &uname)],
            )?;
        }
        Ok(())
    }

    fn library_snapshot<W: Write + Seek>(
        &mut self,
        dump: &mut DumpWriter<'_, W>,
        l: u32,
        when: i64,
    ) -> io::Result<String> {
        let lib = &mut self.libs[l as usize - 1];
        lib.uses += 1;
        if let (Some(s), true) = (lib.current, lib.uses < 8) {
            return Ok(format!("variableset-libraryvariablesets-{l}-s-{s}"));
        }
        lib.snapshots += 1;
        lib.uses = 0;
        let s = lib.snapshots;
        lib.current = Some(s);
        let body = self.library_variable_set(l, s + 1, Some(s));
        let doc_id = format!("variableset-libraryvariablesets-{l}-s-{s}");
        self.summary.frozen_variable_sets += 1;
        self.emit(dump, "VariableSets", &doc_id, when, body)?;
        Ok(doc_id)
    }

    pub(super) fn history<W: Write + Seek>(
        &mut self,
        dump: &mut DumpWriter<'_, W>,
    ) -> io::Result<()> {
        let start = BASE_MS - HISTORY_DAYS * DAY;
        let span = (HISTORY_DAYS - 2) * DAY;
        let releases = self.releases_total();
        let scale = i64::from(self.scale);
        let mut next_periodic = [
            (TaskKind::Health, start + 3 * DAY, 30 * DAY / scale),
            (TaskKind::Backup, start + 5 * DAY, 61 * DAY / scale),
            (TaskKind::Retention, start + 9 * DAY, 91 * DAY / scale),
            (TaskKind::AdHocScript, start + 40 * DAY, 365 * DAY / scale),
            (TaskKind::Upgrade, start + 200 * DAY, 400 * DAY / scale),
        ];
        let mut d_index: u64 = 0;
        let last_d = self.planned_deployments();
        let mid = start + span / 2;
        for r in 0..releases {
            let jitter = self.rng.range(-400, 400);
            let mut t_r =
                start + ((r as i64 * 1000 + 500 + jitter) * (span / 1000)) / releases as i64;
            let last_release = r + 1 == releases;
            if last_release {
                t_r = BASE_MS - 5 * HOUR;
            }
            for slot in next_periodic.iter_mut() {
                while slot.1 < t_r {
                    let (kind, when) = (slot.0, slot.1);
                    slot.1 += slot.2 + self.rng.range(-HOUR, HOUR);
                    self.periodic_task(dump, kind, when)?;
                }
            }
            // Pick a project; the archived one only released in the first year.
            let pi = loop {
                let pi = self.rng.below(self.projects.len() as u64) as usize;
                if self.projects[pi].no == ARCHIVED_PROJECT && t_r > mid {
                    continue;
                }
                break pi;
            };
            let n_dep = DEPLOYMENT_PATTERN[(r % 8) as usize];
            self.release(dump, pi, r, t_r, n_dep, &mut d_index, last_d)?;
        }
        // Trailing periodic tasks up to a day before "now".
        for slot in next_periodic.iter_mut() {
            while slot.1 < BASE_MS - DAY {
                let (kind, when) = (slot.0, slot.1);
                slot.1 += slot.2 + self.rng.range(-HOUR, HOUR);
                self.periodic_task(dump, kind, when)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn release<W: Write + Seek>(
        &mut self,
        dump: &mut DumpWriter<'_, W>,
        pi: usize,
        r: u64,
        t_r: i64,
        n_dep: u32,
        d_index: &mut u64,
        last_d: u64,
    ) -> io::Result<()> {
        let (pno, pname) = (self.projects[pi].no, self.projects[pi].name.clone());
        self.projects[pi].snapshots += 1;
        self.projects[pi].releases += 1;
        let snap = self.projects[pi].snapshots;
        let k = self.projects[pi].releases;
        let version = format!("1.{}.{}", k / 10, k);

        // Frozen snapshots first, then the release that names them.
        let libs = self.projects[pi].libs.clone();
        let mut lib_snaps = Vec::new();
        for l in libs {
            lib_snaps.push(self.library_snapshot(dump, l, t_r - MINUTE)?);
        }
        let vs = self.project_variable_set(pi, snap, Some(snap));
        let vs_id = format!("variableset-projects-{pno}-s-{snap}");
        self.summary.frozen_variable_sets += 1;
        self.emit(dump, "VariableSets", &vs_id, t_r - MINUTE, vs)?;
        let dp = self.deployment_process(pi, snap, Some(snap));
        let dp_id = format!("deploymentprocess-projects-{pno}-s-{snap}");
        self.summary.frozen_deployment_processes += 1;
        self.emit(dump, "DeploymentProcesses", &dp_id, t_r - MINUTE, dp)?;

        let rel_no = self.ids.next("releases");
        let rel_id = id("releases", rel_no);
        let author = self.human();
        let offset = self.users[author as usize - 1].offset;
        let notes = if k.is_multiple_of(3) {
            Value::from(format!(
                "Fixes:\n- #{} login | timeout\n- path C:\\Temp handling",
                100 + k
            ))
        } else {
            Value::Null
        };
        let mut body = json!({
            "Version": version,
            "Assembled": ts(t_r, offset),
            "ProjectId": self.rf("projects", pno.into()),
            "ProjectVariableSetSnapshotId": vs_id,
            "ProjectDeploymentProcessSnapshotId": dp_id,
            "LibraryVariableSetSnapshotIds": lib_snaps,
            "ReleaseNotes": notes,
            "SelectedPackages": [{"StepName": "Deploy package", "Version": version}],
        });
        if r == 2 {
            body.as_object_mut()
                .expect("object")
                .insert("Id".into(), format!("Releases-{rel_no}").into());
            self.summary.docs_with_body_id.push(rel_id.clone());
        }
        self.emit_history(dump, "Releases", &rel_id, t_r, body)?;
        let pid = id("projects", pno.into());
        self.event(
            dump,
            t_r + 2_000,
            "Created",
            Some(author),
            format!("Created release {version} for {pname}"),
            vec![rel_id.clone(), pid.clone()],
            &[(&rel_id, &version), (&pid, &pname)],
        )?;

        // Deployments: through the lifecycle's environments; a failure is retried in place.
        let envs = self.projects[pi].envs();
        let manual = self.projects[pi].manual_step;
        let mut env_pos = 0usize;
        let mut t = t_r + self.rng.range(5 * MINUTE, 2 * HOUR);
        for _ in 0..n_dep {
            let d = *d_index;
            *d_index += 1;
            let env = if d + 2 >= last_d {
                3
            } else {
                envs[env_pos.min(envs.len() - 1)]
            };
            let state = if d + 1 == last_d {
                State::Queued
            } else if d + 2 == last_d {
                State::Executing
            } else if d == 5 {
                State::Failed
            } else {
                match self.rng.below(100) {
                    0..=84 => State::Success,
                    85..=92 => State::Failed,
                    93..=96 => State::Canceled,
                    _ => State::TimedOut,
                }
            };
            if d + 2 == last_d {
                t = BASE_MS - 2 * HOUR;
            }
            if d + 1 == last_d {
                t = BASE_MS - 20 * MINUTE;
            }
            let deployer = if self.rng.chance(1, 4) {
                4
            } else {
                self.human()
            };
            let offset = self.users[deployer as usize - 1].offset;
            let started = t + self.rng.range(2_000, 30_000);
            let completed = started + self.rng.range(MINUTE, 15 * MINUTE);
            let interrupted = state == State::Executing || (manual && env == 3 && state.finished());
            let dep_no = self.ids.next("deployments");
            let task_no = self.ids.get("servertasks") + 1;
            let dep_id = id("deployments", dep_no);
            let env_name = self.envs[env as usize - 1].name.clone();
            let plan = TaskPlan {
                kind: TaskKind::Deploy,
                state,
                queued: t,
                started,
                completed,
                offset,
                project: pno,
                env,
                release: k,
                user: deployer,
                description: format!("Deploy {pname} release {version} to {env_name}"),
                arguments: json!({"DeploymentId": dep_id}),
                warnings: self.rng.chance(1, 10),
                pending_interruption: state == State::Executing,
            };
            let specific: Vec<String> = if d % 13 == 4 {
                let m = self
                    .machines
                    .iter()
                    .position(|m| m.envs.contains(&env) && !m.disabled)
                    .map_or(1, |i| i as u64 + 1);
                vec![self.rf("machines", m)]
            } else {
                vec![]
            };
            let body = json!({
                "Name": format!("Deploy to {env_name}"),
                "Created": ts(t, offset),
                "ReleaseId": self.rf("releases", rel_no),
                "EnvironmentId": self.env_ref(env),
                "ProjectId": self.rf("projects", pno.into()),
                "TaskId": self.rf("servertasks", task_no),
                "DeployedBy": self.users[deployer as usize - 1].username.clone(),
                "ForcePackageDownload": false,
                "ForcePackageRedeployment": d.is_multiple_of(9),
                "SkipActions": [],
                "SpecificMachineIds": specific,
                "Comments": if d.is_multiple_of(7) { Value::from("Hotfix for the checkout page") } else { Value::Null },
                "FormValues": {},
                "QueueTime": Value::Null,
            });
            self.emit_history(dump, "Deployments", &dep_id, t, body)?;
            let got = self.task(dump, &plan)?;
            debug_assert_eq!(got, task_no);
            let task_id = id("servertasks", task_no);
            let eid = id("environments", env.into());
            let related = vec![
                dep_id.clone(),
                id("projects", pno.into()),
                rel_id.clone(),
                self.envs[env as usize - 1].own_id.clone(),
                task_id.clone(),
            ];
            if d.is_multiple_of(3) {
                self.event(
                    dump,
                    t + 500,
                    "DeploymentQueued",
                    Some(deployer),
                    format!("Deploy to {env_name} queued for {pname} release {version}"),
                    related.clone(),
                    &[(&eid, &env_name), (&pid, &pname), (&rel_id, &version)],
                )?;
            }
            if interrupted {
                let n = self.ids.next("interruptions");
                let pending = state == State::Executing;
                let created = started + 30_000;
                let title = if pending {
                    format!("Guided failure: {pname} {version} to {env_name}")
                } else {
                    format!("Approve release {version} of {pname} to {env_name}")
                };
                let guid = self.rng.guid();
                let mut body = json!({
                    "Title": title,
                    "Created": ts(created, offset),
                    "IsPending": pending,
                    "Form": {
                        "Values": {"Instructions": null, "Notes": if pending { Value::Null } else { "Looks good | ship it".into() }, "Result": if pending { Value::Null } else { "Proceed".into() }},
                        "Elements": [
                            {"Name": "Instructions", "Control": {"Type": "Paragraph", "Text": "Check the smoke tests, then approve."}},
                            {"Name": "Notes", "Control": {"Type": "TextArea", "Label": "Notes"}},
                            {"Name": "Result", "Control": {"Type": "SubmitButtonGroup", "Buttons": [{"Text": "Proceed", "Value": "Proceed"}, {"Text": "Abort", "Value": "Abort"}]}},
                        ],
                    },
                    "RelatedDocumentIds": related.clone(),
                    "ResponsibleTeamIds": [self.rf("teams", 1)],
                    "TaskId": self.rf("servertasks", task_no),
                    "CorrelationId": format!("{task_id}/{guid}"),
                });
                if !pending {
                    body.as_object_mut()
                        .expect("object")
                        .insert("ResponsibleUserId".into(), self.user_ref(1).into());
                }
                self.emit_history(
                    dump,
                    "Interruptions",
                    &id("interruptions", n),
                    created,
                    body,
                )?;
            }
            if d % ARTIFACT_EVERY == ARTIFACT_AT {
                let a = self.ids.next("artifacts");
                let (filename, _) = Gen::artifact_content(self.seed, a);
                let created = started + 45_000;
                let body = json!({
                    "Filename": filename,
                    "RelatedDocumentIds": related.clone(),
                    "Created": ts(created, offset),
                    "ServerTaskId": self.rf("servertasks", task_no),
                });
                self.emit_history(dump, "Artifacts", &id("artifacts", a), created, body)?;
            }
            if state.finished() {
                let (cat, verb) = match state {
                    State::Success => ("DeploymentSucceeded", "succeeded"),
                    State::Canceled => ("TaskCanceled", "was canceled"),
                    _ => ("DeploymentFailed", "failed"),
                };
                self.event(
                    dump,
                    completed,
                    cat,
                    Some(deployer),
                    format!(
                        "Deploy to {env_name} {verb} for {pname} release {version} to {env_name}"
                    ),
                    related,
                    &[(&eid, &env_name), (&pid, &pname), (&rel_id, &version)],
                )?;
            }
            if state == State::Success {
                env_pos += 1;
            }
            t = completed + self.rng.range(10 * MINUTE, 30 * HOUR);
        }
        Ok(())
    }

    /// The live variable sets and deployment processes (recently modified: after the history),
    /// an unknown collection, RavenDB system documents.
    pub(super) fn tail<W: Write + Seek>(&mut self, dump: &mut DumpWriter<'_, W>) -> io::Result<()> {
        let when = BASE_MS - 3 * DAY;
        for pi in 0..self.projects.len() {
            let no = self.projects[pi].no;
            let version = self.projects[pi].snapshots + 1;
            let vs = self.project_variable_set(pi, version, None);
            self.emit(
                dump,
                "VariableSets",
                &format!("variableset-projects-{no}"),
                when,
                vs,
            )?;
            let dp = self.deployment_process(pi, version, None);
            self.emit(
                dump,
                "DeploymentProcesses",
                &format!("deploymentprocess-projects-{no}"),
                when,
                dp,
            )?;
            if no == FTP_PROJECT {
                self.summary.ftp = FtpStep {
                    project_id: id("projects", no.into()),
                    project_name: self.projects[pi].name.clone(),
                    process_id: format!("deploymentprocess-projects-{no}"),
                    step_name: FTP_STEP.into(),
                    action_name: FTP_ACTION.into(),
                    action_type: "Octopus.Ftp".into(),
                };
            }
        }
        self.emit(
            dump,
            "OctopusServerNodes",
            "octopusservernodes-1",
            when,
            json!({"Name": "OCTOPUS01", "LastSeen": ts(BASE_MS - HOUR, 600), "MaxConcurrentTasks": 5}),
        )?;
        self.summary
            .unknown_collections
            .push("OctopusServerNodes".into());
        self.emit_system(
            dump,
            "Raven/ServerPrefixForHilo",
            None,
            json!({"ServerPrefix": ""}),
        )?;
        for (i, prefix) in HILO.iter().enumerate() {
            let highest = self.ids.get(prefix);
            let max = (highest / 32 + 1) * 32;
            let name = if *prefix == "events" {
                "Events".to_owned()
            } else {
                (*prefix).to_owned()
            };
            let entity = if i == 0 { Some(Value::Null) } else { None };
            self.emit_system(
                dump,
                &format!("Raven/Hilo/{name}"),
                entity,
                json!({"Max": max}),
            )?;
            self.summary.hilo.insert(name, max);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ activity logs

    pub(super) fn activity_logs<W: Write + Seek>(
        &mut self,
        bw: &mut BackupWriter<W>,
    ) -> io::Result<()> {
        let logs = std::mem::take(&mut self.logs);
        for (j, log) in logs.iter().enumerate() {
            let gzip = j % 3 == 1;
            let task_id = id("servertasks", log.task);
            let entry_id = if j == 5 {
                format!("ServerTasks-{}", log.task)
            } else {
                task_id.clone()
            };
            let text = self.log_text(log, j);
            bw.write_activity_log(&entry_id, text.as_bytes(), gzip)?;
            self.summary.activity_logs += 1;
            if gzip {
                self.summary.gzipped_activity_logs += 1;
            }
        }
        Ok(())
    }

    fn log_text(&mut self, log: &TaskLog, j: usize) -> String {
        let mut r = SplitMix64::derive(self.seed, 20, log.task);
        let task_id = id("servertasks", log.task);
        let mut out = String::new();
        let mut t = log.queued;
        let end = log.queued + log.duration.max(1000);
        let mut lines: Vec<(String, i32, bool, String)> = Vec::new(); // (correlation, category, actor, message)
        let root = task_id.clone();
        let g1 = format!("{root}/{}", r.guid());
        match log.kind {
            TaskKind::Deploy => {
                let p = &self.projects[log.project as usize - 1];
                let env = &self.envs[log.env as usize - 1].name;
                let version = format!("1.{}.{}", log.release / 10, log.release);
                lines.push((
                    root.clone(),
                    200,
                    true,
                    format!("Deploy {} release {version} to {env}", p.name),
                ));
                lines.push((g1.clone(), 200, false, "Acquire packages".into()));
                let g2 = format!("{g1}/{}", r.guid());
                lines.push((
                    g2.clone(),
                    100,
                    false,
                    format!(
                        "Downloading package {} version {version} from feed: '{}'",
                        p.name.replace(' ', "."),
                        if p.feed == "feeds-builtin" {
                            "http://octopus.acme.example/nuget/packages"
                        } else {
                            "https://www.myget.org/F/acme/api/v2"
                        }
                    ),
                ));
                lines.push((
                    g2,
                    100,
                    false,
                    format!(
                        "Package cached at C:\\Octopus\\Files\\{}.{version}.nupkg",
                        p.slug
                    ),
                ));
                let g3 = format!("{root}/{}", r.guid());
                lines.push((g3.clone(), 200, false, "Step 1: Deploy package".into()));
                for (mi, m) in self.machines.iter().enumerate() {
                    if !m.envs.contains(&log.env) || m.disabled || mi > 6 {
                        continue;
                    }
                    let g4 = format!("{g3}/{}", r.guid());
                    let dir = format!("C:\\Octopus\\Applications\\{env}\\{}\\{version}", p.name);
                    lines.push((
                        g4.clone(),
                        200,
                        false,
                        format!(
                            "Deploying package to {} ({})",
                            m.name,
                            if m.listening { "listening" } else { "polling" }
                        ),
                    ));
                    lines.push((
                        g4.clone(),
                        100,
                        false,
                        format!("Extracted {} files to {dir}", r.range(5, 400)),
                    ));
                    lines.push((g4.clone(), 100, false, format!("Running script 'Deploy.ps1':\nWrite-Host \"Hello | world\"\nexit 0\nRoles: {}", m.roles.join(", "))));
                    if r.chance(1, 4) {
                        lines.push((g4.clone(), 300, false, "Warning: IIS site 'Acme' not found; creating it\t(at C:\\inetpub\\wwwroot)".into()));
                    }
                    for _ in 0..r.below(4) {
                        lines.push((
                            g4.clone(),
                            100,
                            false,
                            format!(
                                "Transforming web.{}.config | {} bytes",
                                env,
                                r.below(20_000)
                            ),
                        ));
                    }
                }
                match log.state {
                    State::Failed | State::TimedOut => {
                        lines.push((g3.clone(), 400, false, "Error: script returned exit code 1 | see the output above\r\nat Deploy.ps1:12".into()));
                        lines.push((
                            root.clone(),
                            500,
                            false,
                            "The deployment failed because one or more steps failed.".into(),
                        ));
                    }
                    State::Canceled => lines.push((
                        root.clone(),
                        250,
                        true,
                        "The task was canceled by a user".into(),
                    )),
                    State::Executing => lines.push((
                        g3,
                        250,
                        false,
                        "Waiting for manual intervention \u{2014} guided failure".into(),
                    )),
                    _ => lines.push((
                        root.clone(),
                        200,
                        false,
                        "Deployment completed successfully \u{2714}".into(),
                    )),
                }
            }
            TaskKind::Health => {
                lines.push((root.clone(), 200, false, "Checking Tentacle health".into()));
                for m in self.machines.iter().take(8) {
                    let g = format!("{g1}/{}", r.guid());
                    if m.disabled {
                        lines.push((g, 300, false, format!("{} is disabled; skipping", m.name)));
                    } else {
                        lines.push((
                            g,
                            100,
                            false,
                            format!("{}: Tentacle version 2.6.5.1010 | OK", m.name),
                        ));
                    }
                }
            }
            _ => {
                lines.push((
                    root.clone(),
                    200,
                    log.user != 0,
                    format!("{} started", log.kind.name()),
                ));
                for i in 0..r.range(2, 8) {
                    lines.push((
                        g1.clone(),
                        100,
                        false,
                        format!(
                            "Working: item {i} of C:\\Octopus\\Data\\path\\n (literal backslash-n)"
                        ),
                    ));
                }
                lines.push((
                    root.clone(),
                    200,
                    false,
                    format!("{} finished", log.kind.name()),
                ));
            }
        }
        let total = lines.len() as i64;
        let step = ((end - t) / (total + 1)).max(1);
        let unparsable = j % 40 == 3 || j == 23;
        let bad_at = if j == 23 { 0 } else { (lines.len() / 2).max(1) };
        for (i, (corr, cat, actor, msg)) in lines.iter().enumerate() {
            if unparsable && i == bad_at {
                let bad = if j == 23 || (j / 40).is_multiple_of(2) {
                    "System.IO.IOException: The process cannot access the file because it is being used by another process.".to_owned()
                } else {
                    format!("{corr}|2015-13-45T99:99:99+00:00|200||\"Clock skew detected\"")
                };
                out.push_str(&bad);
                out.push('\n');
                self.summary.unparsable_log_lines += 1;
                self.summary
                    .unparsable_examples
                    .push((task_id.clone(), bad));
                self.summary.log_lines += 1;
            }
            t += r.range(step / 2, step + 1);
            let actor = if *actor && log.user != 0 {
                id("users", log.user.into())
            } else {
                String::new()
            };
            let msg_json = serde_json::to_string(msg).expect("a string serializes");
            out.push_str(&format!(
                "{corr}|{}|{cat}|{actor}|{msg_json}\n",
                ts3(t, log.offset)
            ));
            self.summary.log_lines += 1;
        }
        out
    }

    pub(super) fn into_summary(mut self) -> SampleSummary {
        self.summary.secrets = std::mem::take(&mut self.secrets).into_iter().collect();
        self.summary
    }
}

/// The `"Indexes"` of the sample dump (skipped by readers).
pub(super) fn sample_indexes() -> Vec<Value> {
    vec![
        json!({
            "name": "Raven/DocumentsByEntityName",
            "definition": {
                "IndexId": 1,
                "Name": "Raven/DocumentsByEntityName",
                "LockMode": "LockedIgnore",
                "Map": "from doc in docs \r\nlet Tag = doc[\"@metadata\"][\"Raven-Entity-Name\"]\r\nselect new { Tag, LastModified = (DateTime)doc[\"@metadata\"][\"Last-Modified\"] };",
                "Maps": ["from doc in docs \r\nlet Tag = doc[\"@metadata\"][\"Raven-Entity-Name\"]\r\nselect new { Tag };"],
                "Reduce": null,
                "IsMapReduce": false,
                "Indexes": {"Tag": "NotAnalyzed"},
                "Stores": {},
                "Fields": ["Tag", "LastModified", "__document_id"],
            }
        }),
        json!({
            "name": "ServerTasks/ByState",
            "definition": {
                "IndexId": 7,
                "Name": "ServerTasks/ByState",
                "Map": "from t in docs.ServerTasks select new { t.State, t.QueueTime }",
                "Maps": ["from t in docs.ServerTasks select new { t.State, t.QueueTime }"],
                "Reduce": null,
                "IsMapReduce": false,
                "Indexes": {},
                "Stores": {},
                "Fields": ["State", "QueueTime"],
            }
        }),
    ]
}

/// Writes the dump's attachments (one per artifact).
pub(super) fn write_attachments<W: Write + Seek>(
    dump: &mut DumpWriter<'_, W>,
    seed: u64,
    count: u64,
) -> io::Result<()> {
    for k in 1..=count {
        let (filename, data) = Gen::artifact_content(seed, k);
        let meta = json!({"Raven-Content-Type": "application/octet-stream", "Filename": filename});
        dump.write_attachment(&Gen::artifact_key(k), &meta, &data)?;
    }
    Ok(())
}

/// Whether the dump entry of these options may pass 4 GiB and so must be written as ZIP64
/// (a generous estimate: a plain dump is ~0.5 MB per unit of scale, a gzipped one ~60 KB).
pub(super) fn needs_zip64(opts: &SampleOptions) -> bool {
    let per_scale: u64 = if opts.gzip_dump { 150_000 } else { 1_500_000 };
    u64::from(opts.scale) * per_scale > 3 * (1 << 30)
}
