//! `harmony cdc`: consumes the outbox topics and applies each event once in
//! effect. An event in the processed-events ledger is skipped; otherwise its
//! effects run (each naturally idempotent: cache deletes and overwrites from
//! Postgres, history purges, unsubscribes), then its ledger row is written in
//! one short statement. No transaction is open while effects wait on Redis,
//! DynamoDB or Centrifugo; a crash between effects and ledger repeats the
//! effects, which changes nothing. Failures are retried with backoff, then
//! the record goes to its dead-letter topic with the error and consumption
//! goes on. Events of different keys run in parallel. An account closure
//! logs the removal of the user's reactions on the message log, so the sink
//! and every client apply it like any other change.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use harmony_config::Config;
use rdkafka::{
    Message,
    message::{Header, OwnedHeaders, OwnedMessage},
    producer::{FutureProducer, FutureRecord},
};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{
    domain::{
        cdc::{Effect, effects, reactions_to_remove},
        change::MessageChange,
        channels::{self, CHANNELS_HEADER},
        events::OutboxRecord,
        message::MessageIds,
    },
    ops,
    store::{
        Dependency,
        centrifugo::CentrifugoApi,
        dynamodb::ChatHistoryTable,
        kafka::{Admin, ConsumerHealth, DeadLetters, GroupMember, reliable_producer},
        postgres,
        postgres::{chats, outbox},
        redis,
        redis::cache::Cache,
        redis::recent::RecentHistory,
    },
};

const MAX_BATCH: usize = 500;

pub struct Cdc {
    member: GroupMember,
    handler: Handler,
    dead_letters: DeadLetters,
    max_attempts: u32,
    backoff: Duration,
}

/// Applies events: the ledger and the effects.
#[derive(Clone)]
struct Handler {
    pool: PgPool,
    cache: Cache,
    history: ChatHistoryTable,
    recent: RecentHistory,
    /// Set when Centrifugo serves the clients.
    centrifugo: Option<CentrifugoApi>,
    /// The chat-message log, for the changes an event calls for.
    messages: ChangeLog,
}

/// Publishes message changes on the chat-message log as the API does: key
/// chat id, header `x-centrifugo-channels: chat:<id>`, acks=all.
#[derive(Clone)]
struct ChangeLog {
    producer: FutureProducer,
    topic: String,
    timeout: Duration,
    ids: Arc<MessageIds>,
}

impl ChangeLog {
    async fn publish(&self, change: &MessageChange) -> anyhow::Result<()> {
        let key = change.chat_id.to_string();
        let value = serde_json::to_vec(change)?;
        let channel = channels::chat(change.chat_id);
        let headers = OwnedHeaders::new().insert(Header {
            key: CHANNELS_HEADER,
            value: Some(channel.as_str()),
        });
        let record = FutureRecord::to(&self.topic)
            .key(&key)
            .payload(&value)
            .headers(headers);
        self.producer
            .send(record, self.timeout)
            .await
            .map_err(|(error, _)| error)?;
        Ok(())
    }
}

/// Why an event failed: worth retrying, or never going to work.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Poison(String),
}

impl Handler {
    /// Ok(true) when applied now, Ok(false) when the ledger shows it was applied before.
    async fn apply(&self, message: &OwnedMessage) -> Result<bool, Failure> {
        let payload = message
            .payload()
            .ok_or_else(|| Failure::Poison("empty record".into()))?;
        let event: OutboxRecord = serde_json::from_slice(payload)
            .map_err(|e| Failure::Poison(format!("undecodable event: {e}")))?;
        let effects = effects(&event).map_err(|e| Failure::Poison(e.to_string()))?;
        let transient = |e: &dyn std::fmt::Display| Failure::Transient(e.to_string());
        let seen = outbox::was_processed(&self.pool, event.event_id)
            .await
            .map_err(|e| transient(&e))?;
        if seen {
            metrics::counter!("harmony_cdc_duplicates_total").increment(1);
            return Ok(false);
        }
        for effect in effects {
            self.run(effect).await.map_err(|e| transient(&e))?;
        }
        let fresh = outbox::mark_processed(&self.pool, event.event_id, event.event.event_type())
            .await
            .map_err(|e| transient(&e))?;
        if fresh {
            metrics::counter!("harmony_cdc_events_applied_total", "event_type" => event.event.event_type().to_owned())
                .increment(1);
        } else {
            // Another consumer (a rebalance) applied it at the same time: same effects.
            metrics::counter!("harmony_cdc_duplicates_total").increment(1);
        }
        Ok(fresh)
    }

    async fn run(&self, effect: Effect) -> anyhow::Result<()> {
        match effect {
            Effect::ForgetMemberships { chat_id, user_ids } => {
                self.cache.forget_memberships(chat_id, &user_ids).await?
            }
            Effect::ForgetChat(chat_id) => self.cache.forget_chat(chat_id).await?,
            Effect::PurgeHistory(chat_id) => {
                let purged = self.history.purge_chat(chat_id).await?;
                self.recent.purge(chat_id).await?;
                tracing::info!(%chat_id, purged, "history of a deleted chat purged");
            }
            Effect::Unsubscribe { chat_id, user_ids } => {
                if let Some(centrifugo) = &self.centrifugo {
                    let channel = channels::chat(chat_id);
                    for user in user_ids {
                        centrifugo.unsubscribe(user, &channel).await?;
                    }
                }
            }
            // Every chat the user is a member of (closure keeps memberships),
            // read whole: reactions are attributes named by emoji, so DynamoDB
            // cannot filter them. A replay logs the removals again: no-ops.
            Effect::RemoveReactions(user_id) => {
                let mut removed = 0;
                for chat_id in chats::chats_with_reactions_of(&self.pool, user_id).await? {
                    let messages = self.history.all_messages(chat_id).await?;
                    let changes =
                        reactions_to_remove(user_id, &messages, || self.messages.ids.next());
                    for change in &changes {
                        self.messages.publish(change).await?;
                    }
                    removed += changes.len();
                }
                tracing::info!(%user_id, removed, "reactions of a closed account removed");
            }
            Effect::ForgetAttention(user_id) => {
                let mut conn = self.pool.acquire().await?;
                chats::forget_attention(&mut conn, user_id).await?
            }
            // The closed profile from Postgres, written (not deleted) so that
            // a racing cache fill cannot re-cache the open account.
            Effect::CacheClosedProfile(user_id) => {
                match crate::store::postgres::users::profile(&self.pool, user_id).await? {
                    Some(profile) => self.cache.set_user(&profile).await?,
                    None => self.cache.forget_user(user_id).await?,
                }
            }
        }
        Ok(())
    }
}

impl Cdc {
    pub async fn new(config: &Config) -> anyhow::Result<Self> {
        let topics = [
            config.topics.chat_events.name.as_str(),
            config.topics.user_events.name.as_str(),
        ];
        let member = GroupMember::new(
            &config.kafka,
            &config.cdc.group_id,
            &topics,
            config.cdc.fetch_wait_ms,
        )?;
        let redis = redis::connect(&config.redis).await?;
        let handler = Handler {
            pool: postgres::connect(&config.postgres).await?,
            cache: Cache::new(redis.clone(), &config.cache),
            recent: RecentHistory::new(redis, &config.cache),
            history: ChatHistoryTable::new(&config.dynamodb).await,
            centrifugo: CentrifugoApi::new(&config.realtime),
            messages: ChangeLog {
                producer: reliable_producer(&config.kafka)?,
                topic: config.topics.messages.name.clone(),
                timeout: Duration::from_millis(config.kafka.message_timeout_ms),
                ids: Arc::new(MessageIds::default()),
            },
        };
        Ok(Self {
            member,
            handler,
            dead_letters: DeadLetters::new(&config.kafka)?,
            max_attempts: config.cdc.max_attempts.max(1),
            backoff: Duration::from_millis(config.cdc.retry_backoff_ms),
        })
    }

    /// Its group member's health, for `/healthz`.
    pub fn health(&self) -> Arc<ConsumerHealth> {
        self.member.health()
    }

    pub fn dependencies(&self) -> Vec<Dependency> {
        vec![
            Dependency::Postgres(self.handler.pool.clone()),
            Dependency::DynamoDb(self.handler.history.clone()),
            Dependency::Redis(self.handler.cache.connection()),
        ]
    }

    pub async fn run(self, shutdown: CancellationToken) {
        self.member.report_lag(shutdown.clone());
        loop {
            let batch = tokio::select! {
                _ = shutdown.cancelled() => break,
                batch = self.member.next_batch(MAX_BATCH, Duration::from_millis(5)) => batch,
            };
            // Per key (so per aggregate) in order; different keys in parallel.
            let mut by_key: BTreeMap<Vec<u8>, Vec<&OwnedMessage>> = BTreeMap::new();
            for message in &batch {
                by_key
                    .entry(message.key().unwrap_or_default().to_vec())
                    .or_default()
                    .push(message);
            }
            let this = &self;
            let stop = &shutdown;
            let lanes = by_key.into_values().map(|lane| async move {
                for message in lane {
                    this.process(message, stop).await;
                }
            });
            futures::future::join_all(lanes).await;
            if shutdown.is_cancelled() {
                // Unfinished records are not committed; they are replayed after restart.
                break;
            }
            if let Err(error) = self.member.commit_after(&batch) {
                tracing::warn!(%error, "offset commit failed; events will be replayed (the ledger skips them)");
            }
        }
        tracing::info!("cdc stopped");
        self.member.close();
    }

    /// Applies one record with bounded retries; a poison record or one that
    /// keeps failing goes to the dead-letter topic.
    async fn process(&self, message: &OwnedMessage, shutdown: &CancellationToken) {
        let mut backoff = self.backoff;
        let mut attempt = 1;
        let error = loop {
            match self.handler.apply(message).await {
                Ok(_) => return,
                Err(Failure::Poison(reason)) => break reason,
                Err(Failure::Transient(reason)) if attempt >= self.max_attempts => break reason,
                Err(Failure::Transient(reason)) => {
                    tracing::warn!(attempt, %reason, "event failed; retrying");
                    attempt += 1;
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff *= 2;
                }
            }
        };
        self.dead_letters
            .send_until(message, &error, shutdown)
            .await;
    }
}

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let cdc = Cdc::new(config).await?;
    let mut dependencies = cdc.dependencies();
    dependencies.push(Dependency::Kafka(Admin::new(&config.kafka)?));
    let liveness = ops::Liveness::of([cdc.health()]);
    super::run_worker(config, dependencies, liveness, |shutdown| async move {
        cdc.run(shutdown).await;
        Ok(())
    })
    .await
}
