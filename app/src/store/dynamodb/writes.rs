//! Writes: messages where no item exists, changes under versions, reply
//! quotes, purges; batched and retried.

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::{
    error::{ProvideErrorMetadata, SdkError},
    types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest},
};
use uuid::Uuid;

use super::{
    BATCH_LIMIT, CONCURRENT_UPDATES, ChatHistoryTable, DynamoDbError, WRITE_ATTEMPTS, item::*,
};
use crate::domain::{
    change::{Change, MessageChange},
    message::{ChatMessage, ReplyTo},
};

/// What applying a change did.
#[derive(Debug, Default)]
pub struct ChangeOutcome {
    /// False: already applied, or not applicable (no such message, or deleted).
    pub applied: bool,
    /// For an edit or a deletion of a stored message: its replies' quotes to update.
    pub quotes: Option<QuoteUpdate>,
}

/// Ok(false) when the request's condition failed.
pub(super) fn applied<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, DynamoDbError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .as_service_error()
                .and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// Runs the requests, a bounded number at a time; the first error wins.
pub(super) async fn concurrently<F>(requests: Vec<F>) -> Result<(), DynamoDbError>
where
    F: std::future::Future<Output = Result<(), DynamoDbError>>,
{
    use futures::StreamExt;
    let mut results = futures::stream::iter(requests).buffer_unordered(CONCURRENT_UPDATES);
    while let Some(result) = results.next().await {
        result?;
    }
    Ok(())
}

/// What a change to a message means for the replies quoting it: the change,
/// where it sits in the log, and the replies as stored with the original.
#[derive(Debug, Clone)]
pub struct QuoteUpdate {
    pub change: MessageChange,
    pub version: Version,
    pub replies: Vec<String>,
}

impl ChatHistoryTable {
    /// Writes each message whose item does not exist yet, with its version,
    /// and returns every message as stored now. Only missing items are
    /// written: a republished send must not undo an edit or a deletion. Read
    /// then write is safe because one partition has one consumer.
    pub async fn insert_missing(
        &self,
        messages: &[(ChatMessage, Version)],
    ) -> Result<Vec<ChatMessage>, DynamoDbError> {
        let mut unique: Vec<&(ChatMessage, Version)> = Vec::with_capacity(messages.len());
        let mut seen = std::collections::HashSet::new();
        for entry in messages {
            if seen.insert((entry.0.chat_id, entry.0.ulid.as_str())) {
                unique.push(entry);
            }
        }
        let keys: Vec<MessageKey> = unique
            .iter()
            .map(|(m, _)| (m.chat_id, m.ulid.clone()))
            .collect();
        let existing = self.get_many(&keys).await?;
        let missing: Vec<Item> = unique
            .iter()
            .zip(&keys)
            .filter(|(_, key)| !existing.contains_key(*key))
            .map(|((message, version), _)| versioned_item(message, *version))
            .collect();
        let writes = missing
            .chunks(BATCH_LIMIT)
            .map(|chunk| self.put_items(chunk));
        for result in futures::future::join_all(writes).await {
            result?;
        }
        Ok(unique
            .iter()
            .zip(&keys)
            .map(|((message, _), key)| {
                existing
                    .get(key)
                    .and_then(from_item)
                    .unwrap_or_else(|| message.clone())
            })
            .collect())
    }

    pub(super) async fn put_items(&self, items: &[Item]) -> Result<(), DynamoDbError> {
        let requests = items
            .iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item.clone())).build()?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, DynamoDbError>>()?;
        self.batch(requests).await
    }

    /// Adds each reply to the `replies` set of the message it answers (adding
    /// twice is adding once); an original that is not stored is left alone.
    pub async fn link_replies(&self, replies: &[&ChatMessage]) -> Result<(), DynamoDbError> {
        let links: Vec<_> = replies
            .iter()
            .filter_map(|reply| {
                let quote = reply.reply_to.as_ref()?;
                Some(async move {
                    let result = self
                        .client
                        .update_item()
                        .table_name(&self.name)
                        .set_key(Some(key_of(reply.chat_id, &quote.ulid)))
                        .update_expression("ADD replies :r")
                        .condition_expression("attribute_exists(ulid)")
                        .expression_attribute_values(
                            ":r",
                            AttributeValue::Ss(vec![reply.ulid.clone()]),
                        )
                        .send()
                        .await;
                    applied(result).map(drop)
                })
            })
            .collect();
        concurrently(links).await
    }

    /// Applies one change to its message if the message is stored and its
    /// version is older than the change's (see `Version`); a failed
    /// condition means "already applied" or "not applicable", not an error.
    /// An edit or a deletion also says which replies quote the message.
    pub async fn apply_change(
        &self,
        change: &MessageChange,
        version: Version,
    ) -> Result<ChangeOutcome, DynamoDbError> {
        let key = (change.chat_id, change.ulid.clone());
        let Some(item) = self
            .get_many(std::slice::from_ref(&key))
            .await?
            .remove(&key)
        else {
            return Ok(ChangeOutcome::default());
        };
        let Some(current) = from_item(&item) else {
            return Ok(ChangeOutcome::default());
        };
        let newer = format!("attribute_exists(ulid) AND {NEWER_THAN_ITEM}");
        let live = format!("{newer} AND attribute_not_exists(deleted)");
        let update = || {
            self.client
                .update_item()
                .table_name(&self.name)
                .set_key(Some(key_of(change.chat_id, &change.ulid)))
                .set_expression_attribute_values(Some(version.values().into()))
        };
        let quotes = || QuoteUpdate {
            change: change.clone(),
            version,
            replies: replies_of(&item),
        };
        match &change.change {
            Change::MessageEdited { content, mentions } => {
                if current.deleted {
                    return Ok(ChangeOutcome::default());
                }
                // The new content's mentions replace the old (a set cannot be empty: removed).
                let (expression, mentions) = match mention_set(mentions) {
                    Some(set) => (
                        "SET content = :c, edited_at = :t, mentions = :m, v = :o, vp = :p",
                        Some(set),
                    ),
                    None => (
                        "SET content = :c, edited_at = :t, v = :o, vp = :p REMOVE mentions",
                        None,
                    ),
                };
                let mut request = update()
                    .update_expression(expression)
                    .condition_expression(live)
                    .expression_attribute_values(":c", AttributeValue::S(content.clone()))
                    .expression_attribute_values(":t", AttributeValue::S(change.timestamp.clone()));
                if let Some(set) = mentions {
                    request = request.expression_attribute_values(":m", set);
                }
                let result = request.send().await;
                Ok(ChangeOutcome {
                    applied: applied(result)?,
                    quotes: Some(quotes()),
                })
            }
            Change::MessageDeleted {} => {
                // The tombstone: what a deleted message still shows; no content, no reactions.
                let mut tombstone: Item = TOMBSTONE_KEEPS
                    .iter()
                    .filter_map(|name| Some(((*name).to_owned(), item.get(*name)?.clone())))
                    .collect();
                tombstone.insert("deleted".to_owned(), AttributeValue::Bool(true));
                tombstone.insert(
                    "v".to_owned(),
                    AttributeValue::N(version.offset.to_string()),
                );
                tombstone.insert(
                    "vp".to_owned(),
                    AttributeValue::N(version.partition.to_string()),
                );
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.name)
                    .set_item(Some(tombstone))
                    .condition_expression(newer)
                    .set_expression_attribute_values(Some(version.values().into()))
                    .send()
                    .await;
                Ok(ChangeOutcome {
                    applied: applied(result)?,
                    quotes: Some(quotes()),
                })
            }
            Change::ReactionAdded { emoji } | Change::ReactionRemoved { emoji } => {
                if current.deleted {
                    return Ok(ChangeOutcome::default());
                }
                // The set does the counting; the order of first use comes from the rule.
                let mut after = current.clone();
                change.apply(&mut after);
                let operation = match change.change {
                    Change::ReactionAdded { .. } => "ADD",
                    _ => "DELETE",
                };
                let result = update()
                    .update_expression(format!(
                        "{operation} #r :u SET #order = :order, v = :o, vp = :p"
                    ))
                    .condition_expression(live)
                    .expression_attribute_names("#r", reaction_attribute(emoji))
                    .expression_attribute_names("#order", REACTION_ORDER)
                    .expression_attribute_values(
                        ":u",
                        AttributeValue::Ss(vec![change.user_id.to_string()]),
                    )
                    .expression_attribute_values(
                        ":order",
                        emoji_list(after.reactions.iter().map(|r| r.emoji.as_str())),
                    )
                    .send()
                    .await;
                Ok(ChangeOutcome {
                    applied: applied(result)?,
                    quotes: None,
                })
            }
        }
    }

    /// Brings the quote of each reply up to date with a change to the
    /// message it quotes (`MessageChange::apply_to_quote`), unless the quote
    /// has seen this change or a later one, or the reply was logged after
    /// the change (its quote version starts at its own offset), or the quote
    /// is deleted already (it stays empty).
    pub async fn update_quotes(&self, update: &QuoteUpdate) -> Result<(), DynamoDbError> {
        let mut quoted = ChatMessage {
            reply_to: Some(ReplyTo {
                ulid: update.change.ulid.clone(),
                user_id: Uuid::nil(),
                username: None,
                excerpt: String::new(),
                deleted: false,
            }),
            ..ChatMessage::default()
        };
        update.change.apply_to_quote(&mut quoted);
        let Some(quote) = quoted.reply_to else {
            return Ok(());
        };
        for reply in &update.replies {
            let result = self
                .client
                .update_item()
                .table_name(&self.name)
                .set_key(Some(key_of(update.change.chat_id, reply)))
                .update_expression(
                    "SET reply_to.excerpt = :e, reply_to.deleted = :d, qv = :o, qvp = :p",
                )
                .condition_expression(format!(
                    "attribute_exists(ulid) AND reply_to.ulid = :quoted AND NOT reply_to.deleted = :yes AND {NEWER_THAN_QUOTE}"
                ))
                .set_expression_attribute_values(Some(update.version.values().into()))
                .expression_attribute_values(":e", AttributeValue::S(quote.excerpt.clone()))
                .expression_attribute_values(":d", AttributeValue::Bool(quote.deleted))
                .expression_attribute_values(":quoted", AttributeValue::S(update.change.ulid.clone()))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .send()
                .await;
            applied(result)?;
        }
        Ok(())
    }

    /// Deletes every message of a chat (query the keys, delete 25 at a time: BatchWriteItem's limit).
    pub async fn purge_chat(&self, chat_id: Uuid) -> Result<usize, DynamoDbError> {
        let mut deleted = 0;
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression("chat_id = :c")
                .expression_attribute_values(":c", AttributeValue::S(chat_id.to_string()))
                .projection_expression("chat_id, ulid")
                .set_exclusive_start_key(start)
                .send()
                .await?;
            let keys: Vec<Item> = page.items().to_vec();
            deleted += keys.len();
            self.delete_keys(keys).await?;
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(deleted);
            }
        }
    }

    /// Deletes the given messages (the sink undoing writes for a chat deleted meanwhile).
    pub async fn delete_messages(&self, messages: &[&ChatMessage]) -> Result<(), DynamoDbError> {
        let keys = messages
            .iter()
            .map(|m| {
                HashMap::from([
                    (
                        "chat_id".to_owned(),
                        AttributeValue::S(m.chat_id.to_string()),
                    ),
                    ("ulid".to_owned(), AttributeValue::S(m.ulid.clone())),
                ])
            })
            .collect();
        self.delete_keys(keys).await
    }

    pub(super) async fn delete_keys(&self, keys: Vec<Item>) -> Result<(), DynamoDbError> {
        for chunk in keys.chunks(BATCH_LIMIT) {
            let requests = chunk
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<_, DynamoDbError>>()?;
            self.batch(requests).await?;
        }
        Ok(())
    }

    /// One BatchWriteItem of at most 25 requests, retrying unprocessed items
    /// and failed calls with exponential backoff.
    pub(super) async fn batch(&self, requests: Vec<WriteRequest>) -> Result<(), DynamoDbError> {
        let mut pending = requests.clone();
        let mut backoff = Duration::from_millis(25);
        for attempt in 1..=WRITE_ATTEMPTS {
            let result = self
                .client
                .batch_write_item()
                .request_items(self.name.clone(), std::mem::take(&mut pending))
                .send()
                .await;
            match result {
                Ok(output) => {
                    pending = output
                        .unprocessed_items()
                        .and_then(|items| items.get(&self.name))
                        .cloned()
                        .unwrap_or_default();
                    if pending.is_empty() {
                        return Ok(());
                    }
                    tracing::debug!(
                        attempt,
                        unprocessed = pending.len(),
                        "dynamodb throttled part of a batch"
                    );
                }
                Err(error) if attempt < WRITE_ATTEMPTS => {
                    tracing::warn!(attempt, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&error), "dynamodb batch write failed; retrying");
                    // A failed call gives no account of what it applied: resend all (idempotent).
                    pending = requests.clone();
                }
                Err(error) => return Err(error.into()),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
        Err(DynamoDbError::Unexpected(format!(
            "{} items still unprocessed after {WRITE_ATTEMPTS} attempts",
            pending.len()
        )))
    }
}
