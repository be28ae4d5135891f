//! Send idempotency: a `client_uuid` is claimed before its message (or its
//! change to a message) is published and recorded once the broker
//! acknowledged it, so a retry gets the original back or publishes the same
//! record again.
//!
//! An acknowledged send's record may wait a few milliseconds to be written
//! in the next claim's round trip (or, when no claim comes, in one write for
//! all that waited): at a steady rate each send then costs one round trip
//! to Redis, not two. A retry through the same process finds it (its claim
//! writes what waited first, unless another request's claim is carrying it
//! at that instant); through another, it is answered 409 until the record
//! is written.

use std::{
    sync::{Arc, LazyLock, Mutex, OnceLock},
    time::Duration,
};

use redis::{AsyncCommands, Script, aio::ConnectionManager};
use tokio::sync::Notify;
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

/// Acknowledged sends whose records wait to share a later round trip.
pub(super) struct Acknowledged {
    waiting: Mutex<Vec<Ack>>,
    /// Set when `waiting` stops being empty.
    queued: Notify,
    delay: Duration,
    writer: OnceLock<()>,
    /// Held while the late write runs, so the drain at shutdown waits for it.
    writing: tokio::sync::Mutex<()>,
}

struct Ack {
    send: SendKey,
    message_json: String,
    ttl: u64,
}

impl Acknowledged {
    pub(super) fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            waiting: Mutex::new(Vec::new()),
            queued: Notify::new(),
            delay,
            writer: OnceLock::new(),
            writing: tokio::sync::Mutex::new(()),
        })
    }

    fn take(&self) -> Vec<Ack> {
        std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn put(&self, acks: Vec<Ack>) {
        if acks.is_empty() {
            return;
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let was_empty = waiting.is_empty();
        waiting.extend(acks);
        drop(waiting);
        if was_empty {
            self.queued.notify_one();
        }
    }

    /// Writes whatever waited longer than the delay: one write for all.
    async fn write_late(self: Arc<Self>, conn: ConnectionManager) {
        loop {
            self.queued.notified().await;
            tokio::time::sleep(self.delay).await;
            let _writing = self.writing.lock().await;
            write(&conn, self.take()).await;
        }
    }
}

/// Acknowledged sends a claim carries: they wait again unless its script ran
/// (also when the claim is dropped midway, its client gone).
struct Carried<'a> {
    acks: Vec<Ack>,
    home: &'a Acknowledged,
}

impl Drop for Carried<'_> {
    fn drop(&mut self) {
        self.home.put(std::mem::take(&mut self.acks));
    }
}

/// Records acknowledged sends and releases their locks (one round trip).
async fn write(conn: &ConnectionManager, acks: Vec<Ack>) {
    if acks.is_empty() {
        return;
    }
    let mut pipe = redis::pipe();
    pipe.atomic();
    for ack in &acks {
        pipe.set_ex(
            ack.send.record(),
            format!("{SENT}{}", ack.message_json),
            ack.ttl,
        )
        .ignore()
        .del(ack.send.lock())
        .ignore();
    }
    let result: Result<(), _> = pipe.query_async(&mut conn.clone()).await;
    if let Err(error) = result {
        tracing::warn!(%error, sends = acks.len(), "could not record sent client_uuids; a retry publishes them again (same messages)");
    }
}

/// Record what waited, then lock, look, plan. KEYS lock, record, then each
/// acknowledged send's record and lock; ARGV in-flight TTL, message, TTL,
/// then each acknowledged send's TTL and message.
static CLAIM_SEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for j = 1, (#KEYS - 2) / 2 do
  redis.call('SET', KEYS[1 + 2 * j], 'sent:' .. ARGV[3 + 2 * j], 'EX', ARGV[2 + 2 * j])
  redis.call('DEL', KEYS[2 + 2 * j])
end
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
    /// Acknowledged sends' records waiting in this process go first, in the
    /// same round trip.
    pub async fn claim_send(
        &self,
        send: SendKey,
        in_flight_ttl: u64,
        message_json: &str,
        ttl: u64,
    ) -> SendClaim {
        let mut carried = Carried {
            acks: self.acknowledged.take(),
            home: &self.acknowledged,
        };
        let mut claim = CLAIM_SEND.prepare_invoke();
        claim
            .key(send.lock())
            .key(send.record())
            .arg(in_flight_ttl)
            .arg(message_json)
            .arg(ttl);
        for ack in &carried.acks {
            claim
                .key(ack.send.record())
                .key(ack.send.lock())
                .arg(ack.ttl)
                .arg(&ack.message_json);
        }
        let claimed: Result<Vec<String>, _> = claim.invoke_async(&mut self.conn.clone()).await;
        if claimed.is_ok() {
            carried.acks.clear();
        }
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
    /// attempt's lock goes. Written with the next claim, or after the delay
    /// (`CACHE__ACKNOWLEDGED_WRITE_DELAY_MS`; 0: now, one round trip).
    pub async fn complete_send(&self, send: SendKey, message_json: &str, ttl: u64) {
        let ack = Ack {
            send,
            message_json: message_json.to_owned(),
            ttl,
        };
        let acknowledged = &self.acknowledged;
        if acknowledged.delay.is_zero() {
            return write(&self.conn, vec![ack]).await;
        }
        acknowledged.writer.get_or_init(|| {
            tokio::spawn(acknowledged.clone().write_late(self.conn.clone()));
        });
        acknowledged.put(vec![ack]);
    }

    /// Writes the acknowledged sends' records that wait, after a late write
    /// under way (before shutting down).
    pub async fn write_acknowledged(&self) {
        let _writing = self.acknowledged.writing.lock().await;
        write(&self.conn, self.acknowledged.take()).await;
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
