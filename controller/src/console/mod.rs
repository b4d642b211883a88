//! The web console: plain HTML, CSS and JavaScript embedded in the binary, served by the API
//! itself at `/` (no separate server, no build step), over the API's own paths.
//!
//! The login is the admin token: `POST /console/login` checks it and answers with a session
//! cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when the API is served over TLS) and a CSRF
//! cookie the page reads and sends back in the `X-CSRF-Token` header on every change (double
//! submit, checked against the session's own token on the server, so a cookie planted by
//! another site does not pass either). The API accepts the session wherever it accepts the
//! admin token; a change (any method but GET and HEAD) without the matching header is 403.
//! The token itself never reaches the page's script nor a cookie.

pub mod clouds;
mod session;

pub use session::{
    CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, SessionCheck, Sessions, cookie_value, csrf_refused,
};

use crate::api::{ApiError, AppState};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The page's own scripts and styles only: no inline script runs, nothing is loaded from
/// elsewhere, and no other site may frame the console.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The console's routes (outside the admin's authentication: the login is how it is had).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/console/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/console/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route("/console/login", post(login))
        .route("/console/logout", post(logout))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

async fn login(State(s): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let Login { token } = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            e.to_string(),
            Some("token".into()),
        )
    })?;
    // Without an admin token (`--insecure`) there is nothing to check: any login passes.
    if let Some(want) = &s.token
        && !want.matches(&token)
    {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "that is not the controller's token",
            Some("token".into()),
        ));
    }
    let (id, csrf) = s.console.sessions.open();
    let mut resp = (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({"csrf": csrf})),
    )
        .into_response();
    let h = resp.headers_mut();
    let secure = s.console.secure;
    h.append(
        header::SET_COOKIE,
        cookie(SESSION_COOKIE, &id, true, secure, None),
    );
    h.append(
        header::SET_COOKIE,
        cookie(CSRF_COOKIE, &csrf, false, secure, None),
    );
    Ok(resp)
}

async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    // A logout is a change too: only with the CSRF header (a foreign page cannot log one out).
    match s.console.sessions.check(&headers, true) {
        SessionCheck::Valid => {}
        SessionCheck::BadCsrf => return csrf_refused(),
        SessionCheck::None => return StatusCode::NO_CONTENT.into_response(),
    }
    s.console.sessions.close(&headers);
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let secure = s.console.secure;
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie(SESSION_COOKIE, "", true, secure, Some(0)),
    );
    h.append(
        header::SET_COOKIE,
        cookie(CSRF_COOKIE, "", false, secure, Some(0)),
    );
    resp
}

/// A `Set-Cookie` value: path `/`, `SameSite=Strict`, `HttpOnly` for the session, `Secure`
/// over TLS, and a session cookie (gone with the browser) unless `max_age` says otherwise.
fn cookie(
    name: &str,
    value: &str,
    http_only: bool,
    secure: bool,
    max_age: Option<u32>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    HeaderValue::from_str(&c).expect("cookie values are hex")
}

/// The console's state inside the API.
#[derive(Debug, Default)]
pub struct Console {
    /// Open sessions.
    pub sessions: Sessions,
    /// Cookies are `Secure` (the API is served over TLS).
    pub secure: bool,
}
