//! `harmony relay`: the built-in CDC connector. Moves outbox rows from
//! Postgres to Kafka (topic per aggregate type, key `aggregate_id`), at least
//! once and in commit order per aggregate. Exactly one instance is active: it
//! holds a Postgres advisory lock; standbys wait for it and take over within
//! a second when the holder's session ends.

use std::time::Duration;

use harmony_config::Config;
use rdkafka::{
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use sqlx::{PgPool, postgres::PgListener};
use tokio_util::sync::CancellationToken;

use crate::domain::{
    channels,
    events::{Aggregate, LoggedEvent},
};
use crate::store::{
    Dependency,
    kafka::{self, Admin},
    postgres,
    postgres::outbox::{self, NOTIFY_CHANNEL, OutboxRow},
};

/// How often a standby retries the lock, and how soon it takes over.
const STANDBY_RETRY: Duration = Duration::from_millis(500);

pub struct Relay {
    pool: PgPool,
    producer: FutureProducer,
    chat_topic: String,
    user_topic: String,
    batch_size: i64,
    retention_hours: i64,
    poll: Duration,
    timeout: Duration,
}

impl Relay {
    pub fn new(config: &Config, pool: PgPool) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            producer: kafka::reliable_producer(&config.kafka)?,
            chat_topic: config.topics.chat_events.name.clone(),
            user_topic: config.topics.user_events.name.clone(),
            batch_size: config.relay.batch_size.max(1),
            retention_hours: config.relay.retention_hours,
            poll: Duration::from_millis(config.relay.poll_interval_ms.max(10)),
            timeout: Duration::from_millis(config.kafka.message_timeout_ms),
        })
    }

    /// Waits to become the active relay, then relays until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        // The lock lives as long as this session; a crash releases it.
        let mut leader = self.pool.acquire().await?.detach();
        loop {
            if outbox::try_lead(&mut leader).await? {
                break;
            }
            metrics::gauge!("harmony_relay_active").set(0.0);
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(STANDBY_RETRY) => {}
            }
        }
        tracing::info!("relay is active");
        metrics::gauge!("harmony_relay_active").set(1.0);
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        let mut last_purge = tokio::time::Instant::now();
        while !shutdown.is_cancelled() {
            let wait = match self.publish_ready().await {
                Ok(published) if published as i64 == self.batch_size => continue, // more are waiting
                // Sleep until a commit notifies us (or the safety poll).
                Ok(_) => self.poll,
                Err(error) => {
                    tracing::error!(%error, "relay round failed; retrying");
                    metrics::counter!("harmony_relay_failures_total").increment(1);
                    Duration::from_millis(200)
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                notification = listener.recv() => {
                    if let Err(error) = notification {
                        tracing::warn!(%error, "outbox listener interrupted; it reconnects");
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
            if last_purge.elapsed() > Duration::from_secs(300) {
                last_purge = tokio::time::Instant::now();
                self.purge().await;
            }
        }
        // Dropping `leader` closes the session and releases the lock for a standby.
        drop(leader);
        tracing::info!("relay stopped");
        Ok(())
    }

    /// Publishes one batch of unpublished rows; returns how many.
    async fn publish_ready(&self) -> anyhow::Result<usize> {
        let mut conn = self.pool.acquire().await?;
        let rows = outbox::ready(&mut conn, self.batch_size).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        // All sends are in flight at once; the idempotent producer keeps
        // per-partition (so per-aggregate) order.
        let sends = rows.iter().map(|row| self.send(row));
        for result in futures::future::join_all(sends).await {
            result?;
        }
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.event_id).collect();
        for lag in outbox::mark_published(&mut conn, &ids).await? {
            metrics::histogram!("harmony_relay_commit_to_kafka_seconds").record(lag);
        }
        metrics::counter!("harmony_relay_events_published_total").increment(rows.len() as u64);
        Ok(rows.len())
    }

    async fn send(&self, row: &OutboxRow) -> anyhow::Result<()> {
        let topic = match Aggregate::parse(&row.aggregate_type) {
            Some(Aggregate::Chat) => &self.chat_topic,
            Some(Aggregate::User) => &self.user_topic,
            None => {
                // No topic can take it; retrying would stall every later event.
                tracing::error!(event_id = %row.event_id, aggregate_type = row.aggregate_type, "outbox row has an unknown aggregate type; skipped");
                metrics::counter!("harmony_relay_unroutable_total").increment(1);
                return Ok(());
            }
        };
        let value = serde_json::to_vec(row)?;
        let mut record = FutureRecord::to(topic)
            .key(&row.aggregate_id)
            .payload(&value);
        // Chat-list changes also go live, unchanged, to each concerned user's
        // personal channel (the gateway and Centrifugo read this header).
        // An event this build does not know (or cannot read) reaches no one
        // live; its consumers still get it from the topic.
        let audience = match LoggedEvent::from_parts(row.event_type.clone(), row.payload.clone()) {
            Ok(LoggedEvent::Known(event)) => event.chat_list_audience(),
            _ => Vec::new(),
        };
        let personal: Vec<String> = audience.into_iter().map(channels::personal).collect();
        if !personal.is_empty() {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: channels::CHANNELS_HEADER,
                value: Some(personal.join(",").as_str()),
            }));
        }
        self.producer
            .send(record, self.timeout)
            .await
            .map_err(|(error, _)| anyhow::anyhow!("kafka: {error}"))?;
        Ok(())
    }

    async fn purge(&self) {
        let purged = match self.pool.acquire().await {
            Ok(mut conn) => outbox::purge_published(&mut conn, self.retention_hours).await,
            Err(error) => Err(error),
        };
        match purged {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "published outbox rows purged"),
            Err(error) => tracing::warn!(%error, "could not purge published outbox rows"),
        }
    }
}

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let pool = postgres::connect(&config.postgres).await?;
    let relay = Relay::new(config, pool.clone())?;
    let dependencies = vec![
        Dependency::Postgres(pool),
        Dependency::Kafka(Admin::new(&config.kafka)?),
    ];
    // The relay reads the outbox, not a consumer group: nothing to judge.
    let liveness = crate::ops::Liveness::default();
    super::run_worker(config, dependencies, liveness, |shutdown| {
        relay.run(shutdown)
    })
    .await
}
