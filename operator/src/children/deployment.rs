//! Deployments of `harmony` roles, and the pod hardening every pod shares.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, HTTPGetAction, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::env::{self, HTTP_PORT, Role};
use super::meta::{Component, Instance};
use crate::crd::Scaling;

/// Non-root user the pods run as; images need not declare one.
pub const RUN_AS_USER: i64 = 65532;

/// Requests 100m CPU / 128Mi memory (the HPA measures against the CPU
/// request), limit 512Mi memory; CPU is not limited to avoid throttling.
pub fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity("100m".to_owned())),
            ("memory".to_owned(), Quantity("128Mi".to_owned())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_owned(),
            Quantity("512Mi".to_owned()),
        )])),
        ..ResourceRequirements::default()
    }
}

/// The restricted Pod Security Standard, at pod level.
pub fn pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS_USER),
        run_as_group: Some(RUN_AS_USER),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

/// The restricted Pod Security Standard, at container level.
pub fn container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Capabilities::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..SecurityContext::default()
    }
}

pub fn http_get_probe(path: &str, port: &str, period_seconds: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(port.to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

pub fn named_port(name: &str, port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: port,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

/// A pod spec with the shared hardening; `service_account` is `None` for
/// pods that need no identity (no token is mounted either way).
pub fn pod_spec(containers: Vec<Container>, service_account: Option<String>) -> PodSpec {
    PodSpec {
        containers,
        service_account_name: service_account,
        automount_service_account_token: Some(false),
        // Service links would add `<SERVICE>_PORT`-style variables that
        // Centrifugo (CENTRIFUGO_* prefix) may mistake for its own settings.
        enable_service_links: Some(false),
        security_context: Some(pod_security_context()),
        // The app drains for HTTP__SHUTDOWN_GRACE_SECS (20 s) after SIGTERM.
        termination_grace_period_seconds: Some(30),
        ..PodSpec::default()
    }
}

/// A Deployment of one component. `replicas` is left out when an HPA owns
/// the count, so applying the Deployment never fights the autoscaler.
pub fn deployment(
    instance: &Instance<'_>,
    component: Component,
    scaling: &Scaling<'_>,
    pod: PodSpec,
    pod_annotations: Option<BTreeMap<String, String>>,
    strategy: Option<DeploymentStrategy>,
) -> Deployment {
    let replicas = match scaling {
        Scaling::Fixed(replicas) => Some(*replicas),
        Scaling::Autoscaled(_) => None,
    };
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

/// Single-active components stop the old pod before starting the new one.
pub fn recreate() -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("Recreate".to_owned()),
        ..DeploymentStrategy::default()
    }
}

/// The `harmony` container of a role.
pub fn harmony_container(instance: &Instance<'_>, role: Role, args: Vec<String>) -> Container {
    let spec = &instance.hc.spec;
    let mut container = Container {
        name: role.as_str().to_owned(),
        image: Some(spec.image.clone()),
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

/// The Deployment of a long-running `harmony` role.
pub fn harmony(
    instance: &Instance<'_>,
    role: Role,
    scaling: &Scaling<'_>,
    resources: Option<&ResourceRequirements>,
) -> Deployment {
    let mut container = harmony_container(instance, role, vec![role.as_str().to_owned()]);
    container.resources = Some(resources.cloned().unwrap_or_else(default_resources));
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
