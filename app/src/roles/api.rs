//! `harmony api`: the REST API, Centrifugo proxy endpoints and ops endpoints.

use std::{sync::Arc, time::Duration};

use harmony_config::Config;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{ConnectionTokens, Passwords, Tokens},
    http::{self, App, AppState},
    ops,
    store::{
        Dependency, dynamodb::ChatHistoryTable, kafka::Admin, kafka::messages::MessageLog,
        postgres, postgres::sessions, redis, redis::cache::Cache, redis::local::LocalCopy,
    },
};

/// Connects every adapter the API uses; fails naming the first unreachable service.
pub async fn build(config: &Config) -> anyhow::Result<(App, Vec<Dependency>)> {
    let db = postgres::connect(&config.postgres).await?;
    let redis = redis::connect(&config.redis).await?;
    let admin = Admin::new(&config.kafka)?;
    admin.ping().await.map_err(|e| {
        anyhow::anyhow!(
            "kafka: cannot reach brokers {}: {e}; is it running? (scripts/services.sh status)",
            config.kafka.bootstrap_servers
        )
    })?;
    let messages = MessageLog::new(&config.kafka, &config.topics.messages.name)?;
    let history = ChatHistoryTable::new(&config.dynamodb).await;
    let app = Arc::new(AppState {
        config: config.clone(),
        db: db.clone(),
        cache: Cache::new(redis.clone(), &config.cache)
            .with_local_copy(LocalCopy::connect(&config.redis, config.cache.local_entries).await?),
        messages,
        history: history.clone(),
        recent: crate::store::redis::recent::RecentHistory::new(redis.clone(), &config.cache),
        passwords: Passwords::new(&config.auth)?,
        tokens: Tokens::new(&config.auth),
        connection_tokens: ConnectionTokens::new(config.realtime.token_secret.expose()),
        ids: Default::default(),
        admission: http::admission::Admission::new(&config.admission),
        typing: redis::typing::TypingLimit::new(redis.clone()),
    });
    let dependencies = vec![
        Dependency::Postgres(db),
        Dependency::Redis(redis),
        Dependency::Kafka(admin),
        Dependency::DynamoDb(history),
    ];
    Ok((app, dependencies))
}

/// The API router with the ops endpoints beside it, alive while `liveness` says so.
pub fn router(app: App, dependencies: Vec<Dependency>, liveness: ops::Liveness) -> axum::Router {
    http::router(app).merge(ops::router(dependencies, liveness))
}

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let (app, dependencies) = build(config).await?;
    let shutdown = ops::shutdown_token();
    tokio::spawn(purge_expired_sessions(app.clone(), shutdown.clone()));
    let cache = app.cache.clone();
    let served = ops::serve(
        config.http.bind.clone(),
        // The api runs no consumer group: nothing to judge.
        router(app, dependencies, ops::Liveness::default()),
        shutdown,
    )
    .await;
    // Drained (or failed): no claim will carry what still waits.
    cache.write_acknowledged().await;
    Ok(served?)
}

/// Expired refresh-token rows are deleted hourly.
pub async fn purge_expired_sessions(app: App, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => match sessions::purge_expired(&app.db).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "expired refresh tokens purged"),
                Err(error) => tracing::warn!(%error, "could not purge expired refresh tokens"),
            },
        }
    }
}
