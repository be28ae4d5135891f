//! The REST API under `/api/v1` (wire-compatible with the original: docs/api.md),
//! the Centrifugo proxy endpoints, and the layers every request passes.

pub mod admission;
mod app;
mod attention;
mod auth;
mod centrifugo_proxy;
mod chats;
mod connection_token;
pub mod error;
pub mod extract;
mod limits;
mod messages;
pub mod openapi;
mod request_metrics;
mod session;
mod users;
mod web;

use axum::{
    Json, Router,
    extract::Request,
    http::{HeaderName, StatusCode},
    middleware,
    response::IntoResponse,
    routing::{get, patch, post, put},
};
use serde_json::json;
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::{CompressionLayer, DefaultPredicate, Predicate},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use app::{App, AppState};
use error::ApiError;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
        .route(
            "/chats/{chat_id}/messages/{ulid}",
            patch(messages::edit).delete(messages::delete),
        )
        .route(
            "/chats/{chat_id}/messages/{ulid}/reactions/{emoji}",
            put(messages::add_reaction).delete(messages::remove_reaction),
        )
        .route("/chats/{chat_id}/leave", post(chats::leave))
        .route("/chats/{chat_id}/read", put(attention::mark_read))
        .route(
            "/chats/{chat_id}/notifications",
            put(attention::set_notifications),
        )
        .route(
            "/chats/{chat_id}/members",
            get(chats::members).post(chats::add_members),
        )
        .route("/realtime/token", get(connection_token::token))
        .route("/ws/connect", post(centrifugo_proxy::connect))
        .route("/ws/subscribe", post(centrifugo_proxy::subscribe))
        .route("/ws/publish", post(centrifugo_proxy::publish))
        .merge(openapi::routes());
    Router::new()
        .route("/", get(web::root))
        .nest("/api/v1", api)
        .fallback(web::fallback)
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, Json(json!({ "detail": "Method Not Allowed" })))
        })
        .with_state(app.clone())
        // Inside the request metrics, so refusals are counted with their status.
        .layer(middleware::from_fn_with_state(app, admission::admit))
        .layer(middleware::from_fn(request_metrics::record))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("a handler panicked").into_response()))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        // No line per 5xx here: `ApiError` logs failures with their cause,
        // and an admission refusal is counted, not logged (under overload a
        // line per refusal cost more than the refusal itself).
        .layer(TraceLayer::new_for_http().on_failure(()).make_span_with(|request: &Request| {
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
