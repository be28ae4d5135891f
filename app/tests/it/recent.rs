//! The newest messages of each chat in Redis (`store::redis::recent`): the newest
//! history page served without a DynamoDB query, kept consistent with the
//! sink's writes, never to a non-member.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use harmony::{domain::message::ChatMessage, store::dynamodb::HistoryPage};
use serde_json::Value;
use uuid::Uuid;

use crate::client::TestApp;

fn message(chat_id: Uuid, n: u32) -> ChatMessage {
    ChatMessage {
        chat_id,
        // ULIDs sort by their text; these do too.
        ulid: format!("01KBZ0000000000000000{n:05}"),
        client_uuid: None,
        timestamp: "2026-12-01T10:00:00".into(),
        user_id: Uuid::nil(),
        content: format!("m{n}"),
        ..ChatMessage::default()
    }
}

fn contents(page: &HistoryPage) -> Vec<&str> {
    page.messages.iter().map(|m| m.content.as_str()).collect()
}

/// A fill that read DynamoDB before the sink wrote a message is dropped, so
/// the cached page can never miss that message (with the version check
/// removed from the fill script this was seen failing: the stale page was
/// filled). Writes reach a filled chat once each, the newest `size` are kept,
/// and a purge forgets the chat.
#[tokio::test]
async fn fills_never_hide_a_write_and_writes_reach_filled_chats() {
    let t = TestApp::spawn().await;
    let recent = &t.app.recent;
    let chat = Uuid::new_v4();
    assert!(recent.newest(chat, 50).await.is_none(), "not filled yet");

    let before = recent.version(chat).await.expect("redis reachable");
    recent.append(&[message(chat, 1)]).await.unwrap(); // the sink, meanwhile
    let stale = HistoryPage {
        messages: vec![],
        more: false,
    };
    assert!(
        !recent.fill(chat, &before, &stale).await,
        "a racing fill is dropped"
    );
    assert!(recent.newest(chat, 50).await.is_none());

    let now = recent.version(chat).await.unwrap();
    let fresh = HistoryPage {
        messages: vec![message(chat, 1)],
        more: false,
    };
    assert!(recent.fill(chat, &now, &fresh).await);
    recent
        .append(&[message(chat, 2), message(chat, 2)])
        .await
        .unwrap();
    let page = recent.newest(chat, 50).await.unwrap();
    assert_eq!(contents(&page), ["m2", "m1"]);
    assert!(!page.more);
    let page = recent.newest(chat, 1).await.unwrap();
    assert_eq!((contents(&page), page.more), (vec!["m2"], true));

    let many: Vec<ChatMessage> = (3..=60).map(|n| message(chat, n)).collect();
    recent.append(&many).await.unwrap();
    let page = recent.newest(chat, 50).await.unwrap();
    assert_eq!(page.messages.len(), 50);
    assert_eq!(
        (
            page.messages[0].content.as_str(),
            page.messages[49].content.as_str()
        ),
        ("m60", "m11")
    );
    assert!(page.more, "older messages exist beyond the kept ones");

    recent.purge(chat).await.unwrap();
    assert!(recent.newest(chat, 50).await.is_none());
}

async fn page(t: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let reply = t.get(path).bearer(token).send().await;
    (reply.status, reply.body)
}

/// The newest page is served from Redis: with the chat's items deleted from
/// DynamoDB behind Harmony's back, it is still whole (reading DynamoDB for
/// every page, as before, this was seen failing with an empty page), while
/// an older page, by cursor, comes from DynamoDB. A non-member is refused
/// before any page is read.
#[tokio::test]
async fn the_newest_page_comes_from_redis_and_only_for_members() {
    // A cache call slower than its timeout reads DynamoDB instead (by
    // design): on a machine busy with the whole suite that once answered
    // the last page from the emptied table. The test is about where the
    // page comes from, not about timeouts.
    let t = TestApp::with_sink_and_config(|config| config.redis.request_timeout_ms = 10_000).await;
    let ann = t.user("ann").await;
    let eve = t.user("eve").await;
    let chat = t.chat(&ann, &[]).await;
    let path = format!("/api/v1/chats/{chat}");
    for n in 1..=3 {
        assert_eq!(
            t.send(&ann, chat, &format!("m{n}")).await.status,
            StatusCode::CREATED
        );
    }
    // Until Redis holds the newest message (the sink writes it there after
    // DynamoDB).
    let started = Instant::now();
    let newest = loop {
        let (status, body) = page(&t, &format!("{path}?limit=2"), &ann.access).await;
        assert_eq!(status, StatusCode::OK);
        let cached = t.app.recent.newest(chat, 2).await;
        if body["messages"][0]["content"] == "m3"
            && cached.is_some_and(|page| page.messages.first().is_some_and(|m| m.content == "m3"))
        {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "history never caught up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(newest["messages"].as_array().unwrap().len(), 2);
    let cursor = newest["next_cursor"]
        .as_str()
        .expect("an older page exists")
        .to_owned();

    let stored = t.app.history.page(chat, 50, None).await.unwrap();
    assert_eq!(stored.messages.len(), 3);
    t.app
        .history
        .delete_messages(&stored.messages.iter().collect::<Vec<_>>())
        .await
        .unwrap();

    assert_eq!(
        page(&t, &format!("{path}?limit=2"), &ann.access).await,
        (StatusCode::OK, newest)
    );
    let (status, older) = page(&t, &format!("{path}?limit=2&cursor={cursor}"), &ann.access).await;
    assert_eq!(
        (status, older["messages"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    let (status, _) = page(&t, &path, &eve.access).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
