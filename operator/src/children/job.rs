//! The migration Job, one per image: a new image gets a new Job name, so
//! its migrations run once, and Job templates never need mutating. And the
//! reclaim Job, run while a deleted HarmonyChat is finalized.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::deployment::harmony_container;
use super::env::Role;
use super::meta::{Component, Instance};
use super::pod::{default_resources, pod_spec};
use super::sha256_hex;

/// Annotation naming the image a migration Job ran.
pub const IMAGE_ANNOTATION: &str = "harmony.chat/image";
/// On the reclaim Job: the uid of the HarmonyChat whose data it deletes.
/// It has no owner, so a Job left by an earlier object of the same name
/// (its removal failed) is told apart by this.
pub const RECLAIMS_ANNOTATION: &str = "harmony.chat/reclaims";

/// `<name>-migrate-<first 8 hex of sha256(image)>`.
pub fn migration_job_name(instance: &Instance<'_>) -> String {
    let hash = sha256_hex(instance.hc.spec.image.as_bytes());
    format!("{}-{}", instance.child_name(Component::Migrate), &hash[..8])
}

/// Applies Postgres migrations and creates the DynamoDB table; Kafka topics
/// are the operator's (retention, reclaim policy), not the Job's.
pub fn migration(instance: &Instance<'_>) -> Job {
    let image = instance.hc.spec.image.clone();
    let mut metadata = instance.metadata(migration_job_name(instance), Component::Migrate);
    metadata.annotations = Some(BTreeMap::from([(
        IMAGE_ANNOTATION.to_owned(),
        image.clone(),
    )]));
    let container = harmony_container(
        instance,
        Role::Migrate,
        &image,
        vec![
            "migrate".to_owned(),
            "--only".to_owned(),
            "postgres,dynamodb".to_owned(),
        ],
    );
    migrate_component_job(instance, metadata, container, "OnFailure", 6)
}

/// A Job of one `harmony` container run as the migrate component (its
/// labels and AWS ServiceAccount), with default resources.
fn migrate_component_job(
    instance: &Instance<'_>,
    metadata: ObjectMeta,
    mut container: Container,
    restart_policy: &str,
    backoff_limit: i32,
) -> Job {
    container.resources = Some(default_resources());
    let mut pod = pod_spec(
        vec![container],
        Some(instance.aws_service_account(Component::Migrate)),
    );
    pod.restart_policy = Some(restart_policy.to_owned());
    Job {
        metadata,
        spec: Some(JobSpec {
            backoff_limit: Some(backoff_limit),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(instance.labels(Component::Migrate)),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// `<name>-reclaim`.
pub fn reclaim_job_name(instance: &Instance<'_>) -> String {
    format!("{}-reclaim", instance.name)
}

/// Deletes what the migrations created in `stores` (`postgres`,
/// `dynamodb`). Built to survive foreground deletion, which deletes the
/// HarmonyChat's children while its finalizer holds it: no owner (it would
/// be deleted with them), and only the settings `harmony reclaim` reads
/// (Postgres and DynamoDB, from Secrets the spec names, not generated
/// ones). Its outcome is the container's termination message.
pub fn reclaim(instance: &Instance<'_>, stores: &[&str]) -> Job {
    let image = instance
        .hc
        .status
        .as_ref()
        .and_then(|status| status.current_image.clone())
        .unwrap_or_else(|| instance.hc.spec.image.clone());
    let mut metadata = instance.metadata(reclaim_job_name(instance), Component::Migrate);
    metadata.owner_references = None;
    metadata.annotations = Some(BTreeMap::from([(
        RECLAIMS_ANNOTATION.to_owned(),
        instance.hc.metadata.uid.clone().unwrap_or_default(),
    )]));
    let mut container = harmony_container(
        instance,
        Role::Migrate,
        &image,
        vec!["reclaim".to_owned(), "--only".to_owned(), stores.join(",")],
    );
    container.name = "reclaim".to_owned();
    if let Some(env) = container.env.as_mut() {
        env.retain(|var| {
            RECLAIM_SETTINGS
                .iter()
                .any(|prefix| var.name.starts_with(prefix))
        });
    }
    container.termination_message_policy = Some("FallbackToLogsOnError".to_owned());
    // A fresh pod per attempt: one started before its AWS credentials were
    // injected would fail every restart in place.
    let mut job = migrate_component_job(instance, metadata, container, "Never", 3);
    if let Some(spec) = job.spec.as_mut() {
        // The finalizer deletes it; this only catches a deletion that failed.
        spec.ttl_seconds_after_finished = Some(RECLAIM_JOB_TTL_SECONDS);
    }
    job
}

/// A day: long enough for an operator that was down to read the outcome.
const RECLAIM_JOB_TTL_SECONDS: i32 = 86_400;

/// The settings `harmony reclaim` reads.
const RECLAIM_SETTINGS: [&str; 3] = ["APP__", "POSTGRES__", "DYNAMODB__"];
