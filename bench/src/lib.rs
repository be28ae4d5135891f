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

    /// A chat of `token`'s user with `members` besides: its id.
    pub async fn create_chat(
        target: &Target,
        token: &str,
        title: &str,
        members: &[&str],
    ) -> anyhow::Result<String> {
        let body = json!({ "title": title, "user_id_list": members });
        let chat = target
            .json(Method::POST, "/api/v1/chats/", Some(token), body)
            .await?;
        Ok(chat["chat_id"].as_str().context("chat id")?.to_owned())
    }

    /// One lane of load: a fresh account and a chat of its own; the
    /// account's access token and the chat's id.
    pub async fn lane(target: &Target, title: &str) -> anyhow::Result<(String, String)> {
        let (token, _) = sign_up(target).await?;
        let chat = create_chat(target, &token, title, &[]).await?;
        Ok((token, chat))
    }
}

/// CPU time of the processes a benchmark loads, read from /proc before and
/// after the measured window: the cost per request of each process, which
/// holds steady on a busy machine where throughput does not.
pub mod cpu {
    use std::collections::HashMap;

    use anyhow::Context;

    /// A process to watch, with every process it starts (Postgres' backends).
    #[derive(Clone, Debug)]
    pub struct Watched {
        pub name: String,
        pub pid: i32,
    }

    impl std::str::FromStr for Watched {
        type Err = anyhow::Error;

        /// `name=pid`, for example `api=4242`.
        fn from_str(spec: &str) -> anyhow::Result<Self> {
            let (name, pid) = spec.split_once('=').context("expected NAME=PID")?;
            Ok(Self {
                name: name.to_owned(),
                pid: pid.parse().context("PID must be a number")?,
            })
        }
    }

    /// CPU seconds (user + system) each watched process and its live
    /// descendants have used so far, counting the descendants they reaped.
    pub fn seconds(watched: &[Watched]) -> anyhow::Result<Vec<f64>> {
        let ticks = procfs::ticks_per_second() as f64;
        let mut used = HashMap::new();
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        for process in procfs::process::all_processes()?.flatten() {
            // Processes that exit while we read are skipped.
            let Ok(stat) = process.stat() else { continue };
            let total =
                stat.utime + stat.stime + stat.cutime.max(0) as u64 + stat.cstime.max(0) as u64;
            used.insert(stat.pid, total as f64 / ticks);
            children.entry(stat.ppid).or_default().push(stat.pid);
        }
        watched
            .iter()
            .map(|w| {
                anyhow::ensure!(
                    used.contains_key(&w.pid),
                    "process {} ({}) is not running",
                    w.pid,
                    w.name
                );
                let (mut total, mut pending) = (0.0, vec![w.pid]);
                while let Some(pid) = pending.pop() {
                    total += used.get(&pid).copied().unwrap_or(0.0);
                    pending.extend(children.get(&pid).into_iter().flatten());
                }
                Ok(total)
            })
            .collect()
    }
}

/// The results table a run writes (`--results FILE`): one Markdown row per
/// measurement, appended, so a script's runs collect in one file.
pub mod results {
    use std::io::Write;

    use anyhow::Context;

    pub fn append(path: &std::path::Path, cells: &[String]) -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("results file {}", path.display()))?;
        writeln!(file, "| {} |", cells.join(" | "))?;
        Ok(())
    }
}
