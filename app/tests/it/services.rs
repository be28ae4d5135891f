//! One real round trip per backing service.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use rdkafka::{
    Message,
    consumer::{CommitMode, Consumer, StreamConsumer},
    producer::{FutureProducer, FutureRecord},
};

use crate::support::{TestEnv, drop_detached};
use harmony::store::kafka::client_config;

#[tokio::test]
async fn postgres_schema_is_migrated_and_enforces_unique_emails() {
    let env = TestEnv::new().await;
    let user_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (email, hashed_password, meta) VALUES ($1, 'x', '{\"username\":\"ann\"}') RETURNING user_id",
    )
    .bind("ann@example.com")
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let (email, username): (String, String) =
        sqlx::query_as("SELECT email, meta->>'username' FROM users WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(
        (email.as_str(), username.as_str()),
        ("ann@example.com", "ann")
    );

    let duplicate = sqlx::query("INSERT INTO users (email, hashed_password) VALUES ($1, 'y')")
        .bind("ann@example.com")
        .execute(&env.pool)
        .await
        .unwrap_err();
    let constraint = duplicate
        .as_database_error()
        .and_then(|e| e.constraint().map(str::to_owned));
    assert_eq!(constraint.as_deref(), Some("users_email_key"));
}

#[tokio::test]
async fn redis_set_then_get_with_expiry() {
    let mut env = TestEnv::new().await;
    let key = format!("test:{}:greeting", env.id);
    let _: () = ::redis::cmd("SET")
        .arg(&key)
        .arg("hello")
        .arg("EX")
        .arg(30)
        .query_async(&mut env.cache)
        .await
        .unwrap();
    let value: Option<String> = ::redis::cmd("GET")
        .arg(&key)
        .query_async(&mut env.cache)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("hello"));
    let ttl: i64 = ::redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut env.cache)
        .await
        .unwrap();
    assert!((1..=30).contains(&ttl), "ttl {ttl}");
    let _: () = ::redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut env.cache)
        .await
        .unwrap();
}

fn group_consumer(env: &TestEnv, group: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = client_config(&env.config.kafka)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

async fn next_value(consumer: &StreamConsumer) -> (String, i64) {
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.stream().next())
        .await
        .expect("a record within 30 s")
        .expect("stream open")
        .expect("no consume error");
    let value = String::from_utf8(message.payload().unwrap().to_vec()).unwrap();
    (value, message.offset())
}

#[tokio::test]
async fn kafka_produce_then_consume_in_a_group_resumes_after_restart() {
    let env = TestEnv::new().await;
    let topic = env.config.topics.user_events.name.clone();
    let producer: FutureProducer = client_config(&env.config.kafka)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    // One key: one partition, so the order below is the order produced.
    for i in 0..20 {
        let payload = format!("event-{i:02}");
        producer
            .send(
                FutureRecord::to(&topic).key("k").payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let group = format!("test-group-{}", env.id);

    let first = group_consumer(&env, &group, &topic);
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(next_value(&first).await.0);
    }
    first.commit_consumer_state(CommitMode::Sync).unwrap();
    drop_detached(first);

    let second = group_consumer(&env, &group, &topic);
    for _ in 0..10 {
        seen.push(next_value(&second).await.0);
    }
    let expected: Vec<String> = (0..20).map(|i| format!("event-{i:02}")).collect();
    assert_eq!(
        seen, expected,
        "the restarted consumer resumes exactly after the committed offset"
    );
    drop_detached(second);
}

#[tokio::test]
async fn dynamodb_put_then_query_newest_first_in_pages() {
    let env = TestEnv::new().await;
    let client = env.table.client();
    let chat = uuid::Uuid::new_v4().to_string();
    for i in 0..7 {
        client
            .put_item()
            .table_name(env.table.name())
            .item("chat_id", AttributeValue::S(chat.clone()))
            .item("ulid", AttributeValue::S(format!("01J{i:023}")))
            .item("content", AttributeValue::S(format!("message {i}")))
            .send()
            .await
            .unwrap();
    }
    let mut pages = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .query()
            .table_name(env.table.name())
            .key_condition_expression("chat_id = :c")
            .expression_attribute_values(":c", AttributeValue::S(chat.clone()))
            .scan_index_forward(false)
            .limit(3)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        let contents: Vec<String> = page
            .items()
            .iter()
            .map(|item| item["content"].as_s().unwrap().clone())
            .collect();
        pages.push(contents);
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    let flat: Vec<String> = pages.concat();
    let expected: Vec<String> = (0..7).rev().map(|i| format!("message {i}")).collect();
    assert_eq!(flat, expected);
    assert_eq!(pages[0].len(), 3);
}
