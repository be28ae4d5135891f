//! What every role serves besides its own work: `/healthz` (alive), `/readyz`
//! (each dependency reachable, naming those that are not) and `/metrics`,
//! plus graceful shutdown on SIGTERM/Ctrl-C.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use futures::future::join_all;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::store::{Dependency, kafka::ConsumerHealth};

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

struct OpsState {
    dependencies: Vec<Dependency>,
    liveness: Liveness,
    metrics: PrometheusHandle,
}

/// What `/healthz` judges: the consumer-group members the process runs
/// (none for the api and gateway roles).
#[derive(Clone, Default)]
pub struct Liveness {
    consumers: Vec<Arc<ConsumerHealth>>,
}

impl Liveness {
    pub fn of(consumers: impl IntoIterator<Item = Arc<ConsumerHealth>>) -> Self {
        Self {
            consumers: consumers.into_iter().collect(),
        }
    }

    /// Why the process is not alive; empty when every consumer is.
    fn problems(&self) -> Vec<String> {
        self.consumers
            .iter()
            .filter_map(|health| health.problem())
            .collect()
    }
}

/// Ops routes for a role that depends on `dependencies` and is alive while
/// `liveness` says so.
pub fn router(dependencies: Vec<Dependency>, liveness: Liveness) -> Router {
    let state = Arc::new(OpsState {
        dependencies,
        liveness,
        metrics: crate::telemetry::metrics(),
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(state)
}

#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Dependency name -> `"ok"` or the error that made it fail.
    pub checks: BTreeMap<&'static str, String>,
}

/// Checks every dependency concurrently, each bounded by a timeout.
pub async fn readiness(dependencies: &[Dependency]) -> Readiness {
    let results = join_all(dependencies.iter().map(|dependency| async move {
        let outcome = match tokio::time::timeout(CHECK_TIMEOUT, dependency.check()).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(error)) => crate::telemetry::chain(error.as_ref()),
            Err(_) => format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
        };
        (dependency.name(), outcome)
    }))
    .await;
    let checks: BTreeMap<_, _> = results.into_iter().collect();
    Readiness {
        ready: checks.values().all(|v| v == "ok"),
        checks,
    }
}

/// Alive unless a consumer loop died or stays stalled after rejoining
/// (then a restart is what helps).
async fn healthz(State(state): State<Arc<OpsState>>) -> impl IntoResponse {
    let problems = state.liveness.problems();
    if problems.is_empty() {
        return (StatusCode::OK, Json(serde_json::json!({ "status": "ok" })));
    }
    for problem in &problems {
        tracing::error!(%problem, "not alive");
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "status": "unhealthy", "problems": problems })),
    )
}

async fn readyz(State(state): State<Arc<OpsState>>) -> impl IntoResponse {
    let readiness = readiness(&state.dependencies).await;
    for (name, outcome) in readiness.checks.iter().filter(|(_, v)| *v != "ok") {
        tracing::warn!(dependency = name, error = %outcome, "not ready");
    }
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}

async fn render_metrics(State(state): State<Arc<OpsState>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Cancelled on the first SIGTERM or Ctrl-C; roles stop taking work and drain.
pub fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received, draining");
        trigger.cancel();
    });
    token
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[derive(Debug, thiserror::Error)]
#[error("http: cannot listen on {bind}: {source}")]
pub struct ServeError {
    bind: String,
    source: std::io::Error,
}

pub async fn bind(bind: &str) -> Result<tokio::net::TcpListener, ServeError> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| ServeError {
            bind: bind.to_owned(),
            source,
        })?;
    tracing::info!(address = %bind, "listening");
    Ok(listener)
}

/// Serves `router` on `bind` until `shutdown`, then lets in-flight requests finish.
pub async fn serve(
    bind: String,
    router: Router,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    serve_on(self::bind(&bind).await?, router, shutdown).await
}

pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let bind = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(|source| ServeError { bind, source })
}
