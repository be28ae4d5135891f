//! How often each Centrifugo connection may say it is typing, counted in
//! Redis so every API replica answering the publish proxy agrees. The rule
//! is the gateway's (`domain::typing`): `BURST` at once, then `PER_SECOND`.
//!
//! One key per connection, `typing:<client>`, holds the time (Redis's clock,
//! milliseconds) at which its allowance would be whole again (GCRA, the
//! token bucket kept as one number). A refused publication changes nothing;
//! the key expires when the allowance is whole.

use std::sync::LazyLock;

use redis::{Script, aio::ConnectionManager};

use crate::domain::typing::{BURST, PER_SECOND};

/// KEYS[1] the connection's key; ARGV[1] the interval (ms) one publication
/// costs; ARGV[2] the burst. 1 when allowed (and counted), 0 when refused.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval = tonumber(ARGV[1])
local full_at = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
if full_at - now > interval * (tonumber(ARGV[2]) - 1) then return 0 end
full_at = full_at + interval
redis.call('SET', KEYS[1], full_at, 'PX', full_at - now)
return 1
",
    )
});

#[derive(Clone)]
pub struct TypingLimit {
    conn: ConnectionManager,
}

impl TypingLimit {
    pub fn new(conn: ConnectionManager) -> Self {
        Self { conn }
    }

    /// Counts one publication of connection `client`; false when over the rate.
    pub async fn take(&self, client: &str) -> redis::RedisResult<bool> {
        let mut conn = self.conn.clone();
        let allowed: i64 = TAKE
            .key(format!("typing:{client}"))
            .arg(1000 / PER_SECOND)
            .arg(BURST)
            .invoke_async(&mut conn)
            .await?;
        Ok(allowed == 1)
    }
}
