//! Extractors whose rejections speak the API's error format: JSON, form and
//! query bodies fail with FastAPI-style 422 lists naming the field, and
//! `AuthUser` authenticates a request (Bearer header, or cookie plus CSRF).

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{Method, header, request::Parts},
};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{app::App, error::ApiError};
use crate::{auth::TokenError, domain::Invalid, domain::user::UserProfile};

/// The cookie and header of the double-submit CSRF check.
pub const CSRF_COOKIE: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

const BODY_LIMIT: usize = 1 << 20;

/// `Json` that answers 422 with the failing field instead of axum's plain text.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "Expected a JSON body (Content-Type: application/json).".into(),
            ));
        }
        let bytes = body_bytes(request, state).await?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = segments(e.path());
            let inner = e.into_inner();
            let kind = match inner.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    "json_invalid"
                }
                _ => "value_error",
            };
            ApiError::invalid(describe("body", &path, kind, &inner.to_string()))
        })?;
        Ok(ApiJson(value))
    }
}

/// `Form` (for OAuth2 login) with the same 422 shape.
pub struct ApiForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiForm<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(request, state).await?;
        urlencoded("body", &bytes).map(ApiForm)
    }
}

/// `Query` with the same 422 shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        urlencoded("query", parts.uri.query().unwrap_or_default().as_bytes()).map(ApiQuery)
    }
}

async fn body_bytes<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    let request =
        request.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, BODY_LIMIT)));
    axum::body::Bytes::from_request(request, state)
        .await
        .map_err(|_| ApiError::Limit(format!("Request body must be at most {BODY_LIMIT} bytes.")))
}

fn urlencoded<T: DeserializeOwned>(location: &str, bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = segments(e.path());
        ApiError::invalid(describe(
            location,
            &path,
            "value_error",
            &e.into_inner().to_string(),
        ))
    })
}

/// `user_id_list[0]` as `["user_id_list", 0]`.
fn segments(path: &serde_path_to_error::Path) -> Vec<serde_json::Value> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some((*index).into()),
            Segment::Map { key } => Some(key.clone().into()),
            Segment::Enum { variant } => Some(variant.clone().into()),
            Segment::Unknown => None,
        })
        .collect()
}

/// Turns a serde message into one FastAPI-style problem.
fn describe(
    location: &str,
    path: &[serde_json::Value],
    kind: &'static str,
    message: &str,
) -> Invalid {
    let mut loc: Vec<serde_json::Value> = vec![location.into()];
    loc.extend(path.iter().cloned());
    let message = message.split(" at line ").next().unwrap_or(message);
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        loc.push(field.into());
        return Invalid {
            kind: "missing",
            loc,
            msg: "Field required".into(),
            input: serde_json::Value::Null,
        };
    }
    Invalid {
        kind,
        loc,
        msg: message.to_owned(),
        input: serde_json::Value::Null,
    }
}

/// Parses a UUID path segment, answering like FastAPI when it is malformed.
pub fn path_uuid(name: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|e| {
        ApiError::invalid(Invalid {
            kind: "uuid_parsing",
            loc: vec!["path".into(), name.into()],
            msg: format!("Input should be a valid UUID, {e}"),
            input: raw.chars().take(64).collect::<String>().into(),
        })
    })
}

/// The authenticated caller: an active account with a valid access token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub profile: UserProfile,
}

impl FromRequestParts<App> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = access_token(parts, app)?;
        let claims = app.tokens.verify_access(&token).map_err(|e| match e {
            TokenError::Expired => ApiError::Unauthorized(e.to_string()),
            TokenError::Invalid => ApiError::Unauthorized(e.to_string()),
        })?;
        let user_id = claims
            .user_id()
            .ok_or_else(|| ApiError::Unauthorized(TokenError::Invalid.to_string()))?;
        // Every request re-checks the account, so a closed account stops at once.
        match app.user_profile(user_id).await? {
            Some(profile) if !profile.tombstone => Ok(AuthUser { user_id, profile }),
            _ => Err(ApiError::Unauthorized(TokenError::Invalid.to_string())),
        }
    }
}

/// The Bearer header wins; the cookie is accepted too, but unsafe methods
/// authenticated by cookie must carry the CSRF header matching the CSRF cookie.
fn access_token(parts: &Parts, app: &App) -> Result<String, ApiError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default();
        return match value.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                Ok(token.trim().to_owned())
            }
            _ => Err(ApiError::not_authenticated()),
        };
    }
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(cookie) = jar.get(&app.config.auth.access_token_name) else {
        return Err(ApiError::not_authenticated());
    };
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        check_csrf(&parts.headers)?;
    }
    Ok(cookie.value().to_owned())
}

/// The double-submit check: a cookie-authenticated request that changes
/// state carries the CSRF cookie's value in the CSRF header, which a page of
/// another site cannot read or set.
pub fn check_csrf(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let expected = CookieJar::from_headers(headers)
        .get(CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), sent.as_bytes()) {
        return Err(ApiError::Forbidden(format!(
            "Cookie-authenticated requests that change state need the `{CSRF_HEADER}` header matching the `{CSRF_COOKIE}` cookie."
        )));
    }
    Ok(())
}

/// Compares secrets without revealing, by timing, how much of them matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}
