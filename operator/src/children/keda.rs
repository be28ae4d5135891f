//! KEDA `ScaledObject`s scaling a Kafka consumer on its group's lag, and the
//! `TriggerAuthentication` giving KEDA the consumer's SASL credentials.
//!
//! KEDA's Kafka scaler reads the group's committed offsets and the topics'
//! end offsets itself and feeds the HPA it creates; with
//! `allowIdleConsumers: false` it never asks for more pods than partitions.

use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::meta::{Component, Instance};
use crate::crd::{LagAutoscaling, SaslMechanism, Scaling};

/// `keda.sh/v1alpha1` ScaledObject, as much of it as the operator writes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "keda.sh",
    version = "v1alpha1",
    kind = "ScaledObject",
    namespaced,
    schema = "disabled",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObjectSpec {
    pub scale_target_ref: ScaleTarget,
    pub min_replica_count: i32,
    pub max_replica_count: i32,
    pub triggers: Vec<Trigger>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTarget {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    #[serde(rename = "type")]
    pub type_: String,
    /// KEDA's trigger metadata is a map of strings, numbers included.
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_ref: Option<AuthenticationRef>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AuthenticationRef {
    pub name: String,
}

/// `keda.sh/v1alpha1` TriggerAuthentication: trigger parameters read from Secrets.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "keda.sh",
    version = "v1alpha1",
    kind = "TriggerAuthentication",
    namespaced,
    schema = "disabled",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct TriggerAuthenticationSpec {
    pub secret_target_ref: Vec<SecretTarget>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SecretTarget {
    pub parameter: String,
    pub name: String,
    pub key: String,
}

/// The topics `component` consumes with its group: the sink (built-in or
/// Redpanda Connect) the messages topic, cdc both outbox event topics.
pub fn consumed_topics(instance: &Instance<'_>, component: Component) -> Vec<(String, i32)> {
    let topics = &instance.hc.spec.kafka.topics;
    let consumed = match component {
        Component::Sink | Component::RedpandaConnect => vec![&topics.messages],
        Component::Cdc => vec![&topics.chat_events, &topics.user_events],
        _ => Vec::new(),
    };
    consumed
        .into_iter()
        .map(|topic| (topic.name.clone(), topic.partitions))
        .collect()
}

/// The consumer group whose lag drives `component`: the sink's connectors
/// share the sink's group.
fn group_of(instance: &Instance<'_>, component: Component) -> String {
    match component {
        Component::RedpandaConnect => instance.consumer_group(Component::Sink),
        other => instance.consumer_group(other),
    }
}

/// KEDA's name for a SASL mechanism.
fn keda_sasl(mechanism: SaslMechanism) -> &'static str {
    match mechanism {
        SaslMechanism::Plain => "plaintext",
        SaslMechanism::ScramSha256 => "scram_sha256",
        SaslMechanism::ScramSha512 => "scram_sha512",
    }
}

/// The TriggerAuthentication of `component` when Kafka needs SASL: the
/// username and password from the Secret and keys the component reads.
pub fn authentication_for(
    instance: &Instance<'_>,
    component: Component,
    scaling: &Scaling<'_>,
) -> Option<TriggerAuthentication> {
    let Scaling::LagAutoscaled(_) = scaling else {
        return None;
    };
    let auth = instance.hc.spec.kafka.auth.as_ref()?;
    let secret = &auth.secret_ref;
    let target = |parameter: &str, key: &str| SecretTarget {
        parameter: parameter.to_owned(),
        name: secret.name.clone(),
        key: key.to_owned(),
    };
    Some(TriggerAuthentication {
        metadata: instance.component_metadata(component),
        spec: TriggerAuthenticationSpec {
            secret_target_ref: vec![
                target("username", &secret.username_key),
                target("password", &secret.password_key),
            ],
        },
    })
}

/// A ScaledObject for the component's Deployment when it scales on lag: one
/// Kafka trigger per consumed topic (KEDA scales to the largest ask).
pub fn scaled_object_for(
    instance: &Instance<'_>,
    component: Component,
    scaling: &Scaling<'_>,
) -> Option<ScaledObject> {
    let Scaling::LagAutoscaled(lag) = scaling else {
        return None;
    };
    let kafka = &instance.hc.spec.kafka;
    let authentication_ref = kafka.auth.as_ref().map(|_| AuthenticationRef {
        name: instance.child_name(component),
    });
    let triggers = consumed_topics(instance, component)
        .into_iter()
        .map(|(topic, _)| Trigger {
            type_: "kafka".to_owned(),
            metadata: trigger_metadata(instance, component, lag, topic),
            authentication_ref: authentication_ref.clone(),
        })
        .collect();
    Some(ScaledObject {
        metadata: instance.component_metadata(component),
        spec: ScaledObjectSpec {
            scale_target_ref: ScaleTarget {
                api_version: "apps/v1".to_owned(),
                kind: "Deployment".to_owned(),
                name: instance.child_name(component),
            },
            min_replica_count: lag.min_replicas,
            max_replica_count: lag.max_replicas,
            triggers,
        },
    })
}

fn trigger_metadata(
    instance: &Instance<'_>,
    component: Component,
    lag: &LagAutoscaling,
    topic: String,
) -> BTreeMap<String, String> {
    let kafka = &instance.hc.spec.kafka;
    let mut metadata = BTreeMap::from([
        (
            "bootstrapServers".to_owned(),
            kafka.bootstrap_servers.clone(),
        ),
        ("consumerGroup".to_owned(), group_of(instance, component)),
        ("topic".to_owned(), topic),
        ("lagThreshold".to_owned(), lag.lag_per_replica.to_string()),
        // A consumer beyond the partitions would idle.
        ("allowIdleConsumers".to_owned(), "false".to_owned()),
        // Nor count pods for partitions that have nothing to consume.
        ("limitToPartitionsWithLag".to_owned(), "true".to_owned()),
        // A new group has no committed offset yet; the components read
        // from the earliest record, so that is all lag.
        ("offsetResetPolicy".to_owned(), "earliest".to_owned()),
    ]);
    if let Some(auth) = &kafka.auth {
        metadata.insert("sasl".to_owned(), keda_sasl(auth.mechanism).to_owned());
    }
    if kafka.tls {
        metadata.insert("tls".to_owned(), "enable".to_owned());
    }
    metadata
}
