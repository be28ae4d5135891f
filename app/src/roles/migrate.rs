//! `harmony migrate`: applies Postgres migrations, creates the DynamoDB table
//! and the Kafka topics. Every step is idempotent.

use harmony_config::Config;

use crate::store::{dynamodb::ChatHistoryTable, kafka::Admin, postgres};

/// Which stores a migration touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Postgres,
    Dynamodb,
    /// The three topics and their dead-letter topics (one machine; in a
    /// cluster the operator owns every topic).
    Kafka,
}

pub const ALL: [Target; 3] = [Target::Postgres, Target::Dynamodb, Target::Kafka];

pub async fn run(config: &Config, targets: &[Target]) -> anyhow::Result<()> {
    for target in targets {
        match target {
            Target::Postgres => {
                let pool = postgres::connect(&config.postgres).await?;
                postgres::migrate(&pool).await?;
                tracing::info!(
                    migrations = postgres::migrator().iter().count(),
                    "postgres schema up to date"
                );
                pool.close().await;
            }
            Target::Dynamodb => {
                let table = ChatHistoryTable::new(&config.dynamodb).await;
                let created = table.ensure().await?;
                tracing::info!(table = table.name(), created, "dynamodb table ready");
            }
            Target::Kafka => {
                let admin = Admin::new(&config.kafka)?;
                let topics = config.topics.with_dead_letters();
                let topics: Vec<&_> = topics.iter().collect();
                let outcomes = admin.ensure_topics(&topics).await?;
                for (topic, outcome) in topics.iter().zip(outcomes) {
                    tracing::info!(topic = %topic.name, partitions = topic.partitions, ?outcome, "kafka topic ready");
                }
            }
        }
    }
    Ok(())
}
