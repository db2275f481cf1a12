//! Sensitive values: decrypted with the 2.6 key and re-encrypted with the target key, a new IV
//! each time. A value that does not decrypt is a preflight problem naming the document and field.

use serde_json::{Map, Value as Json};

use super::values::to_column;
use super::Doc;
use crate::crypto::{decrypt_value, encrypt_value};
use crate::parse::Body;
use crate::preflight::Problem;
use crate::schema::{Column, SqlType, Value};

/// `IsSensitive` read as a NOT NULL `bit` column is.
const IS_SENSITIVE: Column = Column {
    name: "IsSensitive",
    ty: SqlType::Bit,
    nullable: false,
};

impl Doc<'_, '_> {
    fn reencrypt(&mut self, field: &str, v: &mut Json) {
        let Json::String(s) = v else {
            return;
        };
        if s.is_empty() {
            return;
        }
        match decrypt_value(self.ctx.source_key, s) {
            Ok(plain) => {
                *s = encrypt_value(self.ctx.target_key, plain.expose());
                self.out.report.reencrypted_values += 1;
            }
            Err(e) => {
                let doc_id = self.id.clone();
                self.problem(Problem::Undecryptable {
                    doc_id,
                    field: field.to_owned(),
                    reason: e.to_string(),
                });
            }
        }
    }
}

/// One top-level sensitive field (`Password`, `Certificate`, `SmtpPassword`).
pub(crate) fn field(d: &mut Doc<'_, '_>, body: &mut Body, name: &str) {
    if let Some(v) = body.get_mut(name) {
        d.reencrypt(name, v);
    }
}

/// Variables: `IsSensitive` becomes `Type` (`Sensitive` or `String`), sensitive values are
/// re-encrypted, scope references rewritten.
pub(crate) fn variables(d: &mut Doc<'_, '_>, body: &mut Body) {
    let Some(Json::Array(vars)) = body.get_mut("Variables") else {
        return;
    };
    for (i, var) in vars.iter_mut().enumerate() {
        super::refs::rewrite_scope(d, var);
        let Json::Object(obj) = var else {
            continue;
        };
        // [model] Read as Octopus's JSON reader reads a bool, and as every `bit` column is
        // read: true/false, also as text in any case ("True"), or 0/1; absent or null is
        // false. Anything else is a problem: guessing could store a secret as plain text.
        let sensitive = match to_column(&IS_SENSITIVE, obj.get("IsSensitive").cloned()) {
            Ok(Value::Bool(b)) => b,
            other => {
                let reason = match other {
                    Err(e) => e,
                    Ok(_) => "IsSensitive is not a bool".to_owned(),
                };
                d.unmappable(format!(
                    "Variables[{i}].{reason}; a sensitive flag must be true or false"
                ));
                continue;
            }
        };
        let ty = Json::String(if sensitive { "Sensitive" } else { "String" }.to_owned());
        // Keep the property order: `Type` takes the place of `IsSensitive`.
        let rebuilt: Map<String, Json> = std::mem::take(obj)
            .into_iter()
            .map(|(k, v)| {
                if k == "IsSensitive" {
                    ("Type".to_owned(), ty.clone())
                } else {
                    (k, v)
                }
            })
            .collect();
        *obj = rebuilt;
        obj.entry("Type").or_insert(ty);
        if sensitive {
            if let Some(v) = obj.get_mut("Value") {
                d.reencrypt(&format!("Variables[{i}].Value"), v);
            }
        }
    }
}

/// An action's `SensitiveProperties` values.
pub(crate) fn action(d: &mut Doc<'_, '_>, action: &mut Json, path: &str) {
    if let Some(Json::Object(props)) = action.get_mut("SensitiveProperties") {
        for (k, v) in props.iter_mut() {
            d.reencrypt(&format!("{path}.SensitiveProperties.{k}"), v);
        }
    }
}
