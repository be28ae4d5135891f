//! The `HarmonyChat` custom resource: one installation of the platform.
//!
//! The Rust types are the source of the CRD (`harmony-operator crd`,
//! committed as `crds/harmonychat.yaml`). Bounds and defaults live in the
//! schema so the apiserver rejects or completes a spec before the operator
//! sees it; rules spanning fields are CEL (`x-kubernetes-validations`).

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every Harmony resource.
pub const GROUP: &str = "harmony.chat";

/// Longest `metadata.name`: child names append up to 23 characters
/// (`-migrate-` and an 8-character hash, `-redpanda-connect`) and must stay
/// within the 63 characters of a DNS label.
pub const MAX_NAME_LEN: usize = 40;

/// Desired state of one Harmony installation.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "harmony.chat",
    version = "v1alpha1",
    kind = "HarmonyChat",
    plural = "harmonychats",
    shortname = "hc",
    category = "harmony",
    namespaced,
    status = "HarmonyChatStatus",
    derive = "PartialEq",
    doc = "A whole Harmony chat platform: API, relay, CDC, sink and Centrifugo, wired to Kafka, Postgres, Redis and DynamoDB.",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Image","type":"string","jsonPath":".spec.image"}"#,
    printcolumn = r#"{"name":"Version","type":"string","description":"The version the api's pods run","jsonPath":".status.components[?(@.name==\"api\")].version"}"#,
    printcolumn = r#"{"name":"Rolling","type":"string","description":"A component whose roll is in progress (the first, if several)","jsonPath":".status.components[?(@.rolling==true)].name"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("size(self.metadata.name) <= 40").message("metadata.name must be at most 40 characters (child names add suffixes)")
)]
#[serde(rename_all = "camelCase")]
pub struct HarmonyChatSpec {
    /// Image of the `harmony` binary; every role and the migration Job run it.
    #[schemars(length(min = 1))]
    pub image: String,
    /// Pull policy of the `harmony` image.
    #[serde(default)]
    pub image_pull_policy: PullPolicy,
    /// `production` refuses development secrets and logs JSON; `development` is for local clusters.
    #[serde(default)]
    pub environment: AppEnvironment,
    pub kafka: KafkaSpec,
    pub postgres: PostgresSpec,
    pub redis: RedisSpec,
    pub dynamodb: DynamoDbSpec,
    #[serde(default)]
    pub auth: AuthSpec,
    /// The REST API and the Centrifugo proxy endpoints.
    #[serde(default)]
    pub api: ComponentSpec,
    /// The built-in outbox relay (Postgres to Kafka).
    #[serde(default)]
    pub relay: RelaySpec,
    /// The outbox event consumers.
    #[serde(default)]
    pub cdc: ConsumerSpec,
    /// The built-in DynamoDB sink of the message topic.
    #[serde(default)]
    pub sink: ConsumerSpec,
    /// Centrifugo, when `realtime.server` is `centrifugo` (the default).
    #[serde(default)]
    pub centrifugo: CentrifugoSpec,
    /// Who serves `/connection/websocket`: Centrifugo or the embedded gateway.
    #[serde(default)]
    pub realtime: RealtimeSpec,
    #[serde(default)]
    pub connectors: ConnectorsSpec,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// Mirrors `APP__ENV`, but defaults to production: a cluster is not a laptop.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppEnvironment {
    #[default]
    Production,
    Development,
}

impl AppEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            AppEnvironment::Production => "production",
            AppEnvironment::Development => "development",
        }
    }
}

/// A key of a Secret in the HarmonyChat's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A Secret in the HarmonyChat's namespace whose keys are fixed by the field that names it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SecretRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSpec {
    /// Comma-separated `host:port` list of brokers.
    #[schemars(length(min = 1))]
    pub bootstrap_servers: String,
    /// Connect to the brokers over TLS.
    #[serde(default)]
    pub tls: bool,
    /// SASL authentication; omit for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<KafkaAuth>,
    #[serde(default)]
    pub topics: TopicsSpec,
    /// What happens to the topics when the HarmonyChat is deleted.
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaAuth {
    pub mechanism: SaslMechanism,
    /// Secret holding the SASL credentials.
    pub secret_ref: SaslSecretRef,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// The spelling librdkafka, Conduit and Redpanda Connect use.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SaslSecretRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default = "default_username_key")]
    #[schemars(length(min = 1))]
    pub username_key: String,
    #[serde(default = "default_password_key")]
    #[schemars(length(min = 1))]
    pub password_key: String,
}

fn default_username_key() -> String {
    "username".into()
}

fn default_password_key() -> String {
    "password".into()
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReclaimPolicy {
    /// The data outlives the HarmonyChat (the default, as Strimzi's and
    /// CloudNativePG's: data is never lost by deleting a resource).
    #[default]
    Retain,
    /// The data is deleted with the HarmonyChat.
    Delete,
}

/// The topics the platform owns.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicsSpec {
    /// Chat messages, keyed by chat id: feeds DynamoDB and Centrifugo.
    #[serde(default = "default_messages_topic")]
    pub messages: TopicSpec,
    /// Outbox events of chats.
    #[serde(default = "default_chat_events_topic")]
    pub chat_events: TopicSpec,
    /// Outbox events of users.
    #[serde(default = "default_user_events_topic")]
    pub user_events: TopicSpec,
}

impl Default for TopicsSpec {
    fn default() -> Self {
        Self {
            messages: default_messages_topic(),
            chat_events: default_chat_events_topic(),
            user_events: default_user_events_topic(),
        }
    }
}

fn default_messages_topic() -> TopicSpec {
    TopicSpec::new("chat_messages", 6)
}

fn default_chat_events_topic() -> TopicSpec {
    TopicSpec::new("chat_events", 3)
}

fn default_user_events_topic() -> TopicSpec {
    TopicSpec::new("user_events", 3)
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.partitions >= oldSelf.partitions").message("Kafka cannot remove partitions: partitions may only grow"))]
pub struct TopicSpec {
    #[schemars(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub name: String,
    /// Per-key order holds within one partition; the key is the chat or user id.
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1, max = 10000))]
    pub partitions: i32,
    #[serde(default = "default_replication_factor")]
    #[schemars(range(min = 1, max = 32))]
    pub replication_factor: i32,
    /// `retention.ms` of the topic; -1 keeps records forever, unset keeps the broker default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1))]
    pub retention_ms: Option<i64>,
}

impl TopicSpec {
    fn new(name: &str, partitions: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
            replication_factor: default_replication_factor(),
            retention_ms: None,
        }
    }
}

fn default_partitions() -> i32 {
    3
}

fn default_replication_factor() -> i32 {
    1
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresSpec {
    /// Secret key holding the connection URL (`postgres://user:password@host:5432/db`).
    pub url_secret_ref: SecretKeyRef,
    /// What happens, when the HarmonyChat is deleted, to the database objects
    /// the migration Job created (the migrations' tables and `_sqlx_migrations`);
    /// the database itself is never the operator's to delete. `Delete`: the
    /// finalizer runs the reclaim Job (`harmony reclaim`), which drops them;
    /// an Event says what it did.
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisSpec {
    /// Secret key holding the connection URL (`redis://[:password@]host:6379/0`); Centrifugo uses it too.
    pub url_secret_ref: SecretKeyRef,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.roleArn) && has(self.serviceAccountName))").message("set roleArn (the operator's ServiceAccounts get the IRSA annotation) or serviceAccountName (your own ServiceAccount), not both"))]
pub struct DynamoDbSpec {
    /// Chat history table, keyed `chat_id` (S) / `ulid` (S); the migration Job creates it when missing.
    #[schemars(length(min = 3, max = 255), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub table: String,
    #[serde(default = "default_region")]
    #[schemars(length(min = 1))]
    pub region: String,
    /// Endpoint override for a DynamoDB-compatible server; unset means AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// IAM role for the pods (IRSA annotation on the ServiceAccounts the operator creates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: Option<String>,
    /// Existing ServiceAccount every pod that reaches AWS runs as. Unset, the operator
    /// creates one per component (`<name>-api`, `-cdc`, `-sink`, `-migrate`,
    /// `-redpanda-connect`), each to be bound by EKS Pod Identity to a role with only its access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,
    /// Static credentials: a Secret with keys `access-key-id` and `secret-access-key` (local servers; prefer an identity on AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,
    /// What happens to the table when the HarmonyChat is deleted. `Delete`:
    /// the finalizer runs the reclaim Job (`harmony reclaim`), which deletes
    /// it only if the migration Job created it (tagged so), never terraform's
    /// or a restored one; an Event says what it did.
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
}

fn default_region() -> String {
    "us-east-1".into()
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// Secret with keys `secret-key` (JWT signing key), `proxy-secret` (sent by Centrifugo to the proxy endpoints)
    /// and `realtime-token-secret` (signs connection tokens; Centrifugo's `client.token.hmac_secret_key`).
    /// When unset the operator generates the Secret `<name>-auth` once and keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

/// Size of a horizontally scalable component: fixed `replicas`, or `autoscaling`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.replicas) && has(self.autoscaling))").message("set replicas or autoscaling, not both"))]
pub struct ComponentSpec {
    /// Fixed number of pods (default 1) when not autoscaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<i32>,
    /// CPU-based HorizontalPodAutoscaler; it then owns the replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// Container resources; defaults request 100m CPU and 128Mi memory, limit 512Mi memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("minReplicas must not exceed maxReplicas"))]
pub struct Autoscaling {
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_replicas: i32,
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Average CPU use, as a percentage of the CPU request, the autoscaler aims for.
    #[serde(
        default = "default_cpu_target",
        rename = "targetCPUUtilizationPercentage"
    )]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization_percentage: i32,
}

/// Size of a Kafka consumer (cdc, sink): fixed `replicas`, `autoscaling` on
/// CPU, or `lagAutoscaling` on its consumer group's lag.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.replicas) && has(self.autoscaling))").message("set replicas or autoscaling, not both"))]
#[x_kube(validation = Rule::new("!has(self.lagAutoscaling) || !(has(self.replicas) || has(self.autoscaling))").message("set lagAutoscaling alone, without replicas or autoscaling"))]
pub struct ConsumerSpec {
    /// Fixed number of pods (default 1) when not autoscaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<i32>,
    /// CPU-based HorizontalPodAutoscaler; it then owns the replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// A KEDA ScaledObject scaling on the consumer group's lag; it then owns the replica count. Needs KEDA in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_autoscaling: Option<LagAutoscaling>,
    /// Container resources; defaults request 100m CPU and 128Mi memory, limit 512Mi memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("minReplicas must not exceed maxReplicas"))]
pub struct LagAutoscaling {
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_replicas: i32,
    /// At most the partitions of the component's topic (the largest, for cdc's two): a consumer beyond them idles.
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Unconsumed records per pod the scaler aims for (KEDA's `lagThreshold`), per topic.
    #[schemars(range(min = 1))]
    pub lag_per_replica: i64,
}

fn default_min_replicas() -> i32 {
    1
}

fn default_cpu_target() -> i32 {
    80
}

/// The relay is single-active (outbox order): always one pod, never autoscaled,
/// so the schema has no `replicas` or `autoscaling` here.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelaySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.replicas) && has(self.autoscaling))").message("set replicas or autoscaling, not both"))]
pub struct CentrifugoSpec {
    /// Centrifugo v6 image; 6.3 or later (proxy headers read `${CENTRIFUGO_VAR_*}`).
    #[serde(default = "default_centrifugo_image")]
    #[schemars(length(min = 1))]
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Type of the Service browsers connect to (`/connection/websocket`).
    #[serde(default)]
    pub service_type: ServiceType,
    /// Origins allowed to open WebSocket connections (`*` for any). Empty refuses browsers.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Messages kept per chat channel for recovery.
    #[serde(default = "default_history_size")]
    #[schemars(range(min = 0, max = 10000))]
    pub history_size: i32,
    /// Seconds a chat channel's history lives.
    #[serde(default = "default_history_ttl_seconds")]
    #[schemars(range(min = 1, max = 604800))]
    pub history_ttl_seconds: i32,
}

impl Default for CentrifugoSpec {
    fn default() -> Self {
        Self {
            image: default_centrifugo_image(),
            replicas: None,
            autoscaling: None,
            resources: None,
            service_type: ServiceType::default(),
            allowed_origins: Vec::new(),
            history_size: default_history_size(),
            history_ttl_seconds: default_history_ttl_seconds(),
        }
    }
}

fn default_centrifugo_image() -> String {
    "centrifugo/centrifugo:v6.9.1".into()
}

fn default_history_size() -> i32 {
    100
}

fn default_history_ttl_seconds() -> i32 {
    3600
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// The real-time server. Both speak Centrifugo's client protocol on
/// `/connection/websocket` with the same channels, history and recovery.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RealtimeSpec {
    #[serde(default)]
    pub server: RealtimeServer,
    /// Size of the embedded gateway when `server` is `gateway`; every
    /// instance reads every message, so instances add connections, not throughput.
    #[serde(default)]
    pub gateway: ComponentSpec,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RealtimeServer {
    /// Centrifugo v6 (`spec.centrifugo`), with its Redis engine.
    #[default]
    Centrifugo,
    /// `harmony gateway`: in-memory history per instance, no extra image.
    Gateway,
}

/// Which program moves data in and out of Kafka.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorsSpec {
    /// Postgres outbox to Kafka: the built-in `harmony relay`, or a Conduit pipeline.
    #[serde(default)]
    pub cdc: CdcConnector,
    /// Message topic to DynamoDB: the built-in `harmony sink`, or Redpanda Connect.
    #[serde(default)]
    pub sink: SinkConnector,
    #[serde(default = "default_conduit_image")]
    #[schemars(length(min = 1))]
    pub conduit_image: String,
    #[serde(default = "default_redpanda_connect_image")]
    #[schemars(length(min = 1))]
    pub redpanda_connect_image: String,
}

impl Default for ConnectorsSpec {
    fn default() -> Self {
        Self {
            cdc: CdcConnector::default(),
            sink: SinkConnector::default(),
            conduit_image: default_conduit_image(),
            redpanda_connect_image: default_redpanda_connect_image(),
        }
    }
}

fn default_conduit_image() -> String {
    "ghcr.io/conduitio/conduit:v0.18.0".into()
}

fn default_redpanda_connect_image() -> String {
    "docker.redpanda.com/redpandadata/connect:4.118.0".into()
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CdcConnector {
    #[default]
    Builtin,
    Conduit,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SinkConnector {
    #[default]
    Builtin,
    RedpandaConnect,
}

/// Observed state, written by the operator only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HarmonyChatStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The `harmony` image the components run (or roll to). It becomes
    /// `spec.image` only once the migration Job of that image succeeded;
    /// until then the Deployments keep this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_image: Option<String>,
    /// `Ready`, `Progressing` and `Degraded`, each with its observedGeneration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub components: Vec<ComponentStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["role"]))]
    pub topics: Vec<TopicStatus>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    Pending,
    Progressing,
    Ready,
    Degraded,
    Failed,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// `api`, `relay`, `cdc`, `sink`, `centrifugo`, `conduit`, `redpanda-connect` or `migrate`.
    pub name: String,
    pub desired_replicas: i32,
    pub ready_replicas: i32,
    /// The image of the component's pod template: what every pod runs once
    /// `rolling` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The image's tag (`latest` when it has none), or its digest when
    /// pinned by digest alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A roll is in progress: the Deployment controller has not yet seen
    /// the latest spec, or pods of an older template remain or are still
    /// to be replaced.
    #[serde(default)]
    pub rolling: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    /// `messages`, `chatEvents` or `userEvents`.
    pub role: String,
    pub name: String,
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i32>,
    /// Why the topic differs from the spec (for example a refused partition decrease).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ComponentSpec {
    /// A fixed size with neither field set is one pod.
    pub fn scaling(&self) -> Scaling<'_> {
        scaling(self.replicas, self.autoscaling.as_ref())
    }
}

impl ConsumerSpec {
    pub fn scaling(&self) -> Scaling<'_> {
        match &self.lag_autoscaling {
            Some(lag) => Scaling::LagAutoscaled(lag),
            None => scaling(self.replicas, self.autoscaling.as_ref()),
        }
    }
}

impl CentrifugoSpec {
    pub fn scaling(&self) -> Scaling<'_> {
        scaling(self.replicas, self.autoscaling.as_ref())
    }
}

/// How many pods a component runs, as the build step needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scaling<'a> {
    Fixed(i32),
    Autoscaled(&'a Autoscaling),
    /// On the consumer group's lag, by a KEDA ScaledObject.
    LagAutoscaled(&'a LagAutoscaling),
}

fn scaling(replicas: Option<i32>, autoscaling: Option<&Autoscaling>) -> Scaling<'_> {
    match autoscaling {
        Some(autoscaling) => Scaling::Autoscaled(autoscaling),
        None => Scaling::Fixed(replicas.unwrap_or(1)),
    }
}

#[cfg(test)]
mod tests;
