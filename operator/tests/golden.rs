//! Golden manifests: every child of the sample and of the production fixture,
//! compared byte for byte. `UPDATE_GOLDEN=1 cargo test -p harmony-operator
//! --test golden` rewrites them; review the diff like code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use harmony_operator::children::GeneratedSecrets;
use harmony_operator::render;

fn secrets() -> GeneratedSecrets {
    GeneratedSecrets {
        auth_secret_key: "golden-signing-key-not-secret-0123456789abcdef".into(),
        auth_proxy_secret: "golden-proxy-secret-not-secret".into(),
        realtime_token_secret: "golden-realtime-token-secret-not-secret".into(),
        centrifugo_api_key: "golden-centrifugo-api-key".into(),
        centrifugo_admin_password: "golden-centrifugo-admin-password".into(),
        centrifugo_admin_secret: "golden-centrifugo-admin-secret".into(),
    }
}

fn operator_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(case: &str, manifest: &str) {
    let mut hc =
        render::parse(&std::fs::read_to_string(operator_dir().join(manifest)).unwrap()).unwrap();
    hc.metadata
        .uid
        .get_or_insert_with(|| "00000000-0000-0000-0000-000000000000".into());
    let rendered = render::children_yaml(&hc, &secrets()).unwrap();
    let golden = operator_dir()
        .join("tests/golden")
        .join(format!("{case}.yaml"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", golden.display()));
    if rendered != expected {
        let first_difference = rendered
            .lines()
            .zip(expected.lines())
            .enumerate()
            .find(|(_, (got, want))| got != want)
            .map(|(line, (got, want))| format!("line {}: got `{got}`, golden `{want}`", line + 1))
            .unwrap_or_else(|| "one is a prefix of the other".into());
        panic!(
            "{} is stale ({first_difference}); rerun with UPDATE_GOLDEN=1 and review the diff",
            golden.display()
        );
    }
}

#[test]
fn sample_children_match_golden() {
    check("sample", "examples/harmonychat.yaml");
}

#[test]
fn gateway_children_match_golden() {
    check("gateway", "tests/fixtures/gateway.yaml");
}

#[test]
fn production_children_match_golden() {
    check("production", "tests/fixtures/production.yaml");
}

#[test]
fn lag_autoscaling_children_match_golden() {
    check("lag-autoscaling", "tests/fixtures/lag-autoscaling.yaml");
}
