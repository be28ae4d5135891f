//! The migration Job, one per image: a new image gets a new Job name, so
//! its migrations run once, and Job templates never need mutating.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::deployment::harmony_container;
use super::env::Role;
use super::meta::{Component, Instance};
use super::pod::{default_resources, pod_spec};
use super::sha256_hex;

/// Annotation naming the image a migration Job ran.
pub const IMAGE_ANNOTATION: &str = "harmony.chat/image";

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
    let mut container = harmony_container(
        instance,
        Role::Migrate,
        &image,
        vec![
            "migrate".to_owned(),
            "--only".to_owned(),
            "postgres,dynamodb".to_owned(),
        ],
    );
    container.resources = Some(default_resources());
    let mut pod = pod_spec(
        vec![container],
        Some(instance.aws_service_account(Component::Migrate)),
    );
    pod.restart_policy = Some("OnFailure".to_owned());
    Job {
        metadata,
        spec: Some(JobSpec {
            backoff_limit: Some(6),
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
