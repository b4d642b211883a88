//! Kubernetes API errors mapped to strato's [`ErrorKind`], once.
//!
//! The API server answers every failure with a `Status` object (`code`, `reason`, `message`,
//! `details`). The HTTP code decides the kind; the reason refines it (409 `AlreadyExists` vs a
//! resourceVersion `Conflict`, 403 `Forbidden` from a ResourceQuota). The reason, code and message
//! are kept as the vendor error, and a 422's first cause names the offending field.

use crate::CLOUD;
use kube::core::Status;
use std::time::Duration;
use strato_core::{Error, ErrorKind, Operation};

/// The kind a `Status` maps to.
pub fn kind_of(status: &Status) -> ErrorKind {
    let code = if status.code != 0 {
        status.code
    } else {
        code_of_reason(&status.reason)
    };
    match code {
        404 => ErrorKind::NotFound,
        409 if status.reason == "AlreadyExists" => ErrorKind::AlreadyExists,
        409 => ErrorKind::Conflict,
        // An expired list continue token: the caller must restart the listing.
        410 => ErrorKind::InvalidSpec,
        400 | 422 => ErrorKind::InvalidSpec,
        401 => ErrorKind::Unauthenticated,
        // A ResourceQuota rejection is a 403 whose message says "exceeded quota".
        403 if status.message.contains("exceeded quota") => ErrorKind::QuotaExceeded,
        403 => ErrorKind::PermissionDenied,
        429 => ErrorKind::Throttled {
            retry_after: status
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(s.into())),
        },
        504 => ErrorKind::Timeout,
        500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Internal,
    }
}

/// The HTTP code of a reason, for a `Status` that left `code` out.
fn code_of_reason(reason: &str) -> u16 {
    match reason {
        "NotFound" => 404,
        "AlreadyExists" | "Conflict" => 409,
        "Invalid" => 422,
        "BadRequest" => 400,
        "Unauthorized" => 401,
        "Forbidden" => 403,
        "TooManyRequests" => 429,
        "Gone" | "Expired" => 410,
        "Timeout" => 504,
        "ServerTimeout" | "InternalError" => 500,
        "ServiceUnavailable" => 503,
        _ => 0,
    }
}

/// Maps a kube error for `op` on `resource` (e.g. `pod "vm-1"`).
pub fn map(op: Operation, resource: &str, err: kube::Error) -> Error {
    match err {
        kube::Error::Api(status) => from_status(op, resource, &status),
        kube::Error::HyperError(e) => Error::new(
            ErrorKind::Transient,
            op,
            format!("{resource}: connection to the API server failed: {e}"),
        )
        .with_cloud(CLOUD)
        .with_resource(resource),
        kube::Error::Service(e) => {
            let text = e.to_string();
            let kind = if text.contains("timed out")
                || text.contains("deadline")
                || text.contains("elapsed")
            {
                ErrorKind::Timeout
            } else {
                ErrorKind::Transient
            };
            Error::new(
                kind,
                op,
                format!("{resource}: request to the API server failed: {text}"),
            )
            .with_cloud(CLOUD)
            .with_resource(resource)
        }
        kube::Error::Auth(e) => Error::new(
            ErrorKind::Unauthenticated,
            op,
            format!("{resource}: authentication failed: {e}"),
        )
        .with_cloud(CLOUD)
        .with_resource(resource),
        other => Error::new(ErrorKind::Internal, op, format!("{resource}: {other}"))
            .with_cloud(CLOUD)
            .with_resource(resource),
    }
}

/// Maps an API `Status`, keeping its reason, code and message as the vendor error and naming the
/// first invalid field of a 422.
pub fn from_status(op: Operation, resource: &str, status: &Status) -> Error {
    let kind = kind_of(status);
    let vendor_code = format!(
        "{} {}",
        status.code,
        if status.reason.is_empty() {
            "Unknown"
        } else {
            &status.reason
        }
    );
    let mut e = Error::new(kind, op, format!("{resource}: {}", status.message))
        .with_cloud(CLOUD)
        .with_resource(resource)
        .with_vendor(vendor_code, status.message.clone(), None);
    if let Some(field) = status.details.as_ref().and_then(|d| {
        d.causes
            .iter()
            .find_map(|c| (!c.field.is_empty()).then_some(&c.field))
    }) {
        e = e.with_field(field);
    }
    e
}

/// The `AlreadyExists` of a create whose name is taken by an object strato must not adopt
/// (`why` says which: another request's, or one being deleted), with the 409 the server answered.
pub fn already_exists(op: Operation, resource: &str, why: &str) -> Error {
    Error::new(ErrorKind::AlreadyExists, op, format!("{resource} {why}"))
        .with_cloud(CLOUD)
        .with_resource(resource)
        .with_vendor(
            "409 AlreadyExists",
            format!("{resource} already exists"),
            None,
        )
}

/// True when the error is a 404 (the resource, or its namespace, is gone).
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404 || (s.code == 0 && s.reason == "NotFound"))
}

/// True when the error is a 409 `AlreadyExists`.
pub fn is_already_exists(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.reason == "AlreadyExists")
}

/// True when the error is a 409 `Conflict` (stale resourceVersion or failed precondition).
pub fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 409 && s.reason != "AlreadyExists")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::StatusDetails;

    fn status(code: u16, reason: &str, message: &str) -> Status {
        Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..Default::default()
        }
    }

    fn with_details(mut s: Status, details: serde_json::Value) -> Status {
        s.details = Some(serde_json::from_value::<StatusDetails>(details).unwrap());
        s
    }

    #[test]
    fn codes_and_reasons_map_to_kinds() {
        let quota = "pods \"a\" is forbidden: exceeded quota: q, requested: cpu=2";
        for (code, reason, message, kind) in [
            (404, "NotFound", "x", ErrorKind::NotFound),
            (409, "AlreadyExists", "x", ErrorKind::AlreadyExists),
            (409, "Conflict", "x", ErrorKind::Conflict),
            (422, "Invalid", "x", ErrorKind::InvalidSpec),
            (
                403,
                "Forbidden",
                "pods is forbidden",
                ErrorKind::PermissionDenied,
            ),
            (403, "Forbidden", quota, ErrorKind::QuotaExceeded),
            (401, "Unauthorized", "x", ErrorKind::Unauthenticated),
            (503, "ServiceUnavailable", "x", ErrorKind::Transient),
            (504, "Timeout", "x", ErrorKind::Timeout),
            (0, "Conflict", "x", ErrorKind::Conflict),
        ] {
            assert_eq!(
                kind_of(&status(code, reason, message)),
                kind,
                "{code} {reason}: {message}"
            );
        }
        let s = with_details(
            status(429, "TooManyRequests", "slow down"),
            serde_json::json!({"retryAfterSeconds": 3}),
        );
        assert_eq!(
            kind_of(&s),
            ErrorKind::Throttled {
                retry_after: Some(Duration::from_secs(3))
            }
        );
    }

    #[test]
    fn vendor_error_and_field_are_kept() {
        let s = with_details(
            status(
                422,
                "Invalid",
                "Pod \"a\" is invalid: spec.containers[0].image: Required value",
            ),
            serde_json::json!({"causes": [{"field": "spec.containers[0].image", "reason": "FieldValueRequired"}]}),
        );
        let e = from_status(Operation::CreateVm, "pod \"a\"", &s);
        assert_eq!(e.kind(), &ErrorKind::InvalidSpec);
        assert_eq!(e.field(), Some("spec.containers[0].image"));
        assert_eq!(e.cloud(), Some(CLOUD));
        let v = e.vendor().unwrap();
        assert_eq!(v.code, "422 Invalid");
        assert!(v.message.contains("spec.containers[0].image"));
    }
}
