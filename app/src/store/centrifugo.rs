//! Centrifugo's server API, for what only the server side can do: end a
//! user's subscription when they leave a chat or it is deleted.

use std::time::Duration;

use axum::body::Bytes;
use harmony_config::RealtimeConfig;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::{Value, json};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct CentrifugoApi {
    client: Client<HttpConnector, Full<Bytes>>,
    url: String,
    key: String,
}

impl CentrifugoApi {
    /// None when no Centrifugo is configured (`REALTIME__CENTRIFUGO_API_URL`).
    pub fn new(config: &RealtimeConfig) -> Option<Self> {
        let url = config.centrifugo_api_url.trim().trim_end_matches('/');
        if url.is_empty() {
            return None;
        }
        Some(Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            url: url.to_owned(),
            key: config
                .centrifugo_api_key
                .as_ref()
                .map(|k| k.expose().to_owned())
                .unwrap_or_default(),
        })
    }

    /// `POST /api/unsubscribe`: every connection of `user` leaves `channel`.
    pub async fn unsubscribe(&self, user: Uuid, channel: &str) -> anyhow::Result<()> {
        self.call("unsubscribe", json!({ "user": user, "channel": channel }))
            .await
    }

    async fn call(&self, method: &str, body: Value) -> anyhow::Result<()> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/{method}", self.url))
            .header("content-type", "application/json")
            .header("x-api-key", &self.key)
            .body(Full::new(Bytes::from(body.to_string())))?;
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| anyhow::anyhow!("centrifugo {method}: no answer within {TIMEOUT:?}"))??;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let reply: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        anyhow::ensure!(
            status.is_success() && reply.get("error").is_none(),
            "centrifugo {method}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }
}
