//! Where generated secret values come from: fresh random bytes, or the
//! values a cluster already holds (so a reconcile never rotates them).
//! Kept out of `build` because both are IO.

use k8s_openapi::api::core::v1::Secret;

use crate::children::GeneratedSecrets;
use crate::children::secrets::{
    AUTH_PROXY_SECRET_KEY, AUTH_REALTIME_TOKEN_SECRET_KEY, AUTH_SECRET_KEY_KEY,
    CENTRIFUGO_ADMIN_PASSWORD_KEY, CENTRIFUGO_ADMIN_SECRET_KEY, CENTRIFUGO_API_KEY_KEY,
};

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(String);

/// 32 random bytes as 64 hex characters: longer than the app's production
/// minimums (32 bytes for the signing key, 16 for the proxy secret), and
/// safe inside any configuration syntax.
pub fn random_token() -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(hex::encode(bytes))
}

impl GeneratedSecrets {
    /// Fresh values for every generated Secret.
    pub fn random() -> Result<Self, RandomError> {
        Self::reusing(None, None)
    }

    /// The values already stored in the generated auth and Centrifugo
    /// Secrets, with fresh ones for any key that is missing.
    pub fn reusing(
        auth: Option<&Secret>,
        centrifugo: Option<&Secret>,
    ) -> Result<Self, RandomError> {
        let existing = |secret: Option<&Secret>, key: &str| -> Option<String> {
            let bytes = secret?.data.as_ref()?.get(key)?;
            String::from_utf8(bytes.0.clone())
                .ok()
                .filter(|value| !value.is_empty())
        };
        let value = |secret: Option<&Secret>, key: &str| -> Result<String, RandomError> {
            match existing(secret, key) {
                Some(value) => Ok(value),
                None => random_token(),
            }
        };
        Ok(Self {
            auth_secret_key: value(auth, AUTH_SECRET_KEY_KEY)?,
            auth_proxy_secret: value(auth, AUTH_PROXY_SECRET_KEY)?,
            realtime_token_secret: value(auth, AUTH_REALTIME_TOKEN_SECRET_KEY)?,
            centrifugo_api_key: value(centrifugo, CENTRIFUGO_API_KEY_KEY)?,
            centrifugo_admin_password: value(centrifugo, CENTRIFUGO_ADMIN_PASSWORD_KEY)?,
            centrifugo_admin_secret: value(centrifugo, CENTRIFUGO_ADMIN_SECRET_KEY)?,
        })
    }
}
