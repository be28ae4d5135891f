//! Rendered alternatives to the built-in relay and sink: a Conduit pipeline
//! from the Postgres outbox to Kafka, and Redpanda Connect from
//! the message topic to DynamoDB. Credentials stay in Secrets:
//! both programs expand `${VAR}` in their configuration from the environment.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EmptyDirVolumeSource, EnvVar, Volume, VolumeMount,
};
use serde_json::{Map, Value, json};

use super::deployment::{deployment, recreate};
use super::meta::{Component, Instance};
use super::pod::{
    self, checksum_annotation, config_volume, container_security_context, default_resources,
    from_secret, http_get_probe, named_port, plain, pod_spec,
};
use super::secrets::{DYNAMODB_ACCESS_KEY_ID_KEY, DYNAMODB_SECRET_ACCESS_KEY_KEY};
use crate::crd::{HarmonyChat, Scaling};

pub const CONDUIT_PIPELINE_FILE: &str = "postgres-outbox.yaml";
const CONDUIT_PIPELINES_DIR: &str = "/conduit/pipelines";
const CONDUIT_DATA_DIR: &str = "/conduit/data";
const CONDUIT_HTTP_PORT: i32 = 8080;
pub const REDPANDA_CONNECT_FILE: &str = "connect.yaml";
const REDPANDA_CONNECT_DIR: &str = "/etc/redpanda-connect";
const REDPANDA_CONNECT_HTTP_PORT: i32 = 4195;

fn to_yaml(value: &Value) -> String {
    // A json! value always serialises; an empty file would fail loudly at start.
    serde_yaml::to_string(value).unwrap_or_default()
}

/// Kafka SASL credentials as `KAFKA_SASL_USERNAME` / `KAFKA_SASL_PASSWORD`.
fn kafka_sasl_env(hc: &HarmonyChat) -> Vec<EnvVar> {
    let Some(auth) = &hc.spec.kafka.auth else {
        return Vec::new();
    };
    let secret = &auth.secret_ref;
    vec![
        from_secret("KAFKA_SASL_USERNAME", &secret.name, &secret.username_key),
        from_secret("KAFKA_SASL_PASSWORD", &secret.name, &secret.password_key),
    ]
}

/// Replication slot and publication names allow only `[a-z0-9_]`.
fn replication_name(instance: &Instance<'_>) -> String {
    let name: String = instance
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{name}_outbox")
}

/// The Conduit pipeline: outbox rows keyed by `aggregate_id`, routed to the
/// chat or user events topic by `aggregate_type`, the JSONB payload decoded.
pub fn conduit_pipeline_yaml(instance: &Instance<'_>) -> String {
    let spec = &instance.hc.spec;
    let topics = &spec.kafka.topics;
    let slot = replication_name(instance);
    let mut destination = Map::new();
    destination.insert(
        "servers".into(),
        spec.kafka.bootstrap_servers.clone().into(),
    );
    destination.insert(
        "topic".into(),
        format!(
            r#"{{{{ if eq .Payload.After.aggregate_type "chat" }}}}{}{{{{ else }}}}{}{{{{ end }}}}"#,
            topics.chat_events.name, topics.user_events.name
        )
        .into(),
    );
    destination.insert("sdk.record.format".into(), "template".into());
    destination.insert(
        "sdk.record.format.options".into(),
        "{{ toJson .Payload.After }}".into(),
    );
    if spec.kafka.tls {
        destination.insert("tls.enabled".into(), "true".into());
    }
    if let Some(auth) = &spec.kafka.auth {
        destination.insert("saslMechanism".into(), auth.mechanism.as_str().into());
        destination.insert("saslUsername".into(), "${KAFKA_SASL_USERNAME}".into());
        destination.insert("saslPassword".into(), "${KAFKA_SASL_PASSWORD}".into());
    }
    let pipeline = json!({
        "version": "2.2",
        "pipelines": [{
            "id": "postgres-outbox",
            "status": "running",
            "description": "Postgres outbox_events to Kafka, one topic per aggregate type",
            "connectors": [
                {
                    "id": "outbox-source",
                    "type": "source",
                    "plugin": "builtin:postgres",
                    "settings": {
                        "url": "${POSTGRES_URL}",
                        "tables": "outbox_events",
                        "snapshotMode": "never",
                        "cdcMode": "logrepl",
                        "logrepl.publicationName": slot,
                        "logrepl.slotName": slot,
                    },
                },
                {
                    "id": "kafka-destination",
                    "type": "destination",
                    "plugin": "builtin:kafka",
                    "settings": destination,
                },
            ],
            "processors": [
                {
                    "id": "key-by-aggregate-id",
                    "plugin": "field.set",
                    "settings": {
                        "field": ".Key",
                        "value": "{{ .Payload.After.aggregate_id }}",
                    },
                },
                {
                    "id": "decode-payload",
                    "plugin": "json.decode",
                    "settings": { "field": ".Payload.After.payload" },
                },
            ],
        }],
    });
    to_yaml(&pipeline)
}

pub fn conduit_pipeline(instance: &Instance<'_>) -> ConfigMap {
    pod::config_map(
        instance,
        Component::Conduit,
        CONDUIT_PIPELINE_FILE,
        conduit_pipeline_yaml(instance),
    )
}

/// One Conduit pod, replacing the relay: a replication slot has one reader.
pub fn conduit_deployment(instance: &Instance<'_>, pipeline: &ConfigMap) -> Deployment {
    let spec = &instance.hc.spec;
    let url = &spec.postgres.url_secret_ref;
    let mut env = vec![
        from_secret("POSTGRES_URL", &url.name, &url.key),
        plain("CONDUIT_PIPELINES_PATH", CONDUIT_PIPELINES_DIR),
        plain(
            "CONDUIT_DB_BADGER_PATH",
            format!("{CONDUIT_DATA_DIR}/conduit.db"),
        ),
        plain(
            "CONDUIT_CONNECTORS_PATH",
            format!("{CONDUIT_DATA_DIR}/connectors"),
        ),
        plain(
            "CONDUIT_PROCESSORS_PATH",
            format!("{CONDUIT_DATA_DIR}/processors"),
        ),
        plain("CONDUIT_API_HTTP_ADDRESS", format!(":{CONDUIT_HTTP_PORT}")),
        plain("CONDUIT_LOG_FORMAT", "json"),
    ];
    env.extend(kafka_sasl_env(instance.hc));
    let container = Container {
        name: "conduit".to_owned(),
        image: Some(spec.connectors.conduit_image.clone()),
        env: Some(env),
        ports: Some(vec![named_port("http", CONDUIT_HTTP_PORT)]),
        liveness_probe: Some(http_get_probe("/healthz", "http", 10)),
        readiness_probe: Some(http_get_probe("/healthz", "http", 5)),
        resources: Some(
            spec.relay
                .resources
                .clone()
                .unwrap_or_else(default_resources),
        ),
        security_context: Some(container_security_context()),
        volume_mounts: Some(vec![
            read_only_mount("config", CONDUIT_PIPELINES_DIR),
            VolumeMount {
                name: "data".to_owned(),
                mount_path: CONDUIT_DATA_DIR.to_owned(),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    };
    let mut pod = pod_spec(vec![container], None);
    pod.volumes = Some(vec![
        config_volume(pipeline),
        Volume {
            name: "data".to_owned(),
            // Positions live in the replication slot, so local state may be lost.
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    ]);
    deployment(
        instance,
        Component::Conduit,
        &Scaling::Fixed(1),
        pod,
        Some(checksum_annotation(pipeline)),
        Some(recreate()),
    )
}

/// The Redpanda Connect stream: message topic to DynamoDB, `author_metadata`
/// dropped, every top-level field an attribute.
pub fn redpanda_connect_yaml(instance: &Instance<'_>) -> String {
    let spec = &instance.hc.spec;
    let brokers = harmony_config::broker_list(&spec.kafka.bootstrap_servers);
    let mut input = Map::new();
    input.insert("seed_brokers".into(), json!(brokers));
    input.insert("topics".into(), json!([spec.kafka.topics.messages.name]));
    // The built-in sink's group: switching sinks continues from its offsets.
    input.insert(
        "consumer_group".into(),
        instance.consumer_group(Component::Sink).into(),
    );
    if spec.kafka.tls {
        input.insert("tls".into(), json!({ "enabled": true }));
    }
    if let Some(auth) = &spec.kafka.auth {
        input.insert(
            "sasl".into(),
            json!([{
                "mechanism": auth.mechanism.as_str(),
                "username": "${KAFKA_SASL_USERNAME}",
                "password": "${KAFKA_SASL_PASSWORD}",
            }]),
        );
    }
    let mut output = Map::new();
    output.insert("table".into(), spec.dynamodb.table.clone().into());
    output.insert("region".into(), spec.dynamodb.region.clone().into());
    if let Some(endpoint) = &spec.dynamodb.endpoint {
        output.insert("endpoint".into(), endpoint.clone().into());
    }
    output.insert("json_map_columns".into(), json!({ "": "." }));
    output.insert("max_in_flight".into(), 16.into());
    output.insert("batching".into(), json!({ "count": 25, "period": "10ms" }));
    let stream = json!({
        "http": { "address": format!("0.0.0.0:{REDPANDA_CONNECT_HTTP_PORT}") },
        "input": { "kafka_franz": input },
        "pipeline": {
            "processors": [{ "mapping": "root = this.without(\"author_metadata\")" }],
        },
        "output": { "aws_dynamodb": output },
        "logger": { "level": "INFO", "format": "json" },
    });
    to_yaml(&stream)
}

pub fn redpanda_connect_config(instance: &Instance<'_>) -> ConfigMap {
    pod::config_map(
        instance,
        Component::RedpandaConnect,
        REDPANDA_CONNECT_FILE,
        redpanda_connect_yaml(instance),
    )
}

/// Redpanda Connect in place of the sink, sized by `spec.sink`.
pub fn redpanda_connect_deployment(instance: &Instance<'_>, config: &ConfigMap) -> Deployment {
    let spec = &instance.hc.spec;
    let mut env = vec![plain("AWS_REGION", &spec.dynamodb.region)];
    if let Some(credentials) = &spec.dynamodb.credentials_secret_ref {
        env.push(from_secret(
            "AWS_ACCESS_KEY_ID",
            &credentials.name,
            DYNAMODB_ACCESS_KEY_ID_KEY,
        ));
        env.push(from_secret(
            "AWS_SECRET_ACCESS_KEY",
            &credentials.name,
            DYNAMODB_SECRET_ACCESS_KEY_KEY,
        ));
    }
    env.extend(kafka_sasl_env(instance.hc));
    let container = Container {
        name: "redpanda-connect".to_owned(),
        image: Some(spec.connectors.redpanda_connect_image.clone()),
        args: Some(vec![
            "run".to_owned(),
            format!("{REDPANDA_CONNECT_DIR}/{REDPANDA_CONNECT_FILE}"),
        ]),
        env: Some(env),
        ports: Some(vec![named_port("http", REDPANDA_CONNECT_HTTP_PORT)]),
        liveness_probe: Some(http_get_probe("/ping", "http", 10)),
        readiness_probe: Some(http_get_probe("/ready", "http", 5)),
        resources: Some(
            spec.sink
                .resources
                .clone()
                .unwrap_or_else(default_resources),
        ),
        security_context: Some(container_security_context()),
        volume_mounts: Some(vec![read_only_mount("config", REDPANDA_CONNECT_DIR)]),
        ..Container::default()
    };
    let mut pod = pod_spec(
        vec![container],
        Some(instance.aws_service_account(Component::RedpandaConnect)),
    );
    pod.volumes = Some(vec![config_volume(config)]);
    deployment(
        instance,
        Component::RedpandaConnect,
        &spec.sink.scaling(),
        pod,
        Some(checksum_annotation(config)),
        None,
    )
}

fn read_only_mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}
