//! The web app served by the platform: from a built directory (here a
//! stand-in build with a hashed asset), history-API fallback for pages,
//! caching by kind of file, compression, and the API left as it was.

use axum::http::{StatusCode, header};

use crate::client::TestApp;

const INDEX: &str = "<!doctype html><title>Harmony</title><div id=root></div>";

/// A build directory as Vite writes it: `index.html` and hashed assets.
fn build() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("harmony-web-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), INDEX).unwrap();
    let script = "console.log('harmony');\n".repeat(500);
    std::fs::write(dir.join("assets/index-3f2a9c1d.js"), script).unwrap();
    std::fs::write(dir.join("favicon.svg"), "<svg/>").unwrap();
    dir
}

async fn app() -> TestApp {
    let dir = build();
    TestApp::with_config(move |c| c.http.web_dir = dir.display().to_string()).await
}

fn header_of(reply: &crate::client::Reply, name: header::HeaderName) -> &str {
    reply
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

/// Seen failing with the fallback answering JSON 404 for every unknown path.
#[tokio::test]
async fn pages_get_the_app_and_it_is_never_cached() {
    let t = app().await;
    for path in [
        "/",
        "/chats/7c1d7b2e-0000-4000-8000-000000000000",
        "/login?next=/chats",
    ] {
        let reply = t
            .get(path)
            .header("accept", "text/html,application/xhtml+xml")
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.body.as_str(), Some(INDEX), "{path}");
        assert_eq!(
            header_of(&reply, header::CACHE_CONTROL),
            "no-cache",
            "{path}"
        );
    }
}

/// Seen failing with every file given `no-cache`.
#[tokio::test]
async fn hashed_assets_are_cached_for_a_year_and_compressed() {
    let t = app().await;
    let reply = t
        .get("/assets/index-3f2a9c1d.js")
        .header("accept-encoding", "gzip")
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        header_of(&reply, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header_of(&reply, header::CONTENT_ENCODING), "gzip");
    let icon = t.get("/favicon.svg").send().await;
    assert_eq!(header_of(&icon, header::CACHE_CONTROL), "no-cache");
    // A missing asset is a 404, not the app (a stale page must not run HTML as script).
    let missing = t
        .get("/assets/gone-00000000.js")
        .header("accept", "text/html")
        .send()
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_api_answers_as_before() {
    let t = app().await;
    let root = t.get("/").header("accept", "application/json").send().await;
    assert_eq!(root.body["message"], "Harmony API is running.");
    let unknown = t
        .get("/api/v1/nothing")
        .header("accept", "text/html")
        .send()
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["detail"], "Not Found");
    let no_html = t.get("/chats/x").send().await;
    assert_eq!(no_html.status, StatusCode::NOT_FOUND);
    let posted = t
        .post("/chats/x")
        .header("accept", "text/html")
        .send()
        .await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_a_build_only_the_api_is_served() {
    let t = TestApp::with_config(|c| c.http.web_dir = "/nonexistent".into()).await;
    let root = t.get("/").header("accept", "text/html").send().await;
    assert_eq!(root.body["message"], "Harmony API is running.");
    let page = t.get("/chats").header("accept", "text/html").send().await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

/// The built web app in Chromium against the real platform: two people chat
/// live (app/web/e2e). `scripts/test.sh` builds the app and installs
/// Chromium first.
#[tokio::test(flavor = "multi_thread")]
async fn two_people_chat_live_in_the_web_app() {
    use std::{path::Path, process::Stdio, time::Duration};
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        web.join("dist/index.html").is_file() && web.join("node_modules/playwright-core").is_dir(),
        "build the web app first (scripts/test.sh does: npm ci && npm run build in app/web)"
    );
    let dist = web.join("dist").display().to_string();
    let platform = crate::platform::Platform::start(1, move |c| c.http.web_dir = dist).await;
    let run = tokio::process::Command::new("node")
        .args(["--test", "e2e/"])
        .current_dir(&web)
        .env("HARMONY_URL", &platform.urls[0])
        .env("HARMONY_CONTROL_URL", &platform.control_url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser tests finish within 3 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("# fail 0"), "{stdout}");
}

/// What a first visit downloads (index.html and the assets it names),
/// measured as the platform sends it gzipped: under the budget of 160 KB
/// (the goal is 200 KB; bench/README.md records the size). Fails when the
/// build grows past it.
#[tokio::test]
async fn the_first_visit_stays_under_its_size_budget() {
    const BUDGET: usize = 160 * 1024;
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/dist");
    let index = std::fs::read_to_string(dist.join("index.html"))
        .expect("build the web app first (scripts/test.sh does)");
    let dir = dist.display().to_string();
    let t = TestApp::with_config(move |c| c.http.web_dir = dir).await;
    let mut paths = vec!["/".to_owned()];
    paths.extend(
        index
            .split('"')
            .filter(|part| part.starts_with("/assets/"))
            .map(str::to_owned),
    );
    assert!(
        paths.len() >= 3,
        "index.html names its script and stylesheet: {paths:?}"
    );
    let mut total = 0;
    for path in &paths {
        let reply = t
            .get(path)
            .header("accept", "text/html,*/*")
            .header("accept-encoding", "gzip")
            .send_raw()
            .await;
        assert_eq!(reply.0, StatusCode::OK, "{path}");
        total += reply.1;
    }
    eprintln!("first visit: {} files, {total} bytes gzipped", paths.len());
    assert!(
        total < BUDGET,
        "first visit is {total} bytes gzipped; budget {BUDGET}"
    );
}
