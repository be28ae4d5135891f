//! Centrifugo v6: Kafka consumers in publication-data mode on
//! the message topic (chat channels) and the chat-event topic (personal
//! channels), the Redis engine, connection tokens signed with the API's
//! realtime key, connect, subscribe and publish proxies to the API, the
//! `chat` namespace with presence, join/leave and typing (client
//! publications through the publish proxy, never in history) and the `chat`
//! and `personal` namespaces with history and recovery: the channels the
//! embedded gateway serves (app `realtime`), with the same behaviour.
//!
//! Secret values never enter the ConfigMap: the proxy header reads
//! `${CENTRIFUGO_VAR_PROXY_SECRET}` (expanded by Centrifugo >= 6.3), and the
//! Redis address, API key, admin credentials and SASL credentials are
//! Centrifugo environment overrides filled from Secrets.

use harmony_config::wire::{CHANNELS_HEADER, PERSONAL_NAMESPACE, PROXY_SECRET_HEADER};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVar, VolumeMount};
use serde_json::{Value, json};

use super::meta::{Component, Instance};
use super::pod::{
    self, CENTRIFUGO_PORT, HTTP_PORT, config_volume, container_security_context, default_resources,
    from_secret, http_get_probe, named_port, pod_spec,
};
use super::secrets::{
    AUTH_PROXY_SECRET_KEY, AUTH_REALTIME_TOKEN_SECRET_KEY, CENTRIFUGO_ADMIN_PASSWORD_KEY,
    CENTRIFUGO_ADMIN_SECRET_KEY, CENTRIFUGO_API_KEY_KEY,
};

pub const CONFIG_FILE: &str = "config.json";
const CONFIG_DIR: &str = "/etc/centrifugo";
/// Names of the Kafka consumers; Centrifugo's env overrides are keyed by them.
const CONSUMERS: [&str; 2] = ["messages", "chat_events"];
const PROXY_SECRET_VAR: &str = "CENTRIFUGO_VAR_PROXY_SECRET";

/// The Centrifugo configuration, as pretty JSON.
pub fn config_json(instance: &Instance<'_>) -> String {
    let topics = &instance.hc.spec.kafka.topics;
    let config = json!({
        "http_server": { "port": CENTRIFUGO_PORT },
        "health": { "enabled": true },
        "prometheus": { "enabled": true },
        "admin": { "enabled": false },
        "engine": {
            "type": "redis",
            "redis": {
                "prefix": format!("{}.centrifugo", instance.name),
                // The gateway's numbers: refreshed every 10 s, gone after 30 s.
                "presence_ttl": "30s",
            },
        },
        "client": client(instance),
        "channel": channel(instance),
        "consumers": [
            consumer(instance, CONSUMERS[0], &topics.messages.name),
            consumer(instance, CONSUMERS[1], &topics.chat_events.name),
        ],
    });
    // Serialising a json! value cannot fail; an empty config would fail loudly at start.
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

/// The API's Centrifugo proxy endpoint `name` (`connect`, `subscribe`, `publish`).
fn proxy_endpoint(instance: &Instance<'_>, name: &str) -> String {
    format!(
        "http://{}:{HTTP_PORT}/api/v1/ws/{name}",
        instance.child_name(Component::Api)
    )
}

/// The header that proves a proxy call comes from Centrifugo; its value is
/// expanded from the environment, so the secret stays out of the ConfigMap.
fn proxy_headers() -> Value {
    json!({ "static_headers": { PROXY_SECRET_HEADER: format!("${{{PROXY_SECRET_VAR}}}") } })
}

/// Who may connect, their personal channel, and the connect proxy.
fn client(instance: &Instance<'_>) -> Value {
    json!({
        "allowed_origins": instance.hc.spec.centrifugo.allowed_origins,
        "presence_update_interval": "10s",
        "subscribe_to_user_personal_channel": {
            "enabled": true,
            "personal_channel_namespace": PERSONAL_NAMESPACE,
        },
        "proxy": {
            "connect": {
                "enabled": true,
                "endpoint": proxy_endpoint(instance, "connect"),
                "timeout": "1s",
                "http_headers": ["Cookie"],
                "http": proxy_headers(),
            },
        },
    })
}

/// The subscribe and publish proxies, and the chat and personal namespaces.
fn channel(instance: &Instance<'_>) -> Value {
    let mut chat = namespace(instance, "chat");
    chat["subscribe_proxy_enabled"] = true.into();
    // Who is on a chat, for its subscribers; joins and leaves pushed to them.
    chat["presence"] = true.into();
    chat["allow_presence_for_subscriber"] = true.into();
    chat["join_leave"] = true.into();
    chat["force_push_join_leave"] = true.into();
    // Typing: every client publication goes to the publish proxy, which
    // refuses all but members' typing at the gateway's rate and answers
    // `skip_history`. Data that is not a JSON object is refused (107)
    // before the proxy is asked.
    chat["publish_proxy_enabled"] = true.into();
    chat["publication_data_format"] = "json_object".into();
    json!({
        "proxy": {
            "subscribe": {
                "endpoint": proxy_endpoint(instance, "subscribe"),
                "timeout": "1s",
                "http": proxy_headers(),
            },
            "publish": {
                "endpoint": proxy_endpoint(instance, "publish"),
                "timeout": "1s",
                "http": proxy_headers(),
            },
        },
        "namespaces": [chat, namespace(instance, PERSONAL_NAMESPACE)],
    })
}

/// A namespace with history, from which a reconnecting client recovers.
fn namespace(instance: &Instance<'_>, name: &str) -> Value {
    let centrifugo = &instance.hc.spec.centrifugo;
    json!({
        "name": name,
        "history_size": centrifugo.history_size,
        "history_ttl": format!("{}s", centrifugo.history_ttl_seconds),
        "force_recovery": true,
        "force_positioning": true,
        "allow_history_for_subscriber": true,
    })
}

/// A Kafka consumer of `topic` in publication-data mode: each record goes to
/// the channels its `CHANNELS_HEADER` header names.
fn consumer(instance: &Instance<'_>, name: &str, topic: &str) -> Value {
    let kafka_spec = &instance.hc.spec.kafka;
    let mut kafka = json!({
        "brokers": harmony_config::broker_list(&kafka_spec.bootstrap_servers),
        "topics": [topic],
        "consumer_group": format!("{}-{name}", instance.consumer_group(Component::Centrifugo)),
        "tls": { "enabled": kafka_spec.tls },
        "publication_data_mode": {
            "enabled": true,
            "channels_header": CHANNELS_HEADER,
        },
    });
    if let (Some(auth), Value::Object(fields)) = (&kafka_spec.auth, &mut kafka) {
        fields.insert(
            "sasl_mechanism".to_owned(),
            auth.mechanism.as_str().to_ascii_lowercase().into(),
        );
    }
    json!({ "name": name, "enabled": true, "type": "kafka", "kafka": kafka })
}

pub fn config_map(instance: &Instance<'_>) -> ConfigMap {
    pod::config_map(
        instance,
        Component::Centrifugo,
        CONFIG_FILE,
        config_json(instance),
    )
}

fn env(instance: &Instance<'_>) -> Vec<EnvVar> {
    let spec = &instance.hc.spec;
    let own_secret = instance.child_name(Component::Centrifugo);
    let mut env = vec![
        from_secret(
            PROXY_SECRET_VAR,
            &instance.auth_secret_name(),
            AUTH_PROXY_SECRET_KEY,
        ),
        from_secret(
            "CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY",
            &instance.auth_secret_name(),
            AUTH_REALTIME_TOKEN_SECRET_KEY,
        ),
        from_secret(
            "CENTRIFUGO_ENGINE_REDIS_ADDRESS",
            &spec.redis.url_secret_ref.name,
            &spec.redis.url_secret_ref.key,
        ),
        from_secret(
            "CENTRIFUGO_HTTP_API_KEY",
            &own_secret,
            CENTRIFUGO_API_KEY_KEY,
        ),
        from_secret(
            "CENTRIFUGO_ADMIN_PASSWORD",
            &own_secret,
            CENTRIFUGO_ADMIN_PASSWORD_KEY,
        ),
        from_secret(
            "CENTRIFUGO_ADMIN_SECRET",
            &own_secret,
            CENTRIFUGO_ADMIN_SECRET_KEY,
        ),
    ];
    if let Some(auth) = &spec.kafka.auth {
        let secret = &auth.secret_ref;
        for name in CONSUMERS {
            let prefix = format!("CENTRIFUGO_CONSUMERS_{}_KAFKA", name.to_ascii_uppercase());
            env.push(from_secret(
                format!("{prefix}_SASL_USER"),
                &secret.name,
                &secret.username_key,
            ));
            env.push(from_secret(
                format!("{prefix}_SASL_PASSWORD"),
                &secret.name,
                &secret.password_key,
            ));
        }
    }
    env
}

pub fn deployment(instance: &Instance<'_>, config: &ConfigMap) -> Deployment {
    let spec = &instance.hc.spec.centrifugo;
    let container = Container {
        name: "centrifugo".to_owned(),
        image: Some(spec.image.clone()),
        command: Some(vec!["centrifugo".to_owned()]),
        args: Some(vec![
            "--config".to_owned(),
            format!("{CONFIG_DIR}/{CONFIG_FILE}"),
        ]),
        env: Some(env(instance)),
        ports: Some(vec![named_port("http", CENTRIFUGO_PORT)]),
        liveness_probe: Some(http_get_probe("/health", "http", 10)),
        readiness_probe: Some(http_get_probe("/health", "http", 5)),
        resources: Some(spec.resources.clone().unwrap_or_else(default_resources)),
        security_context: Some(container_security_context()),
        volume_mounts: Some(vec![VolumeMount {
            name: "config".to_owned(),
            mount_path: CONFIG_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let mut pod = pod_spec(vec![container], None);
    pod.volumes = Some(vec![config_volume(config)]);
    super::deployment::deployment(
        instance,
        Component::Centrifugo,
        &spec.scaling(),
        pod,
        Some(pod::checksum_annotation(config)),
        None,
    )
}
