//! The OpenAPI document, generated from the handlers and types, served at
//! `/api/v1/openapi.json` with a browsable page at `/api/v1/docs`.

use axum::{Json, Router, extract::State, response::Html, routing::get};
use harmony_config::Config;
use serde_json::{Value, json};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{
    app::App, attention, auth, centrifugo_proxy, chats, connection_token, error::ErrorBody, limits,
    messages, session, users,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Harmony API",
        description = "The chat API of Harmony, wire-compatible with the original HarmonyChat. \
                       Deviations and fixes are listed in docs/api.md."
    ),
    paths(
        users::sign_up, users::me, users::deactivate, users::my_chats, users::lookup, users::by_id,
        auth::login, auth::refresh, auth::logout, session::login, session::refresh, session::logout,
        chats::create, chats::send, chats::history, chats::delete, chats::leave, chats::members, chats::add_members,
        messages::edit, messages::delete, messages::add_reaction, messages::remove_reaction,
        attention::mark_read, attention::set_notifications,
        connection_token::token, centrifugo_proxy::connect, centrifugo_proxy::subscribe, centrifugo_proxy::publish,
    ),
    components(schemas(ErrorBody, crate::domain::events::ChatListEvent, crate::domain::change::MessageChange, limits::Emoji)),
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
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(
                centrifugo_proxy::PROXY_SECRET_HEADER,
            ))),
        );
    }
}

/// The document for `config`'s limits: served at `/api/v1/openapi.json`;
/// with the default settings it is `docs/openapi.json`.
pub fn document(config: &Config) -> Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    constrain(&mut document, config);
    link(&mut document);
    busy(&mut document);
    aliases(&mut document);
    document
}

/// Admission control may refuse any API route (`http::admission`): each
/// operation lists that 503; one with a 503 of its own says both.
fn busy(document: &mut Value) {
    use utoipa::IntoResponses;
    let busy = serde_json::to_value(super::error::Busy::responses()).unwrap_or_default();
    let busy = &busy["503"];
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            match responses.get_mut("503") {
                None => {
                    responses.insert("503".into(), busy.clone());
                }
                Some(own) => {
                    let theirs = busy["description"].as_str().unwrap_or_default();
                    let description = format!(
                        "{}; or {}{}",
                        own["description"]
                            .as_str()
                            .unwrap_or_default()
                            .trim_end_matches('.'),
                        theirs.get(..1).unwrap_or_default().to_lowercase(),
                        theirs.get(1..).unwrap_or_default()
                    );
                    own["description"] = description.into();
                    own["headers"] = busy["headers"].clone();
                }
            }
        }
    }
}

/// The collection POSTs answer without the trailing slash too (as the original did:
/// directly, not by redirect); the document says so.
fn aliases(document: &mut Value) {
    for (slashed, bare) in [
        ("/api/v1/users/", "/api/v1/users"),
        ("/api/v1/chats/", "/api/v1/chats"),
    ] {
        let mut item = document["paths"][slashed].clone();
        if let Some(operation) = item.get_mut("post") {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            operation["operationId"] = format!("{id}_without_slash").into();
            if let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            {
                for response in responses.values_mut() {
                    if let Some(fields) = response.as_object_mut() {
                        fields.remove("links");
                    }
                }
            }
        }
        document["paths"][bare] = item;
    }
}

/// `docs/openapi.json`: the document with the default settings.
pub fn committed_document() -> String {
    serde_json::to_string_pretty(&document(&Config::default())).unwrap_or_default()
}

/// Every form `Uuid::parse_str` accepts: simple, hyphenated, braced, URN.
const UUID: &str = "^(?:[0-9A-Fa-f]{32}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|\\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\\}|[Uu][Rr][Nn]:[Uu][Uu][Ii][Dd]:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$";
/// Times are naive ISO 8601, as the original serialised them (no offset, so
/// not RFC 3339 `date-time`).
const NAIVE_TIME: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?$";

/// Writes the limits that are settings into the document, from the same
/// settings the checks use (the fixed limits are on the types: `limits`).
fn constrain(document: &mut Value, config: &Config) {
    formats(document);
    let chat = &config.chat;
    let mut property = |schema: &str, field: &str, limits: Value| {
        merge(
            &mut document["components"]["schemas"][schema]["properties"][field],
            limits,
        );
    };
    // The creator counts too: the others may be one fewer than the limit.
    property(
        "CreateChat",
        "user_id_list",
        json!({ "maxItems": chat.max_users_per_operation.saturating_sub(1) }),
    );
    property(
        "AddMembers",
        "user_id_list",
        json!({ "maxItems": chat.max_users_per_operation }),
    );
    for schema in ["SendBody", "EditBody"] {
        property(
            schema,
            "content",
            json!({ "maxLength": chat.max_content_length }),
        );
    }
    let mut parameter = |path: &str, name: &str, limits: Value| {
        if let Some(parameters) = document["paths"][path]["get"]["parameters"].as_array_mut() {
            for parameter in parameters.iter_mut().filter(|p| p["name"] == name) {
                merge(&mut parameter["schema"], limits.clone());
            }
        }
    };
    parameter(
        "/api/v1/users/lookup",
        "limit",
        json!({ "maximum": config.user.default_user_search_limit }),
    );
    parameter(
        "/api/v1/chats/{chat_id}",
        "limit",
        json!({ "maximum": chat.default_pagination_limit }),
    );
}

/// OpenAPI links: where a created resource's id can be used next (clients
/// and stateful testers follow them).
fn link(document: &mut Value) {
    let to = |operation: &str, parameter: &str| json!({ "operationId": operation, "parameters": { parameter: format!("$response.body#/{parameter}") } });
    let mut chat = serde_json::Map::new();
    for operation in [
        "history",
        "send",
        "members",
        "add_members",
        "leave",
        "delete",
    ] {
        chat.insert(operation.into(), to(operation, "chat_id"));
    }
    document["paths"]["/api/v1/chats/"]["post"]["responses"]["201"]["links"] = chat.into();
    document["paths"]["/api/v1/users/"]["post"]["responses"]["201"]["links"] =
        json!({ "by_id": to("by_id", "user_id") });
}

/// Spells out what `uuid` and `date-time` mean here as patterns: formats
/// are annotations that validators need not check.
fn formats(value: &mut Value) {
    match value {
        Value::Object(object) => {
            match object.get("format").and_then(Value::as_str) {
                Some("uuid") => {
                    object.insert("pattern".into(), UUID.into());
                }
                Some("date-time") => {
                    object.remove("format");
                    object.insert("pattern".into(), NAIVE_TIME.into());
                }
                _ => {}
            }
            object.values_mut().for_each(formats);
        }
        Value::Array(items) => items.iter_mut().for_each(formats),
        _ => {}
    }
}

fn merge(target: &mut Value, limits: Value) {
    if let (Value::Object(target), Value::Object(limits)) = (target, limits) {
        target.extend(limits);
    }
}

const DOCS_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Harmony API</title></head>
<body><redoc spec-url="/api/v1/openapi.json"></redoc>
<script src="https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js"></script></body></html>"#;

pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/openapi.json",
            get(|State(app): State<App>| async move { Json(document(&app.config)) }),
        )
        .route("/docs", get(|| async { Html(DOCS_PAGE) }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_openapi_json_is_up_to_date() {
        let committed = include_str!("../../../docs/openapi.json");
        assert_eq!(
            committed.trim_end(),
            super::committed_document(),
            "docs/openapi.json is stale: run `harmony openapi > docs/openapi.json`"
        );
    }

    /// The patterns say exactly what the parsers accept, on samples of each form.
    #[test]
    fn patterns_match_the_parsers() {
        let uuid = regex::Regex::new(super::UUID).unwrap();
        let id = uuid::Uuid::new_v4();
        let upper = id.hyphenated().to_string().to_uppercase();
        for sample in [
            id.simple().to_string(),
            id.hyphenated().to_string(),
            id.braced().to_string(),
            id.urn().to_string(),
            upper.clone(),
            format!("{{{}}}", id.simple()),
            format!("URN:UUID:{}", id.hyphenated()),
            upper.replacen('-', "", 1),
            format!("{}-", id.simple()),
            String::new(),
        ] {
            assert_eq!(
                uuid.is_match(&sample),
                uuid::Uuid::parse_str(&sample).is_ok(),
                "{sample}"
            );
        }
        let pattern = regex::Regex::new(crate::http::limits::CURSOR).unwrap();
        let cursor = ulid::Ulid::new().to_string();
        for sample in [
            cursor.clone(),
            cursor.to_lowercase(),
            cursor.replacen(&cursor[..1], "U", 1),
            cursor[1..].to_owned(),
            format!("7{}", &cursor[1..]),
            format!("8{}", &cursor[1..]),
            "Z".repeat(26),
            String::new(),
            " ".to_owned(),
        ] {
            assert_eq!(
                pattern.is_match(&sample),
                crate::http::chats::history_cursor(Some(&sample)).is_ok(),
                "{sample:?}"
            );
        }
        let pattern = regex::Regex::new(crate::http::limits::ULID).unwrap();
        for sample in [
            cursor.clone(),
            cursor.to_lowercase(),
            cursor.replacen(&cursor[..1], "U", 1),
            cursor[1..].to_owned(),
            format!("7{}", &cursor[1..]),
            format!("8{}", &cursor[1..]),
            format!("{}I", &cursor[..25]),
            format!("{cursor}0"),
            String::new(),
        ] {
            assert_eq!(
                pattern.is_match(&sample),
                crate::http::messages::parse_ulid(["path", "ulid"], &sample).is_ok(),
                "{sample:?}"
            );
        }
        let not_blank = regex::Regex::new(crate::http::limits::NOT_BLANK).unwrap();
        for sample in [
            "a",
            " a ",
            "\u{3000}\u{2028}",
            "\u{feff}",
            "\u{1c}",
            "x\u{0}",
            "\t\n",
        ] {
            assert_eq!(
                not_blank.is_match(sample),
                crate::domain::message::check_content(sample, 100).is_ok(),
                "{sample:?}"
            );
        }
    }

    /// The emoji pattern accepts every form `check_emoji` does (seen failing
    /// with the forms without `U+FE0F` left out of it) and nothing else.
    #[test]
    fn the_emoji_pattern_is_what_check_emoji_accepts() {
        let pattern = regex::RegexBuilder::new(&crate::http::limits::EMOJI)
            .size_limit(1 << 26)
            .build()
            .unwrap();
        let forms: Vec<String> = crate::http::limits::emoji_forms().collect();
        assert!(forms.len() > 4000, "{}", forms.len());
        assert!(forms.iter().any(|form| form == "☺"), "an unqualified form");
        for form in &forms {
            assert!(pattern.is_match(form), "{form:?}");
            assert!(crate::domain::change::check_emoji(form).is_ok(), "{form:?}");
        }
        for sample in [
            "",
            "a",
            "👍👍",
            "👍 ",
            "*",
            "#",
            "1",
            "*\u{fe0f}",
            "\u{fe0f}",
            "🏽",
            "\u{200d}",
        ] {
            assert!(!pattern.is_match(sample), "{sample:?}");
            assert!(
                crate::domain::change::check_emoji(sample).is_err(),
                "{sample:?}"
            );
        }
    }

    /// Every route the router declares (`app/src/http/mod.rs`, read as
    /// source) is an operation of the document, and every operation is a
    /// route: same paths, same methods. Seen failing with a route added to
    /// the router alone.
    #[test]
    fn every_route_is_documented() {
        let source = include_str!("mod.rs");
        let router = &source[source.find("pub fn router").unwrap()..];
        let route =
            regex::Regex::new(r#"\.route\(\s*"([^"]+)",\s*((?:[a-z]+\([^()]*\)\.?)+)"#).unwrap();
        let method = regex::Regex::new(r"([a-z]+)\(").unwrap();
        let mut routed = std::collections::BTreeSet::new();
        for found in route.captures_iter(router) {
            if found[1] == *"/" {
                continue; // the web app's page, not the API
            }
            for m in method.captures_iter(&found[2]) {
                routed.insert((m[1].to_owned(), format!("/api/v1{}", &found[1])));
            }
        }
        let document = super::document(&harmony_config::Config::default());
        let mut documented = std::collections::BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for verb in item.as_object().unwrap().keys() {
                documented.insert((verb.clone(), path.clone()));
            }
        }
        assert!(
            routed.len() > 20,
            "the route pattern no longer reads mod.rs: {routed:?}"
        );
        assert_eq!(routed, documented);
    }
}
