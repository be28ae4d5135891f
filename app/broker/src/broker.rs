//! The state every request works on: the topics and their logs, the group
//! coordinator, and what the broker tells clients about itself.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    Config,
    groups::Coordinator,
    log::now_ms,
    topics::{LogDefaults, Topics},
};

pub struct Broker {
    pub topics: Topics,
    pub groups: Coordinator,
    /// Bumped on every append: fetches waiting for data watch it.
    pub appended: watch::Sender<u64>,
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub cluster_id: String,
    pub auto_create_topics: bool,
    last_producer_id: AtomicI64,
}

impl Broker {
    /// Opens the data directory, recovering every log and the committed offsets.
    pub async fn recover(config: &Config) -> anyhow::Result<(Topics, Coordinator)> {
        std::fs::create_dir_all(&config.data_dir)?;
        let defaults = LogDefaults {
            segment_bytes: config.segment_bytes,
            retention: config.retention,
        };
        let data_dir = config.data_dir.clone();
        Ok(tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            Ok((
                Topics::open(&data_dir, defaults)?,
                Coordinator::open(&data_dir)?,
            ))
        })
        .await??)
    }

    /// The broker of recovered stores, serving at `address`.
    pub fn new(
        (topics, groups): (Topics, Coordinator),
        config: &Config,
        address: SocketAddr,
    ) -> Self {
        Self {
            topics,
            groups,
            appended: watch::channel(0).0,
            node_id: 1,
            host: config
                .advertised_host
                .clone()
                .unwrap_or_else(|| address.ip().to_string()),
            port: i32::from(address.port()),
            cluster_id: "harmony-local".to_owned(),
            auto_create_topics: config.auto_create_topics,
            last_producer_id: AtomicI64::new(0),
        }
    }

    /// Producer ids start from the clock, so ids stay unique across restarts
    /// without storing a counter (the log de-duplicates retries by id).
    pub fn next_producer_id(&self) -> i64 {
        let now = now_ms();
        let previous = self
            .last_producer_id
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(last.max(now - 1) + 1)
            })
            .unwrap_or(now);
        previous.max(now - 1) + 1
    }
}

/// Group session expiry (often, it bounds how fast a dead member is noticed)
/// and retention (rarely, it only reclaims disk).
pub fn spawn_housekeeping(broker: Arc<Broker>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            broker.groups.tick();
            ticks += 1;
            if ticks.is_multiple_of(300) {
                let broker = broker.clone();
                let removed =
                    tokio::task::spawn_blocking(move || broker.topics.enforce_retention()).await;
                if let Ok(removed @ 1..) = removed {
                    tracing::info!(removed, "retention removed old segments");
                }
            }
        }
    });
}
