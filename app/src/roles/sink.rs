//! `harmony sink`: applies the message log to DynamoDB in idempotent batches.
//! Offsets are committed only after DynamoDB (and the newest-page cache)
//! accepted the batch, so a crash replays rather than loses. A message is
//! written only if it is not stored yet; a change (edit, deletion, reaction)
//! applies only to an item whose version (the log position of the last
//! record applied to it) is older, so a replay changes nothing. Backpressure
//! is natural: the next batch is fetched only after this one is written.
//! Records of deleted chats are dropped, and messages written while their
//! chat was deleted are removed again (changes never create an item), so
//! in-flight records never bring history back.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::StreamExt;

use harmony_config::Config;
use rdkafka::{Message, message::OwnedMessage};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    domain::{
        change::{Change, MessageChange},
        message::{ChatMessage, LogRecord},
    },
    ops,
    store::{
        Dependency,
        dynamodb::{ChatHistoryTable, MessageKey, QuoteUpdate, Version},
        kafka::{Admin, ConsumerHealth, DeadLetters, GroupMember},
        postgres,
        postgres::{chats, users},
        redis,
        redis::recent::RecentHistory,
    },
};

/// Messages whose changes are applied at once.
const CONCURRENT_MESSAGES: usize = 16;

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
        let mut records = Vec::with_capacity(batch.len());
        for record in batch {
            match decode(record) {
                Ok(decoded) => records.push(decoded),
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
            match self.write_live(&records).await {
                Ok(written) => {
                    metrics::counter!("harmony_sink_messages_written_total")
                        .increment(written.messages as u64);
                    metrics::counter!("harmony_sink_changes_applied_total")
                        .increment(written.changes as u64);
                    return true;
                }
                Err(error) => {
                    // Outages are waited out: committing without writing would lose records.
                    tracing::error!(%error, records = records.len(), "sink write failed; retrying");
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

    /// Check, write, re-check: records of a chat deleted before the write are
    /// skipped; messages of one deleted during it are removed again. A
    /// deletion after the re-check is covered by the cdc purge, which runs
    /// after it. Messages first (only missing ones, each reply added to its
    /// original's replies), then the changes in log order (per message one
    /// after the other, different messages at once), then the quotes of the
    /// replies to edited or deleted messages, then the newest-page cache.
    async fn write_live(&self, records: &[(LogRecord, Version)]) -> anyhow::Result<Written> {
        let chat_ids: Vec<Uuid> = records.iter().map(|(r, _)| r.chat_id()).collect();
        let deleted = chats::deleted_among(&self.pool, &chat_ids).await?;
        let mut messages: Vec<(ChatMessage, Version)> = Vec::new();
        let mut changes: Vec<(&MessageChange, Version)> = Vec::new();
        for (record, version) in records {
            if deleted.contains(&record.chat_id()) {
                continue;
            }
            match record {
                LogRecord::Message(record) => messages.push((record.message.clone(), *version)),
                LogRecord::Change(change) => changes.push((change, *version)),
            }
        }
        // A closed account's reaction still in flight when the cdc removed
        // its stored ones is never applied.
        let reactors: Vec<Uuid> = changes
            .iter()
            .filter(|(c, _)| matches!(c.change, Change::ReactionAdded { .. }))
            .map(|(c, _)| c.user_id)
            .collect();
        if !reactors.is_empty() {
            let closed = users::closed_among(&self.pool, &reactors).await?;
            changes.retain(|(c, _)| {
                !(matches!(c.change, Change::ReactionAdded { .. }) && closed.contains(&c.user_id))
            });
        }
        if messages.is_empty() && changes.is_empty() {
            return Ok(Written::default());
        }
        let stored = self.table.insert_missing(&messages).await?;
        let replies: Vec<&ChatMessage> = messages.iter().map(|(m, _)| m).collect();
        self.table.link_replies(&replies).await?;

        let (applied, quotes) = self.apply_changes(&changes).await?;
        self.update_quotes(&quotes).await?;

        let live_chats: Vec<Uuid> = messages
            .iter()
            .map(|(m, _)| m.chat_id)
            .chain(changes.iter().map(|(c, _)| c.chat_id))
            .collect();
        let deleted_meanwhile = chats::deleted_among(&self.pool, &live_chats).await?;
        if !deleted_meanwhile.is_empty() {
            let undo: Vec<&ChatMessage> = messages
                .iter()
                .map(|(m, _)| m)
                .filter(|m| deleted_meanwhile.contains(&m.chat_id))
                .collect();
            self.table.delete_messages(&undo).await?;
        }
        // The newest messages in Redis follow DynamoDB: the changed messages
        // and the replies whose quote changed, as stored now. Failing here
        // fails the batch, which is written again (every write is idempotent).
        let mut touched: Vec<MessageKey> = changes
            .iter()
            .map(|(c, _)| (c.chat_id, c.ulid.clone()))
            .chain(quotes.iter().flat_map(|q| {
                q.replies
                    .iter()
                    .map(|reply| (q.change.chat_id, reply.clone()))
            }))
            .filter(|(chat, _)| !deleted_meanwhile.contains(chat))
            .collect();
        touched.sort();
        touched.dedup();
        let changed = if touched.is_empty() {
            Vec::new()
        } else {
            self.table.stored(&touched).await?
        };
        let kept: Vec<ChatMessage> = stored
            .into_iter()
            .filter(|m| !deleted_meanwhile.contains(&m.chat_id))
            .collect();
        self.recent.update(&kept, &changed).await?;
        Ok(Written {
            messages: messages.len(),
            changes: applied,
        })
    }

    /// Applies the changes in log order per message, different messages
    /// concurrently. How many applied, and the quote updates they call for.
    async fn apply_changes(
        &self,
        changes: &[(&MessageChange, Version)],
    ) -> anyhow::Result<(usize, Vec<QuoteUpdate>)> {
        let mut by_message: BTreeMap<MessageKey, Vec<(&MessageChange, Version)>> = BTreeMap::new();
        for (change, version) in changes {
            by_message
                .entry((change.chat_id, change.ulid.clone()))
                .or_default()
                .push((change, *version));
        }
        // Collected first: a lazy iterator of futures trips the Send check of `tokio::spawn`.
        let lanes: Vec<_> = by_message
            .into_values()
            .map(|lane| async move {
                let mut applied = 0;
                let mut quotes = Vec::new();
                for (change, version) in lane {
                    let outcome = self.table.apply_change(change, version).await?;
                    applied += usize::from(outcome.applied);
                    quotes.extend(outcome.quotes);
                }
                anyhow::Ok((applied, quotes))
            })
            .collect();
        let mut applied = 0;
        let mut quotes = Vec::new();
        let mut lanes = futures::stream::iter(lanes).buffer_unordered(CONCURRENT_MESSAGES);
        while let Some(lane) = lanes.next().await {
            let (count, lane_quotes) = lane?;
            applied += count;
            quotes.extend(lane_quotes);
        }
        Ok((applied, quotes))
    }

    /// Quote updates per quoted message in log order, different ones concurrently.
    async fn update_quotes(&self, quotes: &[QuoteUpdate]) -> anyhow::Result<()> {
        let mut by_original: BTreeMap<MessageKey, Vec<&QuoteUpdate>> = BTreeMap::new();
        for quote in quotes.iter().filter(|q| !q.replies.is_empty()) {
            by_original
                .entry((quote.change.chat_id, quote.change.ulid.clone()))
                .or_default()
                .push(quote);
        }
        for lane in by_original.values_mut() {
            lane.sort_by_key(|q| (q.version.partition, q.version.offset));
        }
        let lanes: Vec<_> = by_original
            .into_values()
            .map(|lane| async move {
                for quote in lane {
                    self.table.update_quotes(quote).await?;
                }
                anyhow::Ok(())
            })
            .collect();
        let mut lanes = futures::stream::iter(lanes).buffer_unordered(CONCURRENT_MESSAGES);
        while let Some(lane) = lanes.next().await {
            lane?;
        }
        Ok(())
    }
}

/// What one batch wrote.
#[derive(Debug, Default)]
struct Written {
    messages: usize,
    changes: usize,
}

/// The record and its place in the log; a message record minus `author_metadata`.
fn decode(record: &OwnedMessage) -> Result<(LogRecord, Version), String> {
    let payload = record.payload().ok_or("empty record")?;
    let decoded = serde_json::from_slice::<LogRecord>(payload)
        .map_err(|e| format!("undecodable message log record: {e}"))?;
    Ok((
        decoded,
        Version {
            partition: record.partition(),
            offset: record.offset(),
        },
    ))
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
