//! Redis: the cache. Connection set-up and health.

pub mod cache;
pub mod local;
pub mod presence;
pub mod recent;
pub mod typing;

use std::time::Duration;

use harmony_config::RedisConfig;
use redis::{
    Client, IntoConnectionInfo, TlsCertificates,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis: cannot connect ({0}); is it running? (scripts/services.sh status)")]
    Connect(#[from] redis::RedisError),
    #[error("redis: cannot read the CA file {path} (REDIS__CA_FILE): {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
}

/// A self-reconnecting multiplexed connection, shared by every task of a process.
pub async fn connect(config: &RedisConfig) -> Result<ConnectionManager, RedisError> {
    let client = open(config, config.url.expose())?;
    Ok(ConnectionManager::new_with_config(client, manager_config(config)).await?)
}

/// A client for `info`, a `redis://` or `rediss://` URL: with TLS the
/// server's certificate is verified against `config.ca_file` or else the
/// system's CAs.
pub fn open(config: &RedisConfig, info: impl IntoConnectionInfo) -> Result<Client, RedisError> {
    // rustls needs one process-wide crypto provider; the dependency tree
    // enables two (ring, aws-lc-rs), so none is chosen for us. Installing
    // an already installed one is refused, harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(path) = &config.ca_file else {
        return Ok(Client::open(info)?);
    };
    let root_cert = std::fs::read(path).map_err(|source| RedisError::CaFile {
        path: path.clone(),
        source,
    })?;
    Ok(Client::build_with_tls(
        info,
        TlsCertificates {
            client_tls: None,
            root_cert: Some(root_cert),
        },
    )?)
}

/// Timeouts and retries of every Redis connection.
pub fn manager_config(config: &RedisConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_millis(config.request_timeout_ms)))
        .set_number_of_retries(1)
}

pub async fn ping(mut conn: ConnectionManager) -> Result<(), redis::RedisError> {
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map(drop)
}
