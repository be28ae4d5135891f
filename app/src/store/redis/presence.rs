//! Who is on each chat channel, shared by every gateway instance, and the
//! bus that carries joins, leaves and client publications (typing) between
//! them. A channel's presence is a hash `presence:<channel>`: one field per
//! client, its value the client's info and when the entry expires. The
//! instance holding a client rewrites the entry every `REFRESH`; an entry
//! not rewritten within `TTL` (its instance died) is no longer listed, and
//! the hash itself expires when no instance refreshes any of it.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redis::{AsyncCommands, Client, aio::ConnectionManager};
use serde::{Deserialize, Serialize};

/// How often an instance rewrites the entries of its clients.
pub const REFRESH: Duration = Duration::from_secs(10);
/// An entry not rewritten for this long is gone.
pub const TTL: Duration = Duration::from_secs(30);
/// The Redis pub/sub channel of the bus.
pub const BUS: &str = "harmony:realtime";

/// One client on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Present {
    pub user: String,
    pub client: String,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    present: Present,
    /// Unix milliseconds.
    expires: u64,
}

/// What one instance tells every instance about a channel.
#[derive(Debug, Serialize, Deserialize)]
pub struct Announcement {
    pub channel: String,
    pub user: String,
    pub client: String,
    pub kind: Kind,
    /// A publication's data, JSON as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<serde_json::value::RawValue>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Join,
    Leave,
    Publication,
}

/// One change to the shared state, applied in order.
pub enum Change {
    /// The client is on the channel (again: a refresh); announced if `announce`.
    Put {
        channel: String,
        present: Present,
        announce: bool,
    },
    Remove {
        channel: String,
        present: Present,
    },
    Publish {
        channel: String,
        present: Present,
        data: Bytes,
    },
}

/// Runs `pipe` unless it holds no command (Redis refuses an empty one).
async fn query_unless_empty<T: redis::FromRedisValue + Default>(
    pipe: &redis::Pipeline,
    conn: &mut ConnectionManager,
) -> redis::RedisResult<T> {
    if pipe.cmd_iter().next().is_none() {
        return Ok(T::default());
    }
    pipe.query_async(conn).await
}

fn key(channel: &str) -> String {
    format!("presence:{channel}")
}

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Clone)]
pub struct PresenceStore {
    conn: ConnectionManager,
    client: Client,
    join_leave_limit: usize,
}

impl PresenceStore {
    pub fn new(conn: ConnectionManager, client: Client, join_leave_limit: usize) -> Self {
        Self {
            conn,
            client,
            join_leave_limit,
        }
    }

    /// Applies `changes` in their order: first every write, then what they
    /// announce (a join is written before it is announced, so whoever hears
    /// it finds it listed). A join is announced only when its channel then
    /// holds at most `join_leave_limit` clients (on a channel of N clients
    /// each one is N pushes, so a reconnect storm on a big channel would
    /// cost N²), and a leave exactly when its join was: `announced` holds
    /// this instance's announced (channel, client) pairs across calls.
    pub async fn apply(
        &self,
        changes: &[Change],
        announced: &mut HashSet<(String, String)>,
    ) -> redis::RedisResult<()> {
        let expires = now_ms() + u64::try_from(TTL.as_millis()).unwrap_or(u64::MAX);
        let key_ttl = i64::try_from(TTL.as_secs() * 2).unwrap_or(i64::MAX);
        let mut writes = redis::pipe();
        for change in changes {
            match change {
                Change::Put {
                    channel,
                    present,
                    announce,
                } => {
                    let entry = Entry {
                        present: present.clone(),
                        expires,
                    };
                    let value = serde_json::to_string(&entry).unwrap_or_default();
                    writes.hset(key(channel), &present.client, value).ignore();
                    writes.expire(key(channel), key_ttl).ignore();
                    if *announce {
                        writes.hlen(key(channel));
                    }
                }
                Change::Remove { channel, present } => {
                    writes.hdel(key(channel), &present.client).ignore();
                }
                Change::Publish { .. } => {}
            }
        }
        let mut conn = self.conn.clone();
        let counts: Vec<usize> = query_unless_empty(&writes, &mut conn).await?;
        let mut counts = counts.into_iter();
        let mut announcements = redis::pipe();
        for change in changes {
            let text = match change {
                Change::Put {
                    channel,
                    present,
                    announce: true,
                } => (counts.next().unwrap_or(0) <= self.join_leave_limit
                    && announced.insert((channel.clone(), present.client.clone())))
                .then(|| announcement(channel, present, Kind::Join, None)),
                Change::Put { .. } => None,
                Change::Remove { channel, present } => announced
                    .remove(&(channel.clone(), present.client.clone()))
                    .then(|| announcement(channel, present, Kind::Leave, None)),
                Change::Publish {
                    channel,
                    present,
                    data,
                } => serde_json::from_slice(data)
                    .ok()
                    .map(|data| announcement(channel, present, Kind::Publication, Some(data))),
            };
            if let Some(text) = text {
                announcements.publish(BUS, text).ignore();
            }
        }
        query_unless_empty::<()>(&announcements, &mut conn).await?;
        Ok(())
    }

    /// The clients on `channel` now; expired entries are dropped on the way.
    pub async fn list(&self, channel: &str) -> redis::RedisResult<Vec<Present>> {
        let mut conn = self.conn.clone();
        let fields: Vec<(String, String)> = conn.hgetall(key(channel)).await?;
        let now = now_ms();
        let mut present = Vec::new();
        let mut expired = Vec::new();
        for (client, value) in fields {
            match serde_json::from_str::<Entry>(&value) {
                Ok(entry) if entry.expires > now => present.push(entry.present),
                _ => expired.push(client),
            }
        }
        if !expired.is_empty() {
            conn.hdel::<_, _, ()>(key(channel), expired).await?;
        }
        Ok(present)
    }

    /// A subscription to the bus (its own connection: a subscribed
    /// connection can do nothing else).
    pub async fn listen(&self) -> redis::RedisResult<redis::aio::PubSub> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(BUS).await?;
        Ok(pubsub)
    }
}

fn announcement(
    channel: &str,
    present: &Present,
    kind: Kind,
    data: Option<Box<serde_json::value::RawValue>>,
) -> String {
    serde_json::to_string(&Announcement {
        channel: channel.to_owned(),
        user: present.user.clone(),
        client: present.client.clone(),
        kind,
        data,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_read_back_as_sent() {
        let present = Present {
            user: "u".into(),
            client: "c".into(),
        };
        let typing = r#"{"type":"typing","active":true}"#;
        let data = serde_json::value::RawValue::from_string(typing.into()).unwrap();
        let text = announcement("chat:x", &present, Kind::Publication, Some(data));
        let back: Announcement = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (
                back.channel.as_str(),
                back.user.as_str(),
                back.client.as_str(),
                back.kind
            ),
            ("chat:x", "u", "c", Kind::Publication)
        );
        assert_eq!(
            back.data.map(|d| d.get().to_owned()).as_deref(),
            Some(typing)
        );
        let join: Announcement =
            serde_json::from_str(&announcement("chat:x", &present, Kind::Join, None)).unwrap();
        assert_eq!((join.kind, join.data.is_none()), (Kind::Join, true));
    }
}
