//! The SDK clients' transport: every ARM request the connector makes goes through [`Wire`], which
//! counts it ([`ApiCallCounter`]) and turns an unsuccessful answer into an error that keeps what
//! the SDK's own `HttpError` hides: the `Retry-After` of a 429 and the `x-ms-request-id`.
//!
//! The SDK's retry policy is switched off (`RetryOptions::none()`): strato's retry layer owns
//! retries, honouring Retry-After, and a throttled answer reaches it as `Throttled`.

use azure_core::error::{Error as AzError, ErrorKind as AzKind};
use azure_core::headers::{HeaderName, Headers};
use azure_core::{Context, HttpClient, Policy, PolicyResult, Request};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counts the ARM requests a connector made (benchmarks, tests).
#[derive(Clone, Debug, Default)]
pub struct ApiCallCounter(Arc<AtomicU64>);

impl ApiCallCounter {
    /// Requests so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// An unsuccessful ARM answer, as the connector's error mapping needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmError {
    /// HTTP status.
    pub status: u16,
    /// ARM error code (`x-ms-error-code`, else the body's `error.code`).
    pub code: Option<String>,
    /// The body's `error.message`.
    pub message: Option<String>,
    /// `retry-after-ms`, `x-ms-retry-after-ms` or `Retry-After` (seconds).
    pub retry_after: Option<Duration>,
    /// `x-ms-request-id`.
    pub request_id: Option<String>,
}

impl fmt::Display for ArmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HTTP {} {}: {}",
            self.status,
            self.code.as_deref().unwrap_or("(no code)"),
            self.message.as_deref().unwrap_or("(no message)")
        )
    }
}

impl std::error::Error for ArmError {}

/// The poll or retry interval an answer asks for, in the order azure_core reads them.
pub fn retry_after(h: &Headers) -> Option<Duration> {
    let get = |n: &'static str| h.get_optional_str(&HeaderName::from(n)).map(str::trim);
    if let Some(ms) = get("retry-after-ms").or_else(|| get("x-ms-retry-after-ms")) {
        return ms.parse::<u64>().ok().map(Duration::from_millis);
    }
    get("retry-after")?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Reads an ARM error body: `{"error": {"code", "message"}}` (or the bare object).
pub fn arm_error(status: u16, headers: &Headers, body: &[u8]) -> ArmError {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let e = if v.get("error").is_some() {
        &v["error"]
    } else {
        &v
    };
    let s = |x: &serde_json::Value| x.as_str().map(str::to_owned);
    ArmError {
        status,
        code: headers
            .get_optional_string(&HeaderName::from("x-ms-error-code"))
            .or_else(|| s(&e["code"])),
        message: s(&e["message"]),
        retry_after: retry_after(headers),
        request_id: headers.get_optional_string(&HeaderName::from("x-ms-request-id")),
    }
}

/// Wraps an [`ArmError`] as the SDK error the clients return.
pub fn to_az(e: ArmError) -> AzError {
    let status = azure_core::StatusCode::try_from(e.status)
        .unwrap_or(azure_core::StatusCode::InternalServerError);
    let kind = AzKind::http_response(status, e.code.clone());
    let msg = e.to_string();
    AzError::full(kind, e, msg)
}

/// The transport policy (last in the SDK pipeline).
#[derive(Clone)]
pub struct Wire {
    http: Arc<dyn HttpClient>,
    calls: ApiCallCounter,
}

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wire")
            .field("calls", &self.calls.get())
            .finish()
    }
}

impl Wire {
    /// A transport on azure_core's reqwest client (rustls).
    pub fn new(calls: ApiCallCounter) -> Self {
        Self {
            http: azure_core::new_http_client(),
            calls,
        }
    }

    /// Sends one request; an unsuccessful status is an error carrying an [`ArmError`].
    pub async fn execute(&self, request: &Request) -> azure_core::Result<azure_core::Response> {
        self.calls.add();
        let rsp = self.http.execute_request(request).await?;
        if rsp.status().is_success() {
            return Ok(rsp);
        }
        let (status, headers, body) = rsp.deconstruct();
        let body = body.collect().await.unwrap_or_default();
        Err(to_az(arm_error(u16::from(status), &headers, &body)))
    }
}

#[async_trait::async_trait]
impl Policy for Wire {
    async fn send(
        &self,
        _ctx: &Context,
        request: &mut Request,
        _next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        self.execute(request).await
    }
}

/// The [`ArmError`] inside an SDK error, however deeply the SDK wrapped it.
pub fn find_arm_error(e: &AzError) -> Option<&ArmError> {
    let mut cur: &(dyn std::error::Error + 'static) = e.get_ref()?;
    loop {
        if let Some(a) = cur.downcast_ref::<ArmError>() {
            return Some(a);
        }
        if let Some(az) = cur.downcast_ref::<AzError>() {
            cur = az.get_ref()?;
            continue;
        }
        cur = cur.source()?;
    }
}
