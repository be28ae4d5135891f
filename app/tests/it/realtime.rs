//! The gateway against the official `centrifuge` client: each test starts
//! the platform in-process on real ports (API, relay and one or more
//! gateways over an isolated `TestEnv`) and runs one Node test file of
//! app/tests/realtime against it. `scripts/test.sh` runs `npm ci` there first.

use std::{path::Path, process::Stdio, time::Duration};

use harmony::{
    config::Config,
    ops,
    roles::{self, relay::Relay},
};
use tokio_util::sync::CancellationToken;

use crate::support::TestEnv;

struct Platform {
    env: TestEnv,
    urls: Vec<String>,
    shutdown: CancellationToken,
}

impl Platform {
    /// `gateways` instances, each serving the API and `/connection/websocket`
    /// on its own port; one relay feeds the chat-list events.
    async fn start(gateways: usize, tune: impl FnOnce(&mut Config)) -> Self {
        let mut env = TestEnv::new().await;
        env.config.auth.argon2_memory_kib = 1024;
        env.config.auth.argon2_iterations = 1;
        env.config.auth.argon2_parallelism = 1;
        tune(&mut env.config);
        let config = env.config.clone();
        let shutdown = CancellationToken::new();
        let (app, _) = roles::api::build(&config).await.expect("api builds");
        let relay = Relay::new(&config, app.db.clone()).expect("relay builds");
        tokio::spawn(relay.run(shutdown.clone()));
        let mut urls = Vec::new();
        for _ in 0..gateways {
            let (app, dependencies) = roles::api::build(&config).await.expect("api builds");
            let gateway =
                roles::gateway::start(&config, app.db.clone(), app.cache.clone(), shutdown.clone())
                    .await
                    .expect("gateway starts");
            let listener = ops::bind("127.0.0.1:0").await.expect("a free port");
            urls.push(format!("http://{}", listener.local_addr().unwrap()));
            let router = roles::api::router(app, dependencies).merge(gateway.router());
            tokio::spawn(ops::serve_on(listener, router, shutdown.clone()));
        }
        Self {
            env,
            urls,
            shutdown,
        }
    }

    /// `node` in app/tests/realtime, pointed at this platform.
    fn command(&self) -> tokio::process::Command {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realtime");
        assert!(
            dir.join("node_modules/centrifuge").is_dir(),
            "run `npm ci` in {} (scripts/test.sh does)",
            dir.display()
        );
        let mut command = tokio::process::Command::new("node");
        command
            .current_dir(&dir)
            .env("HARMONY_URLS", self.urls.join(","))
            .env(
                "REALTIME_TOKEN_SECRET",
                self.env.config.realtime.token_secret.expose(),
            )
            .env(
                "EXPIRED_CLOSE_DELAY_SECONDS",
                self.env
                    .config
                    .realtime
                    .expired_close_delay_seconds
                    .to_string(),
            )
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `app/tests/realtime/<file>` with `node --test`; its output is
    /// shown when it fails.
    async fn node(&self, file: &str) {
        let run = self.command().arg("--test").arg(file).output();
        let output = tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .expect("node tests finish within 2 minutes")
            .expect("node runs");
        assert!(
            output.status.success(),
            "{file} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_client_connects_subscribes_and_receives() {
    Platform::start(1, |_| {})
        .await
        .node("delivery.test.mjs")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn membership_changes_reach_the_personal_channel_and_end_subscriptions() {
    Platform::start(1, |_| {})
        .await
        .node("membership.test.mjs")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_expire_with_their_credentials_unless_refreshed() {
    Platform::start(1, |config| {
        config.realtime.expired_close_delay_seconds = 1;
        config.realtime.ping_interval_seconds = 1;
    })
    .await
    .node("expiry.test.mjs")
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_both_deliver() {
    Platform::start(2, |_| {})
        .await
        .node("instances.test.mjs")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_frames_and_slow_clients_harm_no_one_else() {
    Platform::start(1, |config| {
        config.realtime.max_frame_bytes = 16 * 1024;
        config.realtime.send_queue = 16;
    })
    .await
    .node("abuse.test.mjs")
    .await;
}

/// Shutdown closes every connection with 3001, so clients reconnect (to
/// another instance). Seen failing with the shutdown branch of
/// `connection::serve` removed: the connection stayed open, no close came.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_tells_clients_to_reconnect() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let platform = Platform::start(1, |_| {}).await;
    let mut child = platform
        .command()
        .arg("shutdown.mjs")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the client connects within 30 s")
        .unwrap();
    assert_eq!(first.as_deref(), Some("connected"));
    platform.shutdown.cancel();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the client sees the close")
        .unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert_eq!(
        lines.next_line().await.unwrap().as_deref(),
        Some("closed 3001")
    );
}
