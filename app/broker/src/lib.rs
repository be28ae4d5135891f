//! `harmony-broker`: a single-node Kafka-compatible broker for one-machine
//! Harmony setups (the README's commands, the tests, CI). Clusters use a real
//! Kafka; this broker exists because none can be installed here, and the one
//! that could (tansu 0.6.0 on sqlite) slowed down with every record it held
//! (docs/operations.md).
//!
//! It speaks the Kafka protocol subset librdkafka uses for producing,
//! consuming in groups and administering topics (the codec is the
//! `kafka-protocol` crate). Record batches are stored as sent, in segment
//! files; see `log` for why its costs do not grow with the log.

pub mod client;
pub mod groups;
mod handlers;
pub mod log;
mod server;
pub mod topics;

pub use server::{DecodeError, SUPPORTED, decode_request};

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use tokio::{net::TcpListener, sync::watch};
use tokio_util::sync::CancellationToken;

use crate::{
    groups::Coordinator,
    log::{Retention, now_ms},
    topics::{LogDefaults, Topics},
};

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The host clients are told to connect to (default: the listen address).
    pub advertised_host: Option<String>,
    pub data_dir: PathBuf,
    pub segment_bytes: u64,
    pub retention: Retention,
    pub auto_create_topics: bool,
}

/// Bounds on what one connection may make the broker hold or wait for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request accepted (Kafka's socket.request.max.bytes).
    pub max_request_bytes: usize,
    /// How long a request that has begun may take to arrive whole; a client
    /// that sends half a frame and then nothing is disconnected after it.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 100 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

pub struct Broker {
    topics: Topics,
    groups: Coordinator,
    /// Bumped on every append: fetches waiting for data watch it.
    appended: watch::Sender<u64>,
    node_id: i32,
    host: String,
    port: i32,
    cluster_id: String,
    auto_create_topics: bool,
    last_producer_id: AtomicI64,
}

impl Broker {
    /// Producer ids start from the clock, so ids stay unique across restarts
    /// without storing a counter (the log de-duplicates retries by id).
    fn next_producer_id(&self) -> i64 {
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

/// A running broker: its address, and a handle to stop it.
pub struct Running {
    pub address: SocketAddr,
    pub shutdown: CancellationToken,
    pub done: tokio::task::JoinHandle<()>,
}

/// Opens the data directory (recovering every log) and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    start_with(config, Limits::default()).await
}

/// [`start`] with other limits than Kafka's defaults.
pub async fn start_with(config: Config, limits: Limits) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data_dir)?;
    let defaults = LogDefaults {
        segment_bytes: config.segment_bytes,
        retention: config.retention,
    };
    let data_dir = config.data_dir.clone();
    let (topics, groups) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        Ok((
            Topics::open(&data_dir, defaults)?,
            Coordinator::open(&data_dir)?,
        ))
    })
    .await??;
    let listener = TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    let broker = Arc::new(Broker {
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
    });
    let shutdown = CancellationToken::new();
    spawn_housekeeping(broker.clone(), shutdown.clone());
    let done = tokio::spawn(server::serve(broker, listener, limits, shutdown.clone()));
    Ok(Running {
        address,
        shutdown,
        done,
    })
}

/// Group session expiry (often, it bounds how fast a dead member is noticed)
/// and retention (rarely, it only reclaims disk).
fn spawn_housekeeping(broker: Arc<Broker>, shutdown: CancellationToken) {
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
