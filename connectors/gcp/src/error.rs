//! Every Compute Engine error mapped to an `ErrorKind`, here and nowhere else: HTTP answers
//! (status, the legacy `errors[].reason`, `Retry-After`), transport failures of the client
//! library, and the errors of operations that ended DONE with an error.

use crate::CLOUD;
use google_cloud_gax::error::Error as GaxError;
use serde_json::Value;
use std::time::Duration;
use strato_core::{Error, ErrorKind, Operation};

/// The kind of a Compute error from its HTTP status and code (a legacy `reason` such as
/// `notFound`, or an operation error code such as `ZONE_RESOURCE_POOL_EXHAUSTED`).
pub fn kind_of(http: Option<u16>, code: &str, retry_after: Option<Duration>) -> ErrorKind {
    match code {
        "rateLimitExceeded" | "userRateLimitExceeded" | "RATE_LIMIT_EXCEEDED" => {
            return ErrorKind::Throttled { retry_after };
        }
        "quotaExceeded" | "QUOTA_EXCEEDED" | "REGION_QUOTA_EXCEEDED" => {
            return ErrorKind::QuotaExceeded;
        }
        "ZONE_RESOURCE_POOL_EXHAUSTED"
        | "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"
        | "resourcePoolExhausted" => return ErrorKind::NoCapacity,
        "notFound" | "RESOURCE_NOT_FOUND" => return ErrorKind::NotFound,
        "alreadyExists" | "RESOURCE_ALREADY_EXISTS" => return ErrorKind::AlreadyExists,
        "conditionNotMet"
        | "resourceInUseByAnotherResource"
        | "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE"
        | "resourceNotReady"
        | "RESOURCE_NOT_READY" => return ErrorKind::Conflict,
        "invalid" | "badRequest" | "INVALID_FIELD_VALUE" | "invalidParameter" => {
            return ErrorKind::InvalidSpec;
        }
        "backendError" | "internalError" | "SERVICE_UNAVAILABLE" => return ErrorKind::Transient,
        _ => {}
    }
    match http {
        Some(429) => ErrorKind::Throttled { retry_after },
        Some(400) => ErrorKind::InvalidSpec,
        Some(401) => ErrorKind::Unauthenticated,
        Some(403) => ErrorKind::PermissionDenied,
        Some(404) => ErrorKind::NotFound,
        Some(409) => ErrorKind::AlreadyExists,
        Some(412) => ErrorKind::Conflict,
        Some(500..=599) => ErrorKind::Transient,
        _ => ErrorKind::Internal,
    }
}

/// `Retry-After` in seconds (Compute does not send HTTP dates).
fn retry_after(e: &GaxError) -> Option<Duration> {
    let v = e.http_headers()?.get("retry-after")?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Maps an error of the client library. `resource` names what the call was about.
pub fn map_gax(e: GaxError, op: Operation, resource: &str) -> Error {
    let http = e.http_status_code();
    let (kind, code, message) = if let Some(payload) = e.http_payload() {
        let body: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        let reason = body["error"]["errors"][0]["reason"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let message = body["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned());
        (kind_of(http, &reason, retry_after(&e)), reason, message)
    } else if let Some(s) = e.status() {
        let reason = s
            .details
            .iter()
            .find_map(|d| match d {
                google_cloud_gax::error::rpc::StatusDetails::ErrorInfo(i) => Some(i.reason.clone()),
                _ => None,
            })
            .unwrap_or_default();
        (
            kind_of(http, &reason, retry_after(&e)),
            reason,
            s.message.clone(),
        )
    } else if e.is_timeout() {
        (ErrorKind::Timeout, "timeout".into(), e.to_string())
    } else if e.is_authentication() {
        (
            ErrorKind::Unauthenticated,
            "authentication".into(),
            e.to_string(),
        )
    } else if e.is_io() || e.is_connect() || e.is_transport() || e.is_exhausted() {
        (ErrorKind::Transient, "transport".into(), e.to_string())
    } else if let Some(h) = http {
        (
            kind_of(Some(h), "", retry_after(&e)),
            String::new(),
            e.to_string(),
        )
    } else {
        (ErrorKind::Internal, String::new(), e.to_string())
    };
    let text = format!("{resource}: {message}");
    let mut err = Error::new(kind, op, text)
        .with_cloud(CLOUD)
        .with_resource(resource)
        .with_vendor(
            if code.is_empty() {
                http.map(|h| h.to_string()).unwrap_or_default()
            } else {
                code
            },
            message,
            None,
        );
    if err.kind() == &ErrorKind::InvalidSpec {
        err = err.with_field("spec");
    }
    err
}

/// The error of an operation that ended DONE with `error` set (the client library returns
/// such an operation as success).
pub fn map_operation_error(
    op_result: &google_cloud_compute_v1::model::Operation,
    op: Operation,
    resource: &str,
) -> Option<Error> {
    let errors = op_result
        .error
        .as_ref()
        .map(|e| e.errors.as_slice())
        .unwrap_or_default();
    let http = op_result.http_error_status_code.map(|c| c as u16);
    if errors.is_empty() && http.is_none_or(|h| h < 400) {
        return None;
    }
    let first = errors.first();
    let code = first.and_then(|e| e.code.clone()).unwrap_or_default();
    let message = first
        .and_then(|e| e.message.clone())
        .or_else(|| op_result.http_error_message.clone())
        .unwrap_or_else(|| "the operation failed".into());
    let kind = kind_of(http, &code, None);
    let request_id = op_result.client_operation_id.clone();
    Some(
        Error::new(
            kind,
            op,
            format!(
                "{resource}: operation {} failed: {message}",
                op_result.name.as_deref().unwrap_or("?")
            ),
        )
        .with_cloud(CLOUD)
        .with_resource(resource)
        .with_vendor(code, message, request_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_once() {
        let ra = Some(Duration::from_secs(3));
        assert_eq!(
            kind_of(Some(403), "rateLimitExceeded", ra),
            ErrorKind::Throttled { retry_after: ra }
        );
        assert_eq!(
            kind_of(Some(429), "", None),
            ErrorKind::Throttled { retry_after: None }
        );
        assert_eq!(
            kind_of(Some(403), "QUOTA_EXCEEDED", None),
            ErrorKind::QuotaExceeded
        );
        assert_eq!(
            kind_of(Some(503), "ZONE_RESOURCE_POOL_EXHAUSTED", None),
            ErrorKind::NoCapacity
        );
        assert_eq!(kind_of(Some(404), "notFound", None), ErrorKind::NotFound);
        assert_eq!(
            kind_of(Some(409), "alreadyExists", None),
            ErrorKind::AlreadyExists
        );
        assert_eq!(kind_of(Some(400), "invalid", None), ErrorKind::InvalidSpec);
        assert_eq!(
            kind_of(Some(412), "conditionNotMet", None),
            ErrorKind::Conflict
        );
        assert_eq!(
            kind_of(Some(400), "resourceInUseByAnotherResource", None),
            ErrorKind::Conflict
        );
        assert_eq!(kind_of(Some(502), "", None), ErrorKind::Transient);
        assert_eq!(kind_of(Some(401), "", None), ErrorKind::Unauthenticated);
        assert_eq!(
            kind_of(Some(403), "forbidden", None),
            ErrorKind::PermissionDenied
        );
    }
}
