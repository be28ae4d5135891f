//! The Redis cache: user profiles, membership answers and (`sends`) send
//! idempotency.
//! Profiles and membership answers are read through a process-local copy
//! kept coherent by Redis client tracking (`local`), when one is attached.
//!
//! Reads are best-effort (an error is a miss). Cache fills use `SET NX`, and
//! commands write the authoritative answer with a plain `SET` after commit,
//! so a fill racing a leave can never re-insert a stale `true`.

use std::{sync::Arc, time::Duration};

use harmony_config::CacheConfig;
use redis::{AsyncCommands, aio::ConnectionManager};
use uuid::Uuid;

use super::local::LocalCopy;

mod sends;
use crate::domain::user::UserProfile;
pub use sends::{SendClaim, SendKey};

#[derive(Clone)]
pub struct Cache {
    conn: ConnectionManager,
    local: Option<LocalCopy>,
    user_ttl: u64,
    membership_ttl: u64,
    acknowledged: Arc<sends::Acknowledged>,
}

fn user_key(user_id: Uuid) -> String {
    format!("user:{user_id}")
}

fn membership_key(chat_id: Uuid, user_id: Uuid) -> String {
    format!("chat:{chat_id}:members:{user_id}")
}

impl Cache {
    /// The Redis connection, for readiness checks.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub fn new(conn: ConnectionManager, config: &CacheConfig) -> Self {
        Self {
            conn,
            local: None,
            user_ttl: config.user_ttl_seconds,
            membership_ttl: config.membership_ttl_seconds,
            acknowledged: sends::Acknowledged::new(Duration::from_millis(
                config.acknowledged_write_delay_ms,
            )),
        }
    }

    /// Reads profiles and membership answers through `local` (`None`: from Redis each time).
    pub fn with_local_copy(mut self, local: Option<LocalCopy>) -> Self {
        self.local = local;
        self
    }

    pub fn local_copy(&self) -> Option<&LocalCopy> {
        self.local.as_ref()
    }

    pub async fn user(&self, user_id: Uuid) -> Option<UserProfile> {
        let raw = self.read_copied(user_key(user_id), self.user_ttl).await?;
        serde_json::from_str(&raw).ok()
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
        let key = user_key(profile.user_id);
        let result = self.conn.clone().set_ex(&key, json, self.user_ttl).await;
        self.forget_copies([key]);
        result
    }

    pub async fn forget_user(&self, user_id: Uuid) -> Result<(), redis::RedisError> {
        let key = user_key(user_id);
        let result = self.conn.clone().del(&key).await;
        self.forget_copies([key]);
        result
    }

    /// This process's own writes reach its local copy at once (others'
    /// copies hear of them from Redis).
    fn forget_copies(&self, keys: impl IntoIterator<Item = String>) {
        if let Some(local) = &self.local {
            local.forget(keys);
        }
    }

    pub async fn membership(&self, chat_id: Uuid, user_id: Uuid) -> Option<bool> {
        let raw = self
            .read_copied(membership_key(chat_id, user_id), self.membership_ttl)
            .await?;
        Some(raw == "true")
    }

    /// A key the local copy may answer (kept at most `ttl_seconds`, the key's own TTL).
    async fn read_copied(&self, key: String, ttl_seconds: u64) -> Option<String> {
        match &self.local {
            Some(local) => {
                let ttl = Duration::from_secs(ttl_seconds);
                self.read(|_| async move { local.get(&key, ttl).await })
                    .await?
            }
            None => self.read(|mut c| async move { c.get(key).await }).await?,
        }
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
        // The client refuses an empty pipeline (adding only existing members).
        if user_ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = user_ids
            .iter()
            .map(|id| membership_key(chat_id, *id))
            .collect();
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.set_ex(key, member.to_string(), self.membership_ttl)
                .ignore();
        }
        let result = pipe.query_async(&mut self.conn.clone()).await;
        self.forget_copies(keys);
        result
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
        let result = self.conn.clone().del(&keys).await;
        self.forget_copies(keys);
        result
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
                let _: () = conn.del(&keys).await?;
                self.forget_copies(keys);
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
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
