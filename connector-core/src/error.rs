//! The one error type of every connector.
//!
//! A connector maps its cloud's codes to an [`ErrorKind`] once, in its `error` module, and keeps
//! the cloud's own code, message and request id in [`VendorError`] so nothing is lost. Layers and
//! callers decide what to do from the kind alone.

use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// Result with strato's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as far as a caller needs to know to decide what to do.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The resource does not exist (or belongs to another owner, which is the same to the caller).
    NotFound,
    /// A resource with this name exists and was made from a different request.
    AlreadyExists,
    /// The resource is in a state that does not allow the operation, or it changed meanwhile.
    Conflict,
    /// The request is malformed or asks for something the cloud refuses.
    InvalidSpec,
    /// The cloud cannot do this at all.
    Unsupported,
    /// Credentials are missing, wrong or expired.
    Unauthenticated,
    /// Credentials are valid but not allowed to do this.
    PermissionDenied,
    /// An account limit was reached.
    QuotaExceeded,
    /// The cloud has no capacity for this right now.
    NoCapacity,
    /// The cloud asked to slow down.
    Throttled {
        /// How long the cloud asked to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// A resource just created is not visible to reads yet (eventual consistency).
    NotYetVisible,
    /// A passing failure: connection reset, 5xx, a busy backend.
    Transient,
    /// The call did not finish in time; its effect is unknown.
    Timeout,
    /// A batch half-succeeded. Nothing it made is forgotten.
    Partial {
        /// Ids of what was made (or deleted).
        succeeded: Vec<String>,
        /// One error per item that failed.
        failed: Vec<Error>,
    },
    /// Anything else: a bug, an answer strato cannot read. Not retried.
    Internal,
}

/// How an error should be retried, after smithy-rs's classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RetryClass {
    /// Retry soon: connection trouble, server busy, not yet visible.
    Transient,
    /// Retry after the cloud's Retry-After, with backoff.
    Throttling,
    /// The effect is unknown: retry only when the call is idempotent or token-protected.
    Timeout,
    /// Do not retry: the same call will fail the same way.
    Permanent,
}

impl ErrorKind {
    /// The retry class of this kind.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            ErrorKind::Throttled { .. } => RetryClass::Throttling,
            ErrorKind::NotYetVisible | ErrorKind::Transient => RetryClass::Transient,
            ErrorKind::Timeout => RetryClass::Timeout,
            ErrorKind::Partial { failed, .. } => {
                if !failed.is_empty() && failed.iter().all(|e| e.is_retryable()) {
                    RetryClass::Transient
                } else {
                    RetryClass::Permanent
                }
            }
            _ => RetryClass::Permanent,
        }
    }

    /// A short stable name, used in metrics labels and JSON output.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::InvalidSpec => "invalid_spec",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::NoCapacity => "no_capacity",
            ErrorKind::Throttled { .. } => "throttled",
            ErrorKind::NotYetVisible => "not_yet_visible",
            ErrorKind::Transient => "transient",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Partial { .. } => "partial",
            ErrorKind::Internal => "internal",
        }
    }
}

/// The operation an error (or a metric, or a span) is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// `create_vm`
    CreateVm,
    /// `get_vm`
    GetVm,
    /// `list_vms`
    ListVms,
    /// `delete_vm`
    DeleteVm,
    /// `start_vm`
    StartVm,
    /// `stop_vm`
    StopVm,
    /// `create_network`
    CreateNetwork,
    /// `get_network`
    GetNetwork,
    /// `list_networks`
    ListNetworks,
    /// `delete_network`
    DeleteNetwork,
    /// `attach_nic`
    AttachNic,
    /// `detach_nic`
    DetachNic,
    /// `allocate_vip`
    AllocateVip,
    /// `get_vip`
    GetVip,
    /// `list_vips`
    ListVips,
    /// `move_vip`
    MoveVip,
    /// `release_vip`
    ReleaseVip,
    /// `scale_group`
    ScaleGroup,
    /// `get_group`
    GetGroup,
    /// `list_hosts`
    ListHosts,
    /// Checking a spec before any call.
    Validate,
    /// Loading configuration or building a connector.
    Configure,
}

impl Operation {
    /// Every connector operation (not `Validate`/`Configure`).
    pub const ALL: [Operation; 20] = [
        Operation::CreateVm,
        Operation::GetVm,
        Operation::ListVms,
        Operation::DeleteVm,
        Operation::StartVm,
        Operation::StopVm,
        Operation::CreateNetwork,
        Operation::GetNetwork,
        Operation::ListNetworks,
        Operation::DeleteNetwork,
        Operation::AttachNic,
        Operation::DetachNic,
        Operation::AllocateVip,
        Operation::GetVip,
        Operation::ListVips,
        Operation::MoveVip,
        Operation::ReleaseVip,
        Operation::ScaleGroup,
        Operation::GetGroup,
        Operation::ListHosts,
    ];

    /// The method name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateVm => "create_vm",
            Operation::GetVm => "get_vm",
            Operation::ListVms => "list_vms",
            Operation::DeleteVm => "delete_vm",
            Operation::StartVm => "start_vm",
            Operation::StopVm => "stop_vm",
            Operation::CreateNetwork => "create_network",
            Operation::GetNetwork => "get_network",
            Operation::ListNetworks => "list_networks",
            Operation::DeleteNetwork => "delete_network",
            Operation::AttachNic => "attach_nic",
            Operation::DetachNic => "detach_nic",
            Operation::AllocateVip => "allocate_vip",
            Operation::GetVip => "get_vip",
            Operation::ListVips => "list_vips",
            Operation::MoveVip => "move_vip",
            Operation::ReleaseVip => "release_vip",
            Operation::ScaleGroup => "scale_group",
            Operation::GetGroup => "get_group",
            Operation::ListHosts => "list_hosts",
            Operation::Validate => "validate",
            Operation::Configure => "configure",
        }
    }

    /// True for calls that change the cloud (they draw on the mutating rate-limit bucket).
    pub fn is_mutating(self) -> bool {
        !matches!(
            self,
            Operation::GetVm
                | Operation::ListVms
                | Operation::GetNetwork
                | Operation::ListNetworks
                | Operation::GetVip
                | Operation::ListVips
                | Operation::GetGroup
                | Operation::ListHosts
                | Operation::Validate
                | Operation::Configure
        )
    }

    /// True when repeating the call cannot do more than the first call did: reads, deletes,
    /// declarative calls (scale to N, move to VM), and creates, which always carry a client
    /// token. Every operation of the trait is designed to be safe; this stays a method so a
    /// future non-idempotent call cannot be retried by accident.
    pub fn is_retry_safe(self) -> bool {
        !matches!(self, Operation::Validate | Operation::Configure)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The cloud's own account of an error, kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VendorError {
    /// The cloud's code (`InvalidInstanceID.NotFound`, `ManagedObjectNotFound`, HTTP 409...).
    pub code: String,
    /// The cloud's message.
    pub message: String,
    /// The request id, for support tickets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A strato error: a kind, the operation, the cloud, and the cloud's own code and message.
/// Boxed, so `Result<T>` stays small on the happy path.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Error(Box<Inner>);

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Inner {
    kind: ErrorKind,
    operation: Operation,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor: Option<VendorError>,
    attempts: u32,
}

impl Error {
    /// A new error. `message` says what was wrong in a user's words.
    pub fn new(kind: ErrorKind, operation: Operation, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            operation,
            message: message.into(),
            cloud: None,
            field: None,
            resource: None,
            vendor: None,
            attempts: 1,
        }))
    }

    /// An invalid-spec error naming the field.
    pub fn invalid_spec(field: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSpec, Operation::Validate, message).with_field(field)
    }

    /// A not-found error naming the resource.
    pub fn not_found(operation: Operation, resource: impl fmt::Display) -> Self {
        let resource = resource.to_string();
        Self::new(
            ErrorKind::NotFound,
            operation,
            format!("{resource} not found"),
        )
        .with_resource(resource)
    }

    /// An unsupported-operation error naming the operation and the cloud.
    pub fn unsupported(operation: Operation, cloud: &str, why: &str) -> Self {
        Self::new(
            ErrorKind::Unsupported,
            operation,
            format!("{operation} is not supported by the {cloud} cloud: {why}"),
        )
        .with_cloud(cloud)
    }

    /// Sets the cloud (connector kind) the error came from, if not set yet.
    pub fn with_cloud(mut self, cloud: &str) -> Self {
        self.0.cloud.get_or_insert_with(|| cloud.to_owned());
        self
    }

    /// Sets the operation, keeping any set before unless it was `Validate`.
    pub fn with_operation(mut self, operation: Operation) -> Self {
        if self.0.operation == Operation::Validate || self.0.operation == Operation::Configure {
            self.0.operation = operation;
        }
        self
    }

    /// Names the spec field that was wrong.
    pub fn with_field(mut self, field: &str) -> Self {
        self.0.field = Some(field.to_owned());
        self
    }

    /// Names the resource the error is about.
    pub fn with_resource(mut self, resource: impl fmt::Display) -> Self {
        self.0.resource = Some(resource.to_string());
        self
    }

    /// Keeps the cloud's own code, message and request id.
    pub fn with_vendor(
        mut self,
        code: impl Into<String>,
        message: impl Into<String>,
        request_id: Option<String>,
    ) -> Self {
        self.0.vendor = Some(VendorError {
            code: code.into(),
            message: message.into(),
            request_id,
        });
        self
    }

    /// Records how many attempts the retry layer made.
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.0.attempts = attempts;
        self
    }

    /// The kind.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        self.0.operation
    }

    /// The message, without the decorations of `Display`.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The cloud, when known.
    pub fn cloud(&self) -> Option<&str> {
        self.0.cloud.as_deref()
    }

    /// The spec field that was wrong, for invalid specs.
    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// The resource, when known.
    pub fn resource(&self) -> Option<&str> {
        self.0.resource.as_deref()
    }

    /// The cloud's own code and message.
    pub fn vendor(&self) -> Option<&VendorError> {
        self.0.vendor.as_ref()
    }

    /// Attempts made before giving up.
    pub fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// How to retry.
    pub fn retry_class(&self) -> RetryClass {
        self.0.kind.retry_class()
    }

    /// True when a retry of an idempotent call may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retry_class() != RetryClass::Permanent
    }

    /// The Retry-After the cloud sent, for throttling errors.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.0.kind {
            ErrorKind::Throttled { retry_after } => retry_after,
            _ => None,
        }
    }

    /// True for `NotFound`.
    pub fn is_not_found(&self) -> bool {
        self.0.kind == ErrorKind::NotFound
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line: "<op> failed (<kind>) [on <cloud>]: <message> [<code>: <vendor message>]".
        write!(f, "{}: {}", self.0.operation, self.0.message)?;
        if let Some(c) = &self.0.cloud {
            write!(f, " [cloud {c}]")?;
        }
        write!(f, " ({}", self.0.kind.name())?;
        if let Some(v) = &self.0.vendor {
            write!(f, "; {}: {}", v.code, v.message.replace('\n', " "))?;
            if let Some(r) = &v.request_id {
                write!(f, "; request {r}")?;
            }
        }
        if self.0.attempts > 1 {
            write!(f, "; after {} attempts", self.0.attempts)?;
        }
        if let ErrorKind::Partial { succeeded, failed } = &self.0.kind {
            write!(
                f,
                "; {} succeeded, {} failed",
                succeeded.len(),
                failed.len()
            )?;
            if let Some(first) = failed.first() {
                write!(f, ", first: {}", first.message())?;
            }
        }
        f.write_str(")")
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classes_follow_the_kind() {
        let t = |k: ErrorKind| Error::new(k, Operation::GetVm, "x");
        assert!(t(ErrorKind::Transient).is_retryable());
        assert!(t(ErrorKind::NotYetVisible).is_retryable());
        assert!(t(ErrorKind::Throttled { retry_after: None }).is_retryable());
        assert!(!t(ErrorKind::NotFound).is_retryable());
        assert!(!t(ErrorKind::QuotaExceeded).is_retryable());
        let partial = |f: Vec<Error>| ErrorKind::Partial {
            succeeded: vec!["a".into()],
            failed: f,
        };
        assert!(t(partial(vec![t(ErrorKind::Transient)])).is_retryable());
        assert!(
            !t(partial(vec![
                t(ErrorKind::Transient),
                t(ErrorKind::QuotaExceeded)
            ]))
            .is_retryable()
        );
    }

    #[test]
    fn display_keeps_the_vendor_code_on_one_line() {
        let e = Error::new(ErrorKind::NotFound, Operation::GetVm, "vm i-1 not found")
            .with_cloud("aws")
            .with_vendor(
                "InvalidInstanceID.NotFound",
                "The instance ID 'i-1' does not exist\n",
                Some("req-9".into()),
            );
        let s = e.to_string();
        assert!(
            s.contains("InvalidInstanceID.NotFound") && s.contains("req-9") && s.contains("aws"),
            "{s}"
        );
        assert!(!s.contains('\n'));
    }
}
