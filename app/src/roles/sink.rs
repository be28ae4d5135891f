//! `harmony sink`: writes the message topic to DynamoDB in idempotent batches
//! (ref §4.2). Offsets are committed only after DynamoDB accepted the batch,
//! so a crash replays rather than loses; replays overwrite identical items.

use std::time::Duration;

use harmony_config::Config;
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{CommitMode, Consumer, StreamConsumer},
    message::OwnedMessage,
};
use tokio_util::sync::CancellationToken;

use crate::{
    domain::message::{ChatMessage, MessageRecord},
    ops,
    store::{
        Dependency,
        dynamodb::ChatHistoryTable,
        kafka::{self, Admin},
    },
};

pub struct Sink {
    consumer: StreamConsumer,
    table: ChatHistoryTable,
    max_batch: usize,
    linger: Duration,
}

impl Sink {
    pub async fn new(config: &Config) -> anyhow::Result<Self> {
        let consumer: StreamConsumer = kafka::client_config(&config.kafka)
            .set("group.id", &config.sink.group_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "10")
            .create()?;
        consumer.subscribe(&[&config.topics.messages.name])?;
        Ok(Self {
            consumer,
            table: ChatHistoryTable::new(&config.dynamodb).await,
            max_batch: config.sink.max_batch.max(1),
            linger: Duration::from_millis(config.sink.linger_ms),
        })
    }

    /// Consumes until `shutdown`; the batch in hand is written and committed first.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let batch = tokio::select! {
                _ = shutdown.cancelled() => break,
                batch = self.next_batch() => batch,
            };
            self.write_and_commit(&batch, &shutdown).await;
        }
        tracing::info!("sink stopped");
        // Closing a consumer with unread records can block for long against some
        // brokers; offsets are committed, so let it close off the runtime.
        let consumer = self.consumer;
        std::thread::spawn(move || drop(consumer));
    }

    /// Waits for one record, then gathers more for at most `linger`.
    async fn next_batch(&self) -> Vec<OwnedMessage> {
        let mut batch = Vec::new();
        let deadline = loop {
            match self.consumer.recv().await {
                Ok(message) => {
                    batch.push(message.detach());
                    break tokio::time::Instant::now() + self.linger;
                }
                Err(error) => {
                    tracing::warn!(%error, "kafka consume error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        while batch.len() < self.max_batch {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Ok(Ok(message)) => batch.push(message.detach()),
                Ok(Err(error)) => tracing::warn!(%error, "kafka consume error"),
                Err(_) => break,
            }
        }
        batch
    }

    async fn write_and_commit(&self, batch: &[OwnedMessage], shutdown: &CancellationToken) {
        let messages: Vec<ChatMessage> = batch.iter().filter_map(decode).collect();
        let mut backoff = Duration::from_millis(100);
        // DynamoDB outages are waited out: committing without writing would lose messages.
        while let Err(error) = self.table.write(&messages).await {
            tracing::error!(%error, records = messages.len(), "sink write failed; retrying");
            metrics::counter!("harmony_sink_write_failures_total").increment(1);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
        metrics::counter!("harmony_sink_messages_written_total").increment(messages.len() as u64);
        let mut offsets = TopicPartitionList::new();
        for message in batch {
            // Later records of a partition overwrite earlier ones: the highest offset + 1 wins.
            let next = Offset::Offset(message.offset() + 1);
            if offsets
                .add_partition_offset(message.topic(), message.partition(), next)
                .is_err()
            {
                tracing::warn!("could not record an offset to commit");
            }
        }
        if let Err(error) = self.consumer.commit(&offsets, CommitMode::Async) {
            tracing::warn!(%error, "offset commit failed; the batch will be replayed (writes are idempotent)");
        }
    }
}

/// The record minus `author_metadata` (ref §4.2). Undecodable records are
/// logged and skipped: they can never be written.
fn decode(message: &OwnedMessage) -> Option<ChatMessage> {
    let payload = message.payload()?;
    match serde_json::from_slice::<MessageRecord>(payload) {
        Ok(record) => Some(record.message),
        Err(error) => {
            tracing::error!(%error, partition = message.partition(), offset = message.offset(), "undecodable message record skipped");
            metrics::counter!("harmony_sink_undecodable_total").increment(1);
            None
        }
    }
}

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let sink = Sink::new(config).await?;
    let table = sink.table.clone();
    let shutdown = ops::shutdown_token();
    let dependencies = vec![
        Dependency::Kafka(Admin::new(&config.kafka)?),
        Dependency::DynamoDb(table),
    ];
    let server = tokio::spawn(ops::serve(
        config.http.bind.clone(),
        ops::router(dependencies),
        shutdown.clone(),
    ));
    sink.run(shutdown).await;
    server.await??;
    Ok(())
}
