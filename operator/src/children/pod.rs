//! The pieces every pod the operator renders shares: the restricted
//! hardening, resources, probes, ports, environment from Secrets, and a
//! config file mounted from a ConfigMap whose checksum rolls the pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, PodSecurityContext, PodSpec, Probe, ResourceRequirements, SeccompProfile,
    SecretKeySelector, SecurityContext, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{CONFIG_CHECKSUM_ANNOTATION, Component, Instance};
use super::sha256_hex;

/// Port every role serves `/healthz`, `/readyz`, `/metrics` (and the API) on.
pub const HTTP_PORT: i32 = 8000;
/// Centrifugo's client, API and health port.
pub const CENTRIFUGO_PORT: i32 = 8000;

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

pub fn plain(name: impl Into<String>, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

pub fn from_secret(name: impl Into<String>, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// A ConfigMap holding one file.
pub fn config_map(
    instance: &Instance<'_>,
    component: Component,
    file: &str,
    content: String,
) -> ConfigMap {
    ConfigMap {
        metadata: instance.component_metadata(component),
        data: Some(BTreeMap::from([(file.to_owned(), content)])),
        ..ConfigMap::default()
    }
}

/// SHA-256 of a ConfigMap's data, for the pod template annotation.
pub fn checksum(config: &ConfigMap) -> String {
    let mut hashed = String::new();
    for (key, value) in config.data.iter().flatten() {
        hashed.push_str(key);
        hashed.push('\0');
        hashed.push_str(value);
        hashed.push('\0');
    }
    sha256_hex(hashed.as_bytes())
}

/// The pod template annotation that rolls the pods when the config changes.
pub fn checksum_annotation(config: &ConfigMap) -> BTreeMap<String, String> {
    BTreeMap::from([(CONFIG_CHECKSUM_ANNOTATION.to_owned(), checksum(config))])
}

/// A volume named `config` holding the ConfigMap.
pub fn config_volume(config: &ConfigMap) -> Volume {
    Volume {
        name: "config".to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: config.metadata.name.clone().unwrap_or_default(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}
