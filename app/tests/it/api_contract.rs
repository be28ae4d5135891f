//! The OpenAPI document against the API it describes: schemathesis (every
//! check; coverage, fuzzing and stateful phases following the document's
//! links) against the served `/api/v1/openapi.json`, each request as a fresh
//! real account (app/tests/contract/hooks.py), proxy endpoints with the
//! proxy secret. Any undocumented status, schema-invalid response, rejected
//! valid input, accepted invalid input or 5xx fails it; seen failing with
//! the 415 response removed from sign-up's documentation (undocumented
//! status) and with the email pattern removed (valid input rejected).
//! Each run draws a fresh seed, so the suite keeps finding new cases; the
//! seed is printed, and `HARMONY_SCHEMATHESIS_SEED=<seed>` replays a run.
//! `scripts/test.sh` installs schemathesis (pinned) into
//! `~/.cache/harmony/venv-schemathesis`; `HARMONY_SCHEMATHESIS` overrides.

use std::{path::PathBuf, process::Stdio, time::Duration};

use crate::platform::Platform;

fn schemathesis() -> PathBuf {
    std::env::var_os("HARMONY_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME");
            PathBuf::from(home).join(".cache/harmony/venv-schemathesis/bin/schemathesis")
        })
}

/// `HARMONY_SCHEMATHESIS_SEED`, else a fresh random one.
fn seed() -> String {
    std::env::var("HARMONY_SCHEMATHESIS_SEED")
        .unwrap_or_else(|_| (uuid::Uuid::new_v4().as_u128() % 1_000_000_000).to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_does_exactly_what_its_openapi_document_says() {
    let schemathesis = schemathesis();
    assert!(
        schemathesis.is_file(),
        "{} missing: run scripts/test.sh (it installs schemathesis)",
        schemathesis.display()
    );
    let seed = seed();
    eprintln!("schemathesis seed {seed} (replay with HARMONY_SCHEMATHESIS_SEED={seed})");
    let platform = Platform::start(1, |_| {}).await;
    let url = &platform.urls[0];
    let proxy_secret = platform.env.config.auth.proxy_secret.expose().to_owned();
    let run = tokio::process::Command::new(&schemathesis)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contract"))
        .env("HARMONY_URL", url)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .args(["run", &format!("{url}/api/v1/openapi.json")])
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", "50", "--seed", &seed])
        // One worker: CPython 3.11's parser is not safe across threads (an
        // AST recursion-depth error inside hypothesis otherwise).
        .args(["--workers", "1", "--no-color"])
        .args(["-H", &format!("x-harmony-proxy-secret: {proxy_secret}")])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems (seed {seed}; replay with HARMONY_SCHEMATHESIS_SEED={seed}):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(" passed"), "{stdout}");
}
