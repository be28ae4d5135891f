//! What each outbox event means for the caches and stores outside Postgres:
//! a pure mapping, so the cdc consumer's rules are unit-tested.

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// An outbox event as the relay publishes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    pub event_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub event_type: String,
    #[serde(default)]
    pub payload: Value,
}

/// One effect of an event; every effect is naturally idempotent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Drop cached membership answers of these users in this chat.
    ForgetMemberships { chat_id: Uuid, user_ids: Vec<Uuid> },
    /// Drop every cached membership answer of the chat.
    ForgetChat(Uuid),
    /// Delete the chat's history from DynamoDB.
    PurgeHistory(Uuid),
    /// Drop the cached profile.
    ForgetUser(Uuid),
    /// End these users' live subscriptions to the chat (Centrifugo's server
    /// API; the embedded gateway does it from the same event itself).
    Unsubscribe { chat_id: Uuid, user_ids: Vec<Uuid> },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {event_type} event: {reason}")]
pub struct Malformed {
    pub event_type: String,
    pub reason: String,
}

/// The effects of `event`. Unknown event types have none (they are recorded
/// as processed), so producers can add events before consumers handle them.
pub fn effects(event: &Envelope) -> Result<Vec<Effect>, Malformed> {
    let malformed = |reason: &str| Malformed {
        event_type: event.event_type.clone(),
        reason: reason.to_owned(),
    };
    let aggregate = || {
        Uuid::parse_str(&event.aggregate_id).map_err(|_| malformed("aggregate_id is not a UUID"))
    };
    let uuid_at = |field: &str| {
        event
            .payload
            .get(field)
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| malformed(&format!("payload.{field} is not a UUID")))
    };
    let uuids_at = |field: &str| -> Result<Vec<Uuid>, Malformed> {
        event
            .payload
            .get(field)
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(&format!("payload.{field} is not a list")))?
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| malformed(&format!("payload.{field} holds a non-UUID")))
            })
            .collect()
    };
    Ok(
        match (event.aggregate_type.as_str(), event.event_type.as_str()) {
            ("chat", "CHAT_CREATED" | "USERS_ADDED") => {
                vec![Effect::ForgetMemberships {
                    chat_id: aggregate()?,
                    user_ids: uuids_at("user_id_list")?,
                }]
            }
            ("chat", "USER_LEFT") => {
                let (chat_id, user_ids) = (aggregate()?, vec![uuid_at("user_id")?]);
                vec![
                    Effect::ForgetMemberships {
                        chat_id,
                        user_ids: user_ids.clone(),
                    },
                    Effect::Unsubscribe { chat_id, user_ids },
                ]
            }
            ("chat", "CHAT_DELETED") => {
                let chat_id = aggregate()?;
                // Events written before the member list was part of them have none.
                let user_ids = match event.payload.get("user_id_list") {
                    Some(_) => uuids_at("user_id_list")?,
                    None => Vec::new(),
                };
                vec![
                    Effect::ForgetChat(chat_id),
                    Effect::PurgeHistory(chat_id),
                    Effect::Unsubscribe { chat_id, user_ids },
                ]
            }
            ("user", "TOMBSTONED") => vec![Effect::ForgetUser(aggregate()?)],
            ("user", "ADDED_TO_CHAT" | "LEFT_CHAT") => vec![],
            _ => vec![],
        },
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(
        aggregate_type: &str,
        aggregate_id: &str,
        event_type: &str,
        payload: Value,
    ) -> Envelope {
        Envelope {
            event_id: Uuid::new_v4(),
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
            event_type: event_type.into(),
            payload,
        }
    }

    #[test]
    fn each_event_maps_to_its_effects() {
        let (chat, user) = (Uuid::new_v4(), Uuid::new_v4());
        let (c, u) = (chat.to_string(), user.to_string());
        assert_eq!(
            effects(&event("chat", &c, "USER_LEFT", json!({ "user_id": u }))).unwrap(),
            [
                Effect::ForgetMemberships {
                    chat_id: chat,
                    user_ids: vec![user]
                },
                Effect::Unsubscribe {
                    chat_id: chat,
                    user_ids: vec![user]
                }
            ]
        );
        assert_eq!(
            effects(&event(
                "chat",
                &c,
                "USERS_ADDED",
                json!({ "user_id_list": [u], "added_by": u })
            ))
            .unwrap(),
            [Effect::ForgetMemberships {
                chat_id: chat,
                user_ids: vec![user]
            }]
        );
        assert_eq!(
            effects(&event(
                "chat",
                &c,
                "CHAT_DELETED",
                json!({ "deleted_by": u, "user_id_list": [u] })
            ))
            .unwrap(),
            [
                Effect::ForgetChat(chat),
                Effect::PurgeHistory(chat),
                Effect::Unsubscribe {
                    chat_id: chat,
                    user_ids: vec![user]
                }
            ]
        );
        assert_eq!(
            effects(&event("user", &u, "TOMBSTONED", json!({}))).unwrap(),
            [Effect::ForgetUser(user)]
        );
        assert_eq!(
            effects(&event("user", &u, "LEFT_CHAT", json!({ "chat_id": c }))).unwrap(),
            []
        );
        assert_eq!(
            effects(&event("chat", &c, "SOMETHING_NEW", json!({}))).unwrap(),
            []
        );
    }

    #[test]
    fn malformed_events_are_errors_not_panics() {
        assert!(effects(&event("chat", "not-a-uuid", "CHAT_DELETED", json!({}))).is_err());
        assert!(
            effects(&event(
                "chat",
                &Uuid::new_v4().to_string(),
                "USER_LEFT",
                json!({})
            ))
            .is_err()
        );
        assert!(
            effects(&event(
                "chat",
                &Uuid::new_v4().to_string(),
                "USERS_ADDED",
                json!({ "user_id_list": [1] })
            ))
            .is_err()
        );
    }
}
