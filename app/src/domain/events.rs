//! Outbox events: what other services learn about changes in Postgres.

use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// The aggregate an event belongs to; the relay maps it to a topic
/// (`TOPICS__CHAT_EVENTS__NAME`, `TOPICS__USER_EVENTS__NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    Chat,
    User,
}

impl Aggregate {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::Chat => "chat",
            Aggregate::User => "user",
        }
    }
}

/// An event to write in the same transaction as the change it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub aggregate: Aggregate,
    pub aggregate_id: Uuid,
    pub event_type: &'static str,
    pub payload: Value,
}

impl OutboxEvent {
    pub fn chat_created(chat_id: Uuid, created_by: Uuid, members: &[Uuid]) -> Self {
        Self::chat(
            chat_id,
            "CHAT_CREATED",
            json!({ "created_by": created_by, "user_id_list": members }),
        )
    }

    pub fn users_added(chat_id: Uuid, added_by: Uuid, users: &[Uuid]) -> Self {
        Self::chat(
            chat_id,
            "USERS_ADDED",
            json!({ "added_by": added_by, "user_id_list": users }),
        )
    }

    pub fn added_to_chat(user_id: Uuid, chat_id: Uuid, added_by: Uuid) -> Self {
        Self::user(
            user_id,
            "ADDED_TO_CHAT",
            json!({ "added_by": added_by, "chat_id": chat_id }),
        )
    }

    pub fn user_left(chat_id: Uuid, user_id: Uuid) -> Self {
        Self::chat(chat_id, "USER_LEFT", json!({ "user_id": user_id }))
    }

    pub fn left_chat(user_id: Uuid, chat_id: Uuid) -> Self {
        Self::user(user_id, "LEFT_CHAT", json!({ "chat_id": chat_id }))
    }

    pub fn chat_deleted(chat_id: Uuid, deleted_by: Uuid, members: &[Uuid]) -> Self {
        Self::chat(
            chat_id,
            "CHAT_DELETED",
            json!({ "deleted_by": deleted_by, "user_id_list": members }),
        )
    }

    pub fn tombstoned(user_id: Uuid) -> Self {
        Self::user(user_id, "TOMBSTONED", json!({}))
    }

    fn chat(chat_id: Uuid, event_type: &'static str, payload: Value) -> Self {
        Self {
            aggregate: Aggregate::Chat,
            aggregate_id: chat_id,
            event_type,
            payload,
        }
    }

    fn user(user_id: Uuid, event_type: &'static str, payload: Value) -> Self {
        Self {
            aggregate: Aggregate::User,
            aggregate_id: user_id,
            event_type,
            payload,
        }
    }
}
