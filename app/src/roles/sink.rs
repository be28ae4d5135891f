//! `harmony sink`: writes the message topic to DynamoDB in idempotent batches.
//! Offsets are committed only after DynamoDB accepted the batch,
//! so a crash replays rather than loses; replays overwrite identical items.
//! Backpressure is natural: the next batch is fetched only after this one is
//! written. Messages of deleted chats are dropped, and writes that raced a
//! deletion are undone, so in-flight messages never bring history back.

use std::{sync::Arc, time::Duration};

use harmony_config::Config;
use rdkafka::{Message, message::OwnedMessage};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    domain::message::{ChatMessage, MessageRecord},
    ops,
    store::{
        Dependency,
        dynamodb::ChatHistoryTable,
        kafka::{Admin, ConsumerHealth, DeadLetters, GroupMember},
        postgres,
        postgres::chats,
        redis,
        redis::recent::RecentHistory,
    },
};

pub struct Sink {
    member: GroupMember,
    table: ChatHistoryTable,
    recent: RecentHistory,
    pool: PgPool,
    dead_letters: DeadLetters,
    max_batch: usize,
    linger: Duration,
}

impl Sink {
    pub async fn new(config: &Config) -> anyhow::Result<Self> {
        let member = GroupMember::new(
            &config.kafka,
            &config.sink.group_id,
            &[&config.topics.messages.name],
            config.sink.fetch_wait_ms,
        )?;
        Ok(Self {
            member,
            table: ChatHistoryTable::new(&config.dynamodb).await,
            recent: RecentHistory::new(redis::connect(&config.redis).await?, &config.cache),
            pool: postgres::connect(&config.postgres).await?,
            dead_letters: DeadLetters::new(&config.kafka)?,
            max_batch: config.sink.max_batch.max(1),
            linger: Duration::from_millis(config.sink.linger_ms),
        })
    }

    /// Its group member's health, for `/healthz`.
    pub fn health(&self) -> Arc<ConsumerHealth> {
        self.member.health()
    }

    pub fn dependencies(&self) -> Vec<Dependency> {
        vec![
            Dependency::DynamoDb(self.table.clone()),
            Dependency::Postgres(self.pool.clone()),
            Dependency::Redis(self.recent.connection()),
        ]
    }

    /// Consumes until `shutdown`; the batch in hand is written and committed first.
    pub async fn run(self, shutdown: CancellationToken) {
        self.member.report_lag(shutdown.clone());
        loop {
            let batch = tokio::select! {
                _ = shutdown.cancelled() => break,
                batch = self.member.next_batch(self.max_batch, self.linger) => batch,
            };
            if !self.store(&batch, &shutdown).await {
                break;
            }
            if let Err(error) = self.member.commit_after(&batch) {
                tracing::warn!(%error, "offset commit failed; the batch will be replayed (writes are idempotent)");
            }
        }
        tracing::info!("sink stopped");
        self.member.close();
    }

    /// Writes a batch durably; false only when shutdown interrupted it (then
    /// nothing is committed and the batch is replayed).
    async fn store(&self, batch: &[OwnedMessage], shutdown: &CancellationToken) -> bool {
        let mut messages = Vec::with_capacity(batch.len());
        for record in batch {
            match decode(record) {
                Ok(message) => messages.push(message),
                Err(reason) => {
                    if !self
                        .dead_letters
                        .send_until(record, &reason, shutdown)
                        .await
                    {
                        return false;
                    }
                }
            }
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.write_live(&messages).await {
                Ok(written) => {
                    metrics::counter!("harmony_sink_messages_written_total")
                        .increment(written as u64);
                    return true;
                }
                Err(error) => {
                    // Outages are waited out: committing without writing would lose messages.
                    tracing::error!(%error, records = messages.len(), "sink write failed; retrying");
                    metrics::counter!("harmony_sink_write_failures_total").increment(1);
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    /// Check, write, re-check: a chat deleted before the write is skipped; one
    /// deleted during it has the just-written items removed again. A deletion
    /// after the re-check is covered by the cdc purge, which runs after it.
    async fn write_live(&self, messages: &[ChatMessage]) -> anyhow::Result<usize> {
        let chat_ids = |messages: &[ChatMessage]| -> Vec<Uuid> {
            messages.iter().map(|m| m.chat_id).collect()
        };
        let deleted = chats::deleted_among(&self.pool, &chat_ids(messages)).await?;
        let live: Vec<ChatMessage> = messages
            .iter()
            .filter(|m| !deleted.contains(&m.chat_id))
            .cloned()
            .collect();
        if live.is_empty() {
            return Ok(0);
        }
        self.table.write(&live).await?;
        let deleted_meanwhile = chats::deleted_among(&self.pool, &chat_ids(&live)).await?;
        if !deleted_meanwhile.is_empty() {
            let undo: Vec<&ChatMessage> = live
                .iter()
                .filter(|m| deleted_meanwhile.contains(&m.chat_id))
                .collect();
            self.table.delete_messages(&undo).await?;
        }
        // The newest messages in Redis follow DynamoDB; failing here fails
        // the batch, which is written again (both writes are idempotent).
        let kept: Vec<ChatMessage> = live
            .iter()
            .filter(|m| !deleted_meanwhile.contains(&m.chat_id))
            .cloned()
            .collect();
        self.recent.append(&kept).await?;
        Ok(live.len())
    }
}

/// The record minus `author_metadata`.
fn decode(record: &OwnedMessage) -> Result<ChatMessage, String> {
    let payload = record.payload().ok_or("empty record")?;
    serde_json::from_slice::<MessageRecord>(payload)
        .map(|record| record.message)
        .map_err(|e| format!("undecodable message record: {e}"))
}

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let sink = Sink::new(config).await?;
    let mut dependencies = sink.dependencies();
    dependencies.push(Dependency::Kafka(Admin::new(&config.kafka)?));
    let liveness = ops::Liveness::of([sink.health()]);
    super::run_worker(config, dependencies, liveness, |shutdown| async move {
        sink.run(shutdown).await;
        Ok(())
    })
    .await
}
