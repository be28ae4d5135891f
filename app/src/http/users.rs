//! `/api/v1/users`: sign-up, profile, deactivation, chat list, lookup.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    app::App,
    error::{
        ApiError, ApiResult, ErrorBody, InvalidInput, PasswordsBusy, Unauthenticated,
        UnsupportedMedia,
    },
    extract::{ApiJson, ApiQuery, AuthUser, path_uuid},
    limits,
};
use crate::{
    domain::{
        Invalid,
        chat::{ChatMeta, NotificationLevel},
        check_length,
        events::OutboxEvent,
        user::{Email, UserMeta, UserProfile, check_password, username_or_email},
    },
    store::{postgres::chats, postgres::outbox, postgres::sessions, postgres::users},
};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignUp {
    #[schema(schema_with = limits::username)]
    username: String,
    #[schema(schema_with = limits::email)]
    email: String,
    #[schema(schema_with = limits::password)]
    password: String,
}

#[utoipa::path(post, path = "/api/v1/users/", tag = "user", request_body = SignUp, responses((status = 201, body = UserProfile), (status = 409, description = "E-mail already registered", body = ErrorBody), InvalidInput, UnsupportedMedia, PasswordsBusy))]
pub async fn sign_up(
    State(app): State<App>,
    ApiJson(body): ApiJson<SignUp>,
) -> ApiResult<(StatusCode, Json<UserProfile>)> {
    let email = Email::parse(&body.email);
    let mut problems: Vec<Invalid> = Vec::new();
    let username = match &email {
        Ok(email) => username_or_email(&body.username, email)
            .map_err(|e| problems.push(e))
            .ok(),
        Err(e) => {
            problems.push(e.clone());
            None
        }
    };
    if let Err(e) = check_password(&body.password) {
        problems.push(e);
    }
    let (Ok(email), Some(username), true) = (email, username, problems.is_empty()) else {
        return Err(ApiError::Invalid(problems));
    };
    if users::credentials(&app.db, &email).await?.is_some() {
        return Err(ApiError::Conflict(
            "A user with this email already exists.".into(),
        ));
    }
    let hash = app.passwords.hash(body.password).await?;
    let profile = users::create(&app.db, &email, &hash, &UserMeta { username }).await?;
    Ok((StatusCode::CREATED, Json(profile)))
}

#[utoipa::path(get, path = "/api/v1/users/me", tag = "user", security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = UserProfile), Unauthenticated))]
pub async fn me(user: AuthUser) -> Json<UserProfile> {
    Json(user.profile)
}

/// Closes the account: tombstone, every session revoked, one outbox event.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "user", security(("bearer" = []), ("cookie" = [])), responses((status = 204, description = "Account closed; every session revoked"), Unauthenticated))]
pub async fn deactivate(State(app): State<App>, user: AuthUser) -> ApiResult<StatusCode> {
    let mut tx = app.db.begin().await?;
    users::tombstone(&mut tx, user.user_id).await?;
    chats::forget_attention(&mut tx, user.user_id).await?;
    sessions::revoke_user(&mut tx, user.user_id).await?;
    outbox::append(&mut tx, &[OutboxEvent::tombstoned(user.user_id)]).await?;
    tx.commit().await?;
    // Written, not deleted: a fill racing this (SET NX) cannot bring the open account back.
    let closed = UserProfile {
        tombstone: true,
        ..user.profile
    };
    if let Err(error) = app.cache.set_user(&closed).await {
        tracing::warn!(%error, "could not cache the closed account; the cdc consumer will");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChatItem {
    chat_id: Uuid,
    meta: ChatMeta,
    /// Who created the chat (may delete any message in it); null once
    /// their account is gone.
    created_by: Option<Uuid>,
    /// The ULID of the newest message I read; null until I first mark one
    /// (what came before I joined counts as read).
    last_read: Option<String>,
    /// Messages from others after my read position, not deleted; 100 means
    /// 100 or more.
    unread_count: u32,
    /// Of those, the ones that mention me.
    mention_count: u32,
    notifications: NotificationLevel,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChatList {
    chats: Vec<ChatItem>,
}

#[utoipa::path(get, path = "/api/v1/users/me/chats", tag = "user", security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = ChatList), (status = 503, description = "Failed to count unread messages.", body = ErrorBody), Unauthenticated))]
pub async fn my_chats(State(app): State<App>, user: AuthUser) -> ApiResult<Json<ChatList>> {
    let rows = chats::chats_of(&app.db, user.user_id).await?;
    // Never marked: what came before joining counts as read.
    let positions: Vec<(Uuid, String)> = rows
        .iter()
        .map(|row| {
            let after = row.last_read.clone().unwrap_or_else(|| {
                let joined = row.joined_at.and_utc().timestamp_millis();
                ulid::Ulid::from_parts(u64::try_from(joined).unwrap_or(0), 0).to_string()
            });
            (row.chat_id, after)
        })
        .collect();
    let unread = app
        .unread(&positions, user.user_id, "Failed to count unread messages.")
        .await?;
    let chats = rows
        .into_iter()
        .zip(unread)
        .map(|(row, unread)| ChatItem {
            chat_id: row.chat_id,
            meta: row.meta.0,
            created_by: row.created_by,
            last_read: row.last_read,
            unread_count: unread.messages,
            mention_count: unread.mentions,
            notifications: NotificationLevel::parse(&row.notifications),
        })
        .collect();
    Ok(Json(ChatList { chats }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Lookup {
    #[param(value_type = limits::EmailQuery, inline)]
    email: String,
    // Its maximum is a setting (`openapi::constrain`).
    #[param(minimum = 1)]
    limit: Option<i64>,
}

/// Searches e-mails; now behind authentication (the original's was open: docs/api.md).
#[utoipa::path(get, path = "/api/v1/users/lookup", tag = "user", security(("bearer" = []), ("cookie" = [])), params(Lookup), responses((status = 200, body = Vec<UserProfile>), Unauthenticated, InvalidInput))]
pub async fn lookup(
    State(app): State<App>,
    _user: AuthUser,
    ApiQuery(query): ApiQuery<Lookup>,
) -> ApiResult<Json<Vec<UserProfile>>> {
    let max = i64::try_from(app.config.user.default_user_search_limit).unwrap_or(i64::MAX);
    let limit = query.limit.unwrap_or(max);
    if limit < 1 {
        return Err(ApiError::invalid(Invalid {
            kind: "greater_than_equal",
            loc: vec!["query".into(), "limit".into()],
            msg: "Input should be greater than or equal to 1".into(),
            input: limit.into(),
        }));
    }
    if limit > max {
        return Err(ApiError::Limit(format!(
            "Limit cannot be greater than {max}"
        )));
    }
    let term = query.email.trim().to_lowercase();
    check_length("email", &term, 0, 254).map_err(|e| ApiError::invalid(e.at("query")))?;
    if term.chars().count() < 2 {
        return Ok(Json(Vec::new()));
    }
    Ok(Json(users::search(&app.db, &term, limit).await?))
}

#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "user", security(("bearer" = []), ("cookie" = [])), params(("user_id" = Uuid, Path)), responses((status = 200, body = UserProfile), (status = 404, body = ErrorBody), Unauthenticated, InvalidInput))]
pub async fn by_id(
    State(app): State<App>,
    _user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<Json<UserProfile>> {
    let user_id = path_uuid("user_id", &raw)?;
    app.user_profile(user_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("User does not exist.".into()))
}
