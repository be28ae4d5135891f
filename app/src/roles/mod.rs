//! One module per role: its worker loop (relay, cdc, sink) or server, wired
//! to the adapters it uses. `harmony <role>` runs one of them.

pub mod api;
pub mod cdc;
pub mod dev;
pub mod gateway;
pub mod migrate;
pub mod reclaim;
pub mod relay;
pub mod sink;

/// Runs a background worker beside its ops endpoints until SIGTERM/Ctrl-C
/// (alive while `liveness` says so);
/// the worker gets the shutdown token and drains before the server stops.
pub async fn run_worker<F, Fut>(
    config: &harmony_config::Config,
    dependencies: Vec<crate::store::Dependency>,
    liveness: crate::ops::Liveness,
    worker: F,
) -> anyhow::Result<()>
where
    F: FnOnce(tokio_util::sync::CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let shutdown = crate::ops::shutdown_token();
    let server = tokio::spawn(crate::ops::serve(
        config.http.bind.clone(),
        crate::ops::router(dependencies, liveness),
        shutdown.clone(),
    ));
    worker(shutdown).await?;
    server.await??;
    Ok(())
}
