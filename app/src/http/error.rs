//! One error type for the HTTP boundary, rendered as the original's
//! `{"detail": ...}` bodies.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{domain::Invalid, telemetry::chain};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A limit check with a plain string detail, as the original's (422).
    #[error("{0}")]
    Limit(String),
    /// Field validation in FastAPI's list shape (422).
    #[error("invalid input")]
    Invalid(Vec<Invalid>),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A backing service failed; the client may retry (503). The client
    /// sees `message`; the log gets the cause.
    #[error("{message}")]
    Unavailable {
        message: String,
        #[source]
        cause: Option<Cause>,
    },
    /// Refused by admission control: the route class or a backing service
    /// is at its limit (503 with `Retry-After`). Counted, not logged: under
    /// overload there is one per refused request.
    #[error("{0}")]
    Busy(&'static str),
    /// A bug: logged with its cause, answered without it (500).
    #[error("internal error")]
    Internal(#[source] Cause),
}

/// The error under an `ApiError`, kept for the log.
pub use crate::store::Cause;

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_authenticated() -> Self {
        ApiError::Unauthorized("Not authenticated".into())
    }

    pub fn invalid(one: Invalid) -> Self {
        ApiError::Invalid(vec![one])
    }

    /// A failed dependency: the client gets `message`, the log `cause`.
    pub fn unavailable(message: &str, cause: impl Into<Cause>) -> Self {
        ApiError::Unavailable {
            message: message.to_owned(),
            cause: Some(cause.into()),
        }
    }

    pub fn internal(cause: impl Into<Cause>) -> Self {
        ApiError::Internal(cause.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Limit(_) | ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable { .. } | ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Every error body, as `into_response` renders it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the shape only
pub struct ErrorBody {
    detail: Detail,
}

/// A message a person can act on, or for validation errors one entry per
/// problem (FastAPI's shape).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documents the shape only
pub enum Detail {
    Message(String),
    Problems(Vec<Invalid>),
}

/// The 401 of every route behind authentication.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only
pub enum Unauthenticated {
    #[response(
        status = 401,
        description = "Not authenticated, or the token is expired, tampered, of the wrong type, or its account closed"
    )]
    Unauthenticated(ErrorBody),
}

/// The 422 of every route that validates input.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only
pub enum InvalidInput {
    #[response(
        status = 422,
        description = "Invalid input: `detail` lists each problem (FastAPI shape) or states a limit"
    )]
    InvalidInput(ErrorBody),
}

/// The 415 of every route with a body: it must be sent as declared.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only
pub enum UnsupportedMedia {
    #[response(
        status = 415,
        description = "The body is not of the declared content type"
    )]
    UnsupportedMedia(ErrorBody),
}

/// The 403 of every route on one chat.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only
pub enum NotMember {
    #[response(
        status = 403,
        description = "Not a member of the chat (or the chat does not exist)"
    )]
    NotMember(ErrorBody),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // The one place server-side failures are logged, inside the request's span.
        let detail = match &self {
            ApiError::Invalid(problems) => json!(problems),
            ApiError::Internal(cause) => {
                tracing::error!(cause = %chain(cause.as_ref()), "request failed");
                json!("An unexpected server error occurred.")
            }
            ApiError::Unavailable { message, cause } => {
                let cause = cause.as_deref().map(|c| chain(c)).unwrap_or_default();
                tracing::warn!(%message, %cause, "dependency unavailable");
                json!(message)
            }
            other => json!(other.to_string()),
        };
        let mut response = (status, Json(json!({ "detail": detail }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Every 503 is temporary: admission control, a dependency or the
            // password workers.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Named database constraints and what a violation means to the client.
const CONSTRAINTS: &[(&str, &str)] =
    &[("users_email_key", "A user with this email already exists.")];

/// Any other constraint: the original's wording.
const OTHER_CONSTRAINT: &str =
    "Operation failed: One or more provided records do not exist or violate system constraints.";

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if let Some(constraint) = error.as_database_error().and_then(|db| db.constraint()) {
            let message = CONSTRAINTS
                .iter()
                .find(|(name, _)| *name == constraint)
                .map_or(OTHER_CONSTRAINT, |(_, message)| message);
            return ApiError::Conflict(message.to_owned());
        }
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                ApiError::unavailable("The database is unavailable; try again shortly.", error)
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::auth::password::PasswordError> for ApiError {
    fn from(error: crate::auth::password::PasswordError) -> Self {
        match error {
            crate::auth::password::PasswordError::Busy => ApiError::Unavailable {
                message: PASSWORDS_BUSY.to_owned(),
                cause: None,
            },
            other => ApiError::internal(other),
        }
    }
}

const PASSWORDS_BUSY: &str = "Too many sign-ins at once; try again in a moment.";

/// The 503 of every API route: admission control refused the request (its
/// route class, or a backing service, at its limit).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only
pub enum Busy {
    #[response(
        status = 503,
        description = "The server is busy: the route's requests in flight and its queue are full, it could not start within its deadline, or a backing service is at its limit; retry after `Retry-After` seconds",
        headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))
    )]
    Busy(ErrorBody),
}

/// The 503 of the routes that hash or check a password.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only
pub enum PasswordsBusy {
    #[response(
        status = 503,
        description = "Too many sign-ins at once (every password worker busy, the queue full or its wait over); retry after `Retry-After` seconds",
        headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))
    )]
    PasswordsBusy(ErrorBody),
}
