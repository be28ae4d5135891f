//! The environment of `harmony` containers. Names come from
//! `harmony_config::env_name`, so the app and the operator spell each
//! setting once; a test feeds every rendered environment to the app's own
//! `Config::from_env_pairs`.

use harmony_config::env_name;
use k8s_openapi::api::core::v1::EnvVar;

use super::meta::{Component, Instance};
use super::pod::{CENTRIFUGO_PORT, HTTP_PORT, from_secret, plain};
use super::secrets::{
    AUTH_PROXY_SECRET_KEY, AUTH_REALTIME_TOKEN_SECRET_KEY, AUTH_SECRET_KEY_KEY,
    CENTRIFUGO_API_KEY_KEY, DYNAMODB_ACCESS_KEY_ID_KEY, DYNAMODB_SECRET_ACCESS_KEY_KEY,
};
use crate::crd::{HarmonyChat, RealtimeServer};

/// A `harmony` role the operator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Api,
    Relay,
    Cdc,
    Sink,
    Gateway,
    Migrate,
}

impl Role {
    /// The subcommand of `harmony`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Relay => "relay",
            Role::Cdc => "cdc",
            Role::Sink => "sink",
            Role::Gateway => "gateway",
            Role::Migrate => "migrate",
        }
    }

    pub fn component(self) -> Component {
        match self {
            Role::Api => Component::Api,
            Role::Relay => Component::Relay,
            Role::Cdc => Component::Cdc,
            Role::Sink => Component::Sink,
            Role::Gateway => Component::Gateway,
            Role::Migrate => Component::Migrate,
        }
    }

    /// Serves HTTP (health, readiness, metrics) for as long as it runs.
    pub fn serves_http(self) -> bool {
        self != Role::Migrate
    }

    // Each role gets only the sections it reads (see app/src/roles/*.rs):
    // fewer secrets per pod. Every role reads Postgres and Kafka (the sink
    // reads Postgres to drop messages of deleted chats; migrate creates the
    // dead-letter topics), so those two sections are always there.
    // The sink keeps each chat's newest messages in Redis (the newest history page).
    fn uses_redis(self) -> bool {
        matches!(self, Role::Api | Role::Cdc | Role::Sink | Role::Gateway)
    }

    fn uses_dynamodb(self) -> bool {
        matches!(self, Role::Api | Role::Cdc | Role::Sink | Role::Migrate)
    }

    /// Whether the pod needs the AWS identity (DynamoDB).
    pub fn uses_aws(self) -> bool {
        self.uses_dynamodb()
    }
}

fn setting(path: &str, value: impl Into<String>) -> EnvVar {
    plain(env_name(path), value)
}

fn secret_setting(path: &str, secret: &str, key: &str) -> EnvVar {
    from_secret(env_name(path), secret, key)
}

/// librdkafka's `security.protocol` for the spec's TLS and SASL choice.
pub fn kafka_security_protocol(hc: &HarmonyChat) -> &'static str {
    match (hc.spec.kafka.tls, hc.spec.kafka.auth.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    }
}

/// The whole environment of one `harmony` container.
pub fn harmony(instance: &Instance<'_>, role: Role) -> Vec<EnvVar> {
    let spec = &instance.hc.spec;
    let mut env = vec![setting("app.env", spec.environment.as_str())];
    if role.serves_http() {
        // The default binds loopback only; probes and Services need all interfaces.
        env.push(setting("http.bind", format!("0.0.0.0:{HTTP_PORT}")));
    }
    let url = &spec.postgres.url_secret_ref;
    env.push(secret_setting("postgres.url", &url.name, &url.key));
    if role.uses_redis() {
        let url = &spec.redis.url_secret_ref;
        env.push(secret_setting("redis.url", &url.name, &url.key));
    }
    env.extend(kafka(instance));
    if role.uses_dynamodb() {
        env.extend(dynamodb(instance));
    }
    env.extend(auth(instance));
    // Groups are per instance so two HarmonyChats on one Kafka never share partitions.
    match role {
        Role::Sink => env.push(setting(
            "sink.group_id",
            instance.consumer_group(Component::Sink),
        )),
        Role::Cdc => {
            env.push(setting(
                "cdc.group_id",
                instance.consumer_group(Component::Cdc),
            ));
            // Leavers' live subscriptions end through Centrifugo's server API
            // (the embedded gateway ends them itself).
            if spec.realtime.server == RealtimeServer::Centrifugo {
                let centrifugo = instance.child_name(Component::Centrifugo);
                env.push(setting(
                    "realtime.centrifugo_api_url",
                    format!("http://{centrifugo}:{CENTRIFUGO_PORT}/api"),
                ));
                env.push(secret_setting(
                    "realtime.centrifugo_api_key",
                    &centrifugo,
                    CENTRIFUGO_API_KEY_KEY,
                ));
            }
        }
        Role::Gateway => {
            let centrifugo = &spec.centrifugo;
            env.push(setting(
                "realtime.history_size",
                centrifugo.history_size.to_string(),
            ));
            env.push(setting(
                "realtime.history_ttl_seconds",
                centrifugo.history_ttl_seconds.to_string(),
            ));
        }
        _ => {}
    }
    env
}

/// Brokers, security, SASL credentials and the three topics.
fn kafka(instance: &Instance<'_>) -> Vec<EnvVar> {
    let kafka = &instance.hc.spec.kafka;
    let mut env = vec![
        setting("kafka.bootstrap_servers", &kafka.bootstrap_servers),
        setting(
            "kafka.security_protocol",
            kafka_security_protocol(instance.hc),
        ),
    ];
    if let Some(auth) = &kafka.auth {
        let secret = &auth.secret_ref;
        env.push(setting("kafka.sasl_mechanism", auth.mechanism.as_str()));
        env.push(secret_setting(
            "kafka.sasl_username",
            &secret.name,
            &secret.username_key,
        ));
        env.push(secret_setting(
            "kafka.sasl_password",
            &secret.name,
            &secret.password_key,
        ));
    }
    for (path, topic) in [
        ("topics.messages", &kafka.topics.messages),
        ("topics.chat_events", &kafka.topics.chat_events),
        ("topics.user_events", &kafka.topics.user_events),
    ] {
        env.push(setting(&format!("{path}.name"), &topic.name));
        env.push(setting(
            &format!("{path}.partitions"),
            topic.partitions.to_string(),
        ));
        env.push(setting(
            &format!("{path}.replication_factor"),
            topic.replication_factor.to_string(),
        ));
    }
    env
}

/// Endpoint, region, table, and static credentials when the spec names them.
fn dynamodb(instance: &Instance<'_>) -> Vec<EnvVar> {
    let dynamodb = &instance.hc.spec.dynamodb;
    let mut env = vec![
        // Empty means AWS itself; the app's default points at a local server.
        setting(
            "dynamodb.url",
            dynamodb.endpoint.clone().unwrap_or_default(),
        ),
        setting("dynamodb.region", &dynamodb.region),
        setting("dynamodb.chat_history_table_name", &dynamodb.table),
    ];
    if let Some(credentials) = &dynamodb.credentials_secret_ref {
        env.push(secret_setting(
            "dynamodb.access_key_id",
            &credentials.name,
            DYNAMODB_ACCESS_KEY_ID_KEY,
        ));
        env.push(secret_setting(
            "dynamodb.secret_access_key",
            &credentials.name,
            DYNAMODB_SECRET_ACCESS_KEY_KEY,
        ));
    }
    env
}

/// Only the API signs tokens, but the app refuses to start in production
/// without both auth secrets whatever the role, so every role gets them.
fn auth(instance: &Instance<'_>) -> Vec<EnvVar> {
    let secret = instance.auth_secret_name();
    vec![
        secret_setting("auth.secret_key", &secret, AUTH_SECRET_KEY_KEY),
        secret_setting("auth.proxy_secret", &secret, AUTH_PROXY_SECRET_KEY),
        secret_setting(
            "realtime.token_secret",
            &secret,
            AUTH_REALTIME_TOKEN_SECRET_KEY,
        ),
    ]
}
