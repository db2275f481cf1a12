//! Rewriting document references where docs/mapping.md says they stand, and only there.

use serde_json::Value as Json;

use super::Doc;
use crate::parse::Body;

/// \[model\] Top-level properties that end in `Id` but are not document references.
pub const NOT_REFERENCES: &[&str] = &["CorrelationId"];

/// \[public\] The action property that names a NuGet feed.
pub const FEED_PROPERTY: &str = "Octopus.Action.Package.NuGetFeedId";

fn is_reference_property(name: &str) -> bool {
    if NOT_REFERENCES.contains(&name) {
        return false;
    }
    name == "RelatedDocumentIds"
        || name == "OwnerId"
        || (name.len() > 2 && name.ends_with("Id"))
        || (name.len() > 3 && name.ends_with("Ids"))
}

impl Doc<'_, '_> {
    /// Rewrites one reference: to its 3.x id when the document is in the backup; kept as it is
    /// and reported as dangling otherwise.
    pub(crate) fn reference(&mut self, field: &str, value: &str) -> String {
        if value.is_empty() {
            return String::new();
        }
        // Taken apart once for both the lookup and the rewrite (this runs for every reference).
        let canonical = crate::ids::numbered_canonical(value);
        let index = self.ctx.index;
        if index.contains_hash(crate::ids::id_hash_with(value, canonical)) {
            index
                .id_map
                .map(crate::ids::rewrite_id_with(value, canonical))
        } else {
            let key = format!("{}.{}", self.collection.name, field);
            let example = || format!("{} -> {}", self.id, value);
            let ex = example();
            self.out.report.dangling(key, || ex);
            value.to_owned()
        }
    }

    /// Rewrites a string or list of strings in place.
    pub(crate) fn reference_value(&mut self, field: &str, v: &mut Json) {
        match v {
            Json::String(s) => *s = self.reference(field, s),
            Json::Array(items) => {
                for i in items {
                    if let Json::String(s) = i {
                        *s = self.reference(field, s);
                    }
                }
            }
            _ => {}
        }
    }
}

/// `<Thing>Id`, `<Thing>Ids`, `RelatedDocumentIds`, `OwnerId` at the top level.
pub(crate) fn rewrite_top_level(d: &mut Doc<'_, '_>, body: &mut Body) {
    for (k, v) in body.iter_mut_where(is_reference_property) {
        d.reference_value(k, v);
    }
}

/// Lifecycle phases' deployment targets.
pub(crate) fn rewrite_lifecycle(d: &mut Doc<'_, '_>, body: &mut Body) {
    if let Some(Json::Array(phases)) = body.get_mut("Phases") {
        for p in phases {
            for f in ["AutomaticDeploymentTargets", "OptionalDeploymentTargets"] {
                if let Some(v) = p.get_mut(f) {
                    d.reference_value(&format!("Phases.{f}"), v);
                }
            }
        }
    }
}

/// An action's `Environments` and its NuGet feed property.
pub(crate) fn rewrite_action(d: &mut Doc<'_, '_>, action: &mut Json) {
    if let Some(v) = action.get_mut("Environments") {
        d.reference_value("Steps.Actions.Environments", v);
    }
    if let Some(v) = action
        .get_mut("Properties")
        .and_then(|p| p.get_mut(FEED_PROPERTY))
    {
        d.reference_value(&format!("Steps.Actions.Properties.{FEED_PROPERTY}"), v);
    }
}

/// A variable's `Scope.Environment` and `Scope.Machine`.
pub(crate) fn rewrite_scope(d: &mut Doc<'_, '_>, variable: &mut Json) {
    if let Some(scope) = variable.get_mut("Scope") {
        for f in ["Environment", "Machine"] {
            if let Some(v) = scope.get_mut(f) {
                d.reference_value(&format!("Variables.Scope.{f}"), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_reference_property;

    #[test]
    fn reference_properties() {
        for yes in [
            "ProjectId",
            "EnvironmentIds",
            "RelatedDocumentIds",
            "OwnerId",
            "TaskId",
            "MemberUserIds",
        ] {
            assert!(is_reference_property(yes), "{yes}");
        }
        for no in [
            "Id",
            "CorrelationId",
            "Name",
            "Roles",
            "IdentificationToken",
            "Ids",
        ] {
            assert!(!is_reference_property(no), "{no}");
        }
    }
}
