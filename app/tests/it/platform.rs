//! `Platform`: the platform in-process on real ports (API, relay, sink, one
//! or more gateways) over an isolated `TestEnv`, for the tests that drive it
//! from another process (Node, schemathesis).

use std::{path::Path, process::Stdio, time::Duration};

use harmony::{
    config::Config,
    ops,
    roles::{self, relay::Relay},
};
use tokio_util::sync::CancellationToken;

use crate::support::TestEnv;

pub struct Platform {
    pub env: TestEnv,
    pub urls: Vec<String>,
    pub shutdown: CancellationToken,
}

impl Platform {
    /// `gateways` instances, each serving the API and `/connection/websocket`
    /// on its own port; one relay feeds the chat-list events.
    pub async fn start(gateways: usize, tune: impl FnOnce(&mut Config)) -> Self {
        let mut env = TestEnv::new().await;
        env.config.auth.argon2_memory_kib = 1024;
        env.config.auth.argon2_iterations = 1;
        env.config.auth.argon2_parallelism = 1;
        env.config.sink.group_id = format!("sink-{}", env.id);
        tune(&mut env.config);
        let config = env.config.clone();
        let shutdown = CancellationToken::new();
        let (app, _) = roles::api::build(&config).await.expect("api builds");
        let relay = Relay::new(&config, app.db.clone()).expect("relay builds");
        tokio::spawn(relay.run(shutdown.clone()));
        let sink = roles::sink::Sink::new(&config).await.expect("sink builds");
        tokio::spawn(sink.run(shutdown.clone()));
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
    pub fn command(&self) -> tokio::process::Command {
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
    pub async fn node(&self, file: &str) {
        let run = self.command().arg("--test").arg(file).output();
        let output = tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .expect("node tests finish within 2 minutes")
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("# fail 0"),
            "{file} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
