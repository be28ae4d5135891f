//! The controller loop: one reconcile per HarmonyChat change (or change of a
//! child it owns), in a fixed order:
//!
//! 1. management: the `harmony.chat/managed: "false"` annotation stops
//!    everything (a finalizer of ours is released so deletion never waits);
//! 2. deletion: topics deleted with `kafka.reclaimPolicy: Delete` (given
//!    up after `Settings::deletion_grace`), the reclaim Job run for the
//!    table and the database objects with `Delete`, an Event saying what
//!    became of them, then the finalizer removed;
//! 3. the finalizer: present only while some reclaim policy is `Delete`;
//! 4. validate (pure): an invalid spec is a `Degraded` condition, no retry;
//! 5. topics (Kafka admin API), then build (pure), the `harmony` Deployments
//!    on `status.currentImage` until the migration Job of `spec.image`
//!    succeeded;
//! 6. autoscalers the spec replaces deleted (an HPA before its ScaledObject
//!    and the reverse), then every child applied;
//! 7. status (pure `status::next`), written only when it changed, and Events;
//! 8. the orphan sweep: labelled children the spec no longer produces.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, ListParams, PartialObjectMeta, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::apply::{FIELD_MANAGER, ReconcileError, apply_children, generated_secrets};
use crate::children::keda::ScaledObject;
use crate::children::meta::{instance_selector, managed_selector};
use crate::children::{ChildKind, Children, EachKind, ForKind, Instance, job, service_account};
use crate::crd::{HarmonyChat, HarmonyChatStatus, ReclaimPolicy};
use crate::status::{self, Migration, Observation, Upgrade};
use crate::topics::{
    KafkaAccess, SaslCredentials, TopicAdmin, TopicChange, TopicsReport, topics_by_role,
};

/// Held only while some reclaim policy is `Delete` (named when only topics
/// had one; objects in clusters carry this name).
pub const FINALIZER: &str = "harmony.chat/topics";
/// `"false"` stops all management of that HarmonyChat.
pub const MANAGED_ANNOTATION: &str = "harmony.chat/managed";

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long after deletion was requested failing topic deletions are
    /// retried before the finalizer is released anyway (never wedge a namespace).
    pub deletion_grace: Duration,
    /// Pause between topic deletion attempts.
    pub deletion_retry: Duration,
    /// Resync of a Ready HarmonyChat (topics are not watched).
    pub requeue_ready: Duration,
    /// Next look while something is rolling out or degraded.
    pub requeue_busy: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            deletion_grace: Duration::from_secs(300),
            deletion_retry: Duration::from_secs(30),
            requeue_ready: Duration::from_secs(300),
            requeue_busy: Duration::from_secs(15),
        }
    }
}

pub struct Context<T> {
    pub client: Client,
    pub topics: T,
    pub recorder: Recorder,
    pub settings: Settings,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error("{action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
}

fn kube_error(action: impl Into<String>) -> impl FnOnce(kube::Error) -> ControllerError {
    let action = action.into();
    move |source| ControllerError::Kube { action, source }
}

/// False only with the annotation set to `"false"`.
pub fn is_managed(hc: &HarmonyChat) -> bool {
    hc.annotations()
        .get(MANAGED_ANNOTATION)
        .is_none_or(|value| value != "false")
}

/// Whether a step of a deletion (a failing topic deletion, the reclaim
/// Job) started at `since` has had its grace.
pub fn give_up_deletion(since: Timestamp, now: Timestamp, grace: Duration) -> bool {
    let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
    now.duration_since(since) >= grace
}

/// Whether deleting `hc` must pass through the operator: some data is to be
/// deleted with it (or, for the table and the database objects, reported
/// as kept).
pub fn wants_finalizer(hc: &HarmonyChat) -> bool {
    let spec = &hc.spec;
    [
        spec.kafka.reclaim_policy,
        spec.dynamodb.reclaim_policy,
        spec.postgres.reclaim_policy,
    ]
    .contains(&ReclaimPolicy::Delete)
}

/// The stores whose reclaim policy is `Delete`, as `harmony reclaim` names
/// them: what the reclaim Job deletes.
pub fn stores_to_reclaim(hc: &HarmonyChat) -> Vec<&'static str> {
    let spec = &hc.spec;
    [
        (spec.postgres.reclaim_policy, "postgres"),
        (spec.dynamodb.reclaim_policy, "dynamodb"),
    ]
    .into_iter()
    .filter(|(policy, _)| *policy == ReclaimPolicy::Delete)
    .map(|(_, store)| store)
    .collect()
}

/// What deleting the HarmonyChat did to the table and the database objects,
/// as an Event: what `Retain` kept, and for `Delete` the reclaim Job's
/// outcome (`Ok`: its own account of what it deleted, or kept because
/// `harmony migrate` did not create it; `Err`: why nothing is known to be
/// deleted, a Warning).
pub fn data_reclaim_report(
    hc: &HarmonyChat,
    reclaimed: Option<Result<String, String>>,
) -> (EventType, &'static str, String) {
    let spec = &hc.spec;
    let mut notes = Vec::new();
    if spec.dynamodb.reclaim_policy == ReclaimPolicy::Retain {
        notes.push(format!(
            "kept DynamoDB table {} (reclaimPolicy Retain)",
            spec.dynamodb.table
        ));
    }
    if spec.postgres.reclaim_policy == ReclaimPolicy::Retain {
        notes.push(format!(
            "kept the migrations' objects in the database of Secret {} (reclaimPolicy Retain)",
            spec.postgres.url_secret_ref.name
        ));
    }
    let (type_, reason) = match reclaimed {
        None => (EventType::Normal, "DataRetained"),
        Some(Ok(outcome)) => {
            notes.insert(0, outcome);
            (EventType::Normal, "DataReclaimed")
        }
        Some(Err(why)) => {
            notes.insert(
                0,
                format!(
                    "did not delete {} (reclaimPolicy Delete): {why}",
                    stores_to_reclaim(hc).join(" and ")
                ),
            );
            (EventType::Warning, "DataNotDeleted")
        }
    };
    (type_, reason, notes.join("; "))
}

pub async fn reconcile<T: TopicAdmin>(
    hc: Arc<HarmonyChat>,
    ctx: Arc<Context<T>>,
) -> Result<Action, ControllerError> {
    let started = Instant::now();
    let outcome = reconcile_one(&hc, &ctx).await;
    let result = if outcome.is_ok() { "ok" } else { "error" };
    metrics::counter!(crate::server::RECONCILIATIONS, "result" => result).increment(1);
    metrics::histogram!(crate::server::RECONCILE_DURATION).record(started.elapsed().as_secs_f64());
    outcome
}

async fn reconcile_one<T: TopicAdmin>(
    hc: &HarmonyChat,
    ctx: &Context<T>,
) -> Result<Action, ControllerError> {
    if !is_managed(hc) {
        set_finalizer(hc, ctx, false).await?;
        return Ok(Action::await_change());
    }
    if let Some(deleted_at) = &hc.metadata.deletion_timestamp {
        return finalize(hc, ctx, deleted_at.0).await;
    }
    set_finalizer(hc, ctx, wants_finalizer(hc)).await?;

    let mut observed = Observation {
        generation: hc.metadata.generation,
        ..Observation::default()
    };
    let validity =
        crate::children::validate::validate(hc).and_then(|()| Instance::new(hc).map(drop));
    if let Err(invalid) = validity {
        // Retrying cannot help: the next spec change triggers a reconcile.
        observed.invalid_spec = Some(invalid.to_string());
        write_status(hc, ctx, &observed, &TopicsReport::default()).await?;
        return Ok(Action::await_change());
    }

    let topics = match kafka_access(&ctx.client, hc).await {
        Ok(access) => ctx
            .topics
            .ensure(&access, &hc.spec.kafka.topics)
            .await
            .map_err(|e| e.to_string()),
        Err(error) => Err(error),
    };
    let topics = topics.unwrap_or_else(|error| {
        observed.topic_error = Some(error);
        TopicsReport::default()
    });
    observed.topics = topics.statuses.clone();

    // The harmony Deployments keep the image they run until the migration
    // Job of `spec.image` succeeded (with none recorded, a first install:
    // nothing older serves, so `spec.image`).
    let spec_image = &hc.spec.image;
    let serving = hc
        .status
        .as_ref()
        .and_then(|s| s.current_image.clone())
        .unwrap_or_else(|| spec_image.clone());
    let applied = build_and_apply(hc, ctx, &serving).await;
    let mut held_back = false;
    match &applied {
        Ok((children, held)) => {
            held_back = *held;
            observed.components = component_statuses(children);
            let migration = children.jobs.first().map(status::migration);
            let migrated = migration == Some(Migration::Succeeded);
            observed.current_image = Some(if migrated {
                spec_image.clone()
            } else {
                serving.clone()
            });
            observed.upgrade = (&serving != spec_image).then(|| Upgrade {
                from: serving.clone(),
                to: spec_image.clone(),
            });
            observed.migration = migration;
        }
        Err(error) => observed.apply_error = Some(error.to_string()),
    }
    let status = write_status(hc, ctx, &observed, &topics).await?;
    let (applied, _) = applied?;
    sweep_orphans(hc, ctx, &applied).await?;
    Ok(match status.phase {
        Some(crate::crd::Phase::Ready) if !held_back => Action::requeue(ctx.settings.requeue_ready),
        _ => Action::requeue(ctx.settings.requeue_busy),
    })
}

/// Reads the generated Secrets, builds every child with the harmony
/// Deployments on `serving_image`, makes way for autoscalers that replace
/// another kind, and applies. Also says whether an autoscaler was held back
/// (the one it replaces still being deleted).
async fn build_and_apply<T>(
    hc: &HarmonyChat,
    ctx: &Context<T>,
    serving_image: &str,
) -> Result<(Children, bool), ControllerError> {
    let secrets = generated_secrets(&ctx.client, hc).await?;
    let mut children = crate::children::build_serving(hc, &secrets, serving_image)
        .map_err(ReconcileError::from)?;
    let held_back = hand_over_autoscalers(hc, ctx, &mut children).await?;
    let namespace = hc.namespace().unwrap_or_default();
    let applied = apply_children(&ctx.client, &namespace, &children).await?;
    Ok((applied, held_back))
}

/// A component switched between CPU autoscaling (an HPA) and lag
/// autoscaling (a ScaledObject, whose HPA KEDA makes): two HPAs on one
/// Deployment fight, and KEDA's webhook refuses a ScaledObject for a
/// Deployment an HPA already scales. So, before anything is applied, our
/// autoscalers the spec no longer wants are deleted: HPAs at once, and
/// ScaledObjects in the foreground, so KEDA's HPA (which the ScaledObject
/// owns) goes first. An autoscaler whose predecessor of the same name is
/// still being deleted is held back (removed from `children`) until it is
/// gone; its deletion is watched, so that pass follows. True if held back.
async fn hand_over_autoscalers<T>(
    hc: &HarmonyChat,
    ctx: &Context<T>,
    children: &mut Children,
) -> Result<bool, ControllerError> {
    let namespace = hc.namespace().unwrap_or_default();
    let selector = instance_selector(&hc.name_any());
    let uid = hc.uid().unwrap_or_default();
    let hpas: Vec<String> = children.autoscalers.iter().map(|h| h.name_any()).collect();
    let scaled: Vec<String> = children
        .scaled_objects
        .iter()
        .map(|s| s.name_any())
        .collect();
    let stale = Stale {
        client: &ctx.client,
        namespace: &namespace,
        selector: &selector,
        uid: &uid,
    };
    let (deleted_hpas, lingering_hpas) = stale
        .remove::<HorizontalPodAutoscaler>(&hpas, &DeleteParams::background())
        .await?;
    let (deleted_scaled, lingering_scaled) = stale
        .remove::<ScaledObject>(&scaled, &DeleteParams::foreground())
        .await?;
    for name in deleted_hpas.iter().chain(&deleted_scaled) {
        publish(
            ctx,
            hc,
            EventType::Normal,
            "AutoscalerRemoved",
            format!("deleted {name}, which the spec no longer wants, before applying"),
        )
        .await;
    }
    let before = children.autoscalers.len() + children.scaled_objects.len();
    children
        .autoscalers
        .retain(|h| !lingering_scaled.contains(&h.name_any()));
    children
        .scaled_objects
        .retain(|s| !lingering_hpas.contains(&s.name_any()));
    Ok(children.autoscalers.len() + children.scaled_objects.len() < before)
}

/// Finds and deletes one kind's children of this HarmonyChat that are not wanted.
struct Stale<'a> {
    client: &'a Client,
    namespace: &'a str,
    selector: &'a str,
    uid: &'a str,
}

impl Stale<'_> {
    /// Deletes ours not in `keep`; returns `Kind name` of each deleted, and
    /// the names still present (being deleted, e.g. awaiting a finalizer).
    async fn remove<K: ChildKind>(
        &self,
        keep: &[String],
        params: &DeleteParams,
    ) -> Result<(Vec<String>, Vec<String>), ControllerError> {
        let kind = K::kind(&()).into_owned();
        let api: Api<K> = Api::namespaced(self.client.clone(), self.namespace);
        let (mut deleted, mut lingering) = (Vec::new(), Vec::new());
        for object in list_ours(&api, self.selector, self.uid).await? {
            let name = object.name_any();
            if keep.contains(&name) {
                continue;
            }
            if object.metadata.deletion_timestamp.is_some() {
                lingering.push(name);
                continue;
            }
            let outcome = api
                .delete(&name, params)
                .await
                .map_err(kube_error(format!("deleting {kind} {name}")))?;
            deleted.push(format!("{kind} {name}"));
            if outcome.is_left() {
                lingering.push(name);
            }
        }
        Ok((deleted, lingering))
    }
}

/// This kind's objects labelled as `selector`'s and controlled by `uid`.
async fn list_ours<K: ChildKind>(
    api: &Api<K>,
    selector: &str,
    uid: &str,
) -> Result<Vec<PartialObjectMeta<K>>, ControllerError> {
    let existing = match api
        .list_metadata(&ListParams::default().labels(selector))
        .await
    {
        Ok(existing) => existing.items,
        // The kind is not served (KEDA's CRDs not installed): nothing
        // of it can exist, and a spec that wanted one failed to apply.
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(error) => {
            let kind = K::kind(&()).into_owned();
            return Err(kube_error(format!("listing {kind}s"))(error));
        }
    };
    Ok(existing
        .into_iter()
        .filter(|object| {
            object
                .owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && o.uid == uid)
        })
        .collect())
}

fn component_statuses(applied: &Children) -> Vec<crate::crd::ComponentStatus> {
    applied
        .jobs
        .iter()
        .map(status::job_status)
        .chain(applied.deployments.iter().map(status::deployment_status))
        .collect()
}

/// The brokers of `hc`, with SASL credentials read from their Secret.
async fn kafka_access(client: &Client, hc: &HarmonyChat) -> Result<KafkaAccess, String> {
    let kafka = &hc.spec.kafka;
    let sasl = match &kafka.auth {
        None => None,
        Some(auth) => {
            let namespace = hc.namespace().unwrap_or_default();
            let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
            let reference = &auth.secret_ref;
            let secret = secrets
                .get(&reference.name)
                .await
                .map_err(|e| format!("reading Secret {}: {e}", reference.name))?;
            let value = |key: &str| -> Result<String, String> {
                secret
                    .data
                    .as_ref()
                    .and_then(|data| data.get(key))
                    .and_then(|bytes| String::from_utf8(bytes.0.clone()).ok())
                    .ok_or_else(|| format!("Secret {} has no key {key}", reference.name))
            };
            Some(SaslCredentials {
                mechanism: auth.mechanism,
                username: value(&reference.username_key)?,
                password: value(&reference.password_key)?,
            })
        }
    };
    Ok(KafkaAccess {
        bootstrap_servers: kafka.bootstrap_servers.clone(),
        tls: kafka.tls,
        sasl,
    })
}

/// Adds or removes our finalizer; a merge patch carrying the
/// resourceVersion, so a concurrent change makes it fail and retry.
async fn set_finalizer<T>(
    hc: &HarmonyChat,
    ctx: &Context<T>,
    wanted: bool,
) -> Result<(), ControllerError> {
    let present = hc.finalizers().iter().any(|f| f == FINALIZER);
    if present == wanted {
        return Ok(());
    }
    let mut finalizers: Vec<&String> = hc.finalizers().iter().filter(|f| *f != FINALIZER).collect();
    let ours = FINALIZER.to_owned();
    if wanted {
        finalizers.push(&ours);
    }
    let patch = json!({
        "metadata": { "finalizers": finalizers, "resourceVersion": hc.resource_version() }
    });
    let api: Api<HarmonyChat> =
        Api::namespaced(ctx.client.clone(), &hc.namespace().unwrap_or_default());
    api.patch(
        &hc.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(kube_error(if wanted {
        "adding the finalizer"
    } else {
        "removing the finalizer"
    }))?;
    Ok(())
}

async fn finalize<T: TopicAdmin>(
    hc: &HarmonyChat,
    ctx: &Context<T>,
    deleted_at: Timestamp,
) -> Result<Action, ControllerError> {
    if !hc.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    if !wants_finalizer(hc) {
        // A stale finalizer (the policies changed to Retain): nothing to delete.
        set_finalizer(hc, ctx, false).await?;
        return Ok(Action::await_change());
    }
    if hc.spec.kafka.reclaim_policy == ReclaimPolicy::Delete
        && let Some(retry) = delete_topics(hc, ctx, deleted_at).await
    {
        return Ok(retry);
    }
    let stores = stores_to_reclaim(hc);
    let reclaimed = if stores.is_empty() {
        None
    } else {
        match reclaim(hc, ctx, deleted_at, &stores).await? {
            Reclaim::Waiting(action) => return Ok(action),
            Reclaim::Done(outcome) => Some(outcome),
        }
    };
    let (type_, reason, note) = data_reclaim_report(hc, reclaimed);
    publish(ctx, hc, type_, reason, note).await;
    set_finalizer(hc, ctx, false).await?;
    // Only after the release: were it refused (a conflict), the next pass
    // finds the finished Job and reports it again, rather than running it twice.
    if !stores.is_empty() {
        remove_reclaim_job(hc, ctx).await;
    }
    Ok(Action::await_change())
}

enum Reclaim {
    Waiting(Action),
    Done(Result<String, String>),
}

/// Runs the reclaim Job (and its ServiceAccount, when the operator's) to
/// completion: `Done` with its outcome once it finished, failed, could not
/// start within the deletion grace (counted from the deletion), or did not
/// finish within the grace counted from its own creation (slow topic
/// deletions before it take none of its time).
async fn reclaim<T>(
    hc: &HarmonyChat,
    ctx: &Context<T>,
    deleted_at: Timestamp,
    stores: &[&str],
) -> Result<Reclaim, ControllerError> {
    let instance = match Instance::new(hc) {
        Ok(instance) => instance,
        Err(error) => return Ok(Reclaim::Done(Err(format!("no reclaim Job: {error}")))),
    };
    let namespace = instance.namespace.as_str();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let name = job::reclaim_job_name(&instance);
    let grace = ctx.settings.deletion_grace;
    let waiting = Reclaim::Waiting(Action::requeue(ctx.settings.requeue_busy));
    let found = jobs
        .get_opt(&name)
        .await
        .map_err(kube_error(format!("reading Job {name}")))?;
    let Some(found) = found else {
        return match start_reclaim_job(&instance, ctx, stores).await {
            Ok(()) => Ok(waiting),
            // A namespace being deleted refuses new objects: never wedge it.
            Err(error) if give_up_deletion(deleted_at, Timestamp::now(), grace) => {
                Ok(Reclaim::Done(Err(format!(
                    "the reclaim Job {name} could not be started within {grace:?}: {error}"
                ))))
            }
            Err(error) => Err(error),
        };
    };
    let reclaims = found.annotations().get(job::RECLAIMS_ANNOTATION);
    if reclaims.map(String::as_str) != Some(hc.uid().unwrap_or_default().as_str()) {
        // An earlier HarmonyChat's of the same name: its outcome is not
        // this one's. Deleted in the foreground, so it is gone only once
        // its pods are: ours starts after that, never beside it.
        if found.metadata.deletion_timestamp.is_none() {
            let deleted = jobs.delete(&name, &DeleteParams::foreground()).await;
            ignore_not_found(deleted.map(drop))
                .map_err(kube_error(format!("deleting the stale Job {name}")))?;
        }
        return Ok(waiting);
    }
    let said = || termination_message(ctx, namespace, &found);
    let created_at = found
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(deleted_at, |created| created.0);
    let late = give_up_deletion(created_at, Timestamp::now(), grace);
    Ok(Reclaim::Done(match status::migration(&found) {
        Migration::Running if !late => return Ok(waiting),
        Migration::Running => Err(format!(
            "the reclaim Job {name} did not finish within {grace:?}"
        )),
        Migration::Failed { message, .. } => Err(match said().await {
            Some(last) => {
                format!("the reclaim Job {name} failed ({message}); its last pod said: {last}")
            }
            None => format!("the reclaim Job {name} failed ({message})"),
        }),
        Migration::Succeeded => Ok(said()
            .await
            .unwrap_or_else(|| format!("the reclaim Job {name} succeeded"))),
    }))
}

async fn start_reclaim_job<T>(
    instance: &Instance<'_>,
    ctx: &Context<T>,
    stores: &[&str],
) -> Result<(), ControllerError> {
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let namespace = instance.namespace.as_str();
    if let Some(account) = service_account::for_reclaim(instance) {
        let name = account.name_any();
        Api::<ServiceAccount>::namespaced(ctx.client.clone(), namespace)
            .patch(&name, &apply, &Patch::Apply(&account))
            .await
            .map_err(kube_error(format!("applying ServiceAccount {name}")))?;
    }
    let name = job::reclaim_job_name(instance);
    Api::<Job>::namespaced(ctx.client.clone(), namespace)
        .patch(&name, &apply, &Patch::Apply(job::reclaim(instance, stores)))
        .await
        .map_err(kube_error(format!("applying Job {name}")))?;
    Ok(())
}

/// Deletes the reclaim Job and the ServiceAccount applied for it. Best
/// effort: the HarmonyChat is gone; the Job's TTL removes it if this fails.
async fn remove_reclaim_job<T>(hc: &HarmonyChat, ctx: &Context<T>) {
    let Ok(instance) = Instance::new(hc) else {
        return;
    };
    let namespace = instance.namespace.as_str();
    let background = DeleteParams::background();
    let name = job::reclaim_job_name(&instance);
    let deleted = Api::<Job>::namespaced(ctx.client.clone(), namespace)
        .delete(&name, &background)
        .await
        .map(drop);
    if let Err(error) = ignore_not_found(deleted) {
        tracing::warn!(%error, job = name, "the reclaim Job was not deleted");
    }
    if let Some(account) = service_account::for_reclaim(&instance) {
        let name = account.name_any();
        let deleted = Api::<ServiceAccount>::namespaced(ctx.client.clone(), namespace)
            .delete(&name, &background)
            .await
            .map(drop);
        if let Err(error) = ignore_not_found(deleted) {
            tracing::warn!(%error, account = name, "the reclaim Job's ServiceAccount was not deleted");
        }
    }
}

fn ignore_not_found(result: Result<(), kube::Error>) -> Result<(), kube::Error> {
    match result {
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        other => other,
    }
}

/// What the Job's pod said: `harmony reclaim` writes one line per store to
/// its termination message; a failed pod's is the tail of its log. The
/// succeeded pod's if there is one, else the newest failed pod's; lines
/// joined by "; ".
async fn termination_message<T>(ctx: &Context<T>, namespace: &str, job: &Job) -> Option<String> {
    let uid = job.metadata.uid.as_deref()?;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let listed = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/controller-uid={uid}")))
        .await
        .inspect_err(|error| tracing::warn!(%error, "cannot read the reclaim Job's pods"))
        .ok()?;
    let terminated: Vec<_> = listed
        .items
        .iter()
        .flat_map(|pod| {
            pod.status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
        })
        .filter_map(|status| status.state.as_ref()?.terminated.as_ref())
        .filter(|terminated| terminated.message.is_some())
        .collect();
    let chosen = terminated
        .iter()
        .find(|terminated| terminated.exit_code == 0)
        .or_else(|| {
            terminated
                .iter()
                .max_by_key(|terminated| terminated.finished_at.clone())
        })?;
    let message = chosen.message.as_deref()?;
    Some(
        message
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Deletes the topics; `Some(requeue)` while a failing deletion is retried
/// (within the grace), `None` once done or given up (an Event says which).
async fn delete_topics<T: TopicAdmin>(
    hc: &HarmonyChat,
    ctx: &Context<T>,
    deleted_at: Timestamp,
) -> Option<Action> {
    let names: Vec<String> = topics_by_role(&hc.spec.kafka.topics)
        .iter()
        .map(|(_, topic)| topic.name.clone())
        .collect();
    let deleted = match kafka_access(&ctx.client, hc).await {
        Ok(access) => ctx
            .topics
            .delete(&access, &names)
            .await
            .map_err(|e| e.to_string()),
        Err(error) => Err(error),
    };
    match deleted {
        Ok(()) => {
            publish(
                ctx,
                hc,
                EventType::Normal,
                "TopicsDeleted",
                format!("deleted topics {}", names.join(", ")),
            )
            .await;
        }
        Err(error)
            if give_up_deletion(deleted_at, Timestamp::now(), ctx.settings.deletion_grace) =>
        {
            publish(
                ctx,
                hc,
                EventType::Warning,
                "TopicsLeftBehind",
                format!(
                    "gave up deleting topics {} after {:?}: {error}",
                    names.join(", "),
                    ctx.settings.deletion_grace
                ),
            )
            .await;
        }
        Err(error) => {
            publish(ctx, hc, EventType::Warning, "TopicDeletionFailed", error).await;
            return Some(Action::requeue(ctx.settings.deletion_retry));
        }
    }
    None
}

/// Computes the next status, writes it when it differs (server-side apply of
/// the status subresource) and announces what changed.
async fn write_status<T>(
    hc: &HarmonyChat,
    ctx: &Context<T>,
    observed: &Observation,
    topics: &TopicsReport,
) -> Result<HarmonyChatStatus, ControllerError> {
    let previous = hc.status.as_ref();
    let next = status::next(previous, observed, Timestamp::now());
    if previous != Some(&next) {
        let api: Api<HarmonyChat> =
            Api::namespaced(ctx.client.clone(), &hc.namespace().unwrap_or_default());
        let patch = json!({
            "apiVersion": HarmonyChat::api_version(&()),
            "kind": HarmonyChat::kind(&()),
            "status": next,
        });
        api.patch_status(
            &hc.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(kube_error("writing the status"))?;
    }
    for change in &topics.changes {
        let note = match change {
            TopicChange::Created { name, partitions } => {
                format!("created topic {name} with {partitions} partitions")
            }
            TopicChange::PartitionsIncreased { name, from, to } => {
                format!("topic {name}: partitions {from} -> {to}")
            }
            TopicChange::RetentionSet { name, retention_ms } => {
                format!("topic {name}: retention.ms = {retention_ms}")
            }
        };
        publish(ctx, hc, EventType::Normal, "TopicChanged", note).await;
    }
    for condition in status::changed_conditions(previous, &next) {
        let event = match (condition.type_.as_str(), condition.status.as_str()) {
            (status::READY, "True") => Some((EventType::Normal, "Ready")),
            (status::PROGRESSING, "True") => Some((EventType::Normal, condition.reason.as_str())),
            (status::DEGRADED, "True") => Some((EventType::Warning, condition.reason.as_str())),
            _ => None,
        };
        if let Some((type_, reason)) = event {
            publish(ctx, hc, type_, reason, condition.message.clone()).await;
        }
    }
    Ok(next)
}

/// Events are best effort: a refused Event must not fail the reconcile.
async fn publish<T>(
    ctx: &Context<T>,
    hc: &HarmonyChat,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &hc.object_ref(&())).await {
        tracing::warn!(%error, reason, "could not publish an Event");
    }
}

/// Deletes children labelled as this HarmonyChat's and controlled by it
/// that the spec no longer produces (the relay after switching to Conduit,
/// migration Jobs of older images, an HPA after autoscaling is turned off).
async fn sweep_orphans<T>(
    hc: &HarmonyChat,
    ctx: &Context<T>,
    keep: &Children,
) -> Result<(), ControllerError> {
    let namespace = hc.namespace().unwrap_or_default();
    let uid = hc.uid().unwrap_or_default();
    let selector = instance_selector(&hc.name_any());
    let mut sweep = Sweep {
        client: &ctx.client,
        namespace: &namespace,
        selector: &selector,
        uid: &uid,
        deleted: Vec::new(),
    };
    keep.each_kind(&mut sweep).await?;
    let deleted = sweep.deleted;
    for orphan in deleted {
        publish(
            ctx,
            hc,
            EventType::Normal,
            "OrphanDeleted",
            format!("deleted {orphan}, which the spec no longer produces"),
        )
        .await;
    }
    Ok(())
}

struct Sweep<'a> {
    client: &'a Client,
    namespace: &'a str,
    selector: &'a str,
    uid: &'a str,
    /// `Kind name` of every orphan deleted.
    deleted: Vec<String>,
}

impl EachKind for Sweep<'_> {
    type Error = ControllerError;

    /// Deletes this kind's orphans; returns `keep` as it was.
    async fn each<K: ChildKind>(&mut self, keep: &[K]) -> Result<Vec<K>, ControllerError> {
        let kind = K::kind(&()).into_owned();
        let api: Api<K> = Api::namespaced(self.client.clone(), self.namespace);
        for object in list_ours(&api, self.selector, self.uid).await? {
            let name = object.name_any();
            // Already being deleted (an autoscaler handed over): once is enough.
            let deleting = object.metadata.deletion_timestamp.is_some();
            if deleting || keep.iter().any(|k| k.name_any() == name) {
                continue;
            }
            // Background: a Job's pods and a Deployment's ReplicaSets go too.
            api.delete(&name, &DeleteParams::background())
                .await
                .map_err(kube_error(format!("deleting orphan {kind} {name}")))?;
            self.deleted.push(format!("{kind} {name}"));
        }
        Ok(keep.to_vec())
    }
}

pub fn error_policy<T>(
    hc: Arc<HarmonyChat>,
    error: &ControllerError,
    ctx: Arc<Context<T>>,
) -> Action {
    tracing::warn!(harmonychat = %hc.name_any(), %error, "reconcile failed");
    Action::requeue(ctx.settings.requeue_busy.max(Duration::from_secs(30)))
}

/// The controller, set up to own (watch) one more child kind per `kind`.
struct Owning<'a> {
    controller: Controller<HarmonyChat>,
    client: &'a Client,
    namespace: Option<&'a str>,
    children: watcher::Config,
}

impl ForKind for Owning<'_> {
    fn kind<K: ChildKind>(self) -> Self {
        let api = scoped::<K>(self.client, self.namespace);
        Self {
            controller: self.controller.owns(api, self.children.clone()),
            ..self
        }
    }
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// Runs the controller until `shutdown` resolves; its cache of
/// HarmonyChats goes to `resources` (the Ready gauges of `/metrics`).
pub async fn run<T: TopicAdmin>(
    ctx: Arc<Context<T>>,
    namespace: Option<&str>,
    resources: &crate::server::Resources,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = &ctx.client;
    let controller = Controller::new(
        scoped::<HarmonyChat>(client, namespace),
        watcher::Config::default(),
    );
    // Set once: a replica that loses the Lease exits.
    let _ = resources.set(controller.store());
    // Only our children are cached (and watched for drift).
    let watches = Children::for_each_kind(Owning {
        controller,
        client,
        namespace,
        children: watcher::Config::default().labels(&managed_selector()),
    });
    watches
        .controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|outcome| async move {
            match outcome {
                Ok((object, _)) => tracing::debug!(harmonychat = %object.name, "reconciled"),
                Err(error) => tracing::warn!(%error, "controller"),
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn deletion_is_given_up_after_the_grace_period() {
        let deleted = Timestamp::from_second(1_800_000_000).unwrap();
        let grace = Duration::from_secs(300);
        let later = |s: i64| deleted.checked_add(SignedDuration::from_secs(s)).unwrap();
        assert!(!give_up_deletion(deleted, later(0), grace));
        assert!(!give_up_deletion(deleted, later(299), grace));
        assert!(give_up_deletion(deleted, later(300), grace));
    }

    #[test]
    fn only_the_false_annotation_stops_management() {
        let mut hc = HarmonyChat::new(
            "x",
            serde_json::from_value(json!({
                "image": "i", "kafka": {"bootstrapServers": "k:9092"},
                "postgres": {"urlSecretRef": {"name": "p", "key": "url"}},
                "redis": {"urlSecretRef": {"name": "r", "key": "url"}},
                "dynamodb": {"table": "messages"}
            }))
            .unwrap(),
        );
        assert!(is_managed(&hc));
        hc.annotations_mut()
            .insert(MANAGED_ANNOTATION.into(), "true".into());
        assert!(is_managed(&hc));
        hc.annotations_mut()
            .insert(MANAGED_ANNOTATION.into(), "false".into());
        assert!(!is_managed(&hc));
    }
}
