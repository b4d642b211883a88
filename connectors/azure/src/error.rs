//! ARM error codes mapped to strato's [`ErrorKind`], in one place.
//!
//! Every SDK error and every failed long-running operation passes through [`map_error`] or
//! [`from_arm`]; they keep the ARM code, message and `x-ms-request-id` (`Error::with_vendor`) and
//! the cloud name.

use crate::CLOUD;
use crate::wire::{ArmError, find_arm_error};
use std::time::Duration;
use strato_core::{Error, ErrorKind, Operation};

/// Maps an ARM error code (and the HTTP status, which decides for codes not listed) to a kind.
pub fn kind_of(code: &str, status: u16, message: &str, retry_after: Option<Duration>) -> ErrorKind {
    match code {
        "TooManyRequests"
        | "SubscriptionRequestsThrottled"
        | "ResourceGroupRequestsThrottled"
        | "TenantRequestsThrottled"
        | "OperationPreempted" => ErrorKind::Throttled { retry_after },
        "QuotaExceeded"
        | "OperationNotAllowedQuota"
        | "SubnetIsFull"
        | "PublicIPCountLimitReached"
        | "NetworkInterfacesPerVmLimitReached"
        | "PrivateIPAddressesPerNicLimitReached" => ErrorKind::QuotaExceeded,
        // Azure says quota exhaustion with a generic code and a message naming the quota.
        "OperationNotAllowed" if message.to_ascii_lowercase().contains("quota") => {
            ErrorKind::QuotaExceeded
        }
        "SkuNotAvailable"
        | "AllocationFailed"
        | "ZonalAllocationFailed"
        | "OverconstrainedAllocationRequest"
        | "OverconstrainedZonalAllocationRequest"
        | "AllocationFailedVMSeriesNotAvailable" => ErrorKind::NoCapacity,
        "ResourceNotFound" | "NotFound" | "ParentResourceNotFound" | "ResourceGroupNotFound" => {
            ErrorKind::NotFound
        }
        "Conflict"
        | "OperationNotAllowed"
        | "NicInUse"
        | "NicReservedForAnotherVm"
        | "InUseSubnetCannotBeDeleted"
        | "InUseSubnetCannotBeUpdated"
        | "PrivateIPAddressInUse"
        | "PropertyChangeNotAllowed" => ErrorKind::Conflict,
        "InvalidParameter"
        | "InvalidRequestContent"
        | "InvalidRequestFormat"
        | "InvalidResourceReference"
        | "InvalidApiVersionParameter"
        | "InvalidAddressPrefixFormat"
        | "NetcfgSubnetRangeOutsideVnet"
        | "NetcfgSubnetRangesOverlap"
        | "NetcfgInvalidSubnet"
        | "PrivateIPAddressNotInSubnet"
        | "NetworkInterfaceMustHaveOnePrimaryIpConfiguration"
        | "InvalidResourceName"
        | "LocationRequired"
        | "ImageNotFound"
        | "PlatformImageNotFound"
        | "InvalidTemplate" => ErrorKind::InvalidSpec,
        "AuthorizationFailed" | "LinkedAuthorizationFailed" | "Forbidden" => {
            ErrorKind::PermissionDenied
        }
        "AuthenticationFailed"
        | "InvalidAuthenticationToken"
        | "ExpiredAuthenticationToken"
        | "InvalidAuthenticationTokenTenant" => ErrorKind::Unauthenticated,
        "InternalServerError"
        | "InternalOperationError"
        | "ServerTimeout"
        | "ServiceUnavailable"
        | "GatewayTimeout"
        | "RetryableError"
        | "AnotherOperationInProgress" => ErrorKind::Transient,
        _ => kind_of_status(status, retry_after),
    }
}

/// A kind from the HTTP status alone (list pages: the SDK drops their code).
pub fn kind_of_status(status: u16, retry_after: Option<Duration>) -> ErrorKind {
    match status {
        400 | 422 => ErrorKind::InvalidSpec,
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        429 => ErrorKind::Throttled { retry_after },
        408 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Internal,
    }
}

/// An ARM error (an HTTP answer or a failed operation) as a strato error of `op`.
pub fn from_arm(e: &ArmError, op: Operation) -> Error {
    let code = e
        .code
        .clone()
        .unwrap_or_else(|| format!("HTTP {}", e.status));
    let message = e.message.clone().unwrap_or_default();
    let kind = match &e.code {
        Some(c) => kind_of(c, e.status, &message, e.retry_after),
        None => kind_of_status(e.status, e.retry_after),
    };
    Error::new(kind, op, format!("{code}: {message}"))
        .with_cloud(CLOUD)
        .with_vendor(code, message, e.request_id.clone())
}

/// Any SDK error as a strato error of `op`.
pub fn map_error(e: azure_core::Error, op: Operation) -> Error {
    if let Some(a) = find_arm_error(&e) {
        return from_arm(a, op);
    }
    let (kind, what) = match e.kind() {
        azure_core::error::ErrorKind::HttpResponse { status, error_code } => {
            let s = u16::from(*status);
            let kind = match error_code {
                Some(c) => kind_of(c, s, "", None),
                None => kind_of_status(s, None),
            };
            (kind, format!("HTTP {s}"))
        }
        azure_core::error::ErrorKind::Io => (ErrorKind::Transient, "I/O".to_owned()),
        azure_core::error::ErrorKind::Credential => {
            (ErrorKind::Unauthenticated, "credential".to_owned())
        }
        azure_core::error::ErrorKind::DataConversion => {
            (ErrorKind::Internal, "unreadable answer".to_owned())
        }
        _ => (ErrorKind::Internal, "SDK".to_owned()),
    };
    Error::new(kind, op, format!("{what}: {e}"))
        .with_cloud(CLOUD)
        .with_vendor(what, e.to_string(), None)
}

/// A NIC PUT naming a subnet that does not exist (`InvalidResourceReference`, or a network
/// `NotFound`) is a bad `network` of the spec, named; other errors pass unchanged.
pub fn missing_network(e: Error, subnet: &str) -> Error {
    let code = e.vendor().map(|v| v.code.as_str()).unwrap_or("");
    if code == "InvalidResourceReference" || (e.is_not_found() && code != "ResourceNotFound") {
        return Error::new(
            ErrorKind::InvalidSpec,
            e.operation(),
            format!(
                "network {subnet:?} does not exist in the VNet: {}",
                e.message()
            ),
        )
        .with_field("network")
        .with_cloud(CLOUD);
    }
    e
}

/// `AlreadyExists` for a name taken by a different request.
pub fn already_exists(op: Operation, what: &str, name: &str) -> Error {
    Error::new(
        ErrorKind::AlreadyExists,
        op,
        format!("a {what} named {name:?} exists with a different spec"),
    )
    .with_cloud(CLOUD)
    .with_resource(name)
}

/// `NotFound` for a resource this connector does not own or that is gone.
pub fn not_found(op: Operation, what: &str, id: &str) -> Error {
    Error::new(ErrorKind::NotFound, op, format!("{what} {id} not found"))
        .with_cloud(CLOUD)
        .with_resource(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issues_codes_map_as_asked() {
        let k = |c: &str| kind_of(c, 400, "", None);
        assert_eq!(k("QuotaExceeded"), ErrorKind::QuotaExceeded);
        assert_eq!(k("SkuNotAvailable"), ErrorKind::NoCapacity);
        assert_eq!(k("AllocationFailed"), ErrorKind::NoCapacity);
        assert_eq!(k("ResourceNotFound"), ErrorKind::NotFound);
        assert_eq!(k("Conflict"), ErrorKind::Conflict);
        assert_eq!(k("InvalidParameter"), ErrorKind::InvalidSpec);
        assert_eq!(k("AuthorizationFailed"), ErrorKind::PermissionDenied);
        let ra = Some(Duration::from_secs(7));
        assert_eq!(
            kind_of("TooManyRequests", 429, "", ra),
            ErrorKind::Throttled { retry_after: ra }
        );
        assert_eq!(
            kind_of("Whatever", 429, "", ra),
            ErrorKind::Throttled { retry_after: ra }
        );
        assert_eq!(
            kind_of(
                "OperationNotAllowed",
                409,
                "Operation results in exceeding approved standardDSv5Family Cores quota",
                None
            ),
            ErrorKind::QuotaExceeded
        );
        assert_eq!(kind_of("Unheard", 503, "", None), ErrorKind::Transient);
    }
}
