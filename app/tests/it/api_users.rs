//! Sign-up, profile, lookup, deactivation.

use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::client::TestApp;

#[tokio::test]
async fn sign_up_answers_the_original_shape_with_and_without_the_slash() {
    let t = TestApp::spawn().await;
    for path in ["/api/v1/users/", "/api/v1/users"] {
        let email = format!("Ann.{}@Example.COM", Uuid::new_v4().simple());
        let reply = t
            .post(path)
            .json(json!({ "username": "ann", "email": email, "password": "long enough" }))
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.body);
        assert_eq!(reply.body["email"], email.to_lowercase());
        assert_eq!(reply.body["tombstone"], false);
        assert_eq!(reply.body["meta"], json!({ "username": "ann" }));
        assert!(reply.body.get("hashed_password").is_none());
        assert!(reply.headers.contains_key("x-request-id"));
    }
}

#[tokio::test]
async fn sign_up_rejects_bad_input_with_clear_422s() {
    let t = TestApp::spawn().await;
    let cases = [
        (
            json!({ "username": "a", "password": "long enough" }),
            vec!["body", "email"],
            "missing",
        ),
        (
            json!({ "username": "a", "email": "nope", "password": "long enough" }),
            vec!["body", "email"],
            "value_error",
        ),
        (
            json!({ "username": "a", "email": "a@localhost", "password": "long enough" }),
            vec!["body", "email"],
            "value_error",
        ),
        (
            json!({ "username": "a", "email": "a@example.com", "password": "short" }),
            vec!["body", "password"],
            "string_too_short",
        ),
        (
            json!({ "username": "x".repeat(65), "email": "a@example.com", "password": "long enough" }),
            vec!["body", "username"],
            "string_too_long",
        ),
        (
            json!({ "username": 5, "email": "a@example.com", "password": "long enough" }),
            vec!["body", "username"],
            "value_error",
        ),
    ];
    for (body, loc, kind) in cases {
        let reply = t.post("/api/v1/users/").json(body.clone()).send().await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.body
        );
        assert_eq!(reply.loc(), loc, "{body}: {}", reply.body);
        assert_eq!(
            reply.body["detail"][0]["type"], kind,
            "{body}: {}",
            reply.body
        );
    }
    let reply = t
        .post("/api/v1/users/")
        .raw("application/json", "{not json")
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.body["detail"][0]["type"], "json_invalid");
    let reply = t
        .post("/api/v1/users/")
        .raw("text/plain", "hello")
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let reply = t
        .post("/api/v1/users/")
        .raw("application/json", "x".repeat(2 << 20))
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_duplicate_email_in_any_case_conflicts() {
    let t = TestApp::spawn().await;
    let user = t.user("bob").await;
    let reply = t
        .post("/api/v1/users/")
        .json(json!({ "username": "b", "email": user.email.to_uppercase(), "password": "long enough" }))
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.detail(), "A user with this email already exists.");
    // The same normalisation at login: the upper-case spelling signs in.
    assert_eq!(
        t.login(&user.email.to_uppercase(), &user.password)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn me_and_user_by_id_need_auth() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let bob = t.user("bob").await;
    let reply = t.get("/api/v1/users/me").bearer(&ann.access).send().await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["user_id"], ann.id.to_string());
    let reply = t.get("/api/v1/users/me").send().await;
    assert_eq!(
        (reply.status, reply.detail()),
        (StatusCode::UNAUTHORIZED, "Not authenticated")
    );
    assert_eq!(reply.headers["www-authenticate"], "Bearer");

    let reply = t
        .get(&format!("/api/v1/users/{}", bob.id))
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.body["meta"]["username"].as_str()),
        (StatusCode::OK, Some("bob"))
    );
    assert_eq!(
        t.get(&format!("/api/v1/users/{}", bob.id))
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let reply = t
        .get(&format!("/api/v1/users/{}", Uuid::new_v4()))
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.detail()),
        (StatusCode::NOT_FOUND, "User does not exist.")
    );
    let reply = t
        .get("/api/v1/users/not-a-uuid")
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.loc(), ["path", "user_id"]);
}

#[tokio::test]
async fn lookup_needs_auth_escapes_wildcards_orders_and_hides_closed_accounts() {
    let t = TestApp::spawn().await;
    let tag = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let me = t.user("me").await;
    for name in ["zed", "amy", "bea"] {
        let email = format!("{name}.{tag}@example.com");
        t.post("/api/v1/users/")
            .json(json!({ "username": name, "email": email, "password": "long enough" }))
            .send()
            .await;
    }
    let gone = t.user(&format!("gone.{tag}")).await;
    assert_eq!(
        t.delete("/api/v1/users/me")
            .bearer(&gone.access)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    assert_eq!(
        t.get(&format!("/api/v1/users/lookup?email={tag}"))
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let reply = t
        .get(&format!("/api/v1/users/lookup?email={tag}"))
        .bearer(&me.access)
        .send()
        .await;
    let emails: Vec<&str> = reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [
            format!("amy.{tag}@example.com"),
            format!("bea.{tag}@example.com"),
            format!("zed.{tag}@example.com")
        ]
    );

    let reply = t
        .get("/api/v1/users/lookup?email=%25%25")
        .bearer(&me.access)
        .send()
        .await;
    assert_eq!(reply.body, json!([]), "a % is a literal, not a wildcard");
    let reply = t
        .get("/api/v1/users/lookup?email=a")
        .bearer(&me.access)
        .send()
        .await;
    assert_eq!(reply.body, json!([]));
    let reply = t
        .get("/api/v1/users/lookup?email=ab&limit=11")
        .bearer(&me.access)
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.detail()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Limit cannot be greater than 10"
        )
    );
    let reply = t
        .get("/api/v1/users/lookup?email=ab&limit=0")
        .bearer(&me.access)
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.loc()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["query".to_owned(), "limit".into()]
        )
    );
    let reply = t
        .get("/api/v1/users/lookup?email=ab&limit=many")
        .bearer(&me.access)
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.loc()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["query".to_owned(), "limit".into()]
        )
    );
    let reply = t
        .get("/api/v1/users/lookup")
        .bearer(&me.access)
        .send()
        .await;
    assert_eq!(reply.body["detail"][0]["type"], "missing");
}

#[tokio::test]
async fn deactivation_ends_every_session_at_once() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    assert_eq!(
        t.delete("/api/v1/users/me")
            .bearer(&ann.access)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get("/api/v1/users/me")
            .bearer(&ann.access)
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let refresh = t
        .post("/api/v1/auth/refresh")
        .json(json!({ "refresh_token": ann.refresh }))
        .send()
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.login(&ann.email, &ann.password).await.status,
        StatusCode::UNAUTHORIZED
    );
    let events: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM outbox_events WHERE aggregate_id = $1")
            .bind(ann.id.to_string())
            .fetch_all(&t.env.pool)
            .await
            .unwrap();
    assert_eq!(events, ["TOMBSTONED"]);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let t = TestApp::spawn().await;
    let reply = t.get("/api/v1/nothing-here").send().await;
    assert_eq!(
        (reply.status, reply.detail()),
        (StatusCode::NOT_FOUND, "Not Found")
    );
    let reply = t
        .call(axum::http::Method::PUT, "/api/v1/users/me")
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    let reply = t.get("/").send().await;
    assert_eq!(reply.body["message"], "Harmony API is running.");
}

/// A request that read the open profile from Postgres just before the
/// account was closed fills the cache just after: the fill must not bring
/// the open account back. Seen failing with the fill as a plain `SET EX`
/// (`NX` removed from `Cache::fill_users`): the closed account then
/// authenticated again until the entry expired.
#[tokio::test]
async fn a_profile_fill_racing_account_closure_cannot_recache_the_open_account() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let open = harmony::store::postgres::users::profile(&t.env.pool, ann.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!open.tombstone);
    assert_eq!(
        t.delete("/api/v1/users/me")
            .bearer(&ann.access)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // The racing request's fill lands after the closure.
    t.app.cache.fill_users(std::slice::from_ref(&open)).await;
    assert_eq!(
        t.get("/api/v1/users/me")
            .bearer(&ann.access)
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}
