//! Names, labels and owner references shared by every child.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

use super::BuildError;
use crate::crd::HarmonyChat;

pub const MANAGED_BY: &str = "harmony-operator";
pub const APP_NAME: &str = "harmony";
const NAME_LABEL: &str = "app.kubernetes.io/name";
const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Selects the children of every HarmonyChat (what the controller watches).
pub fn managed_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY}")
}

/// Selects the children of the HarmonyChat called `name` (what the orphan sweep lists).
pub fn instance_selector(name: &str) -> String {
    format!("{INSTANCE_LABEL}={name},{}", managed_selector())
}
/// Pod template annotation holding the SHA-256 of the mounted configuration,
/// so a configuration change rolls the pods.
pub const CONFIG_CHECKSUM_ANNOTATION: &str = "harmony.chat/config-checksum";

/// What a child is for; also its name suffix and `app.kubernetes.io/component`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Api,
    Relay,
    Cdc,
    Sink,
    Centrifugo,
    Gateway,
    Conduit,
    RedpandaConnect,
    Migrate,
    Auth,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Api => "api",
            Component::Relay => "relay",
            Component::Cdc => "cdc",
            Component::Sink => "sink",
            Component::Centrifugo => "centrifugo",
            Component::Gateway => "gateway",
            Component::Conduit => "conduit",
            Component::RedpandaConnect => "redpanda-connect",
            Component::Migrate => "migrate",
            Component::Auth => "auth",
        }
    }
}

/// The HarmonyChat being built, with the metadata every child needs.
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    pub hc: &'a HarmonyChat,
    pub name: String,
    pub namespace: String,
    /// The image the `harmony` Deployments run: `spec.image`, or during an
    /// upgrade the previous image until the new one's migrations succeeded.
    /// The migration Job always runs `spec.image`.
    pub serving_image: String,
    owner: OwnerReference,
}

impl<'a> Instance<'a> {
    pub fn new(hc: &'a HarmonyChat) -> Result<Self, BuildError> {
        let name = hc
            .metadata
            .name
            .clone()
            .ok_or(BuildError::MissingMetadata("name"))?;
        let namespace = hc
            .namespace()
            .ok_or(BuildError::MissingMetadata("namespace"))?;
        let owner = hc
            .controller_owner_ref(&())
            .ok_or(BuildError::MissingMetadata("uid"))?;
        Ok(Self {
            hc,
            name,
            namespace,
            serving_image: hc.spec.image.clone(),
            owner,
        })
    }

    /// `<name>-<component>`: the name of that component's objects.
    pub fn child_name(&self, component: Component) -> String {
        format!("{}-{}", self.name, component.as_str())
    }

    /// Labels that select a component's pods; they never change.
    pub fn selector_labels(&self, component: Component) -> BTreeMap<String, String> {
        BTreeMap::from([
            (NAME_LABEL.to_owned(), APP_NAME.to_owned()),
            (INSTANCE_LABEL.to_owned(), self.name.clone()),
            (COMPONENT_LABEL.to_owned(), component.as_str().to_owned()),
        ])
    }

    /// Labels of every child: the orphan sweep lists by these.
    pub fn labels(&self, component: Component) -> BTreeMap<String, String> {
        let mut labels = self.selector_labels(component);
        labels.insert(MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned());
        labels
    }

    /// Metadata of a child called `name`, owned by the HarmonyChat.
    pub fn metadata(&self, name: String, component: Component) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels(component)),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }

    /// Metadata of the component's main object, named `<name>-<component>`.
    pub fn component_metadata(&self, component: Component) -> ObjectMeta {
        self.metadata(self.child_name(component), component)
    }

    /// The ServiceAccount of `component`'s pods when they reach AWS: the
    /// one the spec names, else one per component (`<name>-<component>`), so
    /// each can be bound to a role with only the access it needs.
    pub fn aws_service_account(&self, component: Component) -> String {
        self.hc
            .spec
            .dynamodb
            .service_account_name
            .clone()
            .unwrap_or_else(|| self.child_name(component))
    }

    /// Secret with `secret-key` and `proxy-secret`: referenced or generated.
    pub fn auth_secret_name(&self) -> String {
        match &self.hc.spec.auth.secret_ref {
            Some(reference) => reference.name.clone(),
            None => self.child_name(Component::Auth),
        }
    }

    /// `<namespace>.<name>.<component>`: per instance, so two HarmonyChats
    /// sharing a Kafka cluster never take each other's partitions.
    pub fn consumer_group(&self, component: Component) -> String {
        format!("{}.{}.{}", self.namespace, self.name, component.as_str())
    }
}
