//! `/api/v1/chats`: create, send, history, delete, leave, members.

use std::collections::{BTreeSet, HashMap};

use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    app::App,
    error::{
        ApiError, ApiResult, ErrorBody, InvalidInput, NotMember, Unauthenticated, UnsupportedMedia,
    },
    extract::{ApiJson, ApiQuery, AuthUser, path_uuid},
    limits, messages,
};
use crate::{
    domain::{
        Invalid,
        change::excerpt,
        chat::ChatMeta,
        events::OutboxEvent,
        message::{
            ChatMessage, LogRecord, MessageRecord, ReplyTo, check_content, parse_cursor,
            timestamp_of,
        },
        user::{UserMeta, UserProfile},
    },
    store::{
        postgres::chats,
        postgres::outbox,
        postgres::users,
        redis::cache::{SendClaim, SendKey},
    },
};

const NOT_A_MEMBER: &str = "You must be a member of the chat to perform this action.";

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChatResponse {
    chat_id: Uuid,
    /// Naive ISO time, as the original serialised it.
    created_at: NaiveDateTime,
    meta: ChatMeta,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateChat {
    #[schema(schema_with = limits::title)]
    title: Option<String>,
    #[schema(schema_with = limits::description)]
    description: Option<String>,
    user_id_list: Vec<Uuid>,
}

/// Distinct members in request order, after `first`.
fn distinct(first: Option<Uuid>, rest: &[Uuid]) -> Vec<Uuid> {
    let mut seen = BTreeSet::new();
    first
        .into_iter()
        .chain(rest.iter().copied())
        .filter(|id| seen.insert(*id))
        .collect()
}

fn check_member_list(app: &App, list: &[Uuid]) -> ApiResult<()> {
    let max = app.config.chat.max_users_per_operation;
    if list.len() > max {
        return Err(ApiError::invalid(Invalid::body(
            "user_id_list",
            "too_long",
            format!(
                "List should have at most {max} items after validation, not {}",
                list.len()
            ),
            serde_json::Value::Null,
        )));
    }
    Ok(())
}

/// 404 naming the ids that are not active accounts.
fn missing_users(wanted: &[Uuid], found: &[Uuid]) -> ApiResult<()> {
    let missing: Vec<String> = wanted
        .iter()
        .filter(|id| !found.contains(id))
        .map(Uuid::to_string)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "User does not exist: {}",
            missing.join(", ")
        )))
    }
}

#[utoipa::path(post, path = "/api/v1/chats/", tag = "chat", security(("bearer" = []), ("cookie" = [])), request_body = CreateChat, responses((status = 201, body = ChatResponse), (status = 404, description = "A member does not exist", body = ErrorBody), Unauthenticated, InvalidInput, UnsupportedMedia))]
pub async fn create(
    State(app): State<App>,
    user: AuthUser,
    ApiJson(body): ApiJson<CreateChat>,
) -> ApiResult<(StatusCode, Json<ChatResponse>)> {
    check_member_list(&app, &body.user_id_list)?;
    let meta = ChatMeta::new(body.title, body.description).map_err(ApiError::Invalid)?;
    let members = distinct(Some(user.user_id), &body.user_id_list);
    let max = app.config.chat.max_users_per_operation;
    if members.len() > max {
        return Err(ApiError::Limit(format!("Limit of {max} users exceeded.")));
    }
    let mut tx = app.db.begin().await?;
    missing_users(&members, &users::active_among(&mut tx, &members).await?)?;
    let chat = chats::create(&mut tx, &meta, user.user_id).await?;
    chats::add_members(&mut tx, chat.chat_id, &members).await?;
    outbox::append(
        &mut tx,
        &[OutboxEvent::chat_created(
            chat.chat_id,
            user.user_id,
            &members,
        )],
    )
    .await?;
    tx.commit().await?;
    remember_memberships(&app, chat.chat_id, &members, true).await;
    if let Err(error) = app.recent.mark_empty(chat.chat_id).await {
        tracing::warn!(%error, "a new chat not marked empty; its unread count reads DynamoDB");
    }
    Ok((
        StatusCode::CREATED,
        Json(ChatResponse {
            chat_id: chat.chat_id,
            created_at: chat.created_at,
            meta: chat.meta,
        }),
    ))
}

/// Writes the committed answer to the cache at once, so the very next request
/// sees it; should Redis fail, the cdc consumer invalidates later.
async fn remember_memberships(app: &App, chat_id: Uuid, user_ids: &[Uuid], member: bool) {
    if let Err(error) = app.cache.set_memberships(chat_id, user_ids, member).await {
        tracing::warn!(%error, %chat_id, "could not update cached memberships");
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SendBody {
    #[schema(schema_with = limits::content)]
    content: String,
    client_uuid: Option<Uuid>,
    /// The ulid of the message of this chat this one answers (422 if there
    /// is none: one sent a moment ago may not be stored yet).
    #[serde(default)]
    #[schema(schema_with = limits::reply_to)]
    reply_to: Option<String>,
}

/// Publishes a message to the chat's Kafka log and answers once the broker
/// acknowledged it. A retry with the same `client_uuid` returns the original.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path)), request_body = SendBody, responses((status = 201, description = "Acknowledged by Kafka; a retry with the same client_uuid returns the original", body = ChatMessage), (status = 409, description = "The same client_uuid is still being sent (through another API process, also for a few milliseconds after its acknowledgement): retry shortly", body = ErrorBody), (status = 503, description = "Failed to send message.", body = ErrorBody), Unauthenticated, NotMember, InvalidInput, UnsupportedMedia))]
pub async fn send(
    State(app): State<App>,
    user: AuthUser,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<SendBody>,
) -> ApiResult<Response> {
    let chat_id = path_uuid("chat_id", &raw)?;
    check_content(&body.content, app.config.chat.max_content_length).map_err(ApiError::invalid)?;
    let reply_to = body
        .reply_to
        .as_deref()
        .map(|ulid| messages::parse_ulid(["body", "reply_to"], ulid))
        .transpose()
        .map_err(ApiError::invalid)?;
    if !app.is_member(chat_id, user.user_id).await? {
        return Err(ApiError::Forbidden(messages::NOT_A_MEMBER.into()));
    }
    let reply_to = match reply_to {
        Some(ulid) => Some(quote(&app, chat_id, ulid).await?),
        None => None,
    };
    let mentions = messages::mentions_in(&app, chat_id, &body.content).await?;
    let ttl = app.config.chat.idempotency_ttl_seconds;
    // An in-flight claim outlives the longest a send can take (the delivery
    // timeout), no more: a send whose handler died frees its client_uuid soon.
    let in_flight_ttl = app.config.kafka.message_timeout_ms.div_ceil(1000) + 1;
    let id = app.ids.next();
    let fresh = ChatMessage {
        chat_id,
        ulid: id.to_string(),
        client_uuid: body.client_uuid,
        timestamp: timestamp_of(id),
        user_id: user.user_id,
        content: body.content,
        reply_to,
        mentions,
        ..ChatMessage::default()
    };
    let send = body
        .client_uuid
        .map(|client_uuid| SendKey::send(chat_id, user.user_id, client_uuid));
    // Serialised once: the plan recorded with the claim is also the reply.
    let fresh_json = serde_json::to_string(&fresh).map_err(ApiError::internal)?;
    let claim = match send {
        Some(send) => {
            app.cache
                .claim_send(send, in_flight_ttl, &fresh_json, ttl)
                .await
        }
        None => SendClaim::Unavailable,
    };
    // This attempt holds the client_uuid's lock (released after publishing).
    let attempt = send.filter(|_| matches!(claim, SendClaim::Fresh | SendClaim::Unsure(_)));
    // A retry after an attempt whose outcome is unknown publishes that
    // attempt's message again, unchanged: the copies share chat and ULID, so
    // history keeps one (same DynamoDB key) and live delivery one (the
    // gateway drops a repeated client_uuid).
    let (message, json) = match claim {
        SendClaim::Done(original) => return Ok(created(original)),
        SendClaim::InFlight => {
            return Err(ApiError::Conflict(
                "A message with this client_uuid is still being sent; retry shortly.".into(),
            ));
        }
        SendClaim::Unsure(planned) => (
            serde_json::from_str::<ChatMessage>(&planned).map_err(ApiError::internal)?,
            planned,
        ),
        SendClaim::Fresh | SendClaim::Unavailable => (fresh, fresh_json),
    };
    let record = LogRecord::Message(MessageRecord {
        message,
        author_metadata: Some(user.profile.meta),
    });
    if let Err(error) = app.messages.publish(&record).await {
        if let Some(send) = attempt {
            app.cache.release_send(send).await;
        }
        return Err(ApiError::unavailable("Failed to send message.", error));
    }
    metrics::counter!("harmony_messages_sent_total").increment(1);
    if let Some(send) = attempt {
        app.cache.complete_send(send, &json, ttl).await;
    }
    Ok(created(json))
}

/// The message a reply answers, as stored now (a consistent read), with its
/// author's username.
async fn quote(app: &App, chat_id: Uuid, ulid: String) -> ApiResult<ReplyTo> {
    let original = app
        .stored_message(chat_id, &ulid, "Failed to send message.")
        .await?
        .ok_or_else(|| {
            ApiError::invalid(Invalid::body(
                "reply_to",
                "value_error",
                "reply_to must be the ulid of a message of this chat (one sent a moment ago may not be stored yet: retry shortly)",
                &ulid,
            ))
        })?;
    let username = crate::store::cache_aside::user_metas(&app.cache, &app.db, &[original.user_id])
        .await?
        .remove(&original.user_id)
        .map(|meta| meta.username);
    Ok(ReplyTo {
        ulid,
        user_id: original.user_id,
        username,
        excerpt: excerpt(&original.content),
        deleted: original.deleted,
    })
}

/// 201 with a message already serialised (by this attempt, or an earlier one).
fn created(message_json: String) -> Response {
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        message_json,
    )
        .into_response()
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Messages per page; absent means the maximum.
    // Its maximum is a setting (`openapi::constrain`).
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// The previous page's `next_cursor`, for older messages; absent or empty: the newest page.
    #[param(value_type = Option<limits::Cursor>, inline)]
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryResponse {
    messages: Vec<MessageRecord>,
    next_cursor: Option<String>,
}

/// Newest first; `next_cursor` is set only when older messages exist.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path), HistoryQuery), responses((status = 200, body = HistoryResponse), Unauthenticated, NotMember, InvalidInput))]
pub async fn history(
    State(app): State<App>,
    user: AuthUser,
    Path(raw): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<HistoryResponse>> {
    let chat_id = path_uuid("chat_id", &raw)?;
    let max = app.config.chat.default_pagination_limit;
    let limit = match query.limit {
        None => max,
        Some(limit) if limit < 1 => {
            return Err(ApiError::invalid(Invalid {
                kind: "greater_than_equal",
                loc: vec!["query".into(), "limit".into()],
                msg: "Input should be greater than or equal to 1".into(),
                input: limit.into(),
            }));
        }
        Some(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
    };
    if limit > max {
        return Err(ApiError::Limit(format!(
            "Limit cannot be greater than {max}"
        )));
    }
    let cursor = history_cursor(query.cursor.as_deref()).map_err(ApiError::invalid)?;
    if !app.is_member(chat_id, user.user_id).await? {
        return Err(ApiError::Forbidden(
            "You must be a member of the chat to view history.".into(),
        ));
    }
    let page = app
        .history_page(
            chat_id,
            limit,
            cursor.as_deref(),
            "Failed to retrieve chat history.",
        )
        .await?;
    let authors = authors(&app, &page.messages).await?;
    let next_cursor = page
        .more
        .then(|| page.messages.last().map(|m| m.ulid.clone()))
        .flatten();
    let messages = page
        .messages
        .into_iter()
        .map(|message| {
            let author_metadata = authors.get(&message.user_id).cloned();
            MessageRecord {
                message,
                author_metadata,
            }
        })
        .collect();
    Ok(Json(HistoryResponse {
        messages,
        next_cursor,
    }))
}

/// The `cursor` parameter: absent or empty means the newest page (the
/// original treated `cursor=` as absent), anything else must be a ULID, the
/// `next_cursor` of an earlier page; normalised to its upper-case form.
pub(super) fn history_cursor(cursor: Option<&str>) -> Result<Option<String>, Invalid> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let ulid = parse_cursor(cursor)?;
    // 26 characters carry 130 bits and a ULID has 128, so its first is at
    // most 7; the decoder drops the excess, which would read another page.
    if cursor.starts_with(|c: char| c > '7') {
        return Err(Invalid {
            kind: "value_error",
            loc: vec!["query".into(), "cursor".into()],
            msg: "Cursor must be the next_cursor of a previous page (a ULID, whose first character is 0-7)".into(),
            input: cursor.into(),
        });
    }
    Ok(Some(ulid.to_string()))
}

/// Author metadata for a page: one MGET, then one SQL query for the misses.
async fn authors(app: &App, messages: &[ChatMessage]) -> ApiResult<HashMap<Uuid, UserMeta>> {
    let ids = distinct(
        None,
        &messages.iter().map(|m| m.user_id).collect::<Vec<_>>(),
    );
    Ok(crate::store::cache_aside::user_metas(&app.cache, &app.db, &ids).await?)
}

/// Deletes the chat for everyone; any member may. History is purged by the cdc consumer.
#[utoipa::path(delete, path = "/api/v1/chats/{chat_id}", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path)), responses((status = 204, description = "Deleted for every member"), Unauthenticated, NotMember, InvalidInput))]
pub async fn delete(
    State(app): State<App>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    let chat_id = path_uuid("chat_id", &raw)?;
    let mut tx = app.db.begin().await?;
    if !(chats::lock_chat(&mut tx, chat_id).await?
        && chats::lock_membership(&mut tx, chat_id, user.user_id).await?)
    {
        return Err(ApiError::Forbidden(NOT_A_MEMBER.into()));
    }
    let members = chats::member_ids(&mut tx, chat_id).await?;
    chats::delete(&mut tx, chat_id).await?;
    outbox::append(
        &mut tx,
        &[OutboxEvent::chat_deleted(chat_id, user.user_id, &members)],
    )
    .await?;
    tx.commit().await?;
    remember_memberships(&app, chat_id, &members, false).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/leave", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path)), responses((status = 204, description = "Left"), Unauthenticated, NotMember, InvalidInput))]
pub async fn leave(
    State(app): State<App>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    let chat_id = path_uuid("chat_id", &raw)?;
    let mut tx = app.db.begin().await?;
    if !(chats::lock_chat(&mut tx, chat_id).await?
        && chats::leave(&mut tx, chat_id, user.user_id).await?)
    {
        return Err(ApiError::Forbidden(NOT_A_MEMBER.into()));
    }
    outbox::append(
        &mut tx,
        &[
            OutboxEvent::user_left(chat_id, user.user_id),
            OutboxEvent::left_chat(user.user_id, chat_id),
        ],
    )
    .await?;
    tx.commit().await?;
    remember_memberships(&app, chat_id, &[user.user_id], false).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberResponse {
    #[serde(flatten)]
    user: UserProfile,
    joined_at: NaiveDateTime,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MembersResponse {
    members: Vec<MemberResponse>,
}

#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/members", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path)), responses((status = 200, body = MembersResponse), Unauthenticated, NotMember, InvalidInput))]
pub async fn members(
    State(app): State<App>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<Json<MembersResponse>> {
    let chat_id = path_uuid("chat_id", &raw)?;
    if !app.is_member(chat_id, user.user_id).await? {
        return Err(ApiError::Forbidden(NOT_A_MEMBER.into()));
    }
    let members = chats::members(&app.db, chat_id)
        .await?
        .into_iter()
        .map(|m| MemberResponse {
            user: m.user,
            joined_at: m.joined_at,
        })
        .collect();
    Ok(Json(MembersResponse { members }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AddMembers {
    user_id_list: Vec<Uuid>,
}

/// Adds members (the original implemented it but never routed it).
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/members", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path)), request_body = AddMembers, responses((status = 200, body = MembersResponse), (status = 404, description = "A user does not exist", body = ErrorBody), Unauthenticated, NotMember, InvalidInput, UnsupportedMedia))]
pub async fn add_members(
    State(app): State<App>,
    user: AuthUser,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<AddMembers>,
) -> ApiResult<Json<MembersResponse>> {
    let chat_id = path_uuid("chat_id", &raw)?;
    check_member_list(&app, &body.user_id_list)?;
    let wanted = distinct(None, &body.user_id_list);
    let mut tx = app.db.begin().await?;
    if !(chats::lock_chat(&mut tx, chat_id).await?
        && chats::lock_membership(&mut tx, chat_id, user.user_id).await?)
    {
        return Err(ApiError::Forbidden(NOT_A_MEMBER.into()));
    }
    missing_users(&wanted, &users::active_among(&mut tx, &wanted).await?)?;
    let added = chats::add_members(&mut tx, chat_id, &wanted).await?;
    if !added.is_empty() {
        let mut events = vec![OutboxEvent::users_added(chat_id, user.user_id, &added)];
        events.extend(
            added
                .iter()
                .map(|id| OutboxEvent::added_to_chat(*id, chat_id, user.user_id)),
        );
        outbox::append(&mut tx, &events).await?;
    }
    tx.commit().await?;
    remember_memberships(&app, chat_id, &added, true).await;
    members(State(app), user, Path(raw)).await
}
