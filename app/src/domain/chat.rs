//! Chats: metadata rules and the response shape.

use serde::{Deserialize, Serialize};

use super::{Invalid, check_length};

pub const TITLE_MAX: usize = 100;

/// Which of a chat's messages notify a member: every message from someone
/// else, only those that mention them (the default), or none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotificationLevel {
    All,
    #[default]
    Mentions,
    Muted,
}

impl NotificationLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationLevel::All => "all",
            NotificationLevel::Mentions => "mentions",
            NotificationLevel::Muted => "muted",
        }
    }

    /// As stored (a CHECK constraint keeps the column to these names).
    pub fn parse(stored: &str) -> Self {
        match stored {
            "all" => NotificationLevel::All,
            "muted" => NotificationLevel::Muted,
            _ => NotificationLevel::Mentions,
        }
    }
}
pub const DESCRIPTION_MAX: usize = 500;

/// The original's `ChatMetaData`: both keys always present in responses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ChatMetaData)]
pub struct ChatMeta {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

impl ChatMeta {
    pub fn new(title: Option<String>, description: Option<String>) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        if let Some(title) = &title
            && let Err(e) = check_length("title", title, 1, TITLE_MAX)
        {
            problems.push(e);
        }
        if let Some(description) = &description
            && let Err(e) = check_length("description", description, 0, DESCRIPTION_MAX)
        {
            problems.push(e);
        }
        if problems.is_empty() {
            Ok(Self { title, description })
        } else {
            Err(problems)
        }
    }

    /// Stored JSONB leaves out absent fields, as the original did.
    pub fn to_stored(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        if let Some(title) = &self.title {
            map.insert("title".into(), title.clone().into());
        }
        if let Some(description) = &self.description {
            map.insert("description".into(), description.clone().into());
        }
        map.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_descriptions_are_bounded() {
        assert!(ChatMeta::new(Some(String::new()), None).is_err());
        assert!(ChatMeta::new(Some("t".repeat(TITLE_MAX + 1)), None).is_err());
        let both = ChatMeta::new(
            Some("t".repeat(TITLE_MAX + 1)),
            Some("d".repeat(DESCRIPTION_MAX + 1)),
        )
        .unwrap_err();
        assert_eq!(both.len(), 2);
        let ok = ChatMeta::new(Some("Team".into()), None).unwrap();
        assert_eq!(ok.to_stored(), serde_json::json!({"title": "Team"}));
    }
}
