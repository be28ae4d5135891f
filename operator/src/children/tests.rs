use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::*;
use crate::crd::{Autoscaling, CdcConnector, LagAutoscaling, RealtimeServer, SinkConnector};
use crate::render;

const SAMPLE: &str = include_str!("../../examples/harmonychat.yaml");
const PRODUCTION: &str = include_str!("../../tests/fixtures/production.yaml");
const LAG_AUTOSCALING: &str = include_str!("../../tests/fixtures/lag-autoscaling.yaml");

fn secrets() -> GeneratedSecrets {
    GeneratedSecrets {
        auth_secret_key: "generated-signing-key-0123456789abcdef0123456789abcdef".into(),
        auth_proxy_secret: "generated-proxy-secret-0123456789abcdef".into(),
        realtime_token_secret: "generated-realtime-token-secret-0123456789abcdef".into(),
        centrifugo_api_key: "generated-centrifugo-api-key".into(),
        centrifugo_admin_password: "generated-centrifugo-admin-password".into(),
        centrifugo_admin_secret: "generated-centrifugo-admin-secret".into(),
    }
}

fn stored(text: &str) -> HarmonyChat {
    let mut hc = render::parse(text).unwrap();
    hc.metadata
        .uid
        .get_or_insert_with(|| "11111111-2222-3333-4444-555555555555".into());
    hc
}

fn sample() -> HarmonyChat {
    stored(SAMPLE)
}

fn production() -> HarmonyChat {
    stored(PRODUCTION)
}

/// The sample with every alternative and option the production fixture does not cover.
fn variants() -> Vec<HarmonyChat> {
    let mut builtin_with_sasl = production();
    builtin_with_sasl.spec.connectors.cdc = CdcConnector::Builtin;
    builtin_with_sasl.spec.connectors.sink = SinkConnector::Builtin;
    builtin_with_sasl.spec.auth.secret_ref = None;
    builtin_with_sasl.spec.kafka.tls = false;
    let mut development = sample();
    development.spec.kafka.tls = true;
    vec![
        sample(),
        production(),
        builtin_with_sasl,
        development,
        with_gateway(),
    ]
}

/// The sample with the embedded gateway instead of Centrifugo, autoscaled.
fn with_gateway() -> HarmonyChat {
    let mut hc = sample();
    hc.spec.realtime.server = RealtimeServer::Gateway;
    hc.spec.realtime.gateway.autoscaling = Some(Autoscaling {
        min_replicas: 2,
        max_replicas: 6,
        target_cpu_utilization_percentage: 60,
    });
    hc
}

fn deployment<'a>(children: &'a Children, name: &str) -> &'a Deployment {
    children
        .deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no Deployment {name}"))
}

fn pod(deployment: &Deployment) -> &PodSpec {
    deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
}

/// Every container running the `harmony` image, with where it came from.
fn harmony_containers(hc: &HarmonyChat, children: &Children) -> Vec<(String, Container)> {
    let deployments = children.deployments.iter().map(|d| {
        (
            d.metadata.name.clone().unwrap(),
            d.spec.clone().unwrap().template.spec.unwrap(),
        )
    });
    let jobs = children.jobs.iter().map(|j| {
        (
            j.metadata.name.clone().unwrap(),
            j.spec.clone().unwrap().template.spec.unwrap(),
        )
    });
    deployments
        .chain(jobs)
        .flat_map(|(owner, pod)| pod.containers.into_iter().map(move |c| (owner.clone(), c)))
        .filter(|(_, c)| c.image.as_deref() == Some(hc.spec.image.as_str()))
        .collect()
}

/// The container's environment as the app would see it: secret references
/// become long placeholders, so production checks on secrets pass only
/// because the value comes from a Secret, never from an insecure default.
fn resolved_env(container: &Container) -> Vec<(String, String)> {
    container
        .env
        .iter()
        .flatten()
        .map(|var| match (&var.value, &var.value_from) {
            (Some(value), None) => (var.name.clone(), value.clone()),
            (None, Some(source)) => {
                let secret = source.secret_key_ref.as_ref().unwrap();
                (
                    var.name.clone(),
                    format!(
                        "from-secret-{}-{}-padding-to-be-long-enough",
                        secret.name, secret.key
                    ),
                )
            }
            other => panic!(
                "{}: neither a value nor a secret reference: {other:?}",
                var.name
            ),
        })
        .collect()
}

#[test]
fn every_harmony_environment_is_accepted_by_the_app_config() {
    for hc in variants() {
        let children = build(&hc, &secrets()).unwrap();
        let containers = harmony_containers(&hc, &children);
        // api, cdc and the migration Job always; relay and sink unless replaced.
        assert!(
            containers.len() >= 3,
            "{} harmony containers",
            containers.len()
        );
        for (owner, container) in containers {
            let env = resolved_env(&container);
            for (name, _) in &env {
                assert!(
                    name == deployment::WORKER_THREADS_ENV
                        || harmony_config::settings().iter().any(|s| &s.env == name),
                    "{owner}: {name} is not a harmony setting"
                );
            }
            let mut production = env.clone();
            production.retain(|(name, _)| name != "APP__ENV");
            production.push(("APP__ENV".into(), "production".into()));
            let pairs = production.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            let config = harmony_config::Config::from_env_pairs(pairs)
                .unwrap_or_else(|e| panic!("{owner}/{}: {e}", container.name));
            // Values the app would otherwise default to a loopback address.
            assert!(
                config.postgres.url.expose().starts_with("from-secret-"),
                "{owner}"
            );
            if ["api", "cdc", "gateway"].contains(&container.name.as_str()) {
                assert!(
                    config.redis.url.expose().starts_with("from-secret-"),
                    "{owner}"
                );
            }
            // The relay and the gateway never touch DynamoDB.
            if !["relay", "gateway"].contains(&container.name.as_str()) {
                assert_eq!(
                    config.dynamodb.chat_history_table_name, hc.spec.dynamodb.table,
                    "{owner}"
                );
            }
            if container.name != "migrate" {
                assert_eq!(config.http.bind, "0.0.0.0:8000");
                assert_eq!(
                    config.kafka.bootstrap_servers,
                    hc.spec.kafka.bootstrap_servers
                );
                assert_eq!(
                    config.topics.messages.name,
                    hc.spec.kafka.topics.messages.name
                );
            }
        }
    }
}

#[test]
fn the_api_reads_auth_secrets_from_the_auth_secret() {
    for hc in [sample(), production()] {
        let children = build(&hc, &secrets()).unwrap();
        let api = deployment(
            &children,
            &format!("{}-api", hc.metadata.name.clone().unwrap()),
        );
        let env = pod(api).containers[0].env.clone().unwrap();
        let expected_secret = match &hc.spec.auth.secret_ref {
            Some(reference) => reference.name.clone(),
            None => format!("{}-auth", hc.metadata.name.clone().unwrap()),
        };
        for (name, key) in [
            ("AUTH__SECRET_KEY", "secret-key"),
            ("AUTH__PROXY_SECRET", "proxy-secret"),
            ("REALTIME__TOKEN_SECRET", "realtime-token-secret"),
        ] {
            let var = env.iter().find(|v| v.name == name).unwrap();
            let reference = var
                .value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .as_ref()
                .unwrap();
            assert_eq!(
                (reference.name.as_str(), reference.key.as_str()),
                (expected_secret.as_str(), key)
            );
        }
    }
}

#[test]
fn production_environment_without_auth_secrets_is_refused_by_the_app() {
    // Proves the acceptance test above can fail: drop the secret references.
    let hc = production();
    let children = build(&hc, &secrets()).unwrap();
    let api = deployment(&children, "harmony-prod-api");
    let env: Vec<(String, String)> = resolved_env(&pod(api).containers[0])
        .into_iter()
        .filter(|(name, _)| !name.starts_with("AUTH__"))
        .collect();
    let pairs = env.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    assert!(harmony_config::Config::from_env_pairs(pairs).is_err());
}

#[test]
fn every_child_is_labelled_and_owned_by_the_harmony_chat() {
    for hc in variants() {
        let children = build(&hc, &secrets()).unwrap();
        let name = hc.metadata.name.clone().unwrap();
        for manifest in children.manifests().unwrap() {
            let what = format!("{} {}", manifest["kind"], manifest["metadata"]["name"]);
            let labels = &manifest["metadata"]["labels"];
            assert_eq!(labels["app.kubernetes.io/name"], "harmony", "{what}");
            assert_eq!(
                labels["app.kubernetes.io/instance"],
                name.as_str(),
                "{what}"
            );
            assert_eq!(
                labels["app.kubernetes.io/managed-by"], "harmony-operator",
                "{what}"
            );
            assert!(labels["app.kubernetes.io/component"].is_string(), "{what}");
            assert_eq!(
                manifest["metadata"]["namespace"],
                hc.metadata.namespace.clone().unwrap().as_str()
            );
            let owners = manifest["metadata"]["ownerReferences"].as_array().unwrap();
            assert_eq!(owners.len(), 1, "{what}");
            assert_eq!(owners[0]["kind"], "HarmonyChat");
            assert_eq!(owners[0]["apiVersion"], "harmony.chat/v1alpha1");
            assert_eq!(owners[0]["name"], name.as_str());
            assert_eq!(owners[0]["uid"], hc.metadata.uid.clone().unwrap().as_str());
            assert_eq!(owners[0]["controller"], true, "{what}");
            assert!(
                manifest["metadata"]["name"].as_str().unwrap().len() <= 63,
                "{what}"
            );
        }
    }
}

#[test]
fn builtin_connectors_render_relay_and_sink() {
    let children = build(&sample(), &secrets()).unwrap();
    let names: Vec<&str> = children
        .deployments
        .iter()
        .filter_map(|d| d.metadata.name.as_deref())
        .collect();
    assert_eq!(
        names,
        [
            "harmony-dev-api",
            "harmony-dev-relay",
            "harmony-dev-cdc",
            "harmony-dev-sink",
            "harmony-dev-centrifugo"
        ]
    );
    let relay = deployment(&children, "harmony-dev-relay")
        .spec
        .as_ref()
        .unwrap();
    assert_eq!(relay.replicas, Some(1));
    assert_eq!(
        relay.strategy.as_ref().unwrap().type_.as_deref(),
        Some("Recreate")
    );
    assert!(children.autoscalers.is_empty());
    let services: Vec<&str> = children
        .services
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    assert_eq!(services, ["harmony-dev-api", "harmony-dev-centrifugo"]);
}

#[test]
fn alternative_connectors_replace_relay_and_sink() {
    let children = build(&production(), &secrets()).unwrap();
    let names: Vec<&str> = children
        .deployments
        .iter()
        .filter_map(|d| d.metadata.name.as_deref())
        .collect();
    assert_eq!(
        names,
        [
            "harmony-prod-api",
            "harmony-prod-conduit",
            "harmony-prod-cdc",
            "harmony-prod-redpanda-connect",
            "harmony-prod-centrifugo"
        ]
    );
    let config_maps: Vec<&str> = children
        .config_maps
        .iter()
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    assert_eq!(
        config_maps,
        [
            "harmony-prod-conduit",
            "harmony-prod-redpanda-connect",
            "harmony-prod-centrifugo"
        ]
    );
    let pipeline =
        &children.config_maps[0].data.as_ref().unwrap()[connectors::CONDUIT_PIPELINE_FILE];
    let pipeline: Value = serde_yaml::from_str(pipeline).unwrap();
    let settings = &pipeline["pipelines"][0]["connectors"][1]["settings"];
    assert!(
        settings["topic"]
            .as_str()
            .unwrap()
            .contains("prod_chat_events")
    );
    assert!(
        settings["topic"]
            .as_str()
            .unwrap()
            .contains("prod_user_events")
    );
    assert_eq!(settings["saslPassword"], "${KAFKA_SASL_PASSWORD}");
    assert_eq!(
        pipeline["pipelines"][0]["connectors"][0]["settings"]["url"],
        "${POSTGRES_URL}"
    );
    let stream = &children.config_maps[1].data.as_ref().unwrap()[connectors::REDPANDA_CONNECT_FILE];
    let stream: Value = serde_yaml::from_str(stream).unwrap();
    assert_eq!(
        stream["input"]["kafka_franz"]["topics"][0],
        "prod_chat_messages"
    );
    assert_eq!(
        stream["input"]["kafka_franz"]["consumer_group"],
        "chat.harmony-prod.sink"
    );
    assert_eq!(
        stream["output"]["aws_dynamodb"]["table"],
        "chat_history_prod"
    );
    assert_eq!(
        stream["pipeline"]["processors"][0]["mapping"],
        "root = this.without(\"author_metadata\")"
    );
}

#[test]
fn an_autoscaled_deployment_leaves_replicas_to_its_hpa() {
    let children = build(&production(), &secrets()).unwrap();
    let autoscaled: Vec<&str> = children
        .autoscalers
        .iter()
        .map(|hpa| hpa.spec.as_ref().unwrap().scale_target_ref.name.as_str())
        .collect();
    assert_eq!(
        autoscaled,
        [
            "harmony-prod-api",
            "harmony-prod-redpanda-connect",
            "harmony-prod-centrifugo"
        ]
    );
    for deployment in &children.deployments {
        let name = deployment.metadata.name.as_deref().unwrap();
        let replicas = deployment.spec.as_ref().unwrap().replicas;
        if autoscaled.contains(&name) {
            assert_eq!(replicas, None, "{name}");
        } else {
            assert!(replicas.is_some(), "{name}");
        }
    }
    let api = &children.autoscalers[0].spec.as_ref().unwrap();
    assert_eq!((api.min_replicas, api.max_replicas), (Some(3), 20));
    let metric = &api.metrics.as_ref().unwrap()[0].resource.as_ref().unwrap();
    assert_eq!(
        (metric.name.as_str(), metric.target.average_utilization),
        ("cpu", Some(70))
    );
    assert_eq!(
        deployment(&children, "harmony-prod-cdc")
            .spec
            .as_ref()
            .unwrap()
            .replicas,
        Some(2)
    );
}

#[test]
fn every_pod_is_restricted_and_probed() {
    for hc in variants() {
        let children = build(&hc, &secrets()).unwrap();
        let pods = children
            .deployments
            .iter()
            .map(|d| {
                (
                    d.metadata.name.clone().unwrap(),
                    d.spec.clone().unwrap().template.spec.unwrap(),
                    true,
                )
            })
            .chain(children.jobs.iter().map(|j| {
                (
                    j.metadata.name.clone().unwrap(),
                    j.spec.clone().unwrap().template.spec.unwrap(),
                    false,
                )
            }));
        for (name, pod, long_running) in pods {
            let pod_security = pod.security_context.as_ref().unwrap();
            assert_eq!(pod_security.run_as_non_root, Some(true), "{name}");
            assert_eq!(
                pod_security.seccomp_profile.as_ref().unwrap().type_,
                "RuntimeDefault"
            );
            assert_eq!(pod.automount_service_account_token, Some(false), "{name}");
            for container in &pod.containers {
                let security = container.security_context.as_ref().unwrap();
                assert_eq!(security.read_only_root_filesystem, Some(true), "{name}");
                assert_eq!(security.allow_privilege_escalation, Some(false), "{name}");
                assert_eq!(security.run_as_non_root, Some(true), "{name}");
                assert_eq!(
                    security.capabilities.as_ref().unwrap().drop,
                    Some(vec!["ALL".to_owned()])
                );
                let requests = container
                    .resources
                    .as_ref()
                    .unwrap()
                    .requests
                    .as_ref()
                    .unwrap();
                assert!(
                    requests.contains_key("cpu") && requests.contains_key("memory"),
                    "{name}"
                );
                assert_eq!(container.liveness_probe.is_some(), long_running, "{name}");
                assert_eq!(container.readiness_probe.is_some(), long_running, "{name}");
            }
        }
    }
}

#[test]
fn harmony_roles_probe_healthz_and_readyz() {
    let children = build(&sample(), &secrets()).unwrap();
    for role in ["api", "relay", "cdc", "sink"] {
        let container = &pod(deployment(&children, &format!("harmony-dev-{role}"))).containers[0];
        assert_eq!(container.args, Some(vec![role.to_owned()]));
        let path = |probe: &Option<k8s_openapi::api::core::v1::Probe>| {
            probe
                .as_ref()
                .unwrap()
                .http_get
                .as_ref()
                .unwrap()
                .path
                .clone()
                .unwrap()
        };
        assert_eq!(path(&container.liveness_probe), "/healthz");
        assert_eq!(path(&container.readiness_probe), "/readyz");
    }
}

#[test]
fn the_migration_job_is_named_after_the_image() {
    let hc = sample();
    let first = build(&hc, &secrets()).unwrap().jobs.remove(0);
    let name = first.metadata.name.clone().unwrap();
    assert_eq!(
        name,
        format!(
            "harmony-dev-migrate-{}",
            &sha256_hex(b"ghcr.io/harmony-chat/harmony:0.1.0")[..8]
        )
    );
    let container = &first
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    assert_eq!(
        container.args,
        Some(vec![
            "migrate".into(),
            "--only".into(),
            "postgres,dynamodb".into()
        ])
    );
    let mut upgraded = hc.clone();
    upgraded.spec.image = "harmony:next".into();
    let second = build(&upgraded, &secrets()).unwrap().jobs.remove(0);
    assert_ne!(second.metadata.name, first.metadata.name);
    let mut rescaled = hc.clone();
    rescaled.spec.api.replicas = Some(5);
    assert_eq!(
        build(&rescaled, &secrets()).unwrap().jobs[0].metadata.name,
        first.metadata.name
    );
}

fn centrifugo_config(children: &Children) -> Value {
    let config = children
        .config_maps
        .iter()
        .find(|c| {
            c.metadata.labels.as_ref().unwrap()["app.kubernetes.io/component"] == "centrifugo"
        })
        .unwrap();
    serde_json::from_str(&config.data.as_ref().unwrap()[centrifugo::CONFIG_FILE]).unwrap()
}

#[test]
fn centrifugo_consumes_the_message_topic_in_publication_data_mode() {
    let children = build(&production(), &secrets()).unwrap();
    let config = centrifugo_config(&children);
    let consumer = &config["consumers"][0];
    assert_eq!(consumer["type"], "kafka");
    assert_eq!(consumer["enabled"], true);
    let kafka = &consumer["kafka"];
    assert_eq!(
        kafka["brokers"],
        serde_json::json!(["b-1.kafka.internal:9096", "b-2.kafka.internal:9096"])
    );
    assert_eq!(kafka["topics"], serde_json::json!(["prod_chat_messages"]));
    assert_eq!(kafka["publication_data_mode"]["enabled"], true);
    assert_eq!(
        kafka["publication_data_mode"]["channels_header"],
        "x-centrifugo-channels"
    );
    assert_eq!(kafka["sasl_mechanism"], "scram-sha-512");
    assert_eq!(kafka["tls"]["enabled"], true);
    assert_eq!(config["engine"]["type"], "redis");
    let connect = &config["client"]["proxy"]["connect"];
    assert_eq!(connect["enabled"], true);
    assert_eq!(
        connect["endpoint"],
        "http://harmony-prod-api:8000/api/v1/ws/connect"
    );
    assert_eq!(connect["http_headers"], serde_json::json!(["Cookie"]));
    assert_eq!(
        connect["http"]["static_headers"]["x-harmony-proxy-secret"],
        "${CENTRIFUGO_VAR_PROXY_SECRET}"
    );
    let subscribe = &config["channel"]["proxy"]["subscribe"];
    assert_eq!(
        subscribe["endpoint"],
        "http://harmony-prod-api:8000/api/v1/ws/subscribe"
    );
    assert_eq!(
        subscribe["http"]["static_headers"]["x-harmony-proxy-secret"],
        "${CENTRIFUGO_VAR_PROXY_SECRET}"
    );
    // Typing: client publications to the API's publish proxy, same header.
    let publish = &config["channel"]["proxy"]["publish"];
    assert_eq!(
        publish["endpoint"],
        "http://harmony-prod-api:8000/api/v1/ws/publish"
    );
    assert_eq!(
        publish["http"]["static_headers"]["x-harmony-proxy-secret"],
        "${CENTRIFUGO_VAR_PROXY_SECRET}"
    );
    let chat = &config["channel"]["namespaces"][0];
    assert_eq!(chat["name"], "chat");
    assert_eq!(chat["presence"], true);
    assert_eq!(chat["allow_presence_for_subscriber"], true);
    assert_eq!(chat["join_leave"], true);
    assert_eq!(chat["force_push_join_leave"], true);
    assert_eq!(chat["publish_proxy_enabled"], true);
    assert_eq!(chat["publication_data_format"], "json_object");
    // The personal channel takes no client publications, presence or join/leave.
    for option in ["presence", "join_leave", "publish_proxy_enabled"] {
        assert_eq!(
            config["channel"]["namespaces"][1][option],
            Value::Null,
            "{option}"
        );
    }
    // Presence entries expire as the gateway's do.
    assert_eq!(config["engine"]["redis"]["presence_ttl"], "30s");
    assert_eq!(config["client"]["presence_update_interval"], "10s");
    assert_eq!(chat["history_size"], 200);
    assert_eq!(chat["history_ttl"], "7200s");
    assert_eq!(chat["force_recovery"], true);
    assert_eq!(chat["subscribe_proxy_enabled"], true);
    // Chat-list events: the personal channel every user is subscribed to at
    // connect, fed by the chat-event topic through the same header.
    let personal = &config["channel"]["namespaces"][1];
    assert_eq!(personal["name"], "personal");
    assert_eq!(personal["force_recovery"], true);
    assert_eq!(
        config["client"]["subscribe_to_user_personal_channel"],
        serde_json::json!({ "enabled": true, "personal_channel_namespace": "personal" })
    );
    let events = &config["consumers"][1]["kafka"];
    assert_eq!(events["topics"], serde_json::json!(["prod_chat_events"]));
    assert_eq!(
        events["publication_data_mode"]["channels_header"],
        "x-centrifugo-channels"
    );
    assert_ne!(
        events["consumer_group"],
        config["consumers"][0]["kafka"]["consumer_group"]
    );
    assert_eq!(
        config["client"]["allowed_origins"],
        serde_json::json!(["https://chat.example.com"])
    );

    // The variable the header names is filled from the proxy secret of the auth Secret.
    let env = pod(deployment(&children, "harmony-prod-centrifugo")).containers[0]
        .env
        .clone()
        .unwrap();
    let var = env
        .iter()
        .find(|v| v.name == "CENTRIFUGO_VAR_PROXY_SECRET")
        .unwrap();
    let reference = var
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (reference.name.as_str(), reference.key.as_str()),
        ("harmony-auth", "proxy-secret")
    );
    // The cdc ends leavers' subscriptions through Centrifugo's server API.
    let cdc = resolved_env(&pod(deployment(&children, "harmony-prod-cdc")).containers[0]);
    let value = |name: &str| cdc.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(
        value("REALTIME__CENTRIFUGO_API_URL"),
        Some("http://harmony-prod-centrifugo:8000/api")
    );
    assert_eq!(
        value("REALTIME__CENTRIFUGO_API_KEY"),
        Some("from-secret-harmony-prod-centrifugo-api-key-padding-to-be-long-enough")
    );
    // Connection tokens from the API verify with the same key.
    let token_key = env
        .iter()
        .find(|v| v.name == "CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY")
        .and_then(|v| v.value_from.as_ref()?.secret_key_ref.as_ref())
        .unwrap();
    assert_eq!(
        (token_key.name.as_str(), token_key.key.as_str()),
        ("harmony-auth", "realtime-token-secret")
    );
    let names: Vec<&str> = env.iter().map(|v| v.name.as_str()).collect();
    for consumer in ["MESSAGES", "CHAT_EVENTS"] {
        let name = format!("CENTRIFUGO_CONSUMERS_{consumer}_KAFKA_SASL_PASSWORD");
        assert!(names.contains(&name.as_str()), "{names:?}");
    }
    assert!(
        names.contains(&"CENTRIFUGO_ENGINE_REDIS_ADDRESS"),
        "{names:?}"
    );
}

#[test]
fn the_embedded_gateway_replaces_centrifugo() {
    let hc = with_gateway();
    let children = build(&hc, &secrets()).unwrap();
    let gateway = deployment(&children, "harmony-dev-gateway");
    let container = &pod(gateway).containers[0];
    assert_eq!(container.args.as_deref(), Some(&["gateway".to_owned()][..]));
    assert_eq!(gateway.spec.as_ref().unwrap().replicas, None);
    let hpa = children
        .autoscalers
        .iter()
        .find(|h| h.spec.as_ref().unwrap().scale_target_ref.name == "harmony-dev-gateway")
        .unwrap();
    assert_eq!(
        (
            hpa.spec.as_ref().unwrap().min_replicas,
            hpa.spec.as_ref().unwrap().max_replicas
        ),
        (Some(2), 6)
    );
    let env = resolved_env(container);
    let value = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(
        value("REALTIME__HISTORY_SIZE"),
        Some(hc.spec.centrifugo.history_size.to_string())
    );
    assert_eq!(
        value("REALTIME__TOKEN_SECRET").as_deref(),
        Some("from-secret-harmony-dev-auth-realtime-token-secret-padding-to-be-long-enough")
    );
    let services: Vec<&str> = children
        .services
        .iter()
        .map(|s| s.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(services, ["harmony-dev-api", "harmony-dev-gateway"]);
    let cdc = resolved_env(&pod(deployment(&children, "harmony-dev-cdc")).containers[0]);
    assert!(
        !cdc.iter()
            .any(|(name, _)| name.starts_with("REALTIME__CENTRIFUGO"))
    );
    let centrifugo = |name: Option<&String>| name.is_some_and(|n| n.contains("centrifugo"));
    assert!(
        !children
            .deployments
            .iter()
            .any(|d| centrifugo(d.metadata.name.as_ref()))
    );
    assert!(
        !children
            .config_maps
            .iter()
            .any(|c| centrifugo(c.metadata.name.as_ref()))
    );
    assert!(
        !children
            .secrets
            .iter()
            .any(|s| centrifugo(s.metadata.name.as_ref()))
    );
}

#[test]
fn a_centrifugo_config_change_changes_the_pod_checksum() {
    let checksum = |hc: &HarmonyChat| {
        let children = build(hc, &secrets()).unwrap();
        let annotations: BTreeMap<String, String> = deployment(&children, "harmony-dev-centrifugo")
            .spec
            .clone()
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap();
        let config = children
            .config_maps
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some("harmony-dev-centrifugo"))
            .unwrap();
        assert_eq!(
            annotations[meta::CONFIG_CHECKSUM_ANNOTATION],
            pod::checksum(config)
        );
        annotations[meta::CONFIG_CHECKSUM_ANNOTATION].clone()
    };
    let hc = sample();
    let mut more_history = hc.clone();
    more_history.spec.centrifugo.history_size = 500;
    let mut more_pods = hc.clone();
    more_pods.spec.centrifugo.replicas = Some(3);
    assert_eq!(checksum(&hc), checksum(&hc));
    assert_ne!(checksum(&hc), checksum(&more_history));
    assert_eq!(checksum(&hc), checksum(&more_pods));
}

#[test]
fn secrets_are_generated_only_when_not_referenced_and_never_leak_into_config_maps() {
    let generated = secrets();
    let sample_children = build(&sample(), &generated).unwrap();
    let names: Vec<&str> = sample_children
        .secrets
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    assert_eq!(names, ["harmony-dev-auth", "harmony-dev-centrifugo"]);
    let auth = &sample_children.secrets[0].data.as_ref().unwrap();
    assert_eq!(auth["secret-key"].0, generated.auth_secret_key.as_bytes());
    assert_eq!(
        auth["proxy-secret"].0,
        generated.auth_proxy_secret.as_bytes()
    );

    let production_children = build(&production(), &generated).unwrap();
    let names: Vec<&str> = production_children
        .secrets
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    assert_eq!(names, ["harmony-prod-centrifugo"]);

    for children in [&sample_children, &production_children] {
        let text = serde_json::to_string(&children.config_maps).unwrap()
            + &serde_json::to_string(&children.deployments).unwrap()
            + &serde_json::to_string(&children.jobs).unwrap();
        for value in [
            &generated.auth_secret_key,
            &generated.auth_proxy_secret,
            &generated.centrifugo_api_key,
            &generated.centrifugo_admin_password,
            &generated.centrifugo_admin_secret,
        ] {
            assert!(
                !text.contains(value.as_str()),
                "a secret value reached a non-Secret object"
            );
        }
    }
}

/// One ServiceAccount per component that reaches AWS (production runs
/// Redpanda Connect in place of the sink), so each can be bound
/// to a role with only its own access (with one shared account, as before,
/// this was seen failing on the first assertion).
#[test]
fn each_component_that_reaches_aws_has_its_own_service_account() {
    let production_children = build(&production(), &secrets()).unwrap();
    let accounts: Vec<&str> = production_children
        .service_accounts
        .iter()
        .map(|a| a.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        accounts,
        [
            "harmony-prod-migrate",
            "harmony-prod-api",
            "harmony-prod-cdc",
            "harmony-prod-redpanda-connect"
        ]
    );
    for account in &production_children.service_accounts {
        assert_eq!(
            account.metadata.annotations.as_ref().unwrap()[service_account::IRSA_ROLE_ANNOTATION],
            "arn:aws:iam::123456789012:role/harmony-prod"
        );
    }
    for (deployment_name, account) in [
        ("harmony-prod-api", Some("harmony-prod-api")),
        ("harmony-prod-cdc", Some("harmony-prod-cdc")),
        (
            "harmony-prod-redpanda-connect",
            Some("harmony-prod-redpanda-connect"),
        ),
        ("harmony-prod-conduit", None),
        ("harmony-prod-centrifugo", None),
    ] {
        assert_eq!(
            pod(deployment(&production_children, deployment_name))
                .service_account_name
                .as_deref(),
            account,
            "{deployment_name}"
        );
    }

    let mut own_account = production();
    own_account.spec.dynamodb.role_arn = None;
    own_account.spec.dynamodb.service_account_name = Some("pod-identity".into());
    let children = build(&own_account, &secrets()).unwrap();
    assert!(children.service_accounts.is_empty());
    assert_eq!(
        pod(deployment(&children, "harmony-prod-cdc"))
            .service_account_name
            .as_deref(),
        Some("pod-identity")
    );
    assert_eq!(
        pod(deployment(&children, "harmony-prod-redpanda-connect"))
            .service_account_name
            .as_deref(),
        Some("pod-identity")
    );
}

#[test]
fn the_build_is_deterministic() {
    for hc in variants() {
        assert_eq!(
            build(&hc, &secrets()).unwrap(),
            build(&hc, &secrets()).unwrap()
        );
    }
}

#[test]
fn invalid_specs_are_refused_with_every_problem() {
    let mut hc = production();
    hc.spec.api.replicas = Some(2);
    if let Some(autoscaling) = hc.spec.centrifugo.autoscaling.as_mut() {
        autoscaling.min_replicas = 50;
    }
    hc.spec.api.resources.as_mut().unwrap().requests = None;
    match build(&hc, &secrets()) {
        Err(BuildError::InvalidSpec(problems)) => assert_eq!(problems.len(), 3, "{problems:?}"),
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
}

#[test]
fn an_unstored_harmony_chat_has_no_owner_to_reference() {
    let mut hc = sample();
    hc.metadata.uid = None;
    assert_eq!(
        build(&hc, &secrets()).unwrap_err(),
        BuildError::MissingMetadata("uid")
    );
}

/// Every autoscaled component needs a CPU request, the embedded gateway
/// too: validation and the HPAs come from one list. Seen failing with the
/// gateway's autoscaling left out of `scaled_components` (validation once
/// left it out while the HPA was still rendered).
#[test]
fn an_autoscaled_gateway_without_a_cpu_request_is_refused() {
    let mut hc = with_gateway();
    hc.spec.realtime.gateway.resources = Some(k8s_openapi::api::core::v1::ResourceRequirements {
        requests: Some(BTreeMap::from([(
            "memory".to_owned(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("128Mi".to_owned()),
        )])),
        ..Default::default()
    });
    match build(&hc, &secrets()) {
        Err(BuildError::InvalidSpec(problems)) => assert_eq!(
            problems,
            ["spec.realtime.gateway: autoscaling on CPU needs resources.requests.cpu"]
        ),
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
    let hpas: Vec<String> = build(&with_gateway(), &secrets())
        .unwrap()
        .autoscalers
        .iter()
        .map(|hpa| hpa.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(hpas, ["harmony-dev-gateway"]);
}

/// Names of the Deployments a PodDisruptionBudget covers, checking each
/// budget selects exactly its Deployment's pods.
fn budgeted(children: &Children) -> Vec<String> {
    children
        .disruption_budgets
        .iter()
        .map(|pdb| {
            let name = pdb.metadata.name.clone().unwrap();
            let spec = pdb.spec.as_ref().unwrap();
            assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)), "{name}");
            assert_eq!(spec.min_available, None, "{name}");
            assert_eq!(
                spec.selector.as_ref(),
                Some(&deployment(children, &name).spec.as_ref().unwrap().selector),
                "{name}"
            );
            name
        })
        .collect()
}

/// Guarantee: every component that may run more than one pod (fixed
/// replicas above one, or an autoscaler whose maximum is above one, even at
/// minReplicas 1) has a budget of one unavailable pod selecting its pods; a
/// component that always runs one pod has none. Seen failing with the
/// `disruption_budgets.extend` in `build()` removed, and with
/// `may_run_several` reading `min_replicas` instead of `max_replicas`.
#[test]
fn every_component_that_may_run_several_pods_has_a_disruption_budget() {
    let children = build(&production(), &secrets()).unwrap();
    assert_eq!(
        budgeted(&children),
        [
            "harmony-prod-api",
            "harmony-prod-cdc",
            "harmony-prod-redpanda-connect",
            "harmony-prod-centrifugo"
        ]
    );
    // The sample runs one pod of everything.
    assert!(
        build(&sample(), &secrets())
            .unwrap()
            .disruption_budgets
            .is_empty()
    );

    let mut hc = sample();
    hc.spec.api.replicas = None;
    hc.spec.api.autoscaling = Some(Autoscaling {
        min_replicas: 1,
        max_replicas: 4,
        target_cpu_utilization_percentage: 80,
    });
    hc.spec.sink.replicas = Some(3);
    assert_eq!(
        budgeted(&build(&hc, &secrets()).unwrap()),
        ["harmony-dev-api", "harmony-dev-sink"]
    );
    // An autoscaler that may never go above one pod is a single pod.
    hc.spec.api.autoscaling.as_mut().unwrap().max_replicas = 1;
    assert_eq!(
        budgeted(&build(&hc, &secrets()).unwrap()),
        ["harmony-dev-sink"]
    );
}

/// Guarantee: the pods of a component that may run several are spread,
/// preferably, over zones and then nodes, counted by the component's
/// selector labels per revision; single-pod Deployments carry no
/// constraint. Seen failing with the `topology_spread_constraints`
/// assignment in `deployment::deployment` removed.
#[test]
fn pods_of_a_component_that_may_run_several_spread_over_zones_and_nodes() {
    let children = build(&production(), &secrets()).unwrap();
    let spread = budgeted(&children);
    for deployment in &children.deployments {
        let name = deployment.metadata.name.as_deref().unwrap();
        let constraints = pod(deployment).topology_spread_constraints.as_ref();
        if !spread.iter().any(|n| n == name) {
            assert_eq!(constraints, None, "{name}");
            continue;
        }
        let selector = &deployment.spec.as_ref().unwrap().selector;
        let got: Vec<_> = constraints
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c.topology_key.as_str(),
                    c.max_skew,
                    c.when_unsatisfiable.as_str(),
                    c.label_selector.as_ref(),
                    c.match_label_keys.as_deref(),
                )
            })
            .collect();
        let per_revision = ["pod-template-hash".to_owned()];
        assert_eq!(
            got,
            [
                (
                    "topology.kubernetes.io/zone",
                    1,
                    "ScheduleAnyway",
                    Some(selector),
                    Some(&per_revision[..])
                ),
                (
                    "kubernetes.io/hostname",
                    1,
                    "ScheduleAnyway",
                    Some(selector),
                    Some(&per_revision[..])
                ),
            ],
            "{name}"
        );
    }
    for deployment in &build(&sample(), &secrets()).unwrap().deployments {
        assert_eq!(pod(deployment).topology_spread_constraints, None);
    }
}

fn lag_autoscaled() -> HarmonyChat {
    stored(LAG_AUTOSCALING)
}

/// A ScaledObject as JSON, for exact comparison.
fn scaled_object_json(children: &Children, name: &str) -> Value {
    let scaled = children
        .scaled_objects
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no ScaledObject {name}"));
    serde_json::to_value(scaled).unwrap()
}

fn kafka_trigger(group: &str, topic: &str, lag: &str, auth: Option<&str>) -> Value {
    let mut trigger = serde_json::json!({
        "type": "kafka",
        "metadata": {
            "bootstrapServers": "b-1.kafka.internal:9096,b-2.kafka.internal:9096",
            "consumerGroup": group,
            "topic": topic,
            "lagThreshold": lag,
            "allowIdleConsumers": "false",
            "limitToPartitionsWithLag": "true",
            "offsetResetPolicy": "earliest",
            "sasl": "scram_sha512",
            "tls": "enable",
        },
    });
    if let Some(auth) = auth {
        trigger["authenticationRef"] = serde_json::json!({ "name": auth });
    }
    trigger
}

/// The cdc and the sink asking for lag autoscaling get a KEDA ScaledObject
/// on their own consumer group and topics (one trigger per topic) and no
/// CPU HPA, their Deployments leave replicas to it, while the api keeps its
/// HPA. Seen failing with the `scaled_objects` line removed from `build`
/// (no ScaledObject), and with the sink's group taken from the cdc.
#[test]
fn lag_autoscaled_consumers_scale_on_their_groups_lag_instead_of_cpu() {
    let children = build(&lag_autoscaled(), &secrets()).unwrap();
    let hpas: Vec<&str> = children
        .autoscalers
        .iter()
        .map(|hpa| hpa.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(hpas, ["harmony-lag-api"]);
    let sink = scaled_object_json(&children, "harmony-lag-sink");
    assert_eq!(sink["apiVersion"], "keda.sh/v1alpha1");
    assert_eq!(
        sink["spec"],
        serde_json::json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "harmony-lag-sink"},
            "minReplicaCount": 2,
            "maxReplicaCount": 12,
            "triggers": [kafka_trigger("chat.harmony-lag.sink", "chat_messages", "1000", Some("harmony-lag-sink"))],
        })
    );
    let cdc = scaled_object_json(&children, "harmony-lag-cdc");
    assert_eq!(
        cdc["spec"],
        serde_json::json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "harmony-lag-cdc"},
            "minReplicaCount": 1,
            "maxReplicaCount": 6,
            "triggers": [
                kafka_trigger("chat.harmony-lag.cdc", "chat_events", "500", Some("harmony-lag-cdc")),
                kafka_trigger("chat.harmony-lag.cdc", "user_events", "500", Some("harmony-lag-cdc")),
            ],
        })
    );
    // The group KEDA reads is the one the component's pods join.
    for (deployment_name, group) in [
        ("harmony-lag-sink", "chat.harmony-lag.sink"),
        ("harmony-lag-cdc", "chat.harmony-lag.cdc"),
    ] {
        let deployment = deployment(&children, deployment_name);
        assert_eq!(deployment.spec.as_ref().unwrap().replicas, None);
        let env = resolved_env(&pod(deployment).containers[0]);
        assert!(
            env.iter().any(|(_, value)| value == group),
            "{deployment_name} does not join {group}: {env:?}"
        );
    }
    assert_eq!(children.scaled_objects.len(), 2);
}

/// KEDA authenticates to Kafka with the credentials the component uses:
/// the same Secret and keys, SASL mechanism and TLS from the spec; without
/// SASL there is no TriggerAuthentication and no `sasl` or reference.
/// Seen failing with `username_key` swapped for the default `"username"`
/// and with `tls` left out of the trigger metadata.
#[test]
fn lag_autoscaling_authenticates_with_the_components_kafka_secret() {
    let children = build(&lag_autoscaled(), &secrets()).unwrap();
    let names: Vec<&str> = children
        .trigger_authentications
        .iter()
        .map(|t| t.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["harmony-lag-cdc", "harmony-lag-sink"]);
    let sink = scaled_object_json(&children, "harmony-lag-sink");
    let metadata = &sink["spec"]["triggers"][0]["metadata"];
    assert_eq!(
        (&metadata["sasl"], &metadata["tls"]),
        (&Value::from("scram_sha512"), &Value::from("enable"))
    );
    for auth in &children.trigger_authentications {
        assert_eq!(
            serde_json::to_value(&auth.spec).unwrap(),
            serde_json::json!({"secretTargetRef": [
                {"parameter": "username", "name": "kafka-credentials", "key": "user"},
                {"parameter": "password", "name": "kafka-credentials", "key": "pass"},
            ]})
        );
    }
    let mut plain = lag_autoscaled();
    plain.spec.kafka.auth = None;
    plain.spec.kafka.tls = false;
    let children = build(&plain, &secrets()).unwrap();
    assert!(children.trigger_authentications.is_empty());
    let sink = scaled_object_json(&children, "harmony-lag-sink");
    let trigger = &sink["spec"]["triggers"][0];
    assert_eq!(trigger.get("authenticationRef"), None);
    assert_eq!(trigger["metadata"].get("sasl"), None);
    assert_eq!(trigger["metadata"].get("tls"), None);
}

/// Redpanda Connect in place of the sink joins the sink's group, so its
/// ScaledObject reads that group and scales its own Deployment. Seen failing
/// with `group_of` returning the `redpanda-connect` group.
#[test]
fn redpanda_connect_scales_on_the_sink_groups_lag() {
    let mut hc = lag_autoscaled();
    hc.spec.connectors.sink = SinkConnector::RedpandaConnect;
    let children = build(&hc, &secrets()).unwrap();
    let connect = scaled_object_json(&children, "harmony-lag-redpanda-connect");
    assert_eq!(
        connect["spec"]["scaleTargetRef"]["name"],
        "harmony-lag-redpanda-connect"
    );
    assert_eq!(
        connect["spec"]["triggers"][0]["metadata"]["consumerGroup"],
        "chat.harmony-lag.sink"
    );
    assert_eq!(
        deployment(&children, "harmony-lag-redpanda-connect")
            .spec
            .as_ref()
            .unwrap()
            .replicas,
        None
    );
}

/// A lag-autoscaled consumer may run several pods, so it gets a disruption
/// budget and topology spread like a CPU-autoscaled one. Seen failing with
/// the `LagAutoscaled` arm of `may_run_several` returning false.
#[test]
fn a_lag_autoscaled_consumer_has_a_disruption_budget() {
    let children = build(&lag_autoscaled(), &secrets()).unwrap();
    assert_eq!(
        budgeted(&children),
        ["harmony-lag-api", "harmony-lag-cdc", "harmony-lag-sink"]
    );
}

/// Never more replicas than partitions: a consumer beyond them gets no
/// partition and idles. cdc's bound is its larger topic (the range assignor
/// hands each topic's partitions out separately). Seen failing with the
/// `check_lag_partitions` call removed from `validate`.
#[test]
fn lag_autoscaling_beyond_the_topics_partitions_is_refused() {
    let mut hc = lag_autoscaled();
    hc.spec.sink.lag_autoscaling.as_mut().unwrap().max_replicas = 13;
    hc.spec.cdc.lag_autoscaling.as_mut().unwrap().max_replicas = 7;
    match build(&hc, &secrets()) {
        Err(BuildError::InvalidSpec(problems)) => assert_eq!(
            problems,
            [
                "spec.cdc.lagAutoscaling.maxReplicas (7) exceeds the 6 partitions of topic chat_events: a consumer beyond them idles",
                "spec.sink.lagAutoscaling.maxReplicas (13) exceeds the 12 partitions of topic chat_messages: a consumer beyond them idles",
            ]
        ),
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
}

/// Lag autoscaling owns the replica count alone: with `replicas` or CPU
/// `autoscaling` beside it the spec is refused (CEL, as the apiserver
/// would). Seen failing with the CRD's lagAutoscaling rule removed.
#[test]
fn lag_autoscaling_with_replicas_or_cpu_autoscaling_is_refused() {
    let mut hc = lag_autoscaled();
    hc.spec.sink.replicas = Some(2);
    hc.spec.cdc.autoscaling = Some(Autoscaling {
        min_replicas: 1,
        max_replicas: 3,
        target_cpu_utilization_percentage: 80,
    });
    hc.spec.cdc.lag_autoscaling = Some(LagAutoscaling {
        min_replicas: 1,
        max_replicas: 3,
        lag_per_replica: 100,
    });
    match build(&hc, &secrets()) {
        Err(BuildError::InvalidSpec(problems)) => assert_eq!(
            problems,
            [
                "spec.cdc: set lagAutoscaling alone, without replicas or autoscaling",
                "spec.sink: set lagAutoscaling alone, without replicas or autoscaling",
            ]
        ),
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
}

/// Centrifugo v6 ignores a configuration key it does not know (a warning in
/// its log), so a misspelt option would silently be off. Every key of the
/// rendered configuration, in every variant, must be one of its config
/// structs' (`operator/tests/centrifugo/`: the list and the script that read
/// it from Centrifugo's source at the tag of the default image).
#[test]
fn the_centrifugo_config_uses_only_keys_centrifugo_knows() {
    const KEYS: &str = include_str!("../../tests/centrifugo/v6.9.1.keys");
    assert!(
        crate::crd::CentrifugoSpec::default()
            .image
            .ends_with(":v6.9.1"),
        "the default image changed: regenerate operator/tests/centrifugo/ for it"
    );
    let kinds: BTreeMap<&str, &str> = KEYS
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .collect();
    /// The keys under `path` (an object's) that Centrifugo does not know.
    fn unknown_keys(
        path: &str,
        value: &Value,
        kinds: &BTreeMap<&str, &str>,
        unknown: &mut Vec<String>,
    ) {
        let Value::Object(fields) = value else { return };
        for (key, value) in fields {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match kinds.get(child.as_str()).copied() {
                None => unknown.push(child),
                Some("struct") => unknown_keys(&child, value, kinds, unknown),
                Some("list") => {
                    for item in value.as_array().into_iter().flatten() {
                        unknown_keys(&format!("{child}[]"), item, kinds, unknown);
                    }
                }
                Some(_) => {}
            }
        }
    }
    for hc in variants() {
        let children = build(&hc, &secrets()).unwrap();
        if !children.config_maps.iter().any(|c| {
            c.metadata.labels.as_ref().unwrap()["app.kubernetes.io/component"] == "centrifugo"
        }) {
            continue;
        }
        let config = centrifugo_config(&children);
        let mut unknown = Vec::new();
        unknown_keys("", &config, &kinds, &mut unknown);
        assert_eq!(
            unknown,
            Vec::<String>::new(),
            "keys Centrifugo v6.9.1 does not know"
        );
        // The options this platform relies on are among those checked.
        let chat = &config["channel"]["namespaces"][0];
        for option in [
            "presence",
            "join_leave",
            "force_push_join_leave",
            "allow_presence_for_subscriber",
            "publish_proxy_enabled",
        ] {
            assert_eq!(chat[option], true, "{option}");
        }
    }
}

/// Seen failing with the limit ignored (a 500m request under a 3-CPU limit
/// gave 1) and with millicores read as cores (1500m gave 1500).
#[test]
fn worker_threads_follow_the_cpu_limit_else_the_request() {
    use k8s_openapi::api::core::v1::ResourceRequirements;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let resources = |requests: Option<&str>, limits: Option<&str>| ResourceRequirements {
        requests: requests
            .map(|cpu| BTreeMap::from([("cpu".to_owned(), Quantity(cpu.to_owned()))])),
        limits: limits.map(|cpu| BTreeMap::from([("cpu".to_owned(), Quantity(cpu.to_owned()))])),
        ..ResourceRequirements::default()
    };
    for (requests, limits, workers) in [
        (Some("100m"), None, 1),
        (Some("1"), None, 1),
        (Some("1500m"), None, 2),
        (Some("2"), None, 2),
        (Some("0.5"), Some("3"), 3),
        (None, None, 1),
        (Some("lots"), None, 1),
    ] {
        assert_eq!(
            deployment::worker_threads(&resources(requests, limits)),
            workers,
            "{requests:?} {limits:?}"
        );
    }
    // Every long-running harmony container says it.
    let hc = sample();
    let children = build(&hc, &secrets()).unwrap();
    let serving = harmony_containers(&hc, &children)
        .into_iter()
        .filter(|(name, _)| !name.contains("-migrate"));
    for (name, container) in serving {
        let set = resolved_env(&container)
            .into_iter()
            .find(|(var, _)| var == deployment::WORKER_THREADS_ENV);
        assert!(set.is_some(), "{name}");
    }
}

/// The reclaim Job runs while foreground deletion removes the HarmonyChat's
/// children: its environment may read only Secrets the spec names (none the
/// operator generated), only settings `harmony reclaim` knows, and it runs
/// as the migrate ServiceAccount (its AWS role). Seen failing with the
/// environment unfiltered (the generated `-auth` Secret was read).
#[test]
fn the_reclaim_job_reads_nothing_deleted_with_its_harmonychat() {
    for hc in variants() {
        let children = build(&hc, &secrets()).unwrap();
        let generated: Vec<String> = children
            .secrets
            .iter()
            .filter_map(|secret| secret.metadata.name.clone())
            .collect();
        let instance = Instance::new(&hc).unwrap();
        let job = job::reclaim(&instance, &["postgres", "dynamodb"]);
        let pod = job.spec.unwrap().template.spec.unwrap();
        assert_eq!(
            pod.service_account_name,
            Some(instance.aws_service_account(Component::Migrate))
        );
        for var in pod.containers[0].env.iter().flatten() {
            assert!(
                harmony_config::settings().iter().any(|s| s.env == var.name),
                "{}",
                var.name
            );
            let secret = var
                .value_from
                .as_ref()
                .and_then(|from| from.secret_key_ref.as_ref())
                .map(|secret| secret.name.clone());
            assert!(
                secret.is_none_or(|name| !generated.contains(&name)),
                "{} reads a generated Secret",
                var.name
            );
        }
    }
}
