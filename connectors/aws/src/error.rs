//! EC2 error codes mapped to strato's [`ErrorKind`], in one place.
//!
//! Every SDK error passes through [`map_sdk_error`]; it keeps the EC2 code, message and request id
//! (`Error::with_vendor`) and the cloud name, so nothing the support desk needs is lost.

use crate::CLOUD;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use strato_core::{Error, ErrorKind, Operation};

/// What the caller knows that the code alone does not say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The resource the call names was created by this connector moments ago, so a
    /// `*.NotFound` is EC2's eventual consistency, not a deletion.
    pub just_created: bool,
    /// The call creates something from references (AMI, subnet, security group): a reference
    /// that does not exist is a bad spec, not a missing resource of the caller's.
    pub creating: bool,
}

impl Context {
    /// A call on something that should exist: a `*.NotFound` means it does not.
    pub const READING: Self = Self {
        just_created: false,
        creating: false,
    };
    /// A create naming references (AMI, subnet, security group): a missing one is a bad spec.
    pub const CREATING: Self = Self {
        just_created: false,
        creating: true,
    };

    /// A call naming a resource that this connector may have created moments ago
    /// (`just_created`, from `AwsConnector::is_recent`).
    pub const fn naming(just_created: bool) -> Self {
        Self {
            just_created,
            creating: false,
        }
    }
}

/// Maps an EC2 error code (and HTTP status, when known) to a kind.
pub fn kind_of(code: &str, status: Option<u16>, ctx: Context) -> ErrorKind {
    match code {
        // Throttling: EC2's own code plus the generic AWS ones (aws-runtime retry classifier).
        "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "TooManyRequestsException"
        | "PriorRequestNotComplete"
        | "BandwidthLimitExceeded"
        | "EC2ThrottledException" => ErrorKind::Throttled { retry_after: None },
        "InsufficientInstanceCapacity"
        | "InsufficientHostCapacity"
        | "InsufficientReservedInstanceCapacity"
        | "InsufficientCapacity"
        | "InsufficientAddressCapacity"
        | "InsufficientFreeAddressesInSubnet"
        | "InsufficientCapacityOnOutpost" => ErrorKind::NoCapacity,
        "InstanceLimitExceeded"
        | "VcpuLimitExceeded"
        | "AddressLimitExceeded"
        | "MaxSpotInstanceCountExceeded"
        | "NetworkInterfaceLimitExceeded"
        | "PrivateIpAddressLimitExceeded"
        | "SubnetLimitExceeded"
        | "AttachmentLimitExceeded"
        | "ResourceLimitExceeded"
        | "TagLimitExceeded"
        | "VpcLimitExceeded"
        | "SecurityGroupLimitExceeded" => ErrorKind::QuotaExceeded,
        "IdempotentParameterMismatch" => ErrorKind::Conflict,
        "IncorrectState"
        | "IncorrectInstanceState"
        | "InvalidInstanceState"
        | "IncorrectSpotRequestState"
        | "DependencyViolation"
        | "InvalidNetworkInterface.InUse"
        | "InvalidIPAddress.InUse"
        | "InvalidState"
        | "InvalidSubnet.Conflict"
        | "Resource.AlreadyAssociated"
        | "ConcurrentTagAccess"
        | "InvalidAddress.Locked"
        | "InvalidAttachment.InUse" => ErrorKind::Conflict,
        "UnauthorizedOperation"
        | "OptInRequired"
        | "Blocked"
        | "AccessDenied"
        | "AccessDeniedException"
        | "PendingVerification" => ErrorKind::PermissionDenied,
        "AuthFailure"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "RequestExpired"
        | "MissingAuthenticationToken"
        | "UnrecognizedClientException"
        | "IncompleteSignature" => ErrorKind::Unauthenticated,
        "InternalError"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "Unavailable"
        | "RequestTimeout"
        | "RequestTimeoutException"
        | "ServerInternal" => ErrorKind::Transient,
        "UnsupportedOperation" | "Unsupported" | "InvalidAction" | "UnknownOperation" => {
            ErrorKind::Unsupported
        }
        // Image references are part of the spec: a missing AMI is a bad spec, never "gone".
        c if c.starts_with("InvalidAMIID.") || c.starts_with("InvalidAMIName.") => {
            ErrorKind::InvalidSpec
        }
        "InvalidInstanceID.NotFound" if ctx.just_created => ErrorKind::NotYetVisible,
        c if c.ends_with(".NotFound") && ctx.just_created => ErrorKind::NotYetVisible,
        c if c.ends_with(".NotFound") && ctx.creating => ErrorKind::InvalidSpec,
        c if c.ends_with(".NotFound") => ErrorKind::NotFound,
        c if c.ends_with(".Malformed") || c.ends_with(".Range") || c.ends_with(".Duplicate") => {
            ErrorKind::InvalidSpec
        }
        "InvalidParameterValue"
        | "InvalidParameter"
        | "InvalidParameterCombination"
        | "MissingParameter"
        | "InvalidInput"
        | "UnknownParameter"
        | "ValidationError"
        | "InvalidRequest" => ErrorKind::InvalidSpec,
        c if c.starts_with("Invalid") => ErrorKind::InvalidSpec,
        _ => match status {
            Some(s) if s >= 500 => ErrorKind::Transient,
            Some(429) => ErrorKind::Throttled { retry_after: None },
            _ => ErrorKind::Internal,
        },
    }
}

/// A create whose name is taken by `existing`, which was made from a different spec.
pub(crate) fn already_exists(
    op: Operation,
    kind: &str,
    name: &str,
    existing: impl std::fmt::Display,
    resource: impl std::fmt::Display,
) -> Error {
    Error::new(
        ErrorKind::AlreadyExists,
        op,
        format!("{kind} {name:?} already exists ({existing}) and was made from a different spec"),
    )
    .with_cloud(CLOUD)
    .with_resource(resource)
}

/// Maps an SDK error of any EC2 operation.
pub fn map_sdk_error<E>(err: SdkError<E, HttpResponse>, op: Operation, ctx: Context) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let meta = se.err().meta();
            let code = meta.code().unwrap_or("Unknown").to_owned();
            let message = meta.message().unwrap_or("").to_owned();
            // EC2 (a query protocol) puts the request id in the XML body, not in a header.
            let request_id = meta
                .request_id()
                .or_else(|| err.request_id())
                .map(str::to_owned)
                .or_else(|| se.raw().body().bytes().and_then(request_id_in_body));
            let kind = kind_of(&code, Some(status), ctx);
            let summary = if message.is_empty() {
                code.clone()
            } else {
                message.clone()
            };
            let field = (kind == ErrorKind::InvalidSpec)
                .then(|| spec_field(&code))
                .flatten();
            let e = Error::new(kind, op, format!("EC2 {code}: {summary}"))
                .with_cloud(CLOUD)
                .with_vendor(code, message, request_id);
            match field {
                Some(f) => e.with_field(f),
                None => e,
            }
        }
        SdkError::TimeoutError(_) => Error::new(
            ErrorKind::Timeout,
            op,
            "EC2 call timed out; its effect is unknown",
        )
        .with_cloud(CLOUD),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                ErrorKind::Timeout
            } else {
                ErrorKind::Transient
            };
            let what = if d.is_user() {
                "the request could not be sent"
            } else {
                "connection to EC2 failed"
            };
            Error::new(kind, op, format!("{what}: {}", source_chain(&err))).with_cloud(CLOUD)
        }
        SdkError::ResponseError(_) => Error::new(
            ErrorKind::Transient,
            op,
            format!("EC2 answered something unreadable: {}", source_chain(&err)),
        )
        .with_cloud(CLOUD),
        // Construction failures are ours (a missing region or credentials provider, a bad
        // endpoint): retrying cannot help.
        _ => {
            let chain = source_chain(&err);
            let kind = if chain.contains("credential") {
                ErrorKind::Unauthenticated
            } else {
                ErrorKind::Internal
            };
            Error::new(kind, op, format!("EC2 request could not be built: {chain}"))
                .with_cloud(CLOUD)
        }
    }
}

/// The answer of a call for which "does not exist" is an answer, not a failure (a read that may
/// find nothing, a delete, release or untag of something already gone): `Ok(None)` then.
pub fn none_if_not_found<T, E>(
    res: std::result::Result<T, SdkError<E, HttpResponse>>,
    op: Operation,
    ctx: Context,
) -> strato_core::Result<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(out) => Ok(Some(out)),
        Err(e) => {
            let e = map_sdk_error(e, op, ctx);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// The spec field a refused reference came from, so a bad spec names its field.
fn spec_field(code: &str) -> Option<&'static str> {
    if code.contains("Subnet") {
        Some("network")
    } else if code.contains("AMI") {
        Some("image")
    } else if code.contains("InstanceType") {
        Some("size")
    } else if code.contains("Group") {
        Some("security_groups")
    } else if code.contains("Vpc") {
        Some("parent")
    } else {
        None
    }
}

/// `<RequestID>...</RequestID>` (EC2) or `<RequestId>` (other query services) in an error body.
fn request_id_in_body(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    ["RequestID", "RequestId"].iter().find_map(|tag| {
        let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
        let end = start + text[start..].find(&format!("</{tag}>"))?;
        Some(text[start..end].trim().to_owned()).filter(|s| !s.is_empty())
    })
}

/// The error and its sources on one line (the SDK's Display is terse: "dispatch failure").
fn source_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        s.push_str(": ");
        s.push_str(&e.to_string());
        cur = e.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_codes_map_as_specified() {
        let k = |c: &str| kind_of(c, Some(400), Context::READING);
        assert_eq!(
            k("RequestLimitExceeded"),
            ErrorKind::Throttled { retry_after: None }
        );
        assert_eq!(k("InsufficientInstanceCapacity"), ErrorKind::NoCapacity);
        for q in [
            "InstanceLimitExceeded",
            "VcpuLimitExceeded",
            "AddressLimitExceeded",
        ] {
            assert_eq!(k(q), ErrorKind::QuotaExceeded, "{q}");
        }
        assert_eq!(k("IdempotentParameterMismatch"), ErrorKind::Conflict);
        assert_eq!(k("InvalidInstanceID.Malformed"), ErrorKind::InvalidSpec);
        assert_eq!(k("InvalidParameterValue"), ErrorKind::InvalidSpec);
        assert_eq!(k("UnauthorizedOperation"), ErrorKind::PermissionDenied);
        assert_eq!(k("AuthFailure"), ErrorKind::Unauthenticated);
        assert_eq!(k("InvalidInstanceID.NotFound"), ErrorKind::NotFound);
        assert_eq!(k("InvalidAMIID.NotFound"), ErrorKind::InvalidSpec);
        assert_eq!(k("DependencyViolation"), ErrorKind::Conflict);
        assert_eq!(k("Unavailable"), ErrorKind::Transient);
        assert_eq!(
            kind_of("Whatever", Some(503), Context::READING),
            ErrorKind::Transient
        );
        assert_eq!(
            kind_of("Whatever", Some(400), Context::READING),
            ErrorKind::Internal
        );
    }

    #[test]
    fn not_found_depends_on_context() {
        assert_eq!(
            kind_of(
                "InvalidInstanceID.NotFound",
                Some(400),
                Context::naming(true)
            ),
            ErrorKind::NotYetVisible
        );
        assert_eq!(
            kind_of(
                "InvalidInstanceID.NotFound",
                Some(400),
                Context::naming(false)
            ),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of("InvalidSubnetID.NotFound", Some(400), Context::CREATING),
            ErrorKind::InvalidSpec
        );
        assert_eq!(Context::READING, Context::default());
    }
}
