//! Send idempotency: a `client_uuid` is claimed before its message (or its
//! change to a message) is published and recorded once the broker
//! acknowledged it, so a retry gets the original back or publishes the same
//! record again.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use uuid::Uuid;

use super::Cache;

/// The outcome of claiming a `client_uuid` for a send.
#[derive(Debug, PartialEq, Eq)]
pub enum SendClaim {
    /// First attempt: make the message (its ULID), then publish it.
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

/// Prefix of a send record's value once the broker acknowledged it; before,
/// it is `planned:` (both are also spelled in `CLAIM_SEND`).
const SENT: &str = "sent:";

/// One send's or change's `client_uuid` (per chat and author): its record
/// and its lock. Sends and changes claim apart, so each keeps its own answer.
#[derive(Clone, Copy, Debug)]
pub struct SendKey {
    kind: &'static str,
    chat_id: Uuid,
    user_id: Uuid,
    client_uuid: Uuid,
}

impl SendKey {
    /// A message sent.
    pub fn send(chat_id: Uuid, user_id: Uuid, client_uuid: Uuid) -> Self {
        Self {
            kind: "send",
            chat_id,
            user_id,
            client_uuid,
        }
    }

    /// A change to a message (edit, delete, reaction).
    pub fn change(chat_id: Uuid, user_id: Uuid, client_uuid: Uuid) -> Self {
        Self {
            kind: "change",
            chat_id,
            user_id,
            client_uuid,
        }
    }

    fn record(self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.kind, self.chat_id, self.user_id, self.client_uuid
        )
    }

    fn lock(self) -> String {
        format!(
            "{}-lock:{}:{}:{}",
            self.kind, self.chat_id, self.user_id, self.client_uuid
        )
    }
}

/// Lock, look, plan: KEYS lock, record; ARGV in-flight TTL, message, TTL.
static CLAIM_SEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if not redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1]) then return {'in-flight'} end
local record = redis.call('GET', KEYS[2])
if record and string.sub(record, 1, 5) == 'sent:' then
  redis.call('DEL', KEYS[1])
  return {'sent', string.sub(record, 6)}
end
if record and string.sub(record, 1, 8) == 'planned:' then return {'planned', string.sub(record, 9)} end
redis.call('SET', KEYS[2], 'planned:' .. ARGV[2], 'EX', ARGV[3])
return {'fresh'}",
    )
});

impl Cache {
    /// Claims a client_uuid for one attempt, in one round trip: a lock that
    /// expires after `in_flight_ttl` seconds (so a dead attempt frees it),
    /// then what earlier attempts left (the acknowledged message, or the one
    /// planned), else records `message_json` as this attempt's plan before it
    /// is published, so a retry publishes the same message whatever happens.
    pub async fn claim_send(
        &self,
        send: SendKey,
        in_flight_ttl: u64,
        message_json: &str,
        ttl: u64,
    ) -> SendClaim {
        let mut conn = self.conn.clone();
        let claimed: Result<Vec<String>, _> = CLAIM_SEND
            .key(send.lock())
            .key(send.record())
            .arg(in_flight_ttl)
            .arg(message_json)
            .arg(ttl)
            .invoke_async(&mut conn)
            .await;
        match claimed.as_deref() {
            Ok([outcome]) if outcome == "in-flight" => SendClaim::InFlight,
            Ok([outcome, message]) if outcome == "sent" => SendClaim::Done(message.clone()),
            Ok([outcome, message]) if outcome == "planned" => SendClaim::Unsure(message.clone()),
            Ok(_) => SendClaim::Fresh,
            Err(error) => {
                tracing::warn!(%error, "cache unavailable: sending without client_uuid de-duplication");
                SendClaim::Unavailable
            }
        }
    }

    /// The broker acknowledged: retries get this message back, and the
    /// attempt's lock goes (one round trip).
    pub async fn complete_send(&self, send: SendKey, message_json: &str, ttl: u64) {
        let result: Result<(), _> = redis::pipe()
            .atomic()
            .set_ex(send.record(), format!("{SENT}{message_json}"), ttl)
            .ignore()
            .del(send.lock())
            .ignore()
            .query_async(&mut self.conn.clone())
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not record a sent client_uuid; a retry publishes it again (same message)");
        }
    }

    /// Ends a fresh attempt that was refused before publishing: its plan
    /// goes with its lock, so the client_uuid is free again (one round trip).
    pub async fn abandon_send(&self, send: SendKey) {
        let result: Result<(), _> = self.conn.clone().del(&[send.record(), send.lock()]).await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not abandon a refused client_uuid; it frees itself at its TTL");
        }
    }

    /// Ends this attempt; what it planned stays for the next one.
    pub async fn release_send(&self, send: SendKey) {
        let result: Result<(), _> = self.conn.clone().del(send.lock()).await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not release a send's client_uuid; it frees itself at the in-flight TTL");
        }
    }
}
