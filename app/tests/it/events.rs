//! The event backbone in-process: relay ordering and wake-up, cdc effects,
//! idempotency and dead letters, the sink's deleted-chat guard.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use harmony::{
    domain::events::OutboxEvent,
    roles::{cdc::Cdc, relay::Relay},
    store::{kafka::reliable_producer, postgres::outbox},
};
use rdkafka::producer::FutureRecord;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{client::TestApp, support::read_topic};

/// Waits until the sink has written at least one message of `chat`.
async fn history_written(t: &TestApp, chat: Uuid, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while t
        .env
        .table
        .page(chat, 10, None)
        .await
        .unwrap()
        .messages
        .is_empty()
    {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A counter of this process's metrics registry (0 when absent).
fn metric(name: &str) -> f64 {
    harmony::telemetry::metrics()
        .render()
        .lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Records in every partition of `topic` (high watermarks; exact on the local broker).
fn records_in(t: &TestApp, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &t.env.config.kafka.bootstrap_servers)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len() as i32;
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(5))
                .unwrap()
                .1
        })
        .sum()
}

fn spawn_relay(t: &TestApp, shutdown: &CancellationToken) {
    spawn_relay_polling_every(t, shutdown, t.env.config.relay.poll_interval_ms);
}

fn spawn_relay_polling_every(t: &TestApp, shutdown: &CancellationToken, poll_ms: u64) {
    let mut config = t.env.config.clone();
    config.relay.poll_interval_ms = poll_ms;
    let relay = Relay::new(&config, t.env.pool.clone()).unwrap();
    tokio::spawn(relay.run(shutdown.clone()));
}

async fn spawn_cdc(t: &TestApp, shutdown: &CancellationToken) {
    let mut config = t.env.config.clone();
    config.cdc.group_id = format!("cdc-{}", t.env.id);
    config.cdc.retry_backoff_ms = 10;
    let cdc = Cdc::new(&config).await.unwrap();
    tokio::spawn(cdc.run(shutdown.clone()));
}

#[tokio::test]
async fn the_relay_publishes_every_event_keyed_by_aggregate_soon_after_commit() {
    let t = TestApp::spawn().await;
    let shutdown = CancellationToken::new();
    // The safety poll is 60 s here: only the NOTIFY wake-up can be this fast.
    spawn_relay_polling_every(&t, &shutdown, 60_000);
    let ann = t.user("ann").await;
    let bob = t.user("bob").await;
    let started = Instant::now();
    let chat = t.chat(&ann, &[&bob]).await;
    assert_eq!(
        t.post(&format!("/api/v1/chats/{chat}/leave"))
            .bearer(&bob.access)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    let chat_events = read_topic(
        &t.env.config.kafka,
        &t.env.config.topics.chat_events.name,
        2,
    )
    .await;
    let elapsed = started.elapsed();
    let types: Vec<&str> = chat_events
        .iter()
        .map(|r| r.value["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["CHAT_CREATED", "USER_LEFT"], "per-aggregate order");
    assert!(chat_events.iter().all(|r| r.key == chat.to_string()));
    assert!(chat_events.iter().all(|r| {
        r.value["event_id"]
            .as_str()
            .is_some_and(|id| Uuid::parse_str(id).is_ok())
    }));
    assert!(chat_events[0].value["created_at"].is_string());
    assert_eq!(
        chat_events[1].value["payload"],
        json!({ "user_id": bob.id })
    );
    let user_events = read_topic(
        &t.env.config.kafka,
        &t.env.config.topics.user_events.name,
        1,
    )
    .await;
    assert_eq!(
        (
            user_events[0].key.as_str(),
            user_events[0].value["event_type"].as_str()
        ),
        (bob.id.to_string().as_str(), Some("LEFT_CHAT"))
    );
    // Woken by NOTIFY, not the (60 s) safety poll. Seen failing with the
    // relay's LISTEN removed: nothing arrived within `read_topic`'s 30 s.
    assert!(elapsed < Duration::from_secs(3), "relay took {elapsed:?}");
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox_events WHERE published_at IS NULL")
            .fetch_one(&t.env.pool)
            .await
            .unwrap();
    assert_eq!(unpublished, 0);
    shutdown.cancel();
}

/// Outbox writers commit in position order: B, appending while A's append
/// is uncommitted, waits for A, so the running relay never publishes B's
/// later position first. Seen failing with the writer lock removed from
/// `outbox::append` (B never waited).
#[tokio::test]
async fn a_transaction_that_commits_late_is_not_overtaken() {
    let t = TestApp::spawn().await;
    let shutdown = CancellationToken::new();
    spawn_relay(&t, &shutdown);
    let chat = Uuid::new_v4();
    let mut early = t.env.pool.begin().await.unwrap();
    outbox::append(&mut early, &[OutboxEvent::user_left(chat, Uuid::new_v4())])
        .await
        .unwrap();
    let pool = t.env.pool.clone();
    let late = tokio::spawn(async move {
        let mut late = pool.begin().await.unwrap();
        let deleted = OutboxEvent::chat_deleted(chat, Uuid::new_v4(), &[]);
        outbox::append(&mut late, &[deleted]).await.unwrap();
        late.commit().await.unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&t.env.pool)
        .await
        .unwrap();
        if waiting == 1 {
            break;
        }
        assert!(!late.is_finished(), "B committed while A was still open");
        assert!(Instant::now() < deadline, "B never waited for A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    early.commit().await.unwrap();
    late.await.unwrap();
    let records = read_topic(
        &t.env.config.kafka,
        &t.env.config.topics.chat_events.name,
        2,
    )
    .await;
    let types: Vec<&str> = records
        .iter()
        .map(|r| r.value["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["USER_LEFT", "CHAT_DELETED"]);
    shutdown.cancel();
}

/// A long transaction that writes no outbox rows (here: one holding a
/// transaction id, as any writer does) does not hold the relay back. Seen
/// failing with the relay's old cut-off at the cluster-wide snapshot xmin:
/// nothing was published while the transaction stayed open.
#[tokio::test]
async fn a_long_transaction_elsewhere_does_not_delay_the_relay() {
    let t = TestApp::spawn().await;
    let shutdown = CancellationToken::new();
    spawn_relay(&t, &shutdown);
    let mut unrelated = t.env.pool.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *unrelated)
        .await
        .unwrap();
    let mut tx = t.env.pool.begin().await.unwrap();
    let event = OutboxEvent::tombstoned(Uuid::new_v4());
    outbox::append(&mut tx, &[event]).await.unwrap();
    tx.commit().await.unwrap();
    let records = read_topic(
        &t.env.config.kafka,
        &t.env.config.topics.user_events.name,
        1,
    )
    .await;
    assert_eq!(records[0].value["event_type"], "TOMBSTONED");
    unrelated.rollback().await.unwrap();
    shutdown.cancel();
}

#[tokio::test]
async fn a_standby_relay_waits_and_takes_over() {
    let t = TestApp::spawn().await;
    let first = CancellationToken::new();
    let second = CancellationToken::new();
    let active = tokio::spawn(
        Relay::new(&t.env.config, t.env.pool.clone())
            .unwrap()
            .run(first.clone()),
    );
    // The first relay holds the leader lock before the second starts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
    )
    .fetch_one(&t.env.pool)
    .await
    .unwrap()
    {
        assert!(Instant::now() < deadline, "the first relay never became active");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let standby = tokio::spawn(
        Relay::new(&t.env.config, t.env.pool.clone())
            .unwrap()
            .run(second.clone()),
    );
    let ann = t.user("ann").await;
    for _ in 0..5 {
        t.chat(&ann, &[]).await;
    }
    read_topic(
        &t.env.config.kafka,
        &t.env.config.topics.chat_events.name,
        5,
    )
    .await;
    // The standby stayed idle: every event is in the topic once, not twice.
    // Seen failing with the relay ignoring `try_lead`'s answer: both relays
    // published the same rows (6 or 7 records for 5 events).
    let deadline = Instant::now() + Duration::from_secs(10);
    while sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM outbox_events WHERE published_at IS NULL AND aggregate_type = 'chat'",
    )
    .fetch_one(&t.env.pool)
    .await
    .unwrap()
        > 0
    {
        assert!(Instant::now() < deadline, "events never marked published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(records_in(&t, &t.env.config.topics.chat_events.name), 5);
    first.cancel();
    active.await.unwrap().unwrap();
    let started = Instant::now();
    t.chat(&ann, &[]).await;
    read_topic(
        &t.env.config.kafka,
        &t.env.config.topics.chat_events.name,
        6,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "takeover took {:?}",
        started.elapsed()
    );
    assert!(!standby.is_finished());
    second.cancel();
}

#[tokio::test]
async fn cdc_applies_events_once_and_dead_letters_poison() {
    let t = TestApp::with_sink().await;
    let shutdown = CancellationToken::new();
    spawn_relay(&t, &shutdown);
    spawn_cdc(&t, &shutdown).await;
    let ann = t.user("ann").await;
    let bob = t.user("bob").await;
    let chat = t.chat(&ann, &[&bob]).await;
    assert_eq!(
        t.send(&ann, chat, "to be purged").await.status,
        StatusCode::CREATED
    );
    // Wait for the sink so there is history to purge.
    let history = t.env.table.clone();
    history_written(&t, chat, "sink never wrote the message").await;

    // A poison record on each outbox topic, between real events.
    let producer = reliable_producer(&t.env.config.kafka).unwrap();
    for topic in [
        &t.env.config.topics.chat_events.name,
        &t.env.config.topics.user_events.name,
    ] {
        producer
            .send(
                FutureRecord::to(topic).key("poison").payload("{not json"),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        t.delete(&format!("/api/v1/chats/{chat}"))
            .bearer(&ann.access)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.delete("/api/v1/users/me")
            .bearer(&bob.access)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    for topic in [
        &t.env.config.topics.chat_events,
        &t.env.config.topics.user_events,
    ] {
        let dead = read_topic(&t.env.config.kafka, &topic.dead_letter().name, 1).await;
        assert_eq!(dead[0].key, "poison");
        assert!(
            dead[0].header("x-error").unwrap().contains("undecodable"),
            "{:?}",
            dead[0].headers
        );
    }
    // Processing went on past the poison: the deletion purged history, the tombstone was applied.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let applied: Vec<String> =
            sqlx::query_scalar("SELECT event_type FROM processed_events ORDER BY event_type")
                .fetch_all(&t.env.pool)
                .await
                .unwrap();
        if applied.iter().any(|e| e == "CHAT_DELETED") && applied.iter().any(|e| e == "TOMBSTONED")
        {
            break;
        }
        assert!(Instant::now() < deadline, "events not applied: {applied:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        history
            .page(chat, 10, None)
            .await
            .unwrap()
            .messages
            .is_empty(),
        "history purged"
    );
    // The cdc's cache effects: the deleted chat's membership answers (which the
    // API had just set to false) are gone, and the closed account is cached as
    // closed. Seen failing with the cdc's `ForgetChat` runner made a no-op.
    let mut cache = t.env.cache.clone();
    for user in [ann.id, bob.id] {
        let answer: Option<String> = redis::cmd("GET")
            .arg(format!("chat:{chat}:members:{user}"))
            .query_async(&mut cache)
            .await
            .unwrap();
        assert_eq!(
            answer, None,
            "membership of {user} in the deleted chat still cached"
        );
    }
    let profile: Option<String> = redis::cmd("GET")
        .arg(format!("user:{}", bob.id))
        .query_async(&mut cache)
        .await
        .unwrap();
    let profile: serde_json::Value =
        serde_json::from_str(&profile.unwrap_or_default()).unwrap_or_default();
    assert_eq!(profile["tombstone"], json!(true), "{profile}");

    // Replaying every event changes nothing: the ledger already has them.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(&t.env.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE outbox_events SET published_at = NULL")
        .execute(&t.env.pool)
        .await
        .unwrap();
    sqlx::query("SELECT pg_notify('harmony_outbox', '')")
        .execute(&t.env.pool)
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox_events")
        .fetch_one(&t.env.pool)
        .await
        .unwrap();
    let chat_rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox_events WHERE aggregate_type = 'chat'")
            .fetch_one(&t.env.pool)
            .await
            .unwrap();
    // Every chat event twice, plus the poison record.
    read_topic(
        &t.env.config.kafka,
        &t.env.config.topics.chat_events.name,
        2 * chat_rows as usize + 1,
    )
    .await;
    // Wait until the cdc consumer has seen every replayed event (it counts the duplicates it skips).
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric("harmony_cdc_duplicates_total") < events as f64 {
        assert!(
            Instant::now() < deadline,
            "cdc skipped {} of {events} replays",
            metric("harmony_cdc_duplicates_total")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(&t.env.pool)
        .await
        .unwrap();
    assert_eq!(before, after, "replayed events were applied again");
    assert_eq!(after, events, "every outbox event applied exactly once");
    shutdown.cancel();
}

#[tokio::test]
async fn the_sink_never_writes_history_back_for_a_deleted_chat() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let chat = t.chat(&ann, &[]).await;
    // Messages in flight: acknowledged, but the sink is not running yet.
    for i in 0..5 {
        assert_eq!(
            t.send(&ann, chat, &format!("in flight {i}")).await.status,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        t.delete(&format!("/api/v1/chats/{chat}"))
            .bearer(&ann.access)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let other = t.chat(&ann, &[]).await;
    assert_eq!(
        t.send(&ann, other, "after").await.status,
        StatusCode::CREATED
    );
    let shutdown = CancellationToken::new();
    let sink = harmony::roles::sink::Sink::new(&t.env.config)
        .await
        .unwrap();
    tokio::spawn(sink.run(shutdown.clone()));
    // Once the later message is written, the earlier ones have been handled.
    history_written(&t, other, "sink never caught up").await;
    assert!(
        t.env
            .table
            .page(chat, 10, None)
            .await
            .unwrap()
            .messages
            .is_empty()
    );
    shutdown.cancel();
}

#[tokio::test]
async fn the_sink_dead_letters_undecodable_records_and_goes_on() {
    let t = TestApp::with_sink().await;
    let ann = t.user("ann").await;
    let chat = t.chat(&ann, &[]).await;
    let producer = reliable_producer(&t.env.config.kafka).unwrap();
    let topic = &t.env.config.topics.messages.name;
    producer
        .send(
            FutureRecord::to(topic)
                .key(&chat.to_string())
                .payload("garbage"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        t.send(&ann, chat, "after the garbage").await.status,
        StatusCode::CREATED
    );
    let dead = read_topic(
        &t.env.config.kafka,
        &t.env.config.topics.messages.dead_letter().name,
        1,
    )
    .await;
    assert_eq!(
        dead[0].header("x-original-topic").as_deref(),
        Some(topic.as_str())
    );
    history_written(&t, chat, "the sink stopped at the poison record").await;
}

/// Retention purges remove exactly what is past its time: refresh tokens a
/// day after they expired, outbox rows `RELAY__RETENTION_HOURS` after they
/// were published, never an unpublished row. Seen failing with either age
/// condition removed (the young rows went too).
#[tokio::test]
async fn purges_remove_only_what_is_past_its_retention() {
    use chrono::{Duration as Age, Utc};
    use harmony::store::postgres::sessions;
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let mut conn = t.env.pool.acquire().await.unwrap();
    for (hash, expires_at) in [
        ("expired-two-days-ago", Utc::now() - Age::days(2)),
        ("expired-an-hour-ago", Utc::now() - Age::hours(1)),
        ("valid", Utc::now() + Age::days(1)),
    ] {
        sessions::insert(&mut conn, hash, ann.id, Uuid::new_v4(), expires_at)
            .await
            .unwrap();
    }
    assert_eq!(sessions::purge_expired(&t.env.pool).await.unwrap(), 1);
    let left: Vec<String> = sqlx::query_scalar(
        "SELECT token_hash FROM refresh_tokens WHERE token_hash = ANY($1) ORDER BY token_hash",
    )
    .bind(["expired-two-days-ago", "expired-an-hour-ago", "valid"])
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(left, ["expired-an-hour-ago", "valid"]);

    let chat = Uuid::new_v4();
    outbox::append(
        &mut conn,
        &[
            OutboxEvent::user_left(chat, ann.id),
            OutboxEvent::user_left(chat, ann.id),
            OutboxEvent::user_left(chat, ann.id),
        ],
    )
    .await
    .unwrap();
    // Oldest published 3 h ago, the next just now, the last never.
    sqlx::query(
        "UPDATE outbox_events SET published_at = now() - CASE position
             WHEN (SELECT min(position) FROM outbox_events WHERE aggregate_id = $1) THEN interval '3 hours'
             ELSE interval '0' END
         WHERE aggregate_id = $1 AND position < (SELECT max(position) FROM outbox_events WHERE aggregate_id = $1)",
    )
    .bind(chat.to_string())
    .execute(&mut *conn)
    .await
    .unwrap();
    assert_eq!(outbox::purge_published(&mut conn, 2).await.unwrap(), 1);
    let left: Vec<bool> = sqlx::query_scalar(
        "SELECT published_at IS NOT NULL FROM outbox_events WHERE aggregate_id = $1 ORDER BY position",
    )
    .bind(chat.to_string())
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        left,
        [true, false],
        "the young published row and the unpublished one stay"
    );
}

/// A stand-in for Centrifugo's server API (Centrifugo cannot run here): it
/// records each `unsubscribe` call (API key, body) and answers once `gate`
/// has a permit for it.
struct CentrifugoStandIn {
    url: String,
    calls: std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
    gate: std::sync::Arc<tokio::sync::Semaphore>,
}

impl CentrifugoStandIn {
    async fn start(permits: usize) -> Self {
        use axum::{Json, Router, extract::State, http::HeaderMap, routing::post};
        type Shared = (
            std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
            std::sync::Arc<tokio::sync::Semaphore>,
        );
        async fn unsubscribe(
            State((calls, gate)): State<Shared>,
            headers: HeaderMap,
            Json(body): Json<serde_json::Value>,
        ) -> Json<serde_json::Value> {
            let key = headers["x-api-key"].to_str().unwrap().to_owned();
            calls.lock().unwrap().push((key, body));
            gate.acquire().await.unwrap().forget();
            Json(json!({}))
        }
        let calls = std::sync::Arc::default();
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(permits));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/api/unsubscribe", post(unsubscribe))
            .with_state((std::sync::Arc::clone(&calls), std::sync::Arc::clone(&gate)));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, calls, gate }
    }

    fn calls(&self) -> Vec<(String, serde_json::Value)> {
        self.calls.lock().unwrap().clone()
    }

    async fn wait_for_calls(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.calls().len() < count {
            assert!(Instant::now() < deadline, "calls: {:?}", self.calls());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A stand-in answering `permits` calls, and a TestApp running a relay and
/// a cdc that calls it as Centrifugo's server API (stop them with the token).
async fn cdc_with_centrifugo(permits: usize) -> (CentrifugoStandIn, TestApp, CancellationToken) {
    let stand_in = CentrifugoStandIn::start(permits).await;
    let t = app_with_centrifugo(&stand_in).await;
    let shutdown = CancellationToken::new();
    spawn_relay(&t, &shutdown);
    spawn_cdc(&t, &shutdown).await;
    (stand_in, t, shutdown)
}

/// A TestApp whose cdc calls `stand_in` as Centrifugo's server API.
async fn app_with_centrifugo(stand_in: &CentrifugoStandIn) -> TestApp {
    let mut t = TestApp::spawn().await;
    t.env.config.realtime.centrifugo_api_url = stand_in.url.clone();
    t.env.config.realtime.centrifugo_api_key = Some(harmony::config::Secret::new("the-api-key"));
    t
}

/// Where Centrifugo serves the clients, the cdc ends a leaver's live
/// subscription and every member's on deletion through its server API.
/// Seen failing with the `Unsubscribe` runner made a no-op: no call arrived.
#[tokio::test]
async fn the_cdc_unsubscribes_leavers_through_centrifugo() {
    let (stand_in, t, shutdown) = cdc_with_centrifugo(tokio::sync::Semaphore::MAX_PERMITS).await;
    let (ann, bob, cid) = (
        t.user("ann").await,
        t.user("bob").await,
        t.user("cid").await,
    );
    let chat = t.chat(&ann, &[&bob, &cid]).await;
    assert_eq!(t.leave(&bob, chat).await.status, StatusCode::NO_CONTENT);
    let deleted = t
        .delete(&format!("/api/v1/chats/{chat}"))
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    stand_in.wait_for_calls(3).await;
    shutdown.cancel();
    let channel = format!("chat:{chat}");
    let mut users: Vec<String> = stand_in
        .calls()
        .iter()
        .map(|(key, body)| {
            assert_eq!(key, "the-api-key");
            assert_eq!(body["channel"], channel.as_str());
            body["user"].as_str().unwrap().to_owned()
        })
        .collect();
    // Bob when he leaves; then the remaining members when the chat is deleted.
    assert_eq!(users.remove(0), bob.id.to_string());
    users.sort();
    let mut expected = vec![ann.id.to_string(), cid.id.to_string()];
    expected.sort();
    assert_eq!(users, expected);
}

/// While an effect waits on another service (here Centrifugo, held back),
/// the cdc has no Postgres transaction open, and the event is recorded in
/// the ledger once the effect is done. Seen failing with the ledger row
/// written in a transaction held across the effects (the old cdc): a
/// session sat idle in transaction with an xid.
#[tokio::test]
async fn the_cdc_holds_no_transaction_open_across_its_effects() {
    let (stand_in, t, shutdown) = cdc_with_centrifugo(0).await;
    let (ann, bob) = (t.user("ann").await, t.user("bob").await);
    let chat = t.chat(&ann, &[&bob]).await;
    assert_eq!(t.leave(&bob, chat).await.status, StatusCode::NO_CONTENT);
    stand_in.wait_for_calls(1).await;
    let open: Vec<String> = sqlx::query_scalar(
        "SELECT coalesce(query, '') FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND (backend_xid IS NOT NULL OR state LIKE 'idle in transaction%')",
    )
    .fetch_all(&t.env.pool)
    .await
    .unwrap();
    assert!(
        open.is_empty(),
        "transactions open during an effect: {open:?}"
    );
    let processed = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM processed_events WHERE event_type = 'USER_LEFT'",
        )
        .fetch_one(&t.env.pool)
        .await
        .unwrap()
    };
    assert_eq!(processed().await, 0, "recorded before its effect finished");
    stand_in.gate.add_permits(1);
    let deadline = Instant::now() + Duration::from_secs(15);
    while processed().await == 0 {
        assert!(Instant::now() < deadline, "the event was never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
}

/// Events of different keys are applied in parallel, each key in order:
/// with every effect held back at Centrifugo, the first event of each chat
/// is under way at once, and the second event of chat A waits for the
/// first. Seen failing with the batch applied one event at a time (only one
/// call arrived while the first was held).
#[tokio::test]
async fn the_cdc_applies_keys_in_parallel_and_each_key_in_order() {
    let stand_in = CentrifugoStandIn::start(0).await;
    let t = app_with_centrifugo(&stand_in).await;
    let shutdown = CancellationToken::new();
    spawn_relay(&t, &shutdown);
    let (chat_a, chat_b) = (Uuid::new_v4(), Uuid::new_v4());
    let (x, y, z) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut tx = t.env.pool.begin().await.unwrap();
    let events = [
        OutboxEvent::user_left(chat_a, x),
        OutboxEvent::user_left(chat_a, y),
        OutboxEvent::user_left(chat_b, z),
    ];
    outbox::append(&mut tx, &events).await.unwrap();
    tx.commit().await.unwrap();
    // All three in the topic before the cdc starts, so they form one batch.
    read_topic(
        &t.env.config.kafka,
        &t.env.config.topics.chat_events.name,
        3,
    )
    .await;
    spawn_cdc(&t, &shutdown).await;
    stand_in.wait_for_calls(2).await;
    let users = |calls: &[(String, serde_json::Value)]| -> Vec<String> {
        calls
            .iter()
            .map(|(_, body)| body["user"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut first = users(&stand_in.calls());
    first.sort();
    let mut expected = vec![x.to_string(), z.to_string()];
    expected.sort();
    assert_eq!(
        first, expected,
        "the heads of both keys, and not A's second event"
    );
    stand_in.gate.add_permits(10);
    stand_in.wait_for_calls(3).await;
    let all = users(&stand_in.calls());
    let position = |user: Uuid| all.iter().position(|u| *u == user.to_string()).unwrap();
    assert!(
        position(x) < position(y),
        "chat A's events out of order: {all:?}"
    );
    shutdown.cancel();
}
