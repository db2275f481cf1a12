//! Merging into a target that already holds Octopus data (`--overwrite`, `--nooverwrite`;
//! docs/cli.md). Two steps, both here:
//!
//! 1. Before pass 2, [`plan`] matches the backup's named documents to the target's rows by name
//!    (case-insensitive, as Octopus compares names) and decides each one's 3.x id: the target's
//!    id when the name is there, its own id when that is free, a new id above everything in use
//!    otherwise. The transform rewrites ids and references through the resulting [`IdMap`].
//! 2. During pass 2, [`Merger::write`] replaces the sink's plain insert: rows found by primary
//!    key are replaced (`--overwrite`) or left alone (`--nooverwrite`); derived rows follow
//!    their parent; teams keep their members and variable sets their variables; the license is
//!    only imported into a target that has none.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

use crate::error::Result;
use crate::ids::{release_key, IdMap};
use crate::index::Index;
use crate::report::MergeReport;
use crate::schema::match_column;
use crate::schema::{Row, Table, Value};
use crate::sink::MergeSink;

/// How the backup's rows meet a target's rows with the same key (the public face is
/// [`crate::pipeline::Merge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The backup wins on matching documents; teams and variable sets are merged.
    Overwrite,
    /// The target wins; only documents it does not have are inserted.
    Keep,
}

/// The target's match keys of `table`: (`Id`, key).
fn target_keys(sink: &mut dyn MergeSink, table: Table) -> Result<Vec<(String, String)>> {
    if let Some(col) = match_column(table) {
        return Ok(sink
            .names(table, col)?
            .into_iter()
            .map(|(id, n)| (id, n.to_lowercase()))
            .collect());
    }
    // Release: the two key columns, joined by id.
    let projects: HashMap<String, String> = sink.names(table, "ProjectId")?.into_iter().collect();
    Ok(sink
        .names(table, "Version")?
        .into_iter()
        .filter_map(|(id, v)| {
            let key = release_key(&v, projects.get(&id)?);
            Some((id, key))
        })
        .collect())
}

/// \[model\] The id the license singleton is written under (collections.rs), which merging
/// imports only into a target without one.
const LICENSE_ROW: &str = "License";

const EXAMPLES: usize = crate::report::EXAMPLES;

/// Matches the backup's named documents (pass 1) to the target's rows; see the module docs.
pub fn plan(index: &Index, sink: &mut dyn MergeSink, mode: Mode) -> Result<(IdMap, MergeReport)> {
    let mut ids = IdMap::default();
    let mut report = MergeReport {
        mode: match mode {
            Mode::Overwrite => "--overwrite",
            Mode::Keep => "--nooverwrite",
        }
        .to_owned(),
        ..MergeReport::default()
    };
    // In table order: projects are matched before the releases whose key names them.
    let mut tables: Vec<&Table> = index.named.keys().collect();
    tables.sort();
    for &table in tables {
        let target = target_keys(sink, table)?;
        let by_key: HashMap<&str, &str> = target
            .iter()
            .map(|(id, key)| (key.as_str(), id.as_str()))
            .collect();
        let taken: std::collections::HashSet<&str> =
            target.iter().map(|(id, _)| id.as_str()).collect();
        // New ids go above every number in use on either side and the target's allocation.
        let mut next = target
            .iter()
            .map(|(id, _)| id.as_str())
            .chain(index.named[&table].iter().map(|(id, _)| id.as_str()))
            .filter_map(|id| crate::ids::numbered(id).map(|(_, n)| n))
            .max()
            .unwrap_or(0);
        if let Some(row) = sink.find(Table::KeyAllocation, &[Value::Text(table.name().into())])? {
            if let Some(Value::Int(n)) = row.get("Allocated") {
                next = next.max(u64::try_from(*n).unwrap_or(0));
            }
        }
        let mut backup = index.named[&table].clone();
        // Deterministic new ids whatever the dump order.
        backup.sort_by_key(|(id, _)| (crate::ids::numbered(id).map(|(_, n)| n), id.clone()));
        for (id, name) in backup {
            let key = match name.split_once('\u{1f}') {
                // A release: its project may have been matched to another id.
                Some((version, project)) => {
                    format!("{version}\u{1f}{}", ids.map(project.to_owned()))
                }
                None => name.to_lowercase(),
            };
            let to = match by_key.get(key.as_str()) {
                Some(t) => (*t).to_owned(),
                None if !taken.contains(id.as_str()) => continue,
                None => {
                    let Some((c, _)) = crate::ids::numbered(&id) else {
                        // Named ids (`feeds-builtin`) stay: the same id is the same document.
                        continue;
                    };
                    next += 1;
                    let new = format!("{}-{next}", c.name);
                    report.renumbered_count += 1;
                    if report.renumbered.len() < EXAMPLES {
                        report.renumbered.push(format!("{id} -> {new}"));
                    }
                    ids.insert(id, new);
                    continue;
                }
            };
            if to != id {
                report.matched_by_name_count += 1;
                if report.matched_by_name.len() < EXAMPLES {
                    report.matched_by_name.push(format!("{id} -> {to}"));
                }
                ids.insert(id, to);
            }
        }
    }
    Ok((ids, report))
}

/// What became of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Inserted as new.
    Inserted,
    /// Replaced a target row (possibly combined with it).
    Replaced,
    /// Left out: the target's row stays.
    Kept,
}

/// Writes rows into a target that may already hold them; see the module docs.
pub struct Merger {
    mode: Mode,
    /// The outcome of the last Deployment and Event rows, which their derived rows follow
    /// (the transform emits derived rows right after their parent).
    last_deployment: Outcome,
    last_event: Outcome,
    /// Server tasks and artifacts whose rows the target kept ([`crate::ids::id_hash`]es):
    /// their files are not replaced.
    pub kept_ids: std::collections::HashSet<u64>,
    /// What was done.
    pub report: MergeReport,
    /// Set when the target already had a license and the backup's was not imported.
    pub license_kept: bool,
}

impl Merger {
    /// A merger for `mode`, continuing `report` (from [`plan`]).
    pub fn new(mode: Mode, report: MergeReport) -> Merger {
        Merger {
            mode,
            last_deployment: Outcome::Inserted,
            last_event: Outcome::Inserted,
            kept_ids: Default::default(),
            report,
            license_kept: false,
        }
    }

    fn count(&mut self, table: Table, outcome: Outcome, merged: bool) {
        let c = self
            .report
            .tables
            .entry(table.name().to_owned())
            .or_default();
        match outcome {
            Outcome::Inserted => c.inserted += 1,
            Outcome::Replaced if merged => c.merged += 1,
            Outcome::Replaced => c.replaced += 1,
            Outcome::Kept => c.kept += 1,
        }
    }

    /// Writes `row`, merging with what the target has.
    pub fn write(&mut self, sink: &mut dyn MergeSink, row: Row) -> Result<Outcome> {
        let table = row.table;
        let (outcome, merged) = match table {
            Table::KeyAllocation => (self.allocation(sink, row)?, false),
            Table::DeploymentHistory => match self.last_deployment {
                Outcome::Kept => (Outcome::Kept, false),
                _ => (self.upsert(sink, row)?, false),
            },
            Table::EventRelatedDocument => match self.last_event {
                // The parent's old related rows went when it was replaced.
                Outcome::Kept => (Outcome::Kept, false),
                _ => {
                    sink.insert(row)?;
                    (Outcome::Inserted, false)
                }
            },
            _ => self.document(sink, row)?,
        };
        self.count(table, outcome, merged);
        Ok(outcome)
    }

    /// A document's own row, matched by primary key (ids were matched by name in [`plan`]).
    fn document(&mut self, sink: &mut dyn MergeSink, row: Row) -> Result<(Outcome, bool)> {
        let table = row.table;
        let id = match row.key().first() {
            Some(Value::Text(id)) => id.clone(),
            _ => String::new(),
        };
        let key: Vec<Value> = row.key().into_iter().cloned().collect();
        let existing = sink.find(table, &key)?;
        let (outcome, merged) = match existing {
            None => {
                sink.insert(row)?;
                (Outcome::Inserted, false)
            }
            Some(_) if table == Table::Configuration && id == LICENSE_ROW => {
                self.license_kept = true;
                (Outcome::Kept, false)
            }
            Some(_) if self.mode == Mode::Keep => (Outcome::Kept, false),
            Some(old) => {
                let (row, merged) = match table {
                    Table::Team => (combine_members(&old, row), true),
                    Table::VariableSet => (combine_variables(&old, row), true),
                    _ => (row, false),
                };
                sink.update(row)?;
                if table == Table::Event {
                    sink.delete(
                        Table::EventRelatedDocument,
                        "EventId",
                        &Value::Text(id.clone()),
                    )?;
                }
                (Outcome::Replaced, merged)
            }
        };
        match table {
            Table::Deployment => self.last_deployment = outcome,
            Table::Event => self.last_event = outcome,
            Table::ServerTask | Table::Artifact if outcome == Outcome::Kept => {
                self.kept_ids.insert(crate::ids::id_hash(&id));
            }
            _ => {}
        }
        Ok((outcome, merged))
    }

    /// Insert, or replace the row with the same key.
    fn upsert(&mut self, sink: &mut dyn MergeSink, row: Row) -> Result<Outcome> {
        let key: Vec<Value> = row.key().into_iter().cloned().collect();
        if sink.find(row.table, &key)?.is_some() {
            sink.update(row)?;
            Ok(Outcome::Replaced)
        } else {
            sink.insert(row)?;
            Ok(Outcome::Inserted)
        }
    }

    /// KeyAllocation only ever grows: 3.x must not hand out an id either side uses.
    fn allocation(&mut self, sink: &mut dyn MergeSink, row: Row) -> Result<Outcome> {
        let key: Vec<Value> = row.key().into_iter().cloned().collect();
        let Some(old) = sink.find(row.table, &key)? else {
            sink.insert(row)?;
            return Ok(Outcome::Inserted);
        };
        let n = |r: &Row| match r.get("Allocated") {
            Some(Value::Int(n)) => *n,
            _ => 0,
        };
        if n(&row) > n(&old) {
            sink.update(row)?;
            Ok(Outcome::Replaced)
        } else {
            Ok(Outcome::Kept)
        }
    }
}

/// `--overwrite` of a team: the backup's row, with the target's members added.
fn combine_members(old: &Row, mut row: Row) -> Row {
    let Some(i) = Table::Team.column_index("MemberUserIds") else {
        return row;
    };
    let list = |v: Option<&Value>| match v {
        Some(Value::Text(t)) => crate::schema::split_pipe_list(t)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    let mut members = list(row.values.get(i));
    // Compared case-insensitively (ASCII), through a set: a team may list many users.
    let mut seen: HashSet<String> = members.iter().map(|m| m.to_ascii_lowercase()).collect();
    for m in list(old.get("MemberUserIds")) {
        if seen.insert(m.to_ascii_lowercase()) {
            members.push(m);
        }
    }
    row.values[i] = Value::Text(crate::schema::join_pipe_list(
        members.iter().map(String::as_str),
    ));
    row
}

/// `--overwrite` of a variable set: the backup's row, with the target's variables that the
/// backup does not have added. \[model\] A backup variable replaces a target variable with the
/// same Id, or with the same name (case-insensitive) and the same scope.
fn combine_variables(old: &Row, mut row: Row) -> Row {
    let Some(i) = Table::VariableSet.column_index("JSON") else {
        return row;
    };
    let parse = |v: Option<&Value>| match v {
        Some(Value::Text(t)) => serde_json::from_str::<serde_json::Map<String, Json>>(t).ok(),
        _ => None,
    };
    let (Some(mut new), Some(old)) = (parse(row.values.get(i)), parse(old.get("JSON"))) else {
        return row;
    };
    let old_vars = match old.get("Variables") {
        Some(Json::Array(v)) => v.clone(),
        _ => return row,
    };
    let vars = new
        .entry("Variables")
        .or_insert_with(|| Json::Array(Vec::new()));
    let Json::Array(vars) = vars else {
        return row;
    };
    // The same variable: the same Id, or the same Name and Scope (case-insensitive). Looked up
    // in sets of those keys, not compared pairwise: a set may hold thousands of variables.
    let s = |v: &Json, k: &str| v.get(k).and_then(Json::as_str).map(str::to_lowercase);
    let name_scope = |v: &Json| (s(v, "Name"), v.get("Scope").map(canonical_json));
    let mut ids: HashSet<String> = vars.iter().filter_map(|v| s(v, "Id")).collect();
    let mut names: HashSet<_> = vars.iter().map(name_scope).collect();
    for v in old_vars {
        let id = s(&v, "Id");
        if id.as_ref().is_some_and(|id| ids.contains(id)) || !names.insert(name_scope(&v)) {
            continue;
        }
        ids.extend(id);
        vars.push(v);
    }
    row.values[i] = Value::Text(crate::schema::json_text(&new));
    row
}

/// `v` as text that two values share exactly when they are equal (`==`): object keys sorted
/// (a map compares regardless of order), and a zero float as `0.0` (`-0.0 == 0.0`).
fn canonical_json(v: &Json) -> String {
    fn write(v: &Json, out: &mut String) {
        match v {
            Json::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Json::String(k.clone()).to_string());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            Json::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            Json::Number(n) if n.is_f64() && n.as_f64() == Some(0.0) => out.push_str("0.0"),
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_columns_follow_the_schema() {
        assert_eq!(match_column(Table::Project), Some("Name"));
        assert_eq!(match_column(Table::User), Some("Username"));
        assert_eq!(match_column(Table::DeploymentEnvironment), Some("Name"));
        assert_eq!(match_column(Table::Release), None);
        assert_eq!(match_column(Table::Certificate), None);
        assert_eq!(match_column(Table::ServerTask), None);
    }

    #[test]
    fn owned_ids_follow_their_owner() {
        let mut m = IdMap::default();
        m.insert("Projects-1".into(), "Projects-7".into());
        assert_eq!(m.map("Projects-1".into()), "Projects-7");
        assert_eq!(
            m.map("variableset-Projects-1".into()),
            "variableset-Projects-7"
        );
        assert_eq!(
            m.map("deploymentprocess-Projects-1-s-2".into()),
            "deploymentprocess-Projects-7-s-2"
        );
        assert_eq!(
            m.map("variableset-Projects-11".into()),
            "variableset-Projects-11"
        );
        assert_eq!(m.map("Projects-2".into()), "Projects-2");
        assert_eq!(m.original("Projects-7"), "Projects-1");
        assert_eq!(m.original("Projects-9"), "Projects-9");
    }

    fn team(members: &str) -> Row {
        let def = Table::Team.def();
        let mut values = vec![Value::Null; def.columns.len()];
        values[0] = Value::Text("Teams-1".into());
        values[1] = Value::Text("Ops".into());
        values[2] = Value::Text(members.into());
        Row {
            table: Table::Team,
            values,
        }
    }

    #[test]
    fn team_members_are_added_never_removed() {
        let merged = combine_members(&team("|Users-1|Users-2|"), team("|users-2|Users-3|"));
        assert_eq!(
            merged.get("MemberUserIds"),
            Some(&Value::Text("|users-2|Users-3|Users-1|".into()))
        );
    }

    fn varset(json: &str) -> Row {
        let def = Table::VariableSet.def();
        let mut values = vec![Value::Null; def.columns.len()];
        values[0] = Value::Text("variableset-Projects-1".into());
        let i = Table::VariableSet.column_index("JSON").unwrap();
        values[i] = Value::Text(json.into());
        Row {
            table: Table::VariableSet,
            values,
        }
    }

    #[test]
    fn variables_are_added_and_the_backup_wins_on_a_match() {
        let old = varset(
            r#"{"Variables":[{"Id":"a","Name":"Url","Value":"old","Scope":{}},{"Id":"b","Name":"Port","Value":"80","Scope":{}},{"Id":"c","Name":"Only","Value":"t","Scope":{}}]}"#,
        );
        let new = varset(
            r#"{"Variables":[{"Id":"a","Name":"Url","Value":"new","Scope":{}},{"Id":"z","Name":"port","Value":"8080","Scope":{}}]}"#,
        );
        let merged = combine_variables(&old, new);
        let Some(Value::Text(j)) = merged.get("JSON") else {
            panic!()
        };
        let v: Json = serde_json::from_str(j).unwrap();
        let values: Vec<&str> = v["Variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["Value"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["new", "8080", "t"]);
    }

    /// Runs `f` on a thread of its own; fails when it has not finished within `secs`.
    fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(secs))
            .expect("did not finish in time")
    }

    /// Issue "Nothing lost, whatever happens", finding 13 (wide objects walked quadratically):
    /// merging compared every member and every variable of the target with all of the
    /// backup's (10^10 comparisons here, each variable one allocating four strings).
    #[test]
    fn finding_13_merging_wide_teams_and_variable_sets_is_linear() {
        let n = 100_000;
        let ids = |from: usize| {
            let v: Vec<String> = (from..from + n).map(|i| format!("Users-{i}")).collect();
            format!("|{}|", v.join("|"))
        };
        let (old, new) = (team(&ids(0)), team(&ids(n / 2)));
        let merged = within(60, move || combine_members(&old, new));
        let Some(Value::Text(m)) = merged.get("MemberUserIds") else {
            panic!()
        };
        assert_eq!(split_pipe_list_len(m), n + n / 2);
        let vars = |from: usize| {
            let v: Vec<Json> = (from..from + n)
                .map(|i| serde_json::json!({"Id": format!("v{i}"), "Name": format!("N{i}"), "Value": "x", "Scope": {"Environment": ["Environments-1"]}}))
                .collect();
            varset(&serde_json::json!({ "Variables": v }).to_string())
        };
        let (old, new) = (vars(0), vars(n / 2));
        let merged = within(60, move || combine_variables(&old, new));
        let Some(Value::Text(j)) = merged.get("JSON") else {
            panic!()
        };
        let v: Json = serde_json::from_str(j).unwrap();
        assert_eq!(v["Variables"].as_array().unwrap().len(), n + n / 2);
    }

    /// The pairwise rule `combine_variables` had, as the oracle of its sets.
    fn combine_variables_pairwise(old: &[Json], mut vars: Vec<Json>) -> Vec<Json> {
        let same = |a: &Json, b: &Json| {
            let s = |v: &Json, k: &str| v.get(k).and_then(Json::as_str).map(str::to_lowercase);
            (s(a, "Id").is_some() && s(a, "Id") == s(b, "Id"))
                || (s(a, "Name") == s(b, "Name") && a.get("Scope") == b.get("Scope"))
        };
        for v in old {
            if !vars.iter().any(|n| same(n, v)) {
                vars.push(v.clone());
            }
        }
        vars
    }

    fn variable() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        use serde_json::json;
        let ids = prop_oneof![
            Just(None),
            Just(Some(json!("a"))),
            Just(Some(json!("A"))),
            Just(Some(json!("b"))),
            Just(Some(json!(1)))
        ];
        let names = prop_oneof![
            Just(None),
            Just(Some(json!("Url"))),
            Just(Some(json!("URL"))),
            Just(Some(json!("Port")))
        ];
        let scopes = prop_oneof![
            Just(None),
            Just(Some(json!({}))),
            Just(Some(json!({"Environment": ["E1"]}))),
            Just(Some(
                serde_json::from_str::<Json>(r#"{"Machine":["M"],"Environment":["E1"]}"#).unwrap()
            )),
            Just(Some(
                serde_json::from_str::<Json>(r#"{"Environment":["E1"],"Machine":["M"]}"#).unwrap()
            )),
            Just(Some(serde_json::from_str::<Json>(r#"{"N":0.0}"#).unwrap())),
            Just(Some(serde_json::from_str::<Json>(r#"{"N":-0.0}"#).unwrap())),
            Just(Some(serde_json::from_str::<Json>(r#"{"N":0}"#).unwrap())),
            Just(Some(
                serde_json::from_str::<Json>(r#"{"N":[1.0,"1"]}"#).unwrap()
            )),
            Just(Some(
                serde_json::from_str::<Json>(r#"{"N":[1,"1"]}"#).unwrap()
            )),
        ];
        (ids, names, scopes, 0u8..100).prop_map(|(id, name, scope, value)| {
            let mut v = serde_json::Map::new();
            if let Some(x) = id {
                v.insert("Id".into(), x);
            }
            if let Some(x) = name {
                v.insert("Name".into(), x);
            }
            if let Some(x) = scope {
                v.insert("Scope".into(), x);
            }
            v.insert("Value".into(), json!(value));
            Json::Object(v)
        })
    }

    proptest::proptest! {
        /// The sets decide exactly as the pairwise comparison did.
        #[test]
        fn combine_variables_decides_as_the_pairwise_rule(
            old in proptest::collection::vec(variable(), 0..10),
            new in proptest::collection::vec(variable(), 0..10),
        ) {
            let text = |v: &[Json]| serde_json::json!({ "Variables": v }).to_string();
            let merged = combine_variables(&varset(&text(&old)), varset(&text(&new)));
            let Some(Value::Text(j)) = merged.get("JSON") else {
                panic!()
            };
            let want = text(&combine_variables_pairwise(&old, new));
            proptest::prop_assert_eq!(j, &want);
        }
    }

    fn split_pipe_list_len(s: &str) -> usize {
        crate::schema::split_pipe_list(s).len()
    }
}
