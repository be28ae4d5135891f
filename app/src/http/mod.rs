//! The REST API under `/api/v1` (wire-compatible with the original: docs/api.md),
//! the Centrifugo proxy endpoints, and the layers every request passes.

mod auth;
mod centrifugo_proxy;
mod chats;
mod connection_token;
pub mod error;
pub mod extract;
pub mod openapi;
mod session;
mod users;
mod web;

use std::{sync::Arc, time::Instant};

use axum::{
    Json, Router,
    extract::{MatchedPath, Request},
    http::{HeaderName, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use harmony_config::Config;
use serde_json::json;
use sqlx::PgPool;
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::{CompressionLayer, DefaultPredicate, Predicate},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use uuid::Uuid;

use crate::{
    auth::{ConnectionTokens, Passwords, Tokens},
    domain::{message::MessageIds, user::UserProfile},
    store::{self, dynamodb::ChatHistoryTable, kafka::messages::MessageLog, redis::cache::Cache},
};
use error::{ApiError, ApiResult};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Everything a request handler may use.
pub struct AppState {
    pub config: Config,
    pub db: PgPool,
    pub cache: Cache,
    pub messages: MessageLog,
    pub history: ChatHistoryTable,
    /// The newest messages of each chat (the newest history page).
    pub recent: crate::store::redis::recent::RecentHistory,
    pub passwords: Passwords,
    pub tokens: Tokens,
    pub connection_tokens: ConnectionTokens,
    pub ids: MessageIds,
}

pub type App = Arc<AppState>;

impl AppState {
    /// A user's public profile (cache-aside: `store::cache_aside`).
    pub async fn user_profile(&self, user_id: Uuid) -> ApiResult<Option<UserProfile>> {
        Ok(store::cache_aside::user_profile(&self.cache, &self.db, user_id).await?)
    }

    /// Membership (cache-aside; commands keep the cache authoritative).
    pub async fn is_member(&self, chat_id: Uuid, user_id: Uuid) -> ApiResult<bool> {
        Ok(store::cache_aside::is_member(&self.cache, &self.db, chat_id, user_id).await?)
    }
}

pub fn router(app: App) -> Router {
    let api = Router::new()
        .route("/users/", post(users::sign_up))
        .route("/users", post(users::sign_up))
        .route("/users/me", get(users::me).delete(users::deactivate))
        .route("/users/me/chats", get(users::my_chats))
        .route("/users/lookup", get(users::lookup))
        .route("/users/{user_id}", get(users::by_id))
        .route("/auth/token", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route(
            "/auth/session",
            post(session::login).delete(session::logout),
        )
        .route("/auth/session/refresh", post(session::refresh))
        .route("/chats/", post(chats::create))
        .route("/chats", post(chats::create))
        .route(
            "/chats/{chat_id}",
            post(chats::send).get(chats::history).delete(chats::delete),
        )
        .route("/chats/{chat_id}/leave", post(chats::leave))
        .route(
            "/chats/{chat_id}/members",
            get(chats::members).post(chats::add_members),
        )
        .route("/realtime/token", get(connection_token::token))
        .route("/ws/connect", post(centrifugo_proxy::connect))
        .route("/ws/subscribe", post(centrifugo_proxy::subscribe))
        .merge(openapi::routes());
    Router::new()
        .route("/", get(web::root))
        .nest("/api/v1", api)
        .fallback(web::fallback)
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, Json(json!({ "detail": "Method Not Allowed" })))
        })
        .with_state(app)
        .layer(middleware::from_fn(record_metrics))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("a handler panicked").into_response()))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
            tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // Only the web app's files are compressed. API responses go out plain,
        // as the original sent them: a proxy that decodes a body but forwards
        // its headers (the original's Next.js BFF) would hand browsers a plain
        // body labelled `br`.
        .layer(CompressionLayer::new().compress_when(DefaultPredicate::new().and(web::is_web_file)))
}

/// Request count and latency per route template and status.
async fn record_metrics(request: Request, next: Next) -> Response {
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
