//! The simulated cloud's own error codes, mapped to strato's kinds in one place, like a real
//! connector maps its vendor's codes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use strato_core::{Error, ErrorKind, Operation};

// Every code below maps to a kind in `Code::kind` and nowhere else; the resource files only
// say which code the simulated cloud answers with.

/// Codes the simulated cloud answers with (kept as the vendor code of the error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    /// No such resource for this owner.
    NotFound,
    /// The id exists but is not readable yet.
    NotYetVisible,
    /// A name is taken by a resource made from another request.
    NameTaken,
    /// A parameter is wrong.
    InvalidParameter,
    /// The resource's state forbids the call.
    InvalidState,
    /// Something still uses the resource.
    DependencyViolation,
    /// An account limit.
    QuotaExceeded,
    /// A network has no free address left.
    AddressesExhausted,
    /// Too many calls.
    RequestLimitExceeded,
    /// A feature this cloud lacks.
    Unsupported,
    /// Not allowed to touch this resource.
    AccessDenied,
    /// The state file could not be read or written.
    StateFile,
}

impl Code {
    fn vendor(self) -> &'static str {
        match self {
            Code::NotFound => "Memory.NotFound",
            Code::NotYetVisible => "Memory.NotYetVisible",
            Code::NameTaken => "Memory.NameTaken",
            Code::InvalidParameter => "Memory.InvalidParameter",
            Code::InvalidState => "Memory.InvalidState",
            Code::DependencyViolation => "Memory.DependencyViolation",
            Code::QuotaExceeded => "Memory.QuotaExceeded",
            Code::AddressesExhausted => "Memory.AddressesExhausted",
            Code::RequestLimitExceeded => "Memory.RequestLimitExceeded",
            Code::Unsupported => "Memory.Unsupported",
            Code::AccessDenied => "Memory.AccessDenied",
            Code::StateFile => "Memory.StateFile",
        }
    }

    fn kind(self, retry_after: Option<Duration>) -> ErrorKind {
        match self {
            Code::NotFound => ErrorKind::NotFound,
            Code::NotYetVisible => ErrorKind::NotYetVisible,
            Code::NameTaken => ErrorKind::AlreadyExists,
            Code::InvalidParameter => ErrorKind::InvalidSpec,
            Code::InvalidState | Code::DependencyViolation => ErrorKind::Conflict,
            Code::QuotaExceeded => ErrorKind::QuotaExceeded,
            Code::AddressesExhausted => ErrorKind::NoCapacity,
            Code::RequestLimitExceeded => ErrorKind::Throttled { retry_after },
            Code::Unsupported => ErrorKind::Unsupported,
            Code::AccessDenied => ErrorKind::PermissionDenied,
            Code::StateFile => ErrorKind::Internal,
        }
    }
}

static REQUEST: AtomicU64 = AtomicU64::new(1);

/// An error of the simulated cloud, with its code and a request id like a real cloud's.
pub(crate) fn fail(op: Operation, code: Code, message: impl Into<String>) -> Error {
    fail_after(op, code, None, message)
}

/// Like [`fail`], with a Retry-After for throttling.
pub(crate) fn fail_after(
    op: Operation,
    code: Code,
    retry_after: Option<Duration>,
    message: impl Into<String>,
) -> Error {
    let message = message.into();
    let request = format!("mem-{:08}", REQUEST.fetch_add(1, Ordering::Relaxed));
    Error::new(code.kind(retry_after), op, message.clone())
        .with_cloud(crate::CLOUD)
        .with_vendor(code.vendor(), message, Some(request))
}

/// Not found, naming the resource.
pub(crate) fn not_found(op: Operation, what: &str, id: &str) -> Error {
    fail(op, Code::NotFound, format!("{what} {id} not found")).with_resource(id)
}

/// Exists but is not readable yet (eventual consistency).
pub(crate) fn not_yet_visible(op: Operation, what: &str, id: &str) -> Error {
    fail(
        op,
        Code::NotYetVisible,
        format!("{what} {id} is not visible yet"),
    )
    .with_resource(id)
}

/// A create whose name is taken by a resource made from another request.
pub(crate) fn name_taken(op: Operation, what: &str, name: &str, id: &str) -> Error {
    fail(
        op,
        Code::NameTaken,
        format!("a {what} named {name:?} ({id}) exists and was made from a different spec"),
    )
    .with_resource(id)
}

/// A batch that made some of what it was asked for: the ids made, and why the rest was not.
pub(crate) fn partial(
    op: Operation,
    message: String,
    succeeded: Vec<String>,
    failed: Vec<Error>,
) -> Error {
    Error::new(ErrorKind::Partial { succeeded, failed }, op, message).with_cloud(crate::CLOUD)
}

/// A setting of the profile is wrong.
pub(crate) fn bad_setting(field: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidSpec, Operation::Configure, message)
        .with_field(field)
        .with_cloud(crate::CLOUD)
}

/// Invalid input, naming the field and value.
pub(crate) fn invalid(op: Operation, field: &str, message: impl Into<String>) -> Error {
    fail(op, Code::InvalidParameter, message).with_field(field)
}

/// Unsupported, naming the operation and the cloud.
pub(crate) fn unsupported(op: Operation, why: &str) -> Error {
    let e = Error::unsupported(op, crate::CLOUD, why);
    let msg = e.message().to_owned();
    e.with_vendor(Code::Unsupported.vendor(), msg, None)
}

/// The state file failed.
pub(crate) fn state_file(
    op: Operation,
    path: &std::path::Path,
    what: &str,
    e: impl std::fmt::Display,
) -> Error {
    fail(
        op,
        Code::StateFile,
        format!("cannot {what} state file {}: {e}", path.display()),
    )
}
