//! Chat messages: identifiers, the record on the Kafka topic, the API shape.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use uuid::Uuid;

use super::{Invalid, check_length, user::UserMeta};

/// The original's `ChatMessage`: what the API returns and DynamoDB stores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatMessage {
    pub chat_id: Uuid,
    pub ulid: String,
    pub client_uuid: Option<Uuid>,
    pub timestamp: String,
    pub user_id: Uuid,
    /// Empty once the message was deleted.
    pub content: String,
    /// When the author last edited it (ISO-8601 UTC), absent if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// Deleted by its author or the chat's creator: the content is gone
    /// from storage and clients show a placeholder in its place.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The message this one answers, as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
    /// The members it mentions (`@username`), as the API found them when it
    /// was sent or last edited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Uuid>,
    /// One entry per emoji, in the order the emoji was first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
}

/// The quoted message of a reply: who wrote it and its start, kept current
/// (an edit changes the excerpt, a deletion empties it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplyTo {
    pub ulid: String,
    pub user_id: Uuid,
    /// The author's username when the reply was sent.
    pub username: Option<String>,
    /// The first characters of the quoted message; empty once it was deleted.
    pub excerpt: String,
    #[serde(default)]
    pub deleted: bool,
}

/// Who reacted with one emoji; its count is the number of users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reaction {
    pub emoji: String,
    pub user_ids: Vec<Uuid>,
}

/// The Kafka record value: the message plus its author's metadata,
/// fields in the original's order so Centrifugo subscribers see the same JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ChatMessageResponse)]
pub struct MessageRecord {
    #[serde(flatten)]
    pub message: ChatMessage,
    pub author_metadata: Option<UserMeta>,
}

/// One record of the chat-message log (key chat id, so a chat's messages
/// and the changes to them keep one order). Message records carry no `type`
/// (the original's shape); changes carry theirs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LogRecord {
    // Tried first: a message record has no `type`, so it never matches.
    Change(super::change::MessageChange),
    Message(MessageRecord),
}

impl LogRecord {
    pub fn chat_id(&self) -> Uuid {
        match self {
            LogRecord::Change(change) => change.chat_id,
            LogRecord::Message(record) => record.message.chat_id,
        }
    }
}

/// Monotonic ULIDs: strictly increasing within this process, even inside one
/// millisecond, so per-chat order from one API instance is total.
#[derive(Default)]
pub struct MessageIds(Mutex<ulid::Generator>);

impl MessageIds {
    pub fn next(&self) -> Ulid {
        let mut generator = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Overflow needs 2^80 ids in one millisecond; fall back to a fresh ULID.
        generator.generate().unwrap_or_else(|_| Ulid::new())
    }
}

/// ISO-8601 UTC of the ULID's millisecond, formatted like the original:
/// six fractional digits unless the millisecond part is zero.
pub fn timestamp_of(id: Ulid) -> String {
    let ms = i64::try_from(id.timestamp_ms()).unwrap_or(i64::MAX);
    let time = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    let millis = time.timestamp_subsec_millis();
    if millis == 0 {
        time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        format!("{}.{:06}Z", time.format("%Y-%m-%dT%H:%M:%S"), millis * 1000)
    }
}

/// Content must say something and fit the configured limit.
pub fn check_content(content: &str, max: usize) -> Result<(), Invalid> {
    check_length("content", content, 1, max)?;
    if content.trim().is_empty() {
        return Err(Invalid::body(
            "content",
            "value_error",
            "Content must not be blank",
            content,
        ));
    }
    Ok(())
}

/// History cursors are the ULID of the oldest message of the previous page.
pub fn parse_cursor(cursor: &str) -> Result<Ulid, Invalid> {
    Ulid::from_string(cursor).map_err(|_| Invalid {
        kind: "value_error",
        loc: vec!["query".into(), "cursor".into()],
        msg: "Cursor must be the next_cursor of a previous page (a 26-character ULID)".into(),
        input: cursor.chars().take(64).collect::<String>().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_within_one_millisecond() {
        let ids = MessageIds::default();
        let many: Vec<Ulid> = (0..1000).map(|_| ids.next()).collect();
        assert!(many.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn timestamps_match_the_original_format() {
        let at = |ms: u64| Ulid::from_parts(ms, 0);
        assert_eq!(
            timestamp_of(at(1_795_707_964_970)),
            "2026-11-26T15:46:04.970000Z"
        );
        assert_eq!(timestamp_of(at(1_795_707_964_000)), "2026-11-26T15:46:04Z");
    }

    #[test]
    fn the_record_keeps_the_original_field_order() {
        let record = MessageRecord {
            message: ChatMessage {
                chat_id: Uuid::nil(),
                ulid: "01J".into(),
                client_uuid: None,
                timestamp: "t".into(),
                user_id: Uuid::nil(),
                content: "hi".into(),
                ..ChatMessage::default()
            },
            author_metadata: Some(UserMeta {
                username: "ann".into(),
            }),
        };
        let json = serde_json::to_string(&record).unwrap();
        let nil = Uuid::nil();
        assert_eq!(
            json,
            format!(
                r#"{{"chat_id":"{nil}","ulid":"01J","client_uuid":null,"timestamp":"t","user_id":"{nil}","content":"hi","author_metadata":{{"username":"ann"}}}}"#
            )
        );
    }

    #[test]
    fn content_and_cursors_are_checked() {
        assert!(check_content("   ", 10).is_err());
        assert!(check_content("", 10).is_err());
        assert!(check_content("hello", 4).is_err());
        assert!(check_content("hello", 5).is_ok());
        assert!(parse_cursor("nope").is_err());
        assert!(parse_cursor(&Ulid::new().to_string()).is_ok());
    }
}
