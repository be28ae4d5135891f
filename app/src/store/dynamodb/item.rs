//! The item format: a message as DynamoDB stores it, with its versions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use crate::domain::message::{ChatMessage, Reaction, ReplyTo};

/// A message's key: chat id and ULID.
pub type MessageKey = (Uuid, String);

/// What a deleted message's item keeps (with `deleted` and its version).
pub(super) const TOMBSTONE_KEEPS: [&str; 9] = [
    "chat_id",
    "ulid",
    "user_id",
    "timestamp",
    "client_uuid",
    "reply_to",
    "replies",
    "qv",
    "qvp",
];

pub(super) fn key_from(item: &HashMap<String, AttributeValue>) -> Option<MessageKey> {
    let chat = item.get("chat_id")?.as_s().ok()?;
    let ulid = item.get("ulid")?.as_s().ok()?;
    Some((Uuid::parse_str(chat).ok()?, ulid.clone()))
}

/// The item of a message record as the sink first writes it: with its version,
/// and for a reply the version its quote starts at (changes logged before the
/// reply are already in its quote).
pub(super) fn versioned_item(
    message: &ChatMessage,
    version: Version,
) -> HashMap<String, AttributeValue> {
    let mut item = to_item(message);
    let offset = AttributeValue::N(version.offset.to_string());
    let partition = AttributeValue::N(version.partition.to_string());
    if message.reply_to.is_some() {
        item.insert("qv".to_owned(), offset.clone());
        item.insert("qvp".to_owned(), partition.clone());
    }
    item.insert("v".to_owned(), offset);
    item.insert("vp".to_owned(), partition);
    item
}

pub(super) type Item = HashMap<String, AttributeValue>;

/// The mentioned members' ids: a string set, absent when none (a set
/// cannot be empty).
pub(super) const MENTIONS: &str = "mentions";

pub(super) fn mention_set(mentions: &[Uuid]) -> Option<AttributeValue> {
    (!mentions.is_empty())
        .then(|| AttributeValue::Ss(mentions.iter().map(Uuid::to_string).collect()))
}

/// Top-level attribute of one emoji's reactions: a string set of user ids.
pub(super) const REACTION_PREFIX: &str = "r:";
/// The emoji in the order of first use (a list of strings): sets have no order.
pub(super) const REACTION_ORDER: &str = "reaction_order";

/// Where a record sits in the log. An item keeps the version of the last
/// record applied to it (`v` offset, `vp` partition) and, for a reply, of
/// the last change applied to its quote (`qv`, `qvp`): a record applies
/// only to an item whose version is older, so a redelivered or stale record
/// changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub partition: i32,
    pub offset: i64,
}

impl Version {
    pub(super) fn values(self) -> [(String, AttributeValue); 2] {
        [
            (
                ":p".to_owned(),
                AttributeValue::N(self.partition.to_string()),
            ),
            (":o".to_owned(), AttributeValue::N(self.offset.to_string())),
        ]
    }
}

/// Items written before versions existed carry none: anything applies to them.
pub(super) const NEWER_THAN_ITEM: &str = "(attribute_not_exists(v) OR vp <> :p OR v < :o)";
pub(super) const NEWER_THAN_QUOTE: &str = "(attribute_not_exists(qv) OR qvp <> :p OR qv < :o)";

/// Item = the message's top-level fields, `null` as the NULL type; a
/// deleted message has no content; one string set per reacted emoji.
pub fn to_item(message: &ChatMessage) -> Item {
    let text = |s: String| AttributeValue::S(s);
    let mut item = HashMap::from([
        ("chat_id".to_owned(), text(message.chat_id.to_string())),
        ("ulid".to_owned(), text(message.ulid.clone())),
        (
            "client_uuid".to_owned(),
            message
                .client_uuid
                .map_or(AttributeValue::Null(true), |id| text(id.to_string())),
        ),
        ("timestamp".to_owned(), text(message.timestamp.clone())),
        ("user_id".to_owned(), text(message.user_id.to_string())),
    ]);
    if message.deleted {
        item.insert("deleted".to_owned(), AttributeValue::Bool(true));
    } else {
        item.insert("content".to_owned(), text(message.content.clone()));
    }
    if let Some(edited_at) = &message.edited_at {
        item.insert("edited_at".to_owned(), text(edited_at.clone()));
    }
    if let Some(quote) = &message.reply_to {
        item.insert("reply_to".to_owned(), quote_item(quote));
    }
    if let Some(mentions) = mention_set(&message.mentions) {
        item.insert(MENTIONS.to_owned(), mentions);
    }
    let reactions: Vec<&Reaction> = message
        .reactions
        .iter()
        .filter(|r| !r.user_ids.is_empty())
        .collect();
    for reaction in &reactions {
        let users = reaction.user_ids.iter().map(Uuid::to_string).collect();
        item.insert(
            reaction_attribute(&reaction.emoji),
            AttributeValue::Ss(users),
        );
    }
    if !reactions.is_empty() {
        item.insert(
            REACTION_ORDER.to_owned(),
            emoji_list(reactions.iter().map(|r| r.emoji.as_str())),
        );
    }
    item
}

pub(super) fn reaction_attribute(emoji: &str) -> String {
    format!("{REACTION_PREFIX}{emoji}")
}

pub(super) fn emoji_list<'a>(emoji: impl Iterator<Item = &'a str>) -> AttributeValue {
    AttributeValue::L(emoji.map(|e| AttributeValue::S(e.to_owned())).collect())
}

pub(super) fn quote_item(quote: &ReplyTo) -> AttributeValue {
    let text = |s: &str| AttributeValue::S(s.to_owned());
    AttributeValue::M(HashMap::from([
        ("ulid".to_owned(), text(&quote.ulid)),
        ("user_id".to_owned(), text(&quote.user_id.to_string())),
        (
            "username".to_owned(),
            quote
                .username
                .as_deref()
                .map_or(AttributeValue::Null(true), text),
        ),
        ("excerpt".to_owned(), text(&quote.excerpt)),
        ("deleted".to_owned(), AttributeValue::Bool(quote.deleted)),
    ]))
}

pub(super) fn quote_from(map: &Item) -> Option<ReplyTo> {
    let text = |name: &str| map.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some(ReplyTo {
        ulid: text("ulid")?,
        user_id: text("user_id").and_then(|s| Uuid::parse_str(&s).ok())?,
        username: text("username"),
        excerpt: text("excerpt").unwrap_or_default(),
        deleted: map
            .get("deleted")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
    })
}

/// The message of an item; items written before edits and reactions existed
/// read as they always did.
pub fn from_item(item: &Item) -> Option<ChatMessage> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let uuid = |name: &str| text(name).and_then(|s| Uuid::parse_str(&s).ok());
    let deleted = item
        .get("deleted")
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false);
    Some(ChatMessage {
        chat_id: uuid("chat_id")?,
        ulid: text("ulid")?,
        client_uuid: uuid("client_uuid"),
        timestamp: text("timestamp")?,
        user_id: uuid("user_id")?,
        content: if deleted {
            String::new()
        } else {
            text("content")?
        },
        edited_at: text("edited_at"),
        deleted,
        reply_to: item
            .get("reply_to")
            .and_then(|v| v.as_m().ok())
            .and_then(quote_from),
        mentions: item
            .get(MENTIONS)
            .and_then(|v| v.as_ss().ok())
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| Uuid::parse_str(id).ok())
                    .collect()
            })
            .unwrap_or_default(),
        reactions: reactions_from(item),
    })
}

/// One entry per emoji set, in the recorded order of first use; a set the
/// order does not list (it cannot be written so, but costs nothing to read)
/// comes last. User ids sorted: a set has no order.
pub(super) fn reactions_from(item: &Item) -> Vec<Reaction> {
    let mut sets: Vec<(&str, Vec<Uuid>)> = item
        .iter()
        .filter_map(|(name, value)| {
            let emoji = name.strip_prefix(REACTION_PREFIX)?;
            let mut users: Vec<Uuid> = value
                .as_ss()
                .ok()?
                .iter()
                .filter_map(|u| Uuid::parse_str(u).ok())
                .collect();
            users.sort();
            Some((emoji, users))
        })
        .collect();
    sets.sort_by(|a, b| a.0.cmp(b.0));
    let order: Vec<&str> = item
        .get(REACTION_ORDER)
        .and_then(|v| v.as_l().ok())
        .map(|list| {
            list.iter()
                .filter_map(|e| e.as_s().ok())
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default();
    let rank = |emoji: &str| order.iter().position(|e| *e == emoji).unwrap_or(usize::MAX);
    sets.sort_by_key(|(emoji, _)| rank(emoji));
    sets.into_iter()
        .filter(|(_, users)| !users.is_empty())
        .map(|(emoji, user_ids)| Reaction {
            emoji: emoji.to_owned(),
            user_ids,
        })
        .collect()
}

/// The ulids of the replies to a message.
pub(super) fn replies_of(item: &Item) -> Vec<String> {
    item.get("replies")
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default()
}

pub(super) fn key_of(chat_id: Uuid, ulid: &str) -> Item {
    HashMap::from([
        ("chat_id".to_owned(), AttributeValue::S(chat_id.to_string())),
        ("ulid".to_owned(), AttributeValue::S(ulid.to_owned())),
    ])
}
