//! `harmony dev`: the whole platform in one process against local services.

use harmony_config::Config;

use crate::{ops, roles};

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let dependencies = roles::connect_all(config).await?;
    roles::migrate::run(config, &roles::migrate::ALL).await?;
    let shutdown = ops::shutdown_token();
    let router = ops::router(dependencies);
    let server = tokio::spawn({
        let bind = config.http.bind.clone();
        let shutdown = shutdown.clone();
        async move { ops::serve(&bind, router, shutdown).await }
    });
    println!(
        "Harmony is up: {} (readiness: {}/readyz). Ctrl-C stops it.",
        config.http.public_url, config.http.public_url
    );
    server.await??;
    tracing::info!("stopped");
    Ok(())
}
