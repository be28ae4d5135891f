//! Applying a HarmonyChat's children to a cluster: read what must be kept
//! (generated secret values), build (pure), then server-side apply every
//! child in a fixed order under one field manager.
//!
//! The controller (`controller.rs`, where `reconcile` lives) wraps this with
//! topics, status, Events and the orphan sweep.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use crate::children::{
    self, BuildError, ChildKind, Children, Component, EachKind, GeneratedSecrets, Instance,
};
use crate::crd::HarmonyChat;
use crate::secret_material::RandomError;

/// The one field manager of everything the operator applies.
pub const FIELD_MANAGER: &str = "harmony-operator";

/// Holds a Deployment's `replicas` at their live value while its autoscaler
/// takes them over (`hand_over_replicas`).
pub const REPLICAS_HANDOVER_MANAGER: &str = "harmony-operator-handover";

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error("reading Secret {name}: {source}")]
    ReadSecret {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("handing the replicas of Deployment {name} to its autoscaler: {source}")]
    HandOverReplicas {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("applying {kind} {name}: {source}")]
    Apply {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Secret values the cluster already holds for the generated Secrets, with
/// fresh ones only where a key is missing: reconciling never rotates them.
pub async fn generated_secrets(
    client: &Client,
    hc: &HarmonyChat,
) -> Result<GeneratedSecrets, ReconcileError> {
    let instance = Instance::new(hc)?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &instance.namespace);
    let read = |name: String| {
        let secrets = secrets.clone();
        async move {
            secrets
                .get_opt(&name)
                .await
                .map_err(|source| ReconcileError::ReadSecret { name, source })
        }
    };
    let auth = match hc.spec.auth.secret_ref {
        Some(_) => None,
        None => read(instance.child_name(Component::Auth)).await?,
    };
    let centrifugo = read(instance.child_name(Component::Centrifugo)).await?;
    Ok(GeneratedSecrets::reusing(
        auth.as_ref(),
        centrifugo.as_ref(),
    )?)
}

/// Builds and applies every child of `hc`; returns the children as the
/// apiserver returned them (with their live status).
pub async fn apply_all(client: &Client, hc: &HarmonyChat) -> Result<Children, ReconcileError> {
    let secrets = generated_secrets(client, hc).await?;
    let children = children::build(hc, &secrets)?;
    let namespace = hc.namespace().unwrap_or_default();
    apply_children(client, &namespace, &children).await
}

/// Server-side applies `children` kind by kind in apply order: identities and
/// configuration before the workloads that read them.
pub async fn apply_children(
    client: &Client,
    namespace: &str,
    children: &Children,
) -> Result<Children, ReconcileError> {
    children.each_kind(&mut Apply { client, namespace }).await
}

struct Apply<'a> {
    client: &'a Client,
    namespace: &'a str,
}

impl EachKind for Apply<'_> {
    type Error = ReconcileError;

    async fn each<K: ChildKind>(&mut self, objects: &[K]) -> Result<Vec<K>, ReconcileError> {
        let api: Api<K> = Api::namespaced(self.client.clone(), self.namespace);
        // Forced: the operator owns these fields even if someone edited them by hand.
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let mut applied = Vec::with_capacity(objects.len());
        for object in objects {
            let name = object.name_any();
            hand_over_replicas(&api, object).await.map_err(|source| {
                ReconcileError::HandOverReplicas {
                    name: name.clone(),
                    source,
                }
            })?;
            let live = api
                .patch(&name, &params, &Patch::Apply(object))
                .await
                .map_err(|source| ReconcileError::Apply {
                    kind: K::kind(&()).into_owned(),
                    name,
                    source,
                })?;
            applied.push(live);
        }
        Ok(applied)
    }
}

/// A Deployment the operator applies without `replicas` (an autoscaler owns
/// them now) whose live `replicas` the operator applied last: another field
/// manager applies them first, at their live value. Server-side apply
/// removes a field its only manager stops applying, and Kubernetes would
/// default the Deployment to one pod until the autoscaler scales it back.
/// Reads the live object only for a Deployment without `replicas`.
async fn hand_over_replicas<K: ChildKind>(api: &Api<K>, object: &K) -> Result<(), kube::Error> {
    if K::kind(&()) != "Deployment" {
        return Ok(());
    }
    let applied = serde_json::to_value(object).map_err(kube::Error::SerdeError)?;
    if !applied["spec"]["replicas"].is_null() {
        return Ok(());
    }
    let name = object.name_any();
    let Some(live) = api.get_opt(&name).await? else {
        return Ok(());
    };
    let ours = live.meta().managed_fields.iter().flatten().any(|entry| {
        entry.manager.as_deref() == Some(FIELD_MANAGER)
            && entry.operation.as_deref() == Some("Apply")
            && entry
                .fields_v1
                .as_ref()
                .is_some_and(|fields| fields.0.pointer("/f:spec/f:replicas").is_some())
    });
    let replicas =
        serde_json::to_value(&live).map_err(kube::Error::SerdeError)?["spec"]["replicas"].clone();
    if !ours || replicas.is_null() {
        return Ok(());
    }
    let handover = serde_json::json!({
        "apiVersion": applied["apiVersion"],
        "kind": "Deployment",
        "metadata": { "name": name, "namespace": applied["metadata"]["namespace"] },
        "spec": { "replicas": replicas },
    });
    // Not forced: a conflict means the autoscaler changed them since they
    // were read, and so already manages them.
    match api
        .patch(
            &name,
            &PatchParams::apply(REPLICAS_HANDOVER_MANAGER),
            &Patch::Apply(handover),
        )
        .await
    {
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        outcome => outcome.map(|_| ()),
    }
}
