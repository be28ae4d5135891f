//! Browser sessions: tokens only in cookies script cannot read, CSRF double
//! submit for every state change, refresh and logout through cookies.

use axum::http::{StatusCode, header};
use serde_json::json;

use crate::client::{Call, Reply, TestApp};

/// `Set-Cookie` of `name`, attribute by attribute (lower-cased names).
fn set_cookie(reply: &Reply, name: &str) -> Vec<String> {
    let line = reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}"));
    line.split(';').map(|part| part.trim().to_owned()).collect()
}

fn value(attributes: &[String]) -> String {
    attributes[0].split_once('=').unwrap().1.to_owned()
}

fn has(attributes: &[String], wanted: &str) -> bool {
    attributes.iter().any(|a| a.eq_ignore_ascii_case(wanted))
}

/// A request carrying the session cookies and the CSRF header, as the web app sends it.
fn with_session(call: Call, refresh: &str, csrf: &str) -> Call {
    call.header(
        "cookie",
        &format!("refresh_token={refresh}; csrf_token={csrf}"),
    )
    .header("x-csrf-token", csrf)
}

async fn sign_in(t: &TestApp, email: &str, password: &str) -> Reply {
    t.post("/api/v1/auth/session")
        .json(json!({ "email": email, "password": password }))
        .send()
        .await
}

/// Each flag is asserted: removing `http_only`, `same_site` or the path from
/// `session::cookie` fails it (seen with `http_only(false)` on every cookie).
#[tokio::test]
async fn login_sets_http_only_lax_cookies_and_a_readable_csrf_cookie() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let reply = sign_in(&t, &ann.email, &ann.password).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["user_id"], ann.id.to_string());
    assert!(
        !reply.body.to_string().contains("token"),
        "no token in the body"
    );
    let access = set_cookie(&reply, "access_token");
    let refresh = set_cookie(&reply, "refresh_token");
    let csrf = set_cookie(&reply, "csrf_token");
    for (cookie, path, http_only) in [
        (&access, "Path=/", true),
        (&refresh, "Path=/api/v1/auth/session", true),
        (&csrf, "Path=/", false),
    ] {
        assert!(has(cookie, path), "{cookie:?}");
        assert!(has(cookie, "SameSite=Lax"), "{cookie:?}");
        assert_eq!(has(cookie, "HttpOnly"), http_only, "{cookie:?}");
        assert!(!has(cookie, "Secure"), "plain HTTP here: {cookie:?}");
        assert!(
            cookie.iter().any(|a| a.starts_with("Max-Age=")),
            "{cookie:?}"
        );
    }
    let max_age = |c: &[String]| -> i64 {
        c.iter()
            .find_map(|a| a.strip_prefix("Max-Age="))
            .unwrap()
            .parse()
            .unwrap()
    };
    let minutes = t.env.config.auth.access_token_expire_minutes * 60;
    assert!((minutes - 5..=minutes).contains(&max_age(&access)));
    assert!(max_age(&refresh) > max_age(&access));
    assert_eq!(
        sign_in(&t, &ann.email, "wrong password").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Seen failing with the scheme check in `session::cookie` removed.
#[tokio::test]
async fn cookies_are_secure_when_the_platform_is_served_over_https() {
    let t = TestApp::with_config(|c| c.http.public_url = "https://chat.example.com".into()).await;
    let ann = t.user("ann").await;
    let reply = sign_in(&t, &ann.email, &ann.password).await;
    for name in ["access_token", "refresh_token", "csrf_token"] {
        assert!(has(&set_cookie(&reply, name), "Secure"), "{name}");
    }
}

/// The cookie authenticates reads; a state change needs the CSRF header too.
/// Seen failing with `check_csrf` skipped for unsafe methods.
#[tokio::test]
async fn a_cookie_session_needs_the_csrf_header_to_change_anything() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let reply = sign_in(&t, &ann.email, &ann.password).await;
    let access = value(&set_cookie(&reply, "access_token"));
    let csrf = value(&set_cookie(&reply, "csrf_token"));
    let cookies = format!("access_token={access}; csrf_token={csrf}");
    let me = t
        .get("/api/v1/users/me")
        .header("cookie", &cookies)
        .send()
        .await;
    assert_eq!(me.status, StatusCode::OK);
    let create = || {
        t.post("/api/v1/chats/")
            .header("cookie", &cookies)
            .json(json!({ "title": "t", "description": null, "user_id_list": [] }))
    };
    let refused = create().send().await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.detail().contains("x-csrf-token"),
        "{}",
        refused.body
    );
    let forged = create().header("x-csrf-token", "guess").send().await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let created = create().header("x-csrf-token", &csrf).send().await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

/// Refresh rotates the refresh cookie (the old one is then spent) and needs
/// the CSRF header; logout revokes and clears. Seen failing with the refresh
/// endpoint not checking CSRF.
#[tokio::test]
async fn refresh_and_logout_work_through_cookies() {
    let t = TestApp::spawn().await;
    let ann = t.user("ann").await;
    let reply = sign_in(&t, &ann.email, &ann.password).await;
    let refresh_token = value(&set_cookie(&reply, "refresh_token"));
    let csrf = value(&set_cookie(&reply, "csrf_token"));
    let without_csrf = t
        .post("/api/v1/auth/session/refresh")
        .header(
            "cookie",
            &format!("refresh_token={refresh_token}; csrf_token={csrf}"),
        )
        .send()
        .await;
    assert_eq!(without_csrf.status, StatusCode::FORBIDDEN);
    let refresh = |token: &str, csrf: &str| {
        with_session(t.post("/api/v1/auth/session/refresh"), token, csrf).send()
    };
    let renewed = refresh(&refresh_token, &csrf).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    let next = value(&set_cookie(&renewed, "refresh_token"));
    assert_ne!(next, refresh_token);
    let next_csrf = value(&set_cookie(&renewed, "csrf_token"));
    let logout = with_session(t.delete("/api/v1/auth/session"), &next, &next_csrf)
        .send()
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    for name in ["access_token", "refresh_token", "csrf_token"] {
        let cleared = set_cookie(&logout, name);
        assert_eq!(value(&cleared), "", "{name}");
        assert!(has(&cleared, "Max-Age=0"), "{name}: {cleared:?}");
    }
    let revoked = refresh(&next, &next_csrf).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        value(&set_cookie(&revoked, "refresh_token")),
        "",
        "cleared on refusal"
    );
}
