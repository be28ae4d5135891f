//! `harmony reclaim`: deletes what `harmony migrate` created, for a
//! HarmonyChat deleted with `reclaimPolicy: Delete` (the operator runs it as
//! a Job). The database itself is never deleted, nor a table `migrate` did
//! not create (terraform's, a restored one): it is kept and said so.

use harmony_config::Config;

use crate::store::{
    dynamodb::{ChatHistoryTable, Reclaimed},
    postgres,
};

/// Which stores to reclaim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    /// The migrations' tables.
    Postgres,
    /// The chat history table, if `migrate` created it.
    Dynamodb,
}

/// One line per store saying what became of it, each handed to `done` as
/// soon as it is true (a later store's failure leaves the earlier lines said).
pub async fn run(
    config: &Config,
    stores: &[Store],
    mut done: impl FnMut(&str),
) -> anyhow::Result<Vec<String>> {
    let mut outcomes = Vec::new();
    for store in stores {
        let outcome = match store {
            Store::Postgres => {
                let pool = postgres::connect(&config.postgres).await?;
                let dropped = postgres::drop_migrated(&pool).await?;
                pool.close().await;
                if dropped.is_empty() {
                    "postgres: none of the migrations' tables exist".to_owned()
                } else {
                    format!(
                        "postgres: dropped the migrations' tables ({})",
                        dropped.join(", ")
                    )
                }
            }
            Store::Dynamodb => {
                let table = ChatHistoryTable::new(&config.dynamodb).await;
                let name = table.name();
                match table.delete_if_created().await? {
                    Reclaimed::Deleted => format!("dynamodb: deleted table {name}"),
                    Reclaimed::Kept => format!(
                        "dynamodb: kept table {name}: harmony migrate did not create it (no {} tag)",
                        crate::store::dynamodb::CREATED_BY.0
                    ),
                    Reclaimed::Absent => format!("dynamodb: table {name} does not exist"),
                }
            }
        };
        done(&outcome);
        outcomes.push(outcome);
    }
    Ok(outcomes)
}
