//! `/api/v1/chats/{chat_id}/messages/{ulid}`: edit, delete, reactions. Each
//! is a change record on the chat's message log, after the message (same
//! key, so one order), applied by the sink and by every client.

use axum::{
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use ulid::Ulid;
use uuid::Uuid;

use super::{
    app::App,
    error::{ApiError, ApiResult, ErrorBody, InvalidInput, Unauthenticated, UnsupportedMedia},
    extract::{ApiJson, ApiQuery, AuthUser, path_uuid},
    limits,
};
use crate::{
    domain::{
        Invalid,
        change::{Change, MAX_REACTIONS, MessageChange, check_emoji},
        mention,
        message::{ChatMessage, LogRecord, check_content, timestamp_of},
    },
    store::{
        postgres::chats,
        redis::cache::{SendClaim, SendKey},
    },
};

pub(super) const NOT_A_MEMBER: &str = "User is not a member of this chat.";
const NOT_FOUND: &str = "Message not found in this chat. A message sent a moment ago may not be stored yet: retry shortly.";
const NOT_THE_AUTHOR: &str = "Only the author can edit a message.";
const MAY_NOT_DELETE: &str = "Only the author or the chat's creator can delete a message.";
const DELETED: &str = "The message was deleted.";
const TOO_MANY_REACTIONS: &str = "A message can have at most 20 different reactions.";

#[derive(Deserialize, utoipa::ToSchema)]
pub struct EditBody {
    #[schema(schema_with = limits::content)]
    content: String,
    /// The client's id for this change: a retry with it returns the original.
    client_uuid: Option<Uuid>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeQuery {
    /// The client's id for this change: a retry with it returns the original.
    client_uuid: Option<Uuid>,
}

/// Replaces the content of one's own message.
#[utoipa::path(patch, operation_id = "edit_message", path = "/api/v1/chats/{chat_id}/messages/{ulid}", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path), ("ulid" = inline(limits::Ulid), Path, description = "The message's ulid")), request_body = EditBody, responses(Changed, Refused, Unauthenticated, InvalidInput, UnsupportedMedia))]
pub async fn edit(
    State(app): State<App>,
    user: AuthUser,
    Path((chat_id, ulid)): Path<(String, String)>,
    ApiJson(body): ApiJson<EditBody>,
) -> ApiResult<Response> {
    let (chat_id, ulid) = target(&chat_id, &ulid)?;
    check_content(&body.content, app.config.chat.max_content_length).map_err(ApiError::invalid)?;
    let mentions = mentions_in(&app, chat_id, &body.content).await?;
    let change = Change::MessageEdited {
        content: body.content,
        mentions,
    };
    make(&app, &user, chat_id, ulid, change, body.client_uuid).await
}

/// Deletes a message: its author or the chat's creator may. Its content and
/// reactions are gone; replies keep an empty quote marked deleted.
#[utoipa::path(delete, operation_id = "delete_message", path = "/api/v1/chats/{chat_id}/messages/{ulid}", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path), ("ulid" = inline(limits::Ulid), Path, description = "The message's ulid"), ChangeQuery), responses(Changed, Refused, Unauthenticated, InvalidInput))]
pub async fn delete(
    State(app): State<App>,
    user: AuthUser,
    Path((chat_id, ulid)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ChangeQuery>,
) -> ApiResult<Response> {
    let (chat_id, ulid) = target(&chat_id, &ulid)?;
    let change = Change::MessageDeleted {};
    make(&app, &user, chat_id, ulid, change, query.client_uuid).await
}

/// Adds the caller's reaction; having it already is no error (reactions are
/// sets). The emoji is answered in its fully qualified form.
#[utoipa::path(put, operation_id = "add_reaction", path = "/api/v1/chats/{chat_id}/messages/{ulid}/reactions/{emoji}", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path), ("ulid" = inline(limits::Ulid), Path, description = "The message's ulid"), ("emoji" = limits::Emoji, Path), ChangeQuery), responses(Changed, Refused, Unauthenticated, InvalidInput))]
pub async fn add_reaction(
    State(app): State<App>,
    user: AuthUser,
    Path((chat_id, ulid, emoji)): Path<(String, String, String)>,
    ApiQuery(query): ApiQuery<ChangeQuery>,
) -> ApiResult<Response> {
    let (chat_id, ulid) = target(&chat_id, &ulid)?;
    let emoji = qualified(&emoji)?;
    let change = Change::ReactionAdded { emoji };
    make(&app, &user, chat_id, ulid, change, query.client_uuid).await
}

/// Removes the caller's reaction; not having it is no error.
#[utoipa::path(delete, operation_id = "remove_reaction", path = "/api/v1/chats/{chat_id}/messages/{ulid}/reactions/{emoji}", tag = "chat", security(("bearer" = []), ("cookie" = [])), params(("chat_id" = Uuid, Path), ("ulid" = inline(limits::Ulid), Path, description = "The message's ulid"), ("emoji" = limits::Emoji, Path), ChangeQuery), responses(Changed, Refused, Unauthenticated, InvalidInput))]
pub async fn remove_reaction(
    State(app): State<App>,
    user: AuthUser,
    Path((chat_id, ulid, emoji)): Path<(String, String, String)>,
    ApiQuery(query): ApiQuery<ChangeQuery>,
) -> ApiResult<Response> {
    let (chat_id, ulid) = target(&chat_id, &ulid)?;
    let emoji = qualified(&emoji)?;
    let change = Change::ReactionRemoved { emoji };
    make(&app, &user, chat_id, ulid, change, query.client_uuid).await
}

/// The 200 of every change.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only
pub enum Changed {
    #[response(
        status = 200,
        description = "Acknowledged by Kafka; a retry with the same client_uuid returns the original"
    )]
    Changed(MessageChange),
}

/// The refusals particular to changes.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only
pub enum Refused {
    #[response(
        status = 403,
        description = "Not a member of the chat; or not the author (edit), or neither the author nor the chat's creator (delete)"
    )]
    NotAllowed(ErrorBody),
    #[response(
        status = 404,
        description = "No such message in this chat (one sent a moment ago may not be stored yet: retry shortly)"
    )]
    NotFound(ErrorBody),
    #[response(
        status = 409,
        description = "The message was deleted; it has 20 different reactions already; or the same client_uuid is still being sent (through another API process, also for a few milliseconds after its acknowledgement) or names another change"
    )]
    Conflict(ErrorBody),
    #[response(status = 503, description = "Failed to save the change.")]
    Unavailable(ErrorBody),
}

/// The chat and message of a path.
fn target(chat_id: &str, ulid: &str) -> ApiResult<(Uuid, String)> {
    let chat_id = path_uuid("chat_id", chat_id)?;
    let ulid = parse_ulid(["path", "ulid"], ulid).map_err(ApiError::invalid)?;
    Ok((chat_id, ulid))
}

/// A message's ULID, normalised to its upper-case form. 26 characters carry
/// 130 bits and a ULID has 128, so its first is at most 7 (the decoder would
/// drop the excess and name another message).
pub(super) fn parse_ulid(loc: [&str; 2], raw: &str) -> Result<String, Invalid> {
    match Ulid::from_string(raw) {
        Ok(ulid) if !raw.starts_with(|c: char| c > '7') => Ok(ulid.to_string()),
        _ => Err(Invalid {
            kind: "value_error",
            loc: loc.map(Into::into).to_vec(),
            msg: format!(
                "{} must be a message's ulid: 26 characters of Crockford base32, the first 0-7",
                loc[1]
            ),
            input: raw.chars().take(64).collect::<String>().into(),
        }),
    }
}

/// The emoji as `check_emoji` accepts it, in its fully qualified form, so
/// `☺` and `☺️` are one reaction.
fn qualified(emoji: &str) -> ApiResult<String> {
    check_emoji(emoji).map_err(ApiError::invalid)?;
    Ok(emojis::get(emoji).map_or(emoji, |e| e.as_str()).to_owned())
}

/// Checks the caller's rights at this moment, claims the client_uuid, checks
/// the message, logs the change and answers it once Kafka acknowledged it.
async fn make(
    app: &App,
    user: &AuthUser,
    chat_id: Uuid,
    ulid: String,
    change: Change,
    client_uuid: Option<Uuid>,
) -> ApiResult<Response> {
    if !app.is_member(chat_id, user.user_id).await? {
        return Err(ApiError::Forbidden(NOT_A_MEMBER.into()));
    }
    let ttl = app.config.chat.idempotency_ttl_seconds;
    let in_flight_ttl = app.config.kafka.message_timeout_ms.div_ceil(1000) + 1;
    let id = app.ids.next();
    let fresh = MessageChange {
        change,
        chat_id,
        ulid,
        change_id: id.to_string(),
        client_uuid,
        user_id: user.user_id,
        timestamp: timestamp_of(id),
    };
    let fresh_json = serde_json::to_string(&fresh).map_err(ApiError::internal)?;
    let key = client_uuid.map(|client_uuid| SendKey::change(chat_id, user.user_id, client_uuid));
    let claim = match key {
        Some(key) => {
            app.cache
                .claim_send(key, in_flight_ttl, &fresh_json, ttl)
                .await
        }
        None => SendClaim::Unavailable,
    };
    let first = matches!(claim, SendClaim::Fresh);
    let attempt = key.filter(|_| matches!(claim, SendClaim::Fresh | SendClaim::Unsure(_)));
    // A retry after an attempt whose outcome is unknown makes that attempt's
    // change again (same change_id), checked again.
    let (change, json) = match claim {
        SendClaim::Done(original) => {
            same_action(&fresh, &original)?;
            return Ok(ok(original));
        }
        SendClaim::InFlight => {
            return Err(ApiError::Conflict(
                "A change with this client_uuid is still being made; retry shortly.".into(),
            ));
        }
        SendClaim::Unsure(planned) => match same_action(&fresh, &planned) {
            Ok(change) => (change, planned),
            Err(refusal) => {
                if let Some(key) = attempt {
                    app.cache.release_send(key).await;
                }
                return Err(refusal);
            }
        },
        SendClaim::Fresh | SendClaim::Unavailable => (fresh, fresh_json),
    };
    if let Err(refusal) = check_message(app, &change).await {
        // Refused before publishing: a fresh plan is dropped (the client_uuid
        // is free); an earlier one stays, as it may have been published.
        match attempt {
            Some(key) if first => app.cache.abandon_send(key).await,
            Some(key) => app.cache.release_send(key).await,
            None => {}
        }
        return Err(refusal);
    }
    if matches!(change.change, Change::ReactionAdded { .. }) {
        // Before the reaction is logged, so closing the account finds it.
        chats::remember_reaction(&app.db, change.user_id, change.chat_id).await?;
    }
    if let Err(error) = app.messages.publish(&LogRecord::Change(change)).await {
        if let Some(key) = attempt {
            app.cache.release_send(key).await;
        }
        return Err(ApiError::unavailable("Failed to save the change.", error));
    }
    if let Some(key) = attempt {
        app.cache.complete_send(key, &json, ttl).await;
    }
    Ok(ok(json))
}

/// An earlier change under the same client_uuid, if it is this same action
/// (same message, same change): a client_uuid names one action.
fn same_action(request: &MessageChange, earlier: &str) -> ApiResult<MessageChange> {
    let earlier: MessageChange = serde_json::from_str(earlier).map_err(ApiError::internal)?;
    if earlier.ulid != request.ulid || earlier.change != request.change {
        return Err(ApiError::Conflict(
            "This client_uuid already names another change; use a new client_uuid for a new change."
                .into(),
        ));
    }
    Ok(earlier)
}

/// The message as stored now (a consistent read) and what the caller may do to it.
async fn check_message(app: &App, change: &MessageChange) -> ApiResult<()> {
    let message = app
        .stored_message(change.chat_id, &change.ulid, "Failed to read the message.")
        .await?
        .ok_or_else(|| ApiError::NotFound(NOT_FOUND.into()))?;
    let role = if message.user_id == change.user_id {
        Role::Author
    } else if matches!(change.change, Change::MessageDeleted {})
        && chats::created_by(&app.db, change.chat_id, change.user_id).await?
    {
        Role::Creator
    } else {
        Role::Member
    };
    refusal(&message, &change.change, role).map_or(Ok(()), Err)
}

/// Who the caller is to a message (all are members of its chat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Author,
    /// The chat's creator, not the author.
    Creator,
    Member,
}

/// The rules of a change to a message, if one refuses it.
fn refusal(message: &ChatMessage, change: &Change, role: Role) -> Option<ApiError> {
    if message.deleted {
        return Some(ApiError::Conflict(DELETED.into()));
    }
    match change {
        Change::MessageEdited { .. } if role != Role::Author => {
            Some(ApiError::Forbidden(NOT_THE_AUTHOR.into()))
        }
        Change::MessageDeleted {} if role == Role::Member => {
            Some(ApiError::Forbidden(MAY_NOT_DELETE.into()))
        }
        Change::ReactionAdded { emoji }
            if message.reactions.len() >= MAX_REACTIONS
                && !message.reactions.iter().any(|r| &r.emoji == emoji) =>
        {
            Some(ApiError::Conflict(TOO_MANY_REACTIONS.into()))
        }
        _ => None,
    }
}

/// The members `content` mentions; only text with an `@` costs a read of
/// the chat's members.
pub(super) async fn mentions_in(app: &App, chat_id: Uuid, content: &str) -> ApiResult<Vec<Uuid>> {
    if !mention::may_mention(content) {
        return Ok(Vec::new());
    }
    let members = chats::members(&app.db, chat_id).await?;
    let usernames = members
        .iter()
        .filter(|member| !member.user.tombstone)
        .map(|member| (member.user.user_id, member.user.meta.username.as_str()));
    Ok(mention::mentioned(content, usernames))
}

/// 200 with a change already serialised (by this attempt, or an earlier one).
fn ok(change_json: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        change_json,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::Reaction;

    fn edit() -> Change {
        Change::MessageEdited {
            content: "new".into(),
            mentions: Vec::new(),
        }
    }

    fn react(emoji: &str) -> Change {
        Change::ReactionAdded {
            emoji: emoji.into(),
        }
    }

    fn status(found: Option<ApiError>) -> Option<(u16, String)> {
        found.map(|e| {
            let message = e.to_string();
            (e.into_response().status().as_u16(), message)
        })
    }

    fn message() -> ChatMessage {
        ChatMessage {
            content: "hi".into(),
            ..ChatMessage::default()
        }
    }

    const EVERYONE: [Role; 3] = [Role::Author, Role::Creator, Role::Member];

    /// Seen failing with the edit rule removed from `refusal`.
    #[test]
    fn only_the_author_edits() {
        for role in EVERYONE {
            let want = (role != Role::Author).then(|| (403, NOT_THE_AUTHOR.to_owned()));
            assert_eq!(status(refusal(&message(), &edit(), role)), want, "{role:?}");
        }
    }

    /// Seen failing with the delete rule removed from `refusal`.
    #[test]
    fn the_author_or_the_creator_deletes() {
        for role in EVERYONE {
            let want = (role == Role::Member).then(|| (403, MAY_NOT_DELETE.to_owned()));
            let delete = Change::MessageDeleted {};
            assert_eq!(status(refusal(&message(), &delete, role)), want, "{role:?}");
        }
    }

    /// Seen failing with the deleted check removed from `refusal`.
    #[test]
    fn a_deleted_message_is_final() {
        let deleted = ChatMessage {
            deleted: true,
            ..message()
        };
        for change in [edit(), Change::MessageDeleted {}, react("👍")] {
            assert_eq!(
                status(refusal(&deleted, &change, Role::Author)),
                Some((409, DELETED.to_owned())),
                "{change:?}"
            );
        }
        assert_eq!(
            status(refusal(&message(), &react("👍"), Role::Member)),
            None
        );
    }

    /// Seen failing with the count removed from `refusal`.
    #[test]
    fn a_message_holds_at_most_20_different_reactions() {
        let full = ChatMessage {
            reactions: emojis::iter()
                .take(MAX_REACTIONS)
                .map(|e| Reaction {
                    emoji: e.as_str().to_owned(),
                    user_ids: vec![Uuid::nil()],
                })
                .collect(),
            ..message()
        };
        let there = full.reactions[0].emoji.clone();
        let new = emojis::iter().nth(MAX_REACTIONS).unwrap().as_str();
        assert_eq!(
            status(refusal(&full, &react(new), Role::Member)),
            Some((409, TOO_MANY_REACTIONS.to_owned()))
        );
        assert_eq!(status(refusal(&full, &react(&there), Role::Member)), None);
        let remove = Change::ReactionRemoved {
            emoji: new.to_owned(),
        };
        assert_eq!(status(refusal(&full, &remove, Role::Member)), None);
        assert!(TOO_MANY_REACTIONS.contains(&MAX_REACTIONS.to_string()));
    }

    #[test]
    fn emoji_are_answered_fully_qualified() {
        assert_eq!(qualified("☺").unwrap(), "☺\u{fe0f}");
        assert_eq!(qualified("👍🏽").unwrap(), "👍🏽");
        assert!(qualified("a").is_err());
    }
}
