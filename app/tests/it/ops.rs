//! `/healthz`, `/readyz` and `/metrics` as every role serves them.

use axum::{body::Body, http::Request};
use harmony::{
    config::Secret,
    ops,
    store::{Dependency, redis},
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
    let (status, body) = get(ops::router(all(&env)), "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    for name in ["postgres", "redis", "kafka", "dynamodb"] {
        assert_eq!(json["checks"][name], "ok", "{body}");
    }
    let (status, _) = get(ops::router(all(&env)), "/healthz").await;
    assert_eq!(status, 200);
    let (status, _) = get(ops::router(all(&env)), "/metrics").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn readyz_names_the_dependency_that_fails() {
    let env = TestEnv::new().await;
    // A redis connection that worked, then a missing table: both are named.
    let missing_table = env.table.with_name(format!("missing_{}", env.id));
    let mut dependencies = all(&env);
    dependencies.push(Dependency::DynamoDb(missing_table));
    let (status, body) = get(ops::router(dependencies), "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("does not exist"), "{body}");

    let mut broken = env.config.redis.clone();
    broken.url = Secret::new("redis://127.0.0.1:1/0");
    let Err(error) = redis::connect(&broken).await else {
        panic!("nothing listens on port 1, yet redis connected");
    };
    assert!(error.to_string().starts_with("redis:"), "{error}");
}
