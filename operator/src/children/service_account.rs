//! The identity of pods that reach AWS (DynamoDB).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;

use super::meta::{Component, Instance};

/// IRSA: the EKS webhook gives pods of an annotated ServiceAccount the role's credentials.
pub const IRSA_ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// `<name>-workload`, unless the spec names an existing ServiceAccount.
pub fn workload(instance: &Instance<'_>) -> Option<ServiceAccount> {
    let dynamodb = &instance.hc.spec.dynamodb;
    if dynamodb.service_account_name.is_some() {
        return None;
    }
    let mut metadata = instance.component_metadata(Component::Workload);
    metadata.annotations = dynamodb
        .role_arn
        .as_ref()
        .map(|arn| BTreeMap::from([(IRSA_ROLE_ANNOTATION.to_owned(), arn.clone())]));
    Some(ServiceAccount {
        metadata,
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    })
}
