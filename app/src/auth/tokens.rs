//! Access tokens (HS256 JWT with `sub`, `exp`, `iat`, `jti`, `typ`) and the
//! crypto of opaque refresh tokens.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use harmony_config::AuthConfig;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use uuid::Uuid;

const ACCESS_TYPE: &str = "access";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub typ: String,
}

impl AccessClaims {
    pub fn user_id(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.sub).ok()
    }
}

/// A token and its absolute expiry in Unix seconds (the original's `Token` shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub expiration: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("Token has expired")]
    Expired,
    #[error("Could not validate credentials")]
    Invalid,
}

#[derive(Clone)]
pub struct Tokens {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// HMAC-SHA512 under the signing key, for deriving refresh successors.
    successor_mac: Hmac<Sha512>,
    access_seconds: i64,
    refresh_seconds: i64,
}

impl Tokens {
    pub fn new(config: &AuthConfig) -> Self {
        let secret = config.secret_key.expose().as_bytes().to_vec();
        let algorithm = match config.algorithm.as_str() {
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            _ => Algorithm::HS256,
        };
        Self {
            algorithm,
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            successor_mac: keyed_mac(&secret),
            access_seconds: config.access_token_expire_minutes * 60,
            refresh_seconds: config.refresh_token_expire_days * 86_400,
        }
    }

    pub fn issue_access(&self, user_id: Uuid) -> IssuedToken {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id.to_string(),
            exp: now + self.access_seconds,
            iat: now,
            jti: Uuid::new_v4().simple().to_string(),
            typ: ACCESS_TYPE.into(),
        };
        // Encoding with an HMAC key cannot fail; an empty token would be rejected anyway.
        let token = jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.encoding)
            .unwrap_or_default();
        IssuedToken {
            token,
            expiration: claims.exp,
        }
    }

    /// Checks signature, algorithm, expiry (no leeway) and the token type.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?
            .claims;
        if claims.typ != ACCESS_TYPE || claims.user_id().is_none() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// Seconds a refresh token lives from its issue.
    pub fn refresh_seconds(&self) -> i64 {
        self.refresh_seconds
    }

    /// A fresh opaque refresh token: 64 random bytes, URL-safe base64 (86 characters).
    pub fn new_refresh_token() -> String {
        let mut bytes = [0u8; 64];
        argon2::password_hash::rand_core::RngCore::fill_bytes(
            &mut argon2::password_hash::rand_core::OsRng,
            &mut bytes,
        );
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The successor of a rotated token is derived, not stored: HMAC-SHA512 of
    /// the token under the server key. Parallel refreshes inside the grace
    /// window thus receive the same successor, and only hashes are stored.
    pub fn successor_of(&self, refresh_token: &str) -> String {
        let mut mac = self.successor_mac.clone();
        mac.update(b"harmony-refresh-successor:");
        mac.update(refresh_token.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// HMAC-SHA512 keyed with `secret`.
fn keyed_mac(secret: &[u8]) -> Hmac<Sha512> {
    // Invariant: HMAC takes keys of every length (RFC 2104: longer keys are
    // hashed, shorter ones padded), so `new_from_slice` cannot fail for it.
    #[allow(clippy::expect_used)]
    <Hmac<Sha512> as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// Refresh tokens are stored only as their SHA-256 hex digest.
pub fn refresh_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&AuthConfig::default())
    }

    #[test]
    fn access_tokens_round_trip_and_carry_every_claim() {
        let user = Uuid::new_v4();
        let issued = tokens().issue_access(user);
        let claims = tokens().verify_access(&issued.token).unwrap();
        assert_eq!(claims.user_id(), Some(user));
        assert_eq!(claims.exp, issued.expiration);
        assert_eq!(claims.typ, "access");
        assert!(!claims.jti.is_empty() && claims.iat <= claims.exp);
    }

    #[test]
    fn tampered_expired_and_wrong_type_tokens_are_refused() {
        let issued = tokens().issue_access(Uuid::new_v4());
        let mut tampered = issued.token.clone();
        tampered.push('x');
        assert_eq!(
            tokens().verify_access(&tampered).unwrap_err(),
            TokenError::Invalid
        );

        let key = EncodingKey::from_secret(AuthConfig::default().secret_key.expose().as_bytes());
        let now = Utc::now().timestamp();
        let forge = |exp: i64, typ: &str| {
            let claims = AccessClaims {
                sub: Uuid::new_v4().to_string(),
                exp,
                iat: now,
                jti: "j".into(),
                typ: typ.into(),
            };
            jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap()
        };
        assert_eq!(
            tokens()
                .verify_access(&forge(now - 1, "access"))
                .unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(
            tokens()
                .verify_access(&forge(now + 60, "refresh"))
                .unwrap_err(),
            TokenError::Invalid
        );

        let other = Tokens::new(&AuthConfig {
            secret_key: harmony_config::Secret::new("another-key"),
            ..AuthConfig::default()
        });
        assert_eq!(
            other.verify_access(&issued.token).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn refresh_tokens_look_like_the_original_and_successors_are_stable() {
        let token = Tokens::new_refresh_token();
        assert_eq!(token.len(), 86);
        assert_ne!(token, Tokens::new_refresh_token());
        assert_eq!(tokens().successor_of(&token), tokens().successor_of(&token));
        assert_ne!(tokens().successor_of(&token), token);
        assert_eq!(refresh_token_hash("abc").len(), 64);
    }
}

/// Claims of a connection token: what Centrifugo reads (`sub`, `exp`) and nothing more.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionClaims {
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
}

/// Connection tokens for the real-time endpoint: HS256 under
/// `REALTIME__TOKEN_SECRET`, accepted by the embedded gateway and by
/// Centrifugo (`client.token.hmac_secret_key`), so a browser never needs
/// to read its HTTP-only access cookie to connect.
#[derive(Clone)]
pub struct ConnectionTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl ConnectionTokens {
    pub fn new(secret: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// A token for `user_id` that expires when the access token it was asked with does.
    pub fn issue(&self, user_id: Uuid, expiration: i64) -> IssuedToken {
        let claims = ConnectionClaims {
            sub: user_id.to_string(),
            exp: expiration,
            iat: Utc::now().timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default();
        IssuedToken { token, expiration }
    }

    /// The user and expiry of a valid token.
    pub fn verify(&self, token: &str) -> Result<(Uuid, i64), TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<ConnectionClaims>(token, &self.decoding, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?
            .claims;
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| TokenError::Invalid)?;
        Ok((user_id, claims.exp))
    }
}
