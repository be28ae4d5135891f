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

mod broker;
pub mod client;
pub mod groups;
mod handlers;
pub mod log;
mod server;
pub mod topics;

pub use handlers::SUPPORTED;
pub use server::{DecodeError, decode_request};

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{broker::Broker, log::Retention};

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
    let stores = Broker::recover(&config).await?;
    let listener = TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    let broker = Arc::new(Broker::new(stores, &config, address));
    let shutdown = CancellationToken::new();
    broker::spawn_housekeeping(broker.clone(), shutdown.clone());
    let done = tokio::spawn(server::serve(broker, listener, limits, shutdown.clone()));
    Ok(Running {
        address,
        shutdown,
        done,
    })
}
