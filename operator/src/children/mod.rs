//! The pure build step: a `HarmonyChat` (plus secret material chosen
//! elsewhere) in, every child object out. No client, no IO, no clock and no
//! randomness, so the controller and `harmony-operator render` produce the
//! same objects and tests can compare them byte for byte.

pub mod centrifugo;
pub mod connectors;
pub mod deployment;
pub mod env;
pub mod hpa;
pub mod job;
pub mod keda;
pub mod meta;
pub mod pdb;
pub mod pod;
pub mod secrets;
pub mod service;
pub mod service_account;
pub mod validate;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, ResourceRequirements, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::fmt::Debug;
use std::future::Future;

use crate::crd::{CdcConnector, HarmonyChat, RealtimeServer, Scaling, SinkConnector};
pub use meta::{Component, Instance};
pub use secrets::GeneratedSecrets;

/// Why a `HarmonyChat` cannot be built into children.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BuildError {
    #[error("the HarmonyChat has no metadata.{0}")]
    MissingMetadata(&'static str),
    #[error("invalid spec: {}", .0.join("; "))]
    InvalidSpec(Vec<String>),
}

/// What the operator needs of every child kind: a namespaced object it can
/// serialize, apply, list and watch.
pub trait ChildKind:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
}

impl<K> ChildKind for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize
        + Send
        + Sync
        + 'static
{
}

/// Work done on the children of one kind (apply, sweep), kind after kind.
pub trait EachKind {
    type Error;
    fn each<K: ChildKind>(
        &mut self,
        children: &[K],
    ) -> impl Future<Output = Result<Vec<K>, Self::Error>> + Send;
}

/// Something set up once per child kind (the controller's watches).
pub trait ForKind {
    fn kind<K: ChildKind>(self) -> Self;
}

/// The child kinds, written once, in apply order (identities and
/// configuration before the workloads that read them). Adding a kind here
/// is all build, apply, sweep and watch need.
macro_rules! child_kinds {
    ($($field:ident: $kind:ty),* $(,)?) => {
        /// Every object the operator owns for one `HarmonyChat`, by kind.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Children {
            $(pub $field: Vec<$kind>,)*
        }

        impl Children {
            /// Every child as JSON (with apiVersion and kind), in apply order.
            pub fn manifests(&self) -> Result<Vec<serde_json::Value>, serde_json::Error> {
                let mut out = Vec::with_capacity(self.len());
                $(
                    for child in &self.$field {
                        out.push(serde_json::to_value(child)?);
                    }
                )*
                Ok(out)
            }

            pub fn len(&self) -> usize {
                0 $(+ self.$field.len())*
            }

            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Runs `work` on each kind's children in apply order; what it
            /// returns for each kind makes the result.
            pub async fn each_kind<W: EachKind + Send>(&self, work: &mut W) -> Result<Children, W::Error> {
                Ok(Children {
                    $($field: work.each(&self.$field).await?,)*
                })
            }

            /// Calls `setup` once for every child kind.
            pub fn for_each_kind<F: ForKind>(setup: F) -> F {
                $(let setup = setup.kind::<$kind>();)*
                setup
            }
        }
    };
}

child_kinds! {
    service_accounts: ServiceAccount,
    secrets: Secret,
    config_maps: ConfigMap,
    jobs: Job,
    deployments: Deployment,
    services: Service,
    autoscalers: HorizontalPodAutoscaler,
    trigger_authentications: keda::TriggerAuthentication,
    scaled_objects: keda::ScaledObject,
    disruption_budgets: PodDisruptionBudget,
}

/// Builds every child of `hc`. Secrets are rendered only where the spec
/// references none; their values come from `secrets`.
pub fn build(hc: &HarmonyChat, secrets: &GeneratedSecrets) -> Result<Children, BuildError> {
    build_serving(hc, secrets, &hc.spec.image)
}

/// [`build`], with the `harmony` Deployments running `serving_image` (the
/// previous image while the migration Job of `spec.image` has not yet
/// succeeded); the migration Job runs `spec.image`.
pub fn build_serving(
    hc: &HarmonyChat,
    secrets: &GeneratedSecrets,
    serving_image: &str,
) -> Result<Children, BuildError> {
    let mut instance = Instance::new(hc)?;
    instance.serving_image = serving_image.to_owned();
    validate::validate(hc)?;
    let mut children = Children::default();
    children.secrets.extend(secrets::auth(&instance, secrets));
    children.jobs.push(job::migration(&instance));
    // Per component, in a fixed order: each list keeps its order across builds.
    add_api(&instance, &mut children);
    add_outbox_connector(&instance, &mut children);
    add_cdc(&instance, &mut children);
    add_sink_connector(&instance, &mut children);
    match instance.hc.spec.realtime.server {
        RealtimeServer::Centrifugo => add_centrifugo(&instance, secrets, &mut children),
        RealtimeServer::Gateway => add_gateway(&instance, &mut children),
    }
    for scaled in scaled_components(hc) {
        children.autoscalers.extend(hpa::for_scaling(
            &instance,
            scaled.component,
            &scaled.scaling,
        ));
        children
            .trigger_authentications
            .extend(keda::authentication_for(
                &instance,
                scaled.component,
                &scaled.scaling,
            ));
        children.scaled_objects.extend(keda::scaled_object_for(
            &instance,
            scaled.component,
            &scaled.scaling,
        ));
        children.disruption_budgets.extend(pdb::for_scaling(
            &instance,
            scaled.component,
            &scaled.scaling,
        ));
    }
    let accounts = service_account::for_pods(&instance, &children);
    children.service_accounts = accounts;
    Ok(children)
}

fn add_api(instance: &Instance<'_>, children: &mut Children) {
    let api = &instance.hc.spec.api;
    children.deployments.push(deployment::harmony(
        instance,
        env::Role::Api,
        &api.scaling(),
        api.resources.as_ref(),
    ));
    children.services.push(service::api(instance));
}

/// Outbox to Kafka: the built-in relay (one active instance) or Conduit.
fn add_outbox_connector(instance: &Instance<'_>, children: &mut Children) {
    let spec = &instance.hc.spec;
    match spec.connectors.cdc {
        CdcConnector::Builtin => children.deployments.push(deployment::harmony(
            instance,
            env::Role::Relay,
            &Scaling::Fixed(1),
            spec.relay.resources.as_ref(),
        )),
        CdcConnector::Conduit => {
            let pipeline = connectors::conduit_pipeline(instance);
            children
                .deployments
                .push(connectors::conduit_deployment(instance, &pipeline));
            children.config_maps.push(pipeline);
        }
    }
}

fn add_cdc(instance: &Instance<'_>, children: &mut Children) {
    let cdc = &instance.hc.spec.cdc;
    children.deployments.push(deployment::harmony(
        instance,
        env::Role::Cdc,
        &cdc.scaling(),
        cdc.resources.as_ref(),
    ));
}

/// Kafka to DynamoDB: the built-in sink or Redpanda Connect.
fn add_sink_connector(instance: &Instance<'_>, children: &mut Children) {
    let sink = &instance.hc.spec.sink;
    match instance.hc.spec.connectors.sink {
        SinkConnector::Builtin => {
            children.deployments.push(deployment::harmony(
                instance,
                env::Role::Sink,
                &sink.scaling(),
                sink.resources.as_ref(),
            ));
        }
        SinkConnector::RedpandaConnect => {
            let config = connectors::redpanda_connect_config(instance);
            children
                .deployments
                .push(connectors::redpanda_connect_deployment(instance, &config));
            children.config_maps.push(config);
        }
    }
}

fn add_centrifugo(instance: &Instance<'_>, secrets: &GeneratedSecrets, children: &mut Children) {
    children
        .secrets
        .push(secrets::centrifugo(instance, secrets));
    let config = centrifugo::config_map(instance);
    children
        .deployments
        .push(centrifugo::deployment(instance, &config));
    children.config_maps.push(config);
    children.services.push(service::centrifugo(instance));
}

/// `harmony gateway`: stateless per connection, so autoscaled like the API.
fn add_gateway(instance: &Instance<'_>, children: &mut Children) {
    let gateway = &instance.hc.spec.realtime.gateway;
    children.deployments.push(deployment::harmony(
        instance,
        env::Role::Gateway,
        &gateway.scaling(),
        gateway.resources.as_ref(),
    ));
    children.services.push(service::gateway(instance));
}

/// A component whose pod count the spec sets, as this spec deploys it (the
/// sink's connector, the realtime server chosen): validation, the HPAs and
/// the PodDisruptionBudgets all come from this one list. Components missing
/// from it (the relay, Conduit) always run exactly one pod.
pub struct ScaledComponent<'a> {
    pub component: Component,
    /// Where its settings are in the spec, for messages.
    pub path: &'static str,
    pub scaling: Scaling<'a>,
    pub resources: Option<&'a ResourceRequirements>,
}

pub fn scaled_components(hc: &HarmonyChat) -> Vec<ScaledComponent<'_>> {
    let spec = &hc.spec;
    let (sink, realtime) = (&spec.sink, &spec.realtime.gateway);
    vec![
        ScaledComponent {
            component: Component::Api,
            path: "api",
            scaling: spec.api.scaling(),
            resources: spec.api.resources.as_ref(),
        },
        ScaledComponent {
            component: Component::Cdc,
            path: "cdc",
            scaling: spec.cdc.scaling(),
            resources: spec.cdc.resources.as_ref(),
        },
        ScaledComponent {
            component: match spec.connectors.sink {
                SinkConnector::Builtin => Component::Sink,
                SinkConnector::RedpandaConnect => Component::RedpandaConnect,
            },
            path: "sink",
            scaling: sink.scaling(),
            resources: sink.resources.as_ref(),
        },
        match spec.realtime.server {
            RealtimeServer::Centrifugo => ScaledComponent {
                component: Component::Centrifugo,
                path: "centrifugo",
                scaling: spec.centrifugo.scaling(),
                resources: spec.centrifugo.resources.as_ref(),
            },
            RealtimeServer::Gateway => ScaledComponent {
                component: Component::Gateway,
                path: "realtime.gateway",
                scaling: realtime.scaling(),
                resources: realtime.resources.as_ref(),
            },
        },
    ]
}

/// Hex SHA-256 of `data`: config checksums and the migration Job's image hash.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests;
