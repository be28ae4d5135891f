//! Changes to a sent message (edit, delete, reactions): records on the chat's
//! message log beside the messages, applied in the log's order by the sink
//! (to DynamoDB and the newest-page cache) and by every client.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Invalid,
    message::{ChatMessage, Reaction},
};

/// Distinct emoji one message may carry.
pub const MAX_REACTIONS: usize = 20;
/// Characters of the quoted message a reply keeps.
pub const EXCERPT_CHARS: usize = 120;

/// One change, as logged and as published on `chat:<id>`:
/// `{"type": "message_edited", "chat_id", "ulid", "change_id", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageChange {
    #[serde(flatten)]
    pub change: Change,
    pub chat_id: Uuid,
    /// The message changed.
    pub ulid: String,
    /// This change's own id (a ULID).
    pub change_id: String,
    /// The client's id for this change: a retry with it returns the original.
    pub client_uuid: Option<Uuid>,
    /// Who made the change.
    pub user_id: Uuid,
    /// When (ISO-8601 UTC, the change id's millisecond).
    pub timestamp: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// The author replaced the content (and so the mentions).
    MessageEdited {
        content: String,
        /// The members the new content mentions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<Uuid>,
    },
    /// The author or the chat's creator deleted the message.
    MessageDeleted {},
    ReactionAdded {
        emoji: String,
    },
    ReactionRemoved {
        emoji: String,
    },
}

impl MessageChange {
    /// The message after this change. A change to a deleted message changes
    /// nothing (no resurrection); reactions are sets (no double counts).
    pub fn apply(&self, message: &mut ChatMessage) {
        if message.deleted {
            return;
        }
        match &self.change {
            Change::MessageEdited { content, mentions } => {
                message.content.clone_from(content);
                message.mentions.clone_from(mentions);
                message.edited_at = Some(self.timestamp.clone());
            }
            Change::MessageDeleted {} => {
                message.deleted = true;
                message.content.clear();
                message.mentions.clear();
                message.edited_at = None;
                message.reactions.clear();
            }
            Change::ReactionAdded { emoji } => {
                match message.reactions.iter_mut().find(|r| &r.emoji == emoji) {
                    Some(reaction) if reaction.user_ids.contains(&self.user_id) => {}
                    Some(reaction) => reaction.user_ids.push(self.user_id),
                    None => message.reactions.push(Reaction {
                        emoji: emoji.clone(),
                        user_ids: vec![self.user_id],
                    }),
                }
            }
            Change::ReactionRemoved { emoji } => {
                if let Some(reaction) = message.reactions.iter_mut().find(|r| &r.emoji == emoji) {
                    reaction.user_ids.retain(|user| *user != self.user_id);
                }
                message.reactions.retain(|r| !r.user_ids.is_empty());
            }
        }
    }

    /// What this change does to a reply quoting the message, if anything. A
    /// deleted quote stays empty (an edit racing the deletion brings nothing back).
    pub fn apply_to_quote(&self, reply: &mut ChatMessage) {
        let Some(quote) = reply
            .reply_to
            .as_mut()
            .filter(|q| q.ulid == self.ulid && !q.deleted)
        else {
            return;
        };
        match &self.change {
            Change::MessageEdited { content, .. } => quote.excerpt = excerpt(content),
            Change::MessageDeleted {} => {
                quote.excerpt.clear();
                quote.deleted = true;
            }
            Change::ReactionAdded { .. } | Change::ReactionRemoved { .. } => {}
        }
    }
}

/// The start of a message, as a reply quotes it.
pub fn excerpt(content: &str) -> String {
    content.chars().take(EXCERPT_CHARS).collect()
}

/// One emoji as people pick it (skin tones and other variants included),
/// not arbitrary text.
pub fn check_emoji(emoji: &str) -> Result<(), Invalid> {
    if emojis::get(emoji).is_some() {
        return Ok(());
    }
    Err(Invalid {
        kind: "value_error",
        loc: vec!["path".into(), "emoji".into()],
        msg: "Emoji must be one emoji character, such as 👍 or 🎉".into(),
        input: emoji.chars().take(16).collect::<String>().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::LogRecord;

    fn change(change: Change, user_id: Uuid) -> MessageChange {
        MessageChange {
            change,
            chat_id: Uuid::nil(),
            ulid: "01M".into(),
            change_id: "01C".into(),
            client_uuid: None,
            user_id,
            timestamp: "t".into(),
        }
    }

    #[test]
    fn the_wire_shape_is_flat_with_a_type() {
        let edit = change(
            Change::MessageEdited {
                content: "new".into(),
                mentions: Vec::new(),
            },
            Uuid::nil(),
        );
        let json = serde_json::to_value(&edit).unwrap();
        assert_eq!(json["type"], "message_edited");
        assert_eq!(json["content"], "new");
        assert_eq!(json["ulid"], "01M");
        let back: LogRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, LogRecord::Change(edit));
    }

    #[test]
    fn a_message_record_is_not_a_change() {
        let record = r#"{"chat_id":"00000000-0000-0000-0000-000000000000","ulid":"01J","client_uuid":null,"timestamp":"t","user_id":"00000000-0000-0000-0000-000000000000","content":"hi","author_metadata":null}"#;
        assert!(matches!(
            serde_json::from_str::<LogRecord>(record).unwrap(),
            LogRecord::Message(_)
        ));
    }

    #[test]
    fn reactions_are_sets_and_deletion_is_final() {
        let ann = Uuid::from_u128(1);
        let bob = Uuid::from_u128(2);
        let mut message = ChatMessage {
            content: "hi".into(),
            ..ChatMessage::default()
        };
        let thumbs = || "👍".to_string();
        for user in [ann, ann, bob] {
            change(Change::ReactionAdded { emoji: thumbs() }, user).apply(&mut message);
        }
        assert_eq!(message.reactions[0].user_ids, vec![ann, bob]);
        change(Change::ReactionRemoved { emoji: thumbs() }, ann).apply(&mut message);
        change(Change::ReactionRemoved { emoji: thumbs() }, bob).apply(&mut message);
        assert!(message.reactions.is_empty());
        change(Change::MessageDeleted {}, ann).apply(&mut message);
        change(
            Change::MessageEdited {
                content: "back".into(),
                mentions: Vec::new(),
            },
            ann,
        )
        .apply(&mut message);
        change(Change::ReactionAdded { emoji: thumbs() }, ann).apply(&mut message);
        assert!(message.deleted);
        assert_eq!(message.content, "");
        assert!(message.reactions.is_empty());
    }

    #[test]
    fn emoji_are_emoji() {
        assert!(check_emoji("👍").is_ok());
        assert!(check_emoji("👍🏽").is_ok());
        assert!(check_emoji("🇫🇷").is_ok());
        assert!(check_emoji("a").is_err());
        assert!(check_emoji("👍👍").is_err());
        assert!(check_emoji("").is_err());
    }
}
