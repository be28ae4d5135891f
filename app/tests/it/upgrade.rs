//! Upgrades: the operator runs this release's migration Job before any pod
//! rolls, so for the whole roll (and for good if the roll stops) the
//! previous release's pods serve on this release's schema, beside this
//! release's pods, on the same services. The previous release is a real
//! build of it (`scripts/previous-release.sh`, which `scripts/test.sh` runs;
//! its path in `HARMONY_PREVIOUS_RELEASE_BIN`), run as a process of its own.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{Method, StatusCode},
};
use harmony::roles::{cdc::Cdc, relay::Relay};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    attention::listed,
    client::{Api, TestApp, User},
};

/// The previous release's `harmony api` on the test's services, and an
/// `Api` that reaches it over HTTP.
struct PreviousRelease {
    api: Api,
    _process: tokio::process::Child,
}

impl PreviousRelease {
    async fn start(t: &TestApp) -> Self {
        let binary = std::env::var("HARMONY_PREVIOUS_RELEASE_BIN").expect(
            "HARMONY_PREVIOUS_RELEASE_BIN names the previous release's harmony binary: \
             scripts/previous-release.sh builds it and prints its path",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let log_path = std::env::temp_dir().join(format!("harmony-previous-{}.log", t.env.id));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut process = tokio::process::Command::new(&binary)
            .arg("api")
            .envs(t.env.process_env())
            .envs([
                ("HTTP__BIND", format!("127.0.0.1:{port}")),
                // The test's cheap hashes (TestApp's settings).
                ("AUTH__ARGON2_MEMORY_KIB", "1024".into()),
                ("AUTH__ARGON2_ITERATIONS", "1".into()),
                ("AUTH__ARGON2_PARALLELISM", "1".into()),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
        let api = Api::new(forwarding_to(format!("http://127.0.0.1:{port}")));
        let started = Instant::now();
        loop {
            if let Some(status) = process.try_wait().unwrap() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("the previous release exited ({status}):\n{log}");
            }
            // 502 from `forwarding_to` until it listens.
            if api.get("/readyz").send().await.status == StatusCode::OK {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the previous release not ready within 30 s (log: {})",
                log_path.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            api,
            _process: process,
        }
    }
}

/// A router that hands every request to `base` over HTTP.
fn forwarding_to(base: String) -> Router {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    Router::new().fallback(move |request: Request| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let (mut parts, body) = request.into_parts();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            parts.uri = format!("{base}{path}").parse().unwrap();
            match client.request(Request::from_parts(parts, body)).await {
                Ok(response) => response.map(Body::new),
                // Not an answer of the API: a gateway's status, so a test sees it.
                Err(_) => axum::http::Response::builder()
                    .status(StatusCode::BAD_GATEWAY)
                    .body(Body::empty())
                    .unwrap(),
            }
        }
    })
}

/// The chat's whole history through `api` (newest first; one page).
async fn history(api: &Api, user: &User, chat: Uuid) -> Vec<Value> {
    let reply = api
        .get(&format!("/api/v1/chats/{chat}?limit=50"))
        .bearer(&user.access)
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["messages"].as_array().unwrap().clone()
}

/// The history through `api` once `ready` holds for it (within 15 s).
async fn history_when(
    api: &Api,
    user: &User,
    chat: Uuid,
    what: &str,
    ready: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let messages = history(api, user, chat).await;
        if ready(&messages) {
            return messages;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{what} not in history within 15 s: {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A message as the previous release shows it: without what it does not know.
fn without_mentions(messages: &[Value]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m.as_object_mut().unwrap().remove("mentions");
            m
        })
        .collect()
}

/// Guarantee: migrations only expand the schema, so the previous release
/// keeps working on it beside this one, and what it does (here an account
/// closure) ends as this release's rules say. Seen failing with a migration
/// `ALTER TABLE user_chats ADD COLUMN role text NOT NULL` added (the
/// previous release's chat creation answered 500: its membership rows carry
/// no role), and without the cdc's `ForgetAttention` on `TOMBSTONED` (the
/// closed account kept its read position and choice).
#[tokio::test]
async fn the_previous_release_serves_beside_this_one_on_this_schema() {
    // This release's API and sink (TestApp), relay and cdc; the previous
    // release's API.
    let t = TestApp::with_sink().await;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let relay = Relay::new(&t.env.config, t.env.pool.clone()).unwrap();
    tokio::spawn(relay.run(shutdown.clone()));
    let mut cdc_config = t.env.config.clone();
    cdc_config.cdc.group_id = format!("cdc-{}", t.env.id);
    tokio::spawn(Cdc::new(&cdc_config).await.unwrap().run(shutdown.clone()));
    let previous = PreviousRelease::start(&t).await;
    let old = &previous.api;

    // Accounts and tokens of either version are good at the other.
    let ann = old.user("ann").await;
    let bob = t.user("bob").await;
    let carol = t.user("carol").await;
    assert_eq!(
        t.login(&ann.email, &ann.password).await.status,
        StatusCode::OK
    );
    assert_eq!(
        old.login(&bob.email, &bob.password).await.status,
        StatusCode::OK
    );
    let me = t.get("/api/v1/users/me").bearer(&ann.access).send().await;
    assert_eq!(me.body["user_id"], ann.id.to_string(), "{}", me.body);
    let me = old.get("/api/v1/users/me").bearer(&bob.access).send().await;
    assert_eq!(me.body["user_id"], bob.id.to_string(), "{}", me.body);
    let refreshed = t
        .post("/api/v1/auth/refresh")
        .json(json!({ "refresh_token": ann.refresh }))
        .send()
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);

    // A chat the previous release made is listed by this one with this
    // release's fields at their defaults.
    let chat = old.chat(&ann, &[&bob]).await;
    let item = listed(&t, &bob, chat).await;
    assert_eq!(
        (
            &item["meta"]["title"],
            &item["created_by"],
            &item["last_read"],
            &item["unread_count"],
            &item["notifications"]
        ),
        (
            &json!("Team"),
            &json!(ann.id.to_string()),
            &Value::Null,
            &json!(0),
            &json!("mentions")
        ),
        "{item}"
    );

    // Messages sent through either are stored once and read the same
    // through both; changes through either apply to the other's messages.
    let first = old.send(&ann, chat, "from the previous release").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let first = first.body["ulid"].as_str().unwrap().to_owned();
    history_when(&t, &bob, chat, "the previous release's send", |m| {
        m.len() == 1
    })
    .await;
    let second = t
        .post(&format!("/api/v1/chats/{chat}"))
        .bearer(&bob.access)
        .json(json!({ "content": "from this one, @ann", "reply_to": first }))
        .send()
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let second = second.body["ulid"].as_str().unwrap().to_owned();
    let edited = t
        .call(
            Method::PATCH,
            &format!("/api/v1/chats/{chat}/messages/{first}"),
        )
        .bearer(&ann.access)
        .json(json!({ "content": "edited through this release" }))
        .send()
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    history_when(&t, &bob, chat, "the reply", |m| m.len() == 2).await;
    let reacted = old
        .call(
            Method::PUT,
            &format!("/api/v1/chats/{chat}/messages/{second}/reactions/%F0%9F%91%8D"),
        )
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(reacted.status, StatusCode::OK, "{}", reacted.body);
    let current = history_when(&t, &bob, chat, "the edit and the reaction", |m| {
        m.len() == 2 && m[0]["reactions"].is_array() && m[1]["edited_at"].is_string()
    })
    .await;
    let through_old = history(old, &bob, chat).await;
    assert_eq!(without_mentions(&through_old), without_mentions(&current));
    let summary: Vec<_> = current
        .iter()
        .map(|m| {
            (
                m["ulid"].as_str().unwrap(),
                m["content"].as_str().unwrap(),
                m["reply_to"]["ulid"].as_str(),
                m["mentions"].clone(),
                m["reactions"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                second.as_str(),
                "from this one, @ann",
                Some(first.as_str()),
                json!([ann.id.to_string()]),
                json!([{ "emoji": "👍", "user_ids": [ann.id.to_string()] }])
            ),
            (
                first.as_str(),
                "edited through this release",
                None,
                Value::Null,
                Value::Null
            ),
        ]
    );

    // This release's read positions and notification choices beside the
    // previous release's chat list.
    let read = t
        .call(Method::PUT, &format!("/api/v1/chats/{chat}/read"))
        .bearer(&ann.access)
        .json(json!({ "ulid": second }))
        .send()
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let muted = t
        .call(Method::PUT, &format!("/api/v1/chats/{chat}/notifications"))
        .bearer(&ann.access)
        .json(json!({ "notifications": "muted" }))
        .send()
        .await;
    assert_eq!(muted.status, StatusCode::OK, "{}", muted.body);
    assert_eq!(listed(old, &ann, chat).await["meta"]["title"], "Team");

    // Membership changes through the previous release.
    let added = old
        .post(&format!("/api/v1/chats/{chat}/members"))
        .bearer(&ann.access)
        .json(json!({ "user_id_list": [carol.id.to_string()] }))
        .send()
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let item = listed(&t, &carol, chat).await;
    assert_eq!(
        (&item["last_read"], &item["notifications"]),
        (&Value::Null, &json!("mentions")),
        "{item}"
    );
    assert_eq!(history(&t, &carol, chat).await.len(), 2);
    assert_eq!(old.leave(&bob, chat).await.status, StatusCode::NO_CONTENT);
    assert_eq!(listed(&t, &bob, chat).await, Value::Null);

    // Closing an account through the previous release: its memberships stay
    // (as ever), and this release's cdc forgets its read position and
    // notification choice, as this release's API does when closing.
    let attention = || async {
        sqlx::query_as::<_, (Option<String>, String)>(
            "SELECT last_read, notifications FROM user_chats WHERE user_id = $1",
        )
        .bind(ann.id)
        .fetch_all(&t.env.pool)
        .await
        .unwrap()
    };
    assert_eq!(
        attention().await,
        [(Some(second.clone()), "muted".to_owned())]
    );
    let closed = old
        .delete("/api/v1/users/me")
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(closed.status, StatusCode::NO_CONTENT, "{}", closed.body);
    assert_eq!(
        t.login(&ann.email, &ann.password).await.status,
        StatusCode::UNAUTHORIZED
    );
    let started = Instant::now();
    while attention().await != [(None, "mentions".to_owned())] {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the closed account's read position kept after 15 s: {:?}",
            attention().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
