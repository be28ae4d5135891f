//! The binary's contract: what scripts and CI rely on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn operator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harmony-operator"))
}

fn sample() -> String {
    format!("{}/examples/harmonychat.yaml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn crd_prints_the_committed_crd() {
    let output = operator().arg("crd").output().unwrap();
    assert!(output.status.success());
    let committed = include_str!("../../crds/harmonychat.yaml");
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

#[test]
fn render_prints_every_child_of_the_sample() {
    let output = operator()
        .args(["render", "-f", &sample()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let kinds: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("kind: "))
        .collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ServiceAccount",
            "ServiceAccount",
            "ServiceAccount",
            "Secret",
            "Secret",
            "ConfigMap",
            "Job",
            "Deployment",
            "Deployment",
            "Deployment",
            "Deployment",
            "Deployment",
            "Service",
            "Service"
        ]
    );
    // Generated secrets are fresh on every render.
    let again = operator()
        .args(["render", "-f", &sample()])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8(again.stdout).unwrap(), stdout);
}

#[test]
fn render_reads_standard_input_and_fails_on_a_wrong_kind() {
    use std::io::Write;
    let mut child = operator()
        .args(["render", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("expected apiVersion harmony.chat/v1alpha1"),
        "{stderr}"
    );
}

/// The same rules as the apiserver (the CRD's schema bounds and CEL rules):
/// a spec the cluster would refuse is refused here, every violation on its
/// own line. Before one set of rules, `partitions: -3` rendered with exit 0.
#[test]
fn render_refuses_an_invalid_spec_with_every_problem() {
    let text = std::fs::read_to_string(sample())
        .unwrap()
        .replace(
            "  api:\n    replicas: 1\n",
            "  api:\n    replicas: 1\n    autoscaling: {minReplicas: 4, maxReplicas: 2}\n",
        )
        .replace("partitions: 6", "partitions: -3");
    let path = std::env::temp_dir().join(format!("hc-invalid-{}.yaml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let output = operator()
        .args(["render", "-f", path.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "nothing is rendered");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let violations: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  - ")).collect();
    assert_eq!(violations.len(), 3, "{stderr}");
    assert!(
        violations
            .iter()
            .any(|v| v.contains("spec.kafka.topics.messages.partitions") && v.contains("-3")),
        "{stderr}"
    );
    assert!(
        violations
            .iter()
            .any(|v| v.contains("set replicas or autoscaling, not both")),
        "{stderr}"
    );
    assert!(
        violations
            .iter()
            .any(|v| v.contains("minReplicas must not exceed maxReplicas")),
        "{stderr}"
    );
}

#[test]
fn run_without_a_cluster_fails_with_a_clear_message() {
    let home = std::env::temp_dir().join(format!("harmony-operator-cli-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let output = operator()
        .args(["run", "--metrics-bind", "127.0.0.1:0"])
        .env("HOME", &home)
        .env("KUBECONFIG", home.join("missing-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&home).unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("connecting to the Kubernetes API"),
        "{stderr}"
    );
}

#[test]
fn bench_render_renders_the_requested_count() {
    let output = operator()
        .args(["bench-render", "--count", "3"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.starts_with("rendered 3 HarmonyChats (45 manifests"),
        "{stdout}"
    );
}
