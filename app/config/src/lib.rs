//! The typed configuration of every `harmony` role.
//!
//! Settings come from environment variables named after their path, sections
//! joined by `__` (`POSTGRES__URL`, `TOPICS__MESSAGES__PARTITIONS`), optionally
//! layered over a TOML file named by `HARMONY_CONFIG_FILE`. The operator renders
//! container environments with [`env_name`], so a setting's name is written once.
//! Defaults match the local services started by `scripts/services.sh`.

mod secret;
mod settings;

use std::collections::BTreeMap;

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use secret::Secret;
pub use settings::{Kind, Setting, markdown_table, settings};

/// Names both ends of a connection spell: the app, and the Centrifugo
/// configuration the operator writes.
pub mod wire {
    /// Header the API checks on Centrifugo's proxy calls (`/api/v1/ws/*`).
    pub const PROXY_SECRET_HEADER: &str = "x-harmony-proxy-secret";
    /// Record header naming the channels a record is published to
    /// (Centrifugo's Kafka consumer in publication-data mode reads it).
    pub const CHANNELS_HEADER: &str = "x-centrifugo-channels";
    /// Namespace of personal channels (Centrifugo's
    /// `user_personal_channel_namespace`).
    pub const PERSONAL_NAMESPACE: &str = "personal";
}

/// Names the optional TOML file read before the environment.
pub const CONFIG_FILE_ENV: &str = "HARMONY_CONFIG_FILE";

/// The whole configuration. Each role reads only the sections it uses.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub app: AppConfig,
    pub http: HttpConfig,
    pub postgres: PostgresConfig,
    pub redis: RedisConfig,
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub dynamodb: DynamoDbConfig,
    pub auth: AuthConfig,
    pub chat: ChatConfig,
    pub user: UserConfig,
    pub cache: CacheConfig,
    pub sink: SinkConfig,
    pub relay: RelayConfig,
    pub cdc: CdcConfig,
    pub realtime: RealtimeConfig,
    pub admission: AdmissionConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON in production, human-readable text in development.
    #[default]
    Auto,
    Json,
    Text,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// `development` or `production`. Production refuses insecure defaults.
    pub env: Environment,
    /// Log line format: `auto`, `json` or `text`.
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax (`RUST_LOG` overrides it).
    pub log_filter: String,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            log_format: LogFormat::Auto,
            log_filter: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address the role's HTTP server listens on (API, health, readiness, metrics).
    pub bind: String,
    /// URL people use to reach the platform; printed by `harmony dev`.
    pub public_url: String,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Directory of the built web app, served at `/` by `api` and `dev`; when it does not exist, only the API is served.
    pub web_dir: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8000".into(),
            public_url: "http://127.0.0.1:8000".into(),
            shutdown_grace_secs: 20,
            web_dir: "app/web/dist".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connection URL of the source-of-truth database (may hold a password).
    pub url: Secret,
    /// Upper bound of pooled connections per process.
    pub max_connections: u32,
    /// Milliseconds to wait for a pooled connection (opening one included)
    /// before failing with 503 and `Retry-After`. Admission control
    /// (`ADMISSION__*`) bounds how many requests ask at once; 500 made
    /// start-up and sign-ups fail on a busy 2-core machine.
    pub acquire_timeout_ms: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://postgres@127.0.0.1:15432/harmony"),
            max_connections: 20,
            acquire_timeout_ms: 3000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// Connection URL of the cache (may hold a password); `rediss://` for TLS.
    pub url: Secret,
    /// Milliseconds a cache call may take before it counts as a miss.
    pub request_timeout_ms: u64,
    /// With `rediss://`: the PEM file of the CA that signs the server's
    /// certificate. Unset: the system's CAs (ElastiCache's certificates chain
    /// to public CAs).
    pub ca_file: Option<String>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("redis://127.0.0.1:16379/0"),
            request_timeout_ms: 250,
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of brokers.
    pub bootstrap_servers: String,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: String,
    /// SASL mechanism (`PLAIN`, `SCRAM-SHA-512`, ...) when SASL is used.
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    pub sasl_username: Option<String>,
    /// SASL password.
    pub sasl_password: Option<Secret>,
    /// With TLS (`ssl`, `sasl_ssl`): the PEM file of the CAs that sign the
    /// brokers' certificates. Unset: librdkafka probes the system's usual
    /// bundle paths (the images' `/etc/ssl/certs/ca-certificates.crt`, which
    /// holds the public CAs Amazon MSK's certificates chain to).
    pub ssl_ca_location: Option<String>,
    /// Milliseconds a produce may wait for the broker's acknowledgement.
    pub message_timeout_ms: u64,
    /// Milliseconds a produced record may wait for others to share its
    /// request to the broker (librdkafka's `linger.ms`): longer means fewer,
    /// larger requests (less CPU per message at a steady rate), each send
    /// answered that much later.
    pub linger_ms: u64,
    /// Use Kafka's idempotent producer (no duplicates on retry). When off,
    /// one request is in flight per connection so retries cannot reorder.
    pub idempotence: bool,
    /// Milliseconds without heartbeats before a consumer is dropped from its
    /// group and its partitions reassigned (how fast a crashed worker is replaced).
    pub session_timeout_ms: u64,
    /// Milliseconds a consumer may go without a record while it has lag (or
    /// cannot even measure it) before it leaves its group and rejoins with a
    /// fresh client.
    pub stall_timeout_ms: u64,
    /// Rejoins without progress after which `/healthz` reports the consumer
    /// unhealthy, so the orchestrator restarts the process.
    pub max_stall_rejoins: u32,
}

/// The dead-letter topic of `topic`: where its records that cannot be
/// processed go (every consumer, `harmony migrate` and the operator agree).
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// The brokers of a comma-separated `host:port` list (Kafka's
/// `bootstrap.servers`), blanks and empty entries dropped.
pub fn broker_list(servers: &str) -> Vec<&str> {
    servers
        .split(',')
        .map(str::trim)
        .filter(|broker| !broker.is_empty())
        .collect()
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:19092".into(),
            security_protocol: "plaintext".into(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            message_timeout_ms: 10_000,
            linger_ms: 2,
            stall_timeout_ms: 30_000,
            max_stall_rejoins: 3,
            idempotence: true,
            session_timeout_ms: 10_000,
        }
    }
}

impl KafkaConfig {
    /// librdkafka properties shared by every client the app creates.
    pub fn client_properties(&self) -> BTreeMap<&'static str, String> {
        let mut props = BTreeMap::from([
            ("bootstrap.servers", self.bootstrap_servers.clone()),
            ("security.protocol", self.security_protocol.clone()),
        ]);
        if let Some(mechanism) = &self.sasl_mechanism {
            props.insert("sasl.mechanism", mechanism.clone());
        }
        if let Some(username) = &self.sasl_username {
            props.insert("sasl.username", username.clone());
        }
        if let Some(password) = &self.sasl_password {
            props.insert("sasl.password", password.expose().to_owned());
        }
        if matches!(
            self.security_protocol.to_ascii_lowercase().as_str(),
            "ssl" | "sasl_ssl"
        ) {
            // Without a location librdkafka uses OpenSSL's compiled-in
            // directory, which the distroless images do not have.
            let ca = self.ssl_ca_location.as_deref().unwrap_or("probe");
            props.insert("ssl.ca.location", ca.to_owned());
        }
        props
    }
}

/// One Kafka topic the platform owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// Topic name.
    pub name: String,
    /// Partitions created by `harmony migrate`; per-key order holds within one.
    pub partitions: i32,
    /// Replicas of each partition.
    pub replication_factor: i32,
}

impl TopicConfig {
    /// Where records that cannot be processed go, with the error: `<name>.dlq`.
    pub fn dead_letter(&self) -> TopicConfig {
        TopicConfig {
            name: dead_letter_topic(&self.name),
            partitions: 1,
            replication_factor: self.replication_factor,
        }
    }

    fn new(name: &str, partitions: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
            replication_factor: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TopicsConfig {
    /// Chat messages: key chat id, the log that feeds DynamoDB and live subscribers.
    pub messages: TopicConfig,
    /// Outbox events of chats (aggregate type `chat`).
    pub chat_events: TopicConfig,
    /// Outbox events of users (aggregate type `user`).
    pub user_events: TopicConfig,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            messages: TopicConfig::new("chat_messages", 6),
            chat_events: TopicConfig::new("chat_events", 3),
            user_events: TopicConfig::new("user_events", 3),
        }
    }
}

impl TopicsConfig {
    pub fn all(&self) -> [&TopicConfig; 3] {
        [&self.messages, &self.chat_events, &self.user_events]
    }

    /// Every topic `harmony migrate` creates: the three logs and their dead-letter topics.
    pub fn with_dead_letters(&self) -> Vec<TopicConfig> {
        self.all()
            .iter()
            .flat_map(|t| [(*t).clone(), t.dead_letter()])
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DynamoDbConfig {
    /// Endpoint override (a local DynamoDB-compatible server); empty means AWS.
    pub url: String,
    /// AWS region of the table.
    pub region: String,
    /// Table holding chat history, keyed `chat_id` (S) / `ulid` (S).
    pub chat_history_table_name: String,
    /// Static credentials; when unset the AWS default chain (pod identity) is used.
    pub access_key_id: Option<String>,
    /// Secret of the static credentials.
    pub secret_access_key: Option<Secret>,
}

impl Default for DynamoDbConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:18000".into(),
            region: "us-east-1".into(),
            chat_history_table_name: "ChatHistory".into(),
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

/// Only for development: production refuses to start with it.
pub const DEVELOPMENT_SECRET_KEY: &str =
    "harmony-development-only-secret-key-do-not-use-in-production";
/// Only for development: production refuses to start with it.
pub const DEVELOPMENT_PROXY_SECRET: &str = "harmony-development-only-proxy-secret";
/// Only for development: production refuses to start with it.
pub const DEVELOPMENT_TOKEN_SECRET: &str = "harmony-development-only-connection-token-secret";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HMAC key signing access tokens and deriving refresh-token successors (at least 32 bytes in production).
    pub secret_key: Secret,
    /// JWT algorithm: `HS256`, `HS384` or `HS512`.
    pub algorithm: String,
    /// Name of the access token (its `token_type` and its cookie).
    pub access_token_name: String,
    /// Minutes an access token stays valid.
    pub access_token_expire_minutes: i64,
    /// Name of the refresh token (its `token_type` and its cookie).
    pub refresh_token_name: String,
    /// Days a refresh token stays valid.
    pub refresh_token_expire_days: i64,
    /// Seconds a rotated refresh token still yields the same successor (parallel refreshes agree); later use revokes the family.
    pub refresh_token_grace_period_seconds: i64,
    /// Shared secret Centrifugo sends in `X-Harmony-Proxy-Secret` when calling the proxy endpoints.
    pub proxy_secret: Secret,
    /// Argon2id memory cost in KiB for new password hashes (OWASP's first
    /// recommended setting: 19 MiB, 2 iterations, 1 lane). Hashes made with
    /// other settings still verify and are re-hashed at the next login.
    pub argon2_memory_kib: u32,
    /// Argon2id iterations for new password hashes.
    pub argon2_iterations: u32,
    /// Argon2id parallelism (lanes) for new password hashes.
    pub argon2_parallelism: u32,
    /// Password hashes computed at once; 0 means one per core.
    pub password_workers: usize,
    /// Password checks that may wait for a worker; one more is refused with
    /// 503 and `Retry-After` at once.
    pub password_queue: usize,
    /// Milliseconds a password check may wait for a worker before it is
    /// refused with 503 and `Retry-After` (well inside clients' timeouts).
    pub password_wait_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            secret_key: Secret::new(DEVELOPMENT_SECRET_KEY),
            algorithm: "HS256".into(),
            access_token_name: "access_token".into(),
            access_token_expire_minutes: 15,
            refresh_token_name: "refresh_token".into(),
            refresh_token_expire_days: 7,
            refresh_token_grace_period_seconds: 2,
            proxy_secret: Secret::new(DEVELOPMENT_PROXY_SECRET),
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            password_workers: 0,
            password_queue: 64,
            password_wait_ms: 2_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// Most members one chat creation or addition may involve (creator included).
    pub max_users_per_operation: usize,
    /// History page size when `limit` is absent; also its maximum.
    pub default_pagination_limit: usize,
    /// Longest message content, in characters.
    pub max_content_length: usize,
    /// Seconds a `client_uuid` is remembered for idempotent sends.
    pub idempotency_ttl_seconds: u64,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_users_per_operation: 10,
            default_pagination_limit: 50,
            max_content_length: 4000,
            idempotency_ttl_seconds: 86_400,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    /// User search page size when `limit` is absent; also its maximum.
    pub default_user_search_limit: usize,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self {
            default_user_search_limit: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Seconds a cached user profile lives.
    pub user_ttl_seconds: u64,
    /// Seconds a cached membership answer lives (commands overwrite it at once).
    pub membership_ttl_seconds: u64,
    /// Newest messages kept per chat in Redis, so the newest history page
    /// needs no DynamoDB query (pages up to this size); 0 turns it off.
    pub recent_messages: usize,
    /// Seconds a chat's recent messages live after its last message or read miss.
    pub recent_messages_ttl_seconds: u64,
    /// Profiles and membership answers each API and gateway process keeps in
    /// memory, kept coherent by Redis client tracking (Redis 6 or later); 0 turns the local copy off.
    pub local_entries: usize,
    /// Milliseconds an acknowledged send's idempotency record may wait to be
    /// written with the next send's claim (one Redis round trip per send
    /// instead of two); until written, a retry through another API process
    /// is answered 409. 0: written before the send is answered.
    pub acknowledged_write_delay_ms: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            user_ttl_seconds: 300,
            membership_ttl_seconds: 300,
            recent_messages: 50,
            recent_messages_ttl_seconds: 86_400,
            local_entries: 50_000,
            acknowledged_write_delay_ms: 5,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SinkConfig {
    /// Consumer group of the DynamoDB sink.
    pub group_id: String,
    /// Most records written per batch (DynamoDB takes 25 per request; larger batches run requests in parallel).
    pub max_batch: usize,
    /// Milliseconds a batch waits to fill before it is written.
    pub linger_ms: u64,
    /// Milliseconds the broker may hold an empty fetch (lower: faster history, busier broker).
    pub fetch_wait_ms: u64,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            group_id: "harmony-sink".into(),
            max_batch: 500,
            linger_ms: 5,
            fetch_wait_ms: 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Most outbox rows published per round.
    pub batch_size: i64,
    /// Hours published outbox rows are kept before deletion.
    pub retention_hours: i64,
    /// Milliseconds between polls when no NOTIFY arrives (a safety net; commits wake the relay at once).
    pub poll_interval_ms: u64,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            retention_hours: 24,
            poll_interval_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CdcConfig {
    /// Consumer group of the cdc consumer.
    pub group_id: String,
    /// Attempts per event before it goes to the dead-letter topic.
    pub max_attempts: u32,
    /// Milliseconds before the first retry; doubled each time.
    pub retry_backoff_ms: u64,
    /// Milliseconds the broker may hold an empty fetch.
    pub fetch_wait_ms: u64,
}

impl Default for CdcConfig {
    fn default() -> Self {
        Self {
            group_id: "harmony-cdc".into(),
            max_attempts: 4,
            retry_backoff_ms: 100,
            fetch_wait_ms: 100,
        }
    }
}

/// Real-time delivery: connection tokens (API) and the embedded gateway.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RealtimeConfig {
    /// HMAC key (HS256) of connection tokens from `/api/v1/realtime/token`; Centrifugo's `client.token.hmac_secret_key`.
    pub token_secret: Secret,
    /// Publications kept per channel for recovery and history.
    pub history_size: usize,
    /// Seconds a publication stays in a channel's history.
    pub history_ttl_seconds: u64,
    /// Seconds between server pings; a client that misses a pong by the next ping is disconnected.
    pub ping_interval_seconds: u64,
    /// Largest WebSocket frame or message a client may send, in bytes.
    pub max_frame_bytes: usize,
    /// Replies and pushes queued per connection; a client that lets it fill is disconnected as slow.
    pub send_queue: usize,
    /// Seconds after its credentials expire that an unrefreshed connection is closed.
    pub expired_close_delay_seconds: u64,
    /// Join and leave pushes are sent on a chat channel while at most this many clients are on it (each one is a push to every subscriber); beyond, presence and presence stats still answer.
    pub join_leave_limit: usize,
    /// Centrifugo's server API (`http://centrifugo:8000/api`), when Centrifugo serves the clients: the cdc unsubscribes members who leave. Empty: none (the embedded gateway does it itself).
    pub centrifugo_api_url: String,
    /// Centrifugo's `http_api.key`, sent as `X-API-Key`.
    pub centrifugo_api_key: Option<Secret>,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            token_secret: Secret::new(DEVELOPMENT_TOKEN_SECRET),
            history_size: 100,
            history_ttl_seconds: 300,
            ping_interval_seconds: 25,
            max_frame_bytes: 65_536,
            send_queue: 256,
            expired_close_delay_seconds: 25,
            join_leave_limit: 1000,
            centrifugo_api_url: String::new(),
            centrifugo_api_key: None,
        }
    }
}

/// Admission control of the API: each route class runs a bounded number of
/// requests at once, lets a bounded number wait for a short time, and
/// refuses the rest at once with 503 and `Retry-After`; calls to DynamoDB are
/// bounded the same way, so a slow dependency cannot pile up work.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Message sends (`POST /api/v1/chats/{id}`).
    pub sends: ClassLimits,
    /// Newest history pages (`GET /api/v1/chats/{id}` without a cursor).
    pub pages: ClassLimits,
    /// Older history pages (`GET /api/v1/chats/{id}?cursor=...`, read from DynamoDB).
    pub older_pages: ClassLimits,
    /// Routes that hash or check a password: sign-up and the logins.
    pub passwords: ClassLimits,
    /// Every other API route (the ops endpoints are never refused).
    pub other: ClassLimits,
    /// DynamoDB reads the API makes at once (older pages, quoted replies).
    pub dynamodb_concurrency: usize,
    /// Milliseconds a request may wait for a DynamoDB slot before it is
    /// refused with 503 and `Retry-After`.
    pub dynamodb_wait_ms: u64,
}

/// The limits of one route class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClassLimits {
    /// Requests of the class handled at once.
    pub concurrency: usize,
    /// Requests of the class that may wait for a free slot; one more is
    /// refused at once with 503 and `Retry-After`.
    pub queue: usize,
    /// Milliseconds a request may wait for a slot before it is refused with
    /// 503 and `Retry-After`.
    pub wait_ms: u64,
}

impl ClassLimits {
    pub const fn new(concurrency: usize, queue: usize, wait_ms: u64) -> Self {
        Self {
            concurrency,
            queue,
            wait_ms,
        }
    }
}

impl Default for ClassLimits {
    fn default() -> Self {
        Self::new(32, 32, 50)
    }
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        // A queue longer than a class serves within its wait only turns fast
        // refusals into slow ones: each queue is about what its class
        // answers in its wait on two cores.
        Self {
            sends: ClassLimits::new(64, 32, 20),
            pages: ClassLimits::new(32, 32, 20),
            older_pages: ClassLimits::new(8, 16, 50),
            // One Argon2id check costs tens of milliseconds of a core; the
            // password workers (`AUTH__PASSWORD_*`) queue them further.
            passwords: ClassLimits::new(16, 64, 2_000),
            other: ClassLimits::new(32, 32, 50),
            dynamodb_concurrency: 8,
            dynamodb_wait_ms: 50,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads the optional file named by `HARMONY_CONFIG_FILE`, then the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let config = Self::load_unvalidated()?;
        config.validate()?;
        Ok(config)
    }

    /// `load` without `validate`: for `harmony reclaim`, which serves and
    /// signs nothing, so it runs after the auth Secret was deleted with its
    /// HarmonyChat.
    pub fn load_unvalidated() -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Ok(path) = std::env::var(CONFIG_FILE_ENV) {
            if !std::path::Path::new(&path).is_file() {
                return Err(ConfigError(format!(
                    "{CONFIG_FILE_ENV}={path}: no such file"
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let env = env_provider(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        Self::extract(figment.merge(env))
    }

    /// Reads the given variables only: how the operator proves its rendered
    /// container environments are accepted.
    pub fn from_env_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let config = Self::extract(
            Figment::from(Serialized::defaults(Config::default())).merge(env_provider(pairs)?),
        )?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses settings that are unsafe for the configured environment.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if !["HS256", "HS384", "HS512"].contains(&self.auth.algorithm.as_str()) {
            problems.push(format!(
                "AUTH__ALGORITHM={} must be HS256, HS384 or HS512",
                self.auth.algorithm
            ));
        }
        // An empty key signs forgeable tokens; an empty proxy secret admits any caller.
        for (name, value) in [
            ("AUTH__SECRET_KEY", self.auth.secret_key.expose()),
            ("AUTH__PROXY_SECRET", self.auth.proxy_secret.expose()),
            (
                "REALTIME__TOKEN_SECRET",
                self.realtime.token_secret.expose(),
            ),
        ] {
            if value.trim().is_empty() {
                problems.push(format!("{name} must not be empty, in any environment"));
            }
        }
        if self.app.env == Environment::Production {
            let key = self.auth.secret_key.expose();
            if key == DEVELOPMENT_SECRET_KEY || key.len() < 32 {
                problems.push("AUTH__SECRET_KEY must be set to a random value of at least 32 bytes in production".into());
            }
            let proxy = self.auth.proxy_secret.expose();
            if proxy == DEVELOPMENT_PROXY_SECRET || proxy.len() < 16 {
                problems.push("AUTH__PROXY_SECRET must be set to a random value of at least 16 bytes in production".into());
            }
            let token = self.realtime.token_secret.expose();
            if token == DEVELOPMENT_TOKEN_SECRET || token.len() < 32 {
                problems.push("REALTIME__TOKEN_SECRET must be set to a random value of at least 32 bytes in production".into());
            }
        }
        let admission = &self.admission;
        for (name, limits) in [
            ("SENDS", &admission.sends),
            ("PAGES", &admission.pages),
            ("OLDER_PAGES", &admission.older_pages),
            ("PASSWORDS", &admission.passwords),
            ("OTHER", &admission.other),
        ] {
            if limits.concurrency == 0 {
                problems.push(format!("ADMISSION__{name}__CONCURRENCY must be at least 1"));
            }
        }
        if self.cache.acknowledged_write_delay_ms > 1000 {
            problems.push(format!(
                "CACHE__ACKNOWLEDGED_WRITE_DELAY_MS={} must be at most 1000",
                self.cache.acknowledged_write_delay_ms
            ));
        }
        if self.kafka.linger_ms >= self.kafka.message_timeout_ms {
            problems.push(format!(
                "KAFKA__LINGER_MS={} must be below KAFKA__MESSAGE_TIMEOUT_MS={}",
                self.kafka.linger_ms, self.kafka.message_timeout_ms
            ));
        }
        if admission.dynamodb_concurrency == 0 {
            problems.push("ADMISSION__DYNAMODB_CONCURRENCY must be at least 1".into());
        }
        if self.chat.default_pagination_limit == 0 || self.user.default_user_search_limit == 0 {
            problems.push("page limits must be at least 1".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems.join("; ")))
        }
    }

    fn extract(figment: Figment) -> Result<Self, ConfigError> {
        let config: Self = figment.extract().map_err(|error| {
            let messages: Vec<String> = error
                .into_iter()
                .map(|e| match e.path.is_empty() {
                    true => e.kind.to_string(),
                    false => format!("{}: {}", env_name(&e.path.join(".")), e.kind),
                })
                .collect();
            ConfigError(messages.join("; "))
        })?;
        Ok(config)
    }
}

const SECTIONS: [&str; 16] = [
    "app",
    "http",
    "postgres",
    "redis",
    "kafka",
    "topics",
    "dynamodb",
    "auth",
    "chat",
    "user",
    "cache",
    "sink",
    "relay",
    "cdc",
    "realtime",
    "admission",
];

/// Turns `NAME=value` pairs into nested settings, typed by the schema: a
/// numeric password stays text, and a bad value names its variable.
fn env_provider<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Serialized<figment::value::Dict>, ConfigError> {
    use figment::value::{Dict, Value};
    let mut root = Dict::new();
    let mut errors = Vec::new();
    for (name, raw) in pairs {
        let Some(setting) = settings().iter().find(|s| s.env == name) else {
            let section = name
                .split("__")
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if name.contains("__") && SECTIONS.contains(&section.as_str()) {
                errors.push(format!(
                    "{name} is not a setting (see docs/configuration.md)"
                ));
            }
            continue;
        };
        let value = match &setting.kind {
            Kind::Integer => raw
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| "an integer".to_owned()),
            Kind::Boolean => raw
                .trim()
                .parse::<bool>()
                .map(Value::from)
                .map_err(|_| "true or false".to_owned()),
            Kind::OneOf(allowed) if !allowed.iter().any(|a| a == raw) => {
                Err(format!("one of {}", allowed.join(", ")))
            }
            _ => Ok(Value::from(raw)),
        };
        match value {
            Ok(value) => insert(&mut root, &setting.path, value),
            Err(expected) => errors.push(format!("{name}={raw:?} must be {expected}")),
        }
    }
    if errors.is_empty() {
        Ok(Serialized::defaults(root))
    } else {
        Err(ConfigError(errors.join("; ")))
    }
}

fn insert(root: &mut figment::value::Dict, path: &str, value: figment::value::Value) {
    use figment::value::{Dict, Value};
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(leaf) = parts.pop() else { return };
    let mut dict = root;
    for part in parts {
        let entry = dict
            .entry(part.to_owned())
            .or_insert_with(|| Value::from(Dict::new()));
        if !matches!(entry, Value::Dict(..)) {
            *entry = Value::from(Dict::new());
        }
        let Value::Dict(_, inner) = entry else { return };
        dict = inner;
    }
    dict.insert(leaf.to_owned(), value);
}

/// The environment variable name of a dotted settings path: `topics.messages.name` -> `TOPICS__MESSAGES__NAME`.
pub fn env_name(path: &str) -> String {
    path.replace('.', "__").to_ascii_uppercase()
}

#[cfg(test)]
mod tests;
