//! Sending, the Kafka record, idempotency, history through the sink.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{client::TestApp, support::read_topic};

async fn records(t: &TestApp, count: usize) -> Vec<(String, Value, String)> {
    read_topic(
        &t.env.config.kafka,
        &t.env.config.topics.messages.name,
        count,
    )
    .await
    .into_iter()
    .map(|record| {
        let channels = record.header("x-centrifugo-channels").unwrap_or_default();
        (record.key, record.value, channels)
    })
    .collect()
}

/// The contents of the first `count` records of the message log.
async fn contents(t: &TestApp, count: usize) -> Vec<String> {
    records(t, count)
        .await
        .into_iter()
        .map(|(_, value, _)| value["content"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_sent_message_is_acknowledged_in_the_original_shape_and_record() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let chat = t.chat(&ann, &[]).await;
    let client_uuid = Uuid::new_v4();
    let reply = t
        .post(&format!("/api/v1/chats/{chat}"))
        .bearer(&ann.access)
        .json(json!({ "content": "hello", "client_uuid": client_uuid }))
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let keys: Vec<&str> = reply
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 6, "no author_metadata in the reply: {keys:?}");
    assert_eq!(reply.body["client_uuid"], client_uuid.to_string());
    assert_eq!(reply.body["ulid"].as_str().unwrap().len(), 26);
    assert!(reply.body["timestamp"].as_str().unwrap().ends_with('Z'));

    let found = records(&t, 1).await;
    let (key, value, channels) = &found[0];
    assert_eq!(key, &chat.to_string());
    assert_eq!(channels, &format!("chat:{chat}"));
    assert_eq!(value["author_metadata"], json!({ "username": "ann" }));
    assert_eq!(value["ulid"], reply.body["ulid"]);
    assert_eq!(value["content"], "hello");
}

/// A retry with the same `client_uuid` gets the original and publishes
/// nothing. The acknowledged send's record waits here (up to a second) to
/// share the next claim's round trip: a retry through the same process is
/// answered from what waits, at once. (Seen failing, 409, with the claim not
/// carrying the waiting records.)
#[tokio::test]
async fn a_retried_send_returns_the_original_and_publishes_once() {
    let t = TestApp::with_config(|config| config.cache.acknowledged_write_delay_ms = 1000).await;
    let ann = t.user("ann").await;
    let chat = t.chat(&ann, &[]).await;
    let path = format!("/api/v1/chats/{chat}");
    let body = json!({ "content": "once", "client_uuid": Uuid::new_v4() });
    let first = t
        .post(&path)
        .bearer(&ann.access)
        .json(body.clone())
        .send()
        .await;
    let retry = t.post(&path).bearer(&ann.access).json(body).send().await;
    assert_eq!(
        (first.status, retry.status),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{}",
        retry.body
    );
    assert_eq!(first.body, retry.body);
    let other = t.send(&ann, chat, "different").await;
    assert_eq!(other.status, StatusCode::CREATED);
    assert_eq!(
        contents(&t, 2).await,
        ["once", "different"],
        "the retry published nothing"
    );
}

/// Through another API process the retry is answered 409 until the record
/// is written, which happens after the delay (3 s here, so the first retry
/// comes well before it on a slow machine) even when no other send
/// follows. (Seen failing, still 409 after the delay, with that late write
/// removed: only the in-flight lock's expiry, 11 s, would have freed it,
/// and the retry would then have published the message again.)
#[tokio::test]
async fn a_retry_through_another_process_gets_the_original_once_the_record_is_written() {
    let t = TestApp::with_config(|config| config.cache.acknowledged_write_delay_ms = 3000).await;
    let replica = t.replica().await;
    let ann = t.user("ann").await;
    let chat = t.chat(&ann, &[]).await;
    let path = format!("/api/v1/chats/{chat}");
    let body = json!({ "content": "once", "client_uuid": Uuid::new_v4() });
    let first = t
        .post(&path)
        .bearer(&ann.access)
        .json(body.clone())
        .send()
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let retry = || {
        replica
            .post(&path)
            .bearer(&ann.access)
            .json(body.clone())
            .send()
    };
    let early = retry().await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);
    // Past the delay, before the in-flight lock's expiry.
    let written_by = Instant::now() + Duration::from_secs(8);
    let late = loop {
        let reply = retry().await;
        if reply.status != StatusCode::CONFLICT || Instant::now() > written_by {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(late.status, StatusCode::CREATED, "{}", late.body);
    assert_eq!(late.body, first.body);
    t.send(&ann, chat, "different").await;
    assert_eq!(
        contents(&t, 2).await,
        ["once", "different"],
        "the retries published nothing"
    );
}

#[tokio::test]
async fn sending_refuses_non_members_and_bad_content() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let eve = t.user("eve").await;
    let chat = t.chat(&ann, &[]).await;
    let reply = t.send(&eve, chat, "hi").await;
    assert_eq!(
        (reply.status, reply.detail()),
        (StatusCode::FORBIDDEN, "User is not a member of this chat.")
    );
    assert_eq!(
        t.send(&ann, Uuid::new_v4(), "hi").await.status,
        StatusCode::FORBIDDEN,
        "unknown chat"
    );
    let path = format!("/api/v1/chats/{chat}");
    for (body, kind) in [
        (json!({ "content": "" }), "string_too_short"),
        (json!({ "content": "   " }), "value_error"),
        (json!({ "content": "x".repeat(4001) }), "string_too_long"),
        (json!({ "content": 5 }), "value_error"),
        (
            json!({ "content": "hi", "client_uuid": "nope" }),
            "value_error",
        ),
        (json!({}), "missing"),
    ] {
        let reply = t
            .post(&path)
            .bearer(&ann.access)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            reply.body["detail"][0]["type"], kind,
            "{body}: {}",
            reply.body
        );
    }
    let reply = t
        .post("/api/v1/chats/not-a-uuid")
        .bearer(&ann.access)
        .json(json!({ "content": "hi" }))
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.loc()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["path".to_owned(), "chat_id".into()]
        )
    );
}

#[tokio::test]
async fn history_is_readable_right_after_sending_and_pages_newest_first() {
    let t = TestApp::with_sink().await;
    let ann = t.user("ann").await;
    let bob = t.user("bob").await;
    let chat = t.chat(&ann, &[&bob]).await;
    let path = format!("/api/v1/chats/{chat}");

    let sent = t.send(&ann, chat, "first").await;
    let started = Instant::now();
    loop {
        let reply = t.get(&path).bearer(&bob.access).send().await;
        if reply.body["messages"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
        {
            assert_eq!(reply.body["messages"][0]["ulid"], sent.body["ulid"]);
            assert_eq!(
                reply.body["messages"][0]["author_metadata"],
                json!({ "username": "ann" })
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not in history within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    for i in 1..5 {
        assert_eq!(
            t.send(if i % 2 == 0 { &ann } else { &bob }, chat, &format!("m{i}"))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let mut contents = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let started = Instant::now();
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit=2&cursor={c}"),
            None => format!("{path}?limit=2"),
        };
        let reply = t.get(&url).bearer(&ann.access).send().await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let page: Vec<String> = reply.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
        if cursor.is_none() && page.first().map(String::as_str) != Some("m4") {
            // The sink has not written the latest yet: start over.
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "history never caught up"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        assert!(!page.is_empty(), "no trailing empty page");
        contents.extend(page);
        pages += 1;
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(contents, ["m4", "m3", "m2", "m1", "first"]);
    assert_eq!(pages, 3);
    // A page size that divides the count exactly: one page, no cursor to an
    // empty one. Seen failing when `next_cursor` was set for every full page.
    let reply = t
        .get(&format!("{path}?limit=5"))
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(reply.body["messages"].as_array().map(Vec::len), Some(5));
    assert_eq!(reply.body["next_cursor"], json!(null), "{}", reply.body);
}

#[tokio::test]
async fn history_refuses_bad_queries_and_non_members() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let eve = t.user("eve").await;
    let chat = t.chat(&ann, &[]).await;
    let path = format!("/api/v1/chats/{chat}");
    let reply = t
        .get(&format!("{path}?limit=51"))
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.detail()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Limit cannot be greater than 50"
        )
    );
    let reply = t
        .get(&format!("{path}?limit=0"))
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(reply.loc(), ["query", "limit"]);
    let reply = t
        .get(&format!("{path}?cursor=not-a-ulid"))
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.loc()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["query".to_owned(), "cursor".into()]
        )
    );
    // 26 characters decode to 130 bits; a ULID's first is at most 7. Seen
    // answered 200 (another page, the excess bits dropped) before the check.
    for cursor in ["8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "zzzzzzzzzzzzzzzzzzzzzzzzzz"] {
        let reply = t
            .get(&format!("{path}?cursor={cursor}"))
            .bearer(&ann.access)
            .send()
            .await;
        assert_eq!(
            (reply.status, reply.loc()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["query".to_owned(), "cursor".into()]
            ),
            "{cursor}"
        );
    }
    // Empty is no cursor, as in the original: the newest page.
    let reply = t
        .get(&format!("{path}?cursor="))
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(reply.body, json!({ "messages": [], "next_cursor": null }));
    let reply = t.get(&path).bearer(&eve.access).send().await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}
