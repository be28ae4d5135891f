//! `Platform`: the platform in-process on real ports (API, relay, sink, one
//! or more gateways) over an isolated `TestEnv`, for the tests that drive it
//! from another process (Node, schemathesis).

use std::{net::SocketAddr, path::Path, process::Stdio, sync::Arc, time::Duration};

use axum::{Router, extract::Path as UrlPath, http::StatusCode, routing::post};
use harmony::{
    config::Config,
    ops,
    roles::{self, relay::Relay},
};
use tokio::{sync::Mutex, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::support::TestEnv;

/// The encoding a client speaks to the gateway: the Node and Python tests
/// run once in each.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    Json,
    Protobuf,
}

impl Format {
    /// As `CENTRIFUGE_FORMAT` names it for the test clients.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Protobuf => "protobuf",
        }
    }
}

pub struct Platform {
    pub env: TestEnv,
    pub urls: Vec<String>,
    /// Stops and starts instances: `POST {control_url}/instances/{i}/stop|start`.
    pub control_url: String,
    pub shutdown: CancellationToken,
}

/// One instance serving the API and `/connection/websocket` on its own port.
/// Stopping it closes its listener and every connection (WebSockets with
/// 3001), as a stopped process would; starting it again uses the same port.
struct Instance {
    config: Config,
    address: SocketAddr,
    running: Option<(CancellationToken, JoinHandle<()>)>,
}

impl Instance {
    async fn start(&mut self, shutdown: &CancellationToken) {
        if self.running.is_some() {
            return;
        }
        let listener = ops::bind(&self.address.to_string())
            .await
            .expect("the instance's port is free again");
        let stop = shutdown.child_token();
        let (app, dependencies) = roles::api::build(&self.config).await.expect("api builds");
        let gateway = roles::gateway::start(
            &self.config,
            app.db.clone(),
            app.cache.clone(),
            stop.clone(),
        )
        .await
        .expect("gateway starts");
        let router = roles::api::router(app, dependencies, ops::Liveness::default())
            .merge(harmony::realtime::router(&gateway));
        let serve = tokio::spawn({
            let stop = stop.clone();
            async move {
                ops::serve_on(listener, router, stop)
                    .await
                    .expect("instance serves");
            }
        });
        self.running = Some((stop, serve));
    }

    async fn stop(&mut self) {
        if let Some((stop, serve)) = self.running.take() {
            stop.cancel();
            serve.await.expect("instance stops");
        }
    }
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
        let (mut instances, mut urls) = (Vec::new(), Vec::new());
        for _ in 0..gateways {
            let free = ops::bind("127.0.0.1:0").await.expect("a free port");
            let address = free.local_addr().unwrap();
            drop(free);
            let mut instance = Instance {
                config: config.clone(),
                address,
                running: None,
            };
            instance.start(&shutdown).await;
            urls.push(format!("http://{address}"));
            instances.push(Arc::new(Mutex::new(instance)));
        }
        let control_url = control(instances, shutdown.clone()).await;
        Self {
            env,
            urls,
            control_url,
            shutdown,
        }
    }

    /// `node` in app/tests/realtime, pointed at this platform, its clients
    /// speaking `format`.
    pub fn command(&self, format: Format) -> tokio::process::Command {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realtime");
        assert!(
            dir.join("node_modules/centrifuge").is_dir(),
            "run `npm ci` in {} (scripts/test.sh does)",
            dir.display()
        );
        let mut command = tokio::process::Command::new("node");
        self.point(&mut command, format);
        command.current_dir(&dir);
        command
    }

    /// The Python SDK's venv (scripts/test.sh installs it).
    pub fn python(&self, format: Format) -> tokio::process::Command {
        let home = std::env::var("HOME").unwrap_or_default();
        let python = Path::new(&home).join(".cache/harmony/venv-centrifuge/bin/python");
        assert!(
            python.is_file(),
            "{} is missing: scripts/test.sh installs centrifuge-python there",
            python.display()
        );
        let mut command = tokio::process::Command::new(python);
        self.point(&mut command, format);
        command.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realtime"));
        command
    }

    /// Where the platform is, and what the clients speak.
    fn point(&self, command: &mut tokio::process::Command, format: Format) {
        command
            .env("CENTRIFUGE_FORMAT", format.name())
            .env("HARMONY_URLS", self.urls.join(","))
            .env("HARMONY_CONTROL_URL", &self.control_url)
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
    }

    /// Runs `app/tests/realtime/<file>` with `node --test`, its clients
    /// speaking `format`; its output is shown when it fails. Each Node test
    /// has 90 s and the runner exits when they end, even if a failed test
    /// left a socket open; should node still hang, it is killed at 2 minutes
    /// and what it printed so far is shown.
    pub async fn node(&self, file: &str, format: Format) {
        let mut command = self.command(format);
        command.args(["--test", "--test-timeout=90000", "--test-force-exit", file]);
        let passed = |stdout: &str| stdout.contains("# fail 0");
        run(command, file, passed).await;
    }

    /// Runs `app/tests/realtime/<script>` with the Python SDK, its client
    /// speaking `format`; it must exit 0 and print `passed`.
    pub async fn python_sdk(&self, script: &str, format: Format) {
        let mut command = self.python(format);
        command.arg(script);
        run(command, script, |stdout| {
            stdout.lines().any(|l| l == "passed")
        })
        .await;
    }
}

/// Runs a test client to its end (killed at 2 minutes); fails with its
/// output unless it exits 0 and `passed` accepts what it printed.
async fn run(mut command: tokio::process::Command, file: &str, passed: impl Fn(&str) -> bool) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test client runs");
    let stdout = tokio::spawn(read_all(child.stdout.take().unwrap()));
    let stderr = tokio::spawn(read_all(child.stderr.take().unwrap()));
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait()).await;
    if status.is_err() {
        child.kill().await.expect("the test client is killed");
    }
    let (stdout, stderr) = (stdout.await.unwrap(), stderr.await.unwrap());
    let passed = matches!(&status, Ok(Ok(code)) if code.success()) && passed(&stdout);
    assert!(
        passed,
        "{file} {}:\n{stdout}\n{stderr}",
        if status.is_err() {
            "hung for 2 minutes and was killed"
        } else {
            "failed"
        }
    );
}

async fn read_all(mut pipe: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut bytes = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The control endpoint the Node tests use to stop and start instances.
async fn control(instances: Vec<Arc<Mutex<Instance>>>, shutdown: CancellationToken) -> String {
    let instances = Arc::new(instances);
    let stopper = shutdown.clone();
    let act = move |UrlPath((index, action)): UrlPath<(usize, String)>| {
        let (instances, shutdown) = (instances.clone(), stopper.clone());
        async move {
            let Some(instance) = instances.get(index) else {
                return StatusCode::NOT_FOUND;
            };
            let mut instance = instance.lock().await;
            match action.as_str() {
                "stop" => instance.stop().await,
                "start" => instance.start(&shutdown).await,
                _ => return StatusCode::NOT_FOUND,
            }
            StatusCode::NO_CONTENT
        }
    };
    let router = Router::new().route("/instances/{index}/{action}", post(act));
    let listener = ops::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ops::serve_on(listener, router, shutdown));
    url
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
