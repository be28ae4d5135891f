//! Centrifugo proxy endpoints: Centrifugo asks whether a connection
//! may open, whether a user may subscribe to `chat:<id>`, and whether a
//! client may publish there (typing). Only callers holding the shared proxy
//! secret are answered.

use axum::{
    Json,
    extract::{FromRequestParts, State},
    http::{HeaderMap, request::Parts},
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    app::App,
    error::{ApiError, ApiResult, ErrorBody, InvalidInput, UnsupportedMedia},
    extract::{ApiJson, constant_time_eq},
};
use crate::domain::{channels::Channel, typing};

pub use harmony_config::wire::PROXY_SECRET_HEADER;

/// Proof that the caller holds the proxy secret; checked before the body is read.
pub struct ProxyCaller;

impl FromRequestParts<App> for ProxyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let sent = parts
            .headers
            .get(PROXY_SECRET_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if constant_time_eq(
            sent.as_bytes(),
            app.config.auth.proxy_secret.expose().as_bytes(),
        ) {
            Ok(ProxyCaller)
        } else {
            Err(ApiError::Unauthorized(format!(
                "Proxy calls must carry the `{PROXY_SECRET_HEADER}` header."
            )))
        }
    }
}

fn refuse(code: u32, message: &str) -> Json<Value> {
    Json(json!({ "result": null, "error": { "code": code, "message": message } }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // required by the protocol; only their presence is checked
pub struct ConnectRequest {
    client: String,
    transport: String,
    protocol: String,
    encoding: String,
}

/// Authenticates the browser by its `access_token` cookie; the session expires with the token.
#[utoipa::path(post, path = "/api/v1/ws/connect", tag = "pubsub", security(("proxy_secret" = [])), request_body = ConnectRequest, responses((status = 200, description = "Centrifugo connect proxy reply: `result.user` and `result.expire_at`, or `error.code` 1001"), (status = 401, description = "Missing proxy secret", body = ErrorBody), InvalidInput, UnsupportedMedia))]
pub async fn connect(
    State(app): State<App>,
    _caller: ProxyCaller,
    headers: HeaderMap,
    ApiJson(_): ApiJson<ConnectRequest>,
) -> ApiResult<Json<Value>> {
    let jar = CookieJar::from_headers(&headers);
    let Some(token) = jar.get(&app.config.auth.access_token_name) else {
        return Ok(refuse(1001, "Authentication required"));
    };
    let Ok(claims) = app.tokens.verify_access(token.value()) else {
        return Ok(refuse(1001, "Authentication required"));
    };
    let Some(user_id) = claims.user_id() else {
        return Ok(refuse(1001, "Authentication required"));
    };
    match app.user_profile(user_id).await? {
        Some(profile) if !profile.tombstone => Ok(Json(
            json!({ "result": { "user": user_id, "expire_at": claims.exp }, "error": null }),
        )),
        _ => Ok(refuse(1001, "Authentication required")),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // required by the protocol; only their presence is checked
pub struct SubscribeRequest {
    client: String,
    transport: String,
    protocol: String,
    user: String,
    channel: String,
}

#[utoipa::path(post, path = "/api/v1/ws/subscribe", tag = "pubsub", security(("proxy_secret" = [])), request_body = SubscribeRequest, responses((status = 200, description = "Centrifugo subscribe proxy reply: `result: {}` or `error.code` 1000/1001"), (status = 401, description = "Missing proxy secret", body = ErrorBody), InvalidInput, UnsupportedMedia))]
pub async fn subscribe(
    State(app): State<App>,
    _caller: ProxyCaller,
    ApiJson(request): ApiJson<SubscribeRequest>,
) -> ApiResult<Json<Value>> {
    let chat_id = request
        .channel
        .strip_prefix("chat:")
        .and_then(|id| Uuid::parse_str(id).ok());
    let user_id = Uuid::parse_str(&request.user).ok();
    let (Some(chat_id), Some(user_id)) = (chat_id, user_id) else {
        return Ok(refuse(1000, "Invalid channel format"));
    };
    if app.is_member(chat_id, user_id).await? {
        Ok(Json(json!({ "result": {}, "error": null })))
    } else {
        Ok(refuse(1001, "Not a member of this chat"))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // required by the protocol; only their presence is checked
pub struct PublishRequest {
    client: String,
    transport: String,
    protocol: String,
    user: String,
    channel: String,
    /// The client's publication, JSON as it sent it (any JSON; only typing is accepted).
    #[schema(value_type = Option<Value>)]
    data: Option<Box<serde_json::value::RawValue>>,
}

/// A client publication on `chat:<id>`: only typing, only by members, at the
/// gateway's rate per connection (`domain::typing`), never kept in history.
#[utoipa::path(post, path = "/api/v1/ws/publish", tag = "pubsub", security(("proxy_secret" = [])), request_body = PublishRequest, responses((status = 200, description = "Centrifugo publish proxy reply: `result: {\"skip_history\": true}` (published as sent, not kept), or `error.code` 102 (not a chat channel), 103 (not a member), 107 (data is not exactly `{\"type\": \"typing\", \"active\": <bool>}`), 111 (more than 5 at once, then 1 per second, on this connection)"), (status = 401, description = "Missing proxy secret", body = ErrorBody), (status = 503, description = "Redis, where the rate is counted, did not answer", body = ErrorBody), InvalidInput, UnsupportedMedia))]
pub async fn publish(
    State(app): State<App>,
    _caller: ProxyCaller,
    ApiJson(request): ApiJson<PublishRequest>,
) -> ApiResult<Json<Value>> {
    let Some(Channel::Chat(chat_id)) = Channel::parse(&request.channel) else {
        return Ok(refuse(102, "unknown channel"));
    };
    let member = match Uuid::parse_str(&request.user) {
        Ok(user_id) => app.is_member(chat_id, user_id).await?,
        Err(_) => false,
    };
    if !member {
        return Ok(refuse(103, "permission denied"));
    }
    if !request
        .data
        .is_some_and(|data| typing::is_typing(data.get().as_bytes()))
    {
        return Ok(refuse(107, "bad request"));
    }
    let allowed = app
        .typing
        .take(&request.client)
        .await
        .map_err(|error| ApiError::unavailable("Cannot count publications now", error))?;
    if !allowed {
        return Ok(refuse(111, "too many requests"));
    }
    Ok(Json(
        json!({ "result": { "skip_history": true }, "error": null }),
    ))
}
