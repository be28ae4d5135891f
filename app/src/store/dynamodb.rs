//! DynamoDB: the long-term message store (table keyed `chat_id`/`ulid`, ref §3.2).

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, timeout::TimeoutConfig};
use aws_sdk_dynamodb::{
    Client,
    config::Credentials,
    error::{DisplayErrorContext, SdkError},
    types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TableStatus,
    },
};
use harmony_config::DynamoDbConfig;

#[derive(Debug, thiserror::Error)]
#[error("dynamodb: {0}")]
pub struct DynamoDbError(pub String);

impl<E: std::error::Error + 'static, R: std::fmt::Debug> From<SdkError<E, R>> for DynamoDbError {
    fn from(error: SdkError<E, R>) -> Self {
        Self(DisplayErrorContext(&error).to_string())
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
            .key_schema(key("chat_id", KeyType::Hash).map_err(|e| DynamoDbError(e.to_string()))?)
            .key_schema(key("ulid", KeyType::Range).map_err(|e| DynamoDbError(e.to_string()))?)
            .attribute_definitions(attribute("chat_id").map_err(|e| DynamoDbError(e.to_string()))?)
            .attribute_definitions(attribute("ulid").map_err(|e| DynamoDbError(e.to_string()))?)
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
        Err(DynamoDbError(format!(
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

    pub async fn ping(&self) -> Result<(), String> {
        match self.status().await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!(
                "table {} does not exist (run `harmony migrate`)",
                self.name
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}
