//! `harmony dev`: the whole platform in one process against local services:
//! api, gateway, sink, relay and cdc share one runtime and one HTTP port.

use harmony_config::Config;

use crate::{ops, roles};

pub async fn run(config: &Config) -> anyhow::Result<()> {
    roles::migrate::run(config, &roles::migrate::ALL).await?;
    let (app, dependencies) = roles::api::build(config).await?;
    let sink = roles::sink::Sink::new(config).await?;
    let cdc = roles::cdc::Cdc::new(config).await?;
    let relay = roles::relay::Relay::new(config, app.db.clone())?;
    let shutdown = ops::shutdown_token();
    let gateway =
        roles::gateway::start(config, app.db.clone(), app.cache.clone(), shutdown.clone()).await?;
    let listener = ops::bind(&config.http.bind).await?;
    println!(
        "Harmony is up: {url} (API {url}/api/v1, real-time {ws}{path}, readiness {url}/readyz). Ctrl-C stops it.",
        ws = config.http.public_url.replacen("http", "ws", 1),
        path = crate::realtime::WEBSOCKET_PATH,
        url = config.http.public_url
    );
    let liveness = ops::Liveness::of([sink.health(), cdc.health()]);
    let sink = tokio::spawn(sink.run(shutdown.clone()));
    let cdc = tokio::spawn(cdc.run(shutdown.clone()));
    let relay = tokio::spawn(relay.run(shutdown.clone()));
    tokio::spawn(roles::api::purge_expired_sessions(
        app.clone(),
        shutdown.clone(),
    ));
    let cache = app.cache.clone();
    let router =
        roles::api::router(app, dependencies, liveness).merge(crate::realtime::router(&gateway));
    let served = ops::serve_on(listener, router, shutdown).await;
    cache.write_acknowledged().await;
    served?;
    gateway.drain().await;
    sink.await?;
    cdc.await?;
    relay.await??;
    tracing::info!("stopped");
    Ok(())
}
