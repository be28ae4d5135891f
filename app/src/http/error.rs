//! One error type for the HTTP boundary, rendered as the original's
//! `{"detail": ...}` bodies (ref §1.1).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::domain::Invalid;

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
    /// A backing service failed; the client may retry (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bug: logged with its cause, answered without it (500).
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_authenticated() -> Self {
        ApiError::Unauthorized("Not authenticated".into())
    }

    pub fn invalid(one: Invalid) -> Self {
        ApiError::Invalid(vec![one])
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Limit(_) | ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Every error body: `detail` is a message, or a list of field problems
/// (`{"type","loc","msg","input"}`) for validation errors.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the shape `into_response` renders
pub struct ErrorBody {
    #[schema(value_type = Object)]
    detail: serde_json::Value,
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
        let detail = match &self {
            ApiError::Invalid(problems) => json!(problems),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                json!("An unexpected server error occurred.")
            }
            ApiError::Unavailable(message) => {
                tracing::warn!(%message, "dependency unavailable");
                json!(message)
            }
            other => json!(other.to_string()),
        };
        let mut response = (status, Json(json!({ "detail": detail }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if let Some(db) = error.as_database_error() {
            return match db.constraint() {
                Some("users_email_key") => ApiError::Conflict("A user with this email already exists.".into()),
                Some(_) => ApiError::Conflict(
                    "Operation failed: One or more provided records do not exist or violate system constraints.".into(),
                ),
                None => ApiError::Internal(db.to_string()),
            };
        }
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                ApiError::Unavailable("The database is unavailable; try again shortly.".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::auth::password::PasswordError> for ApiError {
    fn from(error: crate::auth::password::PasswordError) -> Self {
        ApiError::Internal(error.to_string())
    }
}
