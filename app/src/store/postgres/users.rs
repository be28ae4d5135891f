//! Users in Postgres.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::user::{Email, UserMeta, UserProfile};

pub async fn create(
    pool: &PgPool,
    email: &Email,
    password_hash: &str,
    meta: &UserMeta,
) -> sqlx::Result<UserProfile> {
    sqlx::query_as(
        "INSERT INTO users (email, hashed_password, meta) VALUES ($1, $2, $3)
         RETURNING user_id, email, tombstone, meta",
    )
    .bind(email.as_str())
    .bind(password_hash)
    .bind(sqlx::types::Json(meta))
    .fetch_one(pool)
    .await
}

/// What login needs of an account.
#[derive(sqlx::FromRow)]
pub struct Credentials {
    pub user_id: Uuid,
    pub hashed_password: String,
    /// The account is closed.
    pub tombstone: bool,
}

pub async fn credentials(pool: &PgPool, email: &Email) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as("SELECT user_id, hashed_password, tombstone FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(pool)
        .await
}

/// Replaces the hash of `user_id` if it is still `old` (a password changed
/// meanwhile is not overwritten by a re-hash of the previous one).
pub async fn replace_password_hash(
    pool: &PgPool,
    user_id: Uuid,
    old: &str,
    new: &str,
) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE users SET hashed_password = $3 WHERE user_id = $1 AND hashed_password = $2",
    )
    .bind(user_id)
    .bind(old)
    .bind(new)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

pub async fn profile(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Option<UserProfile>> {
    sqlx::query_as("SELECT user_id, email, tombstone, meta FROM users WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

pub async fn profiles(pool: &PgPool, user_ids: &[Uuid]) -> sqlx::Result<Vec<UserProfile>> {
    sqlx::query_as("SELECT user_id, email, tombstone, meta FROM users WHERE user_id = ANY($1)")
        .bind(user_ids)
        .fetch_all(pool)
        .await
}

/// Case-insensitive substring search on e-mails, wildcards escaped, closed
/// accounts left out, ordered.
pub async fn search(pool: &PgPool, query: &str, limit: i64) -> sqlx::Result<Vec<UserProfile>> {
    let escaped = query
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    sqlx::query_as(
        "SELECT user_id, email, tombstone, meta FROM users
         WHERE NOT tombstone AND email ILIKE '%' || $1 || '%' ESCAPE '\\' ORDER BY email LIMIT $2",
    )
    .bind(escaped)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Active users among `user_ids`: the ones a chat may take as members.
pub async fn active_among(conn: &mut PgConnection, user_ids: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT user_id FROM users WHERE user_id = ANY($1) AND NOT tombstone")
        .bind(user_ids)
        .fetch_all(conn)
        .await
}

/// Closed accounts among `user_ids`.
pub async fn closed_among(pool: &PgPool, user_ids: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT user_id FROM users WHERE user_id = ANY($1) AND tombstone")
        .bind(user_ids)
        .fetch_all(pool)
        .await
}

pub async fn tombstone(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET tombstone = true WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(drop)
}
