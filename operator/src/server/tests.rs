#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::{reflector, watcher};

use super::*;
use crate::controller::MANAGED_ANNOTATION;
use crate::crd::HarmonyChatStatus;

const CREATED: i64 = 1_800_000_000;

fn harmony_chat(namespace: &str, name: &str, ready: Option<(&str, i64)>) -> Arc<HarmonyChat> {
    let mut hc = crate::render::parse(include_str!("../../examples/harmonychat.yaml")).unwrap();
    hc.metadata.name = Some(name.into());
    hc.metadata.namespace = Some(namespace.into());
    hc.metadata.creation_timestamp = Some(Time(Timestamp::from_second(CREATED).unwrap()));
    hc.status = ready.map(|(status, since)| HarmonyChatStatus {
        conditions: vec![Condition {
            type_: READY.into(),
            status: status.into(),
            reason: "Available".into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: Time(Timestamp::from_second(since).unwrap()),
        }],
        ..HarmonyChatStatus::default()
    });
    Arc::new(hc)
}

/// Seen failing with the value taken from the condition's presence instead
/// of its status (`ready.is_some()`).
#[test]
fn ready_is_one_only_for_a_true_ready_condition_with_when_it_last_changed() {
    let mut unmanaged = (*harmony_chat("b", "ignored", Some(("False", CREATED)))).clone();
    unmanaged
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(MANAGED_ANNOTATION.into(), "false".into());
    let resources = [
        harmony_chat("b", "rolling", Some(("False", CREATED + 600))),
        harmony_chat("a", "chat", Some(("True", CREATED + 60))),
        // Never reconciled: not Ready since it was created.
        harmony_chat("b", "new", None),
        // Not managed: the operator says nothing about it.
        Arc::new(unmanaged),
    ];
    assert_eq!(
        ready_metrics(&resources),
        "# HELP harmony_operator_ready 1 when the HarmonyChat's Ready condition is True, else 0.
# TYPE harmony_operator_ready gauge
harmony_operator_ready{namespace=\"a\",name=\"chat\"} 1
harmony_operator_ready{namespace=\"b\",name=\"new\"} 0
harmony_operator_ready{namespace=\"b\",name=\"rolling\"} 0
# HELP harmony_operator_ready_last_transition_timestamp_seconds When the HarmonyChat's Ready condition last changed (its creation while it has none).
# TYPE harmony_operator_ready_last_transition_timestamp_seconds gauge
harmony_operator_ready_last_transition_timestamp_seconds{namespace=\"a\",name=\"chat\"} 1800000060
harmony_operator_ready_last_transition_timestamp_seconds{namespace=\"b\",name=\"new\"} 1800000000
harmony_operator_ready_last_transition_timestamp_seconds{namespace=\"b\",name=\"rolling\"} 1800000600
"
    );
    assert_eq!(ready_metrics(&[]), "", "no resource, no family");
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(
        labels("a\"b", "c\\d\ne"),
        r#"{namespace="a\"b",name="c\\d\ne"}"#
    );
}

/// GET /metrics from the router served on a free port.
async fn scrape(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    // A plain client, not the server's own stack.
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: operator\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    server.abort();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    body.to_owned()
}

/// The series of a deleted HarmonyChat end with it: /metrics reads the
/// controller's cache, which drops the object on its watch's delete event.
#[tokio::test]
async fn metrics_report_cached_resources_and_drop_a_deleted_one() {
    let handle = metrics_builder().unwrap().build_recorder().handle();
    let resources = Resources::default();
    let router = router(handle, resources.clone());
    // A standby (no cache yet) reports no resource.
    assert!(!scrape(router.clone()).await.contains(READY_GAUGE));

    let (store, mut writer) = reflector::store();
    resources.set(store).unwrap();
    let chat = harmony_chat("harmony", "chat", Some(("True", CREATED)));
    writer.apply_watcher_event(&watcher::Event::Apply((*chat).clone()));
    let text = scrape(router.clone()).await;
    assert!(
        text.contains("harmony_operator_ready{namespace=\"harmony\",name=\"chat\"} 1\n"),
        "{text}"
    );

    writer.apply_watcher_event(&watcher::Event::Delete((*chat).clone()));
    let text = scrape(router).await;
    assert!(!text.contains(READY_GAUGE), "{text}");
    assert!(!text.contains(READY_TRANSITION), "{text}");
}

/// What the dashboard and the alerts read: the counter by result, the
/// duration as a histogram with buckets (the exporter's default would be a
/// summary, which `histogram_quantile` cannot read), the leader gauge.
#[test]
fn the_recorder_exports_reconciles_by_result_and_duration_buckets() {
    let recorder = metrics_builder().unwrap().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!(RECONCILIATIONS, "result" => "ok").increment(2);
        metrics::counter!(RECONCILIATIONS, "result" => "error").increment(1);
        metrics::histogram!(RECONCILE_DURATION).record(0.2);
        metrics::gauge!(LEADER).set(1.0);
    });
    let text = handle.render();
    for line in [
        "harmony_operator_reconciliations_total{result=\"ok\"} 2",
        "harmony_operator_reconciliations_total{result=\"error\"} 1",
        "harmony_operator_reconcile_duration_seconds_bucket{le=\"0.1\"} 0",
        "harmony_operator_reconcile_duration_seconds_bucket{le=\"0.25\"} 1",
        "harmony_operator_reconcile_duration_seconds_bucket{le=\"+Inf\"} 1",
        "harmony_operator_reconcile_duration_seconds_count 1",
        "harmony_operator_leader 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}
