//! What each outbox event means for the caches and stores outside Postgres:
//! a pure mapping, so the cdc consumer's rules are unit-tested.

use uuid::Uuid;

use super::events::{Event, LoggedEvent, OutboxRecord};

/// One effect of an event; every effect is naturally idempotent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Drop cached membership answers of these users in this chat.
    ForgetMemberships { chat_id: Uuid, user_ids: Vec<Uuid> },
    /// Drop every cached membership answer of the chat.
    ForgetChat(Uuid),
    /// Delete the chat's history from DynamoDB.
    PurgeHistory(Uuid),
    /// Write the closed profile to the cache.
    CacheClosedProfile(Uuid),
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

/// The effects of `record`. Unknown event types have none (they are
/// recorded as processed), so producers can add events before consumers
/// handle them.
pub fn effects(record: &OutboxRecord) -> Result<Vec<Effect>, Malformed> {
    let LoggedEvent::Known(event) = &record.event else {
        return Ok(Vec::new());
    };
    let malformed = |reason: String| Malformed {
        event_type: record.event.event_type().to_owned(),
        reason,
    };
    if record.aggregate_type != event.aggregate().as_str() {
        return Err(malformed(format!(
            "aggregate_type {} is not the event's ({})",
            record.aggregate_type,
            event.aggregate().as_str()
        )));
    }
    let aggregate = Uuid::parse_str(&record.aggregate_id)
        .map_err(|_| malformed("aggregate_id is not a UUID".into()))?;
    Ok(match event {
        Event::ChatCreated(e) => vec![Effect::ForgetMemberships {
            chat_id: aggregate,
            user_ids: e.user_id_list.clone(),
        }],
        Event::UsersAdded(e) => vec![Effect::ForgetMemberships {
            chat_id: aggregate,
            user_ids: e.user_id_list.clone(),
        }],
        Event::UserLeft(e) => vec![
            Effect::ForgetMemberships {
                chat_id: aggregate,
                user_ids: vec![e.user_id],
            },
            Effect::Unsubscribe {
                chat_id: aggregate,
                user_ids: vec![e.user_id],
            },
        ],
        Event::ChatDeleted(e) => vec![
            Effect::ForgetChat(aggregate),
            Effect::PurgeHistory(aggregate),
            Effect::Unsubscribe {
                chat_id: aggregate,
                user_ids: e.user_id_list.clone(),
            },
        ],
        Event::Tombstoned(_) => vec![Effect::CacheClosedProfile(aggregate)],
        Event::AddedToChat(_) | Event::LeftChat(_) => vec![],
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn event(
        aggregate_type: &str,
        aggregate_id: &str,
        event_type: &str,
        payload: Value,
    ) -> Result<OutboxRecord, serde_json::Error> {
        serde_json::from_value(json!({
            "event_id": Uuid::new_v4(),
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "event_type": event_type,
            "payload": payload,
            "created_at": "2023-11-14T22:13:20",
        }))
    }

    #[test]
    fn each_event_maps_to_its_effects() {
        let (chat, user) = (Uuid::new_v4(), Uuid::new_v4());
        let (c, u) = (chat.to_string(), user.to_string());
        assert_eq!(
            effects(&event("chat", &c, "USER_LEFT", json!({ "user_id": u })).unwrap()).unwrap(),
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
            effects(
                &event(
                    "chat",
                    &c,
                    "USERS_ADDED",
                    json!({ "user_id_list": [u], "added_by": u })
                )
                .unwrap()
            )
            .unwrap(),
            [Effect::ForgetMemberships {
                chat_id: chat,
                user_ids: vec![user]
            }]
        );
        assert_eq!(
            effects(
                &event(
                    "chat",
                    &c,
                    "CHAT_DELETED",
                    json!({ "deleted_by": u, "user_id_list": [u] })
                )
                .unwrap()
            )
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
            effects(&event("user", &u, "TOMBSTONED", json!({})).unwrap()).unwrap(),
            [Effect::CacheClosedProfile(user)]
        );
        assert_eq!(
            effects(&event("user", &u, "LEFT_CHAT", json!({ "chat_id": c })).unwrap()).unwrap(),
            []
        );
        assert_eq!(
            effects(&event("chat", &c, "SOMETHING_NEW", json!({})).unwrap()).unwrap(),
            []
        );
    }

    #[test]
    fn malformed_events_are_errors_not_panics() {
        let chat = Uuid::new_v4().to_string();
        let by = json!({ "deleted_by": Uuid::new_v4() });
        let not_a_uuid = event("chat", "not-a-uuid", "CHAT_DELETED", by.clone()).unwrap();
        assert!(effects(&not_a_uuid).is_err());
        let wrong_aggregate = event("user", &chat, "CHAT_DELETED", by).unwrap();
        assert!(effects(&wrong_aggregate).is_err());
        // A payload that does not fit its event cannot even be read.
        assert!(event("chat", &chat, "USER_LEFT", json!({})).is_err());
        let list = json!({ "added_by": chat, "user_id_list": [1] });
        assert!(event("chat", &chat, "USERS_ADDED", list).is_err());
    }
}
