//! Postgres: the source of truth. Pool set-up, migrations, health.

pub mod chats;
pub mod outbox;
pub mod sessions;
pub mod users;

use std::time::Duration;

use harmony_config::PostgresConfig;
use sqlx::{PgPool, postgres::PgPoolOptions};

/// The embedded migrations of `migrations/`, applied by `harmony migrate`.
/// Migrations a newer release applied are left alone: they only expanded the
/// schema (`operator/tests/migrations.rs`), and a rollback to this release
/// runs this migrate before its pods start.
pub fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("../migrations");
    migrator.set_ignore_missing(true);
    migrator
}

#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    // The cause is in the message (not a `source`), so `{:#}` says it once.
    #[error("postgres: cannot connect ({0}); is it running? (scripts/services.sh status)")]
    Connect(sqlx::Error),
    #[error("postgres: migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens a pool and proves the database answers, so start-up fails fast and by name.
pub async fn connect(config: &PostgresConfig) -> Result<PgPool, PostgresError> {
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
        .connect(config.url.expose())
        .await
        .map_err(PostgresError::Connect)
}

pub async fn migrate(pool: &PgPool) -> Result<(), PostgresError> {
    migrator().run(pool).await?;
    Ok(())
}

/// Every table the migrations create, with sqlx's own record of them (a
/// test fails when a migration creates one not listed here).
pub const MIGRATED_TABLES: [&str; 9] = [
    "users",
    "chats",
    "user_chats",
    "refresh_tokens",
    "outbox_events",
    "processed_events",
    "deleted_chats",
    "reaction_chats",
    "_sqlx_migrations",
];

/// Drops what the migrations created (their indexes go with the tables);
/// anything else in the database depending on them makes it fail, dropping
/// nothing. A table still in use by a serving pod makes it fail after 30 s
/// rather than wait without end (the Job tries again). The tables that
/// existed, in `MIGRATED_TABLES`' order.
pub async fn drop_migrated(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SET LOCAL lock_timeout = '30s'")
        .execute(&mut *transaction)
        .await?;
    let existing: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM unnest($1::text[]) WITH ORDINALITY AS t(name, n)
         WHERE to_regclass(format('public.%I', name)) IS NOT NULL ORDER BY n",
    )
    .bind(&MIGRATED_TABLES[..])
    .fetch_all(&mut *transaction)
    .await?;
    if !existing.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE {}",
            existing.join(", ")
        )))
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await?;
    Ok(existing)
}

pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(drop)
}
