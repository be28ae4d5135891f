//! `/api/v1/chats/{chat_id}/read` and `/notifications`: what needs a
//! member's attention. Read positions only move forward; each change reaches
//! the member's other devices as a `CHAT_READ` or `CHAT_NOTIFICATIONS_SET`
//! event on their personal channel.

use axum::{
    Json,
    extract::{Path, State},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    app::App,
    error::{
        ApiError, ApiResult, ErrorBody, InvalidInput, NotMember, Unauthenticated, UnsupportedMedia,
    },
    extract::{ApiJson, AuthUser, path_uuid},
    limits, messages,
};
use crate::{
    domain::{
        chat::NotificationLevel,
        events::{ChatRead, OutboxEvent},
    },
    store::{
        dynamodb::Unread,
        postgres::{chats, outbox},
    },
};

const UNKNOWN_MESSAGE: &str = "No such message in this chat. A message delivered a moment ago may not be stored yet: retry shortly.";
const FAILED: &str = "Failed to mark the chat read.";

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReadBody {
    /// The newest message read.
    #[schema(schema_with = limits::message_ulid)]
    ulid: String,
}

/// A member's read position in a chat and what waits after it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReadPosition {
    chat_id: Uuid,
    /// The ULID of the newest message read.
    last_read: String,
    /// Messages from others after it, not deleted; 100 means 100 or more.
    unread_count: u32,
    /// Of those, the ones that mention the reader.
    mention_count: u32,
}

/// Moves the caller's read position forward to a message. A message at or
/// before the stored position leaves it where it is (the answer says where).
#[utoipa::path(put, path = "/api/v1/chats/{chat_id}/read", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path)), request_body = ReadBody, responses((status = 200, description = "The read position now (unchanged if the message was not newer)", body = ReadPosition), (status = 404, description = "No such message is stored in the chat", body = ErrorBody), (status = 503, description = "Failed to mark the chat read.", body = ErrorBody), Unauthenticated, NotMember, InvalidInput, UnsupportedMedia))]
pub async fn mark_read(
    State(app): State<App>,
    user: AuthUser,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<ReadBody>,
) -> ApiResult<Json<ReadPosition>> {
    let chat_id = path_uuid("chat_id", &raw)?;
    let ulid = messages::parse_ulid(["body", "ulid"], &body.ulid).map_err(ApiError::invalid)?;
    if !app.is_member(chat_id, user.user_id).await? {
        return Err(ApiError::Forbidden(messages::NOT_A_MEMBER.into()));
    }
    if app.stored_message(chat_id, &ulid, FAILED).await?.is_none() {
        return Err(ApiError::NotFound(UNKNOWN_MESSAGE.into()));
    }
    // Counted before the transaction: no lock is held across DynamoDB.
    let unread = unread_after(&app, chat_id, &ulid, user.user_id).await?;
    let mut tx = app.db.begin().await?;
    let Some((current, _)) = chats::lock_read_position(&mut tx, chat_id, user.user_id).await?
    else {
        return Err(ApiError::Forbidden(messages::NOT_A_MEMBER.into()));
    };
    // Canonical ULIDs (upper case, fixed width) sort as the ids they are.
    if let Some(current) = current.filter(|current| *current >= ulid) {
        tx.rollback().await?;
        let unread = unread_after(&app, chat_id, &current, user.user_id).await?;
        return Ok(Json(ReadPosition {
            chat_id,
            last_read: current,
            unread_count: unread.messages,
            mention_count: unread.mentions,
        }));
    }
    chats::set_read_position(&mut tx, chat_id, user.user_id, &ulid).await?;
    let read = ChatRead {
        user_id: user.user_id,
        last_read: ulid.clone(),
        unread_count: unread.messages,
        mention_count: unread.mentions,
    };
    outbox::append(&mut tx, &[OutboxEvent::chat_read(chat_id, read)]).await?;
    tx.commit().await?;
    Ok(Json(ReadPosition {
        chat_id,
        last_read: ulid,
        unread_count: unread.messages,
        mention_count: unread.mentions,
    }))
}

async fn unread_after(app: &App, chat_id: Uuid, ulid: &str, reader: Uuid) -> ApiResult<Unread> {
    let positions = [(chat_id, ulid.to_owned())];
    let counted = app.unread(&positions, reader, FAILED).await?;
    Ok(counted.into_iter().next().unwrap_or_default())
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct Notifications {
    /// `all`: every message from someone else; `mentions` (the default):
    /// only those that mention me; `muted`: none.
    notifications: NotificationLevel,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChatNotifications {
    chat_id: Uuid,
    notifications: NotificationLevel,
}

/// Chooses which of the chat's messages notify the caller.
#[utoipa::path(put, path = "/api/v1/chats/{chat_id}/notifications", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path)), request_body = Notifications, responses((status = 200, body = ChatNotifications), Unauthenticated, NotMember, InvalidInput, UnsupportedMedia))]
pub async fn set_notifications(
    State(app): State<App>,
    user: AuthUser,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<Notifications>,
) -> ApiResult<Json<ChatNotifications>> {
    let chat_id = path_uuid("chat_id", &raw)?;
    let level = body.notifications;
    let mut tx = app.db.begin().await?;
    let Some(old) =
        chats::set_notifications(&mut tx, chat_id, user.user_id, level.as_str()).await?
    else {
        return Err(ApiError::Forbidden(messages::NOT_A_MEMBER.into()));
    };
    if NotificationLevel::parse(&old) != level {
        let event = OutboxEvent::chat_notifications_set(chat_id, user.user_id, level);
        outbox::append(&mut tx, &[event]).await?;
    }
    tx.commit().await?;
    Ok(Json(ChatNotifications {
        chat_id,
        notifications: level,
    }))
}
