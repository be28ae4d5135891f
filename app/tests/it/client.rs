//! `TestApp`: the API router over an isolated `TestEnv`, driven in-process.

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode},
};
use harmony::{http::App, ops, roles};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use uuid::Uuid;

use crate::support::TestEnv;

pub struct TestApp {
    pub env: TestEnv,
    pub app: App,
    api: Api,
    shutdown: CancellationToken,
}

/// The API is called through `TestApp` as through any other `Api`.
impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::build(false, |_| {}).await
    }

    /// Also runs the sink, for tests that read history.
    pub async fn with_sink() -> Self {
        Self::build(true, |_| {}).await
    }

    /// The sink too, with settings of the test's own on top.
    pub async fn with_sink_and_config(tune: impl FnOnce(&mut harmony::config::Config)) -> Self {
        Self::build(true, tune).await
    }

    /// With settings of the test's own on top.
    pub async fn with_config(tune: impl FnOnce(&mut harmony::config::Config)) -> Self {
        Self::build(false, tune).await
    }

    async fn build(sink: bool, tune: impl FnOnce(&mut harmony::config::Config)) -> Self {
        let mut env = TestEnv::new().await;
        Self::test_settings(&mut env);
        tune(&mut env.config);
        Self::start(env, sink).await
    }

    /// Over an environment the test prepared itself (other service URLs).
    pub async fn over(mut env: TestEnv, sink: bool) -> Self {
        Self::test_settings(&mut env);
        Self::start(env, sink).await
    }

    fn test_settings(env: &mut TestEnv) {
        // Cheap hashes keep the suite fast on two cores; the real parameters
        // are covered by the password unit tests.
        env.config.auth.argon2_memory_kib = 1024;
        env.config.auth.argon2_iterations = 1;
        env.config.auth.argon2_parallelism = 1;
        env.config.auth.refresh_token_grace_period_seconds = 1;
        env.config.sink.group_id = format!("sink-{}", env.id);
    }

    async fn start(env: TestEnv, sink: bool) -> Self {
        let (app, dependencies) = roles::api::build(&env.config).await.expect("api builds");
        let shutdown = CancellationToken::new();
        let mut liveness = ops::Liveness::default();
        if sink {
            let sink = roles::sink::Sink::new(&env.config)
                .await
                .expect("sink builds");
            liveness = ops::Liveness::of([sink.health()]);
            tokio::spawn(sink.run(shutdown.clone()));
        }
        let api = Api::new(roles::api::router(app.clone(), dependencies, liveness));
        Self {
            env,
            app,
            api,
            shutdown,
        }
    }

    /// Another API process over the same services and settings (its own
    /// connections and in-memory state), as a second replica would be.
    pub async fn replica(&self) -> Api {
        let (app, dependencies) = roles::api::build(&self.env.config)
            .await
            .expect("api builds");
        Api::new(roles::api::router(
            app,
            dependencies,
            ops::Liveness::default(),
        ))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One API process's router, called in-process, and what tests do through it.
pub struct Api {
    router: Router,
}

impl Api {
    pub fn new(router: Router) -> Self {
        Self { router }
    }

    pub fn get(&self, path: &str) -> Call {
        self.call(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call {
        self.call(Method::POST, path)
    }

    pub fn delete(&self, path: &str) -> Call {
        self.call(Method::DELETE, path)
    }

    pub fn call(&self, method: Method, path: &str) -> Call {
        Call {
            router: self.router.clone(),
            builder: Request::builder().method(method).uri(path),
            body: Body::empty(),
        }
    }

    /// Signs up and logs in a fresh user.
    pub async fn user(&self, name: &str) -> User {
        let local = name.replace(' ', ".");
        let email = format!("{local}-{}@example.com", Uuid::new_v4().simple());
        let password = "correct horse battery".to_owned();
        let created = self
            .post("/api/v1/users/")
            .json(json!({ "username": name, "email": email, "password": password }))
            .send()
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let tokens = self.login(&email, &password).await;
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
        User {
            id: created.body["user_id"].as_str().unwrap().parse().unwrap(),
            email,
            password,
            access: tokens.body[0]["token"].as_str().unwrap().to_owned(),
            refresh: tokens.body[1]["token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post("/api/v1/auth/token")
            .form(&[("username", email), ("password", password)])
            .send()
            .await
    }

    pub async fn chat(&self, owner: &User, members: &[&User]) -> Uuid {
        let ids: Vec<String> = members.iter().map(|m| m.id.to_string()).collect();
        let reply = self
            .post("/api/v1/chats/")
            .bearer(&owner.access)
            .json(json!({ "title": "Team", "description": null, "user_id_list": ids }))
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["chat_id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn leave(&self, user: &User, chat: Uuid) -> Reply {
        self.post(&format!("/api/v1/chats/{chat}/leave"))
            .bearer(&user.access)
            .send()
            .await
    }

    pub async fn send(&self, user: &User, chat: Uuid, content: &str) -> Reply {
        self.post(&format!("/api/v1/chats/{chat}"))
            .bearer(&user.access)
            .json(json!({ "content": content }))
            .send()
            .await
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

pub struct Call {
    router: Router,
    builder: axum::http::request::Builder,
    body: Body,
}

impl Call {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json(mut self, value: Value) -> Self {
        self.builder = self.builder.header("content-type", "application/json");
        self.body = Body::from(value.to_string());
        self
    }

    pub fn raw(mut self, content_type: &str, body: impl Into<String>) -> Self {
        self.builder = self.builder.header("content-type", content_type);
        self.body = Body::from(body.into());
        self
    }

    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        let body = serde_urlencoded::to_string(pairs).unwrap();
        self.raw("application/x-www-form-urlencoded", body)
    }

    /// Status and body size as sent (no decoding).
    pub async fn send_raw(self) -> (StatusCode, usize) {
        let request = self.builder.body(self.body).unwrap();
        let response = self.router.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        (status, bytes.len())
    }

    pub async fn send(self) -> Reply {
        let request = self.builder.body(self.body).unwrap();
        let response = self.router.oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or_default()
    }

    /// The `loc` of the first FastAPI-style validation problem.
    pub fn loc(&self) -> Vec<String> {
        self.body["detail"][0]["loc"]
            .as_array()
            .map(|loc| {
                loc.iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}
