//! DynamoDB: the long-term message store (table keyed `chat_id`/`ulid`).

use std::{collections::HashMap, time::Duration};

use aws_config::{BehaviorVersion, Region, timeout::TimeoutConfig};
use aws_sdk_dynamodb::{
    Client,
    config::Credentials,
    error::{ProvideErrorMetadata, SdkError},
    types::{
        AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, KeySchemaElement, KeyType,
        KeysAndAttributes, PutRequest, ScalarAttributeType, TableStatus, WriteRequest,
    },
};
use harmony_config::DynamoDbConfig;
use uuid::Uuid;

use crate::domain::{
    change::{Change, MessageChange},
    message::{ChatMessage, Reaction, ReplyTo},
};

/// DynamoDB takes at most 25 items per BatchWriteItem.
const BATCH_LIMIT: usize = 25;
const WRITE_ATTEMPTS: u32 = 8;
/// BatchGetItem takes at most 100 keys.
const GET_LIMIT: usize = 100;
/// Requests in flight at once for per-item updates.
const CONCURRENT_UPDATES: usize = 16;
/// What a deleted message's item keeps (with `deleted` and its version).
const TOMBSTONE_KEEPS: [&str; 9] = [
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

/// A message's key: chat id and ULID.
pub type MessageKey = (Uuid, String);

/// What applying a change did.
#[derive(Debug, Default)]
pub struct ChangeOutcome {
    /// False: already applied, or not applicable (no such message, or deleted).
    pub applied: bool,
    /// For an edit or a deletion of a stored message: its replies' quotes to update.
    pub quotes: Option<QuoteUpdate>,
}

/// Ok(false) when the request's condition failed.
fn applied<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, DynamoDbError>
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
async fn concurrently<F>(requests: Vec<F>) -> Result<(), DynamoDbError>
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

fn key_from(item: &HashMap<String, AttributeValue>) -> Option<MessageKey> {
    let chat = item.get("chat_id")?.as_s().ok()?;
    let ulid = item.get("ulid")?.as_s().ok()?;
    Some((Uuid::parse_str(chat).ok()?, ulid.clone()))
}

/// The item of a message record as the sink first writes it: with its version,
/// and for a reply the version its quote starts at (changes logged before the
/// reply are already in its quote).
fn versioned_item(message: &ChatMessage, version: Version) -> HashMap<String, AttributeValue> {
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

#[derive(Debug, thiserror::Error)]
pub enum DynamoDbError {
    /// A request failed; the SDK's error (and its causes) is the source.
    #[error("dynamodb request failed")]
    Request(#[source] crate::store::Cause),
    /// The service answered, but not as the table needs.
    #[error("dynamodb: {0}")]
    Unexpected(String),
}

impl<E, R> From<SdkError<E, R>> for DynamoDbError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn from(error: SdkError<E, R>) -> Self {
        Self::Request(Box::new(error))
    }
}

impl From<aws_sdk_dynamodb::error::BuildError> for DynamoDbError {
    fn from(error: aws_sdk_dynamodb::error::BuildError) -> Self {
        Self::Request(Box::new(error))
    }
}

/// The chat history table and the client that reaches it.
#[derive(Clone, Debug)]
pub struct ChatHistoryTable {
    client: Client,
    name: String,
}

impl ChatHistoryTable {
    pub async fn new(config: &DynamoDbConfig) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(5))
            .operation_timeout(Duration::from_secs(15))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .timeout_config(timeouts);
        if !config.url.is_empty() {
            loader = loader.endpoint_url(&config.url);
        }
        // Static keys when given; a local endpoint needs none, so use placeholders
        // there; otherwise the default chain (EKS pod identity in production).
        match (&config.access_key_id, &config.secret_access_key) {
            (Some(id), Some(secret)) => {
                loader = loader.credentials_provider(Credentials::new(
                    id,
                    secret.expose(),
                    None,
                    None,
                    "harmony-config",
                ));
            }
            _ if !config.url.is_empty() => {
                loader = loader.credentials_provider(Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "harmony-local",
                ));
            }
            _ => {}
        }
        let client = Client::new(&loader.load().await);
        Self {
            client,
            name: config.chat_history_table_name.clone(),
        }
    }

    /// The same client, another table: isolated tables in tests.
    pub fn with_name(&self, name: impl Into<String>) -> Self {
        Self {
            client: self.client.clone(),
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table if missing and waits until it is active. Returns whether it was created.
    pub async fn ensure(&self) -> Result<bool, DynamoDbError> {
        if self.status().await?.is_some() {
            return Ok(false);
        }
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("chat_id", KeyType::Hash)?)
            .key_schema(key("ulid", KeyType::Range)?)
            .attribute_definitions(attribute("chat_id")?)
            .attribute_definitions(attribute("ulid")?)
            .send()
            .await;
        if let Err(error) = created {
            // Another migrator may have won the race; that is fine.
            let in_use = error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception());
            if !in_use {
                return Err(error.into());
            }
        }
        for _ in 0..600 {
            if self.status().await? == Some(TableStatus::Active) {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(DynamoDbError::Unexpected(format!(
            "table {} did not become ACTIVE within 60 s",
            self.name
        )))
    }

    pub async fn delete(&self) -> Result<(), DynamoDbError> {
        match self
            .client
            .delete_table()
            .table_name(&self.name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn status(&self) -> Result<Option<TableStatus>, DynamoDbError> {
        match self
            .client
            .describe_table()
            .table_name(&self.name)
            .send()
            .await
        {
            Ok(out) => Ok(out.table().and_then(|t| t.table_status().cloned())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn ping(&self) -> Result<(), DynamoDbError> {
        match self.status().await? {
            Some(_) => Ok(()),
            None => Err(DynamoDbError::Unexpected(format!(
                "table {} does not exist (run `harmony migrate`)",
                self.name
            ))),
        }
    }
}

type Item = HashMap<String, AttributeValue>;

/// Top-level attribute of one emoji's reactions: a string set of user ids.
const REACTION_PREFIX: &str = "r:";
/// The emoji in the order of first use (a list of strings): sets have no order.
const REACTION_ORDER: &str = "reaction_order";

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
    fn values(self) -> [(String, AttributeValue); 2] {
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
const NEWER_THAN_ITEM: &str = "(attribute_not_exists(v) OR vp <> :p OR v < :o)";
const NEWER_THAN_QUOTE: &str = "(attribute_not_exists(qv) OR qvp <> :p OR qv < :o)";

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

fn reaction_attribute(emoji: &str) -> String {
    format!("{REACTION_PREFIX}{emoji}")
}

fn emoji_list<'a>(emoji: impl Iterator<Item = &'a str>) -> AttributeValue {
    AttributeValue::L(emoji.map(|e| AttributeValue::S(e.to_owned())).collect())
}

fn quote_item(quote: &ReplyTo) -> AttributeValue {
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

fn quote_from(map: &Item) -> Option<ReplyTo> {
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
        reactions: reactions_from(item),
    })
}

/// One entry per emoji set, in the recorded order of first use; a set the
/// order does not list (it cannot be written so, but costs nothing to read)
/// comes last. User ids sorted: a set has no order.
fn reactions_from(item: &Item) -> Vec<Reaction> {
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
fn replies_of(item: &Item) -> Vec<String> {
    item.get("replies")
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default()
}

fn key_of(chat_id: Uuid, ulid: &str) -> Item {
    HashMap::from([
        ("chat_id".to_owned(), AttributeValue::S(chat_id.to_string())),
        ("ulid".to_owned(), AttributeValue::S(ulid.to_owned())),
    ])
}

/// What a change to a message means for the replies quoting it: the change,
/// where it sits in the log, and the replies as stored with the original.
#[derive(Debug, Clone)]
pub struct QuoteUpdate {
    pub change: MessageChange,
    pub version: Version,
    pub replies: Vec<String>,
}

/// One page of history, newest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    pub messages: Vec<ChatMessage>,
    /// True when older messages exist beyond this page.
    pub more: bool,
}

impl ChatHistoryTable {
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

    async fn query_page(
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
    async fn get_many(
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

    async fn put_items(&self, items: &[Item]) -> Result<(), DynamoDbError> {
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
            Change::MessageEdited { content } => {
                if current.deleted {
                    return Ok(ChangeOutcome::default());
                }
                let result = update()
                    .update_expression("SET content = :c, edited_at = :t, v = :o, vp = :p")
                    .condition_expression(live)
                    .expression_attribute_values(":c", AttributeValue::S(content.clone()))
                    .expression_attribute_values(":t", AttributeValue::S(change.timestamp.clone()))
                    .send()
                    .await;
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

    async fn delete_keys(&self, keys: Vec<Item>) -> Result<(), DynamoDbError> {
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
    async fn batch(&self, requests: Vec<WriteRequest>) -> Result<(), DynamoDbError> {
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
