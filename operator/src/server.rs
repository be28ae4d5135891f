//! `/healthz` and `/metrics` (Prometheus text) for probes and scraping.
//! Both answer on every replica, leader or not: a standby is healthy.
//!
//! Besides the recorder's counters, `/metrics` reports every managed
//! HarmonyChat the leader's controller caches, computed at scrape time from
//! that cache (as kube-state-metrics does): a deleted resource leaves the
//! cache, so its series end with it. A standby caches nothing and reports no
//! resource, so a query never sees one resource twice.

use std::fmt::Write;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::routing::get;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::reflector::Store;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use crate::controller::is_managed;
use crate::crd::HarmonyChat;
use crate::status::READY;

pub const RECONCILIATIONS: &str = "harmony_operator_reconciliations_total";
pub const RECONCILE_DURATION: &str = "harmony_operator_reconcile_duration_seconds";
pub const LEADER: &str = "harmony_operator_leader";
pub const READY_GAUGE: &str = "harmony_operator_ready";
pub const READY_TRANSITION: &str = "harmony_operator_ready_last_transition_timestamp_seconds";

/// Reconcile duration buckets (seconds): a pass is a few API calls, a slow
/// one waits on the brokers (up to 30 s).
const DURATION_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The controller's cache of HarmonyChats, set once this replica leads.
pub type Resources = Arc<OnceLock<Store<HarmonyChat>>>;

/// The recorder: the reconcile duration is a histogram with buckets (not the
/// exporter's default summary), so dashboards can aggregate it.
pub fn metrics_builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new().set_buckets_for_metric(
        Matcher::Full(RECONCILE_DURATION.to_owned()),
        &DURATION_BUCKETS,
    )
}

/// Installs the process-wide metrics recorder; its handle renders `/metrics`.
pub fn install_metrics() -> Result<PrometheusHandle, BuildError> {
    metrics_builder()?.install_recorder()
}

pub fn router(metrics: PrometheusHandle, resources: Resources) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                let resources = resources.clone();
                async move {
                    metrics.run_upkeep();
                    let mut text = metrics.render();
                    if let Some(store) = resources.get() {
                        text.push_str(&ready_metrics(&store.state()));
                    }
                    text
                }
            }),
        )
}

/// Per managed HarmonyChat, sorted by namespace and name:
/// `harmony_operator_ready{namespace,name}` 1 when its `Ready` condition is
/// True, else 0 (no condition yet included), and
/// `harmony_operator_ready_last_transition_timestamp_seconds` (Unix seconds)
/// when that condition last changed (the creation time while it has none),
/// so "not Ready for N minutes" survives an operator restart.
pub fn ready_metrics(resources: &[Arc<HarmonyChat>]) -> String {
    let mut rows: Vec<(String, String, u8, Option<Timestamp>)> = resources
        .iter()
        .filter(|hc| is_managed(hc))
        .map(|hc| {
            let ready = hc
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
            let value = u8::from(ready.is_some_and(|c| c.status == "True"));
            let since = match ready {
                Some(condition) => Some(condition.last_transition_time.0),
                None => hc.metadata.creation_timestamp.as_ref().map(|t| t.0),
            };
            (
                hc.namespace().unwrap_or_default(),
                hc.name_any(),
                value,
                since,
            )
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    rows.sort();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# HELP {READY_GAUGE} 1 when the HarmonyChat's Ready condition is True, else 0.\n# TYPE {READY_GAUGE} gauge"
    );
    for (namespace, name, value, _) in &rows {
        let _ = writeln!(text, "{READY_GAUGE}{} {value}", labels(namespace, name));
    }
    let _ = writeln!(
        text,
        "# HELP {READY_TRANSITION} When the HarmonyChat's Ready condition last changed (its creation while it has none).\n# TYPE {READY_TRANSITION} gauge"
    );
    for (namespace, name, _, since) in &rows {
        if let Some(since) = since {
            let _ = writeln!(
                text,
                "{READY_TRANSITION}{} {}",
                labels(namespace, name),
                since.as_second()
            );
        }
    }
    text
}

fn labels(namespace: &str, name: &str) -> String {
    format!(
        "{{namespace=\"{}\",name=\"{}\"}}",
        escape(namespace),
        escape(name)
    )
}

/// A label value as the exposition format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
