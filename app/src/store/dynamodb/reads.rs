//! History reads: pages, single messages, whole chats.

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use uuid::Uuid;

use super::{ChatHistoryTable, DynamoDbError, GET_LIMIT, WRITE_ATTEMPTS, item::*};
use crate::domain::message::ChatMessage;

/// One page of history, newest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    pub messages: Vec<ChatMessage>,
    /// True when older messages exist beyond this page.
    pub more: bool,
}

/// Most unread messages a count reports: 100 means "100 or more".
pub const UNREAD_CAP: u32 = 100;
/// Most items one count reads: past them (a reader's own messages, deleted
/// ones) it reports what it found.
const UNREAD_SCAN: usize = 1000;

/// What waits for a reader in one chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unread {
    /// Messages from others, not deleted (at most `UNREAD_CAP`).
    pub messages: u32,
    /// Those of them that mention the reader.
    pub mentions: u32,
}

impl ChatHistoryTable {
    /// Unread messages of `reader` in the chat: those after `after` (a ULID)
    /// that others sent and nobody deleted, reading only the fields that say so.
    pub async fn unread(
        &self,
        chat_id: Uuid,
        after: &str,
        reader: Uuid,
    ) -> Result<Unread, DynamoDbError> {
        let reader = reader.to_string();
        let mut unread = Unread::default();
        let mut scanned = 0;
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression("chat_id = :c AND ulid > :after")
                .expression_attribute_values(":c", AttributeValue::S(chat_id.to_string()))
                .expression_attribute_values(":after", AttributeValue::S(after.to_owned()))
                .projection_expression("user_id, #deleted, #mentions")
                .expression_attribute_names("#deleted", "deleted")
                .expression_attribute_names("#mentions", MENTIONS)
                .limit(200)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for item in output.items() {
                scanned += 1;
                let from_reader = item.get("user_id").and_then(|v| v.as_s().ok()) == Some(&reader);
                let deleted = item.contains_key("deleted");
                if from_reader || deleted {
                    continue;
                }
                unread.messages += 1;
                let mentioned = item
                    .get(MENTIONS)
                    .and_then(|v| v.as_ss().ok())
                    .is_some_and(|ids| ids.contains(&reader));
                if mentioned {
                    unread.mentions += 1;
                }
                if unread.messages == UNREAD_CAP {
                    return Ok(unread);
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() || scanned >= UNREAD_SCAN {
                return Ok(unread);
            }
        }
    }

    /// Up to `limit` messages older than `before` (a ULID), newest first. It asks
    /// for one extra item to know whether another page exists, so a page never
    /// promises a next page that turns out empty.
    pub async fn page(
        &self,
        chat_id: Uuid,
        limit: usize,
        before: Option<&str>,
    ) -> Result<HistoryPage, DynamoDbError> {
        self.query_page(chat_id, limit, before, false).await
    }

    /// The newest page as stored now (a strongly consistent query): what a
    /// cache fill may keep, since a write the sink finished before the fill
    /// read the chat's version must be in it.
    pub async fn newest_page(
        &self,
        chat_id: Uuid,
        limit: usize,
    ) -> Result<HistoryPage, DynamoDbError> {
        self.query_page(chat_id, limit, None, true).await
    }

    pub(super) async fn query_page(
        &self,
        chat_id: Uuid,
        limit: usize,
        before: Option<&str>,
        consistent: bool,
    ) -> Result<HistoryPage, DynamoDbError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.name)
            .consistent_read(consistent)
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .expression_attribute_values(":c", AttributeValue::S(chat_id.to_string()));
        query = match before {
            Some(ulid) => query
                .key_condition_expression("chat_id = :c AND ulid < :before")
                .expression_attribute_values(":before", AttributeValue::S(ulid.to_owned())),
            None => query.key_condition_expression("chat_id = :c"),
        };
        let output = query.send().await?;
        let mut messages: Vec<ChatMessage> = output.items().iter().filter_map(from_item).collect();
        let more = messages.len() > limit;
        messages.truncate(limit);
        Ok(HistoryPage { messages, more })
    }

    /// One message as stored now (a strongly consistent read), or `None`.
    pub async fn message(
        &self,
        chat_id: Uuid,
        ulid: &str,
    ) -> Result<Option<ChatMessage>, DynamoDbError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .consistent_read(true)
            .key("chat_id", AttributeValue::S(chat_id.to_string()))
            .key("ulid", AttributeValue::S(ulid.to_owned()))
            .send()
            .await?;
        Ok(output.item().and_then(from_item))
    }

    /// The items of these keys as stored now (strongly consistent reads), 100
    /// keys per BatchGetItem, retrying unprocessed keys.
    pub(super) async fn get_many(
        &self,
        keys: &[MessageKey],
    ) -> Result<HashMap<MessageKey, Item>, DynamoDbError> {
        let mut unique: Vec<&MessageKey> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut found = HashMap::new();
        for chunk in unique.chunks(GET_LIMIT) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|(chat, ulid)| key_of(*chat, ulid))
                .collect();
            let mut backoff = Duration::from_millis(25);
            for attempt in 1..=WRITE_ATTEMPTS {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(self.name.clone(), request)
                    .send()
                    .await?;
                let items = output.responses().and_then(|r| r.get(&self.name));
                for item in items.into_iter().flatten() {
                    if let Some(key) = key_from(item) {
                        found.insert(key, item.clone());
                    }
                }
                pending = output
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.name))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt == WRITE_ATTEMPTS {
                    return Err(DynamoDbError::Unexpected(format!(
                        "{} keys still unprocessed after {WRITE_ATTEMPTS} attempts",
                        pending.len()
                    )));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        Ok(found)
    }

    /// These messages as stored now (strongly consistent); keys not stored are left out.
    pub async fn stored(&self, keys: &[MessageKey]) -> Result<Vec<ChatMessage>, DynamoDbError> {
        let found = self.get_many(keys).await?;
        let mut messages: Vec<ChatMessage> = found.values().filter_map(from_item).collect();
        messages.sort_by(|a, b| (a.chat_id, &a.ulid).cmp(&(b.chat_id, &b.ulid)));
        Ok(messages)
    }

    /// Every message of a chat as stored now (consistent, page by page).
    pub async fn all_messages(&self, chat_id: Uuid) -> Result<Vec<ChatMessage>, DynamoDbError> {
        let mut messages = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.name)
                .consistent_read(true)
                .key_condition_expression("chat_id = :c")
                .expression_attribute_values(":c", AttributeValue::S(chat_id.to_string()))
                .set_exclusive_start_key(start)
                .send()
                .await?;
            messages.extend(page.items().iter().filter_map(from_item));
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(messages);
            }
        }
    }
}
