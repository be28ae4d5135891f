//! The API's local copy of profiles and membership answers
//! (`store::redis::local`) against the real Redis: a change made anywhere reaches
//! it, and it never outlives the tracking that keeps it coherent.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use harmony::{
    config::Secret,
    store::{cache_aside, redis, redis::cache::Cache, redis::local::LocalCopy},
};
use uuid::Uuid;

use crate::{
    client::{TestApp, User},
    support::PrivateRedis,
};

/// Another API process: its own connection, no local copy.
async fn another_process(t: &TestApp) -> Cache {
    let conn = redis::connect(&t.env.config.redis).await.unwrap();
    Cache::new(conn, &t.env.config.cache)
}

fn membership_key(chat: Uuid, user: Uuid) -> String {
    format!("chat:{chat}:members:{user}")
}

/// Polls `condition` until it holds; fails after 3 s.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !condition() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends as `who` until the membership answer is in the copy. A fill may be
/// dropped (an invalidation arrived while it was read, or a late liveness
/// ping cleared the copy on a loaded machine): the copy being careful.
async fn send_until_copied(t: &TestApp, local: &LocalCopy, who: &User, chat: Uuid, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !local.holds(key) {
        assert!(
            Instant::now() < deadline,
            "a send's membership answer was never copied"
        );
        assert_eq!(t.send(who, chat, "hi").await.status, StatusCode::CREATED);
    }
}

/// A member removed by another process is refused here without waiting for
/// the cached answer's TTL: Redis tells this process's tracking connection.
/// (Removed the invalidation branch of `local::apply`: the copy still said
/// "member" after 3 s.)
#[tokio::test]
async fn a_change_made_by_another_process_reaches_the_local_copy() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let bob = t.user("bob").await;
    let chat = t.chat(&ann, &[&bob]).await;
    let local = t
        .app
        .cache
        .local_copy()
        .expect("the API keeps a local copy");
    let key = membership_key(chat, bob.id);
    send_until_copied(&t, local, &bob, chat, &key).await;

    another_process(&t)
        .await
        .set_memberships(chat, &[bob.id], false)
        .await
        .unwrap();
    eventually("the invalidation reached the copy", || !local.holds(&key)).await;
    let refused = t.send(&bob, chat, "still here?").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
}

/// This process's own change is in its copy before the command answers, so
/// the caller's next request sees it without waiting for Redis's notice.
/// Here the notice never comes: the copy is filled from a second Redis that
/// the write does not reach. (Removed `forget_copies` from
/// `Cache::set_memberships` / `set_user`: the copy still held the old answer.)
#[tokio::test]
async fn a_change_made_here_does_not_wait_for_redis_to_tell() {
    let t = TestApp::spawn().await;
    let quiet = PrivateRedis::start().await;
    let mut tracked = t.env.config.redis.clone();
    tracked.url = Secret::new(quiet.url.clone());
    let local = LocalCopy::connect(&tracked, 100).await.unwrap().unwrap();
    let cache = another_process(&t)
        .await
        .with_local_copy(Some(local.clone()));
    let (chat, bob) = (Uuid::new_v4(), t.user("bob").await);
    let (membership, profile) = (membership_key(chat, bob.id), format!("user:{}", bob.id));
    let mut source = redis::connect(&tracked).await.unwrap();
    let bob_profile = cache_aside::user_profile(&t.app.cache, &t.app.db, bob.id).await;
    let profile_json = serde_json::to_string(&bob_profile.unwrap().unwrap()).unwrap();
    let () = ::redis::pipe()
        .set(&membership, "true")
        .ignore()
        .set(&profile, &profile_json)
        .ignore()
        .query_async(&mut source)
        .await
        .unwrap();
    assert_eq!(cache.membership(chat, bob.id).await, Some(true));
    assert!(cache.user(bob.id).await.is_some());
    assert!(
        local.holds(&membership) && local.holds(&profile),
        "both copied"
    );

    cache.set_memberships(chat, &[bob.id], false).await.unwrap();
    assert!(
        !local.holds(&membership),
        "a leave is not served from the copy"
    );
    let mut closed = cache.user(bob.id).await.unwrap();
    closed.tombstone = true;
    cache.set_user(&closed).await.unwrap();
    assert!(
        !local.holds(&profile),
        "a closed account is not served from the copy"
    );
}

/// When the tracking connection is lost, Redis forgets what it was to
/// report, so the copy goes with it: a change made while it was down is
/// seen after. (Removed the disconnection branch of `local::apply`: the copy
/// answered "member" after 3 s; the liveness check does not see a cut that
/// the connection manager has already reconnected.)
#[tokio::test]
async fn a_lost_tracking_connection_drops_the_local_copy() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let bob = t.user("bob").await;
    let chat = t.chat(&ann, &[&bob]).await;
    let local = t.app.cache.local_copy().unwrap();
    let key = membership_key(chat, bob.id);
    send_until_copied(&t, local, &bob, chat, &key).await;

    let id = local.client_id().await.unwrap();
    let mut admin = redis::connect(&t.env.config.redis).await.unwrap();
    let killed: i64 = ::redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed, 1, "the tracking connection was cut");
    eventually("the copy was dropped", || !local.holds(&key)).await;
    another_process(&t)
        .await
        .set_memberships(chat, &[bob.id], false)
        .await
        .unwrap();
    assert_eq!(t.app.cache.membership(chat, bob.id).await, Some(false));
}
