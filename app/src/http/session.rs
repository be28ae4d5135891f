//! Browser sessions: the same login, refresh and logout as `/auth/*`, with
//! the tokens in cookies script cannot read. `access_token` (every path)
//! and `refresh_token` (only `/api/v1/auth/session`) are HTTP-only and
//! SameSite=Lax, Secure when the platform is served over HTTPS; the readable
//! `csrf_token` cookie is echoed in the `x-csrf-token` header by requests
//! that change state (double submit), refresh and logout included.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use axum_extra::extract::{
    CookieJar,
    cookie::{Cookie, SameSite},
};
use serde::Deserialize;

use super::{
    app::App,
    auth::{Session, end_session, rotate, sign_in},
    error::{ApiError, ApiResult, ErrorBody, InvalidInput, PasswordsBusy, UnsupportedMedia},
    extract::{ApiJson, CSRF_COOKIE, check_csrf},
};
use crate::{auth::Tokens, domain::user::UserProfile};

/// Where the refresh cookie is sent: only here.
pub const SESSION_PATH: &str = "/api/v1/auth/session";

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SessionLogin {
    email: String,
    password: String,
}

/// Logs in: the three cookies are set; the body is the account, no token.
#[utoipa::path(post, path = "/api/v1/auth/session", operation_id = "session_login", tag = "auth", request_body = SessionLogin, responses((status = 200, description = "Signed in: `access_token`, `refresh_token` (HTTP-only) and `csrf_token` cookies set", body = UserProfile), (status = 401, description = "Invalid email or password.", body = ErrorBody), InvalidInput, UnsupportedMedia, PasswordsBusy))]
pub async fn login(
    State(app): State<App>,
    jar: CookieJar,
    ApiJson(body): ApiJson<SessionLogin>,
) -> ApiResult<(CookieJar, Json<UserProfile>)> {
    let session = sign_in(&app, &body.email, body.password).await?;
    signed_in(&app, jar, session).await
}

/// Rotates the refresh cookie and renews the access cookie.
#[utoipa::path(post, path = "/api/v1/auth/session/refresh", operation_id = "session_refresh", tag = "auth", security(("cookie" = [])), responses((status = 200, description = "Cookies renewed", body = UserProfile), (status = 401, description = "No, expired, revoked or reused refresh cookie; the cookies are cleared", body = ErrorBody), (status = 403, description = "Missing or wrong `x-csrf-token` header", body = ErrorBody)))]
pub async fn refresh(
    State(app): State<App>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<(CookieJar, Json<UserProfile>), (CookieJar, ApiError)> {
    check_csrf(&headers).map_err(|e| (CookieJar::new(), e))?;
    let name = &app.config.auth.refresh_token_name;
    let Some(token) = jar.get(name).map(|c| c.value().to_owned()) else {
        return Err((cleared(&app, jar), ApiError::not_authenticated()));
    };
    match rotate(&app, &token).await {
        Ok(session) => signed_in(&app, jar, session)
            .await
            .map_err(|e| (CookieJar::new(), e)),
        Err(error @ ApiError::Unauthorized(_)) => Err((cleared(&app, jar), error)),
        Err(error) => Err((CookieJar::new(), error)),
    }
}

/// Logs out: the session is revoked and the cookies cleared.
#[utoipa::path(delete, path = "/api/v1/auth/session", operation_id = "session_logout", tag = "auth", security(("cookie" = [])), responses((status = 204, description = "Session revoked, cookies cleared"), (status = 403, description = "Missing or wrong `x-csrf-token` header", body = ErrorBody)))]
pub async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    jar: CookieJar,
) -> ApiResult<(StatusCode, CookieJar)> {
    check_csrf(&headers)?;
    if let Some(token) = jar.get(&app.config.auth.refresh_token_name) {
        end_session(&app, token.value()).await?;
    }
    Ok((StatusCode::NO_CONTENT, cleared(&app, jar)))
}

async fn signed_in(
    app: &App,
    jar: CookieJar,
    session: Session,
) -> ApiResult<(CookieJar, Json<UserProfile>)> {
    let profile = app
        .user_profile(session.user_id)
        .await?
        .ok_or_else(ApiError::not_authenticated)?;
    let now = chrono::Utc::now().timestamp();
    let auth = &app.config.auth;
    let (access_age, refresh_age) = (
        session.access.expiration - now,
        session.refresh.expiration - now,
    );
    let jar = jar
        .add(cookie(
            app,
            &auth.access_token_name,
            session.access.token,
            "/",
            true,
            access_age,
        ))
        .add(cookie(
            app,
            &auth.refresh_token_name,
            session.refresh.token,
            SESSION_PATH,
            true,
            refresh_age,
        ))
        .add(cookie(
            app,
            CSRF_COOKIE,
            Tokens::new_refresh_token(),
            "/",
            false,
            refresh_age,
        ));
    Ok((jar, Json(profile)))
}

/// The three cookies, expired.
fn cleared(app: &App, jar: CookieJar) -> CookieJar {
    let auth = &app.config.auth;
    [
        (auth.access_token_name.as_str(), "/", true),
        (auth.refresh_token_name.as_str(), SESSION_PATH, true),
        (CSRF_COOKIE, "/", false),
    ]
    .into_iter()
    .fold(jar, |jar, (name, path, http_only)| {
        jar.add(cookie(app, name, String::new(), path, http_only, 0))
    })
}

fn cookie(
    app: &App,
    name: &str,
    value: String,
    path: &'static str,
    http_only: bool,
    max_age_seconds: i64,
) -> Cookie<'static> {
    let secure = app.config.http.public_url.starts_with("https://");
    Cookie::build((name.to_owned(), value))
        .path(path)
        .http_only(http_only)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age_seconds.max(0)))
        .build()
}
