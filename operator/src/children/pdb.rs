//! policy/v1 PodDisruptionBudgets: at most one pod of a component down at a
//! time for voluntary disruptions (node drains, cluster upgrades).

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{Component, Instance};
use crate::crd::Scaling;

/// Whether the component may run more than one pod: fixed replicas above
/// one, or an autoscaler allowed to go above one. An autoscaled component
/// counts even at one pod now, because Kubernetes evaluates a budget against
/// the pods that exist when a drain asks, and the autoscaler may have added
/// some by then (Strimzi likewise renders its budgets whatever the count).
pub fn may_run_several(scaling: &Scaling<'_>) -> bool {
    match scaling {
        Scaling::Fixed(replicas) => *replicas > 1,
        Scaling::Autoscaled(autoscaling) => autoscaling.max_replicas > 1,
        Scaling::LagAutoscaled(lag) => lag.max_replicas > 1,
    }
}

/// A budget of one unavailable pod when the component may run several.
/// A single pod gets none: `maxUnavailable: 1` would not protect it, and
/// `minAvailable: 1` would block every drain.
pub fn for_scaling(
    instance: &Instance<'_>,
    component: Component,
    scaling: &Scaling<'_>,
) -> Option<PodDisruptionBudget> {
    if !may_run_several(scaling) {
        return None;
    }
    Some(PodDisruptionBudget {
        metadata: instance.component_metadata(component),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(instance.selector_labels(component)),
                ..LabelSelector::default()
            }),
            // A pod that is not Ready serves nothing: evicting it never
            // costs availability, and keeping it must not block a drain.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_owned()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}
