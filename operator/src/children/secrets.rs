//! Secrets the operator generates. Their values are an input: choosing random
//! bytes (or reading the values a cluster already holds) is IO and happens
//! outside the build.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use super::meta::{Component, Instance};

/// Keys of the auth Secret (referenced or generated).
pub const AUTH_SECRET_KEY_KEY: &str = "secret-key";
pub const AUTH_PROXY_SECRET_KEY: &str = "proxy-secret";
pub const AUTH_REALTIME_TOKEN_SECRET_KEY: &str = "realtime-token-secret";
/// Keys of `dynamodb.credentialsSecretRef`.
pub const DYNAMODB_ACCESS_KEY_ID_KEY: &str = "access-key-id";
pub const DYNAMODB_SECRET_ACCESS_KEY_KEY: &str = "secret-access-key";
/// Keys of the generated Centrifugo Secret.
pub const CENTRIFUGO_API_KEY_KEY: &str = "api-key";
pub const CENTRIFUGO_ADMIN_PASSWORD_KEY: &str = "admin-password";
pub const CENTRIFUGO_ADMIN_SECRET_KEY: &str = "admin-secret";

/// Secret material for the Secrets the operator owns.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedSecrets {
    /// JWT signing key (`AUTH__SECRET_KEY`), used when `auth.secretRef` is unset.
    pub auth_secret_key: String,
    /// Shared secret between Centrifugo and the API (`AUTH__PROXY_SECRET`).
    pub auth_proxy_secret: String,
    /// Key of connection tokens (`REALTIME__TOKEN_SECRET`, Centrifugo's `client.token.hmac_secret_key`).
    pub realtime_token_secret: String,
    pub centrifugo_api_key: String,
    pub centrifugo_admin_password: String,
    pub centrifugo_admin_secret: String,
}

// Hand-written so the values never reach a log line.
impl std::fmt::Debug for GeneratedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GeneratedSecrets(<redacted>)")
    }
}

/// `<name>-auth`, only when the spec references no auth Secret.
pub fn auth(instance: &Instance<'_>, secrets: &GeneratedSecrets) -> Option<Secret> {
    if instance.hc.spec.auth.secret_ref.is_some() {
        return None;
    }
    Some(secret(
        instance,
        Component::Auth,
        [
            (AUTH_SECRET_KEY_KEY, &secrets.auth_secret_key),
            (AUTH_PROXY_SECRET_KEY, &secrets.auth_proxy_secret),
            (
                AUTH_REALTIME_TOKEN_SECRET_KEY,
                &secrets.realtime_token_secret,
            ),
        ],
    ))
}

/// `<name>-centrifugo`: Centrifugo's server API key and admin credentials.
pub fn centrifugo(instance: &Instance<'_>, secrets: &GeneratedSecrets) -> Secret {
    secret(
        instance,
        Component::Centrifugo,
        [
            (CENTRIFUGO_API_KEY_KEY, &secrets.centrifugo_api_key),
            (
                CENTRIFUGO_ADMIN_PASSWORD_KEY,
                &secrets.centrifugo_admin_password,
            ),
            (
                CENTRIFUGO_ADMIN_SECRET_KEY,
                &secrets.centrifugo_admin_secret,
            ),
        ],
    )
}

fn secret<'v>(
    instance: &Instance<'_>,
    component: Component,
    entries: impl IntoIterator<Item = (&'static str, &'v String)>,
) -> Secret {
    let data: BTreeMap<String, ByteString> = entries
        .into_iter()
        .map(|(key, value)| (key.to_owned(), ByteString(value.as_bytes().to_vec())))
        .collect();
    Secret {
        metadata: instance.component_metadata(component),
        type_: Some("Opaque".to_owned()),
        // `data`, not `stringData`: the apiserver rewrites stringData, which
        // server-side apply would then see as a change on every reconcile.
        data: Some(data),
        ..Secret::default()
    }
}
