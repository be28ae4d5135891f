//! The hot paths' fixed costs, counted rather than timed, so the check holds
//! on a busy machine: the Redis commands sends and one newest history
//! page issue, read from a private Redis's `INFO commandstats`. An extra
//! round trip (a regression of the send path, bench/README.md) fails it.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use harmony::config::Secret;
use serde_json::json;

use crate::{client::TestApp, support::PrivateRedis};

impl PrivateRedis {
    /// Calls per command so far, `info` itself left out.
    async fn commands(&self) -> BTreeMap<String, u64> {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .unwrap();
        info.lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats
                    .strip_prefix("calls=")?
                    .split(',')
                    .next()?
                    .parse()
                    .ok()?;
                Some((name.to_owned(), calls))
            })
            // The local copy's liveness check pings once a second, whatever the load.
            .filter(|(name, _)| {
                !["info", "hello", "client|setinfo", "ping"].contains(&name.as_str())
            })
            .collect()
    }

    async fn spent_by<F: std::future::Future>(&self, work: F) -> BTreeMap<String, u64> {
        let before = self.commands().await;
        work.await;
        let after = self.commands().await;
        after
            .into_iter()
            .map(|(name, calls)| {
                (
                    name.clone(),
                    calls - before.get(&name).copied().unwrap_or(0),
                )
            })
            .filter(|(_, calls)| *calls > 0)
            .collect()
    }
}

fn counts(expected: &[(&str, u64)]) -> BTreeMap<String, u64> {
    expected
        .iter()
        .map(|(name, calls)| ((*name).to_owned(), *calls))
        .collect()
}

/// Sends with a `client_uuid`, warm: the author's profile and the
/// membership come from the API's local copy (no command); each send's
/// claim (one script: record what waited, lock, look, plan) also records the
/// send acknowledged before it, so two sends in a row take 2 round trips,
/// and the last one's record is written after the delay (one MULTI
/// pipeline). The newest history page: one script (no DynamoDB query; the
/// page here is empty, so no authors' MGET). (With the local copy off, `get`
/// rose and the test failed; with `CACHE__ACKNOWLEDGED_WRITE_DELAY_MS=0`
/// each send also ran its own MULTI and the test failed.)
#[tokio::test]
async fn a_send_and_a_newest_page_cost_a_fixed_number_of_redis_commands() {
    let redis = PrivateRedis::start().await;
    let url = redis.url.clone();
    let t = TestApp::with_config(move |config| {
        config.redis.url = Secret::new(url);
        // Far longer than the test (past the setting's checked maximum,
        // which TestApp does not apply): only the claims and
        // `write_acknowledged` write, however slow the machine.
        config.cache.acknowledged_write_delay_ms = 600_000;
    })
    .await;
    let ann = t.user("ann").await;
    let chat = t.chat(&ann, &[]).await;
    let path = format!("/api/v1/chats/{chat}");
    let send = || async {
        let reply = t
            .post(&path)
            .bearer(&ann.access)
            .json(json!({ "content": "hello", "client_uuid": uuid::Uuid::new_v4() }))
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    };
    let read = || async {
        let reply = t.get(&path).bearer(&ann.access).send().await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    };
    // Warm: caches filled, scripts loaded, the chat's recent messages filled.
    send().await;
    read().await;
    read().await;
    t.app.cache.write_acknowledged().await;

    assert_eq!(
        redis
            .spent_by(async {
                send().await;
                send().await;
            })
            .await,
        // Commands a script runs count too: each claim's SET NX, GET and SET
        // of the plan; the second's SET and DEL of the first's record and lock.
        counts(&[("evalsha", 2), ("get", 2), ("set", 5), ("del", 1)])
    );
    assert_eq!(
        redis.spent_by(t.app.cache.write_acknowledged()).await,
        counts(&[("multi", 1), ("setex", 1), ("del", 1), ("exec", 1)])
    );
    // The page's script: the filled marker's GET, ZCARD, ZREVRANGE.
    assert_eq!(
        redis.spent_by(read()).await,
        counts(&[("get", 1), ("zcard", 1), ("zrevrange", 1), ("evalsha", 1)])
    );
}
