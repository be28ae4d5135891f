use kube::CustomResourceExt;
use serde_json::{Value, json};

use super::*;

const COMMITTED_CRD: &str = include_str!("../../../crds/harmonychat.yaml");

#[test]
fn committed_crd_is_current() {
    let generated = crate::render::crd_yaml().unwrap();
    assert!(
        generated == COMMITTED_CRD,
        "crds/harmonychat.yaml is stale: run `cargo run -p harmony-operator -- crd > crds/harmonychat.yaml`"
    );
}

#[test]
fn crd_names_and_subresources() {
    let crd = HarmonyChat::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("harmonychats.harmony.chat")
    );
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.short_names, Some(vec!["hc".to_owned()]));
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.subresources.as_ref().unwrap().status.is_some());
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        ["Ready", "Phase", "Image", "Version", "Rolling", "Age"]
    );
}

/// What `kubectl get hc` shows in `column` for `object`: the first match
/// of the column's JSONPath, as the apiserver's table printer takes it.
fn column(object: &Value, name: &str) -> Option<Value> {
    use jsonpath_rust::JsonPath;
    let crd = HarmonyChat::crd();
    let path = &crd.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .find(|c| c.name == name)
        .unwrap()
        .json_path;
    object
        .query(&format!("${path}"))
        .unwrap()
        .first()
        .map(|v| (*v).clone())
}

/// Guarantee: `kubectl get hc` shows the version the api runs and a
/// component whose roll is in progress, nothing when none is. Seen failing
/// with the Rolling column's `[?(@.rolling==true)]` filter replaced by `[*]`.
#[test]
fn version_and_rolling_columns_read_the_component_status() {
    let component = |name: &str, version: &str, rolling: bool| {
        json!({ "name": name, "desiredReplicas": 2, "readyReplicas": 2,
                "version": version, "rolling": rolling })
    };
    let mut object = json!({ "status": { "components": [
        component("migrate", "1.1.0", false),
        component("api", "1.1.0", false),
        component("relay", "1.0.0", true),
        component("cdc", "1.0.0", true),
    ] } });
    assert_eq!(column(&object, "Version"), Some(json!("1.1.0")));
    assert_eq!(column(&object, "Rolling"), Some(json!("relay")));
    object["status"]["components"][2]["rolling"] = json!(false);
    object["status"]["components"][3]["rolling"] = json!(false);
    assert_eq!(column(&object, "Rolling"), None);
}

fn schema() -> Value {
    let crd = HarmonyChat::crd();
    serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap()
}

fn minimal() -> Value {
    json!({
        "apiVersion": "harmony.chat/v1alpha1",
        "kind": "HarmonyChat",
        "metadata": { "name": "chat", "namespace": "default" },
        "spec": {
            "image": "harmony:1",
            "kafka": { "bootstrapServers": "kafka:9092" },
            "postgres": { "urlSecretRef": { "name": "pg", "key": "url" } },
            "redis": { "urlSecretRef": { "name": "redis", "key": "url" } },
            "dynamodb": { "table": "chat_history" },
        }
    })
}

fn cel_errors(object: &Value, old: Option<&Value>) -> Vec<String> {
    match kube_cel::Validator::new().validate(&schema(), object, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

#[test]
fn minimal_spec_passes_every_cel_rule() {
    assert_eq!(cel_errors(&minimal(), None), Vec::<String>::new());
}

#[test]
fn minimal_spec_deserialises_with_defaults() {
    let hc: HarmonyChat = serde_json::from_value(minimal()).unwrap();
    assert_eq!(hc.spec.environment, AppEnvironment::Production);
    assert_eq!(hc.spec.kafka.reclaim_policy, ReclaimPolicy::Retain);
    assert_eq!(hc.spec.kafka.topics.messages.name, "chat_messages");
    assert_eq!(hc.spec.kafka.topics.messages.partitions, 6);
    assert_eq!(hc.spec.connectors.cdc, CdcConnector::Builtin);
    assert_eq!(hc.spec.connectors.sink, SinkConnector::Builtin);
    assert_eq!(hc.spec.api.scaling(), Scaling::Fixed(1));
    assert_eq!(hc.spec.dynamodb.region, "us-east-1");
    assert_eq!(hc.spec.dynamodb.reclaim_policy, ReclaimPolicy::Retain);
    assert_eq!(hc.spec.postgres.reclaim_policy, ReclaimPolicy::Retain);
}

/// The apiserver fills in `Retain` for every store: data outlives a
/// HarmonyChat unless the spec says otherwise.
#[test]
fn every_reclaim_policy_defaults_to_retain_in_the_schema() {
    let spec = &schema()["properties"]["spec"]["properties"];
    for store in ["kafka", "dynamodb", "postgres"] {
        let policy = &spec[store]["properties"]["reclaimPolicy"];
        assert_eq!(policy["default"], "Retain", "{store}: {policy}");
        assert_eq!(policy["enum"], json!(["Retain", "Delete"]), "{store}");
    }
}

#[test]
fn replicas_and_autoscaling_together_are_refused() {
    let mut object = minimal();
    object["spec"]["api"] = json!({ "replicas": 2, "autoscaling": { "maxReplicas": 4 } });
    assert_eq!(
        cel_errors(&object, None),
        ["set replicas or autoscaling, not both"]
    );
}

#[test]
fn min_above_max_replicas_is_refused() {
    let mut object = minimal();
    object["spec"]["centrifugo"] = json!({ "autoscaling": { "minReplicas": 5, "maxReplicas": 2 } });
    assert_eq!(
        cel_errors(&object, None),
        ["minReplicas must not exceed maxReplicas"]
    );
}

#[test]
fn role_arn_and_service_account_together_are_refused() {
    let mut object = minimal();
    object["spec"]["dynamodb"]["roleArn"] = json!("arn:aws:iam::123456789012:role/harmony");
    object["spec"]["dynamodb"]["serviceAccountName"] = json!("mine");
    assert_eq!(cel_errors(&object, None).len(), 1);
}

#[test]
fn long_names_are_refused() {
    let mut object = minimal();
    object["metadata"]["name"] = json!("a".repeat(MAX_NAME_LEN + 1));
    assert_eq!(
        cel_errors(&object, None),
        ["metadata.name must be at most 40 characters (child names add suffixes)"]
    );
}

#[test]
fn partitions_may_grow_but_not_shrink() {
    let mut old = minimal();
    old["spec"]["kafka"]["topics"] = json!({ "messages": { "name": "m", "partitions": 6 } });
    let mut grown = old.clone();
    grown["spec"]["kafka"]["topics"]["messages"]["partitions"] = json!(12);
    let mut shrunk = old.clone();
    shrunk["spec"]["kafka"]["topics"]["messages"]["partitions"] = json!(3);
    assert_eq!(cel_errors(&grown, Some(&old)), Vec::<String>::new());
    assert_eq!(
        cel_errors(&shrunk, Some(&old)),
        ["Kafka cannot remove partitions: partitions may only grow"]
    );
}

#[test]
fn relay_has_no_replica_fields() {
    let schema = schema();
    let relay = &schema["properties"]["spec"]["properties"]["relay"]["properties"];
    assert!(relay.get("replicas").is_none());
    assert!(relay.get("autoscaling").is_none());
    assert!(relay.get("resources").is_some());
}
