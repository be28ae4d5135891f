//! `/healthz`, `/readyz` and `/metrics` as every role serves them.

use axum::{body::Body, http::Request};
use harmony::{
    config::Secret,
    ops,
    store::{Dependency, kafka::GroupMember, redis},
};
use tower::ServiceExt;

use crate::support::TestEnv;

async fn get(router: axum::Router, path: &str) -> (u16, String) {
    let response = router
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn all(env: &TestEnv) -> Vec<Dependency> {
    vec![
        Dependency::Postgres(env.pool.clone()),
        Dependency::Redis(env.cache.clone()),
        Dependency::Kafka(env.admin.clone()),
        Dependency::DynamoDb(env.table.clone()),
    ]
}

#[tokio::test]
async fn readyz_is_ok_when_every_dependency_answers() {
    let env = TestEnv::new().await;
    let (status, body) = get(ops::router(all(&env), ops::Liveness::default()), "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    for name in ["postgres", "redis", "kafka", "dynamodb"] {
        assert_eq!(json["checks"][name], "ok", "{body}");
    }
    let (status, _) = get(ops::router(all(&env), ops::Liveness::default()), "/healthz").await;
    assert_eq!(status, 200);
    let (status, _) = get(ops::router(all(&env), ops::Liveness::default()), "/metrics").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn readyz_names_the_dependency_that_fails() {
    let env = TestEnv::new().await;
    // A redis connection that worked, then a missing table: both are named.
    let missing_table = env.table.with_name(format!("missing_{}", env.id));
    let mut dependencies = all(&env);
    dependencies.push(Dependency::DynamoDb(missing_table));
    let (status, body) = get(
        ops::router(dependencies, ops::Liveness::default()),
        "/readyz",
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("does not exist"), "{body}");

    let mut broken = env.config.redis.clone();
    broken.url = Secret::new("redis://127.0.0.1:1/0");
    let Err(error) = redis::connect(&broken).await else {
        panic!("nothing listens on port 1, yet redis connected");
    };
    assert!(error.to_string().starts_with("redis:"), "{error}");
}

/// `/healthz` answers from the consumer health it is handed: a group member
/// that ended without being closed (a panicked loop) makes it 503, naming the
/// group. Answering `/healthz` without the consumers it was handed (as
/// `Liveness::default()`) makes the second call answer 200.
#[tokio::test]
async fn healthz_fails_when_a_consumer_it_was_given_stopped() {
    let env = TestEnv::new().await;
    let group = format!("healthz-{}", env.id);
    let member = GroupMember::new(
        &env.config.kafka,
        &group,
        &[&env.config.topics.messages.name],
        100,
    )
    .unwrap();
    let liveness = ops::Liveness::of([member.health()]);
    let (status, body) = get(ops::router(all(&env), liveness.clone()), "/healthz").await;
    assert_eq!(status, 200, "{body}");
    drop(member);
    let (status, body) = get(ops::router(all(&env), liveness), "/healthz").await;
    assert_eq!(status, 503, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["problems"],
        serde_json::json!([format!("consumer of group {group} stopped")]),
        "{body}"
    );
}
