//! The API's wire as the original's clients expect it: responses under
//! `/api/` are never compressed, whatever the client accepts, so a proxy
//! that decodes bodies but forwards headers (the original's Next.js BFF)
//! passes them on intact. Both tests were seen failing with the
//! CompressionLayer applied to every response, as it was: `Content-Encoding:
//! br` on the API's answers, and Chromium refusing the BFF's relabelled
//! plain bodies (`net::ERR_CONTENT_DECODING_FAILED`, fetch "Failed to
//! fetch"). The web app's files stay compressed (web.rs).

use std::{path::Path, process::Stdio, time::Duration};

use axum::http::{StatusCode, header};
use serde_json::json;

use crate::{client::TestApp, platform::Platform};

/// What Chromium sends.
const BROWSER_ENCODINGS: &str = "gzip, deflate, br, zstd";

#[tokio::test]
async fn api_responses_are_never_compressed() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let chat = t.chat(&ann, &[]).await;
    let long = "a long message that compresses well ".repeat(100);
    let calls = [
        (
            t.post(&format!("/api/v1/chats/{chat}"))
                .bearer(&ann.access)
                .json(json!({ "content": long })),
            StatusCode::CREATED,
        ),
        (
            t.get(&format!("/api/v1/chats/{chat}?limit=50&cursor="))
                .bearer(&ann.access),
            StatusCode::OK,
        ),
        (
            t.get("/api/v1/users/me/chats").bearer(&ann.access),
            StatusCode::OK,
        ),
        (t.get("/api/v1/openapi.json"), StatusCode::OK),
        (t.get("/api/v1/docs"), StatusCode::OK),
        (
            t.get(&format!("/api/v1/chats/{chat}?cursor=nope"))
                .bearer(&ann.access),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (t.get("/api/v1/nothing"), StatusCode::NOT_FOUND),
        (
            t.get("/").header("accept", "application/json"),
            StatusCode::OK,
        ),
    ];
    for (call, status) in calls {
        let reply = call
            .header("accept-encoding", BROWSER_ENCODINGS)
            .send()
            .await;
        assert_eq!(
            (reply.status, reply.headers.get(header::CONTENT_ENCODING)),
            (status, None),
            "{}",
            reply.body
        );
    }
}

/// Headless Chromium through a proxy that behaves as the original's BFF
/// (app/tests/bff/bff.test.mjs): sign-up, login, a chat, a send and the
/// history, each answer read by the browser.
#[tokio::test(flavor = "multi_thread")]
async fn the_original_bff_pattern_works_in_a_browser() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    assert!(
        tests.join("../web/node_modules/playwright-core").is_dir(),
        "install the web app's packages first (scripts/test.sh does: npm ci in app/web)"
    );
    let platform = Platform::start(1, |_| {}).await;
    let run = tokio::process::Command::new("node")
        .args(["--test", "--test-force-exit", "bff/bff.test.mjs"])
        .current_dir(&tests)
        .env("HARMONY_URL", &platform.urls[0])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser test finishes within 2 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("# fail 0"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
