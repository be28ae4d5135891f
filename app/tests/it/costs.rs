//! The hot paths' fixed costs, counted rather than timed, so the check holds
//! on a busy machine: the Redis commands one send and one newest history
//! page issue, read from a private Redis's `INFO commandstats`. An extra
//! round trip (a regression of the send path, bench/README.md) fails it.

use std::{collections::BTreeMap, process::Stdio, time::Duration};

use axum::http::StatusCode;
use harmony::config::Secret;
use serde_json::json;

use crate::client::TestApp;

/// A `redis-server` of this test's own, on a free port, without persistence.
struct PrivateRedis {
    child: tokio::process::Child,
    url: String,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (scripts/services.sh installs it)");
        let url = format!("redis://127.0.0.1:{port}/0");
        let client = redis::Client::open(url.as_str()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while client.get_multiplexed_async_connection().await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the private redis answers");
        Self { child, url }
    }

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
            .filter(|(name, _)| name != "info" && name != "hello" && name != "client|setinfo")
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

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn counts(expected: &[(&str, u64)]) -> BTreeMap<String, u64> {
    expected
        .iter()
        .map(|(name, calls)| ((*name).to_owned(), *calls))
        .collect()
}

/// A send with a `client_uuid`: the author's profile and the membership (one
/// GET each), the claim (one script: lock, look, plan) and the
/// acknowledgement with the lock's release (one MULTI pipeline): 4 round
/// trips. The newest history page: profile and membership, then one script
/// (no DynamoDB query; the page here is empty, so no authors' MGET). (One
/// more cache read added to the send path was seen failing it: `get` 4.)
#[tokio::test]
async fn a_send_and_a_newest_page_cost_a_fixed_number_of_redis_commands() {
    let redis = PrivateRedis::start().await;
    let url = redis.url.clone();
    let t = TestApp::with_config(move |config| config.redis.url = Secret::new(url)).await;
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

    assert_eq!(
        redis.spent_by(send()).await,
        // Commands a script runs count too: its SET NX, GET and SET.
        counts(&[
            ("get", 3),
            ("set", 2),
            ("evalsha", 1),
            ("multi", 1),
            ("setex", 1),
            ("del", 1),
            ("exec", 1)
        ])
    );
    // The page's script: the filled marker's GET, ZCARD, ZREVRANGE.
    assert_eq!(
        redis.spent_by(read()).await,
        counts(&[("get", 3), ("zcard", 1), ("zrevrange", 1), ("evalsha", 1)])
    );
}
