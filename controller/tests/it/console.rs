//! The web console's server side: its embedded assets, the login (token -> session cookie),
//! the cookies' attributes, and CSRF on every change (the router called in process).

use crate::common::*;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use strato_controller::Controller;
use strato_controller::api::{ApiOptions, router_with};
use tower::ServiceExt;

const TOKEN: &str = "console-token-1";

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
    fn cookie(&self, name: &str) -> String {
        self.cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie in {:?}", self.cookies()))
    }
}

async fn call(
    app: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn console_app(tls: bool) -> Router {
    let cloud = Arc::new(memory_cloud(&owner()));
    let clouds = BTreeMap::from([(
        CLOUD.to_owned(),
        cloud as Arc<dyn strato_core::CloudConnector>,
    )]);
    let ctl = Controller::new(memory_store(), clouds, Default::default())
        .await
        .unwrap();
    router_with(ctl, ApiOptions::with_token(TOKEN), tls)
}

/// Logs in; returns the `Cookie` header to send and the CSRF token.
async fn login(app: &Router) -> (String, String, Answer) {
    let r = call(
        app,
        Method::POST,
        "/console/login",
        &[],
        Some(json!({"token": TOKEN})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let value = |c: String| c.split(';').next().unwrap().to_owned();
    let session = value(r.cookie("strato_session"));
    let csrf_cookie = value(r.cookie("strato_csrf"));
    let csrf = r.json()["csrf"].as_str().unwrap().to_owned();
    assert_eq!(
        csrf_cookie,
        format!("strato_csrf={csrf}"),
        "double submit: the cookie holds the token"
    );
    (format!("{session}; {csrf_cookie}"), csrf, r)
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_a_strict_policy() {
    let app = console_app(false).await;
    let r = call(&app, Method::GET, "/", &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = String::from_utf8(r.body).unwrap();
    assert!(
        html.contains("/console/app.js") && html.contains("login-form"),
        "{html}"
    );
    for (path, ty, has) in [
        ("/console/app.js", "text/javascript", "x-csrf-token"),
        ("/console/app.css", "text/css", "@media"),
    ] {
        let r = call(&app, Method::GET, path, &[], None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(
            r.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(ty),
            "{path}"
        );
        assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(String::from_utf8(r.body).unwrap().contains(has), "{path}");
    }
    // The API is still the API.
    assert_eq!(
        call(&app, Method::GET, "/api/v1/status", &[], None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_sets_strict_cookies_and_a_wrong_token_sets_none() {
    let app = console_app(false).await;
    let r = call(
        &app,
        Method::POST,
        "/console/login",
        &[],
        Some(json!({"token": "wrong"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["field"], "token");
    assert!(r.cookies().is_empty());
    let (_, _, r) = login(&app).await;
    let s = r.cookie("strato_session");
    assert!(
        s.contains("HttpOnly") && s.contains("SameSite=Strict") && s.contains("Path=/"),
        "{s}"
    );
    assert!(!s.contains("Secure"), "plain HTTP: {s}");
    let c = r.cookie("strato_csrf");
    assert!(!c.contains("HttpOnly"), "the page reads it: {c}");
    assert!(c.contains("SameSite=Strict"), "{c}");
    assert!(
        !String::from_utf8_lossy(&r.body).contains(TOKEN),
        "the token never comes back"
    );
    // Over TLS both are Secure.
    let (_, _, r) = login(&console_app(true).await).await;
    assert!(r.cookie("strato_session").contains("; Secure"));
    assert!(r.cookie("strato_csrf").contains("; Secure"));
}

#[tokio::test]
async fn a_session_reads_freely_but_changes_only_with_its_csrf_token() {
    let app = console_app(false).await;
    let (cookie, csrf, _) = login(&app).await;
    let r = call(
        &app,
        Method::GET,
        "/api/v1/status",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &app,
        Method::GET,
        "/api/v1/clouds",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(r.json()[0]["name"], CLOUD, "{}", r.json());
    assert!(
        r.json()[0]["capabilities"]["vip_move"].is_boolean(),
        "{}",
        r.json()
    );

    let g = serde_json::to_value(group("web", 1, 2)).unwrap();
    // A forged change: the cookie rides along, the header does not.
    let r = call(
        &app,
        Method::POST,
        "/api/v1/se-groups",
        &[("cookie", &cookie)],
        Some(g.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.json());
    let r = call(
        &app,
        Method::POST,
        "/api/v1/se-groups",
        &[("cookie", &cookie), ("x-csrf-token", "0000")],
        Some(g.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Another session's token does not pass either.
    let (_, other_csrf, _) = login(&app).await;
    let r = call(
        &app,
        Method::POST,
        "/api/v1/se-groups",
        &[("cookie", &cookie), ("x-csrf-token", &other_csrf)],
        Some(g.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &app,
        Method::POST,
        "/api/v1/se-groups",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(g.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json());
    // Validation errors name their field through the console as through the token.
    let mut bad = g.clone();
    bad["name"] = json!("other");
    bad["capacity"]["rps"] = json!(-1);
    let r = call(
        &app,
        Method::POST,
        "/api/v1/se-groups",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(bad),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("capacity.rps"))
    );
    // The bearer token needs no CSRF header (it is never sent by a browser on its own).
    let r = call(
        &app,
        Method::DELETE,
        "/api/v1/se-groups/web",
        &[("authorization", &format!("Bearer {TOKEN}"))],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // A made-up session is no session.
    let r = call(
        &app,
        Method::GET,
        "/api/v1/status",
        &[("cookie", "strato_session=abcd")],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Logging out is a change too; after it the cookie opens nothing.
    let r = call(
        &app,
        Method::POST,
        "/console/logout",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &app,
        Method::POST,
        "/console/logout",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.cookie("strato_session").contains("Max-Age=0"));
    let r = call(
        &app,
        Method::GET,
        "/api/v1/status",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
