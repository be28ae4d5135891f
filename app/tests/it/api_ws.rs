//! Centrifugo connect/subscribe proxy endpoints.

use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::client::TestApp;

const SECRET_HEADER: &str = "x-harmony-proxy-secret";

fn connect_body() -> serde_json::Value {
    json!({ "client": "c1", "transport": "websocket", "protocol": "json", "encoding": "json" })
}

#[tokio::test]
async fn proxy_calls_need_the_shared_secret() {
    let t = TestApp::spawn().await;
    let reply = t
        .post("/api/v1/ws/connect")
        .json(connect_body())
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = t
        .post("/api/v1/ws/subscribe")
        .header(SECRET_HEADER, "guess")
        .json(json!({}))
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn connect_authenticates_by_cookie_and_expires_with_the_token() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let secret = t.env.config.auth.proxy_secret.expose().to_owned();
    let reply = t
        .post("/api/v1/ws/connect")
        .header(SECRET_HEADER, &secret)
        .header("cookie", &format!("access_token={}", ann.access))
        .json(connect_body())
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["result"]["user"], ann.id.to_string());
    let claims = t.app.tokens.verify_access(&ann.access).unwrap();
    assert_eq!(reply.body["result"]["expire_at"], claims.exp);
    assert_eq!(reply.body["error"], json!(null));

    let anonymous = t
        .post("/api/v1/ws/connect")
        .header(SECRET_HEADER, &secret)
        .json(connect_body())
        .send()
        .await;
    assert_eq!(
        anonymous.body,
        json!({ "result": null, "error": { "code": 1001, "message": "Authentication required" } })
    );
    let missing = t
        .post("/api/v1/ws/connect")
        .header(SECRET_HEADER, &secret)
        .json(json!({ "client": "c" }))
        .send()
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn subscribe_allows_members_only() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let eve = t.user("eve").await;
    let chat = t.chat(&ann, &[]).await;
    let secret = t.env.config.auth.proxy_secret.expose().to_owned();
    let ask = |user: String, channel: String| {
        t.post("/api/v1/ws/subscribe")
            .header(SECRET_HEADER, &secret)
            .json(json!({ "client": "c", "transport": "websocket", "protocol": "json", "user": user, "channel": channel }))
            .send()
    };
    assert_eq!(
        ask(ann.id.to_string(), format!("chat:{chat}")).await.body,
        json!({ "result": {}, "error": null })
    );
    assert_eq!(
        ask(eve.id.to_string(), format!("chat:{chat}")).await.body["error"]["code"],
        1001
    );
    assert_eq!(
        ask(ann.id.to_string(), format!("other:{chat}")).await.body["error"]["code"],
        1000
    );
    assert_eq!(
        ask(ann.id.to_string(), "chat:nope".into()).await.body["error"]["code"],
        1000
    );
    assert_eq!(
        ask(String::new(), format!("chat:{}", Uuid::new_v4()))
            .await
            .body["error"]["code"],
        1000
    );
}
