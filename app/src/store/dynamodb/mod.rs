//! DynamoDB: the long-term message store (table keyed `chat_id`/`ulid`):
//! the table and its client here, the item format in `item`, history reads
//! in `reads`, the sink's and the cdc's writes in `writes`.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, timeout::TimeoutConfig};
use aws_sdk_dynamodb::{
    Client,
    config::Credentials,
    error::SdkError,
    types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TableStatus, Tag,
    },
};
use aws_smithy_http_client::tls;
use harmony_config::DynamoDbConfig;

/// The tag `ensure` puts on a table it creates: only such a table may
/// `delete_if_created` delete (one terraform created, or a restored one,
/// never carries it).
pub const CREATED_BY: (&str, &str) = ("harmony.chat/created-by", "harmony-migrate");

/// DynamoDB takes at most 25 items per BatchWriteItem.
const BATCH_LIMIT: usize = 25;
const WRITE_ATTEMPTS: u32 = 8;
/// BatchGetItem takes at most 100 keys.
const GET_LIMIT: usize = 100;
/// Requests in flight at once for per-item updates.
const CONCURRENT_UPDATES: usize = 16;

mod item;
mod reads;
mod writes;

pub use item::{MessageKey, Version, from_item, to_item};
pub use reads::{HistoryPage, UNREAD_CAP, Unread};
pub use writes::{ChangeOutcome, QuoteUpdate};

/// What became of the table on `delete_if_created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reclaimed {
    Deleted,
    /// Not created by `ensure`: someone else's to delete.
    Kept,
    Absent,
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
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https)
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
        let (tag_key, tag_value) = CREATED_BY;
        let tag = Tag::builder().key(tag_key).value(tag_value).build()?;
        let created = self
            .client
            .create_table()
            .table_name(&self.name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("chat_id", KeyType::Hash)?)
            .key_schema(key("ulid", KeyType::Range)?)
            .attribute_definitions(attribute("chat_id")?)
            .attribute_definitions(attribute("ulid")?)
            .tags(tag.clone())
            .send()
            .await;
        let arn = match created {
            Ok(output) => output.table_description.and_then(|table| table.table_arn),
            // Another migrator may have won the race; that is fine.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                None
            }
            Err(error) => return Err(error.into()),
        };
        for _ in 0..600 {
            if self.status().await? == Some(TableStatus::Active) {
                // Tagged again once active (a table being created may refuse
                // it): the local server ignores tags given at creation.
                if let Some(arn) = arn {
                    self.client
                        .tag_resource()
                        .resource_arn(arn)
                        .tags(tag)
                        .send()
                        .await?;
                }
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(DynamoDbError::Unexpected(format!(
            "table {} did not become ACTIVE within 60 s",
            self.name
        )))
    }

    /// Deletes the table if `ensure` created it (it carries `CREATED_BY`),
    /// and waits until it is gone.
    pub async fn delete_if_created(&self) -> Result<Reclaimed, DynamoDbError> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.name)
            .send()
            .await;
        let arn = match described {
            Ok(output) => output.table.and_then(|table| table.table_arn),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(Reclaimed::Absent);
            }
            Err(e) => return Err(e.into()),
        }
        .ok_or_else(|| DynamoDbError::Unexpected("DescribeTable gave no ARN".into()))?;
        if !self.created_by_ensure(&arn).await? {
            return Ok(Reclaimed::Kept);
        }
        self.delete().await?;
        for _ in 0..600 {
            if self.status().await?.is_none() {
                return Ok(Reclaimed::Deleted);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(DynamoDbError::Unexpected(format!(
            "table {} was still being deleted after 60 s",
            self.name
        )))
    }

    /// Whether the table carries `CREATED_BY` (tags come in pages).
    async fn created_by_ensure(&self, arn: &str) -> Result<bool, DynamoDbError> {
        let (key, value) = CREATED_BY;
        let mut next = None;
        loop {
            let page = self
                .client
                .list_tags_of_resource()
                .resource_arn(arn)
                .set_next_token(next)
                .send()
                .await?;
            if page
                .tags()
                .iter()
                .any(|tag| tag.key() == key && tag.value() == value)
            {
                return Ok(true);
            }
            next = page.next_token;
            if next.is_none() {
                return Ok(false);
            }
        }
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
