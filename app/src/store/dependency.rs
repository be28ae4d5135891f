//! What a role depends on, as `/readyz` checks it.

use super::{dynamodb, kafka, postgres, redis};

/// A failure kept with its causes (for logs and readiness answers).
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A backing service a role depends on, checked by `/readyz`.
#[derive(Clone)]
pub enum Dependency {
    Postgres(sqlx::PgPool),
    Redis(::redis::aio::ConnectionManager),
    Kafka(kafka::Admin),
    DynamoDb(dynamodb::ChatHistoryTable),
}

impl Dependency {
    pub fn name(&self) -> &'static str {
        match self {
            Dependency::Postgres(_) => "postgres",
            Dependency::Redis(_) => "redis",
            Dependency::Kafka(_) => "kafka",
            Dependency::DynamoDb(_) => "dynamodb",
        }
    }

    /// A cheap round trip that proves the service answers.
    pub async fn check(&self) -> Result<(), Cause> {
        match self {
            Dependency::Postgres(pool) => postgres::ping(pool).await?,
            Dependency::Redis(conn) => redis::ping(conn.clone()).await?,
            Dependency::Kafka(admin) => admin.ping().await?,
            Dependency::DynamoDb(table) => table.ping().await?,
        }
        Ok(())
    }
}
