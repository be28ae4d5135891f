//! Outbox events: what other services learn about changes in Postgres.
//!
//! One definition for writer and every reader: the HTTP handlers construct
//! an [`OutboxEvent`], the relay routes and fans it out by its
//! [`Aggregate`] and audience, the cdc consumer and the gateway's feed match
//! on [`Event`], and the web app's types are generated from the same
//! definition (it is in the OpenAPI document's components).

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::chat::NotificationLevel;

/// The aggregate an event belongs to; the relay maps it to a topic
/// (`TOPICS__CHAT_EVENTS__NAME`, `TOPICS__USER_EVENTS__NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "chat" => Some(Aggregate::Chat),
            "user" => Some(Aggregate::User),
            _ => None,
        }
    }
}

/// What happened. On the wire (the Kafka record, the personal channel) it is
/// `"event_type": "<NAME>", "payload": {...}` beside the record's other
/// fields, as the original's consumers read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(
    tag = "event_type",
    content = "payload",
    rename_all = "SCREAMING_SNAKE_CASE"
)]
pub enum Event {
    /// Aggregate: the chat.
    ChatCreated(ChatCreated),
    /// Aggregate: the chat.
    UsersAdded(UsersAdded),
    /// Aggregate: the chat.
    UserLeft(UserLeft),
    /// Aggregate: the chat.
    ChatDeleted(ChatDeleted),
    /// Aggregate: the user added.
    AddedToChat(AddedToChat),
    /// Aggregate: the user who left.
    LeftChat(LeftChat),
    /// Aggregate: the user whose account was closed.
    Tombstoned(Tombstoned),
    /// Aggregate: the chat. A member's read position moved forward.
    ChatRead(ChatRead),
    /// Aggregate: the chat. A member chose which of its messages notify them.
    ChatNotificationsSet(ChatNotificationsSet),
}

// Payload fields are declared in the order the original's events list them.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChatCreated {
    pub created_by: Uuid,
    /// Every member, the creator included.
    pub user_id_list: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsersAdded {
    pub added_by: Uuid,
    /// The users added (not the members already there).
    pub user_id_list: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserLeft {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChatDeleted {
    pub deleted_by: Uuid,
    /// The members at deletion; absent from events written before it was
    /// part of them.
    #[serde(default)]
    pub user_id_list: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddedToChat {
    pub added_by: Uuid,
    pub chat_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeftChat {
    pub chat_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tombstoned {}

/// The reader's devices learn the new position and the counts after it.
/// Fields of the events added here are declared in alphabetical order: the
/// relay publishes payloads as Postgres stores them, keys sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChatRead {
    /// The ULID of the newest message read.
    pub last_read: String,
    /// Of the unread messages, those that mention the reader.
    pub mention_count: u32,
    /// Messages from others after it (100 means 100 or more).
    pub unread_count: u32,
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChatNotificationsSet {
    pub notifications: NotificationLevel,
    pub user_id: Uuid,
}

impl Event {
    /// Every `event_type` this build knows (`every_event_type_is_known` keeps
    /// it equal to the enum).
    pub const NAMES: [&'static str; 9] = [
        "CHAT_CREATED",
        "USERS_ADDED",
        "USER_LEFT",
        "CHAT_DELETED",
        "ADDED_TO_CHAT",
        "LEFT_CHAT",
        "TOMBSTONED",
        "CHAT_READ",
        "CHAT_NOTIFICATIONS_SET",
    ];

    pub fn aggregate(&self) -> Aggregate {
        match self {
            Event::ChatCreated(_)
            | Event::UsersAdded(_)
            | Event::UserLeft(_)
            | Event::ChatDeleted(_)
            | Event::ChatRead(_)
            | Event::ChatNotificationsSet(_) => Aggregate::Chat,
            Event::AddedToChat(_) | Event::LeftChat(_) | Event::Tombstoned(_) => Aggregate::User,
        }
    }

    /// Whose chat list the event changes: a chat created with them in it,
    /// their addition, their leaving, the deletion of a chat they were in,
    /// their read position and notification choice.
    pub fn chat_list_audience(&self) -> Vec<Uuid> {
        match self {
            Event::ChatCreated(e) => e.user_id_list.clone(),
            Event::UsersAdded(e) => e.user_id_list.clone(),
            Event::ChatDeleted(e) => e.user_id_list.clone(),
            Event::UserLeft(e) => vec![e.user_id],
            Event::ChatRead(e) => vec![e.user_id],
            Event::ChatNotificationsSet(e) => vec![e.user_id],
            Event::AddedToChat(_) | Event::LeftChat(_) | Event::Tombstoned(_) => Vec::new(),
        }
    }
}

/// An event as read off the log: one this build knows, or one a newer
/// writer added, kept as it came so it can be passed on and recorded as
/// processed without being understood.
#[derive(Debug, Clone, PartialEq)]
pub enum LoggedEvent {
    Known(Event),
    Unknown { event_type: String, payload: Value },
}

impl LoggedEvent {
    pub fn event_type(&self) -> &str {
        match self {
            LoggedEvent::Known(event) => event_name(event),
            LoggedEvent::Unknown { event_type, .. } => event_type,
        }
    }

    /// From the outbox table's columns.
    pub fn from_parts(event_type: String, payload: Value) -> Result<Self, serde_json::Error> {
        Self::from_raw(RawEvent {
            event_type,
            payload,
        })
    }

    fn from_raw(raw: RawEvent) -> Result<Self, serde_json::Error> {
        if !Event::NAMES.contains(&raw.event_type.as_str()) {
            return Ok(LoggedEvent::Unknown {
                event_type: raw.event_type,
                payload: raw.payload,
            });
        }
        serde_json::from_value(serde_json::json!({
            "event_type": raw.event_type,
            "payload": raw.payload,
        }))
        .map(LoggedEvent::Known)
    }
}

fn event_name(event: &Event) -> &'static str {
    match event {
        Event::ChatCreated(_) => "CHAT_CREATED",
        Event::UsersAdded(_) => "USERS_ADDED",
        Event::UserLeft(_) => "USER_LEFT",
        Event::ChatDeleted(_) => "CHAT_DELETED",
        Event::AddedToChat(_) => "ADDED_TO_CHAT",
        Event::LeftChat(_) => "LEFT_CHAT",
        Event::Tombstoned(_) => "TOMBSTONED",
        Event::ChatRead(_) => "CHAT_READ",
        Event::ChatNotificationsSet(_) => "CHAT_NOTIFICATIONS_SET",
    }
}

#[derive(Serialize, Deserialize)]
struct RawEvent {
    event_type: String,
    #[serde(default)]
    payload: Value,
}

impl Serialize for LoggedEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            LoggedEvent::Known(event) => event.serialize(serializer),
            LoggedEvent::Unknown {
                event_type,
                payload,
            } => RawEvent {
                event_type: event_type.clone(),
                payload: payload.clone(),
            }
            .serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for LoggedEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_raw(RawEvent::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// An event to write in the same transaction as the change it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub aggregate_id: Uuid,
    pub event: Event,
}

impl OutboxEvent {
    pub fn aggregate(&self) -> Aggregate {
        self.event.aggregate()
    }

    pub fn event_type(&self) -> &'static str {
        event_name(&self.event)
    }

    /// The payload as the outbox table stores it.
    pub fn payload(&self) -> Value {
        match serde_json::to_value(&self.event) {
            Ok(Value::Object(mut tagged)) => tagged.remove("payload").unwrap_or(Value::Null),
            // Every variant is a struct of UUIDs: serialising cannot fail.
            _ => Value::Null,
        }
    }

    pub fn chat_created(chat_id: Uuid, created_by: Uuid, members: &[Uuid]) -> Self {
        Self {
            aggregate_id: chat_id,
            event: Event::ChatCreated(ChatCreated {
                created_by,
                user_id_list: members.to_vec(),
            }),
        }
    }

    pub fn users_added(chat_id: Uuid, added_by: Uuid, users: &[Uuid]) -> Self {
        Self {
            aggregate_id: chat_id,
            event: Event::UsersAdded(UsersAdded {
                added_by,
                user_id_list: users.to_vec(),
            }),
        }
    }

    pub fn added_to_chat(user_id: Uuid, chat_id: Uuid, added_by: Uuid) -> Self {
        Self {
            aggregate_id: user_id,
            event: Event::AddedToChat(AddedToChat { added_by, chat_id }),
        }
    }

    pub fn user_left(chat_id: Uuid, user_id: Uuid) -> Self {
        Self {
            aggregate_id: chat_id,
            event: Event::UserLeft(UserLeft { user_id }),
        }
    }

    pub fn left_chat(user_id: Uuid, chat_id: Uuid) -> Self {
        Self {
            aggregate_id: user_id,
            event: Event::LeftChat(LeftChat { chat_id }),
        }
    }

    pub fn chat_deleted(chat_id: Uuid, deleted_by: Uuid, members: &[Uuid]) -> Self {
        Self {
            aggregate_id: chat_id,
            event: Event::ChatDeleted(ChatDeleted {
                deleted_by,
                user_id_list: members.to_vec(),
            }),
        }
    }

    pub fn chat_read(chat_id: Uuid, read: ChatRead) -> Self {
        Self {
            aggregate_id: chat_id,
            event: Event::ChatRead(read),
        }
    }

    pub fn chat_notifications_set(
        chat_id: Uuid,
        user_id: Uuid,
        notifications: NotificationLevel,
    ) -> Self {
        Self {
            aggregate_id: chat_id,
            event: Event::ChatNotificationsSet(ChatNotificationsSet {
                user_id,
                notifications,
            }),
        }
    }

    pub fn tombstoned(user_id: Uuid) -> Self {
        Self {
            aggregate_id: user_id,
            event: Event::Tombstoned(Tombstoned {}),
        }
    }
}

/// An outbox event as the relay publishes it: the Kafka record's value and
/// the personal channel's publication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub event_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    #[serde(flatten)]
    pub event: LoggedEvent,
    pub created_at: chrono::NaiveDateTime,
}

/// The record as the web app reads it (the OpenAPI document's
/// `ChatListEvent`): only chat events reach a personal channel.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema, never built: the relay publishes OutboxRecord.
pub struct ChatListEvent {
    event_id: Uuid,
    aggregate_type: String,
    /// The chat.
    aggregate_id: Uuid,
    #[schema(inline)]
    #[serde(flatten)]
    event: Event,
    created_at: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn every_event() -> Vec<OutboxEvent> {
        let (chat, a, b) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        vec![
            OutboxEvent::chat_created(chat, a, &[a, b]),
            OutboxEvent::users_added(chat, a, &[b]),
            OutboxEvent::user_left(chat, b),
            OutboxEvent::chat_deleted(chat, a, &[a]),
            OutboxEvent::added_to_chat(b, chat, a),
            OutboxEvent::left_chat(b, chat),
            OutboxEvent::tombstoned(b),
            OutboxEvent::chat_read(
                chat,
                ChatRead {
                    user_id: b,
                    last_read: "01JDQ8ZQ0000000000000000AB".into(),
                    unread_count: 2,
                    mention_count: 1,
                },
            ),
            OutboxEvent::chat_notifications_set(chat, b, NotificationLevel::Muted),
        ]
    }

    /// Seen failing with a name in `NAMES` misspelt (its events would be
    /// read as unknown, so the cdc would ignore them).
    #[test]
    fn every_event_type_is_known() {
        let names: Vec<&str> = every_event().iter().map(OutboxEvent::event_type).collect();
        assert_eq!(names, Event::NAMES);
        for event in every_event() {
            let tagged = serde_json::to_value(&event.event).unwrap();
            assert_eq!(tagged["event_type"], event.event_type());
            assert_eq!(tagged["payload"], event.payload());
        }
    }

    /// The wire, byte for byte, as the original's consumers read it
    /// (tests/golden/outbox-records.jsonl, written as the relay published them
    /// before events were typed: the same fields in the same order, payload
    /// keys in serde_json's order). Seen failing with a payload's
    /// fields reordered.
    #[test]
    fn the_published_records_are_the_originals() {
        let created_at = chrono::DateTime::from_timestamp(1_700_000_000, 0)
            .unwrap()
            .naive_utc();
        let lines: Vec<String> = every_event()
            .into_iter()
            .enumerate()
            .map(|(n, e)| {
                let record = OutboxRecord {
                    event_id: Uuid::from_u128(100 + n as u128),
                    aggregate_type: e.aggregate().as_str().to_owned(),
                    aggregate_id: e.aggregate_id.to_string(),
                    event: LoggedEvent::Known(e.event),
                    created_at,
                };
                serde_json::to_string(&record).unwrap()
            })
            .collect();
        let golden = include_str!("../../tests/golden/outbox-records.jsonl");
        assert_eq!(lines, golden.lines().collect::<Vec<_>>());
        for line in golden.lines() {
            let read: OutboxRecord = serde_json::from_str(line).unwrap();
            assert!(matches!(read.event, LoggedEvent::Known(_)), "{line}");
            assert_eq!(serde_json::to_string(&read).unwrap(), line);
        }
    }

    /// An older reader survives a newer writer: an unknown event is kept
    /// as it came, and passed on unchanged.
    #[test]
    fn an_unknown_event_is_kept_as_it_came() {
        let line = r#"{"event_id":"00000000-0000-0000-0000-000000000001","aggregate_type":"chat","aggregate_id":"c","event_type":"MESSAGE_EDITED","payload":{"content":"hi","ulid":"01J"},"created_at":"2023-11-14T22:13:20"}"#;
        let read: OutboxRecord = serde_json::from_str(line).unwrap();
        assert_eq!(
            read.event,
            LoggedEvent::Unknown {
                event_type: "MESSAGE_EDITED".into(),
                payload: json!({ "ulid": "01J", "content": "hi" }),
            }
        );
        assert_eq!(serde_json::to_string(&read).unwrap(), line);
    }

    /// A known event with a payload that does not fit is an error (the cdc
    /// dead-letters it), not an unknown event quietly skipped.
    #[test]
    fn a_malformed_known_event_is_an_error() {
        let error = LoggedEvent::from_parts("USER_LEFT".into(), json!({})).unwrap_err();
        assert!(error.to_string().contains("user_id"), "{error}");
        assert!(
            LoggedEvent::from_parts(
                "USERS_ADDED".into(),
                json!({ "added_by": Uuid::nil(), "user_id_list": [1] })
            )
            .is_err()
        );
    }

    #[test]
    fn the_audience_is_whoever_sees_their_chat_list_change() {
        let (a, b) = (Uuid::from_u128(2), Uuid::from_u128(3));
        let audiences: Vec<Vec<Uuid>> = every_event()
            .iter()
            .map(|e| e.event.chat_list_audience())
            .collect();
        assert_eq!(
            audiences,
            [
                vec![a, b],
                vec![b],
                vec![b],
                vec![a],
                vec![],
                vec![],
                vec![],
                vec![b],
                vec![b]
            ]
        );
    }
}
