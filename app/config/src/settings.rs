//! The flat list of settings, derived from the schema of [`Config`](crate::Config):
//! one source for environment parsing and for `docs/configuration.md`.

use std::sync::OnceLock;

use schemars::schema_for;
use serde_json::{Map, Value};

use crate::{Config, env_name};

/// The value type of one setting, as environment variables are parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Boolean,
    OneOf(Vec<String>),
}

/// One leaf setting: `postgres.url` is read from `POSTGRES__URL`.
#[derive(Debug, Clone)]
pub struct Setting {
    pub path: String,
    pub env: String,
    pub kind: Kind,
    pub secret: bool,
    pub default: Value,
    pub description: String,
}

pub fn settings() -> &'static [Setting] {
    static SETTINGS: OnceLock<Vec<Setting>> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let schema = serde_json::to_value(schema_for!(Config)).unwrap_or_default();
        let defs = schema.get("$defs").cloned().unwrap_or_default();
        // Defaults come from `Config::default()` itself; secrets serialise redacted.
        let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
        let mut settings = Vec::new();
        collect(&schema, &defs, &defaults, "", &mut settings);
        settings
    })
}

/// One markdown table row per setting: variable, type, default, description.
pub fn markdown_table() -> String {
    let mut out = String::from("| Variable | Type | Default | Description |\n|---|---|---|---|\n");
    for setting in settings() {
        let kind = match &setting.kind {
            Kind::Text => "string".to_owned(),
            Kind::Integer => "integer".to_owned(),
            Kind::Boolean => "boolean".to_owned(),
            Kind::OneOf(values) => values
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(" \\| "),
        };
        let kind = if setting.secret {
            format!("{kind} (secret)")
        } else {
            kind
        };
        let default = match &setting.default {
            Value::Null => "unset".to_owned(),
            Value::String(s) if s.is_empty() => "empty".to_owned(),
            _ if setting.secret => "local default (see below)".to_owned(),
            Value::String(s) => format!("`{s}`"),
            other => format!("`{other}`"),
        };
        out.push_str(&format!(
            "| `{}` | {kind} | {default} | {} |\n",
            setting.env, setting.description
        ));
    }
    out
}

fn collect(schema: &Value, defs: &Value, defaults: &Value, path: &str, out: &mut Vec<Setting>) {
    let schema = resolve(schema, defs);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        let full = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let target = resolve(property, defs);
        let default = defaults.get(name).cloned().unwrap_or(Value::Null);
        if target.get("properties").is_some() {
            collect(property, defs, &default, &full, out);
            continue;
        }
        out.push(Setting {
            env: env_name(&full),
            path: full,
            kind: kind(&target),
            secret: target.get("x-secret") == Some(&Value::Bool(true)),
            default,
            description: property
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .replace('\n', " ")
                .replace('|', "\\|"),
        });
    }
}

/// Follows `$ref`, and the non-null branch of an `Option`.
fn resolve(schema: &Value, defs: &Value) -> Map<String, Value> {
    let mut current = schema.clone();
    for _ in 0..4 {
        if let Some(reference) = current.get("$ref").and_then(Value::as_str) {
            current = defs
                .get(reference.trim_start_matches("#/$defs/"))
                .cloned()
                .unwrap_or_default();
        } else if let Some(inner) =
            current
                .get("anyOf")
                .and_then(Value::as_array)
                .and_then(|variants| {
                    variants
                        .iter()
                        .find(|v| v.get("type") != Some(&"null".into()))
                })
        {
            current = inner.clone();
        } else {
            break;
        }
    }
    current.as_object().cloned().unwrap_or_default()
}

fn kind(schema: &Map<String, Value>) -> Kind {
    let names = |values: &Value| -> Vec<String> {
        values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    if let Some(values) = schema.get("enum") {
        return Kind::OneOf(names(values));
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        return Kind::OneOf(
            variants
                .iter()
                .flat_map(|v| match (v.get("const"), v.get("enum")) {
                    (Some(c), _) => names(&Value::Array(vec![c.clone()])),
                    (None, Some(values)) => names(values),
                    _ => vec![],
                })
                .collect(),
        );
    }
    let types = match schema.get("type") {
        Some(Value::Array(types)) => types.clone(),
        Some(single) => vec![single.clone()],
        None => vec![],
    };
    if types.contains(&"integer".into()) {
        Kind::Integer
    } else if types.contains(&"boolean".into()) {
        Kind::Boolean
    } else {
        Kind::Text
    }
}
