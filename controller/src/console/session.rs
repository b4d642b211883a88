//! Console sessions: a random session id in an `HttpOnly` cookie and a CSRF token per session,
//! kept in memory (a restart logs everyone out), each for [`SESSION_TTL`], at most
//! [`MAX_SESSIONS`] at once (the oldest closed first).

use crate::secret::{Secret, sha256_hex};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The session cookie (`HttpOnly`).
pub const SESSION_COOKIE: &str = "strato_session";
/// The CSRF cookie the page reads (not `HttpOnly`) and sends back in [`CSRF_HEADER`].
pub const CSRF_COOKIE: &str = "strato_csrf";
/// The header every change from the console carries.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions open at once.
pub const MAX_SESSIONS: usize = 1000;

/// What a request's session says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionCheck {
    /// No (valid) session cookie.
    None,
    /// A valid session, and for a change the matching CSRF header.
    Valid,
    /// A valid session, but a change without its CSRF token.
    BadCsrf,
}

/// The open sessions, by the SHA-256 of their id (the id itself is only in the cookie).
#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, (Secret, Instant)>>,
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Sessions {
    /// Opens a session: its id and its CSRF token.
    pub fn open(&self) -> (String, String) {
        let id = Secret::mint();
        let csrf = Secret::mint();
        let now = Instant::now();
        let mut m = self.open.lock().expect("sessions lock");
        m.retain(|_, (_, exp)| *exp > now);
        if m.len() >= MAX_SESSIONS
            && let Some(oldest) = m
                .iter()
                .min_by_key(|(_, (_, e))| *e)
                .map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(id.sha256_hex(), (csrf.clone(), now + SESSION_TTL));
        (id.expose().to_owned(), csrf.expose().to_owned())
    }

    /// Checks the request's session; `change` requires the CSRF header too.
    pub fn check(&self, headers: &HeaderMap, change: bool) -> SessionCheck {
        let Some(id) = cookie_value(headers, SESSION_COOKIE) else {
            return SessionCheck::None;
        };
        let m = self.open.lock().expect("sessions lock");
        let Some((csrf, exp)) = m.get(&sha256_hex(id)) else {
            return SessionCheck::None;
        };
        if *exp <= Instant::now() {
            return SessionCheck::None;
        }
        if change {
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|s| csrf.matches(s)) {
                return SessionCheck::BadCsrf;
            }
        }
        SessionCheck::Valid
    }

    /// Closes the request's session.
    pub fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie_value(headers, SESSION_COOKIE) {
            self.open
                .lock()
                .expect("sessions lock")
                .remove(&sha256_hex(id));
        }
    }
}

/// The answer to a change without its CSRF token.
pub fn csrf_refused() -> Response {
    crate::api::ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "a change from the console needs its X-CSRF-Token header",
        None,
    )
    .into_response()
}
