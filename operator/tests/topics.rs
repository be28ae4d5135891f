//! Topic reconciliation against a real Kafka-compatible broker: the
//! project's own (`harmony-broker`), started in-process per test on a free
//! port with a scratch data directory, so creating, growing and deleting
//! topics never touches the shared broker other tests use.
//! Topic names still follow `t_<12 hex>_…`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use harmony_operator::controller::{Context, FINALIZER, Settings, reconcile};
use harmony_operator::crd::{HarmonyChat, ReclaimPolicy, TopicSpec, TopicsSpec};
use harmony_operator::render;
use harmony_operator::topics::{KafkaAccess, KafkaTopics, TopicAdmin, TopicChange, TopicsReport};
use http::{Request, Response, StatusCode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::client::Body;
use kube::runtime::events::{Recorder, Reporter};
use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use serde_json::Value;

/// A broker of this test alone; its data directory is removed on drop.
struct Broker {
    address: String,
    _running: harmony_broker::Running,
    _dir: tempfile::TempDir,
}

impl Broker {
    async fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let running = harmony_broker::start(harmony_broker::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            advertised_host: None,
            data_dir: dir.path().to_owned(),
            segment_bytes: 1 << 20,
            retention: harmony_broker::log::Retention { ms: -1, bytes: -1 },
            auto_create_topics: false,
        })
        .await
        .unwrap();
        Broker {
            address: running.address.to_string(),
            _running: running,
            _dir: dir,
        }
    }

    fn access(&self) -> KafkaAccess {
        KafkaAccess {
            bootstrap_servers: self.address.clone(),
            tls: false,
            sasl: None,
        }
    }

    /// Partition count of a topic as the broker reports it (None: no such topic).
    fn partitions(&self, name: &str) -> Option<usize> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .set("allow.auto.create.topics", "false")
            .create()
            .unwrap();
        let metadata = admin
            .inner()
            .fetch_metadata(Some(name), Duration::from_secs(10))
            .unwrap();
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == name && t.error().is_none())
            .map(|t| t.partitions().len())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self._running.shutdown.cancel();
    }
}

/// `t_<12 hex>_`: unique per test, and what the sweep recognises.
fn prefix() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("t_{hex}_")
}

fn topic(name: String, partitions: i32) -> TopicSpec {
    TopicSpec {
        name,
        partitions,
        replication_factor: 1,
        retention_ms: None,
    }
}

fn topics(prefix: &str, messages: i32) -> TopicsSpec {
    TopicsSpec {
        messages: topic(format!("{prefix}messages"), messages),
        chat_events: topic(format!("{prefix}chat_events"), 1),
        user_events: topic(format!("{prefix}user_events"), 1),
    }
}

fn names(topics: &TopicsSpec) -> Vec<String> {
    vec![
        topics.messages.name.clone(),
        topics.chat_events.name.clone(),
        topics.user_events.name.clone(),
    ]
}

/// Checks, off the async runtime, what the broker reports.
async fn partitions_of(broker: &Arc<Broker>, name: &str) -> Option<usize> {
    let (broker, name) = (Arc::clone(broker), name.to_owned());
    tokio::task::spawn_blocking(move || broker.partitions(&name))
        .await
        .unwrap()
}

/// Ensures until the broker reports every topic (the controller likewise
/// checks again on its next pass).
async fn ensure_until_present(broker: &Arc<Broker>, spec: &TopicsSpec) -> Vec<TopicsReport> {
    let mut reports = Vec::new();
    for _ in 0..20 {
        reports.push(KafkaTopics.ensure(&broker.access(), spec).await.unwrap());
        let mut present = true;
        for name in names(spec) {
            present &= partitions_of(broker, &name).await.is_some();
        }
        if present {
            return reports;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the broker never reported every topic of {spec:?}");
}

#[tokio::test]
async fn creates_missing_topics_then_leaves_them_alone() {
    let broker = Arc::new(Broker::start().await);
    let mut spec = topics(&prefix(), 3);
    spec.user_events.retention_ms = Some(3_600_000);

    let reports = ensure_until_present(&broker, &spec).await;
    let created: Vec<&TopicChange> = reports[0]
        .changes
        .iter()
        .filter(|c| matches!(c, TopicChange::Created { .. }))
        .collect();
    // The three logs and their dead-letter topics: the operator owns all six.
    assert_eq!(created.len(), 6, "{reports:?}");
    for name in names(&spec) {
        let dead_letters = format!("{name}.dlq");
        assert_eq!(
            partitions_of(&broker, &dead_letters).await,
            Some(1),
            "{dead_letters}"
        );
    }
    let report = reports.last().unwrap();
    assert!(
        report
            .statuses
            .iter()
            .all(|s| s.ready && s.message.is_none()),
        "{report:?}"
    );
    assert_eq!(report.statuses[0].role, "messages");
    assert_eq!(report.statuses[0].partitions, Some(3));
    assert_eq!(partitions_of(&broker, &spec.messages.name).await, Some(3));

    let again = KafkaTopics.ensure(&broker.access(), &spec).await.unwrap();
    assert!(again.changes.is_empty(), "{again:?}");
    assert!(again.statuses.iter().all(|s| s.ready), "{again:?}");
}

#[tokio::test]
async fn grows_partitions_and_refuses_a_decrease_in_status() {
    let broker = Arc::new(Broker::start().await);
    let prefix = prefix();
    let messages_topic = format!("{prefix}messages");
    ensure_until_present(&broker, &topics(&prefix, 2)).await;
    assert_eq!(partitions_of(&broker, &messages_topic).await, Some(2));

    let grown = KafkaTopics
        .ensure(&broker.access(), &topics(&prefix, 4))
        .await
        .unwrap();
    let messages = &grown.statuses[0];
    assert!(messages.ready && messages.message.is_none(), "{grown:?}");
    assert_eq!(
        grown.changes,
        [TopicChange::PartitionsIncreased {
            name: messages_topic.clone(),
            from: 2,
            to: 4
        }]
    );
    let expected = 4;
    assert_eq!(
        partitions_of(&broker, &messages_topic).await,
        Some(expected)
    );

    let shrink = KafkaTopics
        .ensure(&broker.access(), &topics(&prefix, 1))
        .await
        .unwrap();
    assert!(shrink.changes.is_empty(), "{shrink:?}");
    let messages = &shrink.statuses[0];
    assert_eq!(messages.partitions, Some(expected as i32));
    let message = messages.message.as_deref().unwrap();
    assert!(message.contains("cannot remove partitions"), "{message}");
    // The topic is untouched.
    assert_eq!(
        partitions_of(&broker, &messages_topic).await,
        Some(expected)
    );
}

#[tokio::test]
async fn deleting_topics_that_are_gone_is_fine() {
    let broker = Broker::start().await;
    KafkaTopics
        .delete(&broker.access(), &names(&topics(&prefix(), 1)))
        .await
        .unwrap();
}

#[tokio::test]
async fn unreachable_brokers_are_an_error_not_a_hang() {
    let nowhere = KafkaAccess {
        bootstrap_servers: "127.0.0.1:1".into(),
        tls: false,
        sasl: None,
    };
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        KafkaTopics.ensure(&nowhere, &topics(&prefix(), 1)),
    )
    .await
    .expect("ensure hung");
    assert!(outcome.is_err());
}

/// The whole deletion path: a HarmonyChat with `reclaimPolicy: Delete`
/// being deleted; the controller deletes its topics on the real broker,
/// then removes the finalizer (the apiserver is scripted).
#[tokio::test]
async fn the_delete_policy_deletes_the_topics_on_harmonychat_deletion() {
    let broker = Arc::new(Broker::start().await);
    let spec = topics(&prefix(), 2);
    ensure_until_present(&broker, &spec).await;

    let mut hc: HarmonyChat = render::parse(include_str!("../examples/harmonychat.yaml")).unwrap();
    hc.metadata.uid = Some("0d1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into());
    hc.metadata.resource_version = Some("7".into());
    hc.metadata.finalizers = Some(vec![FINALIZER.into()]);
    hc.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
    hc.spec.kafka.bootstrap_servers = broker.address.clone();
    hc.spec.kafka.reclaim_policy = ReclaimPolicy::Delete;
    hc.spec.kafka.topics = spec.clone();

    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let stored = serde_json::to_value(&hc).unwrap();
    let server = tokio::spawn(async move {
        let mut calls = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let line = format!("{} {}", request.method(), request.uri().path());
            let body = request.into_body().collect_bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap();
            // Events are echoed; the finalizer patch returns the HarmonyChat.
            let answer = if line.starts_with("PATCH") {
                &stored
            } else {
                &body
            };
            send.send_response(
                Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(answer).unwrap()))
                    .unwrap(),
            );
            calls.push((line, body));
        }
        calls
    });
    let client = Client::new(service, "harmony");
    let recorder = Recorder::new(client.clone(), Reporter::from("harmony-operator"));
    let ctx = Arc::new(Context {
        client,
        topics: KafkaTopics,
        recorder,
        settings: Settings::default(),
    });
    reconcile(Arc::new(hc), ctx).await.unwrap();
    let calls = server.await.unwrap();

    let lines: Vec<&str> = calls.iter().map(|(line, _)| line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "POST /apis/events.k8s.io/v1/namespaces/harmony/events",
            "POST /apis/events.k8s.io/v1/namespaces/harmony/events",
            "PATCH /apis/harmony.chat/v1alpha1/namespaces/harmony/harmonychats/harmony-dev",
        ]
    );
    assert_eq!(calls[0].1["reason"], "TopicsDeleted");
    // The table and the database objects: Retain by default.
    assert_eq!(calls[1].1["reason"], "DataRetained");
    assert_eq!(calls[2].1["metadata"]["finalizers"], serde_json::json!([]));
    for name in names(&spec) {
        assert_eq!(partitions_of(&broker, &name).await, None, "{name} survived");
        let dead_letters = format!("{name}.dlq");
        assert_eq!(
            partitions_of(&broker, &dead_letters).await,
            None,
            "{dead_letters} survived"
        );
    }
}
