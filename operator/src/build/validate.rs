//! Checks the apiserver cannot make (or that `render` needs without one).
//! The CRD's schema and CEL rules repeat some of them; here they also hold
//! for a spec read from a file.

use k8s_openapi::api::core::v1::ResourceRequirements;

use super::BuildError;
use crate::crd::{Autoscaling, HarmonyChat, MAX_NAME_LEN};

pub fn validate(hc: &HarmonyChat) -> Result<(), BuildError> {
    let spec = &hc.spec;
    let mut problems = Vec::new();
    let name = hc.metadata.name.as_deref().unwrap_or_default();
    if name.len() > MAX_NAME_LEN {
        problems.push(format!(
            "metadata.name must be at most {MAX_NAME_LEN} characters (child names add suffixes), got {}",
            name.len()
        ));
    }
    if spec.image.trim().is_empty() {
        problems.push("spec.image must not be empty".to_owned());
    }
    if spec.kafka.bootstrap_servers.trim().is_empty() {
        problems.push("spec.kafka.bootstrapServers must not be empty".to_owned());
    }
    if spec.dynamodb.role_arn.is_some() && spec.dynamodb.service_account_name.is_some() {
        problems.push("spec.dynamodb: set roleArn or serviceAccountName, not both".to_owned());
    }
    let components = [
        (
            "api",
            spec.api.replicas,
            spec.api.autoscaling.as_ref(),
            spec.api.resources.as_ref(),
        ),
        (
            "cdc",
            spec.cdc.replicas,
            spec.cdc.autoscaling.as_ref(),
            spec.cdc.resources.as_ref(),
        ),
        (
            "sink",
            spec.sink.replicas,
            spec.sink.autoscaling.as_ref(),
            spec.sink.resources.as_ref(),
        ),
        (
            "centrifugo",
            spec.centrifugo.replicas,
            spec.centrifugo.autoscaling.as_ref(),
            spec.centrifugo.resources.as_ref(),
        ),
    ];
    for (component, replicas, autoscaling, resources) in components {
        check_scaling(component, replicas, autoscaling, resources, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BuildError::InvalidSpec(problems))
    }
}

fn check_scaling(
    component: &str,
    replicas: Option<i32>,
    autoscaling: Option<&Autoscaling>,
    resources: Option<&ResourceRequirements>,
    problems: &mut Vec<String>,
) {
    let Some(autoscaling) = autoscaling else {
        return;
    };
    if replicas.is_some() {
        problems.push(format!(
            "spec.{component}: set replicas or autoscaling, not both"
        ));
    }
    if autoscaling.min_replicas > autoscaling.max_replicas {
        problems.push(format!(
            "spec.{component}.autoscaling: minReplicas {} exceeds maxReplicas {}",
            autoscaling.min_replicas, autoscaling.max_replicas
        ));
    }
    // CPU utilisation is a percentage of the request: without one the HPA cannot act.
    let requests_cpu = resources.is_none_or(|resources| {
        resources
            .requests
            .as_ref()
            .is_some_and(|requests| requests.contains_key("cpu"))
    });
    if !requests_cpu {
        problems.push(format!(
            "spec.{component}: autoscaling on CPU needs resources.requests.cpu"
        ));
    }
}
