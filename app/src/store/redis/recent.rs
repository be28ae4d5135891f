//! The newest messages of each chat, in Redis, so the newest history page
//! (what nearly every read asks for) needs no DynamoDB query.
//!
//! Per chat: a sorted set of `<ulid><message JSON>` (one score, so members
//! sort by ULID; a message written twice is one member), a marker saying the
//! set was filled and whether older messages exist beyond it, and a version
//! every write bumps. The sink adds what it wrote to DynamoDB (only to a
//! filled set, keeping the newest `size`) and replaces the member of a
//! message it changed (edit, deletion, reactions, a reply's quote); a read
//! miss fills the set from DynamoDB only if no write happened since it read
//! the version, so a fill can never drop a message written meanwhile nor
//! bring back an old state. Deleting a chat purges it. Besides, each chat
//! keeps the ULID of its newest stored message (`0` for a chat created
//! without any), so counting unread messages can skip chats with nothing new.

use std::sync::LazyLock;

use redis::{Script, Value, aio::ConnectionManager};
use uuid::Uuid;

use crate::domain::message::ChatMessage;
use crate::store::dynamodb::HistoryPage;

/// A ULID is 26 characters: the member's JSON starts after it.
const ULID_LEN: usize = 26;

#[derive(Clone)]
pub struct RecentHistory {
    conn: ConnectionManager,
    size: usize,
    ttl: u64,
}

/// The chat's keys, in one Redis Cluster slot (the `{...}` hash tag) so one
/// script may use all five.
fn keys(chat_id: Uuid) -> [String; 5] {
    [
        format!("recent:{{{chat_id}}}"),
        format!("recent:{{{chat_id}}}:filled"),
        format!("recent:{{{chat_id}}}:version"),
        newest_key(chat_id),
        sent_key(chat_id),
    ]
}

/// Per member of the chat, the ULID of the newest message they sent that
/// is stored: what comes before it counts as read (sending reads a chat).
/// Kept without expiry, like the newest.
fn sent_key(chat_id: Uuid) -> String {
    format!("recent:{{{chat_id}}}:sent")
}

/// The ULID of the chat's newest stored message; kept without expiry (a
/// missing key means "unknown", never "none").
fn newest_key(chat_id: Uuid) -> String {
    format!("recent:{{{chat_id}}}:newest")
}

fn member(message: &ChatMessage) -> Result<String, serde_json::Error> {
    Ok(format!(
        "{}{}",
        message.ulid,
        serde_json::to_string(message)?
    ))
}

/// ARGV: size, ttl, the number of stored messages, the number of changed
/// messages, then the stored messages (each replaces its member or is
/// added), then changed messages (each replaces its member only: one absent
/// is older than the kept ones), then the stored messages' authors.
/// A member is found by its ULID prefix: `[ulid` to `(ulid\xff` in lex order.
static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 2 * tonumber(ARGV[2]))
local stored = 4 + tonumber(ARGV[3])
local members = stored + tonumber(ARGV[4])
local newest = redis.call('GET', KEYS[4]) or ''
for i = 5, stored do
  local ulid = string.sub(ARGV[i], 1, 26)
  if ulid > newest then newest = ulid end
  local author = ARGV[members + i - 4]
  local sent = redis.call('HGET', KEYS[5], author)
  if not sent or ulid > sent then redis.call('HSET', KEYS[5], author, ulid) end
end
if newest ~= '' then redis.call('SET', KEYS[4], newest) end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
for i = 5, members do
  local ulid = string.sub(ARGV[i], 1, 26)
  local present = redis.call('ZREMRANGEBYLEX', KEYS[1], '[' .. ulid, '(' .. ulid .. '\255')
  if i <= stored or present > 0 then redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
end
local n = redis.call('ZCARD', KEYS[1])
local size = tonumber(ARGV[1])
if n > size then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - size - 1)
  redis.call('SET', KEYS[2], '1')
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1",
    )
});

static FILL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if (redis.call('GET', KEYS[3]) or '') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 4, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
if #ARGV >= 4 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1",
    )
});

static NEWEST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local older = redis.call('GET', KEYS[2])
if not older then return false end
return {older, redis.call('ZCARD', KEYS[1]), redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)}",
    )
});

static PURGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4], KEYS[5])
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 2 * tonumber(ARGV[1]))
return 1",
    )
});

impl RecentHistory {
    pub fn new(conn: ConnectionManager, config: &harmony_config::CacheConfig) -> Self {
        Self {
            conn,
            size: config.recent_messages,
            ttl: config.recent_messages_ttl_seconds,
        }
    }

    /// The Redis connection, for readiness checks.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Pages up to this many messages can be served from here.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Adds messages the sink wrote to DynamoDB to their chats' filled sets
    /// (every chat's version moves on either way). An error must stop the
    /// batch from being committed: the replay adds them again.
    pub async fn append(&self, messages: &[ChatMessage]) -> anyhow::Result<()> {
        self.update(messages, &[]).await
    }

    /// Brings the filled sets up to date with a batch the sink wrote to
    /// DynamoDB, one script per chat: each of `stored` (messages as stored
    /// now) replaces its member by ULID or is added, keeping the newest
    /// `size`; each of `changed` replaces its member if there is one. Every
    /// chat's version moves on, so a fill that read DynamoDB before is void.
    /// An error must stop the batch from being committed (the replay writes
    /// the same again).
    pub async fn update(
        &self,
        stored: &[ChatMessage],
        changed: &[ChatMessage],
    ) -> anyhow::Result<()> {
        if self.size == 0 {
            return Ok(());
        }
        #[derive(Default)]
        struct Batch {
            stored: Vec<String>,
            changed: Vec<String>,
            authors: Vec<String>,
        }
        let mut by_chat: std::collections::BTreeMap<Uuid, Batch> = Default::default();
        for message in stored {
            let batch = by_chat.entry(message.chat_id).or_default();
            batch.stored.push(member(message)?);
            batch.authors.push(message.user_id.to_string());
        }
        for message in changed {
            by_chat
                .entry(message.chat_id)
                .or_default()
                .changed
                .push(member(message)?);
        }
        let mut conn = self.conn.clone();
        for (chat_id, batch) in by_chat {
            let mut call = UPDATE.prepare_invoke();
            call.key(&keys(chat_id))
                .arg(self.size)
                .arg(self.ttl)
                .arg(batch.stored.len())
                .arg(batch.changed.len())
                .arg(batch.stored)
                .arg(batch.changed)
                .arg(batch.authors);
            let _: i64 = call.invoke_async(&mut conn).await?;
        }
        Ok(())
    }

    /// The newest `limit` messages of a filled chat, or `None` (not filled,
    /// or Redis unreachable: the caller reads DynamoDB).
    pub async fn newest(&self, chat_id: Uuid, limit: usize) -> Option<HistoryPage> {
        let mut conn = self.conn.clone();
        let reply: Value = NEWEST
            .key(&keys(chat_id))
            .arg(limit)
            .invoke_async(&mut conn)
            .await
            .inspect_err(
                |error| tracing::warn!(%error, "recent messages unreadable; reading DynamoDB"),
            )
            .ok()?;
        let (older, count, members): (String, usize, Vec<String>) =
            redis::from_redis_value(reply).ok()?;
        let messages = members
            .iter()
            .map(|m| serde_json::from_str(m.get(ULID_LEN..).unwrap_or_default()))
            .collect::<Result<Vec<ChatMessage>, _>>()
            .ok()?;
        Some(HistoryPage {
            more: count > limit || older == "1",
            messages,
        })
    }

    /// The chat's version before a read from DynamoDB; `None` if Redis is
    /// unreachable (then nothing is filled).
    pub async fn version(&self, chat_id: Uuid) -> Option<String> {
        let mut conn = self.conn.clone();
        let [_, _, version, _, _] = keys(chat_id);
        redis::cmd("GET")
            .arg(version)
            .query_async::<Option<i64>>(&mut conn)
            .await
            .ok()
            .map(|v| v.map(|v| v.to_string()).unwrap_or_default())
    }

    /// Fills the chat with its newest page read from DynamoDB, unless a write
    /// happened since `version` was read. True when filled.
    pub async fn fill(&self, chat_id: Uuid, version: &str, page: &HistoryPage) -> bool {
        let Ok(members) = page
            .messages
            .iter()
            .map(member)
            .collect::<Result<Vec<_>, _>>()
        else {
            return false;
        };
        let mut conn = self.conn.clone();
        FILL.key(&keys(chat_id))
            .arg(version)
            .arg(self.ttl)
            .arg(if page.more { "1" } else { "0" })
            .arg(members)
            .invoke_async::<i64>(&mut conn)
            .await
            .is_ok_and(|filled| filled == 1)
    }

    /// Records that a new chat has no message yet (unless the sink already
    /// stored one). Nothing when the cache is off: the sink keeps no newest then.
    pub async fn mark_empty(&self, chat_id: Uuid) -> redis::RedisResult<()> {
        if self.size == 0 {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(newest_key(chat_id))
            .arg("0")
            .arg("NX")
            .query_async::<()>(&mut conn)
            .await
    }

    /// Per chat: the ULID of its newest stored message (`0`: none) and of
    /// the newest one `reader` sent; `None` where unknown (never recorded,
    /// or Redis unreachable). One round trip.
    pub async fn newest_and_sent(
        &self,
        chat_ids: &[Uuid],
        reader: Uuid,
    ) -> Vec<(Option<String>, Option<String>)> {
        if self.size == 0 || chat_ids.is_empty() {
            return vec![(None, None); chat_ids.len()];
        }
        let mut pipe = redis::pipe();
        for chat_id in chat_ids {
            pipe.get(newest_key(*chat_id));
            pipe.hget(sent_key(*chat_id), reader.to_string());
        }
        let mut conn = self.conn.clone();
        let answers: Vec<Option<String>> = pipe
            .query_async(&mut conn)
            .await
            .inspect_err(
                |error| tracing::warn!(%error, "newest messages unknown; counting in DynamoDB"),
            )
            .unwrap_or_else(|_| vec![None; 2 * chat_ids.len()]);
        answers
            .chunks(2)
            .map(|pair| (pair[0].clone(), pair.get(1).cloned().flatten()))
            .collect()
    }

    /// Forgets a deleted chat's messages (and voids any fill in flight).
    pub async fn purge(&self, chat_id: Uuid) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        PURGE
            .key(&keys(chat_id))
            .arg(self.ttl)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
    }
}
