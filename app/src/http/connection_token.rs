//! Connection tokens for the real-time endpoint: the browser asks with its
//! cookie and hands the token to the `centrifuge` client, so script never
//! reads the HTTP-only access cookie.

use axum::{Json, extract::State};
use chrono::Utc;
use serde::Serialize;

use super::{app::App, error::Unauthenticated, extract::AuthUser};

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectionToken {
    /// HS256 JWT (`sub` = user id, `exp`) accepted by the gateway and by Centrifugo.
    pub token: String,
    /// Unix seconds after which the token is refused; ask again before then.
    pub expiration: i64,
}

/// A connection token for `/connection/websocket`, valid as long as an access token issued now.
#[utoipa::path(get, path = "/api/v1/realtime/token", tag = "realtime", security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = ConnectionToken), Unauthenticated))]
pub async fn token(State(app): State<App>, user: AuthUser) -> Json<ConnectionToken> {
    let expiration = Utc::now().timestamp() + app.config.auth.access_token_expire_minutes * 60;
    let issued = app.connection_tokens.issue(user.user_id, expiration);
    Json(ConnectionToken {
        token: issued.token,
        expiration: issued.expiration,
    })
}
