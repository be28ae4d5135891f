//! The gateway against the official `centrifuge` client: each test starts
//! the platform in-process on real ports (API, relay and one or more
//! gateways over an isolated `TestEnv`) and runs one Node test file of
//! app/tests/realtime against it. `scripts/test.sh` runs `npm ci` there first.

use std::{process::Stdio, time::Duration};

use crate::platform::Platform;

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
        // No ping round during the file: the paused client cannot answer one
        // and would be closed for that, uncounted, before its queue fills.
        config.realtime.ping_interval_seconds = 3600;
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
