//! `/api/v1/auth`: login (OAuth2 password form), refresh rotation, logout,
//! with tokens in the body (API clients); `session` does the same with cookies.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    app::App,
    error::{ApiError, ApiResult, ErrorBody, InvalidInput, PasswordsBusy, UnsupportedMedia},
    extract::{ApiForm, ApiJson},
    limits,
};
use crate::{
    auth::{
        IssuedToken,
        refresh::{self, RefreshDecision, StoredRefresh},
        tokens::refresh_token_hash,
    },
    domain::{Invalid, user::Email},
    store::{postgres::sessions, postgres::users},
};

/// The original's `Token`; `token_type` is the configured token name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Token {
    token: String,
    token_type: String,
    expiration: i64,
}

fn token_pair(app: &App, access: IssuedToken, refresh: IssuedToken) -> Json<Vec<Token>> {
    let auth = &app.config.auth;
    Json(vec![
        Token {
            token: access.token,
            token_type: auth.access_token_name.clone(),
            expiration: access.expiration,
        },
        Token {
            token: refresh.token,
            token_type: auth.refresh_token_name.clone(),
            expiration: refresh.expiration,
        },
    ])
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginForm {
    username: String,
    password: String,
    #[schema(schema_with = limits::grant_type)]
    grant_type: Option<String>,
}

fn bad_credentials() -> ApiError {
    ApiError::Unauthorized("Invalid email or password.".into())
}

#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "`[access_token, refresh_token]`", body = Vec<Token>), (status = 401, description = "Invalid email or password.", body = ErrorBody), InvalidInput, PasswordsBusy))]
pub async fn login(
    State(app): State<App>,
    ApiForm(form): ApiForm<LoginForm>,
) -> ApiResult<Json<Vec<Token>>> {
    if let Some(grant_type) = form
        .grant_type
        .as_deref()
        .filter(|g| !g.is_empty() && *g != "password")
    {
        return Err(ApiError::invalid(Invalid {
            kind: "string_pattern_mismatch",
            loc: vec!["body".into(), "grant_type".into()],
            msg: "String should match pattern '^password$'".into(),
            input: grant_type.into(),
        }));
    }
    let session = sign_in(&app, &form.username, form.password).await?;
    Ok(token_pair(&app, session.access, session.refresh))
}

/// What a successful login or refresh yields.
pub struct Session {
    pub user_id: Uuid,
    pub access: IssuedToken,
    pub refresh: IssuedToken,
}

/// Checks e-mail and password and starts a session (a new refresh-token family).
pub async fn sign_in(app: &App, email: &str, password: String) -> ApiResult<Session> {
    let email = Email::parse(email.trim()).map_err(|_| bad_credentials())?;
    let account = users::credentials(&app.db, &email).await?;
    // Verify even without an account so response time does not reveal which e-mails exist.
    let hash = account.as_ref().map(|a| a.hashed_password.clone());
    let matches = app.passwords.verify(password.clone(), hash).await?;
    let Some(account) = account.filter(|a| matches && !a.tombstone) else {
        return Err(bad_credentials());
    };
    let user_id = account.user_id;
    if app.passwords.needs_rehash(&account.hashed_password) {
        rehash(app, user_id, account.hashed_password, password);
    }
    let refresh = start_session(app, user_id).await?;
    Ok(Session {
        user_id,
        access: app.tokens.issue_access(user_id),
        refresh,
    })
}

/// Replaces a hash made with older parameters, after the login it came
/// with (in the background: the login does not wait for a second hash).
fn rehash(app: &App, user_id: Uuid, old: String, password: String) {
    let (passwords, db) = (app.passwords.clone(), app.db.clone());
    tokio::spawn(async move {
        let replaced = match passwords.hash(password).await {
            Ok(new) => users::replace_password_hash(&db, user_id, &old, &new)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = replaced {
            tracing::warn!(%user_id, %error, "could not re-hash a password with the current parameters");
        }
    });
}

/// A new refresh-token family for a fresh login.
async fn start_session(app: &App, user_id: Uuid) -> ApiResult<IssuedToken> {
    let token = crate::auth::Tokens::new_refresh_token();
    let expires_at = Utc::now() + Duration::seconds(app.tokens.refresh_seconds());
    let mut conn = app.db.acquire().await?;
    sessions::insert(
        &mut conn,
        &refresh_token_hash(&token),
        user_id,
        Uuid::new_v4(),
        expires_at,
    )
    .await?;
    Ok(IssuedToken {
        token,
        expiration: expires_at.timestamp(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshBody {
    refresh_token: String,
}

fn invalid_refresh() -> ApiError {
    ApiError::Unauthorized("Invalid or expired refresh token.".into())
}

/// Rotates the refresh token. Inside the grace window a rotated token yields
/// the same successor (parallel refreshes agree); after it, reuse means the
/// token leaked, so the whole family is revoked.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshBody, responses((status = 200, description = "`[access_token, refresh_token]`", body = Vec<Token>), (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = ErrorBody), InvalidInput, UnsupportedMedia))]
pub async fn refresh(
    State(app): State<App>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<Json<Vec<Token>>> {
    let session = rotate(&app, &body.refresh_token).await?;
    Ok(token_pair(&app, session.access, session.refresh))
}

/// Rotates `refresh_token` (see `refresh`).
pub async fn rotate(app: &App, refresh_token: &str) -> ApiResult<Session> {
    let presented = refresh_token_hash(refresh_token);
    let mut tx = app.db.begin().await?;
    let row = sessions::lock(&mut tx, &presented).await?;
    let stored = row.as_ref().map(|row| StoredRefresh {
        expires_at: row.expires_at,
        rotated_at: row.rotated_at,
        revoked: row.revoked_at.is_some(),
        tombstone: row.tombstone,
    });
    let grace = Duration::seconds(app.config.auth.refresh_token_grace_period_seconds);
    let lifetime = Duration::seconds(app.tokens.refresh_seconds());
    let decision = refresh::decide(stored.as_ref(), Utc::now(), grace, lifetime);
    let (Some(row), successor) = (row, app.tokens.successor_of(refresh_token)) else {
        return Err(invalid_refresh());
    };
    let expires_at = match decision {
        RefreshDecision::Refuse => return Err(invalid_refresh()),
        RefreshDecision::RevokeClosedAccount => {
            sessions::revoke_family(&mut tx, row.family_id).await?;
            tx.commit().await?;
            return Err(invalid_refresh());
        }
        RefreshDecision::RevokeReused => {
            sessions::revoke_family(&mut tx, row.family_id).await?;
            tx.commit().await?;
            tracing::warn!(user_id = %row.user_id, "refresh token reused after rotation; session family revoked");
            return Err(ApiError::Unauthorized(
                "Refresh token was already used; sign in again.".into(),
            ));
        }
        RefreshDecision::Rotate { expires_at } => {
            let successor_hash = refresh_token_hash(&successor);
            sessions::insert(
                &mut tx,
                &successor_hash,
                row.user_id,
                row.family_id,
                expires_at,
            )
            .await?;
            sessions::mark_rotated(&mut tx, &presented, &successor_hash).await?;
            expires_at
        }
        RefreshDecision::RepeatSuccessor { expires_at } => expires_at,
    };
    tx.commit().await?;
    Ok(Session {
        user_id: row.user_id,
        access: app.tokens.issue_access(row.user_id),
        refresh: IssuedToken {
            token: successor,
            expiration: expires_at.timestamp(),
        },
    })
}

/// Ends the session the refresh token belongs to. Unknown tokens succeed too:
/// logging out twice is not an error.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshBody, responses((status = 204, description = "The session (token family) is revoked"), InvalidInput, UnsupportedMedia))]
pub async fn logout(
    State(app): State<App>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<StatusCode> {
    end_session(&app, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes the family `refresh_token` belongs to (nothing when unknown).
pub async fn end_session(app: &App, refresh_token: &str) -> ApiResult<()> {
    if let Some(family) = sessions::family_of(&app.db, &refresh_token_hash(refresh_token)).await? {
        let mut conn = app.db.acquire().await?;
        sessions::revoke_family(&mut conn, family).await?;
    }
    Ok(())
}
