//! Is a HarmonyChat valid? One set of rules for `render` and the controller:
//! the CRD's own schema (types, bounds, patterns) and CEL rules, exactly as
//! the apiserver applies them, plus the few checks no schema can express.
//! Every violation is reported, not just the first.

use std::sync::OnceLock;

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::CustomResourceExt;
use serde_json::Value;

use super::BuildError;
use super::meta::Component;
use crate::crd::{HarmonyChat, LagAutoscaling, MAX_NAME_LEN, Scaling};

pub fn validate(hc: &HarmonyChat) -> Result<(), BuildError> {
    let mut problems = crd_violations(hc);
    let spec = &hc.spec;
    let name = hc.metadata.name.as_deref().unwrap_or_default();
    if name.len() > MAX_NAME_LEN {
        problems.push(format!(
            "metadata.name must be at most {MAX_NAME_LEN} characters (child names add suffixes), got {}",
            name.len()
        ));
    }
    if spec.image.trim().is_empty() {
        problems.push("spec.image must not be blank".to_owned());
    }
    if spec.kafka.bootstrap_servers.trim().is_empty() {
        problems.push("spec.kafka.bootstrapServers must not be blank".to_owned());
    }
    for scaled in super::scaled_components(hc) {
        match scaled.scaling {
            Scaling::Autoscaled(_) => {
                check_cpu_request(scaled.path, scaled.resources, &mut problems)
            }
            Scaling::LagAutoscaled(lag) => {
                check_lag_partitions(hc, scaled.component, scaled.path, lag, &mut problems)
            }
            Scaling::Fixed(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BuildError::InvalidSpec(problems))
    }
}

/// The CRD's openAPIV3Schema, generated from the Rust types (as committed in
/// crds/harmonychat.yaml).
fn crd_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let crd = HarmonyChat::crd();
        let schema = crd
            .spec
            .versions
            .first()
            .and_then(|v| v.schema.as_ref())
            .and_then(|s| s.open_api_v3_schema.as_ref());
        schema
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or(Value::Null)
    })
}

/// What the apiserver would refuse: schema violations, then CEL rules.
fn crd_violations(hc: &HarmonyChat) -> Vec<String> {
    let schema = crd_schema();
    let Ok(mut object) = serde_json::to_value(hc) else {
        return vec!["the HarmonyChat cannot be serialised".to_owned()];
    };
    // Kubernetes treats an explicit null as absent (the schema says `nullable`).
    drop_nulls(&mut object);
    let mut problems = Vec::new();
    match jsonschema::options().build(schema) {
        Ok(validator) => {
            for error in validator.iter_errors(&object) {
                let path = error
                    .instance_path()
                    .to_string()
                    .trim_start_matches('/')
                    .replace('/', ".");
                problems.push(format!("{path}: {error}"));
            }
        }
        Err(error) => problems.push(format!("the CRD schema does not compile: {error}")),
    }
    if let Err(errors) = kube_cel::validate(schema, &object, None) {
        for error in errors.iter() {
            problems.push(format!("{}: {}", error.field_path, error.message));
        }
    }
    problems
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Autoscaling on CPU needs a CPU request (replicas-versus-autoscaling and
/// min-versus-max are CEL rules of the CRD).
fn check_cpu_request(
    path: &str,
    resources: Option<&ResourceRequirements>,
    problems: &mut Vec<String>,
) {
    // CPU utilisation is a percentage of the request: without one the HPA
    // cannot act. No resources at all means the defaults, which request CPU.
    let requests_cpu = resources.is_none_or(|resources| {
        resources
            .requests
            .as_ref()
            .is_some_and(|requests| requests.contains_key("cpu"))
    });
    if !requests_cpu {
        problems.push(format!(
            "spec.{path}: autoscaling on CPU needs resources.requests.cpu"
        ));
    }
}

/// Lag autoscaling never asks for more consumers than a topic has
/// partitions: the extra pods would get no partition and idle. With two
/// topics (cdc) the range assignor gives each topic's partitions out
/// separately, so the largest topic is the bound.
fn check_lag_partitions(
    hc: &HarmonyChat,
    component: Component,
    path: &str,
    lag: &LagAutoscaling,
    problems: &mut Vec<String>,
) {
    let topics = &hc.spec.kafka.topics;
    let consumed = match component {
        Component::Cdc => vec![&topics.chat_events, &topics.user_events],
        _ => vec![&topics.messages],
    };
    let Some(widest) = consumed.into_iter().max_by_key(|topic| topic.partitions) else {
        return;
    };
    if lag.max_replicas > widest.partitions {
        problems.push(format!(
            "spec.{path}.lagAutoscaling.maxReplicas ({}) exceeds the {} partitions of topic {}: a consumer beyond them idles",
            lag.max_replicas, widest.partitions, widest.name
        ));
    }
}
