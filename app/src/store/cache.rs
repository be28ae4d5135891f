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
    /// First attempt: plan a message (`plan_send`), then publish it.
    Fresh,
    /// An earlier attempt planned this message and may have published it:
    /// publish it again, unchanged (same ULID), so copies collapse.
    Unsure(String),
    /// An earlier attempt is still being published.
    InFlight,
    /// An earlier attempt was acknowledged; its message JSON.
    Done(String),
    /// The cache is unreachable: send without de-duplication.
    Unavailable,
}

/// Prefixes of a send record's value: the message an attempt is about to
/// publish, or the one the broker acknowledged.
const PLANNED: &str = "planned:";
const SENT: &str = "sent:";

fn user_key(user_id: Uuid) -> String {
    format!("user:{user_id}")
}

fn membership_key(chat_id: Uuid, user_id: Uuid) -> String {
    format!("chat:{chat_id}:members:{user_id}")
}

fn send_key(chat_id: Uuid, user_id: Uuid, client_uuid: Uuid) -> String {
    format!("send:{chat_id}:{user_id}:{client_uuid}")
}

fn send_lock_key(chat_id: Uuid, user_id: Uuid, client_uuid: Uuid) -> String {
    format!("send-lock:{chat_id}:{user_id}:{client_uuid}")
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

    /// Claims a client_uuid for one attempt: a lock that expires after
    /// `in_flight_ttl` seconds (so a dead attempt frees it), and what earlier
    /// attempts left: the acknowledged message, or the one planned.
    pub async fn claim_send(
        &self,
        chat_id: Uuid,
        user_id: Uuid,
        client_uuid: Uuid,
        in_flight_ttl: u64,
    ) -> SendClaim {
        let mut conn = self.conn.clone();
        let locked: Result<Option<String>, _> = redis::cmd("SET")
            .arg(send_lock_key(chat_id, user_id, client_uuid))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(in_flight_ttl)
            .query_async(&mut conn)
            .await;
        let unavailable = |error: redis::RedisError| {
            tracing::warn!(%error, "cache unavailable: sending without client_uuid de-duplication");
            SendClaim::Unavailable
        };
        match locked {
            Ok(Some(_)) => {}
            Ok(None) => return SendClaim::InFlight,
            Err(error) => return unavailable(error),
        }
        let record: Option<String> = match conn.get(send_key(chat_id, user_id, client_uuid)).await {
            Ok(record) => record,
            Err(error) => return unavailable(error),
        };
        match record {
            Some(value) => match value.strip_prefix(SENT) {
                Some(sent) => {
                    self.release_send(chat_id, user_id, client_uuid).await;
                    SendClaim::Done(sent.to_owned())
                }
                None => match value.strip_prefix(PLANNED) {
                    Some(planned) => SendClaim::Unsure(planned.to_owned()),
                    None => SendClaim::Fresh,
                },
            },
            None => SendClaim::Fresh,
        }
    }

    /// Records the message this attempt is about to publish, before it is
    /// published, so a retry publishes the same one whatever happens next.
    pub async fn plan_send(
        &self,
        chat_id: Uuid,
        user_id: Uuid,
        client_uuid: Uuid,
        message_json: &str,
        ttl: u64,
    ) -> Result<(), redis::RedisError> {
        let key = send_key(chat_id, user_id, client_uuid);
        self.conn
            .clone()
            .set_ex(key, format!("{PLANNED}{message_json}"), ttl)
            .await
    }

    /// The broker acknowledged: retries get this message back.
    pub async fn complete_send(
        &self,
        chat_id: Uuid,
        user_id: Uuid,
        client_uuid: Uuid,
        message_json: &str,
        ttl: u64,
    ) {
        let key = send_key(chat_id, user_id, client_uuid);
        let result: Result<(), _> = self
            .conn
            .clone()
            .set_ex(key, format!("{SENT}{message_json}"), ttl)
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not record a sent client_uuid; a retry publishes it again (same message)");
        }
        self.release_send(chat_id, user_id, client_uuid).await;
    }

    /// Ends this attempt; what it planned stays for the next one.
    pub async fn release_send(&self, chat_id: Uuid, user_id: Uuid, client_uuid: Uuid) {
        let result: Result<(), _> = self
            .conn
            .clone()
            .del(send_lock_key(chat_id, user_id, client_uuid))
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not release a send's client_uuid; it frees itself at the in-flight TTL");
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
