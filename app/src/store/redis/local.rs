//! A process-local copy of the cache keys read on every request (profiles,
//! membership answers), kept coherent by Redis client tracking: the server
//! remembers which keys this process read and pushes an invalidation when
//! any client changes one, and the copy drops it. A send or a history page
//! then needs no Redis round trip to authenticate and authorize.
//!
//! Coherence, case by case:
//! - a key changed after it was copied: the server's invalidation drops it
//!   (it arrives within the connection's latency, like any cache write);
//! - a change by this process: dropped before the command answers, so the
//!   caller's next request sees it;
//! - a change racing the read that copies it: every invalidation moves a
//!   generation, and a read keeps its value only if the generation did not
//!   move since the read was sent (`State::fill`);
//! - the tracking connection lost (the server forgets what it tracked): the
//!   whole copy goes, on the client's disconnection notice or when the
//!   once-a-second liveness check fails (a silent network partition);
//! - tracking is switched on with every read, so a reconnected connection
//!   never serves an untracked read.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    time::{Duration, Instant},
};

use harmony_config::RedisConfig;
use hashlink::LruCache;
use redis::{
    IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value, aio::ConnectionManager,
};

/// How often the tracking connection is checked for a silent partition.
const LIVENESS_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct LocalCopy {
    state: Arc<Mutex<State>>,
    conn: ConnectionManager,
}

struct State {
    entries: LruCache<String, Entry>,
    /// Moves with every invalidation and every loss of the connection.
    generation: u64,
}

struct Entry {
    value: String,
    expires: Instant,
}

impl State {
    fn new(capacity: usize) -> Self {
        Self {
            entries: LruCache::new(capacity),
            generation: 0,
        }
    }

    fn lookup(&mut self, key: &str) -> Result<String, u64> {
        match self.entries.get(key) {
            Some(entry) if entry.expires > Instant::now() => Ok(entry.value.clone()),
            Some(_) => {
                self.entries.remove(key);
                Err(self.generation)
            }
            None => Err(self.generation),
        }
    }

    /// Keeps a value read when the generation was `read_at`, unless an
    /// invalidation came since (it may have been for this key).
    fn fill(&mut self, key: &str, value: &str, ttl: Duration, read_at: u64) {
        if self.generation == read_at {
            self.entries.insert(
                key.to_owned(),
                Entry {
                    value: value.to_owned(),
                    expires: Instant::now() + ttl,
                },
            );
        }
    }

    fn invalidate<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        self.generation += 1;
        for key in keys {
            self.entries.remove(key);
        }
    }

    fn clear(&mut self) {
        self.generation += 1;
        self.entries.clear();
    }
}

impl LocalCopy {
    /// A tracking connection of its own (RESP3, so invalidations arrive on
    /// it); `None` when `entries` is 0 (the copy is off).
    pub async fn connect(
        config: &RedisConfig,
        entries: usize,
    ) -> Result<Option<Self>, super::RedisError> {
        if entries == 0 {
            return Ok(None);
        }
        let state = Arc::new(Mutex::new(State::new(entries)));
        let info = config
            .url
            .expose()
            .into_connection_info()
            .map_err(super::RedisError::from)?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = super::open(config, info.set_redis_settings(settings))?;
        let pushes = Arc::downgrade(&state);
        let manager_config = super::manager_config(config).set_push_sender(
            move |push: PushInfo| -> Result<(), std::convert::Infallible> {
                if let Some(state) = pushes.upgrade() {
                    apply(&mut lock(&state), push);
                }
                Ok(())
            },
        );
        let conn = ConnectionManager::new_with_config(client, manager_config)
            .await
            .map_err(super::RedisError::from)?;
        tokio::spawn(watch_liveness(Arc::downgrade(&state), conn.clone()));
        Ok(Some(Self { state, conn }))
    }

    /// The key's value, from the copy or (then copied for at most `ttl`) from Redis.
    pub async fn get(&self, key: &str, ttl: Duration) -> redis::RedisResult<Option<String>> {
        let read_at = match lock(&self.state).lookup(key) {
            Ok(value) => return Ok(Some(value)),
            Err(generation) => generation,
        };
        let (value,): (Option<String>,) = redis::pipe()
            .cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .ignore()
            .get(key)
            .query_async(&mut self.conn.clone())
            .await?;
        if let Some(value) = &value {
            lock(&self.state).fill(key, value, ttl, read_at);
        }
        Ok(value)
    }

    /// Drops keys this process changed, so its own next read sees the change.
    pub fn forget(&self, keys: impl IntoIterator<Item = String>) {
        let keys: Vec<String> = keys.into_iter().collect();
        lock(&self.state).invalidate(keys.iter().map(String::as_str));
    }

    /// Whether the copy holds `key` now (for tests).
    pub fn holds(&self, key: &str) -> bool {
        lock(&self.state).lookup(key).is_ok()
    }

    /// The tracking connection's id on the server (for tests that cut it).
    pub async fn client_id(&self) -> redis::RedisResult<i64> {
        redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut self.conn.clone())
            .await
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs on the connection's reader: an invalidation drops its keys (a null
/// list, after FLUSHALL, drops all), a lost connection drops everything.
fn apply(state: &mut State, push: PushInfo) {
    match (push.kind, push.data.first()) {
        (PushKind::Invalidate, Some(Value::Array(keys))) => {
            state.invalidate(keys.iter().filter_map(|key| match key {
                Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
                Value::SimpleString(text) => Some(text.as_str()),
                _ => None,
            }));
        }
        (PushKind::Invalidate, _) | (PushKind::Disconnection, _) => {
            metrics::counter!("harmony_cache_local_copy_dropped_total").increment(1);
            state.clear();
        }
        _ => {}
    }
}

/// A connection cut without a reset (a partition) sends no notice: a
/// liveness check that fails or stalls drops the copy, since invalidations
/// may be lost.
async fn watch_liveness(state: Weak<Mutex<State>>, mut conn: ConnectionManager) {
    loop {
        tokio::time::sleep(LIVENESS_INTERVAL).await;
        let Some(state) = state.upgrade() else { return };
        let ping = redis::cmd("PING");
        let answer = tokio::time::timeout(LIVENESS_INTERVAL, ping.query_async::<String>(&mut conn));
        if !matches!(answer.await, Ok(Ok(_))) {
            tracing::warn!("cache: tracking connection unresponsive; local copy dropped");
            metrics::counter!("harmony_cache_local_copy_dropped_total").increment(1);
            lock(&state).clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    // Removed `self.generation == read_at` in `fill`: the stale value was kept.
    #[test]
    fn a_read_racing_an_invalidation_is_not_kept() {
        let mut state = State::new(10);
        let read_at = state.lookup("user:1").unwrap_err();
        state.invalidate(["user:1"]);
        state.fill("user:1", "old", TTL, read_at);
        assert!(state.lookup("user:1").is_err());

        let read_at = state.lookup("user:1").unwrap_err();
        state.fill("user:1", "new", TTL, read_at);
        assert_eq!(state.lookup("user:1"), Ok("new".to_owned()));
    }

    #[test]
    fn an_invalidation_drops_its_keys_and_a_null_list_drops_all() {
        let mut state = State::new(10);
        for key in ["a", "b", "c"] {
            let read_at = state.lookup(key).unwrap_err();
            state.fill(key, key, TTL, read_at);
        }
        let push = |data| PushInfo {
            kind: PushKind::Invalidate,
            data,
        };
        apply(
            &mut state,
            push(vec![Value::Array(vec![Value::BulkString(b"a".to_vec())])]),
        );
        assert!(state.lookup("a").is_err());
        assert_eq!(state.lookup("b"), Ok("b".to_owned()));
        apply(&mut state, push(vec![Value::Nil]));
        assert!(state.lookup("b").is_err() && state.lookup("c").is_err());
    }

    #[test]
    fn entries_expire_and_the_copy_is_bounded() {
        let mut state = State::new(2);
        let read_at = state.lookup("a").unwrap_err();
        state.fill("a", "a", Duration::ZERO, read_at);
        assert!(state.lookup("a").is_err(), "expired");
        for key in ["x", "y", "z"] {
            let read_at = state.lookup(key).unwrap_err();
            state.fill(key, key, TTL, read_at);
        }
        assert!(state.lookup("x").is_err(), "least recently used went");
        assert_eq!(state.entries.len(), 2);
    }
}
