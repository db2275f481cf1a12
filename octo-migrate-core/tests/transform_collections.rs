//! The transform of every collection of docs/mapping.md's table, checked against rows written out by
//! hand from the spec (docs/mapping.md, docs/schema-3x.md, docs/DESIGN.md for what the spec leaves open).
//!
//! One small 2.6 "world" of documents is indexed as pass 1 would index it; each test transforms
//! the document(s) it is about and compares the rows with the expected ones, column by column
//! (the `JSON` column as parsed JSON, dates with their offset, sensitive values by decrypting
//! them under the target key).

use chrono::DateTime;
use octo_migrate_core::error::Location;
use octo_migrate_core::internals::crypto::{decrypt_value, encrypt_value, MasterKey};
use octo_migrate_core::internals::index::Index;
use octo_migrate_core::internals::parse::{read_export, Document, Item};
use octo_migrate_core::internals::transform::{transform, Context, Disposition, Output};
use octo_migrate_core::report::RemovedAction;
use octo_migrate_core::sink::{Row, Table, Value};
use octo_migrate_core::Problem;
use serde_json::{json, Value as Json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// What re-encrypted values are replaced with before the JSON is compared.
const REENCRYPTED: &str = "<re-encrypted>";

fn source_key() -> MasterKey {
    MasterKey::from_bytes([7u8; 16])
}

fn target_key() -> MasterKey {
    MasterKey::from_bytes([9u8; 16])
}

/// An MK value under the backup's (source) key.
fn enc(plain: &str) -> String {
    encrypt_value(&source_key(), plain)
}

fn doc(collection: &str, id: &str, body: Json) -> Document {
    assert!(body.is_object(), "a document body is an object");
    // From text, as the reader makes it: values stay text until the transform reads them.
    Document {
        id: id.to_owned(),
        collection: Some(collection.to_owned()),
        body: serde_json::from_str(&body.to_string()).unwrap(),
    }
}

fn t(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn dt(s: &str) -> Value {
    Value::DateTime(DateTime::parse_from_rfc3339(s).expect("a literal date"))
}

fn j(v: Json) -> Value {
    Value::Text(v.to_string())
}

fn row(table: Table, values: Vec<Value>) -> Row {
    Row { table, values }
}

/// The 2.6 documents every test sees (pass 1 indexes all of them).
fn world() -> Vec<Document> {
    vec![
        doc(
            "ProjectGroups",
            "projectgroups-1",
            json!({"Name": "All Projects", "Description": "The default group"}),
        ),
        doc(
            "ProjectGroups",
            "ProjectGroups-2",
            json!({"Name": "Services", "Description": ""}),
        ),
        doc(
            "Lifecycles",
            "lifecycles-1",
            json!({
                "Name": "Default Lifecycle",
                "Phases": [{
                    "Id": "phase-7f1c",
                    "Name": "Dev",
                    "AutomaticDeploymentTargets": ["environments-1"],
                    "OptionalDeploymentTargets": ["environments-2"],
                    "MinimumEnvironmentsBeforePromotion": 0
                }],
                "ReleaseRetentionPolicy": {"Unit": "Days", "QuantityToKeep": 30}
            }),
        ),
        doc(
            "Environments",
            "environments-1",
            json!({"Name": "Dev", "Description": "Development", "SortOrder": 1, "UseGuidedFailure": false}),
        ),
        doc(
            "Environments",
            "Environments-2",
            json!({"Name": "Prod", "Description": "Production", "SortOrder": 2, "UseGuidedFailure": true}),
        ),
        doc(
            "Projects",
            "projects-1",
            json!({
                "Name": "Web Site",
                "Slug": "web-site",
                "Description": "The public site",
                "IsDisabled": false,
                "ProjectGroupId": "projectgroups-1",
                "LifecycleId": "lifecycles-1",
                "VariableSetId": "variableset-projects-1",
                "DeploymentProcessId": "deploymentprocess-projects-1",
                "AutoCreateRelease": false,
                "IncludedLibraryVariableSetIds": ["libraryvariablesets-1"],
                "DefaultToSkipIfAlreadyInstalled": true,
                "VersioningStrategy": {"Template": "#{Octopus.Version.LastMajor}.#{Octopus.Version.NextMinor}"}
            }),
        ),
        doc(
            "Projects",
            "projects-2",
            json!({
                "Name": "Api  Service (v2)!",
                "IsDisabled": true,
                "ProjectGroupId": "projectgroups-2",
                "LifecycleId": "Lifecycles-1",
                "DeploymentProcessId": "deploymentprocess-projects-2",
                "AutoCreateRelease": true
            }),
        ),
        doc(
            "Machines",
            "machines-1",
            json!({
                "Name": "web01",
                "Thumbprint": "8A7E2C",
                "Uri": "https://web01:10933/",
                "CommunicationStyle": "TentaclePassive",
                "EnvironmentIds": ["environments-1", "environments-2"],
                "Roles": ["web-server", "db"],
                "IsDisabled": false,
                "Status": "Online",
                "TentacleVersion": "2.6.5.1010"
            }),
        ),
        doc(
            "Machines",
            "machines-2",
            json!({
                "Name": "poll01",
                "Thumbprint": "B2C3D4",
                "Uri": "poll://k4s6fqp2xba9/",
                "CommunicationStyle": "TentacleActive",
                "EnvironmentIds": ["Environments-2"],
                "Roles": [],
                "IsDisabled": true,
                "Status": "Offline"
            }),
        ),
        doc(
            "VariableSets",
            "variableset-projects-1",
            json!({
                "OwnerId": "projects-1",
                "Version": 3,
                "IsFrozen": false,
                "Variables": [
                    {
                        "Id": "5a1e0c1b-0000-4000-8000-000000000001",
                        "Name": "ConnectionString",
                        "Value": enc("Server=db;Password=s3cret"),
                        "Scope": {
                            "Environment": ["environments-1"],
                            "Machine": ["machines-1"],
                            "Role": ["web-server"],
                            "Action": ["action-1"]
                        },
                        "IsSensitive": true,
                        "IsEditable": true,
                        "Prompt": null
                    },
                    {
                        "Id": "5a1e0c1b-0000-4000-8000-000000000002",
                        "Name": "Url",
                        "Value": "https://example.com/",
                        "Scope": {"Environment": ["Environments-2"]},
                        "IsSensitive": false,
                        "IsEditable": true,
                        "Prompt": null
                    }
                ],
                "ScopeValues": {"Roles": [{"Id": "web-server", "Name": "web-server"}]}
            }),
        ),
        doc(
            "VariableSets",
            "variableset-projects-1-s-1",
            json!({"OwnerId": "projects-1", "Version": 1, "IsFrozen": true, "Variables": []}),
        ),
        doc(
            "VariableSets",
            "variableset-libraryvariablesets-1",
            json!({"OwnerId": "libraryvariablesets-1", "Version": 1, "IsFrozen": false, "Variables": []}),
        ),
        doc(
            "VariableSets",
            "variableset-libraryvariablesets-1-s-1",
            json!({"OwnerId": "libraryvariablesets-1", "Version": 1, "IsFrozen": true, "Variables": []}),
        ),
        doc(
            "DeploymentProcesses",
            "deploymentprocess-projects-1",
            json!({
                "ProjectId": "projects-1",
                "Version": 2,
                "IsFrozen": false,
                "Steps": [{
                    "Id": "step-1",
                    "Name": "Deploy web",
                    "RequiresPackagesToBeAcquired": true,
                    "Properties": {"Octopus.Action.TargetRoles": "web-server"},
                    "Condition": "Success",
                    "StartTrigger": "StartAfterPrevious",
                    "Actions": [
                        {
                            "Id": "action-1",
                            "Name": "Deploy web",
                            "ActionType": "Octopus.TentaclePackage",
                            "Environments": ["environments-1", "Environments-2"],
                            "Properties": {
                                "Octopus.Action.Package.NuGetFeedId": "feeds-1",
                                "Octopus.Action.Package.NuGetPackageId": "WebSite"
                            },
                            "SensitiveProperties": {"Octopus.Action.Secret": enc("hunter2")}
                        },
                        {
                            "Id": "action-2",
                            "Name": "Deploy tools",
                            "ActionType": "Octopus.TentaclePackage",
                            "Environments": [],
                            "Properties": {
                                "Octopus.Action.Package.NuGetFeedId": "Feeds-BuiltIn",
                                "Octopus.Action.Package.NuGetPackageId": "Tools"
                            },
                            "SensitiveProperties": {}
                        }
                    ]
                }]
            }),
        ),
        doc(
            "DeploymentProcesses",
            "deploymentprocess-projects-1-s-1",
            json!({"OwnerId": "projects-1", "Version": 1, "IsFrozen": true, "Steps": []}),
        ),
        doc(
            "DeploymentProcesses",
            "deploymentprocess-projects-2",
            json!({
                "OwnerId": "projects-2",
                "Version": 5,
                "IsFrozen": false,
                "Steps": [
                    {
                        "Id": "step-a",
                        "Name": "Upload",
                        "Actions": [{
                            "Id": "action-a1",
                            "Name": "FTP upload",
                            "ActionType": "Octopus.Ftp",
                            "Environments": [],
                            "Properties": {"Octopus.Action.Ftp.Host": "ftp.example.com"},
                            "SensitiveProperties": {}
                        }]
                    },
                    {
                        "Id": "step-b",
                        "Name": "Mixed",
                        "Actions": [
                            {
                                "Id": "action-b1",
                                "Name": "Cloud service",
                                "ActionType": "Octopus.Azure",
                                "Environments": [],
                                "Properties": {},
                                "SensitiveProperties": {}
                            },
                            {
                                "Id": "action-b2",
                                "Name": "Run script",
                                "ActionType": "Octopus.Script",
                                "Environments": ["environments-1"],
                                "Properties": {"Octopus.Action.Script.ScriptBody": "echo hi"},
                                "SensitiveProperties": {}
                            }
                        ]
                    }
                ]
            }),
        ),
        doc(
            "LibraryVariableSets",
            "libraryvariablesets-1",
            json!({"Name": "Shared", "Description": "Common variables", "VariableSetId": "variableset-libraryvariablesets-1"}),
        ),
        doc(
            "ActionTemplates",
            "actiontemplates-1",
            json!({
                "Name": "Run a script",
                "Description": "Runs a script",
                "Version": 4,
                "ActionType": "Octopus.Script",
                "Properties": {"Octopus.Action.Script.ScriptBody": "Write-Host hi"},
                "Parameters": []
            }),
        ),
        doc(
            "Feeds",
            "feeds-1",
            json!({"Name": "MyGet", "FeedUri": "https://www.myget.org/F/team/", "Username": "me", "Password": enc("feed-pw")}),
        ),
        doc(
            "Feeds",
            "feeds-builtin",
            json!({"Name": "Octopus Server (built-in)", "FeedUri": "http://localhost/nuget/"}),
        ),
        doc(
            "Users",
            "users-1",
            json!({
                "Username": "admin",
                "DisplayName": "Administrator",
                "EmailAddress": "admin@example.com",
                "IsActive": true,
                "IsService": false,
                "IdentificationToken": "0f9d3b1c-5e0a-4a9a-9f3c-0123456789ab",
                "PasswordHash": "AQAAAAEAACcQ=="
            }),
        ),
        doc(
            "Users",
            "users-2",
            json!({"Username": "build", "DisplayName": "Build server", "IsActive": true, "IsService": true}),
        ),
        doc(
            "Teams",
            "teams-1",
            json!({
                "Name": "Octopus Administrators",
                "MemberUserIds": ["users-1", "Users-2"],
                "UserRoleIds": ["userroles-1"],
                "ProjectIds": ["projects-1"],
                "EnvironmentIds": [],
                "CanBeDeleted": false
            }),
        ),
        doc(
            "UserRoles",
            "userroles-1",
            json!({"Name": "System administrator", "Description": "Everything", "GrantedPermissions": ["AdministerSystem", "ProjectView"]}),
        ),
        doc(
            "UserRoles",
            "userroles-2",
            json!({"Name": "Project viewer", "Description": "Read only", "GrantedPermissions": ["ProjectView"]}),
        ),
        doc(
            "ApiKeys",
            "apikeys-1",
            json!({"Purpose": "Build server", "UserId": "users-2", "ApiKeyHashed": "aGFzaGVk", "Created": "2015-03-01T09:00:00+01:00"}),
        ),
        doc(
            "Certificates",
            "certificate-global",
            json!({"Name": "Octopus Portal", "Thumbprint": "ABCDEF0123", "Certificate": enc("MIIC-certificate-bytes")}),
        ),
        doc(
            "Invitations",
            "invitations-1",
            json!({"InvitationCode": "c0de", "AddToTeamIds": ["teams-1"], "Expires": "2015-07-01T00:00:00+00:00"}),
        ),
        doc(
            "Licenses",
            "license",
            json!({"LicenseText": "<License>text</License>"}),
        ),
        doc(
            "SmtpConfigurations",
            "smtpconfiguration",
            json!({
                "SmtpHost": "smtp.example.com",
                "SmtpPort": 587,
                "SendEmailFrom": "octopus@example.com",
                "SmtpLogin": "octopus",
                "EnableSsl": true,
                "SmtpPassword": enc("smtp-pw")
            }),
        ),
        doc(
            "MaintenanceConfigurations",
            "maintenanceconfiguration",
            json!({"IsInMaintenanceMode": false}),
        ),
        doc(
            "RetentionPolicies",
            "retentionpolicies-1",
            json!({"Name": "Keep 30 days", "Items": []}),
        ),
        doc(
            "Releases",
            "releases-1",
            json!({
                "Version": "1.0.0",
                "Assembled": "2015-06-01T10:00:00+10:00",
                "ProjectId": "projects-1",
                "ProjectVariableSetSnapshotId": "variableset-projects-1-s-1",
                "ProjectDeploymentProcessSnapshotId": "deploymentprocess-projects-1-s-1",
                "LibraryVariableSetSnapshotIds": ["variableset-libraryvariablesets-1-s-1"],
                "ReleaseNotes": "First release",
                "SelectedPackages": [{"StepName": "Deploy web", "Version": "1.0.0"}]
            }),
        ),
        doc(
            "ServerTasks",
            "servertasks-1",
            json!({
                "Name": "Deploy",
                "Description": "Deploy Web Site release 1.0.0 to Dev",
                "Arguments": {"Force": false},
                "State": "Success",
                "QueueTime": "2015-06-02T10:00:00+10:00",
                "StartTime": "2015-06-02T10:00:05+10:00",
                "CompletedTime": "2015-06-02T10:01:35+10:00",
                "ErrorMessage": null,
                "ConcurrencyTag": "projects-1/environments-1",
                "HasPendingInterruptions": false,
                "HasWarningsOrErrors": true,
                "ServerNode": "OCTO01",
                "ProjectId": "projects-1",
                "EnvironmentId": "environments-1"
            }),
        ),
        doc(
            "ServerTasks",
            "servertasks-2",
            json!({
                "Name": "Deploy",
                "Description": "Deploy Api Service release 1.0.0 to Prod",
                "Arguments": {},
                "State": "Executing",
                "QueueTime": "2015-06-03T08:00:00+00:00",
                "StartTime": "2015-06-03T08:00:01+00:00",
                "HasPendingInterruptions": true,
                "HasWarningsOrErrors": false,
                "ProjectId": "projects-2",
                "EnvironmentId": "environments-2"
            }),
        ),
        doc(
            "Deployments",
            "deployments-1",
            json!({
                "Name": "Deploy to Dev",
                "Created": "2015-06-02T09:59:59+10:00",
                "ReleaseId": "releases-1",
                "EnvironmentId": "environments-1",
                "ProjectId": "Projects-1",
                "TaskId": "servertasks-1",
                "DeployedBy": "admin",
                "ForcePackageDownload": false,
                "ForcePackageRedeployment": true,
                "SkipActions": ["action-2"],
                "SpecificMachineIds": ["machines-1"],
                "Comments": "Ship it",
                "FormValues": {},
                "QueueTime": null
            }),
        ),
        doc(
            "Deployments",
            "deployments-2",
            json!({
                "Name": "Deploy to Prod",
                "Created": "2015-06-03T07:59:00+00:00",
                "ReleaseId": "releases-1",
                "EnvironmentId": "environments-2",
                "ProjectId": "projects-2",
                "TaskId": "servertasks-2",
                "DeployedBy": "build"
            }),
        ),
        doc(
            "Events",
            "events-1",
            json!({
                "RelatedDocumentIds": ["deployments-1", "projects-1", "environments-1", "releases-1"],
                "Category": "DeploymentSucceeded",
                "UserId": "users-1",
                "Username": "admin",
                "Occurred": "2015-06-02T10:01:35+10:00",
                "Message": "Deploy to Dev succeeded",
                "MessageReferences": [],
                "Comments": null,
                "Details": null,
                "IdentityEstablishedWith": "Session cookie"
            }),
        ),
        doc(
            "Events",
            "events-2",
            json!({
                "RelatedDocumentIds": ["machines-1"],
                "Category": "MachineHealthy",
                "Occurred": "2015-06-02T11:00:00Z",
                "Message": "web01 is healthy"
            }),
        ),
        doc(
            "Artifacts",
            "artifacts-1",
            json!({
                "Filename": "install.log",
                "RelatedDocumentIds": ["servertasks-1", "projects-1", "environments-1"],
                "Created": "2015-06-02T10:01:00+10:00",
                "ServerTaskId": "servertasks-1"
            }),
        ),
        doc(
            "Interruptions",
            "interruptions-1",
            json!({
                "Title": "Approve deployment",
                "Created": "2015-06-02T10:00:30+10:00",
                "IsPending": true,
                "Form": {"Values": {"Notes": null}},
                "RelatedDocumentIds": ["deployments-1", "projects-1", "environments-1"],
                "ResponsibleTeamIds": ["teams-1"],
                "TaskId": "servertasks-1",
                "CorrelationId": "servertasks-1/3f2a"
            }),
        ),
        doc(
            "Interruptions",
            "interruptions-2",
            json!({
                "Title": "Guidance",
                "Created": "2015-06-02T10:00:40+10:00",
                "IsPending": false,
                "RelatedDocumentIds": ["servertasks-1"],
                "ResponsibleTeamIds": [],
                "TaskId": "servertasks-1"
            }),
        ),
        doc("Widgets", "widgets-4", json!({"Name": "A widget"})),
        Document {
            id: "Raven/Hilo/projects".to_owned(),
            collection: None,
            body: json!({"Max": 32}).as_object().unwrap().clone().into(),
        },
    ]
}

fn index_of(docs: &[Document]) -> Index {
    let mut index = Index::default();
    for d in docs {
        index.add(&Item::Doc(d.clone()));
    }
    index.finish().expect("the test documents have unique ids");
    index
}

/// The world plus `extra`, indexed; then the documents with the given ids (any order) are
/// transformed into one output. Returns the output and each document's disposition.
fn run_with(extra: &[Document], ids: &[&str], skip: bool) -> (Output, Vec<Disposition>) {
    let mut docs = world();
    docs.extend(extra.iter().cloned());
    let index = index_of(&docs);
    let (source, target) = (source_key(), target_key());
    let ctx = Context {
        index: &index,
        source_key: &source,
        target_key: &target,
        skip_unsupported_steps: skip,
    };
    let mut out = Output::default();
    let mut dispositions = Vec::new();
    for id in ids {
        let d = docs
            .iter()
            .find(|d| d.id == *id)
            .unwrap_or_else(|| panic!("no test document {id}"))
            .clone();
        dispositions.push(transform(d, &ctx, &mut out));
    }
    (out, dispositions)
}

/// Transforms one document of the world (no extra documents, unsupported steps refused).
fn run(id: &str) -> Output {
    let (out, disp) = run_with(&[], &[id], false);
    assert_eq!(
        disp,
        vec![Disposition::Migrated],
        "{id}: {:?}",
        out.problems
    );
    assert!(out.problems.is_empty(), "{id}: {:?}", out.problems);
    out
}

fn json_of(row: &Row) -> Json {
    let i = row
        .table
        .column_index("JSON")
        .expect("a table with a JSON column");
    match &row.values[i] {
        Value::Text(s) => serde_json::from_str(s).expect("the JSON column is JSON"),
        other => panic!("JSON column is {other:?}"),
    }
}

fn compare_row(actual: &Row, expected: &Row) {
    assert_eq!(actual.table, expected.table, "table of {actual:#?}");
    assert_eq!(
        actual.values.len(),
        expected.values.len(),
        "{:?}: number of values in {actual:#?}",
        actual.table
    );
    let json_at = actual.table.column_index("JSON");
    for (i, (a, e)) in actual.values.iter().zip(&expected.values).enumerate() {
        if Some(i) == json_at {
            assert_eq!(
                json_of(actual),
                json_of(expected),
                "{:?}: the JSON column",
                actual.table
            );
            continue;
        }
        match (a, e) {
            (Value::DateTime(x), Value::DateTime(y)) => {
                assert_eq!(x, y, "{:?}: value {i}", actual.table);
                assert_eq!(
                    x.offset(),
                    y.offset(),
                    "{:?}: value {i} keeps its offset",
                    actual.table
                );
            }
            _ => assert_eq!(a, e, "{:?}: value {i} of {actual:#?}", actual.table),
        }
    }
}

fn assert_rows(actual: &[Row], expected: &[Row]) {
    assert_eq!(
        actual.iter().map(|r| r.table).collect::<Vec<_>>(),
        expected.iter().map(|r| r.table).collect::<Vec<_>>(),
        "tables of the rows: {actual:#?}"
    );
    for (a, e) in actual.iter().zip(expected) {
        compare_row(a, e);
    }
}

/// Checks that the sensitive value at `pointer` in the row's JSON was re-encrypted (it differs
/// from `input` and decrypts under the target key to `plain`) and replaces it by
/// [`REENCRYPTED`], so the rest of the JSON can be compared literally.
fn check_reencrypted(row: &mut Row, pointer: &str, input: &str, plain: &str) {
    let mut json = json_of(row);
    let shown = json.to_string();
    let slot = json
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer} in {shown}"));
    let out = slot.as_str().expect("an MK value is a string").to_owned();
    assert_ne!(out, input, "{pointer} was not re-encrypted");
    let decrypted = decrypt_value(&target_key(), &out).expect("decrypts under the target key");
    assert_eq!(decrypted.expose(), plain, "{pointer}");
    *slot = Json::String(REENCRYPTED.to_owned());
    let i = row.table.column_index("JSON").unwrap();
    row.values[i] = Value::Text(json.to_string());
}

/// The input MK value at `pointer` of the world document `id`. Each call of `world()` encrypts
/// afresh, so the input is read from the same world the test ran on via `inputs_of`.
fn input_at(docs: &[Document], id: &str, pointer: &str) -> String {
    let d = docs.iter().find(|d| d.id == id).unwrap();
    Json::Object(d.body.clone().into_map())
        .pointer(pointer)
        .and_then(Json::as_str)
        .unwrap()
        .to_owned()
}

/// Like [`run_with`] for one document, but also returns the input documents (to read the MK
/// values that were given).
fn run_keeping_inputs(id: &str) -> (Output, Vec<Document>) {
    let docs = world();
    let index = index_of(&docs);
    let (source, target) = (source_key(), target_key());
    let ctx = Context {
        index: &index,
        source_key: &source,
        target_key: &target,
        skip_unsupported_steps: false,
    };
    let mut out = Output::default();
    let d = docs.iter().find(|d| d.id == id).unwrap().clone();
    assert_eq!(transform(d, &ctx, &mut out), Disposition::Migrated);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    (out, docs)
}

/// (read, migrated, skipped, failed) of one collection in the report.
type Counts = (u64, u64, u64, u64);

fn stats(out: &Output, collection: &str) -> Counts {
    let s = out
        .report
        .collections
        .get(collection)
        .unwrap_or_else(|| panic!("no report entry for {collection}"));
    assert_eq!(
        s.read,
        s.migrated + s.skipped + s.failed + s.filtered_by_maxage,
        "{collection}: counts add up"
    );
    (s.read, s.migrated, s.skipped, s.failed)
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn projects() {
    let out = run("projects-1");
    assert_rows(
        &out.rows,
        &[row(
            Table::Project,
            vec![
                t("Projects-1"),
                t("Web Site"),
                t("web-site"),
                Value::Bool(false),
                t("variableset-Projects-1"),
                t("deploymentprocess-Projects-1"),
                t("ProjectGroups-1"),
                t("Lifecycles-1"),
                Value::Bool(false),
                j(json!({
                    "Description": "The public site",
                    "IncludedLibraryVariableSetIds": ["LibraryVariableSets-1"],
                    "DefaultToSkipIfAlreadyInstalled": true,
                    "VersioningStrategy": {"Template": "#{Octopus.Version.LastMajor}.#{Octopus.Version.NextMinor}"}
                })),
            ],
        )],
    );
    assert!(out.report.dangling_references.is_empty());
    assert_eq!(stats(&out, "Projects"), (1, 1, 0, 0));
}

#[test]
fn project_without_slug_gets_one_from_its_name() {
    let out = run("projects-2");
    assert_rows(
        &out.rows,
        &[row(
            Table::Project,
            vec![
                t("Projects-2"),
                t("Api  Service (v2)!"),
                t("api-service-v2"),
                Value::Bool(true),
                Value::Null,
                t("deploymentprocess-Projects-2"),
                t("ProjectGroups-2"),
                t("Lifecycles-1"),
                Value::Bool(true),
                j(json!({})),
            ],
        )],
    );
}

#[test]
fn project_groups() {
    let out = run("projectgroups-1");
    assert_rows(
        &out.rows,
        &[row(
            Table::ProjectGroup,
            vec![
                t("ProjectGroups-1"),
                t("All Projects"),
                j(json!({"Description": "The default group"})),
            ],
        )],
    );
}

#[test]
fn environments() {
    let (out, _) = run_with(&[], &["environments-1", "Environments-2"], false);
    assert_rows(
        &out.rows,
        &[
            row(
                Table::DeploymentEnvironment,
                vec![
                    t("Environments-1"),
                    t("Dev"),
                    Value::Int(1),
                    j(json!({"Description": "Development", "UseGuidedFailure": false})),
                ],
            ),
            row(
                Table::DeploymentEnvironment,
                vec![
                    t("Environments-2"),
                    t("Prod"),
                    Value::Int(2),
                    j(json!({"Description": "Production", "UseGuidedFailure": true})),
                ],
            ),
        ],
    );
    assert_eq!(stats(&out, "Environments"), (2, 2, 0, 0));
}

#[test]
fn machines_listening_and_polling() {
    let (out, _) = run_with(&[], &["machines-1", "machines-2"], false);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    assert_rows(
        &out.rows,
        &[
            row(
                Table::Machine,
                vec![
                    t("Machines-1"),
                    t("web01"),
                    Value::Bool(false),
                    t("|web-server|db|"),
                    t("|Environments-1|Environments-2|"),
                    j(json!({
                        "Status": "Online",
                        "TentacleVersion": "2.6.5.1010",
                        "Endpoint": {
                            "$type": "Octopus.Core.Model.Environments.Endpoints.ListeningTentacleEndpoint, Octopus.Core",
                            "CommunicationStyle": "TentaclePassive",
                            "Uri": "https://web01:10933/",
                            "Thumbprint": "8A7E2C"
                        }
                    })),
                ],
            ),
            row(
                Table::Machine,
                vec![
                    t("Machines-2"),
                    t("poll01"),
                    Value::Bool(true),
                    t(""),
                    t("|Environments-2|"),
                    j(json!({
                        "Status": "Offline",
                        "Endpoint": {
                            "$type": "Octopus.Core.Model.Environments.Endpoints.PollingTentacleEndpoint, Octopus.Core",
                            "CommunicationStyle": "TentacleActive",
                            "Uri": "poll://k4s6fqp2xba9/",
                            "Thumbprint": "B2C3D4"
                        }
                    })),
                ],
            ),
        ],
    );
}

#[test]
fn lifecycles_phase_targets_are_rewritten() {
    let out = run("lifecycles-1");
    assert_rows(
        &out.rows,
        &[row(
            Table::Lifecycle,
            vec![
                t("Lifecycles-1"),
                t("Default Lifecycle"),
                j(json!({
                    "Phases": [{
                        "Id": "phase-7f1c",
                        "Name": "Dev",
                        "AutomaticDeploymentTargets": ["Environments-1"],
                        "OptionalDeploymentTargets": ["Environments-2"],
                        "MinimumEnvironmentsBeforePromotion": 0
                    }],
                    "ReleaseRetentionPolicy": {"Unit": "Days", "QuantityToKeep": 30}
                })),
            ],
        )],
    );
}

#[test]
fn variable_sets() {
    let (mut out, docs) = run_keeping_inputs("variableset-projects-1");
    let input = input_at(&docs, "variableset-projects-1", "/Variables/0/Value");
    check_reencrypted(
        &mut out.rows[0],
        "/Variables/0/Value",
        &input,
        "Server=db;Password=s3cret",
    );
    assert_rows(
        &out.rows,
        &[row(
            Table::VariableSet,
            vec![
                t("variableset-Projects-1"),
                t("Projects-1"),
                Value::Int(3),
                Value::Bool(false),
                j(json!({
                    "Variables": [
                        {
                            "Id": "5a1e0c1b-0000-4000-8000-000000000001",
                            "Name": "ConnectionString",
                            "Value": REENCRYPTED,
                            "Scope": {
                                "Environment": ["Environments-1"],
                                "Machine": ["Machines-1"],
                                "Role": ["web-server"],
                                "Action": ["action-1"]
                            },
                            "Type": "Sensitive",
                            "IsEditable": true,
                            "Prompt": null
                        },
                        {
                            "Id": "5a1e0c1b-0000-4000-8000-000000000002",
                            "Name": "Url",
                            "Value": "https://example.com/",
                            "Scope": {"Environment": ["Environments-2"]},
                            "Type": "String",
                            "IsEditable": true,
                            "Prompt": null
                        }
                    ],
                    "ScopeValues": {"Roles": [{"Id": "web-server", "Name": "web-server"}]}
                })),
            ],
        )],
    );
    assert_eq!(out.report.reencrypted_values, 1);
}

#[test]
fn frozen_variable_set_snapshot_keeps_its_lowercase_head() {
    let out = run("variableset-projects-1-s-1");
    assert_rows(
        &out.rows,
        &[row(
            Table::VariableSet,
            vec![
                t("variableset-Projects-1-s-1"),
                t("Projects-1"),
                Value::Int(1),
                Value::Bool(true),
                j(json!({"Variables": []})),
            ],
        )],
    );
}

#[test]
fn deployment_processes() {
    let (mut out, docs) = run_keeping_inputs("deploymentprocess-projects-1");
    let p = "/Steps/0/Actions/0/SensitiveProperties/Octopus.Action.Secret";
    let input = input_at(&docs, "deploymentprocess-projects-1", p);
    check_reencrypted(&mut out.rows[0], p, &input, "hunter2");
    assert_rows(
        &out.rows,
        &[row(
            Table::DeploymentProcess,
            vec![
                t("deploymentprocess-Projects-1"),
                t("Projects-1"),
                Value::Bool(false),
                Value::Int(2),
                j(json!({
                    "Steps": [{
                        "Id": "step-1",
                        "Name": "Deploy web",
                        "RequiresPackagesToBeAcquired": true,
                        "Properties": {"Octopus.Action.TargetRoles": "web-server"},
                        "Condition": "Success",
                        "StartTrigger": "StartAfterPrevious",
                        "Actions": [
                            {
                                "Id": "action-1",
                                "Name": "Deploy web",
                                "ActionType": "Octopus.TentaclePackage",
                                "Environments": ["Environments-1", "Environments-2"],
                                "Properties": {
                                    "Octopus.Action.Package.NuGetFeedId": "Feeds-1",
                                    "Octopus.Action.Package.NuGetPackageId": "WebSite"
                                },
                                "SensitiveProperties": {"Octopus.Action.Secret": REENCRYPTED}
                            },
                            {
                                "Id": "action-2",
                                "Name": "Deploy tools",
                                "ActionType": "Octopus.TentaclePackage",
                                "Environments": [],
                                "Properties": {
                                    "Octopus.Action.Package.NuGetFeedId": "feeds-builtin",
                                    "Octopus.Action.Package.NuGetPackageId": "Tools"
                                },
                                "SensitiveProperties": {}
                            }
                        ]
                    }]
                })),
            ],
        )],
    );
    assert!(out.report.dangling_references.is_empty());
    assert_eq!(out.report.reencrypted_values, 1);
}

#[test]
fn unsupported_steps_are_refused_without_skip() {
    let (out, disp) = run_with(&[], &["deploymentprocess-projects-2"], false);
    assert_eq!(disp, vec![Disposition::Failed]);
    assert!(out.rows.is_empty(), "{:?}", out.rows);
    assert_eq!(
        out.problems,
        vec![
            Problem::UnsupportedStep {
                process_id: "deploymentprocess-Projects-2".into(),
                project: "Api  Service (v2)!".into(),
                step: "Upload".into(),
                action: "FTP upload".into(),
                action_type: "Octopus.Ftp".into(),
            },
            Problem::UnsupportedStep {
                process_id: "deploymentprocess-Projects-2".into(),
                project: "Api  Service (v2)!".into(),
                step: "Mixed".into(),
                action: "Cloud service".into(),
                action_type: "Octopus.Azure".into(),
            },
        ]
    );
    assert!(out.report.removed_actions.is_empty());
    assert_eq!(stats(&out, "DeploymentProcesses"), (1, 0, 0, 1));
}

#[test]
fn unsupported_steps_are_removed_with_skip() {
    let (out, disp) = run_with(&[], &["deploymentprocess-projects-2"], true);
    assert_eq!(disp, vec![Disposition::Migrated]);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    assert_rows(
        &out.rows,
        &[row(
            Table::DeploymentProcess,
            vec![
                t("deploymentprocess-Projects-2"),
                t("Projects-2"),
                Value::Bool(false),
                Value::Int(5),
                j(json!({
                    "Steps": [{
                        "Id": "step-b",
                        "Name": "Mixed",
                        "Actions": [{
                            "Id": "action-b2",
                            "Name": "Run script",
                            "ActionType": "Octopus.Script",
                            "Environments": ["Environments-1"],
                            "Properties": {"Octopus.Action.Script.ScriptBody": "echo hi"},
                            "SensitiveProperties": {}
                        }]
                    }]
                })),
            ],
        )],
    );
    // Every field of each removed action (RemovedAction is non_exhaustive: compared field by
    // field).
    let fields = |r: &RemovedAction| {
        (
            r.process_id.clone(),
            r.project.clone(),
            r.step.clone(),
            r.action.clone(),
            r.action_type.clone(),
            r.step_removed,
        )
    };
    assert_eq!(
        out.report
            .removed_actions
            .iter()
            .map(fields)
            .collect::<Vec<_>>(),
        vec![
            (
                "deploymentprocess-Projects-2".to_owned(),
                "Api  Service (v2)!".to_owned(),
                "Upload".to_owned(),
                "FTP upload".to_owned(),
                "Octopus.Ftp".to_owned(),
                true,
            ),
            (
                "deploymentprocess-Projects-2".to_owned(),
                "Api  Service (v2)!".to_owned(),
                "Mixed".to_owned(),
                "Cloud service".to_owned(),
                "Octopus.Azure".to_owned(),
                false,
            ),
        ]
    );
    assert_eq!(stats(&out, "DeploymentProcesses"), (1, 1, 0, 0));
}

#[test]
fn library_variable_sets() {
    let (out, _) = run_with(
        &[],
        &["libraryvariablesets-1", "variableset-libraryvariablesets-1"],
        false,
    );
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    assert_rows(
        &out.rows,
        &[
            row(
                Table::LibraryVariableSet,
                vec![
                    t("LibraryVariableSets-1"),
                    t("Shared"),
                    t("variableset-LibraryVariableSets-1"),
                    t("Variables"),
                    j(json!({"Description": "Common variables"})),
                ],
            ),
            row(
                Table::VariableSet,
                vec![
                    t("variableset-LibraryVariableSets-1"),
                    t("LibraryVariableSets-1"),
                    Value::Int(1),
                    Value::Bool(false),
                    j(json!({"Variables": []})),
                ],
            ),
        ],
    );
}

#[test]
fn action_templates() {
    let out = run("actiontemplates-1");
    assert_rows(
        &out.rows,
        &[row(
            Table::ActionTemplate,
            vec![
                t("ActionTemplates-1"),
                t("Run a script"),
                Value::Int(4),
                t("Octopus.Script"),
                j(json!({
                    "Description": "Runs a script",
                    "Properties": {"Octopus.Action.Script.ScriptBody": "Write-Host hi"},
                    "Parameters": []
                })),
            ],
        )],
    );
}

#[test]
fn feeds() {
    let (mut out, docs) = run_keeping_inputs("feeds-1");
    let input = input_at(&docs, "feeds-1", "/Password");
    check_reencrypted(&mut out.rows[0], "/Password", &input, "feed-pw");
    assert_rows(
        &out.rows,
        &[row(
            Table::Feed,
            vec![
                t("Feeds-1"),
                t("MyGet"),
                t("https://www.myget.org/F/team/"),
                j(json!({"Username": "me", "Password": REENCRYPTED})),
            ],
        )],
    );

    let out = run("feeds-builtin");
    assert_rows(
        &out.rows,
        &[row(
            Table::Feed,
            vec![
                t("feeds-builtin"),
                t("Octopus Server (built-in)"),
                t("http://localhost/nuget/"),
                j(json!({})),
            ],
        )],
    );
}

#[test]
fn users() {
    let out = run("users-1");
    assert_rows(
        &out.rows,
        &[row(
            Table::User,
            vec![
                t("Users-1"),
                t("admin"),
                Value::Bool(true),
                Value::Bool(false),
                Value::Guid(uuid::Uuid::parse_str("0f9d3b1c-5e0a-4a9a-9f3c-0123456789ab").unwrap()),
                j(json!({
                    "DisplayName": "Administrator",
                    "EmailAddress": "admin@example.com",
                    "PasswordHash": "AQAAAAEAACcQ=="
                })),
            ],
        )],
    );
}

#[test]
fn user_without_token_gets_a_deterministic_one() {
    let token = |out: &Output| match out.rows[0].get("IdentificationToken") {
        Some(Value::Guid(g)) => *g,
        other => panic!("IdentificationToken is {other:?}"),
    };
    let first = run("users-2");
    let second = run("users-2");
    let g = token(&first);
    assert_eq!(g, token(&second), "the same token on every run");
    assert!(!g.is_nil());
    assert_eq!(
        g.get_version_num(),
        5,
        "DESIGN.md: a UUID v5 of the user id"
    );
    assert_ne!(
        g,
        uuid::Uuid::parse_str("0f9d3b1c-5e0a-4a9a-9f3c-0123456789ab").unwrap()
    );
    // Another user without a token gets another one.
    let other = doc(
        "Users",
        "users-3",
        json!({"Username": "deployer", "IsActive": true, "IsService": false}),
    );
    let (o3, _) = run_with(&[other], &["users-3"], false);
    assert_ne!(token(&o3), g);
    assert_rows(
        &first.rows,
        &[row(
            Table::User,
            vec![
                t("Users-2"),
                t("build"),
                Value::Bool(true),
                Value::Bool(true),
                Value::Guid(g),
                j(json!({"DisplayName": "Build server"})),
            ],
        )],
    );
}

#[test]
fn teams() {
    let out = run("teams-1");
    assert_rows(
        &out.rows,
        &[row(
            Table::Team,
            vec![
                t("Teams-1"),
                t("Octopus Administrators"),
                t("|Users-1|Users-2|"),
                t("|Projects-1|"),
                t(""),
                j(json!({"UserRoleIds": ["UserRoles-1"], "CanBeDeleted": false})),
            ],
        )],
    );
}

#[test]
fn user_roles_administer_system_gets_account_permissions() {
    let (out, _) = run_with(&[], &["userroles-1", "userroles-2"], false);
    assert_rows(
        &out.rows,
        &[
            row(
                Table::UserRole,
                vec![
                    t("UserRoles-1"),
                    t("System administrator"),
                    j(json!({
                        "Description": "Everything",
                        "GrantedPermissions": ["AdministerSystem", "ProjectView", "AccountView", "AccountEdit"]
                    })),
                ],
            ),
            row(
                Table::UserRole,
                vec![
                    t("UserRoles-2"),
                    t("Project viewer"),
                    j(json!({"Description": "Read only", "GrantedPermissions": ["ProjectView"]})),
                ],
            ),
        ],
    );
}

#[test]
fn api_keys() {
    let out = run("apikeys-1");
    assert_rows(
        &out.rows,
        &[row(
            Table::ApiKey,
            vec![
                t("ApiKeys-1"),
                t("Users-2"),
                t("aGFzaGVk"),
                dt("2015-03-01T09:00:00+01:00"),
                j(json!({"Purpose": "Build server"})),
            ],
        )],
    );
}

#[test]
fn certificates() {
    let (mut out, docs) = run_keeping_inputs("certificate-global");
    let input = input_at(&docs, "certificate-global", "/Certificate");
    check_reencrypted(
        &mut out.rows[0],
        "/Certificate",
        &input,
        "MIIC-certificate-bytes",
    );
    assert_rows(
        &out.rows,
        &[row(
            Table::Certificate,
            vec![
                t("certificate-global"),
                t("ABCDEF0123"),
                t("Octopus Portal"),
                j(json!({"Certificate": REENCRYPTED})),
            ],
        )],
    );
}

#[test]
fn invitations() {
    let out = run("invitations-1");
    assert_rows(
        &out.rows,
        &[row(
            Table::Invitation,
            vec![
                t("Invitations-1"),
                t("c0de"),
                j(json!({"AddToTeamIds": ["Teams-1"], "Expires": "2015-07-01T00:00:00+00:00"})),
            ],
        )],
    );
}

#[test]
fn singletons_become_configuration_rows() {
    let out = run("license");
    assert_rows(
        &out.rows,
        &[row(
            Table::Configuration,
            vec![
                t("License"),
                j(json!({"LicenseText": "<License>text</License>"})),
            ],
        )],
    );

    let (mut out, docs) = run_keeping_inputs("smtpconfiguration");
    let input = input_at(&docs, "smtpconfiguration", "/SmtpPassword");
    check_reencrypted(&mut out.rows[0], "/SmtpPassword", &input, "smtp-pw");
    assert_rows(
        &out.rows,
        &[row(
            Table::Configuration,
            vec![
                t("SmtpConfiguration"),
                j(json!({
                    "SmtpHost": "smtp.example.com",
                    "SmtpPort": 587,
                    "SendEmailFrom": "octopus@example.com",
                    "SmtpLogin": "octopus",
                    "EnableSsl": true,
                    "SmtpPassword": REENCRYPTED
                })),
            ],
        )],
    );

    let out = run("maintenanceconfiguration");
    assert_rows(
        &out.rows,
        &[row(
            Table::Configuration,
            vec![
                t("MaintenanceConfiguration"),
                j(json!({"IsInMaintenanceMode": false})),
            ],
        )],
    );
}

#[test]
fn retention_policies_are_reported_not_migrated() {
    let (out, disp) = run_with(&[], &["retentionpolicies-1"], false);
    assert!(matches!(disp[..], [Disposition::Skipped(_)]), "{disp:?}");
    assert!(out.rows.is_empty());
    assert!(out.problems.is_empty());
    assert_eq!(
        out.report.retention_policies_not_migrated,
        vec!["Keep 30 days".to_owned()]
    );
    assert_eq!(stats(&out, "RetentionPolicies"), (1, 0, 1, 0));
}

// ---------------------------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------------------------

#[test]
fn releases() {
    let out = run("releases-1");
    assert_rows(
        &out.rows,
        &[row(
            Table::Release,
            vec![
                t("Releases-1"),
                t("1.0.0"),
                dt("2015-06-01T10:00:00+10:00"),
                t("Projects-1"),
                t("variableset-Projects-1-s-1"),
                t("deploymentprocess-Projects-1-s-1"),
                j(json!({
                    "LibraryVariableSetSnapshotIds": ["variableset-LibraryVariableSets-1-s-1"],
                    "ReleaseNotes": "First release",
                    "SelectedPackages": [{"StepName": "Deploy web", "Version": "1.0.0"}]
                })),
            ],
        )],
    );
    assert!(out.report.dangling_references.is_empty());
}

#[test]
fn deployments_with_history() {
    let out = run("deployments-1");
    assert_rows(
        &out.rows,
        &[
            row(
                Table::Deployment,
                vec![
                    t("Deployments-1"),
                    t("Deploy to Dev"),
                    dt("2015-06-02T09:59:59+10:00"),
                    t("Environments-1"),
                    t("Projects-1"),
                    t("Releases-1"),
                    t("ProjectGroups-1"),
                    t("ServerTasks-1"),
                    t("admin"),
                    j(json!({
                        "ForcePackageDownload": false,
                        "ForcePackageRedeployment": true,
                        "SkipActions": ["action-2"],
                        "SpecificMachineIds": ["Machines-1"],
                        "Comments": "Ship it",
                        "FormValues": {},
                        "QueueTime": null
                    })),
                ],
            ),
            row(
                Table::DeploymentHistory,
                vec![
                    t("Deployments-1"),
                    t("Deploy to Dev"),
                    t("Projects-1"),
                    t("Web Site"),
                    t("web-site"),
                    t("Environments-1"),
                    t("Dev"),
                    t("Releases-1"),
                    t("1.0.0"),
                    t("ServerTasks-1"),
                    t("Success"),
                    dt("2015-06-02T09:59:59+10:00"),
                    dt("2015-06-02T10:00:00+10:00"),
                    dt("2015-06-02T10:00:05+10:00"),
                    dt("2015-06-02T10:01:35+10:00"),
                    Value::Int(90),
                    t("admin"),
                ],
            ),
        ],
    );
    assert!(out.report.dangling_references.is_empty());
}

#[test]
fn deployment_of_an_executing_task_has_no_history_row() {
    let out = run("deployments-2");
    assert_rows(
        &out.rows,
        &[row(
            Table::Deployment,
            vec![
                t("Deployments-2"),
                t("Deploy to Prod"),
                dt("2015-06-03T07:59:00+00:00"),
                t("Environments-2"),
                t("Projects-2"),
                t("Releases-1"),
                t("ProjectGroups-2"),
                t("ServerTasks-2"),
                t("build"),
                j(json!({})),
            ],
        )],
    );
}

#[test]
fn server_tasks() {
    let (out, _) = run_with(&[], &["servertasks-1", "servertasks-2"], false);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    assert_rows(
        &out.rows,
        &[
            row(
                Table::ServerTask,
                vec![
                    t("ServerTasks-1"),
                    t("Deploy"),
                    t("Deploy Web Site release 1.0.0 to Dev"),
                    dt("2015-06-02T10:00:00+10:00"),
                    dt("2015-06-02T10:00:05+10:00"),
                    dt("2015-06-02T10:01:35+10:00"),
                    Value::Null,
                    t("projects-1/environments-1"),
                    t("Success"),
                    Value::Bool(false),
                    Value::Bool(true),
                    t("OCTO01"),
                    t("Projects-1"),
                    t("Environments-1"),
                    j(json!({"Arguments": {"Force": false}})),
                ],
            ),
            row(
                Table::ServerTask,
                vec![
                    t("ServerTasks-2"),
                    t("Deploy"),
                    t("Deploy Api Service release 1.0.0 to Prod"),
                    dt("2015-06-03T08:00:00+00:00"),
                    dt("2015-06-03T08:00:01+00:00"),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    t("Executing"),
                    Value::Bool(true),
                    Value::Bool(false),
                    Value::Null,
                    t("Projects-2"),
                    t("Environments-2"),
                    j(json!({"Arguments": {}})),
                ],
            ),
        ],
    );
    assert_eq!(out.tasks, vec!["ServerTasks-1", "ServerTasks-2"]);
}

#[test]
fn events_with_related_documents() {
    let out = run("events-1");
    assert_rows(
        &out.rows,
        &[
            row(
                Table::Event,
                vec![
                    t("Events-1"),
                    t("|Deployments-1|Projects-1|Environments-1|Releases-1|"),
                    t("Projects-1"),
                    t("Environments-1"),
                    t("DeploymentSucceeded"),
                    t("Users-1"),
                    t("admin"),
                    dt("2015-06-02T10:01:35+10:00"),
                    t("Deploy to Dev succeeded"),
                    j(json!({
                        "MessageReferences": [],
                        "Comments": null,
                        "Details": null,
                        "IdentityEstablishedWith": "Session cookie"
                    })),
                ],
            ),
            row(
                Table::EventRelatedDocument,
                vec![t("Deployments-1"), t("Events-1")],
            ),
            row(
                Table::EventRelatedDocument,
                vec![t("Projects-1"), t("Events-1")],
            ),
            row(
                Table::EventRelatedDocument,
                vec![t("Environments-1"), t("Events-1")],
            ),
            row(
                Table::EventRelatedDocument,
                vec![t("Releases-1"), t("Events-1")],
            ),
        ],
    );
}

#[test]
fn system_event_without_user_or_project() {
    let out = run("events-2");
    assert_rows(
        &out.rows,
        &[
            row(
                Table::Event,
                vec![
                    t("Events-2"),
                    t("|Machines-1|"),
                    Value::Null,
                    Value::Null,
                    t("MachineHealthy"),
                    t(""),
                    t(""),
                    dt("2015-06-02T11:00:00+00:00"),
                    t("web01 is healthy"),
                    j(json!({})),
                ],
            ),
            row(
                Table::EventRelatedDocument,
                vec![t("Machines-1"), t("Events-2")],
            ),
        ],
    );
}

#[test]
fn artifacts() {
    let out = run("artifacts-1");
    assert_rows(
        &out.rows,
        &[row(
            Table::Artifact,
            vec![
                t("Artifacts-1"),
                t("install.log"),
                t("|ServerTasks-1|Projects-1|Environments-1|"),
                dt("2015-06-02T10:01:00+10:00"),
                t("Projects-1"),
                t("Environments-1"),
                j(json!({"ServerTaskId": "ServerTasks-1"})),
            ],
        )],
    );
    assert_eq!(
        out.artifacts,
        vec![("Artifacts-1".to_owned(), "install.log".to_owned())]
    );
}

#[test]
fn interruptions_pending_and_resolved() {
    let (out, _) = run_with(&[], &["interruptions-1", "interruptions-2"], false);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    assert_rows(
        &out.rows,
        &[
            row(
                Table::Interruption,
                vec![
                    t("Interruptions-1"),
                    dt("2015-06-02T10:00:30+10:00"),
                    t("Approve deployment"),
                    t("Pending"),
                    t("|Deployments-1|Projects-1|Environments-1|"),
                    t("|Teams-1|"),
                    t("Projects-1"),
                    t("Environments-1"),
                    t("ServerTasks-1"),
                    // DESIGN.md: IsPending has no column of its own, so it also stays in JSON;
                    // CorrelationId is not a document reference.
                    j(json!({
                        "IsPending": true,
                        "Form": {"Values": {"Notes": null}},
                        "CorrelationId": "servertasks-1/3f2a"
                    })),
                ],
            ),
            row(
                Table::Interruption,
                vec![
                    t("Interruptions-2"),
                    dt("2015-06-02T10:00:40+10:00"),
                    t("Guidance"),
                    t("Resolved"),
                    t("|ServerTasks-1|"),
                    t(""),
                    t(""),
                    t(""),
                    t("ServerTasks-1"),
                    j(json!({"IsPending": false})),
                ],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Cross-cutting rules
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_collection_is_skipped_and_reported() {
    let (out, disp) = run_with(&[], &["widgets-4"], false);
    assert!(matches!(disp[..], [Disposition::Skipped(_)]), "{disp:?}");
    assert!(out.rows.is_empty());
    assert!(out.problems.is_empty());
    let u = &out.report.unknown_collections["Widgets"];
    assert_eq!(u.count, 1);
    assert_eq!(u.first_ids, vec!["widgets-4".to_owned()]);
    assert_eq!(stats(&out, "Widgets"), (1, 0, 1, 0));
}

#[test]
fn system_documents_are_not_counted() {
    let (out, disp) = run_with(&[], &["Raven/Hilo/projects"], false);
    assert_eq!(disp, vec![Disposition::System]);
    assert!(out.rows.is_empty());
    assert!(out.report.collections.is_empty());
}

#[test]
fn dangling_reference_is_kept_and_counted() {
    let orphan = doc(
        "Projects",
        "projects-3",
        json!({
            "Name": "Orphan",
            "Slug": "orphan",
            "IsDisabled": false,
            "ProjectGroupId": "ProjectGroups-1",
            "LifecycleId": "lifecycles-99",
            "AutoCreateRelease": false
        }),
    );
    let (out, disp) = run_with(&[orphan], &["projects-3"], false);
    assert_eq!(disp, vec![Disposition::Migrated]);
    assert_rows(
        &out.rows,
        &[row(
            Table::Project,
            vec![
                t("Projects-3"),
                t("Orphan"),
                t("orphan"),
                Value::Bool(false),
                Value::Null,
                Value::Null,
                t("ProjectGroups-1"),
                t("lifecycles-99"),
                Value::Bool(false),
                j(json!({})),
            ],
        )],
    );
    assert_eq!(
        out.report
            .dangling_references
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        vec!["Projects.LifecycleId".to_owned()]
    );
    let d = &out.report.dangling_references["Projects.LifecycleId"];
    assert_eq!(d.count, 1);
    assert!(
        d.examples.iter().any(|e| e.contains("lifecycles-99")),
        "{:?}",
        d.examples
    );
}

#[test]
fn mixed_case_ids_resolve() {
    // The documents are `projects-1`, `projectgroups-1`, `Environments-2`; the references are
    // written `Projects-1`, `ProjectGroups-1`, `environments-2`.
    let refs = doc(
        "Teams",
        "TEAMS-7",
        json!({
            "Name": "Mixed",
            "MemberUserIds": ["USERS-1"],
            "ProjectIds": ["Projects-1"],
            "EnvironmentIds": ["environments-2", "ENVIRONMENTS-1"],
            "UserRoleIds": []
        }),
    );
    let (out, _) = run_with(&[refs], &["TEAMS-7", "machines-2"], false);
    assert!(
        out.report.dangling_references.is_empty(),
        "{:?}",
        out.report
    );
    assert_eq!(out.rows[0].get("Id"), Some(&t("Teams-7")));
    assert_eq!(out.rows[0].get("MemberUserIds"), Some(&t("|Users-1|")));
    assert_eq!(out.rows[0].get("ProjectIds"), Some(&t("|Projects-1|")));
    assert_eq!(
        out.rows[0].get("EnvironmentIds"),
        Some(&t("|Environments-2|Environments-1|"))
    );
    assert_eq!(
        out.rows[1].get("EnvironmentIds"),
        Some(&t("|Environments-2|"))
    );
}

#[test]
fn id_and_metadata_never_reach_json() {
    // Through the reader, as the pipeline does: a body `Id` and `@metadata` are in the dump.
    let export = r#"{"Docs":[
        {"Id":"projects-77","Name":"Mobile","Slug":"mobile","IsDisabled":false,
         "ProjectGroupId":"projectgroups-1","LifecycleId":"lifecycles-1","AutoCreateRelease":false,
         "@metadata":{"@id":"projects-77","Raven-Entity-Name":"Projects","Raven-Clr-Type":"Octopus.Core.Model.Projects.Project, Octopus.Core","@etag":"01000000-0000-0001-0000-000000000001"}},
        {"Id":"maintenanceconfiguration","IsInMaintenanceMode":true,
         "@metadata":{"@id":"maintenanceconfiguration","Raven-Entity-Name":"MaintenanceConfigurations"}}
    ]}"#;
    let mut parsed = Vec::new();
    read_export(export.as_bytes(), Location::default(), &mut |item, _| {
        if let Item::Doc(d) = item {
            parsed.push(d);
        }
        Ok(())
    })
    .unwrap();
    let mut docs = world();
    docs.retain(|d| d.id != "maintenanceconfiguration");
    docs.extend(parsed.iter().cloned());
    let index = index_of(&docs);
    let (source, target) = (source_key(), target_key());
    let ctx = Context {
        index: &index,
        source_key: &source,
        target_key: &target,
        skip_unsupported_steps: false,
    };
    let mut out = Output::default();
    for d in parsed {
        assert_eq!(transform(d, &ctx, &mut out), Disposition::Migrated);
    }
    assert_rows(
        &out.rows,
        &[
            row(
                Table::Project,
                vec![
                    t("Projects-77"),
                    t("Mobile"),
                    t("mobile"),
                    Value::Bool(false),
                    Value::Null,
                    Value::Null,
                    t("ProjectGroups-1"),
                    t("Lifecycles-1"),
                    Value::Bool(false),
                    j(json!({})),
                ],
            ),
            row(
                Table::Configuration,
                vec![
                    t("MaintenanceConfiguration"),
                    j(json!({"IsInMaintenanceMode": true})),
                ],
            ),
        ],
    );
}

#[test]
fn undecryptable_values_name_document_and_field() {
    let wrong = MasterKey::from_bytes([3u8; 16]);
    let bad_feed = doc(
        "Feeds",
        "feeds-2",
        json!({"Name": "Broken", "FeedUri": "https://x/", "Password": encrypt_value(&wrong, "pw")}),
    );
    let bad_vars = doc(
        "VariableSets",
        "variableset-projects-2",
        json!({
            "OwnerId": "projects-2",
            "Version": 1,
            "IsFrozen": false,
            "Variables": [
                {"Id": "v1", "Name": "Plain", "Value": "x", "Scope": {}, "IsSensitive": false},
                {"Id": "v2", "Name": "Secret", "Value": "not an MK value", "Scope": {}, "IsSensitive": true}
            ]
        }),
    );
    let (out, disp) = run_with(
        &[bad_feed, bad_vars],
        &["feeds-2", "variableset-projects-2"],
        false,
    );
    assert_eq!(disp, vec![Disposition::Failed, Disposition::Failed]);
    assert!(out.rows.is_empty(), "{:?}", out.rows);
    let named: Vec<(String, String)> = out
        .problems
        .iter()
        .map(|p| match p {
            Problem::Undecryptable { doc_id, field, .. } => (doc_id.clone(), field.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        named,
        vec![
            ("feeds-2".to_owned(), "Password".to_owned()),
            (
                "variableset-projects-2".to_owned(),
                "Variables[1].Value".to_owned()
            ),
        ]
    );
    // The problem never carries the value.
    for p in &out.problems {
        assert!(!format!("{p:?}").contains("not an MK value"), "{p:?}");
    }
    assert_eq!(stats(&out, "Feeds"), (1, 0, 0, 1));
    assert_eq!(stats(&out, "VariableSets"), (1, 0, 0, 1));
    assert_eq!(out.report.reencrypted_values, 0);
}

/// Every document of the world through one output: the counts per collection add up, and no
/// JSON column carries `Id` or `@metadata`.
#[test]
fn all_collections_counted() {
    let docs = world();
    let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    let (out, _) = run_with(&[], &ids, true);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let expected: &[(&str, Counts)] = &[
        ("ActionTemplates", (1, 1, 0, 0)),
        ("ApiKeys", (1, 1, 0, 0)),
        ("Artifacts", (1, 1, 0, 0)),
        ("Certificates", (1, 1, 0, 0)),
        ("DeploymentProcesses", (3, 3, 0, 0)),
        ("Deployments", (2, 2, 0, 0)),
        ("Environments", (2, 2, 0, 0)),
        ("Events", (2, 2, 0, 0)),
        ("Feeds", (2, 2, 0, 0)),
        ("Interruptions", (2, 2, 0, 0)),
        ("Invitations", (1, 1, 0, 0)),
        ("LibraryVariableSets", (1, 1, 0, 0)),
        ("Licenses", (1, 1, 0, 0)),
        ("Lifecycles", (1, 1, 0, 0)),
        ("Machines", (2, 2, 0, 0)),
        ("MaintenanceConfigurations", (1, 1, 0, 0)),
        ("ProjectGroups", (2, 2, 0, 0)),
        ("Projects", (2, 2, 0, 0)),
        ("Releases", (1, 1, 0, 0)),
        ("RetentionPolicies", (1, 0, 1, 0)),
        ("ServerTasks", (2, 2, 0, 0)),
        ("SmtpConfigurations", (1, 1, 0, 0)),
        ("Teams", (1, 1, 0, 0)),
        ("UserRoles", (2, 2, 0, 0)),
        ("Users", (2, 2, 0, 0)),
        ("VariableSets", (4, 4, 0, 0)),
        ("Widgets", (1, 0, 1, 0)),
    ];
    assert_eq!(
        out.report.collections.keys().cloned().collect::<Vec<_>>(),
        expected
            .iter()
            .map(|(c, _)| (*c).to_owned())
            .collect::<Vec<_>>()
    );
    for (c, counts) in expected {
        assert_eq!(stats(&out, c), *counts, "{c}");
    }
    assert!(
        out.report.dangling_references.is_empty(),
        "{:?}",
        out.report.dangling_references
    );
    // 1 variable, 1 action property, 1 feed password, 1 certificate, 1 SMTP password.
    assert_eq!(out.report.reencrypted_values, 5);
    for r in &out.rows {
        if r.table.column_index("JSON").is_some() {
            let json = json_of(r);
            let obj = json.as_object().expect("the JSON column is an object");
            assert!(!obj.contains_key("Id"), "{r:?}");
            assert!(!obj.contains_key("@metadata"), "{r:?}");
        }
    }
}

#[test]
fn a_value_longer_than_its_column_is_a_preflight_problem_not_a_truncation() {
    // ServerTask.Name is nvarchar(20); Machine.Name nvarchar(200), counted in UTF-16 units
    // (each of these emoji is two).
    let long_task = doc(
        "ServerTasks",
        "servertasks-900",
        json!({"Name": "DeployWithAVeryLongName", "Description": "d", "State": "Success",
               "QueueTime": "2015-06-30T10:11:12+00:00"}),
    );
    let emoji = "\u{1F680}".repeat(101);
    let long_env = doc("Environments", "environments-900", json!({"Name": emoji}));
    let fits = doc(
        "Environments",
        "environments-901",
        json!({"Name": "\u{1F680}".repeat(100)}),
    );
    let (out, disp) = run_with(
        &[long_task, long_env, fits],
        &["servertasks-900", "environments-900", "environments-901"],
        false,
    );
    assert_eq!(
        disp,
        vec![
            Disposition::Failed,
            Disposition::Failed,
            Disposition::Migrated
        ]
    );
    let msgs: Vec<String> = out.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].contains("servertasks-900")
            && msgs[0].contains("ServerTask.Name is nvarchar(20) but the value has 23"),
        "{msgs:?}"
    );
    assert!(
        msgs[1].contains("DeploymentEnvironment.Name is nvarchar(200) but the value has 202"),
        "{msgs:?}"
    );
    assert_eq!(out.rows.len(), 1, "only the document that fits has a row");
}
