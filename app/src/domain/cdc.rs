//! What each outbox event means for the caches and stores outside Postgres:
//! a pure mapping, so the cdc consumer's rules are unit-tested.

use ulid::Ulid;
use uuid::Uuid;

use super::{
    change::{Change, MessageChange},
    events::{Event, LoggedEvent, OutboxRecord},
    message::{ChatMessage, timestamp_of},
};

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
    /// Forget the (closed) user's read positions and notification choices.
    /// The API does it as it closes the account; this covers an account
    /// closed by a release from before read positions, during a roll.
    ForgetAttention(Uuid),
    /// Log a `reaction_removed` for every reaction of this (closed) user in
    /// the chats they are a member of (`reactions_to_remove`).
    RemoveReactions(Uuid),
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
        Event::Tombstoned(_) => vec![
            Effect::CacheClosedProfile(aggregate),
            Effect::ForgetAttention(aggregate),
            Effect::RemoveReactions(aggregate),
        ],
        // Only the member's own devices react (through their personal channel).
        Event::AddedToChat(_)
        | Event::LeftChat(_)
        | Event::ChatRead(_)
        | Event::ChatNotificationsSet(_) => vec![],
    })
}

/// The changes that take every reaction of `user_id` off `messages`: one
/// `reaction_removed` per emoji of each message they reacted with, made by
/// them (as if they had clicked it), ids from `next_id`. Deleted messages
/// carry no reactions. Logging them again changes nothing (sets).
pub fn reactions_to_remove(
    user_id: Uuid,
    messages: &[ChatMessage],
    mut next_id: impl FnMut() -> Ulid,
) -> Vec<MessageChange> {
    let mut changes = Vec::new();
    for message in messages.iter().filter(|m| !m.deleted) {
        for reaction in &message.reactions {
            if !reaction.user_ids.contains(&user_id) {
                continue;
            }
            let id = next_id();
            changes.push(MessageChange {
                change: Change::ReactionRemoved {
                    emoji: reaction.emoji.clone(),
                },
                chat_id: message.chat_id,
                ulid: message.ulid.clone(),
                change_id: id.to_string(),
                client_uuid: None,
                user_id,
                timestamp: timestamp_of(id),
            });
        }
    }
    changes
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
            [
                Effect::CacheClosedProfile(user),
                Effect::ForgetAttention(user),
                Effect::RemoveReactions(user)
            ]
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

    #[test]
    fn closure_removes_each_reaction_of_the_user_and_nothing_else() {
        use crate::domain::message::Reaction;
        let (ann, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let chat = Uuid::from_u128(9);
        let reacted = |ulid: &str, reactions: Vec<(&str, Vec<Uuid>)>, deleted: bool| ChatMessage {
            chat_id: chat,
            ulid: ulid.into(),
            deleted,
            reactions: reactions
                .into_iter()
                .map(|(emoji, user_ids)| Reaction {
                    emoji: emoji.into(),
                    user_ids,
                })
                .collect(),
            ..ChatMessage::default()
        };
        let mut messages = vec![
            reacted(
                "01A",
                vec![("👍", vec![ann, bob]), ("🎉", vec![bob])],
                false,
            ),
            reacted("01B", vec![("🎉", vec![bob]), ("❤️", vec![ann])], false),
            reacted("01C", vec![], false),
            reacted("01D", vec![("👍", vec![ann])], true),
        ];
        let mut ids = (1..).map(|n| Ulid::from_parts(1_795_707_964_970, n));
        let changes = reactions_to_remove(ann, &messages, || ids.next().unwrap());
        let summary: Vec<(&str, &Change)> = changes
            .iter()
            .map(|c| (c.ulid.as_str(), &c.change))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "01A",
                    &Change::ReactionRemoved {
                        emoji: "👍".into()
                    }
                ),
                (
                    "01B",
                    &Change::ReactionRemoved {
                        emoji: "❤️".into()
                    }
                ),
            ]
        );
        assert!(
            changes
                .iter()
                .all(|c| c.user_id == ann && c.chat_id == chat)
        );
        assert_eq!(changes[0].timestamp, "2026-11-26T15:46:04.970000Z");
        assert_ne!(changes[0].change_id, changes[1].change_id);
        // Applied with THE rule, nothing of ann's is left and bob's stays.
        for change in &changes {
            let target = messages.iter_mut().find(|m| m.ulid == change.ulid).unwrap();
            change.apply(target);
        }
        assert!(reactions_to_remove(ann, &messages, Ulid::new).is_empty());
        assert_eq!(messages[0].reactions[0].user_ids, [bob]);
        assert_eq!(messages[1].reactions.len(), 1);
    }
}
