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

/// A producer whose acknowledgement means the record is durable: acks=all,
/// idempotent (no duplicates or reordering on retry), short linger for batching.
pub fn reliable_producer(
    config: &KafkaConfig,
) -> Result<rdkafka::producer::FutureProducer, KafkaError> {
    let mut producer = client_config(config);
    producer
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", config.message_timeout_ms.to_string());
    if config.idempotence {
        producer.set("enable.idempotence", "true");
    } else {
        // Consumers de-duplicate (sink by key, cdc by event id); order must still hold.
        producer
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1");
    }
    Ok(producer.create()?)
}

/// A consumer-group member that commits only what the caller says it finished.
/// `fetch_wait_ms` bounds how long the broker may hold an empty fetch: short
/// for latency, long so idle consumers do not keep the broker busy polling.
pub fn group_consumer(
    config: &KafkaConfig,
    group: &str,
    topics: &[&str],
    fetch_wait_ms: u64,
) -> Result<rdkafka::consumer::StreamConsumer, KafkaError> {
    use rdkafka::consumer::Consumer;
    let consumer: rdkafka::consumer::StreamConsumer = client_config(config)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
        .set("session.timeout.ms", config.session_timeout_ms.to_string())
        .set(
            "heartbeat.interval.ms",
            (config.session_timeout_ms / 3).max(100).to_string(),
        )
        .create()?;
    consumer.subscribe(topics)?;
    Ok(consumer)
}

/// Waits for one record, then gathers more for at most `linger`, up to `max`.
/// Consume errors are logged and waited out (the broker may be restarting).
pub async fn next_batch(
    consumer: &rdkafka::consumer::StreamConsumer,
    max: usize,
    linger: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    let mut batch = Vec::new();
    let deadline = loop {
        match consumer.recv().await {
            Ok(message) => {
                batch.push(message.detach());
                break tokio::time::Instant::now() + linger;
            }
            Err(error) => {
                tracing::warn!(%error, "kafka consume error");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    while batch.len() < max.max(1) {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => batch.push(message.detach()),
            Ok(Err(error)) => tracing::warn!(%error, "kafka consume error"),
            Err(_) => break,
        }
    }
    batch
}

/// Commits, per partition, the offset after the last of `messages`.
pub fn commit_after(
    consumer: &rdkafka::consumer::StreamConsumer,
    messages: &[rdkafka::message::OwnedMessage],
) -> Result<(), KafkaError> {
    use rdkafka::{
        Message, Offset, TopicPartitionList,
        consumer::{CommitMode, Consumer},
    };
    let mut offsets = TopicPartitionList::new();
    for message in messages {
        // A later record of the same partition overwrites an earlier one.
        offsets.add_partition_offset(
            message.topic(),
            message.partition(),
            Offset::Offset(message.offset() + 1),
        )?;
    }
    if offsets.count() > 0 {
        consumer.commit(&offsets, CommitMode::Async)?;
    }
    Ok(())
}

/// Publishes `harmony_consumer_lag{group,topic,partition}` (high watermark
/// minus position) every few seconds until `shutdown`.
pub fn report_lag(
    consumer: std::sync::Arc<rdkafka::consumer::StreamConsumer>,
    group: String,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use rdkafka::{Offset, consumer::Consumer};
    tokio::spawn(async move {
        while !shutdown.is_cancelled() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            let consumer = consumer.clone();
            let group = group.clone();
            let measured = tokio::task::spawn_blocking(move || {
                let Ok(positions) = consumer.position() else {
                    return;
                };
                for element in positions.elements() {
                    let Ok((_, high)) = consumer.fetch_watermarks(
                        element.topic(),
                        element.partition(),
                        Duration::from_secs(1),
                    ) else {
                        continue;
                    };
                    let position = match element.offset() {
                        Offset::Offset(offset) => offset,
                        _ => continue,
                    };
                    metrics::gauge!(
                        "harmony_consumer_lag",
                        "group" => group.clone(),
                        "topic" => element.topic().to_owned(),
                        "partition" => element.partition().to_string()
                    )
                    .set((high - position).max(0) as f64);
                }
            });
            let _ = measured.await;
        }
    });
}

/// Sends records that cannot be processed to `<topic>.dlq`, with the error.
#[derive(Clone)]
pub struct DeadLetters {
    producer: rdkafka::producer::FutureProducer,
    timeout: Duration,
}

impl DeadLetters {
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: reliable_producer(config)?,
            timeout: Duration::from_millis(config.message_timeout_ms),
        })
    }

    /// A record must end somewhere: retries until the dead-letter topic takes
    /// it; false only when `shutdown` came first (the record is then replayed).
    pub async fn send_until(
        &self,
        original: &rdkafka::message::OwnedMessage,
        error: &str,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> bool {
        while let Err(dlq_error) = self.send(original, error).await {
            tracing::error!(%dlq_error, "dead-letter topic unavailable; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        true
    }

    pub async fn send(
        &self,
        original: &rdkafka::message::OwnedMessage,
        error: &str,
    ) -> Result<(), KafkaError> {
        use rdkafka::{
            Message,
            message::{Header, OwnedHeaders},
            producer::FutureRecord,
        };
        let topic = format!("{}.dlq", original.topic());
        let (partition, offset) = (
            original.partition().to_string(),
            original.offset().to_string(),
        );
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "x-error",
                value: Some(error),
            })
            .insert(Header {
                key: "x-original-topic",
                value: Some(original.topic()),
            })
            .insert(Header {
                key: "x-original-partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "x-original-offset",
                value: Some(offset.as_str()),
            });
        let mut record = FutureRecord::to(&topic).headers(headers);
        if let Some(key) = original.key() {
            record = record.key(key);
        }
        if let Some(payload) = original.payload() {
            record = record.payload(payload);
        }
        self.producer
            .send(record, self.timeout)
            .await
            .map_err(|(error, _)| KafkaError::Client(error))?;
        metrics::counter!("harmony_dead_letters_total", "topic" => original.topic().to_owned())
            .increment(1);
        tracing::error!(
            topic = original.topic(),
            partition = original.partition(),
            offset = original.offset(),
            error,
            "record sent to the dead-letter topic"
        );
        Ok(())
    }
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
