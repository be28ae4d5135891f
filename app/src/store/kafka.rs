//! Kafka: client configuration shared by every producer and consumer, topic
//! administration and health.

use std::{sync::Arc, time::Duration};

use harmony_config::{KafkaConfig, TopicConfig};
use rdkafka::{
    ClientConfig,
    admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    error::{KafkaError as RdKafkaError, RDKafkaErrorCode},
};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error(
        "kafka: cannot reach brokers {brokers}: {source}; is it running? (scripts/services.sh status)"
    )]
    Unreachable {
        brokers: String,
        source: RdKafkaError,
    },
    #[error("kafka: topic {topic}: {message}")]
    Topic { topic: String, message: String },
    #[error("kafka: {0}")]
    Client(#[from] RdKafkaError),
}

/// librdkafka settings common to every client of the app.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    for (key, value) in config.client_properties() {
        client.set(key, value);
    }
    client
}

/// What `ensure_topics` did with one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    Created,
    Unchanged,
    PartitionsIncreased { from: usize },
}

/// The Kafka admin API: topics and metadata.
#[derive(Clone)]
pub struct Admin {
    client: Arc<AdminClient<DefaultClientContext>>,
    brokers: String,
}

impl Admin {
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaError> {
        let client = client_config(config).create()?;
        Ok(Self {
            client: Arc::new(client),
            brokers: config.bootstrap_servers.clone(),
        })
    }

    /// Partition count per existing topic name (metadata is a blocking call).
    pub async fn partitions(&self, topic: &str) -> Result<Option<usize>, KafkaError> {
        let client = self.client.clone();
        let name = topic.to_owned();
        let metadata = tokio::task::spawn_blocking(move || {
            client
                .inner()
                .fetch_metadata(Some(&name), Duration::from_secs(5))
        })
        .await
        .map_err(|e| KafkaError::Topic {
            topic: topic.to_owned(),
            message: e.to_string(),
        })?
        .map_err(|source| KafkaError::Unreachable {
            brokers: self.brokers.clone(),
            source,
        })?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len()))
    }

    /// Creates missing topics and grows partition counts; never shrinks.
    pub async fn ensure_topics(
        &self,
        topics: &[&TopicConfig],
    ) -> Result<Vec<TopicOutcome>, KafkaError> {
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        let mut outcomes = Vec::with_capacity(topics.len());
        for topic in topics {
            let wanted = usize::try_from(topic.partitions).unwrap_or(0);
            let outcome = match self.partitions(&topic.name).await? {
                None => {
                    let new = NewTopic::new(
                        &topic.name,
                        topic.partitions,
                        TopicReplication::Fixed(topic.replication_factor),
                    );
                    let results = self.client.create_topics([&new], &options).await?;
                    check(
                        &topic.name,
                        results,
                        &[RDKafkaErrorCode::TopicAlreadyExists],
                    )?;
                    TopicOutcome::Created
                }
                Some(current) if current < wanted => {
                    let grow = NewPartitions::new(&topic.name, wanted);
                    let results = self.client.create_partitions([&grow], &options).await?;
                    check(&topic.name, results, &[])?;
                    TopicOutcome::PartitionsIncreased { from: current }
                }
                Some(current) => {
                    if current > wanted {
                        tracing::warn!(topic = %topic.name, current, wanted, "topic has more partitions than configured; Kafka cannot shrink a topic, leaving it");
                    }
                    TopicOutcome::Unchanged
                }
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    pub async fn delete_topics(&self, names: &[&str]) -> Result<(), KafkaError> {
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        for (name, result) in names
            .iter()
            .zip(self.client.delete_topics(names, &options).await?)
        {
            if let Err((_, code)) = result
                && code != RDKafkaErrorCode::UnknownTopicOrPartition
            {
                return Err(KafkaError::Topic {
                    topic: (*name).to_owned(),
                    message: code.to_string(),
                });
            }
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), String> {
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || {
            client.inner().fetch_metadata(None, Duration::from_secs(2))
        })
        .await
        .map_err(|e| e.to_string())?
        .map(drop)
        .map_err(|e| e.to_string())
    }
}

fn check(
    topic: &str,
    results: Vec<Result<String, (String, RDKafkaErrorCode)>>,
    tolerated: &[RDKafkaErrorCode],
) -> Result<(), KafkaError> {
    for result in results {
        if let Err((_, code)) = result
            && !tolerated.contains(&code)
        {
            return Err(KafkaError::Topic {
                topic: topic.to_owned(),
                message: code.to_string(),
            });
        }
    }
    Ok(())
}
