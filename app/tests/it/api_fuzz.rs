//! Bad input of every kind against every route: never a 5xx.

use axum::http::Method;
use serde_json::json;
use uuid::Uuid;

use crate::client::TestApp;

/// Bodies a careless or hostile client might send.
fn garbage_bodies() -> Vec<(&'static str, String)> {
    let mut bodies = vec![
        ("application/json", String::new()),
        ("application/json", "null".into()),
        ("application/json", "[]".into()),
        ("application/json", "\"text\"".into()),
        ("application/json", "12345678901234567890123".into()),
        (
            "application/json",
            "{\"content\": null, \"user_id_list\": {}}".into(),
        ),
        (
            "application/json",
            json!({ "content": "\u{0000}\u{FFFF}", "title": "🙂".repeat(200) }).to_string(),
        ),
        (
            "application/json",
            json!({ "username": "\u{0000}", "email": "a@example.com", "password": "\u{0000}x",
                    "title": "\u{0000}", "description": "\u{0000}", "user_id_list": [] })
            .to_string(),
        ),
        ("application/json", "[".repeat(10_000)),
        ("application/json", "{\"a\":".repeat(500)),
        (
            "application/x-www-form-urlencoded",
            "username=%ZZ&password=%".into(),
        ),
        ("text/plain", "hello".into()),
        ("application/json", "\u{FEFF}{}".into()),
    ];
    // Pseudo-random bytes (from random UUIDs) as text.
    for _ in 0..8 {
        let noise: String = (0..16)
            .flat_map(|_| Uuid::new_v4().into_bytes())
            .map(|b| char::from(b % 94 + 33))
            .collect();
        bodies.push(("application/json", noise));
    }
    bodies
}

#[tokio::test]
async fn nul_characters_are_refused_not_stored() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let email = format!("nul-{}@example.com", Uuid::new_v4().simple());
    let reply = t
        .post("/api/v1/users/")
        .json(json!({ "username": "a\u{0000}b", "email": email, "password": "long enough" }))
        .send()
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.loc()),
        (422, vec!["body".to_owned(), "username".into()])
    );
    let reply = t
        .post("/api/v1/chats/")
        .bearer(&ann.access)
        .json(json!({ "title": "x\u{0000}", "user_id_list": [] }))
        .send()
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.loc()),
        (422, vec!["body".to_owned(), "title".into()])
    );
}

#[tokio::test]
async fn no_route_answers_5xx_to_bad_input() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let chat = t.chat(&ann, &[]).await;
    let ids = [
        chat.to_string(),
        Uuid::new_v4().to_string(),
        "not-a-uuid".into(),
        "%00".into(),
        "x".repeat(300),
    ];
    let mut routes: Vec<(Method, String)> = vec![
        (Method::POST, "/api/v1/users/".into()),
        (Method::POST, "/api/v1/auth/token".into()),
        (Method::POST, "/api/v1/auth/refresh".into()),
        (Method::POST, "/api/v1/auth/logout".into()),
        (Method::POST, "/api/v1/chats/".into()),
        (Method::POST, "/api/v1/ws/connect".into()),
        (Method::POST, "/api/v1/ws/subscribe".into()),
        (Method::POST, "/api/v1/ws/publish".into()),
        (Method::GET, "/api/v1/users/lookup?email=%&limit=-1".into()),
        (
            Method::GET,
            "/api/v1/users/lookup?email=ab&limit=99999999999999999999".into(),
        ),
        (Method::GET, "/api/v1/users/lookup?email=a%00b".into()),
        (
            Method::GET,
            format!("/api/v1/users/lookup?email={}", "x".repeat(300)),
        ),
    ];
    for id in &ids {
        routes.push((Method::POST, format!("/api/v1/chats/{id}")));
        routes.push((
            Method::GET,
            format!("/api/v1/chats/{id}?limit=abc&cursor=%FF"),
        ));
        routes.push((
            Method::GET,
            format!("/api/v1/chats/{id}?limit=1&cursor=ZZZZZZZZZZZZZZZZZZZZZZZZZZ"),
        ));
        routes.push((Method::DELETE, format!("/api/v1/chats/{id}")));
        routes.push((Method::POST, format!("/api/v1/chats/{id}/leave")));
        routes.push((Method::POST, format!("/api/v1/chats/{id}/members")));
        routes.push((Method::GET, format!("/api/v1/users/{id}")));
    }
    let secret = t.env.config.auth.proxy_secret.expose().to_owned();
    let mut checked = 0;
    for (method, path) in &routes {
        for (content_type, body) in garbage_bodies() {
            for authenticated in [false, true] {
                let mut call = t
                    .call(method.clone(), path)
                    .raw(content_type, body.clone())
                    .header("x-harmony-proxy-secret", &secret);
                if authenticated {
                    call = call.bearer(&ann.access);
                }
                let reply = call.send().await;
                assert!(
                    reply.status.as_u16() < 500,
                    "{method} {path} with {content_type} {:?}: {} {}",
                    &body.chars().take(40).collect::<String>(),
                    reply.status,
                    reply.body
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked} requests");
    // The service still works afterwards (the garbage DELETE removed the first chat).
    let fresh = t.chat(&ann, &[]).await;
    assert_eq!(t.send(&ann, fresh, "still fine").await.status.as_u16(), 201);
}
