//! DynamoDB: the long-term message store (table keyed `chat_id`/`ulid`).

use std::{collections::HashMap, time::Duration};

use aws_config::{BehaviorVersion, Region, timeout::TimeoutConfig};
use aws_sdk_dynamodb::{
    Client,
    config::Credentials,
    error::SdkError,
    types::{
        AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, KeySchemaElement, KeyType,
        PutRequest, ScalarAttributeType, TableStatus, WriteRequest,
    },
};
use harmony_config::DynamoDbConfig;
use uuid::Uuid;

use crate::domain::message::ChatMessage;

/// DynamoDB takes at most 25 items per BatchWriteItem.
const BATCH_LIMIT: usize = 25;
const WRITE_ATTEMPTS: u32 = 8;

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

/// Item = the message's top-level fields, `null` as the NULL type.
pub fn to_item(message: &ChatMessage) -> Item {
    let text = |s: String| AttributeValue::S(s);
    HashMap::from([
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
        ("content".to_owned(), text(message.content.clone())),
    ])
}

pub fn from_item(item: &Item) -> Option<ChatMessage> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let uuid = |name: &str| text(name).and_then(|s| Uuid::parse_str(&s).ok());
    Some(ChatMessage {
        chat_id: uuid("chat_id")?,
        ulid: text("ulid")?,
        client_uuid: uuid("client_uuid"),
        timestamp: text("timestamp")?,
        user_id: uuid("user_id")?,
        content: text("content")?,
        ..ChatMessage::default()
    })
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
        let mut query = self
            .client
            .query()
            .table_name(&self.name)
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

    /// Writes every message (puts are idempotent by key), 25 per request,
    /// retrying unprocessed items with exponential backoff.
    pub async fn write(&self, messages: &[ChatMessage]) -> Result<(), DynamoDbError> {
        // One request may not hold the same key twice; the later copy is identical.
        let mut unique: Vec<&ChatMessage> = Vec::with_capacity(messages.len());
        let mut seen = std::collections::HashSet::new();
        for message in messages {
            if seen.insert((message.chat_id, message.ulid.as_str())) {
                unique.push(message);
            }
        }
        let writes = unique
            .chunks(BATCH_LIMIT)
            .map(|chunk| self.write_chunk(chunk));
        for result in futures::future::join_all(writes).await {
            result?;
        }
        Ok(())
    }

    async fn write_chunk(&self, chunk: &[&ChatMessage]) -> Result<(), DynamoDbError> {
        let requests = chunk
            .iter()
            .map(|m| {
                let put = PutRequest::builder().set_item(Some(to_item(m))).build()?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, DynamoDbError>>()?;
        self.batch(requests).await
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
