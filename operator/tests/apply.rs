//! The apply contract, call by call, against a scripted apiserver (tower-test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use harmony_operator::apply::{ReconcileError, apply_all};
use harmony_operator::crd::HarmonyChat;
use harmony_operator::render;
use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const NAMESPACE: &str = "harmony";

fn sample() -> HarmonyChat {
    let text = include_str!("../examples/harmonychat.yaml");
    let mut hc = render::parse(text).unwrap();
    hc.metadata.uid = Some("7d0f4c9e-1b2a-4c3d-8e5f-6a7b8c9d0e1f".into());
    hc
}

fn mock() -> (Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, NAMESPACE), handle)
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn not_found(name: &str) -> Response<Body> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("secrets \"{name}\" not found"), "reason": "NotFound", "code": 404
        }),
    )
}

async fn expect_secret_read(handle: &mut Handle, name: &str, existing: Option<Value>) {
    let (request, send) = handle.next_request().await.expect("service not called");
    assert_eq!(request.method(), Method::GET);
    assert_eq!(
        request.uri().path(),
        format!("/api/v1/namespaces/{NAMESPACE}/secrets/{name}")
    );
    send.send_response(match existing {
        Some(secret) => json_response(StatusCode::OK, &secret),
        None => not_found(name),
    });
}

/// Checks one server-side apply request and echoes its body back.
async fn expect_apply(handle: &mut Handle, collection: &str, kind: &str, name: &str) -> Value {
    let (request, send) = handle.next_request().await.expect("service not called");
    assert_eq!(request.method(), Method::PATCH, "{kind} {name}");
    assert_eq!(
        request.uri().to_string(),
        format!("{collection}/{name}?&force=true&fieldManager=harmony-operator")
    );
    assert_eq!(
        request.headers().get("content-type").unwrap(),
        "application/apply-patch+yaml"
    );
    let body = request.into_body().collect_bytes().await.unwrap();
    let object: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(object["kind"], kind);
    assert_eq!(object["metadata"]["name"], name);
    assert_eq!(object["metadata"]["namespace"], NAMESPACE);
    let owner = &object["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "HarmonyChat");
    assert_eq!(owner["controller"], true);
    send.send_response(json_response(StatusCode::OK, &object));
    object
}

fn core(resource: &str) -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/{resource}")
}

fn group(group_version: &str, resource: &str) -> String {
    format!("/apis/{group_version}/namespaces/{NAMESPACE}/{resource}")
}

async fn within_a_second<T>(task: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the scripted apiserver was not called as expected")
        .expect("scenario failed")
}

#[tokio::test]
async fn first_apply_creates_every_child_with_server_side_apply() {
    let hc = sample();
    let (client, mut handle) = mock();
    let job = harmony_operator::children::job::migration_job_name(
        &harmony_operator::children::Instance::new(&hc).unwrap(),
    );
    let scenario = tokio::spawn(async move {
        expect_secret_read(&mut handle, "harmony-dev-auth", None).await;
        expect_secret_read(&mut handle, "harmony-dev-centrifugo", None).await;
        for component in ["migrate", "api", "cdc", "sink"] {
            expect_apply(
                &mut handle,
                &core("serviceaccounts"),
                "ServiceAccount",
                &format!("harmony-dev-{component}"),
            )
            .await;
        }
        let auth = expect_apply(&mut handle, &core("secrets"), "Secret", "harmony-dev-auth").await;
        // Fresh 64-hex-character values, base64-encoded.
        assert_eq!(auth["data"]["secret-key"].as_str().unwrap().len(), 88);
        expect_apply(
            &mut handle,
            &core("secrets"),
            "Secret",
            "harmony-dev-centrifugo",
        )
        .await;
        expect_apply(
            &mut handle,
            &core("configmaps"),
            "ConfigMap",
            "harmony-dev-centrifugo",
        )
        .await;
        expect_apply(&mut handle, &group("batch/v1", "jobs"), "Job", &job).await;
        for component in ["api", "relay", "cdc", "sink", "centrifugo"] {
            let deployment = expect_apply(
                &mut handle,
                &group("apps/v1", "deployments"),
                "Deployment",
                &format!("harmony-dev-{component}"),
            )
            .await;
            assert_eq!(deployment["apiVersion"], "apps/v1");
            assert_eq!(deployment["spec"]["replicas"], 1);
        }
        for component in ["api", "centrifugo"] {
            expect_apply(
                &mut handle,
                &core("services"),
                "Service",
                &format!("harmony-dev-{component}"),
            )
            .await;
        }
    });
    let applied = apply_all(&client, &hc).await.unwrap();
    within_a_second(scenario).await;
    assert_eq!(applied.len(), 15);
}

#[tokio::test]
async fn generated_secret_values_already_in_the_cluster_are_kept() {
    let hc = sample();
    let (client, mut handle) = mock();
    let stored = |name: &str, data: Value| json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": name, "namespace": NAMESPACE }, "data": data });
    // base64("kept-signing-key...") etc.
    let auth_data = json!({ "secret-key": "a2VwdC1zaWduaW5nLWtleQ==", "proxy-secret": "a2VwdC1wcm94eS1zZWNyZXQ=" });
    let centrifugo_data = json!({ "api-key": "a2VwdC1hcGkta2V5" });
    let (auth, centrifugo) = (auth_data.clone(), centrifugo_data.clone());
    let scenario = tokio::spawn(async move {
        expect_secret_read(
            &mut handle,
            "harmony-dev-auth",
            Some(stored("harmony-dev-auth", auth)),
        )
        .await;
        expect_secret_read(
            &mut handle,
            "harmony-dev-centrifugo",
            Some(stored("harmony-dev-centrifugo", centrifugo)),
        )
        .await;
        for component in ["migrate", "api", "cdc", "sink"] {
            expect_apply(
                &mut handle,
                &core("serviceaccounts"),
                "ServiceAccount",
                &format!("harmony-dev-{component}"),
            )
            .await;
        }
        let auth = expect_apply(&mut handle, &core("secrets"), "Secret", "harmony-dev-auth").await;
        let centrifugo = expect_apply(
            &mut handle,
            &core("secrets"),
            "Secret",
            "harmony-dev-centrifugo",
        )
        .await;
        (auth, centrifugo)
    });
    // The scenario stops answering after the Secrets; the apply then fails, which is fine here.
    let outcome = tokio::time::timeout(Duration::from_millis(500), apply_all(&client, &hc)).await;
    drop(outcome);
    let (auth, centrifugo) = within_a_second(scenario).await;
    for key in ["secret-key", "proxy-secret"] {
        assert_eq!(auth["data"][key], auth_data[key], "{key}");
    }
    assert_eq!(centrifugo["data"]["api-key"], centrifugo_data["api-key"]);
    // Keys missing in the cluster (here one a newer operator added) are generated.
    assert_eq!(
        auth["data"]["realtime-token-secret"]
            .as_str()
            .unwrap()
            .len(),
        88
    );
    assert_eq!(
        centrifugo["data"]["admin-password"].as_str().unwrap().len(),
        88
    );
}

#[tokio::test]
async fn a_refused_apply_names_the_child() {
    let mut hc = sample();
    hc.spec.auth.secret_ref = Some(harmony_operator::crd::SecretRef {
        name: "mine".into(),
    });
    let (client, mut handle) = mock();
    let scenario = tokio::spawn(async move {
        // With auth.secretRef the operator neither reads nor writes an auth Secret.
        expect_secret_read(&mut handle, "harmony-dev-centrifugo", None).await;
        let (request, send) = handle.next_request().await.unwrap();
        assert!(
            request
                .uri()
                .path()
                .ends_with("/serviceaccounts/harmony-dev-migrate")
        );
        send.send_response(json_response(
            StatusCode::FORBIDDEN,
            &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": "forbidden", "reason": "Forbidden", "code": 403 }),
        ));
    });
    let error = apply_all(&client, &hc).await.unwrap_err();
    within_a_second(scenario).await;
    match error {
        ReconcileError::Apply { kind, name, .. } => {
            assert_eq!(
                (kind.as_str(), name.as_str()),
                ("ServiceAccount", "harmony-dev-migrate")
            );
        }
        other => panic!("expected an apply error, got {other}"),
    }
}
