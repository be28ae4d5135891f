//! The status of a HarmonyChat, derived purely from what one reconcile
//! observed: no client, no clock (the caller passes `now`), so every rule
//! here is unit-tested.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::crd::{ComponentStatus, HarmonyChatStatus, Phase, TopicStatus};

pub const READY: &str = "Ready";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";

/// What one reconcile learned, the only input of the status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// `metadata.generation` of the HarmonyChat that was reconciled.
    pub generation: Option<i64>,
    /// Why the spec cannot be built (a check the schema cannot express).
    pub invalid_spec: Option<String>,
    /// Why applying the children failed.
    pub apply_error: Option<String>,
    /// Why the topics could not be reconciled at all (e.g. brokers unreachable).
    pub topic_error: Option<String>,
    pub components: Vec<ComponentStatus>,
    pub topics: Vec<TopicStatus>,
    /// The image the `harmony` Deployments were applied with, advanced to
    /// `spec.image` when its migration Job succeeded (None: not applied).
    pub current_image: Option<String>,
    /// The state of the migration Job of `spec.image`, as applied.
    pub migration: Option<Migration>,
    /// Set while the Deployments were applied with an older image than
    /// `spec.image`, waiting for its migrations.
    pub upgrade: Option<Upgrade>,
}

/// Where the migration Job of an image stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Migration {
    Running,
    Succeeded,
    /// The Job gave up (its `Failed` condition): `message` is its reason.
    Failed {
        job: String,
        message: String,
    },
}

/// An image change held back until the new image's migrations succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Upgrade {
    /// The image the Deployments keep running meanwhile.
    pub from: String,
    /// `spec.image`.
    pub to: String,
}

/// The next status: conditions keep their `lastTransitionTime` unless their
/// status flips. Components and topics not observed this time (an invalid
/// spec, a failed apply) keep their previous values.
pub fn next(
    previous: Option<&HarmonyChatStatus>,
    observed: &Observation,
    now: Timestamp,
) -> HarmonyChatStatus {
    let previous_conditions = previous.map(|s| s.conditions.as_slice()).unwrap_or(&[]);
    let components = if observed.components.is_empty() {
        previous.map(|s| s.components.clone()).unwrap_or_default()
    } else {
        observed.components.clone()
    };
    let topics = if observed.topics.is_empty() {
        previous.map(|s| s.topics.clone()).unwrap_or_default()
    } else {
        observed.topics.clone()
    };

    let (phase, ready, progressing, degraded) = judge(observed);
    let generation = observed.generation;
    let conditions = [ready, progressing, degraded]
        .into_iter()
        .map(|wanted| condition(previous_conditions, wanted, generation, now))
        .collect();
    let current_image = observed
        .current_image
        .clone()
        .or_else(|| previous.and_then(|s| s.current_image.clone()));
    HarmonyChatStatus {
        observed_generation: generation,
        phase: Some(phase),
        current_image,
        conditions,
        components,
        topics,
    }
}

/// A condition as judged, before its times are attached.
struct Wanted {
    type_: &'static str,
    status: bool,
    reason: &'static str,
    message: String,
}

impl Wanted {
    fn new(
        type_: &'static str,
        status: bool,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// The phase and the Ready, Progressing and Degraded conditions.
fn judge(observed: &Observation) -> (Phase, Wanted, Wanted, Wanted) {
    if let Some(message) = &observed.invalid_spec {
        return (
            Phase::Failed,
            Wanted::new(READY, false, "InvalidSpec", message.clone()),
            Wanted::new(
                PROGRESSING,
                false,
                "InvalidSpec",
                "nothing is applied until the spec is fixed",
            ),
            Wanted::new(DEGRADED, true, "InvalidSpec", message.clone()),
        );
    }
    let (reason, problems) = problems(observed);
    let rolling = rolling_out(observed);
    let waiting = || format!("waiting for {}", rolling.join(", "));
    let all_available = "every component is available";
    let degraded = if problems.is_empty() {
        Wanted::new(DEGRADED, false, "AsExpected", String::new())
    } else {
        Wanted::new(DEGRADED, true, reason, problems.join("; "))
    };
    let progressing = if rolling.is_empty() {
        Wanted::new(PROGRESSING, false, "Complete", all_available)
    } else {
        Wanted::new(PROGRESSING, true, "RollingOut", waiting())
    };
    let migrating = migrating(observed);
    let progressing = match &migrating {
        Some(message) if problems.is_empty() => {
            Wanted::new(PROGRESSING, true, MIGRATING, message.clone())
        }
        _ => progressing,
    };
    let (phase, ready) = if !problems.is_empty() {
        (
            Phase::Degraded,
            Wanted::new(READY, false, reason, problems.join("; ")),
        )
    } else if let Some(message) = migrating {
        (
            Phase::Progressing,
            Wanted::new(READY, false, MIGRATING, message),
        )
    } else if !rolling.is_empty() {
        (
            Phase::Progressing,
            Wanted::new(READY, false, "RollingOut", waiting()),
        )
    } else {
        (
            Phase::Ready,
            Wanted::new(READY, true, "Available", all_available),
        )
    };
    (phase, ready, progressing, degraded)
}

/// Reason of Ready and Progressing while an image change waits for its
/// migrations.
pub const MIGRATING: &str = "Migrating";
/// Reason of Degraded (and Ready) when the migration Job gave up.
pub const MIGRATION_FAILED: &str = "MigrationFailed";

/// While the Deployments are held on the previous image: what is going on.
fn migrating(observed: &Observation) -> Option<String> {
    let upgrade = observed.upgrade.as_ref()?;
    let (from, to) = (image_version(&upgrade.from), image_version(&upgrade.to));
    Some(match observed.migration {
        Some(Migration::Succeeded) => format!("migrations of {to} done; rolling from {from}"),
        _ => format!("running the migrations of {to} before rolling; {from} keeps serving"),
    })
}

/// What keeps the instance degraded, and the reason that names the first kind
/// of problem (a failed apply, then a failed migration, then topics).
fn problems(observed: &Observation) -> (&'static str, Vec<String>) {
    let mut problems: Vec<String> = Vec::new();
    let mut reason = "AsExpected";
    if let Some(error) = &observed.apply_error {
        problems.push(error.clone());
        reason = "ApplyFailed";
    }
    if let Some(Migration::Failed { job, message }) = &observed.migration {
        let serving = observed.upgrade.as_ref().map_or(String::new(), |u| {
            format!(
                " (migrating to {}); {} keeps serving",
                image_version(&u.to),
                image_version(&u.from)
            )
        });
        problems.push(format!("migration Job {job} failed: {message}{serving}"));
        if reason == "AsExpected" {
            reason = MIGRATION_FAILED;
        }
    }
    if let Some(error) = &observed.topic_error {
        problems.push(format!("topics: {error}"));
        if reason == "AsExpected" {
            reason = "TopicsNotReady";
        }
    }
    for topic in observed
        .topics
        .iter()
        .filter(|t| !t.ready || t.message.is_some())
    {
        let why = topic.message.as_deref().unwrap_or("not ready");
        problems.push(format!("topic {}: {why}", topic.name));
        if reason == "AsExpected" {
            reason = "TopicsNotReady";
        }
    }
    (reason, problems)
}

/// Components with fewer ready replicas than desired, or in a roll, as
/// `name ready/desired`, then `rolling to <version>` for a roll.
fn rolling_out(observed: &Observation) -> Vec<String> {
    observed
        .components
        .iter()
        .filter(|c| c.rolling || c.ready_replicas < c.desired_replicas)
        .map(|c| {
            let counts = format!("{} {}/{}", c.name, c.ready_replicas, c.desired_replicas);
            match (&c.version, c.rolling) {
                (Some(version), true) => format!("{counts} rolling to {version}"),
                _ => counts,
            }
        })
        .collect()
}

fn condition(
    previous: &[Condition],
    wanted: Wanted,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if wanted.status { "True" } else { "False" }.to_owned();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == wanted.type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: wanted.type_.to_owned(),
        status,
        reason: wanted.reason.to_owned(),
        message: wanted.message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The condition of `type_`, if the status has it.
pub fn find<'a>(status: Option<&'a HarmonyChatStatus>, type_: &str) -> Option<&'a Condition> {
    status?.conditions.iter().find(|c| c.type_ == type_)
}

/// Conditions whose status, reason or message differ between two statuses:
/// what deserves an Event.
pub fn changed_conditions<'a>(
    before: Option<&HarmonyChatStatus>,
    after: &'a HarmonyChatStatus,
) -> Vec<&'a Condition> {
    after
        .conditions
        .iter()
        .filter(|c| {
            find(before, &c.type_).is_none_or(|old| {
                old.status != c.status || old.reason != c.reason || old.message != c.message
            })
        })
        .collect()
}

const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// The version an image reference names: its tag (`latest` when it has
/// none), or its digest when it has a digest and no tag.
pub fn image_version(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    // A tag follows the last ':' after the last '/' (a ':' before it is a
    // registry port).
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    match (last_segment.split_once(':'), digest) {
        (Some((_, tag)), _) => tag.to_owned(),
        (None, Some(digest)) => digest.to_owned(),
        (None, None) => "latest".to_owned(),
    }
}

/// Whether a Deployment is mid-roll, as `kubectl rollout status` judges
/// it: its controller has not yet seen the latest spec, fewer pods than
/// desired run the latest template, or pods of an older one remain.
/// (Pods of the latest template that are not yet available are counted
/// apart, as `readyReplicas` below `desiredReplicas`.)
fn is_rolling(deployment: &Deployment, desired: i32) -> bool {
    let Some(status) = deployment.status.as_ref() else {
        return true;
    };
    let generation = deployment.metadata.generation.unwrap_or(0);
    let unseen = status.observed_generation.unwrap_or(0) < generation;
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    unseen || updated < desired || total > updated
}

/// Desired vs available pods of each Deployment, its template's image and
/// whether a roll is in progress, as the apiserver returned it.
pub fn deployment_status(deployment: &Deployment) -> ComponentStatus {
    let labels = deployment.metadata.labels.as_ref();
    let name = labels
        .and_then(|l| l.get(COMPONENT_LABEL))
        .cloned()
        .or_else(|| deployment.metadata.name.clone())
        .unwrap_or_default();
    let spec = deployment.spec.as_ref();
    // Under an HPA the applied spec has no replicas; the live object does.
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let status = deployment.status.as_ref();
    let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
    let image = spec
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone());
    let message = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|c| c.type_ == "Progressing" && c.status == "False")
        })
        .and_then(|c| c.message.clone());
    ComponentStatus {
        name,
        desired_replicas: desired,
        ready_replicas: available,
        version: image.as_deref().map(image_version),
        image,
        rolling: is_rolling(deployment, desired),
        message,
    }
}

/// Where a migration Job stands: failed once Kubernetes gave up on it (its
/// `Failed` condition, e.g. the backoff limit reached), succeeded once a pod
/// completed.
pub fn migration(job: &Job) -> Migration {
    let status = job.status.as_ref();
    let failed = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|c| c.type_ == "Failed" && c.status == "True")
        });
    if let Some(condition) = failed {
        let message = match (&condition.reason, &condition.message) {
            (Some(reason), Some(message)) => format!("{reason}: {message}"),
            (Some(text), None) | (None, Some(text)) => text.clone(),
            (None, None) => "failed".to_owned(),
        };
        return Migration::Failed {
            job: job.metadata.name.clone().unwrap_or_default(),
            message,
        };
    }
    if status.and_then(|s| s.succeeded).unwrap_or(0) > 0 {
        Migration::Succeeded
    } else {
        Migration::Running
    }
}

/// The migration Job as a component: one run that must succeed.
pub fn job_status(job: &Job) -> ComponentStatus {
    let status = job.status.as_ref();
    let succeeded = status.and_then(|s| s.succeeded).unwrap_or(0) > 0;
    let failed = status.and_then(|s| s.failed).unwrap_or(0);
    let image = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone());
    ComponentStatus {
        name: "migrate".into(),
        desired_replicas: 1,
        ready_replicas: i32::from(succeeded),
        version: image.as_deref().map(image_version),
        image,
        rolling: false,
        message: (!succeeded && failed > 0).then(|| format!("{failed} failed attempt(s)")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStatus};
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn t(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn component(name: &str, desired: i32, ready: i32) -> ComponentStatus {
        ComponentStatus {
            name: name.into(),
            desired_replicas: desired,
            ready_replicas: ready,
            image: None,
            version: None,
            rolling: false,
            message: None,
        }
    }

    fn topic(name: &str, message: Option<&str>) -> TopicStatus {
        TopicStatus {
            role: "messages".into(),
            name: name.into(),
            ready: true,
            partitions: Some(6),
            replication_factor: Some(1),
            message: message.map(str::to_owned),
        }
    }

    fn get<'a>(status: &'a HarmonyChatStatus, type_: &str) -> &'a Condition {
        find(Some(status), type_).unwrap()
    }

    #[test]
    fn all_available_is_ready() {
        let observed = Observation {
            generation: Some(3),
            components: vec![component("api", 2, 2)],
            topics: vec![topic("chat_messages", None)],
            ..Observation::default()
        };
        let status = next(None, &observed, t(0));
        assert_eq!(status.phase, Some(Phase::Ready));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(get(&status, READY).status, "True");
        assert_eq!(get(&status, PROGRESSING).status, "False");
        assert_eq!(get(&status, DEGRADED).status, "False");
        for condition in &status.conditions {
            assert_eq!(condition.observed_generation, Some(3));
            assert_eq!(condition.last_transition_time, Time(t(0)));
        }
    }

    #[test]
    fn last_transition_time_changes_only_when_the_status_flips() {
        let rolling = Observation {
            generation: Some(1),
            components: vec![component("api", 2, 1)],
            ..Observation::default()
        };
        let first = next(None, &rolling, t(0));
        assert_eq!(get(&first, READY).status, "False");
        assert_eq!(get(&first, PROGRESSING).message, "waiting for api 1/2");

        // Same statuses, new generation and message: times stay.
        let still_rolling = Observation {
            generation: Some(2),
            components: vec![component("api", 3, 1)],
            ..Observation::default()
        };
        let second = next(Some(&first), &still_rolling, t(10));
        assert_eq!(get(&second, READY).last_transition_time, Time(t(0)));
        assert_eq!(get(&second, PROGRESSING).last_transition_time, Time(t(0)));
        assert_eq!(get(&second, READY).observed_generation, Some(2));

        // Ready and Progressing flip; Degraded does not.
        let done = Observation {
            generation: Some(2),
            components: vec![component("api", 3, 3)],
            ..Observation::default()
        };
        let third = next(Some(&second), &done, t(20));
        assert_eq!(get(&third, READY).last_transition_time, Time(t(20)));
        assert_eq!(get(&third, PROGRESSING).last_transition_time, Time(t(20)));
        assert_eq!(get(&third, DEGRADED).last_transition_time, Time(t(0)));
        // A pass that changes nothing produces an identical status (no write).
        assert_eq!(next(Some(&third), &done, t(30)), third);
    }

    #[test]
    fn an_invalid_spec_is_degraded_and_keeps_the_last_observed_components() {
        let good = Observation {
            generation: Some(1),
            components: vec![component("api", 1, 1)],
            ..Observation::default()
        };
        let before = next(None, &good, t(0));
        let invalid = Observation {
            generation: Some(2),
            invalid_spec: Some("spec.api: autoscaling on CPU needs resources.requests.cpu".into()),
            ..Observation::default()
        };
        let after = next(Some(&before), &invalid, t(5));
        assert_eq!(after.phase, Some(Phase::Failed));
        let degraded = get(&after, DEGRADED);
        assert_eq!(
            (degraded.status.as_str(), degraded.reason.as_str()),
            ("True", "InvalidSpec")
        );
        assert!(degraded.message.contains("requests.cpu"));
        assert_eq!(get(&after, READY).status, "False");
        assert_eq!(after.components, before.components);
        assert_eq!(after.observed_generation, Some(2));
    }

    #[test]
    fn a_refused_partition_decrease_is_degraded_with_its_message() {
        let observed = Observation {
            generation: Some(4),
            components: vec![component("api", 1, 1)],
            topics: vec![topic(
                "chat_messages",
                Some(
                    "spec asks for 3 partitions but the topic has 6; Kafka cannot remove partitions",
                ),
            )],
            ..Observation::default()
        };
        let status = next(None, &observed, t(0));
        assert_eq!(status.phase, Some(Phase::Degraded));
        let degraded = get(&status, DEGRADED);
        assert_eq!(degraded.reason, "TopicsNotReady");
        assert!(degraded.message.contains("cannot remove partitions"));
        assert_eq!(get(&status, READY).status, "False");
    }

    #[test]
    fn apply_failures_win_over_topic_problems_as_the_reason() {
        let observed = Observation {
            apply_error: Some("applying Deployment x: forbidden".into()),
            topic_error: Some("brokers unreachable".into()),
            ..Observation::default()
        };
        let status = next(None, &observed, t(0));
        assert_eq!(get(&status, DEGRADED).reason, "ApplyFailed");
        assert!(get(&status, READY).message.contains("brokers unreachable"));
    }

    #[test]
    fn changed_conditions_are_the_ones_to_announce() {
        let rolling = Observation {
            components: vec![component("api", 1, 0)],
            ..Observation::default()
        };
        let first = next(None, &rolling, t(0));
        assert_eq!(changed_conditions(None, &first).len(), 3);
        assert!(changed_conditions(Some(&first), &first).is_empty());
        let ready = Observation {
            components: vec![component("api", 1, 1)],
            ..Observation::default()
        };
        let second = next(Some(&first), &ready, t(1));
        let types: Vec<&str> = changed_conditions(Some(&first), &second)
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, [READY, PROGRESSING]);
    }

    #[test]
    fn deployment_status_reads_desired_and_available_replicas() {
        let deployment = Deployment {
            metadata: ObjectMeta {
                name: Some("chat-api".into()),
                labels: Some([(COMPONENT_LABEL.to_owned(), "api".to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(3),
                template: PodTemplateSpec {
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "api".into(),
                            image: Some("ghcr.io/harmony-chat/harmony:1.4.0".into()),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    }),
                    ..PodTemplateSpec::default()
                },
                ..DeploymentSpec::default()
            }),
            status: Some(DeploymentStatus {
                available_replicas: Some(2),
                ..DeploymentStatus::default()
            }),
        };
        let status = deployment_status(&deployment);
        assert_eq!(
            (
                status.name.as_str(),
                status.desired_replicas,
                status.ready_replicas,
                status.image.as_deref(),
                status.version.as_deref()
            ),
            (
                "api",
                3,
                2,
                Some("ghcr.io/harmony-chat/harmony:1.4.0"),
                Some("1.4.0")
            )
        );
    }

    /// Guarantee: the version is the image's tag, not a registry port, and
    /// a digest only when there is no tag. Seen failing with the tag taken
    /// after the first ':' of the whole reference (the port case).
    #[test]
    fn the_version_is_the_tag_else_the_digest_else_latest() {
        let cases = [
            ("ghcr.io/harmony-chat/harmony:1.2.3", "1.2.3"),
            ("localhost:5000/harmony", "latest"),
            ("localhost:5000/harmony:v2@sha256:ab12", "v2"),
            ("harmony@sha256:ab12", "sha256:ab12"),
            ("harmony", "latest"),
        ];
        for (image, version) in cases {
            assert_eq!(image_version(image), version, "{image}");
        }
    }

    fn observed(
        generation: i64,
        observed_generation: i64,
        replicas: i32,
        updated: i32,
        available: i32,
    ) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                generation: Some(generation),
                ..ObjectMeta::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(3),
                ..DeploymentSpec::default()
            }),
            status: Some(DeploymentStatus {
                observed_generation: Some(observed_generation),
                replicas: Some(replicas),
                updated_replicas: Some(updated),
                available_replicas: Some(available),
                ..DeploymentStatus::default()
            }),
        }
    }

    /// Guarantee: a Deployment is rolling while its controller has not seen
    /// the latest spec, fewer pods than desired run the latest template, or
    /// older pods remain, even with every desired pod available; not once
    /// all run it. Seen failing with each of the three terms of
    /// `is_rolling` removed in turn.
    #[test]
    fn a_deployment_rolls_until_every_pod_runs_the_latest_template() {
        let rolling = |d: &Deployment| deployment_status(d).rolling;
        assert!(!rolling(&observed(2, 2, 3, 3, 3)), "done");
        assert!(rolling(&observed(3, 2, 3, 3, 3)), "spec not yet seen");
        assert!(rolling(&observed(2, 2, 3, 1, 3)), "two old pods left");
        assert!(rolling(&observed(2, 2, 4, 3, 3)), "a surged old pod left");
        // Recreate (the relay): old pods gone, new ones not yet created.
        assert!(rolling(&observed(2, 2, 0, 0, 0)), "recreating");
        // Every pod runs the latest template but one is not yet available:
        // not a roll, but fewer ready than desired.
        let starting = deployment_status(&observed(2, 2, 3, 3, 2));
        assert!(!starting.rolling);
        assert_eq!((starting.ready_replicas, starting.desired_replicas), (2, 3));
        let unobserved = Deployment {
            status: None,
            ..observed(1, 1, 0, 0, 0)
        };
        assert!(rolling(&unobserved), "no status yet");
    }

    /// Guarantee: a roll keeps the instance Progressing (not Ready) even
    /// when every desired pod is available, and the message names the
    /// version being rolled to. Seen failing with `c.rolling ||` removed
    /// from `rolling_out`.
    #[test]
    fn a_roll_with_every_pod_available_is_progressing_not_ready() {
        let mut api = component("api", 2, 2);
        api.version = Some("1.1.0".into());
        api.rolling = true;
        let observed = Observation {
            generation: Some(2),
            components: vec![api, component("cdc", 1, 1)],
            ..Observation::default()
        };
        let status = next(None, &observed, t(0));
        assert_eq!(status.phase, Some(Phase::Progressing));
        assert_eq!(get(&status, READY).status, "False");
        let progressing = get(&status, PROGRESSING);
        assert_eq!(
            (progressing.status.as_str(), progressing.message.as_str()),
            ("True", "waiting for api 2/2 rolling to 1.1.0")
        );
    }
}
