//! Deployments: one per component, and those of `harmony` roles.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, PodSpec, PodTemplateSpec, ResourceRequirements, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::env::{self, Role};
use super::meta::{Component, Instance};
use super::pdb::may_run_several;
use super::pod::{
    HTTP_PORT, container_security_context, default_resources, http_get_probe, named_port, pod_spec,
};
use crate::crd::Scaling;

/// A Deployment of one component. `replicas` is left out when an HPA owns
/// the count, so applying the Deployment never fights the autoscaler. A
/// component that may run several pods spreads them across zones and nodes.
pub fn deployment(
    instance: &Instance<'_>,
    component: Component,
    scaling: &Scaling<'_>,
    mut pod: PodSpec,
    pod_annotations: Option<BTreeMap<String, String>>,
    strategy: Option<DeploymentStrategy>,
) -> Deployment {
    let replicas = match scaling {
        Scaling::Fixed(replicas) => Some(*replicas),
        Scaling::Autoscaled(_) | Scaling::LagAutoscaled(_) => None,
    };
    if may_run_several(scaling) {
        pod.topology_spread_constraints = Some(topology_spread(instance, component));
    }
    Deployment {
        metadata: instance.component_metadata(component),
        spec: Some(DeploymentSpec {
            replicas,
            revision_history_limit: Some(3),
            selector: LabelSelector {
                match_labels: Some(instance.selector_labels(component)),
                ..LabelSelector::default()
            },
            strategy,
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(instance.labels(component)),
                    annotations: pod_annotations,
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// Prefer spreading the component's pods evenly over zones, then nodes, so
/// losing one takes as few as possible. `ScheduleAnyway`: a cluster with one
/// zone, or too few nodes, still schedules every pod. `pod-template-hash`
/// counts each revision's pods apart, so a roll spreads the new pods too.
pub fn topology_spread(
    instance: &Instance<'_>,
    component: Component,
) -> Vec<TopologySpreadConstraint> {
    ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
        .into_iter()
        .map(|topology_key| TopologySpreadConstraint {
            max_skew: 1,
            topology_key: topology_key.to_owned(),
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            label_selector: Some(LabelSelector {
                match_labels: Some(instance.selector_labels(component)),
                ..LabelSelector::default()
            }),
            match_label_keys: Some(vec!["pod-template-hash".to_owned()]),
            ..TopologySpreadConstraint::default()
        })
        .collect()
}

/// Single-active components stop the old pod before starting the new one.
pub fn recreate() -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("Recreate".to_owned()),
        ..DeploymentStrategy::default()
    }
}

/// The `harmony` container of a role, running `image`.
pub fn harmony_container(
    instance: &Instance<'_>,
    role: Role,
    image: &str,
    args: Vec<String>,
) -> Container {
    let spec = &instance.hc.spec;
    let mut container = Container {
        name: role.as_str().to_owned(),
        image: Some(image.to_owned()),
        image_pull_policy: Some(spec.image_pull_policy.as_str().to_owned()),
        command: Some(vec!["harmony".to_owned()]),
        args: Some(args),
        env: Some(env::harmony(instance, role)),
        security_context: Some(container_security_context()),
        ..Container::default()
    };
    if role.serves_http() {
        container.ports = Some(vec![named_port("http", HTTP_PORT)]);
        container.liveness_probe = Some(http_get_probe("/healthz", "http", 10));
        container.readiness_probe = Some(http_get_probe("/readyz", "http", 5));
    }
    container
}

/// Read by the async runtime (tokio), not by the app's configuration.
pub const WORKER_THREADS_ENV: &str = "TOKIO_WORKER_THREADS";

/// The async runtime's worker threads for a container given `resources`:
/// the CPUs it may use (its limit, else its request), rounded up, at least
/// one. Left alone, the runtime starts one per CPU of the node, and on a
/// pod of one CPU those threads only wake each other: one worker per core
/// spent 15 % less CPU per send at 1,000/s (bench/README.md).
pub fn worker_threads(resources: &ResourceRequirements) -> u32 {
    let cpu = |map: &Option<BTreeMap<String, Quantity>>| map.as_ref()?.get("cpu").and_then(cores);
    let cores = cpu(&resources.limits)
        .or_else(|| cpu(&resources.requests))
        .unwrap_or(1.0);
    // A finite, positive number of cores: the cast cannot truncate anything that matters.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let workers = cores.ceil().clamp(1.0, 1024.0) as u32;
    workers
}

/// Cores in a CPU quantity: `500m`, `0.5`, `2`.
fn cores(quantity: &Quantity) -> Option<f64> {
    let text = quantity.0.trim();
    let cores = match text.strip_suffix('m') {
        Some(millis) => millis.parse::<f64>().ok()? / 1000.0,
        None => text.parse::<f64>().ok()?,
    };
    (cores.is_finite() && cores > 0.0).then_some(cores)
}

/// The Deployment of a long-running `harmony` role.
pub fn harmony(
    instance: &Instance<'_>,
    role: Role,
    scaling: &Scaling<'_>,
    resources: Option<&ResourceRequirements>,
) -> Deployment {
    let mut container = harmony_container(
        instance,
        role,
        &instance.serving_image,
        vec![role.as_str().to_owned()],
    );
    let resources = resources.cloned().unwrap_or_else(default_resources);
    container.env.get_or_insert_default().push(EnvVar {
        name: WORKER_THREADS_ENV.to_owned(),
        value: Some(worker_threads(&resources).to_string()),
        value_from: None,
    });
    container.resources = Some(resources);
    let service_account = role
        .uses_aws()
        .then(|| instance.aws_service_account(role.component()));
    // The relay is the single active outbox reader: never two at once.
    let strategy = (role == Role::Relay).then(recreate);
    deployment(
        instance,
        role.component(),
        scaling,
        pod_spec(vec![container], service_account),
        None,
        strategy,
    )
}
