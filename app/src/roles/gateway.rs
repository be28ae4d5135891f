//! `harmony gateway`: the embedded real-time gateway (Centrifugo's client
//! protocol) beside its ops endpoints; several may run side by side.

use harmony_config::Config;
use tokio_util::sync::CancellationToken;

use crate::{
    ops,
    realtime::{self, Gateway, feed::Feed, presence::Presence},
    store::{
        Dependency, kafka::Admin, postgres, redis, redis::cache::Cache, redis::local::LocalCopy,
        redis::presence::PresenceStore,
    },
};

/// Starts the feed (positioned at the end of each partition) and the
/// pruning of history; the caller serves `realtime::router(&gateway)`.
pub async fn start(
    config: &Config,
    db: sqlx::PgPool,
    cache: Cache,
    shutdown: CancellationToken,
) -> anyhow::Result<std::sync::Arc<Gateway>> {
    let feed = Feed::start(config).await?;
    let store = PresenceStore::new(
        redis::connect(&config.redis).await?,
        redis::open(&config.redis, config.redis.url.expose())?,
        config.realtime.join_leave_limit,
    );
    let (presence, changes) = Presence::new(store);
    let gateway = Gateway::new(config, db, cache, presence.clone(), shutdown.clone());
    tokio::spawn(presence.run(changes, gateway.clone(), shutdown.clone()));
    tokio::spawn(feed.run(gateway.clone(), shutdown));
    tokio::spawn(gateway.clone().prune());
    Ok(gateway)
}

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let db = postgres::connect(&config.postgres).await?;
    let redis = redis::connect(&config.redis).await?;
    let shutdown = ops::shutdown_token();
    let gateway = start(
        config,
        db.clone(),
        Cache::new(redis.clone(), &config.cache)
            .with_local_copy(LocalCopy::connect(&config.redis, config.cache.local_entries).await?),
        shutdown.clone(),
    )
    .await?;
    let dependencies = vec![
        Dependency::Postgres(db),
        Dependency::Redis(redis),
        Dependency::Kafka(Admin::new(&config.kafka)?),
    ];
    // The feed reads every partition without a group: no member to judge.
    let router =
        realtime::router(&gateway).merge(ops::router(dependencies, ops::Liveness::default()));
    ops::serve(config.http.bind.clone(), router, shutdown).await?;
    gateway.drain().await;
    Ok(())
}
