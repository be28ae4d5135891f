//! The HarmonyChat objects ArgoCD's health check is tested against
//! (`gitops/argocd/health-fixtures/`), written by the operator's own status
//! code (`status::next`), so the Lua and the operator cannot drift apart.
//! `UPDATE_GOLDEN=1 cargo test -p harmony-operator --test health_fixtures`
//! rewrites them; `scripts/validate-manifests.sh` runs the Lua against them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use harmony_operator::crd::{ComponentStatus, HarmonyChat, TopicStatus};
use harmony_operator::render;
use harmony_operator::status::{self, Migration, Observation, Upgrade};
use k8s_openapi::jiff::Timestamp;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn component(name: &str, ready: i32, desired: i32) -> ComponentStatus {
    ComponentStatus {
        name: name.into(),
        desired_replicas: desired,
        ready_replicas: ready,
        image: Some("ghcr.io/harmony-chat/harmony:1.0.0".into()),
        version: Some("1.0.0".into()),
        rolling: false,
        message: None,
    }
}

fn topic(role: &str, ready: bool, message: Option<&str>) -> TopicStatus {
    TopicStatus {
        role: role.into(),
        name: format!("prod_{role}"),
        ready,
        partitions: Some(12),
        replication_factor: Some(3),
        message: message.map(Into::into),
    }
}

fn all_components(ready: i32) -> Vec<ComponentStatus> {
    ["migrate", "api", "relay", "cdc", "sink", "centrifugo"]
        .iter()
        .map(|name| {
            component(
                name,
                if *name == "migrate" { 1 } else { ready },
                if *name == "migrate" { 1 } else { 2 },
            )
        })
        .collect()
}

fn all_topics() -> Vec<TopicStatus> {
    ["messages", "chatEvents", "userEvents"]
        .iter()
        .map(|role| topic(role, true, None))
        .collect()
}

/// The sample HarmonyChat at `generation`, with the status one reconcile of
/// `observed_generation` would write.
fn object(generation: i64, observation: Option<Observation>) -> String {
    let source =
        std::fs::read_to_string(repo().join("operator/examples/harmonychat.yaml")).unwrap();
    let mut hc: HarmonyChat = render::parse(&source).unwrap();
    hc.metadata.generation = Some(generation);
    let now: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    hc.status = observation.map(|observed| status::next(None, &observed, now));
    serde_yaml::to_string(&hc).unwrap()
}

fn upgrade() -> Upgrade {
    Upgrade {
        from: "ghcr.io/harmony-chat/harmony:1.0.0".into(),
        to: "ghcr.io/harmony-chat/harmony:1.1.0".into(),
    }
}

fn cases() -> Vec<(&'static str, String)> {
    let ready = Observation {
        generation: Some(2),
        components: all_components(2),
        topics: all_topics(),
        ..Observation::default()
    };
    vec![
        ("ready", object(2, Some(ready.clone()))),
        (
            "progressing",
            object(
                2,
                Some(Observation {
                    components: all_components(1),
                    ..ready.clone()
                }),
            ),
        ),
        // Every pod available, but the api's pods are being replaced by 1.1.0's.
        (
            "rolling",
            object(
                2,
                Some(Observation {
                    components: all_components(2)
                        .into_iter()
                        .map(|mut c| {
                            if c.name == "api" {
                                c.image = Some("ghcr.io/harmony-chat/harmony:1.1.0".into());
                                c.version = Some("1.1.0".into());
                                c.rolling = true;
                            }
                            c
                        })
                        .collect(),
                    ..ready.clone()
                }),
            ),
        ),
        (
            "degraded",
            object(
                2,
                Some(Observation {
                    topics: vec![
                        topic(
                            "messages",
                            false,
                            Some(
                                "has 24 partitions, the spec asks for 12: Kafka cannot remove partitions",
                            ),
                        ),
                        topic("chatEvents", true, None),
                        topic("userEvents", true, None),
                    ],
                    ..ready.clone()
                }),
            ),
        ),
        (
            "invalid-spec",
            object(
                2,
                Some(Observation {
                    generation: Some(2),
                    invalid_spec: Some(
                        "spec.kafka.topics: two roles share the topic name prod_messages".into(),
                    ),
                    ..Observation::default()
                }),
            ),
        ),
        // spec.image moved to 1.1.0: its migration Job runs, 1.0.0 serves.
        (
            "migrating",
            object(
                2,
                Some(Observation {
                    migration: Some(Migration::Running),
                    upgrade: Some(upgrade()),
                    current_image: Some("ghcr.io/harmony-chat/harmony:1.0.0".into()),
                    ..ready.clone()
                }),
            ),
        ),
        // The migration Job of 1.1.0 gave up: 1.0.0 keeps serving.
        (
            "migration-failed",
            object(
                2,
                Some(Observation {
                    migration: Some(Migration::Failed {
                        job: "harmony-dev-migrate-5f1d2c3b".into(),
                        message:
                            "BackoffLimitExceeded: Job has reached the specified backoff limit"
                                .into(),
                    }),
                    upgrade: Some(upgrade()),
                    current_image: Some("ghcr.io/harmony-chat/harmony:1.0.0".into()),
                    ..ready.clone()
                }),
            ),
        ),
        // The spec changed (generation 3) and the operator has not caught up.
        ("stale-generation", object(3, Some(ready))),
        ("no-status", object(1, None)),
    ]
}

#[test]
fn health_fixtures_are_current() {
    let dir = repo().join("gitops/argocd/health-fixtures");
    for (case, yaml) in cases() {
        let path = dir.join(format!("{case}.yaml"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &yaml).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
        assert_eq!(
            committed,
            yaml,
            "{} is stale: rerun with UPDATE_GOLDEN=1",
            path.display()
        );
    }
}
