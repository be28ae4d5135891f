//! The OpenAPI document, generated from the handlers and types, served at
//! `/api/v1/openapi.json` with a browsable page at `/api/v1/docs`.

use axum::{Json, Router, response::Html, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{App, auth, chats, error::ErrorBody, realtime, users, ws};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Harmony API",
        description = "The chat API of Harmony, wire-compatible with the original HarmonyChat. \
                       Deviations and fixes are listed in docs/api.md."
    ),
    paths(
        users::sign_up, users::me, users::deactivate, users::my_chats, users::lookup, users::by_id,
        auth::login, auth::refresh, auth::logout,
        chats::create, chats::send, chats::history, chats::delete, chats::leave, chats::members, chats::add_members,
        realtime::token, ws::connect, ws::subscribe,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "user", description = "Accounts"),
        (name = "auth", description = "Sessions and tokens"),
        (name = "chat", description = "Chats, members and messages"),
        (name = "realtime", description = "Real-time connection tokens"),
        (name = "pubsub", description = "Centrifugo proxy endpoints (called by Centrifugo only)"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "access_token",
                "Browser sessions; unsafe methods also need the x-csrf-token header matching the csrf_token cookie",
            ))),
        );
        components.add_security_scheme(
            "proxy_secret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(ws::PROXY_SECRET_HEADER))),
        );
    }
}

/// The document as served and as committed in `docs/openapi.json`.
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

const DOCS_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Harmony API</title></head>
<body><redoc spec-url="/api/v1/openapi.json"></redoc>
<script src="https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js"></script></body></html>"#;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route("/docs", get(|| async { Html(DOCS_PAGE) }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_openapi_json_is_up_to_date() {
        let committed = include_str!("../../../docs/openapi.json");
        assert_eq!(
            committed.trim_end(),
            super::document(),
            "docs/openapi.json is stale: run `harmony openapi > docs/openapi.json`"
        );
    }

    #[test]
    fn every_route_is_documented() {
        let document = super::document();
        for path in [
            "/api/v1/users/",
            "/api/v1/users/lookup",
            "/api/v1/auth/logout",
            "/api/v1/chats/{chat_id}/members",
            "/api/v1/ws/subscribe",
        ] {
            assert!(document.contains(&format!("\"{path}\"")), "{path} missing");
        }
    }
}
