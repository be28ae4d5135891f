//! One module per role: wiring only. `harmony <role>` runs one of them.

pub mod dev;
pub mod migrate;

use crate::store::{Dependency, dynamodb::ChatHistoryTable, kafka::Admin, postgres, redis};
use harmony_config::Config;

/// Roles whose work is not built yet refuse to start instead of pretending.
#[derive(Debug, thiserror::Error)]
#[error("the `{role}` role is not built yet ({tracking}); nothing was started")]
pub struct NotBuilt {
    pub role: &'static str,
    pub tracking: &'static str,
}

/// Connects to every backing service, failing with the name of the first unreachable one.
pub async fn connect_all(config: &Config) -> anyhow::Result<Vec<Dependency>> {
    let pool = postgres::connect(&config.postgres).await?;
    let cache = redis::connect(&config.redis).await?;
    let admin = Admin::new(&config.kafka)?;
    admin.ping().await.map_err(|e| {
        anyhow::anyhow!(
            "kafka: cannot reach brokers {}: {e}; is it running? (scripts/services.sh status)",
            config.kafka.bootstrap_servers
        )
    })?;
    let table = ChatHistoryTable::new(&config.dynamodb).await;
    Ok(vec![
        Dependency::Postgres(pool),
        Dependency::Redis(cache),
        Dependency::Kafka(admin),
        Dependency::DynamoDb(table),
    ])
}
