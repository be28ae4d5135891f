//! autoscaling/v2 HorizontalPodAutoscalers on CPU.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};

use super::meta::{Component, Instance};
use crate::crd::Scaling;

/// An HPA for the component's Deployment when it is autoscaled.
pub fn for_scaling(
    instance: &Instance<'_>,
    component: Component,
    scaling: &Scaling<'_>,
) -> Option<HorizontalPodAutoscaler> {
    let Scaling::Autoscaled(autoscaling) = scaling else {
        return None;
    };
    Some(HorizontalPodAutoscaler {
        metadata: instance.component_metadata(component),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: instance.child_name(component),
            },
            min_replicas: Some(autoscaling.min_replicas),
            max_replicas: autoscaling.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".to_owned(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".to_owned(),
                    target: MetricTarget {
                        type_: "Utilization".to_owned(),
                        average_utilization: Some(autoscaling.target_cpu_utilization_percentage),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        ..HorizontalPodAutoscaler::default()
    })
}
