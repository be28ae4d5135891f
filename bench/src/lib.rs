//! What the load generators share: an HTTP client for the Harmony API.

pub mod http {
    use anyhow::{Context, bail};
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::{Method, Request, StatusCode};
    use hyper_util::{client::legacy::Client, rt::TokioExecutor};
    use serde_json::{Value, json};

    type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

    pub struct Target {
        client: HttpClient,
        pub url: String,
    }

    impl Target {
        pub async fn call(
            &self,
            method: Method,
            path: &str,
            token: Option<&str>,
            body: Option<(&str, String)>,
        ) -> anyhow::Result<(StatusCode, Bytes)> {
            let mut request = Request::builder()
                .method(method)
                .uri(format!("{}{path}", self.url));
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            let body = match body {
                Some((content_type, body)) => {
                    request = request.header("content-type", content_type);
                    Full::new(Bytes::from(body))
                }
                None => Full::new(Bytes::new()),
            };
            let response = self.client.request(request.body(body)?).await?;
            let status = response.status();
            Ok((status, response.into_body().collect().await?.to_bytes()))
        }

        pub async fn json(
            &self,
            method: Method,
            path: &str,
            token: Option<&str>,
            body: Value,
        ) -> anyhow::Result<Value> {
            let (status, bytes) = self
                .call(
                    method,
                    path,
                    token,
                    Some(("application/json", body.to_string())),
                )
                .await?;
            if !status.is_success() {
                bail!("{path}: {status} {}", String::from_utf8_lossy(&bytes));
            }
            Ok(serde_json::from_slice(&bytes)?)
        }
    }

    impl Target {
        pub fn new(url: &str) -> Self {
            let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
            connector.set_nodelay(true);
            let client = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1024)
                .build(connector);
            Self {
                client,
                url: url.trim_end_matches('/').to_owned(),
            }
        }
    }

    /// A fresh account: its access token and id.
    pub async fn sign_up(target: &Target) -> anyhow::Result<(String, String)> {
        let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
        let body = json!({ "username": "bench", "email": email, "password": "benchmark password" });
        let user = target
            .json(Method::POST, "/api/v1/users/", None, body)
            .await?;
        let form = format!("username={email}&password=benchmark+password");
        let login = Some(("application/x-www-form-urlencoded", form));
        let (status, bytes) = target
            .call(Method::POST, "/api/v1/auth/token", None, login)
            .await?;
        anyhow::ensure!(status.is_success(), "login failed: {status}");
        let tokens: Value = serde_json::from_slice(&bytes)?;
        let token = tokens[0]["token"]
            .as_str()
            .context("access token")?
            .to_owned();
        Ok((
            token,
            user["user_id"].as_str().context("user id")?.to_owned(),
        ))
    }
}
