//! Request count and latency per route template and status.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};

/// Request count and latency per route template and status.
pub(super) async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("harmony_http_requests_total", &labels).increment(1);
    metrics::histogram!("harmony_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
