//! Pure types and rules of the chat domain: no IO here.

pub mod cdc;
pub mod change;
pub mod channels;
pub mod chat;
pub mod events;
pub mod mention;
pub mod message;
pub mod typing;
pub mod user;

/// One rejected input field, in the shape FastAPI clients already parse
/// (`{"type", "loc", "msg", "input"}`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Invalid {
    /// What is wrong, e.g. `missing`, `string_too_long`, `uuid_parsing`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// Where: `body`, `query` or `path`, then the field (and list index).
    #[schema(value_type = Vec<LocPart>)]
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    /// The rejected value (long strings shortened, secrets hidden).
    pub input: serde_json::Value,
}

/// One step of `Invalid::loc`: a field name or a list index.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents the shape only
#[serde(untagged)]
pub enum LocPart {
    Field(String),
    Index(u32),
}

impl Invalid {
    pub fn body(
        field: &str,
        kind: &'static str,
        msg: impl Into<String>,
        input: impl serde::Serialize,
    ) -> Self {
        Self {
            kind,
            loc: vec!["body".into(), field.into()],
            msg: msg.into(),
            input: serde_json::to_value(input).unwrap_or_default(),
        }
    }

    pub fn at(mut self, location: &str) -> Self {
        if let Some(first) = self.loc.first_mut() {
            *first = location.into();
        }
        self
    }
}

/// Length limits count characters, as people do, not bytes. NUL characters
/// are refused too: Postgres cannot store them in text or JSONB.
pub fn check_length(field: &str, value: &str, min: usize, max: usize) -> Result<(), Invalid> {
    if value.contains('\0') {
        return Err(Invalid::body(
            field,
            "string_nul",
            "String must not contain NUL characters",
            truncate_for_echo(&value.replace('\0', "\\0")),
        ));
    }
    let length = value.chars().count();
    if length < min {
        return Err(Invalid::body(
            field,
            "string_too_short",
            format!(
                "String should have at least {min} character{}",
                if min == 1 { "" } else { "s" }
            ),
            value,
        ));
    }
    if length > max {
        return Err(Invalid::body(
            field,
            "string_too_long",
            format!("String should have at most {max} characters"),
            truncate_for_echo(value),
        ));
    }
    Ok(())
}

/// Error bodies echo input; a 1 MB string should not be echoed whole.
fn truncate_for_echo(value: &str) -> String {
    value.chars().take(64).collect()
}
