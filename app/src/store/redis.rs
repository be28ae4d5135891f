//! Redis: the cache. Connection set-up and health.

use std::time::Duration;

use harmony_config::RedisConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

#[derive(Debug, thiserror::Error)]
#[error("redis: cannot connect ({0}); is it running? (scripts/services.sh status)")]
pub struct RedisError(#[from] redis::RedisError);

/// A self-reconnecting multiplexed connection, shared by every task of a process.
pub async fn connect(config: &RedisConfig) -> Result<ConnectionManager, RedisError> {
    let client = redis::Client::open(config.url.expose())?;
    Ok(ConnectionManager::new_with_config(client, manager_config(config)).await?)
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
