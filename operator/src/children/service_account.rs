//! The identities of pods that reach AWS (DynamoDB): one ServiceAccount per
//! component, so each can be given only the access it needs (EKS Pod
//! Identity associations, terraform/modules/iam), or IRSA's one role.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;

use super::Children;
use super::meta::{Component, Instance};

/// IRSA: the EKS webhook gives pods of an annotated ServiceAccount the role's credentials.
pub const IRSA_ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// Components whose pods may reach AWS.
const AWS_COMPONENTS: [Component; 5] = [
    Component::Migrate,
    Component::Api,
    Component::Cdc,
    Component::Sink,
    Component::RedpandaConnect,
];

/// A ServiceAccount for every component whose pods run as one of the
/// operator's (none when the spec names its own).
pub fn for_pods(instance: &Instance<'_>, children: &Children) -> Vec<ServiceAccount> {
    let dynamodb = &instance.hc.spec.dynamodb;
    if dynamodb.service_account_name.is_some() {
        return Vec::new();
    }
    let named: Vec<&str> = children
        .deployments
        .iter()
        .filter_map(|d| d.spec.as_ref()?.template.spec.as_ref())
        .chain(
            children
                .jobs
                .iter()
                .filter_map(|j| j.spec.as_ref()?.template.spec.as_ref()),
        )
        .filter_map(|pod| pod.service_account_name.as_deref())
        .collect();
    AWS_COMPONENTS
        .into_iter()
        .filter(|component| named.contains(&instance.aws_service_account(*component).as_str()))
        .map(|component| account(instance, component))
        .collect()
}

/// The reclaim Job's ServiceAccount when it is one of the operator's (the
/// migrate component's), without an owner: foreground deletion of the
/// HarmonyChat may have deleted it already, and its AWS role is bound to
/// its name. The finalizer deletes it after the Job.
pub fn for_reclaim(instance: &Instance<'_>) -> Option<ServiceAccount> {
    if instance.hc.spec.dynamodb.service_account_name.is_some() {
        return None;
    }
    let mut account = account(instance, Component::Migrate);
    account.metadata.owner_references = None;
    Some(account)
}

fn account(instance: &Instance<'_>, component: Component) -> ServiceAccount {
    let mut metadata = instance.component_metadata(component);
    metadata.annotations = instance
        .hc
        .spec
        .dynamodb
        .role_arn
        .as_ref()
        .map(|arn| BTreeMap::from([(IRSA_ROLE_ANNOTATION.to_owned(), arn.clone())]));
    ServiceAccount {
        metadata,
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}
