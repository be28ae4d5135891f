//! Kafka: client configuration shared by every producer and consumer, topic
//! administration and health.

pub mod messages;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use harmony_config::{KafkaConfig, TopicConfig};
use rdkafka::{
    ClientConfig, Message, admin::AdminClient, client::DefaultClientContext,
    consumer::StreamConsumer, error::KafkaError as RdKafkaError, message::OwnedMessage,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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
    #[error(
        "kafka: sends in flight and none acknowledged for {patience:?}; the broker is not answering"
    )]
    NotAnswering { patience: Duration },
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
/// idempotent (no duplicates or reordering on retry), lingering
/// `linger_ms` so concurrent sends share a request.
pub fn reliable_producer(
    config: &KafkaConfig,
) -> Result<rdkafka::producer::FutureProducer, KafkaError> {
    let mut producer = client_config(config);
    producer
        .set("acks", "all")
        .set("linger.ms", config.linger_ms.to_string())
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
) -> Result<StreamConsumer, KafkaError> {
    let consumer: StreamConsumer = client_config(config)
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
    rdkafka::consumer::Consumer::subscribe(&consumer, topics)?;
    Ok(consumer)
}

/// What liveness needs to know of one consumer loop (`GroupMember::health`).
pub struct ConsumerHealth {
    group: String,
    started: Instant,
    /// Milliseconds after `started` of the last record received (or of a lag of 0).
    last_progress_ms: AtomicU64,
    /// Records behind the end of its partitions; -1 until measured.
    lag: AtomicI64,
    /// The last lag measurement failed (the broker did not answer).
    lag_unmeasured: AtomicBool,
    rejoins_without_progress: AtomicU32,
    max_rejoins: u32,
    /// The loop ended without being asked to (a panic).
    died: AtomicBool,
}

impl ConsumerHealth {
    fn new(group: &str, max_rejoins: u32) -> Arc<Self> {
        Arc::new(Self {
            group: group.to_owned(),
            started: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
            lag: AtomicI64::new(-1),
            lag_unmeasured: AtomicBool::new(false),
            rejoins_without_progress: AtomicU32::new(0),
            max_rejoins,
            died: AtomicBool::new(false),
        })
    }

    fn progressed(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_progress_ms.store(now, Ordering::Relaxed);
        self.rejoins_without_progress.store(0, Ordering::Relaxed);
    }

    fn since_progress(&self) -> Duration {
        let last = Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    /// Resolves once the consumer has received nothing for `timeout` while
    /// it has lag, or while its broker does not even answer a lag query.
    async fn stalled(&self, timeout: Duration) {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let behind =
                self.lag.load(Ordering::Relaxed) > 0 || self.lag_unmeasured.load(Ordering::Relaxed);
            if behind && self.since_progress() > timeout {
                return;
            }
        }
    }

    /// Why this consumer is not alive, if it is not.
    pub fn problem(&self) -> Option<String> {
        if self.died.load(Ordering::Relaxed) {
            return Some(format!("consumer of group {} stopped", self.group));
        }
        let rejoins = self.rejoins_without_progress.load(Ordering::Relaxed);
        (rejoins >= self.max_rejoins).then(|| {
            format!(
                "consumer of group {} has lag {} and made no progress for {} s across {rejoins} rejoins",
                self.group,
                self.lag.load(Ordering::Relaxed),
                self.since_progress().as_secs()
            )
        })
    }
}

/// A consumer-group member that heals itself: when it has lag but receives
/// nothing for `stall_timeout_ms` (a broker that dropped it, a session that
/// expired unnoticed), it leaves and rejoins with a fresh client, counted in
/// `harmony_consumer_rejoins_total`; after `max_stall_rejoins` rejoins
/// without progress `/healthz` fails, so the orchestrator restarts the process.
pub struct GroupMember {
    config: KafkaConfig,
    group: String,
    topics: Vec<String>,
    fetch_wait_ms: u64,
    consumer: watch::Sender<Arc<StreamConsumer>>,
    health: Arc<ConsumerHealth>,
    finished: bool,
}

impl GroupMember {
    pub fn new(
        config: &KafkaConfig,
        group: &str,
        topics: &[&str],
        fetch_wait_ms: u64,
    ) -> Result<Self, KafkaError> {
        let consumer = group_consumer(config, group, topics, fetch_wait_ms)?;
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        Ok(Self {
            config: config.clone(),
            group: group.to_owned(),
            topics,
            fetch_wait_ms,
            consumer: watch::channel(Arc::new(consumer)).0,
            health: ConsumerHealth::new(group, config.max_stall_rejoins),
            finished: false,
        })
    }

    /// This member's health, for the `/healthz` of the process running it.
    pub fn health(&self) -> Arc<ConsumerHealth> {
        self.health.clone()
    }

    /// Waits for one record, then gathers more for at most `linger`, up to
    /// `max`; rejoins the group whenever the consumer stalls with lag.
    pub async fn next_batch(&self, max: usize, linger: Duration) -> Vec<OwnedMessage> {
        let stall_timeout = Duration::from_millis(self.config.stall_timeout_ms);
        loop {
            let consumer = self.consumer.borrow().clone();
            tokio::select! {
                batch = next_batch(&consumer, max, linger) => {
                    self.health.progressed();
                    return batch;
                }
                () = self.health.stalled(stall_timeout) => self.rejoin(),
            }
        }
    }

    fn rejoin(&self) {
        let rejoins = self
            .health
            .rejoins_without_progress
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        tracing::warn!(
            group = self.group,
            lag = self.health.lag.load(Ordering::Relaxed),
            stalled_for_s = self.health.since_progress().as_secs(),
            rejoins,
            "consumer stalled with lag; leaving the group and rejoining with a fresh client"
        );
        metrics::counter!("harmony_consumer_rejoins_total", "group" => self.group.clone())
            .increment(1);
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        match group_consumer(&self.config, &self.group, &topics, self.fetch_wait_ms) {
            Ok(fresh) => {
                let stale = self.consumer.send_replace(Arc::new(fresh));
                // Closing can block against a broker that does not answer.
                std::thread::spawn(move || drop(stale));
                // The fresh client gets a full timeout to join and fetch.
                let now = self.health.started.elapsed().as_millis() as u64;
                self.health.last_progress_ms.store(now, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::error!(%error, "cannot create a fresh consumer; keeping the old one")
            }
        }
    }

    /// Commits, per partition, the offset after the last of `messages`.
    pub fn commit_after(&self, messages: &[OwnedMessage]) -> Result<(), KafkaError> {
        use rdkafka::{
            Offset, TopicPartitionList,
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
            self.consumer.borrow().commit(&offsets, CommitMode::Async)?;
        }
        Ok(())
    }

    /// Publishes `harmony_consumer_lag{group,topic,partition}` (high watermark
    /// minus position) every second or so until `shutdown`; a lag of 0 counts
    /// as progress, so an idle consumer is never judged stalled.
    pub fn report_lag(&self, shutdown: CancellationToken) {
        let (mut consumer, health) = (self.consumer.subscribe(), self.health.clone());
        let every = Duration::from_millis((self.config.stall_timeout_ms / 4).clamp(100, 5_000));
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                }
                let current = consumer.borrow_and_update().clone();
                let group = health.group.clone();
                let measured = tokio::task::spawn_blocking(move || measure_lag(&current, &group))
                    .await
                    .ok()
                    .flatten();
                health
                    .lag_unmeasured
                    .store(measured.is_none(), Ordering::Relaxed);
                if let Some(total) = measured {
                    health.lag.store(total, Ordering::Relaxed);
                    if total == 0 {
                        health.progressed();
                    }
                }
            }
        });
    }

    /// Ends the loop: the client is closed off the runtime (closing with
    /// unread records can block for long; offsets are committed already).
    pub fn close(mut self) {
        self.finished = true;
        let consumer = self.consumer.borrow().clone();
        std::thread::spawn(move || drop(consumer));
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        if !self.finished {
            self.health.died.store(true, Ordering::Relaxed);
        }
    }
}

/// Lag per partition into the gauge; the total, or None when the broker did not answer.
fn measure_lag(consumer: &StreamConsumer, group: &str) -> Option<i64> {
    use rdkafka::{Offset, consumer::Consumer};
    let positions = consumer.position().ok()?;
    if positions.count() == 0 {
        // No partitions (yet): behind nothing, if the broker answers at all.
        return consumer
            .fetch_metadata(None, Duration::from_secs(1))
            .ok()
            .map(|_| 0);
    }
    let mut total = 0;
    for element in positions.elements() {
        let (_, high) = consumer
            .fetch_watermarks(element.topic(), element.partition(), Duration::from_secs(1))
            .ok()?;
        let Offset::Offset(position) = element.offset() else {
            // No position yet: nothing consumed since the assignment.
            continue;
        };
        let lag = (high - position).max(0);
        total += lag;
        metrics::gauge!(
            "harmony_consumer_lag",
            "group" => group.to_owned(),
            "topic" => element.topic().to_owned(),
            "partition" => element.partition().to_string()
        )
        .set(lag as f64);
    }
    Some(total)
}

/// Waits for one record, then gathers more for at most `linger`, up to `max`.
/// Consume errors are logged and waited out (the broker may be restarting).
async fn next_batch(consumer: &StreamConsumer, max: usize, linger: Duration) -> Vec<OwnedMessage> {
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
        let topic = harmony_config::dead_letter_topic(original.topic());
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

/// The Kafka admin API: topics and metadata.
#[derive(Clone)]
pub struct Admin {
    client: Arc<AdminClient<DefaultClientContext>>,
    brokers: String,
    topics: harmony_topics::Admin,
}

impl Admin {
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaError> {
        let client = client_config(config).create()?;
        let topics = harmony_topics::Admin::new(client_config(config)).map_err(|error| {
            KafkaError::Topic {
                topic: "*".into(),
                message: error.to_string(),
            }
        })?;
        Ok(Self {
            client: Arc::new(client),
            brokers: config.bootstrap_servers.clone(),
            topics,
        })
    }

    /// Partition count of a topic, if it exists.
    pub async fn partitions(&self, topic: &str) -> Result<Option<usize>, KafkaError> {
        let existing = self
            .topics
            .existing(vec![topic.to_owned()])
            .await
            .map_err(|error| self.topic_error(error))?;
        Ok(existing
            .get(topic)
            .and_then(|state| state.as_ref().ok())
            .and_then(|state| usize::try_from(state.partitions).ok()))
    }

    fn topic_error(&self, error: harmony_topics::TopicError) -> KafkaError {
        match error {
            harmony_topics::TopicError::Kafka { source, .. } => KafkaError::Unreachable {
                brokers: self.brokers.clone(),
                source,
            },
            harmony_topics::TopicError::Topic { topic, message } => {
                KafkaError::Topic { topic, message }
            }
        }
    }

    /// Creates missing topics and grows partition counts; never shrinks (a
    /// topic with more partitions than configured is left as it is, with a
    /// warning). What changed, per topic.
    pub async fn ensure_topics(
        &self,
        topics: &[&TopicConfig],
    ) -> Result<Vec<Vec<harmony_topics::TopicChange>>, KafkaError> {
        let topic_error = |error| self.topic_error(error);
        let names = topics.iter().map(|t| t.name.clone()).collect();
        let existing = self.topics.existing(names).await.map_err(topic_error)?;
        let mut changes = Vec::with_capacity(topics.len());
        for topic in topics {
            let current = match existing.get(&topic.name) {
                Some(Ok(state)) => Some(*state),
                Some(Err(error)) => {
                    return Err(KafkaError::Topic {
                        topic: topic.name.clone(),
                        message: format!("the broker reports {error}"),
                    });
                }
                None => None,
            };
            let wanted = harmony_topics::Wanted {
                name: topic.name.clone(),
                partitions: topic.partitions,
                replication_factor: topic.replication_factor,
                retention_ms: None,
            };
            let ensured = self
                .topics
                .ensure(&wanted, current)
                .await
                .map_err(topic_error)?;
            if let Some(refusal) = ensured.refusal {
                tracing::warn!(topic = %topic.name, %refusal, "topic left as it is");
            }
            changes.push(ensured.changes);
        }
        Ok(changes)
    }

    pub async fn ping(&self) -> Result<(), crate::store::Cause> {
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || {
            client.inner().fetch_metadata(None, Duration::from_secs(2))
        })
        .await??;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Managed Kafka (Amazon MSK, the staging and prod environments) is
    /// reached over TLS with SASL/SCRAM, which librdkafka supports only
    /// when built with OpenSSL: without rdkafka's `ssl` feature this was
    /// seen failing with "OpenSSL not available at build time".
    #[test]
    fn clients_for_tls_with_scram_can_be_built() {
        let config = KafkaConfig {
            bootstrap_servers: "b-1.kafka.internal:9096".into(),
            security_protocol: "sasl_ssl".into(),
            sasl_mechanism: Some("SCRAM-SHA-512".into()),
            sasl_username: Some("harmony".into()),
            sasl_password: Some(harmony_config::Secret::new("not-a-real-password")),
            ..KafkaConfig::default()
        };
        let producer = reliable_producer(&config);
        assert!(producer.is_ok(), "{:?}", producer.err());
    }
}
