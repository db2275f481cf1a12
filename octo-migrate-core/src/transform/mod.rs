//! Pass 2: one 2.6 document in, 3.x rows out (docs/mapping.md). References are rewritten where they
//! stand, sensitive values are re-encrypted, every property without a column of its own goes
//! into `JSON` (including properties docs/mapping.md does not name), and problems are collected
//! rather than thrown, so the preflight can report all of them at once.

mod refs;
mod secrets;
pub mod task_log;
pub mod values;

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::collections::{self, Collection, Kind};
use crate::crypto::MasterKey;
use crate::ids::id_hash;
use crate::ids::rewrite_id;
use crate::index::Index;
use crate::parse::{Body, Document};
use crate::preflight::Problem;
use crate::report::{RemovedAction, Report, Tentacle, Unknown, EXAMPLES};
use crate::schema::{Row, SqlType, Table, Value};

use crate::schema::json_text;
use values::to_column;

/// \[public\] Action types Octopus 3.0 dropped (docs/mapping.md "Steps that 3.x does not support").
pub const UNSUPPORTED_ACTION_TYPES: &[&str] = &["Octopus.Ftp", "Octopus.Azure"];

/// \[public\] Permissions 3.0 added, granted to every role that could administer the system.
pub const PERMISSIONS_ADDED_FOR_ADMINS: &[&str] = &["AccountView", "AccountEdit"];

/// \[model\] Endpoint `$type`s for the two 2.6 communication styles.
pub const ENDPOINT_TYPES: &[(&str, &str)] = &[
    (
        "TentaclePassive",
        "Octopus.Core.Model.Environments.Endpoints.ListeningTentacleEndpoint, Octopus.Core",
    ),
    (
        "TentacleActive",
        "Octopus.Core.Model.Environments.Endpoints.PollingTentacleEndpoint, Octopus.Core",
    ),
];

/// \[model\] 3.x `ContentType` of library variable sets, which 2.6 did not have.
pub const DEFAULT_LIBRARY_CONTENT_TYPE: &str = "Variables";

/// \[public\] Task states Octopus leaves out of DeploymentHistory.
pub const HISTORY_EXCLUDED_STATES: &[&str] = &["Queued", "Cancelling", "Executing"];

/// \[model\] Namespace of the deterministic `IdentificationToken` of users that have none.
pub const USER_TOKEN_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6f63746f_2d6d_6967_7261_746575736572);

/// What the transform needs besides the document.
pub struct Context<'a> {
    /// Pass 1's index.
    pub index: &'a Index,
    /// The 2.6 master key.
    pub source_key: &'a MasterKey,
    /// The 3.x master key for re-encryption.
    pub target_key: &'a MasterKey,
    /// Remove FTP/Azure actions instead of refusing.
    pub skip_unsupported_steps: bool,
}

/// What became of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Rows were produced.
    Migrated,
    /// Not migrated on purpose.
    Skipped(&'static str),
    /// A preflight problem was recorded.
    Failed,
    /// Left out by `--maxage`.
    Filtered,
    /// A RavenDB system document (not counted in any collection).
    System,
}

/// The transform's output for a batch of documents (per worker; merged by the pipeline).
#[derive(Debug, Default)]
pub struct Output {
    /// Rows to write.
    pub rows: Vec<Row>,
    /// Preflight problems.
    pub problems: Vec<Problem>,
    /// Report fields the transform fills: collections, dangling, re-encrypted, tentacles, ...
    pub report: Report,
    /// Highest id number migrated per table.
    pub max_ids: BTreeMap<Table, u64>,
    /// Migrated server tasks (3.x ids), for their logs.
    pub tasks: Vec<String>,
    /// Migrated artifacts: (3.x id, file name).
    pub artifacts: Vec<(String, String)>,
}

impl Output {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: Output) {
        self.rows.extend(other.rows);
        self.problems.extend(other.problems);
        self.report += other.report;
        for (t, n) in other.max_ids {
            let e = self.max_ids.entry(t).or_insert(0);
            *e = (*e).max(n);
        }
        self.tasks.extend(other.tasks);
        self.artifacts.extend(other.artifacts);
    }
}

/// Per-document state while it is transformed.
pub(crate) struct Doc<'c, 'o> {
    pub ctx: &'c Context<'c>,
    pub out: &'o mut Output,
    /// 2.6 id as written.
    pub id: String,
    pub collection: &'static Collection,
    pub failed: bool,
}

impl Doc<'_, '_> {
    pub fn problem(&mut self, p: Problem) {
        self.failed = true;
        self.out.problems.push(p);
    }
    pub fn unmappable(&mut self, reason: impl Into<String>) {
        let doc_id = self.id.clone();
        self.problem(Problem::Unmappable {
            doc_id,
            reason: reason.into(),
        });
    }
}

/// Transforms one document, appending rows and findings to `out`.
pub fn transform(doc: Document, ctx: &Context<'_>, out: &mut Output) -> Disposition {
    let lower = doc.id.to_lowercase();
    if lower.starts_with(crate::layout::SYSTEM_DOC_PREFIX) {
        return Disposition::System;
    }
    let Some(collection) = doc.collection.as_deref().and_then(collections::by_name) else {
        let name = doc
            .collection
            .clone()
            .unwrap_or_else(|| "(none)".to_owned());
        let u: &mut Unknown = out
            .report
            .unknown_collections
            .entry(name.clone())
            .or_default();
        u.count += 1;
        if u.first_ids.len() < EXAMPLES {
            u.first_ids.push(doc.id.clone());
        }
        let s = out.report.collections.entry(name).or_default();
        s.read += 1;
        s.skipped += 1;
        *s.skipped_reasons
            .entry("unknown collection".into())
            .or_insert(0) += 1;
        return Disposition::Skipped("unknown collection");
    };
    let name = collection.name;
    if !ctx
        .index
        .history
        .keep(name, collection.kind, &doc.id, &doc.body)
    {
        let s = out.report.collections.entry(name.to_owned()).or_default();
        s.read += 1;
        s.filtered_by_maxage += 1;
        return Disposition::Filtered;
    }
    let disposition = {
        let mut d = Doc {
            ctx,
            out,
            id: doc.id,
            collection,
            failed: false,
        };
        let res = transform_known(&mut d, doc.body);
        if d.failed {
            Disposition::Failed
        } else {
            res
        }
    };
    let s = out.report.collections.entry(name.to_owned()).or_default();
    s.read += 1;
    match &disposition {
        Disposition::Migrated => s.migrated += 1,
        Disposition::Skipped(r) => {
            s.skipped += 1;
            *s.skipped_reasons.entry((*r).to_owned()).or_insert(0) += 1;
        }
        Disposition::Failed => s.failed += 1,
        Disposition::Filtered | Disposition::System => {}
    }
    disposition
}

fn transform_known(d: &mut Doc<'_, '_>, mut body: Body) -> Disposition {
    let c = d.collection;
    let Some(table) = c.table else {
        // RetentionPolicies: 3.x keeps retention on lifecycles.
        let name = body
            .get("Name")
            .and_then(Json::as_str)
            .unwrap_or(&d.id)
            .to_owned();
        d.out.report.retention_policies_not_migrated.push(name);
        return Disposition::Skipped("3.x keeps retention on lifecycles");
    };
    let new_id = d.ctx.index.id_map.map(rewrite_id(&d.id));
    refs::rewrite_top_level(d, &mut body);
    let mut derived: Vec<(&'static str, Value)> = Vec::new();
    let mut extra_rows: Vec<Row> = Vec::new();
    match c.name {
        "Projects" => {
            let has_slug = body
                .get("Slug")
                .and_then(Json::as_str)
                .is_some_and(|s| !s.is_empty());
            if !has_slug {
                let name = body.get("Name").and_then(Json::as_str).unwrap_or("");
                derived.push(("Slug", Value::Text(crate::ids::slugify(name))));
            }
        }
        "Machines" => machine(d, &new_id, &mut body),
        "Lifecycles" => refs::rewrite_lifecycle(d, &mut body),
        "VariableSets" => secrets::variables(d, &mut body),
        "DeploymentProcesses" => {
            if !body.contains_key("OwnerId") {
                if let Some(p) = body.shift_remove("ProjectId") {
                    body.insert("OwnerId", p);
                }
            }
            steps(d, &mut body);
        }
        "LibraryVariableSets" if body.get("ContentType").is_none_or(Json::is_null) => {
            derived.push((
                "ContentType",
                Value::Text(DEFAULT_LIBRARY_CONTENT_TYPE.into()),
            ));
        }
        "Feeds" => secrets::field(d, &mut body, "Password"),
        "Certificates" => secrets::field(d, &mut body, "Certificate"),
        "SmtpConfigurations" => secrets::field(d, &mut body, "SmtpPassword"),
        "Users" if body.get("IdentificationToken").is_none_or(Json::is_null) => {
            let token = uuid::Uuid::new_v5(&USER_TOKEN_NAMESPACE, new_id.as_bytes());
            derived.push(("IdentificationToken", Value::Guid(token)));
        }
        "UserRoles" => {
            if let Some(Json::Array(perms)) = body.get_mut("GrantedPermissions") {
                if perms.iter().any(|p| p.as_str() == Some("AdministerSystem")) {
                    for add in PERMISSIONS_ADDED_FOR_ADMINS {
                        if !perms.iter().any(|p| p.as_str() == Some(add)) {
                            perms.push(Json::String((*add).to_owned()));
                        }
                    }
                }
            }
        }
        "Deployments" => deployment(d, &new_id, &body, &mut derived, &mut extra_rows),
        "Events" => {
            let related = related_ids(&body);
            project_environment(&related, &mut derived);
            for r in &related {
                extra_rows.push(Row {
                    table: Table::EventRelatedDocument,
                    values: vec![Value::Text(r.clone()), Value::Text(new_id.clone())],
                });
            }
        }
        "Artifacts" | "Interruptions" => {
            let related = related_ids(&body);
            project_environment(&related, &mut derived);
            if c.name == "Interruptions" {
                let pending = body
                    .get("IsPending")
                    .and_then(Json::as_bool)
                    .unwrap_or(false);
                let status = if pending { "Pending" } else { "Resolved" };
                derived.push(("Status", Value::Text(status.into())));
            }
        }
        _ => {}
    }
    if d.failed {
        return Disposition::Failed;
    }
    let row = match c.kind {
        Kind::Singleton(row_id) => Row {
            table,
            values: vec![
                Value::Text(row_id.to_owned()),
                Value::Text(json_text(&body)),
            ],
        },
        _ => {
            derived.push(("Id", Value::Text(new_id.clone())));
            match build_row(table, &mut body, derived) {
                Ok(r) => r,
                Err(reason) => {
                    d.unmappable(reason);
                    return Disposition::Failed;
                }
            }
        }
    };
    for r in std::iter::once(&row).chain(&extra_rows) {
        match check_lengths(r) {
            Ok(()) => {}
            Err(Misfit::Int(reason)) => d.unmappable(reason),
            Err(Misfit::TooLong {
                column,
                max,
                length,
            }) => {
                let doc_id = d.id.clone();
                d.problem(Problem::TooLong {
                    doc_id,
                    table: r.table.name().to_owned(),
                    column: column.to_owned(),
                    max,
                    length,
                });
            }
        }
    }
    if let Some(clash) = d.ctx.index.name_clashes.get(&id_hash(&d.id)) {
        let doc_id = d.id.clone();
        d.problem(Problem::DuplicateName {
            doc_id,
            table: clash.table.name().to_owned(),
            column: clash.column.to_owned(),
            name: clash.name.clone(),
            others: clash.others.clone(),
        });
    }
    let number = crate::ids::numbered(&new_id).map(|(_, n)| n);
    if let Some(n) = number.filter(|n| *n > SQL_INT_MAX as u64) {
        // KeyAllocation.Allocated, which must reach above every id number, is an int.
        d.unmappable(format!(
            "its id number {n} is beyond SQL Server's int (at most {SQL_INT_MAX}), which \
             KeyAllocation.Allocated holds, so 3.x could not allocate ids after it"
        ));
    }
    if d.failed {
        return Disposition::Failed;
    }
    if let Some(n) = number {
        let e = d.out.max_ids.entry(table).or_insert(0);
        *e = (*e).max(n);
    }
    match c.name {
        "ServerTasks" => d.out.tasks.push(new_id.clone()),
        "Artifacts" => {
            if let Some(Value::Text(f)) = row.get("Filename") {
                d.out.artifacts.push((new_id.clone(), f.clone()));
            }
        }
        "Licenses" => d.out.report.license = Some("imported".into()),
        _ => {}
    }
    d.out.rows.push(row);
    d.out.rows.extend(extra_rows);
    Disposition::Migrated
}

/// The largest SQL Server `int` (the smallest is `-SQL_INT_MAX - 1`).
pub const SQL_INT_MAX: i64 = i32::MAX as i64;

/// A value that does not fit its column.
enum Misfit {
    /// An integer beyond `int`: why, in words.
    Int(String),
    /// A text longer than its `nvarchar(n)`, in UTF-16 units.
    TooLong {
        column: &'static str,
        max: u32,
        length: usize,
    },
}

/// Every text fits its `nvarchar(n)` column: SQL Server would refuse (or a careless loader
/// truncate) a longer value, so it is a preflight problem naming the column. Lengths are in
/// UTF-16 code units, as SQL Server counts them. Likewise every integer fits its `int` column
/// (SQLite would take any 64-bit value).
fn check_lengths(row: &Row) -> Result<(), Misfit> {
    for (col, v) in row.table.def().value_columns().zip(&row.values) {
        if let (SqlType::Int, Value::Int(i)) = (col.ty, v) {
            if i32::try_from(*i).is_err() {
                return Err(Misfit::Int(format!(
                    "{}.{} is int but the value {i} is beyond SQL Server's int ({} to {SQL_INT_MAX})",
                    row.table,
                    col.name,
                    -SQL_INT_MAX - 1
                )));
            }
        }
        if let (SqlType::NVarChar(Some(max)), Value::Text(t)) = (col.ty, v) {
            // Cheap bound first: UTF-16 units never exceed UTF-8 bytes.
            if t.len() > max as usize {
                let units = t.encode_utf16().count();
                if units > max as usize {
                    return Err(Misfit::TooLong {
                        column: col.name,
                        max,
                        length: units,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Fills a row: `derived` values first, then each column from the property of the same name
/// (removed from `body`), then `JSON` from what is left.
fn build_row(
    table: Table,
    body: &mut Body,
    derived: Vec<(&'static str, Value)>,
) -> Result<Row, String> {
    let def = table.def();
    let mut values = Vec::with_capacity(def.columns.len());
    for col in def.columns {
        if col.ty == SqlType::Identity {
            continue;
        }
        if col.name == "JSON" {
            values.push(Value::Null); // filled below, once every column has taken its property
            continue;
        }
        let prop = body.shift_remove(col.name);
        if let Some((_, v)) = derived.iter().find(|(n, _)| *n == col.name) {
            values.push(v.clone());
        } else {
            values.push(to_column(col, prop)?);
        }
    }
    if let Some(i) = table.column_index("JSON") {
        values[i] = Value::Text(json_text(body));
    }
    Ok(Row { table, values })
}

/// `RelatedDocumentIds` after rewriting.
fn related_ids(body: &Body) -> Vec<String> {
    match body.get("RelatedDocumentIds") {
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// 3.x ProjectId/EnvironmentId: the first related id of that collection (docs/mapping.md).
fn project_environment(related: &[String], derived: &mut Vec<(&'static str, Value)>) {
    for (col, coll) in [("ProjectId", "Projects"), ("EnvironmentId", "Environments")] {
        if let Some(id) = related
            .iter()
            .find(|r| crate::ids::collection_of_id(r).is_some_and(|c| c.name == coll))
        {
            derived.push((col, Value::Text(id.clone())));
        }
    }
}

fn machine(d: &mut Doc<'_, '_>, id: &str, body: &mut Body) {
    let style = body.shift_remove("CommunicationStyle");
    let uri = body.shift_remove("Uri");
    let thumb = body.shift_remove("Thumbprint");
    let style_s = style
        .as_ref()
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_owned();
    let Some((_, ty)) = ENDPOINT_TYPES.iter().find(|(s, _)| *s == style_s) else {
        d.unmappable(format!(
            "Machine CommunicationStyle {style_s:?} is neither TentaclePassive (listening) nor TentacleActive (polling)"
        ));
        return;
    };
    let mut ep = Map::new();
    ep.insert("$type".into(), Json::String((*ty).to_owned()));
    ep.insert("CommunicationStyle".into(), Json::String(style_s.clone()));
    ep.insert("Uri".into(), uri.clone().unwrap_or(Json::Null));
    ep.insert("Thumbprint".into(), thumb.clone().unwrap_or(Json::Null));
    body.insert("Endpoint", Json::Object(ep));
    let strs = |v: Option<&Json>| -> Vec<String> {
        match v {
            Some(Json::Array(a)) => a
                .iter()
                .filter_map(Json::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    };
    d.out.report.tentacles.push(Tentacle {
        id: id.to_owned(),
        name: body
            .get("Name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned(),
        uri: uri.as_ref().and_then(Json::as_str).unwrap_or("").to_owned(),
        thumbprint: thumb
            .as_ref()
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned(),
        mode: if style_s == "TentaclePassive" {
            "listening"
        } else {
            "polling"
        }
        .to_owned(),
        environment_names: strs(body.get("EnvironmentIds"))
            .iter()
            .map(|e| {
                let id = rewrite_id(e);
                d.ctx.index.environments.get(&id).cloned().unwrap_or(id)
            })
            .collect(),
        environments: strs(body.get("EnvironmentIds")),
        roles: strs(body.get("Roles")),
        disabled: body
            .get("IsDisabled")
            .and_then(Json::as_bool)
            .unwrap_or(false),
    });
}

/// Deployment steps: rewrite action references, re-encrypt sensitive properties, and handle
/// unsupported action types.
fn steps(d: &mut Doc<'_, '_>, body: &mut Body) {
    let process_id = d.ctx.index.id_map.map(rewrite_id(&d.id));
    let owner = body
        .get("OwnerId")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_owned();
    let project = d
        .ctx
        .index
        .projects
        .get(d.ctx.index.id_map.original(&rewrite_id(&owner)))
        .map(|p| p.name.clone())
        .unwrap_or_else(|| owner.clone());
    let Some(Json::Array(steps)) = body.get_mut("Steps") else {
        return;
    };
    let mut kept_steps = Vec::with_capacity(steps.len());
    for (si, mut step) in std::mem::take(steps).into_iter().enumerate() {
        let step_name = step
            .get("Name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned();
        let mut removed_any = false;
        let mut removed = Vec::new();
        if let Some(Json::Array(actions)) = step.get_mut("Actions") {
            let mut kept = Vec::with_capacity(actions.len());
            for (ai, mut action) in std::mem::take(actions).into_iter().enumerate() {
                let ty = action
                    .get("ActionType")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_owned();
                let name = action
                    .get("Name")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_owned();
                if UNSUPPORTED_ACTION_TYPES.contains(&ty.as_str()) {
                    if d.ctx.skip_unsupported_steps {
                        removed_any = true;
                        removed.push((name, ty));
                        continue;
                    }
                    d.problem(Problem::UnsupportedStep {
                        process_id: process_id.clone(),
                        project: project.clone(),
                        step: step_name.clone(),
                        action: name,
                        action_type: ty,
                    });
                }
                let path = format!("Steps[{si}].Actions[{ai}]");
                refs::rewrite_action(d, &mut action);
                secrets::action(d, &mut action, &path);
                kept.push(action);
            }
            let empty = kept.is_empty();
            *actions = kept;
            if removed_any {
                for (action, action_type) in removed {
                    d.out.report.removed_actions.push(RemovedAction {
                        process_id: process_id.clone(),
                        project: project.clone(),
                        step: step_name.clone(),
                        action,
                        action_type,
                        step_removed: empty,
                    });
                }
                if empty {
                    continue;
                }
            }
        }
        kept_steps.push(step);
    }
    if let Some(Json::Array(steps)) = body.get_mut("Steps") {
        *steps = kept_steps;
    }
}

fn deployment(
    d: &mut Doc<'_, '_>,
    id: &str,
    body: &Body,
    derived: &mut Vec<(&'static str, Value)>,
    extra: &mut Vec<Row>,
) {
    let idx = d.ctx.index;
    let s = |k: &str| body.get(k).and_then(Json::as_str).unwrap_or("").to_owned();
    // References in `body` are target ids already; the index knows the backup's.
    let backup_id = |id: &str| idx.id_map.original(&rewrite_id(id)).to_owned();
    let project_id = s("ProjectId");
    let project = idx.projects.get(&backup_id(&project_id));
    derived.push((
        "ProjectGroupId",
        Value::Text(
            project
                .map(|p| idx.id_map.map(p.group_id.clone()))
                .unwrap_or_default(),
        ),
    ));
    let task_id = s("TaskId");
    let Some(task) = idx.task(id_hash(&backup_id(&task_id))) else {
        return; // no task, no history row (its reference is reported as dangling)
    };
    let state = idx.task_state(task);
    if HISTORY_EXCLUDED_STATES.contains(&state) {
        return;
    }
    let (Some(created), Some(queue)) = (
        body.get("Created")
            .and_then(Json::as_str)
            .and_then(|c| crate::schema::parse_datetime(c).ok()),
        task.queue_time(),
    ) else {
        return;
    };
    let env_id = s("EnvironmentId");
    let release_id = s("ReleaseId");
    let dt = |o: Option<chrono::DateTime<chrono::FixedOffset>>| {
        o.map(Value::DateTime).unwrap_or(Value::Null)
    };
    let duration = match (task.start_time(), task.completed_time()) {
        (Some(a), Some(b)) => Value::Int((b - a).num_seconds()),
        _ => Value::Null,
    };
    let deployed_by = match body.get("DeployedBy").and_then(Json::as_str) {
        Some(s) => Value::Text(s.to_owned()),
        None => Value::Null,
    };
    extra.push(Row {
        table: Table::DeploymentHistory,
        values: vec![
            Value::Text(id.to_owned()),
            Value::Text(s("Name")),
            Value::Text(project_id),
            Value::Text(project.map(|p| p.name.clone()).unwrap_or_default()),
            Value::Text(project.map(|p| p.slug.clone()).unwrap_or_default()),
            Value::Text(env_id.clone()),
            Value::Text(
                idx.environments
                    .get(&backup_id(&env_id))
                    .cloned()
                    .unwrap_or_default(),
            ),
            Value::Text(release_id.clone()),
            Value::Text(
                idx.releases
                    .get(&id_hash(&backup_id(&release_id)))
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            ),
            Value::Text(task_id),
            Value::Text(state.to_owned()),
            Value::DateTime(created),
            Value::DateTime(queue),
            dt(task.start_time()),
            dt(task.completed_time()),
            duration,
            deployed_by,
        ],
    });
}
