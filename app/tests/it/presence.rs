//! The shared presence store against the real Redis.

use std::collections::HashSet;

use harmony::config::Config;
use harmony::store::redis::{
    self,
    presence::{Change, PresenceStore, Present},
};

async fn store() -> PresenceStore {
    let config = Config::load().expect("configuration from the environment");
    PresenceStore::new(
        redis::connect(&config.redis)
            .await
            .expect("redis reachable"),
        redis::open(&config.redis, config.redis.url.expose()).unwrap(),
        1000,
    )
}

/// A refresh rewrites entries and announces nothing; it must still be
/// written. Seen failing with the empty announcements pipeline sent anyway
/// (Redis refuses an empty pipeline: every refresh failed, so entries
/// expired 30 s after their join).
#[tokio::test]
async fn a_refresh_alone_is_written() {
    let store = store().await;
    let channel = format!("chat:{}", uuid::Uuid::new_v4());
    let refresh: Vec<Change> = (0..3)
        .map(|i| Change::Put {
            channel: channel.clone(),
            present: Present {
                user: format!("user-{i}"),
                client: format!("client-{i}"),
            },
            announce: false,
        })
        .collect();
    store
        .apply(&refresh, &mut HashSet::new())
        .await
        .expect("a refresh is written");
    let mut listed: Vec<String> = store
        .list(&channel)
        .await
        .unwrap()
        .into_iter()
        .map(|present| present.client)
        .collect();
    listed.sort();
    assert_eq!(listed, ["client-0", "client-1", "client-2"]);
}
