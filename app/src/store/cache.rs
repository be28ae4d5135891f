//! The Redis cache: user profiles, membership answers and send idempotency.
//!
//! Reads are best-effort (an error is a miss). Cache fills use `SET NX`, and
//! commands write the authoritative answer with a plain `SET` after commit,
//! so a fill racing a leave can never re-insert a stale `true` (ref §9.16).

use std::time::Duration;

use harmony_config::CacheConfig;
use redis::{AsyncCommands, aio::ConnectionManager};
use uuid::Uuid;

use crate::domain::user::UserProfile;

#[derive(Clone)]
pub struct Cache {
    conn: ConnectionManager,
    user_ttl: u64,
    membership_ttl: u64,
}

/// The outcome of claiming a `client_uuid` for a send.
#[derive(Debug, PartialEq, Eq)]
pub enum SendClaim {
    /// First attempt: go ahead and publish.
    Fresh,
    /// An earlier attempt is still being published.
    InFlight,
    /// An earlier attempt was acknowledged; its message JSON.
    Done(String),
    /// The cache is unreachable: send without de-duplication.
    Unavailable,
}

const PENDING: &str = "pending";

fn user_key(user_id: Uuid) -> String {
    format!("user:{user_id}")
}

fn membership_key(chat_id: Uuid, user_id: Uuid) -> String {
    format!("chat:{chat_id}:members:{user_id}")
}

fn send_key(chat_id: Uuid, user_id: Uuid, client_uuid: Uuid) -> String {
    format!("send:{chat_id}:{user_id}:{client_uuid}")
}

impl Cache {
    /// The Redis connection, for readiness checks.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub fn new(conn: ConnectionManager, config: &CacheConfig) -> Self {
        Self {
            conn,
            user_ttl: config.user_ttl_seconds,
            membership_ttl: config.membership_ttl_seconds,
        }
    }

    pub async fn user(&self, user_id: Uuid) -> Option<UserProfile> {
        let raw: Option<String> = self
            .read(|mut c| async move { c.get(user_key(user_id)).await })
            .await?;
        raw.and_then(|json| serde_json::from_str(&json).ok())
    }

    /// One MGET for many users; `None` marks a miss.
    pub async fn users(&self, user_ids: &[Uuid]) -> Vec<Option<UserProfile>> {
        if user_ids.is_empty() {
            return Vec::new();
        }
        let keys: Vec<String> = user_ids.iter().map(|id| user_key(*id)).collect();
        let raw: Option<Vec<Option<String>>> =
            self.read(|mut c| async move { c.mget(keys).await }).await;
        match raw {
            Some(values) => values
                .into_iter()
                .map(|v| v.and_then(|json| serde_json::from_str(&json).ok()))
                .collect(),
            None => vec![None; user_ids.len()],
        }
    }

    /// Cache-aside fill (`SET NX`): never overwrites a profile a command wrote
    /// meanwhile, so a read racing account closure cannot re-cache the open account.
    pub async fn fill_users(&self, profiles: &[UserProfile]) {
        if profiles.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for profile in profiles {
            if let Ok(json) = serde_json::to_string(profile) {
                pipe.cmd("SET")
                    .arg(user_key(profile.user_id))
                    .arg(json)
                    .arg("NX")
                    .arg("EX")
                    .arg(self.user_ttl)
                    .ignore();
            }
        }
        let _: Option<()> = self
            .read(|mut c| async move { pipe.query_async(&mut c).await })
            .await;
    }

    /// The authoritative profile after a committed change (account closure).
    pub async fn set_user(&self, profile: &UserProfile) -> Result<(), redis::RedisError> {
        let json = serde_json::to_string(profile).map_err(|e| {
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "profile serialisation",
                e.to_string(),
            ))
        })?;
        self.conn
            .clone()
            .set_ex(user_key(profile.user_id), json, self.user_ttl)
            .await
    }

    pub async fn forget_user(&self, user_id: Uuid) -> Result<(), redis::RedisError> {
        self.conn.clone().del(user_key(user_id)).await
    }

    pub async fn membership(&self, chat_id: Uuid, user_id: Uuid) -> Option<bool> {
        let raw: Option<String> = self
            .read(|mut c| async move { c.get(membership_key(chat_id, user_id)).await })
            .await?;
        raw.map(|v| v == "true")
    }

    /// Cache-aside fill: never overwrites an answer a command wrote meanwhile.
    pub async fn fill_membership(&self, chat_id: Uuid, user_id: Uuid, member: bool) {
        let key = membership_key(chat_id, user_id);
        let ttl = self.membership_ttl;
        let _: Option<()> = self
            .read(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(member.to_string())
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl)
                    .query_async(&mut c)
                    .await
            })
            .await;
    }

    /// The authoritative answer after a committed change.
    pub async fn set_memberships(
        &self,
        chat_id: Uuid,
        user_ids: &[Uuid],
        member: bool,
    ) -> Result<(), redis::RedisError> {
        let mut pipe = redis::pipe();
        for user_id in user_ids {
            pipe.set_ex(
                membership_key(chat_id, *user_id),
                member.to_string(),
                self.membership_ttl,
            )
            .ignore();
        }
        pipe.query_async(&mut self.conn.clone()).await
    }

    /// Drops cached membership answers; the next read asks Postgres.
    pub async fn forget_memberships(
        &self,
        chat_id: Uuid,
        user_ids: &[Uuid],
    ) -> Result<(), redis::RedisError> {
        if user_ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = user_ids
            .iter()
            .map(|id| membership_key(chat_id, *id))
            .collect();
        self.conn.clone().del(keys).await
    }

    /// Drops every cached membership answer of a chat (SCAN, then DEL in batches).
    pub async fn forget_chat(&self, chat_id: Uuid) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        let pattern = format!("chat:{chat_id}:members:*");
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(100)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let _: () = conn.del(keys).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Claims a client_uuid for one send; the claim expires after
    /// `in_flight_ttl` seconds unless `complete_send` replaces it.
    pub async fn claim_send(
        &self,
        chat_id: Uuid,
        user_id: Uuid,
        client_uuid: Uuid,
        in_flight_ttl: u64,
    ) -> SendClaim {
        let key = send_key(chat_id, user_id, client_uuid);
        let mut conn = self.conn.clone();
        let claimed: Result<Option<String>, _> = redis::cmd("SET")
            .arg(&key)
            .arg(PENDING)
            .arg("NX")
            .arg("EX")
            .arg(in_flight_ttl)
            .query_async(&mut conn)
            .await;
        match claimed {
            Ok(Some(_)) => SendClaim::Fresh,
            Ok(None) => match conn.get::<_, Option<String>>(&key).await {
                Ok(Some(value)) if value != PENDING => SendClaim::Done(value),
                Ok(Some(_)) => SendClaim::InFlight,
                // Expired between the two calls: treat as a first attempt.
                Ok(None) => SendClaim::Fresh,
                Err(_) => SendClaim::Unavailable,
            },
            Err(error) => {
                tracing::warn!(%error, "cache unavailable: sending without client_uuid de-duplication");
                SendClaim::Unavailable
            }
        }
    }

    pub async fn complete_send(
        &self,
        chat_id: Uuid,
        user_id: Uuid,
        client_uuid: Uuid,
        message_json: &str,
        ttl: u64,
    ) {
        let key = send_key(chat_id, user_id, client_uuid);
        let result: Result<(), _> = self.conn.clone().set_ex(key, message_json, ttl).await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not record a sent client_uuid; a retry may duplicate it");
        }
    }

    pub async fn release_send(&self, chat_id: Uuid, user_id: Uuid, client_uuid: Uuid) {
        let result: Result<(), _> = self
            .conn
            .clone()
            .del(send_key(chat_id, user_id, client_uuid))
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not release a failed send's client_uuid");
        }
    }

    /// Runs a read-like call; errors are logged and become `None` (a miss).
    async fn read<T, F, Fut>(&self, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(Duration::from_secs(1), call(self.conn.clone())).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cache call failed; treating as a miss");
                None
            }
            Err(_) => {
                tracing::warn!("cache call timed out; treating as a miss");
                None
            }
        }
    }
}
