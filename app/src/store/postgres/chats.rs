//! Chats and memberships in Postgres.

use chrono::NaiveDateTime;
use sqlx::{PgConnection, PgPool, types::Json};
use uuid::Uuid;

use crate::domain::{chat::ChatMeta, user::UserProfile};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatRow {
    pub chat_id: Uuid,
    pub created_at: NaiveDateTime,
    #[sqlx(json)]
    pub meta: ChatMeta,
}

pub async fn create(
    conn: &mut PgConnection,
    meta: &ChatMeta,
    created_by: Uuid,
) -> sqlx::Result<ChatRow> {
    sqlx::query_as(
        "INSERT INTO chats (meta, created_by) VALUES ($1, $2) RETURNING chat_id, created_at, meta",
    )
    .bind(Json(meta.to_stored()))
    .bind(created_by)
    .fetch_one(conn)
    .await
}

/// Adds members; returns those who were not members before.
pub async fn add_members(
    conn: &mut PgConnection,
    chat_id: Uuid,
    user_ids: &[Uuid],
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "INSERT INTO user_chats (user_id, chat_id) SELECT unnest($1::uuid[]), $2
         ON CONFLICT DO NOTHING RETURNING user_id",
    )
    .bind(user_ids)
    .bind(chat_id)
    .fetch_all(conn)
    .await
}

pub async fn is_member(pool: &PgPool, chat_id: Uuid, user_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_chats WHERE chat_id = $1 AND user_id = $2)",
    )
    .bind(chat_id)
    .bind(user_id)
    .fetch_one(pool)
    .await
}

/// Whether the user created the chat.
pub async fn created_by(pool: &PgPool, chat_id: Uuid, user_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM chats WHERE chat_id = $1 AND created_by = $2)")
        .bind(chat_id)
        .bind(user_id)
        .fetch_one(pool)
        .await
}

/// Records that the user reacted in the chat (once).
pub async fn remember_reaction(pool: &PgPool, user_id: Uuid, chat_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO reaction_chats (user_id, chat_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(chat_id)
    .execute(pool)
    .await
    .map(drop)
}

/// The chats whose messages may carry the user's reactions: the ones they
/// are in and the ones they reacted in (and may have left since).
pub async fn chats_with_reactions_of(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT chat_id FROM user_chats WHERE user_id = $1
         UNION SELECT chat_id FROM reaction_chats WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// Locks the chat's row for the rest of the transaction. Every command that
/// writes a chat's outbox events (add members, leave, delete) takes it first,
/// so they run one after another per chat and outbox position order is commit
/// order for the chat (docs/events.md). False when the chat does not exist.
pub async fn lock_chat(conn: &mut PgConnection, chat_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar::<_, i32>("SELECT 1 FROM chats WHERE chat_id = $1 FOR UPDATE")
        .bind(chat_id)
        .fetch_optional(conn)
        .await
        .map(|row| row.is_some())
}

/// Membership read under a row lock, for commands that must not race a leave.
pub async fn lock_membership(
    conn: &mut PgConnection,
    chat_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<bool> {
    sqlx::query_scalar::<_, i32>(
        "SELECT 1 FROM user_chats WHERE chat_id = $1 AND user_id = $2 FOR SHARE",
    )
    .bind(chat_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
    .map(|row| row.is_some())
}

pub async fn member_ids(conn: &mut PgConnection, chat_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT user_id FROM user_chats WHERE chat_id = $1 ORDER BY joined_at, user_id",
    )
    .bind(chat_id)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    #[sqlx(flatten)]
    pub user: UserProfile,
    pub joined_at: NaiveDateTime,
}

pub async fn members(pool: &PgPool, chat_id: Uuid) -> sqlx::Result<Vec<Member>> {
    sqlx::query_as(
        "SELECT u.user_id, u.email, u.tombstone, u.meta, m.joined_at
         FROM user_chats m JOIN users u USING (user_id)
         WHERE m.chat_id = $1 ORDER BY m.joined_at, u.user_id",
    )
    .bind(chat_id)
    .fetch_all(pool)
    .await
}

/// Deletes the chat and remembers it, so the sink drops its in-flight messages.
pub async fn delete(conn: &mut PgConnection, chat_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM chats WHERE chat_id = $1")
        .bind(chat_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO deleted_chats (chat_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(chat_id)
        .execute(conn)
        .await
        .map(drop)
}

/// Which of `chat_ids` have been deleted.
pub async fn deleted_among(pool: &PgPool, chat_ids: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT chat_id FROM deleted_chats WHERE chat_id = ANY($1)")
        .bind(chat_ids)
        .fetch_all(pool)
        .await
}

/// Removes the membership; false when there was none.
pub async fn leave(conn: &mut PgConnection, chat_id: Uuid, user_id: Uuid) -> sqlx::Result<bool> {
    let removed = sqlx::query("DELETE FROM user_chats WHERE chat_id = $1 AND user_id = $2")
        .bind(chat_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(removed.rows_affected() > 0)
}

/// One chat of a member's list, with where they stand in it.
#[derive(Debug, sqlx::FromRow)]
pub struct ListedChat {
    pub chat_id: Uuid,
    pub meta: Json<ChatMeta>,
    /// None once the creator's account was deleted.
    pub created_by: Option<Uuid>,
    pub joined_at: NaiveDateTime,
    /// The ULID of the newest message they read; None until they marked one.
    pub last_read: Option<String>,
    pub notifications: String,
}

/// The user's chats, most recently joined first.
pub async fn chats_of(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<ListedChat>> {
    sqlx::query_as(
        "SELECT c.chat_id, c.meta, c.created_by, m.joined_at, m.last_read, m.notifications
         FROM user_chats m JOIN chats c USING (chat_id)
         WHERE m.user_id = $1 ORDER BY m.joined_at DESC, c.chat_id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// A member's read position and when they joined, locked until the
/// transaction ends (so concurrent marks move it in turn); None if not a member.
pub async fn lock_read_position(
    conn: &mut PgConnection,
    chat_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Option<(Option<String>, NaiveDateTime)>> {
    sqlx::query_as(
        "SELECT last_read, joined_at FROM user_chats
         WHERE chat_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(chat_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

pub async fn set_read_position(
    conn: &mut PgConnection,
    chat_id: Uuid,
    user_id: Uuid,
    ulid: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE user_chats SET last_read = $3 WHERE chat_id = $1 AND user_id = $2")
        .bind(chat_id)
        .bind(user_id)
        .bind(ulid)
        .execute(conn)
        .await?;
    Ok(())
}

/// A closed account keeps its memberships but not where it read or what
/// notified it. Rows already forgotten (`mentions` is the column's default)
/// are not written again: the cdc repeats this after the API.
pub async fn forget_attention(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE user_chats SET last_read = NULL, notifications = DEFAULT \
         WHERE user_id = $1 AND (last_read IS NOT NULL OR notifications <> 'mentions')",
    )
    .bind(user_id)
    .execute(conn)
    .await
    .map(drop)
}

/// Sets which messages notify the member; answers the level it replaced,
/// or None if they are not a member.
pub async fn set_notifications(
    conn: &mut PgConnection,
    chat_id: Uuid,
    user_id: Uuid,
    level: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "WITH old AS (
             SELECT notifications FROM user_chats
             WHERE chat_id = $1 AND user_id = $2 FOR UPDATE
         )
         UPDATE user_chats m SET notifications = $3 FROM old
         WHERE m.chat_id = $1 AND m.user_id = $2
         RETURNING old.notifications",
    )
    .bind(chat_id)
    .bind(user_id)
    .bind(level)
    .fetch_optional(conn)
    .await
}
