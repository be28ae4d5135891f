//! Refresh-token families in Postgres (hashes only).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub tombstone: bool,
}

pub async fn insert(
    conn: &mut PgConnection,
    token_hash: &str,
    user_id: Uuid,
    family_id: Uuid,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(family_id)
    .bind(expires_at)
    .execute(conn)
    .await
    .map(drop)
}

/// The token's row, locked so concurrent refreshes of one token serialise.
pub async fn lock(conn: &mut PgConnection, token_hash: &str) -> sqlx::Result<Option<RefreshRow>> {
    sqlx::query_as(
        "SELECT t.user_id, t.family_id, t.expires_at, t.rotated_at, t.revoked_at, u.tombstone
         FROM refresh_tokens t JOIN users u USING (user_id)
         WHERE t.token_hash = $1 FOR UPDATE OF t",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}

pub async fn mark_rotated(
    conn: &mut PgConnection,
    token_hash: &str,
    successor_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET rotated_at = now(), successor_hash = $2 WHERE token_hash = $1",
    )
    .bind(token_hash)
    .bind(successor_hash)
    .execute(conn)
    .await
    .map(drop)
}

pub async fn revoke_family(conn: &mut PgConnection, family_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .execute(conn)
    .await
    .map(drop)
}

pub async fn revoke_user(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .execute(conn)
    .await
    .map(drop)
}

pub async fn family_of(pool: &PgPool, token_hash: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(pool)
        .await
}

/// Deletes rows that expired more than a day ago (kept a day for reuse detection).
pub async fn purge_expired(pool: &PgPool) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'")
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
}
