//! The web app, served by the platform itself: files of the built app
//! (`HTTP__WEB_DIR`), hashed assets cached for a year, `index.html` never
//! cached, and every other page a browser asks for answered with
//! `index.html` (history-API routing). API paths and requests that do not
//! ask for HTML keep the API's JSON answers. Only these files are
//! compressed (`is_web_file`).

use std::path::Path;

use axum::{
    Json,
    body::Body,
    extract::{Request, State},
    http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Version, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use super::app::App;

/// Vite's output directory for content-hashed files.
const ASSETS: &str = "/assets/";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

/// `GET /`: the app for browsers, the original's JSON greeting for others.
pub async fn root(State(app): State<App>, request: Request) -> Response {
    match web_dir(&app) {
        Some(dir) if wants_html(&request) => index(dir, request).await,
        _ => Json(json!({ "message": "Harmony API is running." })).into_response(),
    }
}

/// Everything no route matched.
pub async fn fallback(State(app): State<App>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let Some(dir) = web_dir(&app).filter(|_| !path.starts_with("/api/")) else {
        return not_found();
    };
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return not_found();
    }
    let html = wants_html(&request);
    let file = match ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip()
        .oneshot(copy(&request))
        .await
    {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    };
    if file.status() == StatusCode::OK {
        let cache = if path.starts_with(ASSETS) {
            IMMUTABLE
        } else {
            NO_CACHE
        };
        return with_cache(file, cache);
    }
    // A missing asset stays a 404; a page is the app's to route.
    if html && !path.starts_with(ASSETS) {
        return index(dir, request).await;
    }
    not_found()
}

fn web_dir(app: &App) -> Option<&Path> {
    let dir = Path::new(&app.config.http.web_dir);
    dir.join("index.html").is_file().then_some(dir)
}

fn wants_html(request: &Request) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

async fn index(dir: &Path, request: Request) -> Response {
    let response = match ServeFile::new(dir.join("index.html"))
        .oneshot(request)
        .await
    {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    };
    with_cache(response, NO_CACHE)
}

/// A bodiless copy (GET and HEAD have no body to lose).
fn copy(request: &Request) -> Request {
    let mut copy = Request::new(Body::empty());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// Marks a response as one of the web app's files.
#[derive(Clone, Copy)]
struct WebFile;

/// The compression predicate: only the web app's files may be compressed.
pub fn is_web_file(_: StatusCode, _: Version, _: &HeaderMap, extensions: &Extensions) -> bool {
    extensions.get::<WebFile>().is_some()
}

/// Every file response passes here: its caching, and the mark that lets it
/// be compressed.
fn with_cache(mut response: Response, cache: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response.extensions_mut().insert(WebFile);
    response
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "detail": "Not Found" })),
    )
        .into_response()
}
